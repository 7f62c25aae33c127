//! What can go wrong while rendering an SMC.

use crate::model::CniType;

/// Why an SMC could not be rendered. Admission rejects all of these first; the
/// renderer still checks, so it never panics on an object that skipped admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A value outside its enumeration.
    #[error("{field}: unsupported value {value:?}, expected one of: {expected}")]
    UnknownValue {
        /// Field path, e.g. `spec.cniType`.
        field: String,
        /// The value found.
        value: String,
        /// The values accepted, comma-separated.
        expected: String,
    },
    /// A field the selected `cniType` needs is absent or empty.
    #[error("{field}: required: {what}")]
    Missing {
        /// Field path, e.g. `spec.macvlan.master`.
        field: String,
        /// What is needed.
        what: &'static str,
    },
    /// A JSON string that is not what the field needs.
    #[error("{field}: invalid JSON {value:?}: {reason}")]
    InvalidJson {
        /// Field path, e.g. `spec.chainCNIJsonData[1]`.
        field: String,
        /// The string found.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `spec.cniType` holds no value the renderer knows.
pub(super) fn unknown_cni_type(value: &str) -> RenderError {
    RenderError::UnknownValue {
        field: "spec.cniType".into(),
        value: value.to_string(),
        expected: CniType::WIRE_VALUES.join(", "),
    }
}

/// A field the `cniType` needs is absent or empty.
pub(super) fn missing(field: &str, what: &'static str) -> RenderError {
    RenderError::Missing { field: field.to_string(), what }
}
