//! CNI errors: the spec's error codes ([`ErrorCode`]), the typed error every
//! plugin returns ([`CniError`]) and the error JSON printed on stdout
//! ([`ErrorReply`]). [`ErrorReply::from_error`] is the one mapping from an
//! error to `code`, `msg` and `details`.

use serde::{Deserialize, Serialize};

/// A CNI error code (spec §5 "Error").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 1: incompatible CNI version.
    IncompatibleVersion,
    /// 2: unsupported field in the network configuration.
    UnsupportedField,
    /// 3: container unknown or does not exist (no cleanup needed).
    UnknownContainer,
    /// 4: invalid necessary environment variables.
    InvalidEnvironment,
    /// 5: I/O failure.
    IoFailure,
    /// 6: failed to decode content.
    DecodeFailure,
    /// 7: invalid network configuration.
    InvalidNetworkConfig,
    /// 11: try again later.
    TryAgainLater,
    /// 50: STATUS: the plugin is not available (cannot serve ADD).
    NotAvailable,
    /// 51: STATUS: not available and existing containers may have limited connectivity.
    LimitedConnectivity,
    /// 100 and above: plugin-specific.
    Plugin(u32),
    /// A code below 100 the spec does not define (e.g. Go libcni's 8 or 0),
    /// kept as received from a delegated plugin.
    Reserved(u32),
}

impl ErrorCode {
    /// The number on the wire.
    pub fn as_u32(self) -> u32 {
        match self {
            ErrorCode::IncompatibleVersion => 1,
            ErrorCode::UnsupportedField => 2,
            ErrorCode::UnknownContainer => 3,
            ErrorCode::InvalidEnvironment => 4,
            ErrorCode::IoFailure => 5,
            ErrorCode::DecodeFailure => 6,
            ErrorCode::InvalidNetworkConfig => 7,
            ErrorCode::TryAgainLater => 11,
            ErrorCode::NotAvailable => 50,
            ErrorCode::LimitedConnectivity => 51,
            ErrorCode::Plugin(n) | ErrorCode::Reserved(n) => n,
        }
    }
}

impl From<u32> for ErrorCode {
    fn from(n: u32) -> Self {
        match n {
            1 => ErrorCode::IncompatibleVersion,
            2 => ErrorCode::UnsupportedField,
            3 => ErrorCode::UnknownContainer,
            4 => ErrorCode::InvalidEnvironment,
            5 => ErrorCode::IoFailure,
            6 => ErrorCode::DecodeFailure,
            7 => ErrorCode::InvalidNetworkConfig,
            11 => ErrorCode::TryAgainLater,
            50 => ErrorCode::NotAvailable,
            51 => ErrorCode::LimitedConnectivity,
            n if n >= 100 => ErrorCode::Plugin(n),
            n => ErrorCode::Reserved(n),
        }
    }
}

impl From<ErrorCode> for u32 {
    fn from(c: ErrorCode) -> u32 {
        c.as_u32()
    }
}

