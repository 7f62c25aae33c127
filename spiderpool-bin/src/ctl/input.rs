//! Reading objects: files or standard input holding multi-document YAML, a JSON
//! object, a JSON array, or a `List` (`kind: List`, `items: [...]`, in either
//! syntax), decoded into Spiderpool resources or NetworkAttachmentDefinitions.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use spiderpool_core::model::{ModelError, Resource};
use spiderpool_core::multus::{NAD_API_VERSION, NAD_KIND, NetworkAttachmentDefinition};

use super::CtlError;

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

/// A decoded object.
#[derive(Debug, Clone)]
pub enum Object {
    /// One of the six Spiderpool kinds.
    Spider(Box<Resource>),
    /// A Multus NetworkAttachmentDefinition.
    Nad(Box<NetworkAttachmentDefinition>),
}

/// The name used for a path in messages: `<stdin>` for `-`.
pub fn source_name(path: &Path) -> String {
    if path == Path::new("-") { "<stdin>".to_owned() } else { path.display().to_string() }
}

/// Reads a file, or standard input for `-`.
pub fn read_source(path: &Path, stdin: &mut dyn Read) -> Result<String, CtlError> {
    let read_err = |source| CtlError::Read { source_name: source_name(path), source };
    if path == Path::new("-") {
        let mut text = String::new();
        stdin.read_to_string(&mut text).map_err(read_err)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(read_err)
    }
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
pub fn parse_documents(name: &str, text: &str) -> Result<Vec<Document>, CtlError> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => vec![v],
            Err(json_err) => yaml_documents(text).map_err(|_| CtlError::Parse {
                source_name: name.to_owned(),
                message: format!("invalid JSON: {json_err}"),
            })?,
        }
    } else {
        yaml_documents(text).map_err(|e| CtlError::Parse {
            source_name: name.to_owned(),
            message: format!("invalid YAML: {e}"),
        })?
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
                        return Err(CtlError::Decode {
                            source_name: name.to_owned(),
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

/// `kind` and `metadata.name` of an undecoded object, for messages.
fn kind_and_name(v: &Value) -> (String, String) {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("<no kind>").to_owned();
    let name = v
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    (kind, name)
}

/// Decodes one object: a Spiderpool kind, or a NetworkAttachmentDefinition when
/// `allow_nad`. Errors name the document, the kind, the name and the field.
pub fn decode(name: &str, doc: &Document, allow_nad: bool) -> Result<Object, CtlError> {
    let err = |message: String| CtlError::Decode {
        source_name: name.to_owned(),
        location: doc.location,
        message,
    };
    let (kind, obj_name) = kind_and_name(&doc.value);
    if kind == NAD_KIND {
        if !allow_nad {
            return Err(err(format!(
                "{kind} {obj_name:?}: Spiderpool does not admit this kind; pass NADs with --existing"
            )));
        }
        let api_version = doc.value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if api_version != NAD_API_VERSION {
            return Err(err(format!(
                "{kind} {obj_name:?}: apiVersion {api_version:?} is not {NAD_API_VERSION:?}"
            )));
        }
        return serde_json::from_value::<NetworkAttachmentDefinition>(doc.value.clone())
            .map(|n| Object::Nad(Box::new(n)))
            .map_err(|e| err(format!("{kind} {obj_name:?}: {e}")));
    }
    match Resource::from_value(doc.value.clone()) {
        Ok(r) => Ok(Object::Spider(Box::new(r))),
        // Already names the kind, the name and the field.
        Err(e @ ModelError::InvalidResource { .. }) => Err(err(e.to_string())),
        Err(e) => Err(err(format!("{kind} {obj_name:?}: {e}"))),
    }
}

/// Reads, splits and decodes one file.
pub fn read_objects(
    path: &Path,
    stdin: &mut dyn Read,
    allow_nad: bool,
) -> Result<Vec<(Location, Object)>, CtlError> {
    let name = source_name(path);
    let text = read_source(path, stdin)?;
    parse_documents(&name, &text)?
        .iter()
        .map(|doc| Ok((doc.location, decode(&name, doc, allow_nad)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn documents_lists_and_arrays() {
        let yaml = "kind: A\n---\nkind: List\nitems:\n- kind: B\n- kind: C\n---\n";
        let docs = parse_documents("f", yaml).unwrap();
        let locs: Vec<_> = docs.iter().map(|d| d.location.to_string()).collect();
        assert_eq!(locs, ["doc 1", "doc 2 item 1", "doc 2 item 2"]);
        let json = r#"[{"kind":"A"},{"kind":"B"}]"#;
        let docs = parse_documents("f", json).unwrap();
        assert_eq!(docs[1].location, Location { doc: 1, item: Some(2) });
        let flow_yaml = "{kind: A}";
        assert_eq!(parse_documents("f", flow_yaml).unwrap().len(), 1);
    }

    #[test]
    fn parse_errors_name_the_source() {
        let err = parse_documents("in.yaml", "a: [1\n").unwrap_err().to_string();
        assert!(err.starts_with("in.yaml: invalid YAML"), "{err}");
        let err = parse_documents("in.json", "{\"a\": [1}").unwrap_err().to_string();
        assert!(err.starts_with("in.json: invalid JSON"), "{err}");
        let err = parse_documents("f", "kind: List\nitems: 3\n").unwrap_err().to_string();
        assert_eq!(err, "f: doc 1: List: items: expected an array");
    }

    #[test]
    fn decode_errors_name_doc_kind_name_and_field() {
        let docs = parse_documents(
            "f",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n\
             apiVersion: spiderpool.spidernet.io/v2beta1\nkind: SpiderReservedIP\n\
             metadata: {name: r}\nspec: {ipVersion: four}\n",
        )
        .unwrap();
        let err = decode("f", &docs[0], true).unwrap_err().to_string();
        assert!(err.starts_with("f: doc 1: Pod \"p\": resource: unknown kind \"Pod\""), "{err}");
        let err = decode("f", &docs[1], true).unwrap_err().to_string();
        assert!(err.starts_with("f: doc 2: SpiderReservedIP \"r\": spec.ipVersion: "), "{err}");
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let docs = parse_documents("f", "a: n\nb: off\nc: yes\nd: true\n").unwrap();
        assert_eq!(docs[0].value, serde_json::json!({"a": "n", "b": "off", "c": "yes", "d": true}));
    }

    #[test]
    fn nads_only_where_allowed() {
        let docs = parse_documents(
            "f",
            "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n\
             metadata: {name: n, namespace: kube-system}\nspec: {config: '{}'}\n",
        )
        .unwrap();
        assert!(matches!(decode("f", &docs[0], true).unwrap(), Object::Nad(_)));
        let err = decode("f", &docs[0], false).unwrap_err().to_string();
        assert!(err.contains("pass NADs with --existing"), "{err}");
    }
}
