//! `spiderpoolctl`'s use of the agent client: one [`AgentClient`] per
//! command, every request bounded by [`TIMEOUT`], and an [`AgentError`]
//! sorted into what the command reports — the agent's refusal (its status and
//! whole error body: an admission `Rejection` is printed with every cause) or
//! an agent that cannot be talked to (exit 2, naming the socket).

use std::path::Path;
use std::time::Duration;

use spiderpool_core::agent_api::ErrorBody;

use crate::agent_client::{AgentClient, AgentError};

/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The agent could not be talked to (no socket, refused, timed out, a request
/// that cannot be sent, or an answer that does not decode).
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
    /// The API server of `--kubeconfig` could not be used.
    #[error("cannot reach the cluster of kubeconfig {kubeconfig}: {message}")]
    Cluster {
        /// The kubeconfig path.
        kubeconfig: String,
        /// What failed.
        message: String,
    },
    /// The request could not be built (e.g. a name so long the URI is
    /// refused); the agent was never asked.
    #[error("{0}")]
    Request(String),
    /// The agent answered something that is not the JSON expected.
    #[error("{0}")]
    Decode(String),
}

/// How a request failed.
#[derive(Debug)]
pub enum Failed {
    /// The agent answered with an error status.
    Refused {
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ErrorBody,
    },
    /// The agent could not be talked to.
    Unreachable(Unreachable),
}

/// A client of the agent on `socket`.
pub fn connect(socket: &Path) -> Result<AgentClient, Unreachable> {
    let connect =
        |message: String| Unreachable::Connect { socket: socket.display().to_string(), message };
    match AgentClient::new(socket) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(connect("no such socket".into())),
        Err(e) => Err(connect(e.to_string())),
    }
}

/// Sorts a failed request of the client on `socket`.
pub fn failed(socket: &Path, e: AgentError) -> Failed {
    let connect = |message: String| {
        Failed::Unreachable(Unreachable::Connect { socket: socket.display().to_string(), message })
    };
    match e {
        AgentError::Status { status, body, .. } => Failed::Refused { status, body },
        AgentError::Io { message, .. } => connect(message),
        AgentError::Timeout { seconds, .. } => connect(format!("no answer within {seconds} s")),
        e @ AgentError::Request { .. } => Failed::Unreachable(Unreachable::Request(e.to_string())),
        e @ AgentError::Decode { .. } => Failed::Unreachable(Unreachable::Decode(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_name_the_socket_and_refusals_keep_the_body() {
        let socket = Path::new("/run/x.sock");
        let timeout = AgentError::Timeout { socket: "/run/x.sock".into(), seconds: 30 };
        match failed(socket, timeout) {
            Failed::Unreachable(u) => assert_eq!(
                u.to_string(),
                "cannot reach the agent at socket /run/x.sock: no answer within 30 s (is spiderpool-agent running? set --socket)"
            ),
            other => panic!("{other:?}"),
        }
        let refused = AgentError::Status {
            method: "GET".into(),
            path: "/p".into(),
            status: 404,
            body: ErrorBody::Message("gone".into()),
        };
        assert!(matches!(
            failed(socket, refused),
            Failed::Refused { status: 404, body } if body == "gone"
        ));
        let e = connect(Path::new("/nonexistent/x.sock")).unwrap_err().to_string();
        assert!(e.contains("no such socket"), "{e}");
    }
}
