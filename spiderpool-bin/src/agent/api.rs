//! The HTTP side of the agent API, as the server needs it: error answers
//! ([`ApiError`], an [`ErrorBody`] with a status), request bodies parsed with
//! the offending field named ([`parse_body`]), and the identifier rules of
//! the IPAM routes. The request and answer types are
//! [`spiderpool_core::agent_api`]'s, shared with the clients.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use spiderpool_core::agent_api::ErrorBody;

/// An error answer: a status code and a JSON body — Spiderpool's `Error` model
/// (a JSON string) for the agent routes, a `Rejection` object for admission.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error whose body is the JSON string `message`.
    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody::Message(message.into()) }
    }

    /// 400 with a message naming the bad field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::message(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::message(StatusCode::NOT_FOUND, message)
    }

    /// 500, Spiderpool's answer for every failed operation.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::message(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The message, when the body is a JSON string (the JSON otherwise).
    pub fn text(&self) -> String {
        match &self.body {
            ErrorBody::Message(s) => s.clone(),
            other => other.to_json(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Parses a JSON request body into `T`; a failure is a 400 naming the model
/// and the field (`IpamAddArgs: podUID: invalid type: ...`, or
/// `IpamAddArgs: missing field `podUID``).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8], model: &str) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("{model}: empty request body")));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("{model}: {inner}"))
        } else {
            ApiError::bad_request(format!("{model}: field {path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| ApiError::bad_request(format!("{model}: trailing data: {e}")))?;
    Ok(value)
}

/// Checks that required string fields are not empty: 400 naming the first
/// empty one.
pub fn require_non_empty(model: &str, fields: &[(&str, &str)]) -> Result<(), ApiError> {
    for (name, value) in fields {
        if value.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{model}: field {name}: required, must not be empty"
            )));
        }
    }
    Ok(())
}

/// The rule an identifier of the IPAM API follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ident {
    /// A Kubernetes namespace: a DNS-1123 label.
    PodNamespace,
    /// A pod name: a DNS-1123 subdomain.
    PodName,
    /// A pod UID: letters, digits and `-`, at most 128 (the plugin's
    /// `K8S_POD_UID` rule).
    PodUid,
    /// A Linux interface name (the kernel's `dev_valid_name`).
    IfName,
    /// A CNI container ID.
    ContainerId,
}

impl Ident {
    /// Why `value` breaks the rule, if it does.
    fn check(self, value: &str) -> Result<(), String> {
        use spiderpool_core::name;
        let first = |errs: Vec<name::DnsNameError>| {
            errs.into_iter().next().map_or(Ok(()), |e| Err(e.to_string()))
        };
        match self {
            Ident::PodNamespace => first(name::dns1123_label(value)),
            Ident::PodName => first(name::dns1123_subdomain(value)),
            Ident::PodUid => name::pod_uid(value).map_err(|e| e.to_string()),
            Ident::IfName => name::interface_name(value).map_err(|e| e.to_string()),
            Ident::ContainerId => name::container_id(value).map_err(|e| e.to_string()),
        }
    }
}

/// Checks identifiers of a request body (empty ones are skipped: whether a
/// field is required is [`require_non_empty`]'s): 400 naming the first bad
/// field, its value (shortened when long) and the rule, e.g. `IpamAddArgs:
/// field ifName: Invalid value "a/b": contains the forbidden character '/'
/// (an interface name must not contain '/', ':', NUL or whitespace)`.
pub fn check_identifiers(model: &str, fields: &[(&str, Ident, &str)]) -> Result<(), ApiError> {
    for (field, ident, value) in fields {
        if value.is_empty() {
            continue;
        }
        if let Err(reason) = ident.check(value) {
            let shown = spiderpool_core::name::shown(value);
            return Err(ApiError::bad_request(format!(
                "{model}: field {field}: Invalid value {shown:?}: {reason}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use spiderpool_core::agent_api::IpamAddArgs;

    use super::*;

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let e = parse_body::<IpamAddArgs>(br#"{"containerID":"c"}"#, "IpamAddArgs").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.text().contains("missing field `ifName`"), "{}", e.text());
        let e = parse_body::<IpamAddArgs>(
            br#"{"containerID":"c","ifName":"net1","netNamespace":"n","podNamespace":"ns","podName":"p","podUID":7}"#,
            "IpamAddArgs",
        )
        .unwrap_err();
        assert!(e.text().contains("field podUID: invalid type"), "{}", e.text());
        let e = parse_body::<IpamAddArgs>(b"  ", "IpamAddArgs").unwrap_err();
        assert!(e.text().contains("empty request body"), "{}", e.text());
    }
}
