//! Reading annotation JSON the way Go's `encoding/json` fills a struct.
//!
//! Go matches object keys to struct fields case-insensitively, ignores unknown
//! keys, and treats `null` as "leave the zero value". These helpers reproduce
//! that on top of `serde_json::Value`, so that an annotation accepted by
//! Spiderpool is accepted here too, while reporting precisely which item and
//! field is wrong. `serde_json` bounds nesting depth, so no input can exhaust
//! the stack.
//!
//! Two deliberate differences: when several keys fold to the same field
//! (`"ipv4"` and `"IPv4"`), the exact spelling is used (Go takes the last one);
//! and a `null` inside a string list is an error (Go reads it as `""`, a pool
//! name that can never exist).

use serde_json::{Map, Value};

use super::AnnotationError;

/// Parses `value` as JSON, mapping a syntax error to [`AnnotationError`].
pub(crate) fn parse(annotation: &str, value: &str) -> Result<Value, AnnotationError> {
    serde_json::from_str(value)
        .map_err(|e| AnnotationError::invalid(annotation, value, format!("invalid JSON: {e}")))
}

/// Short name of a JSON value's type, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value of field `name`: an exact key match, else the first key equal to
/// `name` ignoring ASCII case (Go's `encoding/json` field matching). A `null`
/// value counts as absent.
pub(crate) fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
        .filter(|v| !v.is_null())
}

/// `[]string`: absent or `null` gives an empty list.
pub(crate) fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{what}[{i}] must be a string, found {}", kind(other))),
            })
            .collect(),
        Some(other) => Err(format!("{what} must be an array of strings, found {}", kind(other))),
    }
}

/// `string`: absent or `null` gives `""`.
pub(crate) fn string(v: Option<&Value>, what: &str) -> Result<String, String> {
    match v {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{what} must be a string, found {}", kind(other))),
    }
}

/// `bool`: absent or `null` gives `false`.
pub(crate) fn boolean(v: Option<&Value>, what: &str) -> Result<bool, String> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{what} must be a boolean, found {}", kind(other))),
    }
}

/// The items of a top-level array; `null` gives no items.
pub(crate) fn array<'a>(
    annotation: &str,
    value: &str,
    doc: &'a Value,
) -> Result<&'a [Value], AnnotationError> {
    match doc {
        Value::Null => Ok(&[]),
        Value::Array(items) => Ok(items),
        other => Err(AnnotationError::invalid(
            annotation,
            value,
            format!("value must be a JSON array, found {}", kind(other)),
        )),
    }
}

/// An array item that must be an object.
pub(crate) fn object(item: &Value, i: usize) -> Result<&Map<String, Value>, String> {
    match item {
        Value::Object(o) => Ok(o),
        other => Err(format!("item {i} must be a JSON object, found {}", kind(other))),
    }
}
