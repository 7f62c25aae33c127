//! Splitting a file of Kubernetes objects into objects: multi-document YAML,
//! a JSON object or array, or a `List` (`kind: List`, `items: [...]`, in
//! either syntax). Shared by `spiderpoolctl` (`validate`, `apply`, ...) and
//! `spiderpool-controller init`.

use std::fmt;

use serde_json::Value;

/// Where an object came from inside its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based document number (YAML documents; a JSON file is one document).
    /// Empty YAML documents are skipped and not counted.
    pub doc: usize,
    /// 1-based item number when the document is a `List` or an array.
    pub item: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "doc {}", self.doc)?;
        if let Some(item) = self.item {
            write!(f, " item {item}")?;
        }
        Ok(())
    }
}

/// One undecoded object.
#[derive(Debug, Clone)]
pub struct Document {
    /// Where it was found.
    pub location: Location,
    /// The object.
    pub value: Value,
}

/// Why a text could not be split into objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentsError {
    /// The text is neither JSON nor YAML (the parser's message, with line and
    /// column, prefixed `invalid JSON:` or `invalid YAML:`).
    #[error("{0}")]
    Parse(String),
    /// A `List` whose `items` is not an array.
    #[error("{location}: {message}")]
    Shape {
        /// The document.
        location: Location,
        /// What is wrong.
        message: String,
    },
}

/// The documents of a YAML text, read with YAML 1.2 core-schema booleans only
/// (`true` / `false`): a name such as `n`, `no` or `off` stays a string.
fn yaml_documents(text: &str) -> Result<Vec<Value>, serde_saphyr::Error> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_multiple_with_options::<Value>(text, options)
}

/// Splits a file's text into objects. Text that starts with `{` or `[` is read
/// as JSON (falling back to YAML, of which JSON is nearly a subset); anything
/// else as multi-document YAML. A `List` or an array contributes its items.
pub fn split_documents(text: &str) -> Result<Vec<Document>, DocumentsError> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => vec![v],
            Err(json_err) => yaml_documents(text)
                .map_err(|_| DocumentsError::Parse(format!("invalid JSON: {json_err}")))?,
        }
    } else {
        yaml_documents(text).map_err(|e| DocumentsError::Parse(format!("invalid YAML: {e}")))?
    };
    let mut out = Vec::new();
    for (i, value) in docs.into_iter().enumerate() {
        let doc = i + 1;
        let items = match value {
            Value::Array(items) => Some(items),
            Value::Object(mut obj) if obj.get("kind").and_then(Value::as_str) == Some("List") => {
                match obj.remove("items") {
                    Some(Value::Array(items)) => Some(items),
                    None | Some(Value::Null) => Some(Vec::new()),
                    Some(_) => {
                        return Err(DocumentsError::Shape {
                            location: Location { doc, item: None },
                            message: "List: items: expected an array".to_owned(),
                        });
                    }
                }
            }
            other => {
                out.push(Document { location: Location { doc, item: None }, value: other });
                None
            }
        };
        for (j, value) in items.into_iter().flatten().enumerate() {
            out.push(Document { location: Location { doc, item: Some(j + 1) }, value });
        }
    }
    Ok(out)
}
