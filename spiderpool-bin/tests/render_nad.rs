//! `spiderpoolctl render-nad`, run as a binary.

#![allow(clippy::unwrap_used)]

mod common;

use common::ctl;
use serde_json::{Value, json};

#[test]
fn only_spider_multus_configs_are_taken() {
    let run = ctl(&["render-nad", "-f", "reservedips.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: reservedips.yaml: doc 1: SpiderReservedIP \"exclude-routers\": render-nad takes SpiderMultusConfigs only\n"
    );
    let run = ctl(&["render-nad", "-f", "malformed.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    let run = ctl(&["render-nad", "-f", "-", "-o", "toml"], Some(""));
    assert_eq!(run.code, 2, "{run:?}");
}

fn check_quick_start_nad(nad: &Value) {
    assert_eq!(nad["apiVersion"], "k8s.cni.cncf.io/v1");
    assert_eq!(nad["kind"], "NetworkAttachmentDefinition");
    assert_eq!(nad["metadata"]["name"], "macvlan-ens192");
    assert_eq!(nad["metadata"]["namespace"], "kube-system");
    let config: Value = serde_json::from_str(nad["spec"]["config"].as_str().unwrap()).unwrap();
    assert_eq!(config["cniVersion"], "0.3.1");
    assert_eq!(config["name"], "macvlan-ens192");
    let plugins = config["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 2, "{config}");
    assert_eq!(plugins[0]["type"], "macvlan");
    assert_eq!(plugins[0]["master"], "ens192");
    assert_eq!(plugins[0]["mode"], "bridge");
    assert_eq!(plugins[0]["ipam"]["type"], "spiderpool");
    assert_eq!(plugins[0]["ipam"]["default_ipv4_ippool"], json!(["10-6-v4"]));
    assert_eq!(plugins[0].get("mtu"), None, "mtu is not set: {config}");
    // Issue 9 item 1: no defaulted `txQueueLen`/`podRPFilter` that would beat
    // the SpiderCoordinator's values.
    assert_eq!(plugins[1], json!({"type": "coordinator", "mode": "auto", "tunePodRoutes": true}));
}

#[test]
fn quick_start_smc_renders_macvlan_then_coordinator() {
    let run = ctl(&["render-nad", "-f", "smc-macvlan-ens192.yaml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    check_quick_start_nad(&run.yaml_docs()[0]);
    let run = ctl(&["render-nad", "-f", "smc-macvlan-ens192.yaml", "-o", "json"], None);
    assert_eq!(run.code, 0, "{run:?}");
    check_quick_start_nad(&run.json());
    // From standard input, two documents: a List of NADs in JSON.
    let text = common::fixture("smc-macvlan-ens192.yaml");
    let two = format!("{text}---\n{}", text.replace("name: macvlan-ens192", "name: second"));
    let run = ctl(&["render-nad", "-f", "-", "-o", "json"], Some(&two));
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"][1]["metadata"]["name"], "second");
}

#[test]
fn invalid_smc_is_an_error_not_a_nad() {
    let run = ctl(&["render-nad", "-f", "smc-invalid.yaml"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with(
            r#"Error from server (Invalid): <doc 1> SpiderMultusConfig "broken" is invalid:"#
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("spec.coordinator.vethMTU: Invalid value: 0"), "{}", run.stderr);
}
