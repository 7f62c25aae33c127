//! A small client for the agent's API on its unix socket (HTTP/1.1, JSON), as
//! the CNI plugins use it: a bounded time per request, "no socket" told apart
//! from "agent said no", and a [`Session`] to send several requests over one
//! connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The agent's default socket.
pub const DEFAULT_SOCKET: &str = "/var/run/spidernet/spiderpool.sock";

/// What can go wrong talking to the agent.
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
    #[error("agent {method} {path}: HTTP {status}: {body}")]
    Status {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Response body (Spiderpool's error model is a JSON string).
        body: String,
    },
    /// The answer is not the JSON expected.
    #[error("agent {path}: invalid JSON answer: {message}")]
    Decode {
        /// Request path.
        path: String,
        /// Parser message.
        message: String,
    },
}

/// Sends one request with a JSON body and returns the JSON answer.
/// `Ok(None)` when the socket does not exist (no agent on this machine).
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

/// Several requests to the agent over one kept-alive connection (the IPAM
/// plugin's health check and allocation), on one small runtime: a CNI plugin
/// is a short-lived process, so each connection and runtime saved is a
/// measurable part of its run. The connection is opened by the first request
/// and opened again if the agent closed it.
pub struct Session {
    socket: PathBuf,
    rt: tokio::runtime::Runtime,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("socket", &self.socket).finish_non_exhaustive()
    }
}

impl Session {
    /// A session with the agent on `socket`; `Ok(None)` when the socket does
    /// not exist (no agent on this machine).
    pub fn new(socket: &Path) -> Result<Option<Self>, AgentError> {
        if !socket.exists() {
            return Ok(None);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| AgentError::Io {
                socket: socket.display().to_string(),
                message: format!("runtime: {e}"),
            })?;
        Ok(Some(Self { socket: socket.to_path_buf(), rt, sender: None }))
    }

    /// Sends one request with a JSON body and returns the JSON answer, within
    /// `timeout` (connecting included). A status other than 2xx is an
    /// [`AgentError::Status`] with the body's start.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, AgentError> {
        let (status, bytes) = self.exchange(method, path, Some(body), timeout)?;
        if !(200..300).contains(&status) {
            return Err(AgentError::Status {
                method: method.to_string(),
                path: path.to_string(),
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(512).collect(),
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| AgentError::Decode { path: path.to_string(), message: e.to_string() })
    }

    /// Sends one request (a JSON body when given) and returns the status and
    /// the whole body, whatever the status, within `timeout`.
    pub fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), AgentError> {
        let socket_text = self.socket.display().to_string();
        let io = |message: String| AgentError::Io { socket: socket_text.clone(), message };
        let payload = match body {
            Some(v) => serde_json::to_vec(v).map_err(|e| io(format!("request body: {e}")))?,
            None => Vec::new(),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("accept", "application/json");
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request =
            builder.body(Full::new(Bytes::from(payload))).map_err(|e| AgentError::Request {
                method: method.to_string(),
                path: spiderpool_core::name::shown(path),
                message: format!("{e} (the request URI has {} bytes)", path.len()),
            })?;
        let socket = self.socket.clone();
        let reusable = self.sender.take().filter(|s| !s.is_closed());
        let exchange = async {
            let mut sender = match reusable {
                Some(s) => s,
                None => {
                    let stream = tokio::net::UnixStream::connect(&socket)
                        .await
                        .map_err(|e| io(format!("connect: {e}")))?;
                    let (sender, conn) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .map_err(|e| io(format!("handshake: {e}")))?;
                    // Driven whenever the runtime runs (inside `block_on`);
                    // dropped with the runtime.
                    tokio::spawn(conn);
                    sender
                }
            };
            sender.ready().await.map_err(|e| io(format!("connection: {e}")))?;
            let response =
                sender.send_request(request).await.map_err(|e| io(format!("request: {e}")))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| io(format!("response body: {e}")))?
                .to_bytes();
            Ok::<_, AgentError>((sender, status, bytes))
        };
        let (sender, status, bytes) =
            self.rt.block_on(async { tokio::time::timeout(timeout, exchange).await }).map_err(
                |_| AgentError::Timeout { socket: socket_text.clone(), seconds: timeout.as_secs() },
            )??;
        self.sender = Some(sender);
        Ok((status, bytes))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    use super::*;

    fn serve_once(reply: &'static str) -> (tempdir::Dir, std::thread::JoinHandle<String>) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            s.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (dir, handle)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let p =
                    std::env::temp_dir().join(format!("sp-agent-test-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn no_socket_means_no_agent() {
        let got = request_json(
            Path::new("/nonexistent/sp.sock"),
            "GET",
            "/v1/x",
            &serde_json::json!({}),
            Duration::from_secs(1),
        );
        assert!(matches!(got, Ok(None)));
    }

    #[test]
    fn sends_a_json_body_and_reads_the_json_answer() {
        let (dir, server) = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"mode\":\"auto\"}\n",
        );
        let got = request_json(
            &dir.0.join("agent.sock"),
            "GET",
            "/v1/coordinator/config",
            &serde_json::json!({"podName": "p", "podNamespace": "ns"}),
            Duration::from_secs(5),
        )
        .unwrap()
        .unwrap();
        assert_eq!(got["mode"], "auto");
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /v1/coordinator/config HTTP/1.1"), "{request}");
        assert!(request.contains(r#"{"podName":"p","podNamespace":"ns"}"#), "{request}");
    }

    #[test]
    fn an_error_status_is_reported_with_the_body() {
        let (dir, _server) = serve_once(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 23\r\n\r\n\"coordinator not ready\"",
        );
        let err = request_json(
            &dir.0.join("agent.sock"),
            "GET",
            "/v1/coordinator/config",
            &serde_json::json!({}),
            Duration::from_secs(5),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("HTTP 500") && err.contains("coordinator not ready"), "{err}");
    }
}