/// Any failure of a CNI command. Each variant fixes the error code; the
/// message names the field or variable and the value that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CniError {
    /// Code 1: a version is malformed, unsupported, or too old for the command.
    #[error("{field} {version:?} is not supported: {reason}")]
    IncompatibleVersion {
        /// Where the version came from (`cniVersion`, ...).
        field: String,
        /// The version text.
        version: String,
        /// Why it is refused.
        reason: String,
    },
    /// Code 2: the configuration sets a field the plugin does not support.
    #[error("unsupported field {field}: {reason}")]
    UnsupportedField {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// Code 3: the container is unknown (nothing to clean up).
    #[error("unknown container {container_id:?}: {reason}")]
    UnknownContainer {
        /// `CNI_CONTAINERID`.
        container_id: String,
        /// Why.
        reason: String,
    },
    /// Code 4: a `CNI_*` environment variable is missing or invalid.
    #[error("{var}{}: {reason}", value.as_ref().map(|v| format!(" {v:?}")).unwrap_or_default())]
    InvalidEnvironment {
        /// The variable (`CNI_IFNAME`, `CNI_ARGS`, ...).
        var: String,
        /// Its value, when it was set.
        value: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// Code 5: reading stdin, a file or a socket failed.
    #[error("I/O failure on {what}: {reason}")]
    Io {
        /// What was being read or written.
        what: String,
        /// The underlying error.
        reason: String,
    },
    /// Code 6: JSON (config, prevResult, result) does not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was decoded (`network config`, `prevResult`, `prevResult.ips[0].address`).
        what: String,
        /// The decoder's message.
        reason: String,
    },
    /// Code 7: the network configuration is invalid.
    #[error(
        "invalid network config: {field}{}: {reason}",
        if value.is_empty() { String::new() } else { format!(" {value}") }
    )]
    InvalidConfig {
        /// The key (`name`, `plugins[1].type`, `podMACPrefix`, ...).
        field: String,
        /// The offending value as JSON text (`""` when missing); left out of
        /// the message when empty (the reason names the value then).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Code 11: a transient failure; the runtime may retry.
    #[error("try again later: {reason}")]
    TryAgainLater {
        /// Why.
        reason: String,
    },
    /// Code 50 (STATUS): the plugin cannot serve ADD.
    #[error("plugin not available: {reason}")]
    NotAvailable {
        /// Why (e.g. the agent socket does not answer).
        reason: String,
    },
    /// Code 51 (STATUS): not available, and existing containers may have
    /// limited connectivity.
    #[error("plugin not available, existing containers may have limited connectivity: {reason}")]
    LimitedConnectivity {
        /// Why.
        reason: String,
    },
    /// A plugin-specific error (code 100+), or an error received from a
    /// delegated plugin kept with its own code.
    #[error("{msg}")]
    Plugin {
        /// The code (100+ for our own plugin errors).
        code: u32,
        /// Message.
        msg: String,
        /// Details (may be empty).
        details: String,
    },
}

impl CniError {
    /// The spec code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            CniError::IncompatibleVersion { .. } => ErrorCode::IncompatibleVersion,
            CniError::UnsupportedField { .. } => ErrorCode::UnsupportedField,
            CniError::UnknownContainer { .. } => ErrorCode::UnknownContainer,
            CniError::InvalidEnvironment { .. } => ErrorCode::InvalidEnvironment,
            CniError::Io { .. } => ErrorCode::IoFailure,
            CniError::Decode { .. } => ErrorCode::DecodeFailure,
            CniError::InvalidConfig { .. } => ErrorCode::InvalidNetworkConfig,
            CniError::TryAgainLater { .. } => ErrorCode::TryAgainLater,
            CniError::NotAvailable { .. } => ErrorCode::NotAvailable,
            CniError::LimitedConnectivity { .. } => ErrorCode::LimitedConnectivity,
            CniError::Plugin { code, .. } => ErrorCode::from(*code),
        }
    }

    /// A plugin-specific error with `code` (use 100+ for our own errors).
    pub fn plugin(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        CniError::Plugin { code, msg: msg.into(), details: details.into() }
    }

    /// Shorthand for [`CniError::InvalidConfig`].
    pub fn invalid_config(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        CniError::InvalidConfig { field: field.into(), value: value.into(), reason: reason.into() }
    }

    /// Shorthand for [`CniError::InvalidEnvironment`].
    pub fn invalid_env(var: &str, value: Option<&str>, reason: impl Into<String>) -> Self {
        CniError::InvalidEnvironment {
            var: var.to_string(),
            value: value.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`CniError::Decode`].
    pub fn decode(what: impl Into<String>, reason: impl Into<String>) -> Self {
        CniError::Decode { what: what.into(), reason: reason.into() }
    }
}

