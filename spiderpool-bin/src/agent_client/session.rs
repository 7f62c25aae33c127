//! Several requests to the agent over one kept-alive connection, on one small
//! runtime, each bounded in time: the transport under
//! [`AgentClient`](super::AgentClient).

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::AgentError;

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

    /// Sends one request with an untyped JSON body and returns the untyped
    /// JSON answer, within `timeout` (connecting included). A status other
    /// than 2xx is an [`AgentError::Status`] with the decoded error body.
    /// For tests and tools that probe the API with arbitrary bodies; the
    /// plugins and `spiderpoolctl` use [`AgentClient`](super::AgentClient).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, AgentError> {
        let (status, bytes) = self.exchange(method, path, Some(body), timeout)?;
        super::decode(method, path, status, &bytes)
    }

    /// Sends one request with an untyped JSON body (when given) and returns
    /// the status and the whole body, whatever the status, within `timeout`.
    /// For tests that look at raw answers.
    pub fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), AgentError> {
        let payload = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| AgentError::Io {
                socket: self.socket.display().to_string(),
                message: format!("request body: {e}"),
            })?),
            None => None,
        };
        self.send(method, path, payload, timeout)
    }

    /// Sends one request with `payload` as its JSON body (none when `None`)
    /// and returns the status and the whole body, whatever the status,
    /// within `timeout` (connecting included).
    pub(super) fn send(
        &mut self,
        method: &str,
        path: &str,
        payload: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), AgentError> {
        let socket_text = self.socket.display().to_string();
        let io = |message: String| AgentError::Io { socket: socket_text.clone(), message };
        let has_body = payload.is_some();
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("accept", "application/json");
        if has_body {
            builder = builder.header("content-type", "application/json");
        }
        let request =
            builder.body(Full::new(Bytes::from(payload.unwrap_or_default()))).map_err(|e| {
                AgentError::Request {
                    method: method.to_string(),
                    path: spiderpool_core::name::shown(path),
                    message: format!("{e} (the request URI has {} bytes)", path.len()),
                }
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
    use super::super::fake::serve_once;
    use super::super::request_json;
    use super::*;

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
