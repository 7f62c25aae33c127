//! Kubernetes label selectors: validation and matching with the semantics of
//! apimachinery's `metav1.LabelSelectorAsSelector`.
//!
//! - `matchLabels` and `matchExpressions` are ANDed;
//! - operators are `In`, `NotIn`, `Exists` and `DoesNotExist` (case-sensitive);
//! - `In` / `NotIn` need at least one value, `Exists` / `DoesNotExist` need none;
//! - `NotIn` matches when the key is absent;
//! - a selector with no labels and no expressions matches everything.
//!
//! Keys are validated as qualified names and values as label values, exactly as
//! `labels.NewRequirement` does. An invalid selector is an error, never a match
//! or a panic. For matching one selector against many label sets, compile it
//! once with [`compile`] and use [`CompiledSelector::matches`].

use std::collections::{BTreeMap, BTreeSet};

use crate::model::meta::LabelSelector;

/// A label selector failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// A field of the selector holds an invalid value.
    #[error("{path}: invalid value {value:?}: {reason}")]
    Invalid {
        /// Full field path, e.g. `spec.podAffinity.matchExpressions[0].operator`.
        path: String,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SelectorError {
    fn invalid(path: String, value: &str, reason: impl Into<String>) -> Self {
        Self::Invalid { path, value: value.to_string(), reason: reason.into() }
    }
}

/// Maximum length of a label value and of the name part of a qualified name.
const MAX_NAME_LEN: usize = 63;

/// True for `[A-Za-z0-9]`.
fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, non-empty.
fn is_qualified_name_part(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    is_alnum(first)
        && is_alnum(last)
        && s.chars().all(|c| is_alnum(c) || c == '-' || c == '_' || c == '.')
}

/// Validates a label key as a Kubernetes qualified name: an optional DNS-1123
/// subdomain prefix (at most 253 characters) followed by `/`, and a name of at
/// most 63 characters matching `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
///
/// The error string explains what is wrong (without repeating the key).
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let mut parts = key.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => {
            return Err("a qualified name must consist of an optional DNS subdomain prefix \
                        and '/', followed by a name"
                .to_string());
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty".to_string());
        }
        if let Some(e) = crate::name::dns1123_subdomain(prefix).first() {
            return Err(format!("prefix part {e}"));
        }
    }
    if name.is_empty() {
        return Err("name part must be non-empty".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("name part must be no more than {MAX_NAME_LEN} characters"));
    }
    if !is_qualified_name_part(name) {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', \
                    and must start and end with an alphanumeric character"
            .to_string());
    }
    Ok(())
}

/// Validates a label value: empty, or at most 63 characters matching
/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
pub fn validate_label_value(v: &str) -> Result<(), String> {
    if v.len() > MAX_NAME_LEN {
        return Err(format!("must be no more than {MAX_NAME_LEN} characters"));
    }
    if v.is_empty() || is_qualified_name_part(v) {
        Ok(())
    } else {
        Err("a valid label must be an empty string or consist of alphanumeric characters, \
             '-', '_' or '.', and must start and end with an alphanumeric character"
            .to_string())
    }
}

/// True when the selector has no labels and no expressions (it matches everything).
pub fn is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// One compiled requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    /// `matchLabels` entry: key present with exactly this value.
    Equals(String, String),
    /// Key present with a value in the set.
    In(String, BTreeSet<String>),
    /// Key absent, or present with a value outside the set.
    NotIn(String, BTreeSet<String>),
    /// Key present.
    Exists(String),
    /// Key absent.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::Equals(k, v) => labels.get(k) == Some(v),
            Self::In(k, set) => labels.get(k).is_some_and(|v| set.contains(v)),
            Self::NotIn(k, set) => labels.get(k).is_none_or(|v| !set.contains(v)),
            Self::Exists(k) => labels.contains_key(k),
            Self::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A validated label selector, cheap to match many times.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompiledSelector {
    requirements: Vec<Requirement>,
}

