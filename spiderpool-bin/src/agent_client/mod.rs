//! The client of the agent API on its unix socket (HTTP/1.1, JSON), for the
//! CNI plugins and `spiderpoolctl`: [`AgentClient`] has one typed method per
//! route, over a [`Session`] (one kept-alive connection, a bounded time per
//! request). "No socket" (no agent on this machine) is told apart from "agent
//! said no" ([`AgentError::Status`], with the decoded [`ErrorBody`]) and from
//! failures to talk ([`AgentError::is_transport`]).
//!
//! The request and answer types are [`spiderpool_core::agent_api`]'s, shared
//! with the agent. This module imports nothing of any executable's.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use spiderpool_core::agent_api::ErrorBody;

mod client;
#[cfg(test)]
mod fake;
mod session;

pub use client::AgentClient;
pub use session::Session;
pub use spiderpool_core::agent_api::DEFAULT_SOCKET;

/// How much of an error body an [`AgentError::Status`] message shows.
const SHOWN_BODY_CHARS: usize = 512;

/// What can go wrong talking to the agent: a transport failure (the first
/// three variants), an error answer, or an answer that does not decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// Connecting or talking failed.
    #[error("agent socket {socket}: {message}")]
    Io {
        /// The socket path.
        socket: String,
        /// What failed.
        message: String,
    },
    /// The request cannot be sent as asked: the HTTP library refuses it
    /// (say, a URI longer than 65,534 bytes). Nothing reached the agent.
    #[error("{method} {path}: cannot send the request: {message}")]
    Request {
        /// Request method.
        method: String,
        /// Request path (shortened when long).
        path: String,
        /// Why.
        message: String,
    },
    /// The agent did not answer in time.
    #[error("agent socket {socket}: no answer within {seconds} s")]
    Timeout {
        /// The socket path.
        socket: String,
        /// The limit.
        seconds: u64,
    },
    /// The agent answered with an error status.
    #[error("agent {method} {path}: HTTP {status}: {}", shown(body))]
    Status {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// The error body (Spiderpool's error model is a JSON string).
        body: ErrorBody,
    },
    /// The answer is not the JSON expected.
    #[error("agent answer to {method} {path}: {message}")]
    Decode {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// Parser message.
        message: String,
    },
}

impl AgentError {
    /// True when the agent was not talked to, or did not answer: the socket
    /// failed, the request could not be sent, or the time was up.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            AgentError::Io { .. } | AgentError::Request { .. } | AgentError::Timeout { .. }
        )
    }
}

/// The error body as the agent sent it (compact JSON), at most
/// [`SHOWN_BODY_CHARS`] characters.
fn shown(body: &ErrorBody) -> String {
    body.to_json().chars().take(SHOWN_BODY_CHARS).collect()
}

/// Decodes an answer: `T` from a 2xx body, the [`ErrorBody`] of any other
/// status.
fn decode<T: DeserializeOwned>(
    method: &str,
    path: &str,
    status: u16,
    bytes: &[u8],
) -> Result<T, AgentError> {
    if !(200..300).contains(&status) {
        return Err(AgentError::Status {
            method: method.to_string(),
            path: path.to_string(),
            status,
            body: ErrorBody::from_http_body(bytes),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| AgentError::Decode {
        method: method.to_string(),
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Sends one request with an untyped JSON body and returns the untyped JSON
/// answer ([`Session::request`]); `Ok(None)` when the socket does not exist
/// (no agent on this machine). For tests that probe the API with arbitrary
/// bodies.
pub fn request_json(
    socket: &Path,
    method: &str,
    path: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<Option<serde_json::Value>, AgentError> {
    match Session::new(socket)? {
        None => Ok(None),
        Some(mut s) => s.request(method, path, body, timeout).map(Some),
    }
}
