//! Every error the agent answers carries the agent's JSON error body (a JSON
//! string, Spiderpool's `Error` model), also those that axum produces itself:
//! 404 for an unknown route, 405 for a wrong method, 413 for a body over
//! [`BODY_LIMIT`], and the 400s of rejected extractors (path and query
//! parameters), which axum answers in plain text or with no body.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::ApiError;

/// The largest request body the agent reads (axum's default, made explicit
/// so that the 413 message can name it).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The body limit layer of every router of the agent.
pub(super) fn body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(BODY_LIMIT)
}

/// Middleware: an error answer whose body is not JSON is re-answered with
/// the same status (and `Allow` header) and a JSON string naming the method,
/// the path and what axum said.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // axum's own messages are one line; more than this is not one of them.
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let mut out =
        ApiError::message(status, describe(status, &method, &path, &text)).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The message of a server-made error answer.
fn describe(status: StatusCode, method: &Method, path: &str, text: &str) -> String {
    match status {
        StatusCode::NOT_FOUND if text.is_empty() => format!("no route {method} {path}"),
        StatusCode::METHOD_NOT_ALLOWED if text.is_empty() => {
            format!("method {method} is not allowed on {path}")
        }
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "{method} {path}: request body too large (at most {BODY_LIMIT} bytes): {}",
            if text.is_empty() { "length limit exceeded" } else { text }
        ),
        _ if text.is_empty() => {
            format!("{method} {path}: {}", status.canonical_reason().unwrap_or("error"))
        }
        _ => format!("{method} {path}: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_method_and_path() {
        let get = Method::GET;
        assert_eq!(describe(StatusCode::NOT_FOUND, &get, "/x", ""), "no route GET /x");
        assert_eq!(
            describe(StatusCode::METHOD_NOT_ALLOWED, &get, "/x", ""),
            "method GET is not allowed on /x"
        );
        assert!(describe(StatusCode::PAYLOAD_TOO_LARGE, &get, "/x", "").contains("too large"));
        assert_eq!(
            describe(StatusCode::BAD_REQUEST, &get, "/x", "Invalid URL"),
            "GET /x: Invalid URL"
        );
    }
}
