//! One HTTP/1.1 request to the agent's unix socket, returning the status and
//! the whole JSON body (the plugins' `agent_client` truncates error bodies; an
//! admission `Rejection` must be read whole to print every cause).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::agent_client::{AgentError, Session};

/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The agent could not be talked to (no socket, refused, timed out, a request
/// that cannot be sent, or an answer that is not JSON).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unreachable {
    /// The socket could not be used.
    #[error(
        "cannot reach the agent at socket {socket}: {message} (is spiderpool-agent running? set --socket)"
    )]
    Connect {
        /// The socket path.
        socket: String,
        /// What failed.
        message: String,
    },
    /// The request could not be built (e.g. a name so long the URI is
    /// refused); the agent was never asked.
    #[error("{0}")]
    Request(String),
    /// The agent answered something that is not JSON.
    #[error("agent {method} {path}: HTTP {status}: answer is not JSON: {message}")]
    Decode {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Parser message.
        message: String,
    },
}

/// Sends `method path` with an optional JSON body; returns the status and the
/// JSON answer (`Value::Null` for an empty body).
pub fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), Unreachable> {
    let socket_text = socket.display().to_string();
    let connect = |message: String| Unreachable::Connect { socket: socket_text.clone(), message };
    let mut session = match Session::new(socket) {
        Ok(Some(s)) => s,
        Ok(None) => return Err(connect("no such socket".into())),
        Err(e) => return Err(connect(e.to_string())),
    };
    let (status, bytes) = session.exchange(method, path, body, TIMEOUT).map_err(|e| match e {
        AgentError::Io { message, .. } => connect(message),
        AgentError::Timeout { seconds, .. } => connect(format!("no answer within {seconds} s")),
        e @ AgentError::Request { .. } => Unreachable::Request(e.to_string()),
        other => connect(other.to_string()),
    })?;
    if bytes.is_empty() {
        return Ok((status, Value::Null));
    }
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok((status, v)),
        // Error answers are sometimes plain text (e.g. axum's own rejections).
        Err(_) if !(200..300).contains(&status) => {
            Ok((status, Value::String(String::from_utf8_lossy(&bytes).trim().to_string())))
        }
        Err(e) => Err(Unreachable::Decode {
            method: method.to_string(),
            path: path.to_string(),
            status,
            message: e.to_string(),
        }),
    }
}
