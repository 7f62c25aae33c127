//! One HTTP/1.1 request to the agent's unix socket, returning the status and
//! the whole JSON body (the plugins' `agent_client` truncates error bodies; an
//! admission `Rejection` must be read whole to print every cause).

use std::path::Path;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The agent could not be talked to (no socket, refused, timed out, or an
/// answer that is not JSON).
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
    if !socket.exists() {
        return Err(connect("no such socket".into()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| connect(format!("runtime: {e}")))?;
    let payload = match body {
        Some(v) => serde_json::to_vec(v).map_err(|e| connect(format!("request body: {e}")))?,
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
        builder.body(Full::new(Bytes::from(payload))).map_err(|e| connect(e.to_string()))?;
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| connect(format!("connect: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connect(format!("handshake: {e}")))?;
        let driver = tokio::spawn(conn);
        let response =
            sender.send_request(request).await.map_err(|e| connect(format!("request: {e}")))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| connect(format!("response body: {e}")))?
            .to_bytes();
        driver.abort();
        Ok::<_, Unreachable>((status, bytes))
    };
    let (status, bytes) =
        rt.block_on(async { tokio::time::timeout(TIMEOUT, exchange).await })
            .map_err(|_| connect(format!("no answer within {} s", TIMEOUT.as_secs())))??;
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
