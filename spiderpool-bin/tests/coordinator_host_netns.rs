//! The `coordinator` binary and the host it runs on (issue 9, item 8),
//! against real kernel objects in namespaces the tests build:
//!
//! - container IDs that share their first 11 characters want the same host
//!   veth name: the second ADD fails naming the container that holds it, and
//!   the second container's DEL leaves the first pod's veth alone (also for a
//!   veth made before the ownership alias existed).

mod netns;

use std::path::{Path, PathBuf};

use netns::*;
use serde_json::{Value, json};

macro_rules! need_netns {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// A coordinator log file in the temp directory, removed on drop.
struct LogFile(PathBuf);

impl LogFile {
    fn new(tag: &str, what: &str) -> LogFile {
        LogFile(std::env::temp_dir().join(format!("sp-coord-{tag}-{what}.log")))
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs our `coordinator` in `lan`'s node namespace for `pod` (container
/// `cid`, pod `default/<name>`).
fn coordinator(
    lan: &Lan,
    pod: &Netns,
    cid: &str,
    name: &str,
    command: &str,
    conf: &Value,
) -> (bool, Value, String) {
    let args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={name}");
    let call = CniCall {
        plugin: Path::new(env!("CARGO_BIN_EXE_coordinator")),
        command,
        container_id: cid,
        pod: Some(pod),
        ifname: "eth0",
        args: &args,
    };
    cni(&lan.node, &call, conf)
}

fn coordinator_conf(mode: &str, log: &LogFile, prev: &Value) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "macvlan-underlay",
        "type": "coordinator",
        "mode": mode,
        "serviceCIDR": [SERVICE_CIDR],
        "overlayPodCIDR": [POD_CIDR],
        "hijackCIDR": [],
        "logOptions": {"logFile": log.0.display().to_string()},
        "prevResult": prev,
    })
}

#[test]
fn host_veth_name_collision_names_the_holder_and_del_spares_the_other_pods_veth() {
    need_netns!();
    let lan = Lan::new();
    let (pod_a, pod_b) = (lan.pod(1), lan.pod(2));
    // Full-length container IDs, equal in their first 11 characters.
    let prefix: String = format!("{:0>11}", lan.tag).chars().take(11).collect();
    let cid_a = format!("{prefix}{}", "a".repeat(53));
    let cid_b = format!("{prefix}{}", "b".repeat(53));
    let host_veth = format!("veth{prefix}");
    let log = LogFile::new(&lan.tag, "collision");

    let prev_a =
        lan.cni_add(&pod_a, &cid_a, "macvlan", "eth0", &lan.macvlan_conf("10.6.212.211", true));
    let prev_b =
        lan.cni_add(&pod_b, &cid_b, "macvlan", "eth0", &lan.macvlan_conf("10.6.212.212", true));
    let conf_a = coordinator_conf("underlay", &log, &prev_a);
    let conf_b = coordinator_conf("underlay", &log, &prev_b);

    let (ok, _, text) = coordinator(&lan, &pod_a, &cid_a, "pod-a", "ADD", &conf_a);
    assert!(ok, "ADD of A: {text}");
    assert!(lan.node.show(&["link"]).contains(&host_veth), "A's host veth {host_veth}");
    assert!(lan.node.ping("10.6.212.211"), "the node reaches A through its veth");

    let (ok, refused, text) = coordinator(&lan, &pod_b, &cid_b, "pod-b", "ADD", &conf_b);
    assert!(!ok, "ADD of B must fail: the host veth name is taken: {text}");

    // B's DEL (the runtime cleans up after the failed ADD) must not cut A off.
    let (ok, _, text) = coordinator(&lan, &pod_b, &cid_b, "pod-b", "DEL", &conf_b);
    assert!(ok, "DEL of B: {text}");
    assert!(
        lan.node.show(&["link"]).contains(&host_veth),
        "B's DEL deleted A's host veth {host_veth}\nlog:\n{}",
        log.text()
    );
    assert!(lan.node.ping("10.6.212.211"), "the node still reaches A after B's DEL");

    // The refusal names the container that holds the name.
    assert_eq!(refused["code"], 101, "{text}");
    assert_eq!(
        refused["msg"],
        format!(
            "host veth \"{host_veth}\" already exists and belongs to container {cid_a} \
             (container IDs that share their first 11 characters get the same host veth name)"
        ),
        "{text}"
    );
    let link = lan.node.ip_json(&["link", "show", "dev", &host_veth]);
    assert_eq!(link[0]["ifalias"], format!("spiderpool-coordinator:{cid_a}"), "{link}");

    // A veth made before the ownership alias existed: only its MAC (derived
    // from A's full ID) tells. B's DEL still spares it; A's DEL removes it.
    lan.node.ip(&["link", "set", "dev", &host_veth, "alias", ""]);
    let link = lan.node.ip_json(&["link", "show", "dev", &host_veth]);
    assert!(link[0].get("ifalias").is_none(), "alias cleared: {link}");
    let (ok, _, text) = coordinator(&lan, &pod_b, &cid_b, "pod-b", "DEL", &conf_b);
    assert!(ok, "second DEL of B: {text}");
    assert!(lan.node.show(&["link"]).contains(&host_veth), "B's DEL spares A's unaliased veth");
    let (ok, _, text) = coordinator(&lan, &pod_a, &cid_a, "pod-a", "DEL", &conf_a);
    assert!(ok, "DEL of A: {text}");
    assert!(!lan.node.show(&["link"]).contains(&host_veth), "A's DEL removes its veth");
}