impl CompiledSelector {
    /// True when every requirement holds for `labels` (always true when empty).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when the selector has no requirements and so matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Validates `sel` and compiles it. `path` is the selector's field path (for
/// example `spec.podAffinity`); errors carry the full path of the bad field.
pub fn compile(sel: &LabelSelector, path: &str) -> Result<CompiledSelector, SelectorError> {
    let mut requirements = Vec::new();
    for (key, value) in sel.match_labels.iter().flatten() {
        validate_label_key(key)
            .map_err(|r| SelectorError::invalid(format!("{path}.matchLabels"), key, r))?;
        validate_label_value(value)
            .map_err(|r| SelectorError::invalid(format!("{path}.matchLabels[{key}]"), value, r))?;
        requirements.push(Requirement::Equals(key.clone(), value.clone()));
    }
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        validate_label_key(&expr.key)
            .map_err(|r| SelectorError::invalid(format!("{at}.key"), &expr.key, r))?;
        let values = expr.values.as_deref().unwrap_or_default();
        let needs_values = match expr.operator.as_str() {
            "In" | "NotIn" => true,
            "Exists" | "DoesNotExist" => false,
            other => {
                return Err(SelectorError::invalid(
                    format!("{at}.operator"),
                    other,
                    "not a valid label selector operator (want In, NotIn, Exists or DoesNotExist)",
                ));
            }
        };
        if needs_values && values.is_empty() {
            return Err(SelectorError::invalid(
                format!("{at}.values"),
                "[]",
                format!("must be specified when `operator` is '{}'", expr.operator),
            ));
        }
        if !needs_values && !values.is_empty() {
            return Err(SelectorError::invalid(
                format!("{at}.values"),
                &values.join(","),
                format!("may not be specified when `operator` is '{}'", expr.operator),
            ));
        }
        for (j, v) in values.iter().enumerate() {
            validate_label_value(v)
                .map_err(|r| SelectorError::invalid(format!("{at}.values[{j}]"), v, r))?;
        }
        let key = expr.key.clone();
        let set = || values.iter().cloned().collect::<BTreeSet<_>>();
        requirements.push(match expr.operator.as_str() {
            "In" => Requirement::In(key, set()),
            "NotIn" => Requirement::NotIn(key, set()),
            "Exists" => Requirement::Exists(key),
            _ => Requirement::DoesNotExist(key),
        });
    }
    Ok(CompiledSelector { requirements })
}

/// Validates `sel`; `path` is the selector's field path (e.g. `spec.podAffinity`).
pub fn validate(sel: &LabelSelector, path: &str) -> Result<(), SelectorError> {
    compile(sel, path).map(|_| ())
}

