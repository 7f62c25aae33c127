//! Object names and namespaces, checked as the API server checks them before
//! any webhook runs (`ValidateObjectMeta` with the name rule of the kind,
//! [`crate::kind::name_rule`]): [`super::validate`] runs it for every
//! Spiderpool kind, and the agent's admin API for the Kubernetes kinds an
//! embedded store keeps (Pod, Namespace, Node, ...).

use super::{FieldError, Rejection};
use crate::kind::name_rule;
use crate::name::{dns1123_label, shown};

/// The field errors of an object's `metadata.name` and, for namespaced kinds,
/// `metadata.namespace` (a DNS-1123 label when set). Long values are shortened
/// in the errors ([`shown`]).
pub fn name_errors(
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    namespaced: bool,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    }
    for reason in name_rule(kind).check(name).into_iter().filter(|_| !name.is_empty()) {
        errs.push(FieldError::invalid("metadata.name", shown(name), reason.to_string()));
    }
    if namespaced && let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
        for reason in dns1123_label(ns) {
            errs.push(FieldError::invalid("metadata.namespace", shown(ns), reason.to_string()));
        }
    }
    errs
}

/// [`name_errors`] as an `Invalid` rejection naming the object (shortened).
pub fn check_names(
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    namespaced: bool,
) -> Result<(), Rejection> {
    Rejection::check(kind, &shown(name), name_errors(kind, name, namespace, namespaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_per_kind_and_printed_as_kubectl_does() {
        let r = check_names("SpiderIPPool", "../../etc/Bad_Name", None, false).unwrap_err();
        assert_eq!(r.causes.len(), 1);
        assert!(
            r.causes[0].to_string().starts_with(
                r#"metadata.name: Invalid value: "../../etc/Bad_Name": a lowercase RFC 1123 subdomain must consist of"#
            ),
            "{r}"
        );
        let r = check_names("Pod", "../../x y", Some("a/b"), true).unwrap_err();
        let fields: Vec<&str> = r.causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "metadata.namespace"]);
        let long = "a".repeat(100_000);
        let r = check_names("SpiderIPPool", &long, None, false).unwrap_err();
        assert!(r.to_string().contains("must be no more than 253 characters"), "{r}");
        assert!(r.to_string().len() < 1024, "the name is not echoed whole");
        assert!(check_names("Namespace", "team.a", None, false).is_err());
        assert!(check_names("Node", "node-1.example.com", None, false).is_ok());
        assert!(
            check_names("SpiderMultusConfig", "macvlan-ens192", Some("kube-system"), true).is_ok()
        );
        let r = check_names("SpiderIPPool", "", None, false).unwrap_err();
        assert_eq!(
            r.causes[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
    }
}
