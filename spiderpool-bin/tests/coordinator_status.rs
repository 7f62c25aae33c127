//! A SpiderCoordinator whose `status` CIDRs do not parse (issue 9, item 13):
//! the agent refuses to serve it to the coordinator plugin, naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use spiderpool_bin::agent::{Agent, AgentConfig};
use spiderpool_bin::agent_client::Session;
use spiderpool_core::store::MemoryStore;

mod agent_harness;

use agent_harness::{Dir, serve_agent};

fn coordinator(overlay: Value, service: Value) -> Value {
    json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderCoordinator",
        "metadata": {"name": "default"},
        "spec": {"mode": "auto", "podCIDRType": "none"},
        "status": {"phase": "Synced", "overlayPodCIDR": overlay, "serviceCIDR": service}
    })
}

#[test]
fn bad_status_cidrs_of_the_coordinator_are_refused_with_the_field_named() {
    let dir = Dir::new("sp-scc-status");
    let socket = dir.path().join("spiderpool.sock");
    let agent = Arc::new(Agent::new(MemoryStore::new(), AgentConfig::default()));
    let _serving = serve_agent(agent, &socket);
    let call = |method: &str, path: &str, body: Value| {
        let mut s = Session::new(&socket).unwrap().unwrap();
        let (status, bytes) =
            s.exchange(method, path, Some(&body), Duration::from_secs(10)).unwrap();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
    };
    for (overlay, service, field) in [
        (json!(["10.244.0.0/33"]), json!(["10.96.0.0/12"]), "status.overlayPodCIDR[0]"),
        (json!(["10.244.0.0/16", "garbage"]), json!([]), "status.overlayPodCIDR[1]"),
        (json!([]), json!(["10.96.0.0/99"]), "status.serviceCIDR[0]"),
    ] {
        let (status, body) =
            call("PUT", "/v1/admin/objects", coordinator(overlay.clone(), service.clone()));
        assert_eq!(status, 200, "{body}");
        let (status, body) = call("GET", "/v1/coordinator/config", json!({}));
        assert_eq!(status, 500, "{overlay} {service}: served {body}");
        let text = body.as_str().unwrap_or_default();
        assert!(text.contains(field), "{field}: {text}");
    }
    let good = coordinator(json!(["10.244.0.0/16", "fd00:244::/64"]), json!(["10.96.0.0/12"]));
    assert_eq!(call("PUT", "/v1/admin/objects", good).0, 200);
    let (status, body) = call("GET", "/v1/coordinator/config", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["overlayPodCIDR"], json!(["10.244.0.0/16", "fd00:244::/64"]));
}