/// The error JSON a plugin prints on stdout (exit status non-zero):
/// `{"cniVersion", "code", "msg", "details"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The spec version of the reply (the config's, when known).
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// The error code.
    pub code: ErrorCode,
    /// Short message.
    #[serde(default)]
    pub msg: String,
    /// Longer explanation; omitted when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl ErrorReply {
    /// THE mapping from an error to the reply: `code` from the variant, `msg`
    /// is the error's message (which names the field or variable and value),
    /// `details` carries the plugin's details for [`CniError::Plugin`] and is
    /// empty otherwise.
    pub fn from_error(err: &CniError, cni_version: &str) -> Self {
        let details = match err {
            CniError::Plugin { details, .. } => details.clone(),
            _ => String::new(),
        };
        ErrorReply {
            cni_version: cni_version.to_string(),
            code: err.code(),
            msg: err.to_string(),
            details,
        }
    }

    /// The error a delegated plugin reported, as a [`CniError::Plugin`] that
    /// keeps its code, message and details (so it can be passed on unchanged).
    pub fn into_error(self) -> CniError {
        CniError::Plugin { code: self.code.as_u32(), msg: self.msg, details: self.details }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_numbers() {
        for n in [1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 999, 8, 0] {
            assert_eq!(ErrorCode::from(n).as_u32(), n);
        }
        assert_eq!(ErrorCode::from(120), ErrorCode::Plugin(120));
        assert_eq!(ErrorCode::from(8), ErrorCode::Reserved(8));
    }

    #[test]
    fn every_variant_has_its_spec_code() {
        let cases = [
            (
                CniError::IncompatibleVersion {
                    field: "f".into(),
                    version: "v".into(),
                    reason: "r".into(),
                },
                1,
            ),
            (CniError::UnsupportedField { field: "f".into(), reason: "r".into() }, 2),
            (CniError::UnknownContainer { container_id: "c".into(), reason: "r".into() }, 3),
            (CniError::invalid_env("CNI_IFNAME", None, "missing"), 4),
            (CniError::Io { what: "stdin".into(), reason: "r".into() }, 5),
            (CniError::decode("network config", "eof"), 6),
            (CniError::invalid_config("name", "\"\"", "missing"), 7),
            (CniError::TryAgainLater { reason: "r".into() }, 11),
            (CniError::NotAvailable { reason: "r".into() }, 50),
            (CniError::LimitedConnectivity { reason: "r".into() }, 51),
            (CniError::plugin(107, "m", "d"), 107),
        ];
        for (e, code) in cases {
            assert_eq!(e.code().as_u32(), code, "{e}");
            assert_eq!(ErrorReply::from_error(&e, "1.0.0").code.as_u32(), code);
        }
    }

    #[test]
    fn invalid_config_without_a_value_has_no_stray_space() {
        let e = CniError::invalid_config(
            "coordinator netconf",
            "",
            "vethMTU: invalid value 0: must be between 68 and 65535",
        );
        assert_eq!(
            e.to_string(),
            "invalid network config: coordinator netconf: vethMTU: invalid value 0: must be between 68 and 65535"
        );
        let e = CniError::invalid_config("name", "\"\"", "required");
        assert_eq!(e.to_string(), "invalid network config: name \"\": required");
    }

    #[test]
    fn reply_json_shape() {
        let e = CniError::invalid_env("CNI_IFNAME", Some("a/b"), "contains '/'");
        let j = serde_json::to_value(ErrorReply::from_error(&e, "1.1.0")).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"cniVersion":"1.1.0","code":4,"msg":"CNI_IFNAME \"a/b\": contains '/'"})
        );
        let e = CniError::plugin(100, "agent said no", "pool p1 exhausted");
        let r = ErrorReply::from_error(&e, "0.4.0");
        let j = serde_json::to_string(&r).unwrap();
        let back: ErrorReply = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.into_error(), e);
    }
}