/// True when `labels` satisfy `sel`. An invalid selector is an error; its path
/// is relative to a root named `selector` (e.g. `selector.matchLabels`).
pub fn matches(
    sel: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    Ok(compile(sel, "selector")?.matches(labels))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::meta::LabelSelectorRequirement;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: op.to_string(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    fn sel(ml: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_labels: if ml.is_empty() { None } else { Some(labels(ml)) },
            match_expressions: if exprs.is_empty() { None } else { Some(exprs) },
        }
    }

    #[test]
    fn label_keys() {
        let ok = [
            "app",
            "a",
            "A.b-c_d",
            "0",
            "example.com/app",
            "ipam.spidernet.io/app-name",
            "kubernetes.io/hostname",
            &"a".repeat(63),
        ];
        for k in ok {
            assert_eq!(validate_label_key(k), Ok(()), "{k}");
        }
        let long_prefix = format!("{}/a", "a".repeat(254));
        let long_name = "a".repeat(64);
        let bad: [(&str, &str); 11] = [
            ("", "name part must be non-empty"),
            ("-app", "start and end"),
            ("app-", "start and end"),
            ("a b", "alphanumeric"),
            ("/app", "prefix part must be non-empty"),
            ("example.com/", "name part must be non-empty"),
            ("a/b/c", "optional DNS subdomain prefix"),
            ("Example.com/app", "RFC 1123"),
            ("exa_mple.com/app", "RFC 1123"),
            (&long_prefix, "no more than 253"),
            (&long_name, "no more than 63"),
        ];
        for (k, want) in bad {
            let err = validate_label_key(k).unwrap_err();
            assert!(err.contains(want), "{k:?}: {err}");
        }
    }

    #[test]
    fn label_values() {
        for v in ["", "x", "v1.2_3-a", &"z".repeat(63)] {
            assert_eq!(validate_label_value(v), Ok(()), "{v}");
        }
        for v in ["-x", "x-", "a b", "a/b", "é", &"z".repeat(64)] {
            assert!(validate_label_value(v).is_err(), "{v}");
        }
    }

    #[test]
    fn matching_table() {
        let pod = labels(&[("app", "web"), ("tier", "front"), ("empty", "")]);
        let cases: Vec<(LabelSelector, bool)> = vec![
            (LabelSelector::default(), true),
            (
                LabelSelector {
                    match_labels: Some(BTreeMap::new()),
                    match_expressions: Some(vec![]),
                },
                true,
            ),
            (sel(&[("app", "web")], vec![]), true),
            (sel(&[("app", "db")], vec![]), false),
            (sel(&[("app", "web"), ("tier", "back")], vec![]), false),
            (sel(&[("missing", "")], vec![]), false),
            (sel(&[("empty", "")], vec![]), true),
            (sel(&[], vec![expr("app", "In", &["db", "web"])]), true),
            (sel(&[], vec![expr("app", "In", &["db"])]), false),
            (sel(&[], vec![expr("nokey", "In", &["x"])]), false),
            (sel(&[], vec![expr("app", "NotIn", &["db"])]), true),
            (sel(&[], vec![expr("app", "NotIn", &["web"])]), false),
            (sel(&[], vec![expr("nokey", "NotIn", &["web"])]), true),
            (sel(&[], vec![expr("app", "Exists", &[])]), true),
            (sel(&[], vec![expr("nokey", "Exists", &[])]), false),
            (sel(&[], vec![expr("nokey", "DoesNotExist", &[])]), true),
            (sel(&[], vec![expr("app", "DoesNotExist", &[])]), false),
            (
                sel(
                    &[("app", "web")],
                    vec![expr("tier", "In", &["front"]), expr("x", "DoesNotExist", &[])],
                ),
                true,
            ),
            (sel(&[("app", "web")], vec![expr("tier", "In", &["back"])]), false),
        ];
        for (i, (s, want)) in cases.iter().enumerate() {
            assert_eq!(matches(s, &pod).unwrap(), *want, "case {i}: {s:?}");
            assert_eq!(compile(s, "p").unwrap().matches(&pod), *want, "case {i}");
        }
    }

    #[test]
    fn invalid_selectors_name_path_and_value() {
        let cases: Vec<(LabelSelector, &str, &str, &str)> = vec![
            (
                sel(&[], vec![expr("app", "in", &["x"])]),
                "spec.podAffinity.matchExpressions[0].operator",
                "in",
                "not a valid label selector operator",
            ),
            (
                sel(&[], vec![expr("app", "Exists", &[]), expr("b", "Equals", &["x"])]),
                "spec.podAffinity.matchExpressions[1].operator",
                "Equals",
                "not a valid",
            ),
            (
                sel(&[], vec![expr("app", "In", &[])]),
                "spec.podAffinity.matchExpressions[0].values",
                "[]",
                "must be specified",
            ),
            (
                sel(&[], vec![expr("app", "NotIn", &[])]),
                "spec.podAffinity.matchExpressions[0].values",
                "[]",
                "must be specified",
            ),
            (
                sel(&[], vec![expr("app", "Exists", &["x"])]),
                "spec.podAffinity.matchExpressions[0].values",
                "x",
                "may not be specified",
            ),
            (
                sel(&[], vec![expr("app", "DoesNotExist", &["x", "y"])]),
                "spec.podAffinity.matchExpressions[0].values",
                "x,y",
                "may not be specified",
            ),
            (
                sel(&[], vec![expr("bad key", "Exists", &[])]),
                "spec.podAffinity.matchExpressions[0].key",
                "bad key",
                "alphanumeric",
            ),
            (
                sel(&[], vec![expr("app", "In", &["ok", "-bad"])]),
                "spec.podAffinity.matchExpressions[0].values[1]",
                "-bad",
                "valid label",
            ),
            (sel(&[("a/b/c", "x")], vec![]), "spec.podAffinity.matchLabels", "a/b/c", "prefix"),
            (
                sel(&[("app", "x y")], vec![]),
                "spec.podAffinity.matchLabels[app]",
                "x y",
                "valid label",
            ),
        ];
        for (s, want_path, want_value, want_reason) in cases {
            let SelectorError::Invalid { path, value, reason } =
                validate(&s, "spec.podAffinity").unwrap_err();
            assert_eq!(path, want_path);
            assert_eq!(value, want_value);
            assert!(reason.contains(want_reason), "{reason}");
            // matching an invalid selector is an error too
            assert!(matches(&s, &BTreeMap::new()).is_err());
        }
    }

    #[test]
    fn error_display_names_path_and_value() {
        let s = sel(&[], vec![expr("app", "Foo", &[])]);
        let msg = validate(&s, "spec.nodeAffinity").unwrap_err().to_string();
        assert!(
            msg.starts_with(
                "spec.nodeAffinity.matchExpressions[0].operator: invalid value \"Foo\""
            ),
            "{msg}"
        );
    }

    #[test]
    fn is_empty_cases() {
        assert!(is_empty(&LabelSelector::default()));
        assert!(is_empty(&LabelSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(vec![])
        }));
        assert!(!is_empty(&sel(&[("a", "b")], vec![])));
        assert!(!is_empty(&sel(&[], vec![expr("a", "Exists", &[])])));
        assert!(compile(&LabelSelector::default(), "p").unwrap().is_everything());
    }

    #[test]
    fn selector_from_yaml() {
        let s: LabelSelector = serde_saphyr::from_str(
            "matchLabels:\n  app: web\nmatchExpressions:\n  - key: tier\n    operator: NotIn\n    values: [db]\n",
        )
        .unwrap();
        assert!(matches(&s, &labels(&[("app", "web")])).unwrap());
        assert!(!matches(&s, &labels(&[("app", "web"), ("tier", "db")])).unwrap());
    }

    proptest! {
        #[test]
        fn arbitrary_selectors_never_panic(
            ml in proptest::collection::btree_map(".{0,12}", ".{0,12}", 0..3),
            exprs in proptest::collection::vec((".{0,10}", "(In|NotIn|Exists|DoesNotExist|.{0,6})", proptest::collection::vec(".{0,6}", 0..3)), 0..3),
            pod in proptest::collection::btree_map("[a-c]{1,2}", "[a-c]{0,2}", 0..4),
        ) {
            let s = LabelSelector {
                match_labels: Some(ml),
                match_expressions: Some(exprs.into_iter().map(|(key, operator, values)| LabelSelectorRequirement { key, operator, values: Some(values) }).collect()),
            };
            let _ = matches(&s, &pod);
        }

        #[test]
        fn not_in_is_negation_of_in_for_present_keys(
            values in proptest::collection::vec("[a-c]{1,2}", 1..4),
            v in "[a-c]{1,2}",
        ) {
            let vals: Vec<&str> = values.iter().map(String::as_str).collect();
            let pod = labels(&[("k", &v)]);
            let inn = matches(&sel(&[], vec![expr("k", "In", &vals)]), &pod).unwrap();
            let notin = matches(&sel(&[], vec![expr("k", "NotIn", &vals)]), &pod).unwrap();
            prop_assert_ne!(inn, notin);
            prop_assert_eq!(inn, values.contains(&v));
        }
    }
}
