//! Errors of the resource model: JSON-in-a-string status fields, enum-like string
//! fields, and dispatching untyped objects to a kind.

/// An error decoding a Spiderpool resource or one of its string-encoded fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A status field that holds a JSON document in a string (for example
    /// `status.allocatedIPs`) does not contain valid JSON of the expected shape.
    #[error("{field}: invalid JSON at line {line} column {column}: {message}")]
    InvalidJsonString {
        /// The field, e.g. `status.allocatedIPs`.
        field: &'static str,
        /// 1-based line of the error inside the string.
        line: usize,
        /// 1-based column of the error inside the string.
        column: usize,
        /// What is wrong, without the position.
        message: String,
    },

    /// An enum-like string field holds a value Spiderpool does not accept.
    #[error("{field}: unknown value {value:?}, expected one of: {}", expected.join(", "))]
    UnknownValue {
        /// The field, e.g. `spec.cniType`.
        field: String,
        /// The offending value.
        value: String,
        /// The accepted values.
        expected: &'static [&'static str],
    },

    /// An object to dispatch is not a JSON object.
    #[error("resource: expected a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type that was found (`array`, `string`, ...).
        found: &'static str,
    },

    /// `apiVersion` or `kind` is missing or not a string.
    #[error("resource: field {field:?} is missing or not a string")]
    MissingField {
        /// `apiVersion` or `kind`.
        field: &'static str,
    },

    /// `kind` is not one of the six Spiderpool kinds.
    #[error(
        "resource: unknown kind {kind:?}, expected one of: SpiderIPPool, SpiderSubnet, \
         SpiderReservedIP, SpiderEndpoint, SpiderMultusConfig, SpiderCoordinator"
    )]
    UnknownKind {
        /// The offending kind.
        kind: String,
    },

    /// `apiVersion` is not `spiderpool.spidernet.io/v2beta1`.
    #[error("{kind}: apiVersion {api_version:?} is not \"spiderpool.spidernet.io/v2beta1\"")]
    WrongApiVersion {
        /// The object's kind.
        kind: String,
        /// The offending apiVersion.
        api_version: String,
    },

    /// A known kind whose body does not decode (wrong JSON type for a field).
    #[error("{kind} {name:?}: {path}: {message}")]
    InvalidResource {
        /// The object's kind.
        kind: &'static str,
        /// `metadata.name`, or `""` when absent.
        name: String,
        /// The narrowest field path found to hold the bad value, e.g. `spec.ipVersion`.
        path: String,
        /// What is wrong (the decoder's message, which quotes the bad value).
        message: String,
    },
}

impl ModelError {
    /// Wraps a `serde_json` error from decoding the string held in `field`.
    pub(crate) fn json_string(field: &'static str, e: &serde_json::Error) -> Self {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        Self::InvalidJsonString { field, line: e.line(), column: e.column(), message }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn json_string_error_names_field_and_position_once() {
        let e = serde_json::from_str::<serde_json::Value>("{\"a\" 1}").unwrap_err();
        let err = ModelError::json_string("status.allocatedIPs", &e);
        let text = err.to_string();
        assert!(text.starts_with("status.allocatedIPs: invalid JSON at line 1 column 6: "));
        // The position is not repeated at the end of the message.
        assert!(!text.ends_with("column 6"), "{text}");
    }

    #[test]
    fn unknown_value_lists_expected() {
        let err = ModelError::UnknownValue {
            field: "spec.mode".into(),
            value: "fast".into(),
            expected: &["auto", "underlay"],
        };
        assert_eq!(
            err.to_string(),
            "spec.mode: unknown value \"fast\", expected one of: auto, underlay"
        );
    }
}
