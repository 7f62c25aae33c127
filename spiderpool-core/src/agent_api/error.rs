//! The body of the agent's error answers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::admission::Rejection;

/// The JSON body of an error answer (any status other than 2xx).
///
/// Spiderpool's routes answer with Spiderpool's `Error` model, a JSON
/// string; the administrative routes answer an admission refusal with the
/// [`Rejection`] object (`reason`, `kind`, `name`, `message`, `causes`) and
/// everything else with a string. A client decodes whatever it gets:
/// [`ErrorBody::from_http_body`] never fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorBody {
    /// Spiderpool's `Error` model: a message.
    Message(String),
    /// An admission refusal of an administrative route (boxed: it is by far
    /// the largest variant).
    Rejection(Box<Rejection>),
    /// Any other JSON (not sent by this agent).
    Other(serde_json::Value),
}

impl ErrorBody {
    /// The body of an HTTP error answer as received: its JSON, or — from
    /// something that is not this agent, say a proxy — its text (trimmed) as
    /// a [`ErrorBody::Message`]. An empty body is an empty message.
    pub fn from_http_body(bytes: &[u8]) -> ErrorBody {
        serde_json::from_slice(bytes).unwrap_or_else(|_| {
            ErrorBody::Message(String::from_utf8_lossy(bytes).trim().to_string())
        })
    }

    /// The message: the string itself, a rejection's message or its
    /// one-line description when it has none, any other JSON as text.
    pub fn message(&self) -> String {
        match self {
            ErrorBody::Message(m) => m.clone(),
            ErrorBody::Rejection(r) if !r.message.is_empty() => r.message.clone(),
            ErrorBody::Rejection(r) => r.to_string(),
            ErrorBody::Other(serde_json::Value::Object(o)) => {
                match o.get("message").and_then(serde_json::Value::as_str) {
                    Some(m) => m.to_string(),
                    None => serde_json::Value::Object(o.clone()).to_string(),
                }
            }
            ErrorBody::Other(v) => v.to_string(),
        }
    }

    /// The body as compact JSON, as it went over the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.message())
    }
}

impl From<String> for ErrorBody {
    fn from(message: String) -> Self {
        ErrorBody::Message(message)
    }
}

impl From<Rejection> for ErrorBody {
    fn from(r: Rejection) -> Self {
        ErrorBody::Rejection(Box::new(r))
    }
}

impl fmt::Display for ErrorBody {
    /// The compact JSON (a message in quotes), as the agent sent it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// A body equals a string when it is that message.
impl PartialEq<str> for ErrorBody {
    fn eq(&self, other: &str) -> bool {
        matches!(self, ErrorBody::Message(m) if m == other)
    }
}

impl PartialEq<&str> for ErrorBody {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::admission::FieldError;

    #[test]
    fn messages_rejections_and_other_bodies_decode() {
        let m = ErrorBody::from_http_body(br#""coordinator not ready""#);
        assert_eq!(m, "coordinator not ready");
        assert_eq!(m.to_string(), r#""coordinator not ready""#);
        let r = Rejection::invalid(
            "SpiderIPPool",
            "x",
            vec![FieldError::invalid("spec.ips[0]", "10.7.0.1", "not in subnet")],
        );
        let wire = serde_json::to_vec(&ErrorBody::from(r.clone())).unwrap();
        assert_eq!(wire, serde_json::to_vec(&r).unwrap(), "a rejection is sent as itself");
        assert_eq!(ErrorBody::from_http_body(&wire), ErrorBody::from(r.clone()));
        assert_eq!(ErrorBody::from_http_body(&wire).message(), r.to_string());
        let other = ErrorBody::from_http_body(br#"{"message":"m","code":7}"#);
        assert!(matches!(other, ErrorBody::Other(_)));
        assert_eq!(other.message(), "m");
        assert_eq!(ErrorBody::from_http_body(b"  Invalid URL \n"), "Invalid URL");
        assert_eq!(ErrorBody::from_http_body(b""), "");
    }
}
