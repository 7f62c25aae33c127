//! Structural OpenAPI v3 schemas from the core model's `schemars::JsonSchema`.
//!
//! The shape of every schema (fields, JSON types, nesting, which fields are
//! required) comes from the core types, so the CRDs cannot drift from what the
//! core reads and writes:
//!
//! - schemars runs with the *serialize* contract: a field the core always writes
//!   (Go's non-`omitempty` fields, e.g. `spec.subnet`, a route's `dst`/`gw`) is
//!   `required`, as in Spiderpool's CRDs; fields the core omits when empty are
//!   optional;
//! - subschemas are inlined (no `$ref`), kube's `StructuralSchemaRewriter` makes
//!   the result structural, and [`clean`] removes what a CRD must not carry or
//!   what Spiderpool's CRDs do not have: `title`, `nullable` on `Option` fields
//!   (Spiderpool's CRDs have none: the API server prunes `null`s), `default`
//!   values schemars derives from `Default` (a CRD default changes stored
//!   objects, so only Spiderpool's own defaults are set, by [`super::rules`]),
//!   formats other than `int32`/`int64`; descriptions keep the first paragraph
//!   of the doc comment, without rustdoc link syntax.
//!
//! What the core does not model — Spiderpool's enums, ranges and defaults — is
//! added by [`super::rules`] at named paths; [`apply`] fails when a path does
//! not exist, so a renamed core field breaks the generator's tests instead of
//! silently dropping a rule.

use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value};

/// The structural schema of `T`, cleaned.
pub(crate) fn schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
            s.contract = Contract::Serialize;
        })
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    clean(&mut schema);
    schema
}

/// Removes, recursively, what CRD schemas must not or should not carry (see the
/// module documentation).
pub(crate) fn clean(schema: &mut Value) {
    let Value::Object(obj) = schema else { return };
    for key in ["title", "nullable", "default", "$schema", "examples", "const"] {
        obj.remove(key);
    }
    if obj.get("format").and_then(Value::as_str).is_some_and(|f| f != "int32" && f != "int64") {
        obj.remove("format");
    }
    if let Some(Value::String(text)) = obj.get_mut("description") {
        *text = plain_description(text);
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        props.values_mut().for_each(clean);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = obj.get_mut(key) {
            clean(sub);
        }
    }
}

/// The first paragraph of a doc comment as plain text: `` [`X`] `` and
/// `` [`X`](path) `` become `` `X` ``, line breaks become spaces. Later
/// paragraphs are notes for Rust readers and stay out of `kubectl explain`.
fn plain_description(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find(']') {
            Some(end) if after[..end].starts_with('`') && after[..end].ends_with('`') => {
                out.push_str(&after[..end]);
                rest = &after[end + 1..];
                if let Some(link) = rest.strip_prefix('(')
                    && let Some(close) = link.find(')')
                {
                    rest = &link[close + 1..];
                }
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let first = out.split("\n\n").next().unwrap_or_default();
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One change to a generated schema at a path such as `spec.routes[].dst`
/// (`.` descends into `properties`, `[]` into `items`).
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// Merge these keys into the schema at the path (`enum`, `default`,
    /// `minimum`, `x-kubernetes-*`, ...).
    Set(String, Value),
    /// The field at the path is optional although the core always writes it
    /// (Spiderpool marks it `+kubebuilder:validation:Optional`).
    Optional(String),
}

/// Applies `rules` to `schema`; fails with the first path that does not exist.
pub(crate) fn apply(schema: &mut Value, rules: &[Rule]) -> Result<(), String> {
    for rule in rules {
        match rule {
            Rule::Set(path, patch) => {
                let node = locate(schema, path)?;
                let (Value::Object(node), Value::Object(patch)) = (node, patch) else {
                    return Err(format!("{path}: schema or patch is not an object"));
                };
                node.extend(patch.clone());
            }
            Rule::Optional(path) => {
                let (parent, field) = match path.rsplit_once('.') {
                    Some((parent, field)) => (locate(schema, parent)?, field),
                    None => (&mut *schema, path.as_str()),
                };
                let required = parent.get_mut("required").and_then(Value::as_array_mut);
                let Some(required) = required.filter(|r| r.iter().any(|f| f == field)) else {
                    return Err(format!("{path}: not a required field"));
                };
                required.retain(|f| f != field);
                if required.is_empty()
                    && let Some(obj) = parent.as_object_mut()
                {
                    obj.remove("required");
                }
            }
        }
    }
    Ok(())
}

/// The schema node at `path`.
fn locate<'a>(schema: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    let mut node = schema;
    for segment in path.split('.') {
        let (name, items) = match segment.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (segment, false),
        };
        node = node
            .get_mut("properties")
            .and_then(|p| p.get_mut(name))
            .ok_or_else(|| format!("{path}: no property {name:?}"))?;
        if items {
            node =
                node.get_mut("items").ok_or_else(|| format!("{path}: {name} is not an array"))?;
        }
    }
    Ok(node)
}

/// The root schema of a kind: `apiVersion`, `kind`, `metadata` (an object: the
/// API server validates metadata itself), and `spec` / `status` when the kind
/// has them.
pub(crate) fn root(kind: &str, plural: &str, spec: Option<Value>, status: Option<Value>) -> Value {
    let mut props = Map::new();
    props.insert(
        "apiVersion".into(),
        serde_json::json!({"type": "string", "description": API_VERSION_DESCRIPTION}),
    );
    props.insert(
        "kind".into(),
        serde_json::json!({"type": "string", "description": KIND_DESCRIPTION}),
    );
    props.insert("metadata".into(), serde_json::json!({"type": "object"}));
    if let Some(spec) = spec {
        props.insert("spec".into(), spec);
    }
    if let Some(status) = status {
        props.insert("status".into(), status);
    }
    serde_json::json!({
        "description": format!("{kind} is the Schema for the {plural} API."),
        "type": "object",
        "properties": props,
    })
}

/// The Kubernetes API conventions' description of `apiVersion`.
pub(crate) const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";

/// The Kubernetes API conventions' description of `kind`.
pub(crate) const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn plain_description_strips_rustdoc_links() {
        assert_eq!(
            plain_description("see [`CoordinatorMode`] and [`X`](crate::X);\nnext line [not code]"),
            "see `CoordinatorMode` and `X`; next line [not code]"
        );
        assert_eq!(plain_description("a\nb\n\nRust notes"), "a b");
    }

    #[test]
    fn apply_reports_missing_paths() {
        let mut schema = json!({"properties": {"spec": {"properties": {"a": {"type": "string"}}, "required": ["a"]}}});
        apply(&mut schema, &[Rule::Set("spec.a".into(), json!({"enum": ["x"]}))]).unwrap();
        assert_eq!(schema["properties"]["spec"]["properties"]["a"]["enum"], json!(["x"]));
        apply(&mut schema, &[Rule::Optional("spec.a".into())]).unwrap();
        assert!(schema["properties"]["spec"].get("required").is_none());
        let err = apply(&mut schema, &[Rule::Set("spec.b".into(), json!({}))]).unwrap_err();
        assert_eq!(err, "spec.b: no property \"b\"");
        let err = apply(&mut schema, &[Rule::Optional("spec.a".into())]).unwrap_err();
        assert_eq!(err, "spec.a: not a required field");
        let err = apply(&mut schema, &[Rule::Set("spec.a[]".into(), json!({}))]).unwrap_err();
        assert_eq!(err, "spec.a[]: a is not an array");
    }
}
