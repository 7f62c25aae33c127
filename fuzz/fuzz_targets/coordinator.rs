//! Coordinator netconf parsing, config merge and planning
//! (`spiderpool_core::coordinator`).
//!
//! Input: JSON text `{"netconf": {...}, "clusterConfig": {...}?, "ifName": "...",
//! "containerID": "...", "pod": NetnsView, "host": HostView}` (or any text:
//! the netconf parser also gets the raw bytes).
//!
//! Properties: nothing panics or hangs; planning is deterministic; the
//! simulator accepts every plan.
//!
//! Run with: cargo fuzz run -s none --fuzz-dir fuzz coordinator fuzz/seeds/coordinator

#![no_main]

use serde_json::Value;
use spiderpool_core::coordinator::{
    ClusterCoordinatorConfig, CoordinatorNetConf, HostView, NetnsView, PlanInput, apply_to_view,
    merge, plan_add, plan_del,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = CoordinatorNetConf::from_slice(data);
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
    let Some(netconf) = v.get("netconf").and_then(|n| CoordinatorNetConf::from_value(n).ok()) else {
        return;
    };
    let cluster: Option<ClusterCoordinatorConfig> =
        v.get("clusterConfig").and_then(|c| serde_json::from_value(c.clone()).ok());
    let annotation = v.get("defaultRouteNic").and_then(Value::as_str);
    let Ok(config) = merge(&netconf, cluster.as_ref(), annotation) else { return };
    let pod: NetnsView = v.get("pod").and_then(|p| serde_json::from_value(p.clone()).ok()).unwrap_or_default();
    let host: HostView = v.get("host").and_then(|h| serde_json::from_value(h.clone()).ok()).unwrap_or_default();
    // Keep plans small enough to stay fast.
    if pod.links.len() + pod.addresses.len() + pod.routes.len() + pod.rules.len() > 64 {
        return;
    }
    let input = PlanInput {
        config,
        container_id: v.get("containerID").and_then(Value::as_str).unwrap_or("0123456789abcdef").to_string(),
        ifname: v.get("ifName").and_then(Value::as_str).unwrap_or("net1").to_string(),
        pod,
        host,
    };
    let first = plan_add(&input);
    let again = plan_add(&input);
    assert_eq!(first, again, "planning is not deterministic");
    if let Ok(plan) = &first {
        let _ = apply_to_view(&input.pod, &input.host, plan);
    }
    let del = plan_del(&input);
    let _ = apply_to_view(&input.pod, &input.host, &del);
});
