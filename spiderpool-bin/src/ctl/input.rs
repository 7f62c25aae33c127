//! Reading objects: files or standard input holding multi-document YAML, a JSON
//! object, a JSON array, or a `List` (`kind: List`, `items: [...]`, in either
//! syntax), decoded into Spiderpool resources or NetworkAttachmentDefinitions.

use std::io::Read;
use std::path::Path;

use serde_json::Value;
use spiderpool_core::model::{ModelError, Resource};
use spiderpool_core::multus::{NAD_API_VERSION, NAD_KIND, NetworkAttachmentDefinition};

use super::CtlError;
pub use crate::documents::{Document, Location};
use crate::documents::{DocumentsError, split_documents};

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

/// Splits a file's text into objects ([`split_documents`]): multi-document
/// YAML, a JSON object or array, a `List`; errors name the file.
pub fn parse_documents(name: &str, text: &str) -> Result<Vec<Document>, CtlError> {
    split_documents(text).map_err(|e| match e {
        DocumentsError::Parse(message) => CtlError::Parse { source_name: name.to_owned(), message },
        DocumentsError::Shape { location, message } => {
            CtlError::Decode { source_name: name.to_owned(), location, message }
        }
    })
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
