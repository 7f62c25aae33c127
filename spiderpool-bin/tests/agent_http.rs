//! The agent's HTTP server on its unix socket, as a misbehaving client sees
//! it: error answers of the server itself (unknown routes, wrong methods,
//! oversized bodies, rejected extractors).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use spiderpool_bin::agent::{Agent, AgentConfig};
use spiderpool_core::store::MemoryStore;

mod agent_harness;

use agent_harness::raw_http::{Answer, exchange};
use agent_harness::{Dir, Serving, serve_agent};

struct Server {
    socket: PathBuf,
    _serving: Serving,
    _dir: Dir,
}

fn start() -> Server {
    let dir = Dir::new("sp-agent-http");
    let socket = dir.path().join("agent.sock");
    let config = AgentConfig { node_name: "node1".into(), ..AgentConfig::default() };
    let agent = Arc::new(Agent::new(MemoryStore::new(), config));
    let serving = serve_agent(agent, &socket);
    Server { socket, _serving: serving, _dir: dir }
}

/// The agent's error body: a JSON string (Spiderpool's `Error` model) with a
/// JSON content type; returns the message.
fn json_error(what: &str, a: &Answer, status: u16) -> String {
    assert_eq!(a.status, status, "{what}: {a:?}");
    assert!(
        a.content_type.starts_with("application/json"),
        "{what}: content-type {:?}",
        a.content_type
    );
    match a.json() {
        serde_json::Value::String(s) => s,
        other => panic!("{what}: error body is not a JSON string: {other}"),
    }
}

/// Regression (issue 9 item 14): a body over the limit was answered 413 with
/// axum's plain-text message, an unknown route 404 and a wrong method 405
/// with empty bodies, and a rejected path parameter 400 in plain text — none
/// of them the agent's JSON error body.
#[test]
fn server_errors_413_404_405_and_rejected_extractors_answer_the_json_error_body() {
    let server = start();
    let big = vec![b' '; 2 * 1024 * 1024 + 1024];
    let a = exchange(&server.socket, "POST", "/v1/ipam/ip", &big);
    let msg = json_error("413", &a, 413);
    assert!(msg.contains("too large"), "{msg}");

    let a = exchange(&server.socket, "GET", "/v1/no/such/route", b"");
    let msg = json_error("404", &a, 404);
    assert!(msg.contains("/v1/no/such/route"), "{msg}");

    let a = exchange(&server.socket, "PUT", "/v1/ipam/healthy", b"{}");
    let msg = json_error("405", &a, 405);
    assert!(msg.contains("PUT") && msg.contains("/v1/ipam/healthy"), "{msg}");

    let a = exchange(&server.socket, "GET", "/v1/admin/objects/sp/%FF/x", b"");
    let msg = json_error("bad path", &a, 400);
    assert!(!msg.is_empty(), "{msg}");

    // The agent's own errors keep their shape.
    let a = exchange(&server.socket, "POST", "/v1/ipam/ip", b"{}");
    let msg = json_error("bad body", &a, 400);
    assert!(msg.contains("IpamAddArgs"), "{msg}");
}
