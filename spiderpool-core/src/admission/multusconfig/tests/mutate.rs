//! Defaulting.

use serde_json::json;

use super::*;

fn mutated(obj: &SpiderMultusConfig) -> SpiderMultusConfig {
    let settings = ClusterSettings::default();
    let existing = Existing::default();
    let ctx = Context { settings: &settings, existing: &existing };
    let mut out = obj.clone();
    mutate(&mut out, Operation::Create, &ctx).unwrap();
    out
}

fn spec_json(obj: &SpiderMultusConfig) -> Value {
    serde_json::to_value(&mutated(obj).spec).unwrap()
}

const DEFAULT_COORDINATOR: &str = r#"{"mode":"auto","podMACPrefix":"","tunePodRoutes":true,
    "podDefaultRouteNIC":"","vethLinkAddress":""}"#;

fn default_coordinator() -> Value {
    serde_json::from_str(DEFAULT_COORDINATOR).unwrap()
}

#[test]
fn custom_by_default_without_coordinator() {
    let obj = smc(json!({"coordinator": {"mode": "underlay"}, "enableCoordinator": true}));
    assert_eq!(
        spec_json(&obj),
        json!({"cniType": "custom", "customCNI": "", "enableCoordinator": false,
               "disableIPAM": false, "chainCNIJsonData": []})
    );
}

#[test]
fn per_type_defaults() {
    let cases = [
        (
            json!({"cniType": "macvlan", "macvlan": {"master": ["a", "b"], "bond": {"name": "b0", "mode": 1}}}),
            json!({"master": ["a", "b"], "rdmaResourceName": "",
                   "bond": {"name": "b0", "mode": 1, "options": ""}, "ippools": {}}),
        ),
        (
            json!({"cniType": "ipvlan", "ipvlan": {"master": ["a"], "vlanID": 7}}),
            json!({"master": ["a"], "vlanID": 7, "rdmaResourceName": "", "ippools": {}}),
        ),
        (
            json!({"cniType": "vlan", "vlan": {"master": ["a"]}}),
            json!({"master": ["a"], "vlanID": 0, "vlanMode": "manual",
                   "rdmaResourceName": "", "ippools": {}}),
        ),
        (
            json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanMode": "auto"}}),
            json!({"master": ["a"], "vlanMode": "auto", "rdmaResourceName": "", "ippools": {}}),
        ),
        (
            json!({"cniType": "sriov", "sriov": {"resourceName": "r"}}),
            json!({"resourceName": "r", "rdmaIsolation": false,
                   "ippools": {"matchMasterSubnet": false}}),
        ),
        (
            json!({"cniType": "ib-sriov", "ibsriov": {"resourceName": "r"}}),
            json!({"resourceName": "r", "pkey": "", "linkState": "enable", "rdmaIsolation": true,
                   "enableIbKubernetes": false, "ippools": {}}),
        ),
        (
            json!({"cniType": "ipoib", "ipoib": {"master": "ib0"}}),
            json!({"master": "ib0", "ippools": {}}),
        ),
        (
            json!({"cniType": "ovs", "ovs": {"bridge": "br1"}}),
            json!({"bridge": "br1", "deviceID": "", "ippools": {}}),
        ),
        (
            json!({"cniType": "ovs", "ovs": {"bridge": "br1", "trunk": [{"id": 5}]}}),
            json!({"bridge": "br1", "trunk": [{"id": 5}], "deviceID": "", "ippools": {}}),
        ),
    ];
    for (spec, want_section) in cases {
        let obj = smc(spec.clone());
        let key = section_key(obj.spec.parsed_cni_type().unwrap()).unwrap();
        let got = spec_json(&obj);
        assert_eq!(got[key], want_section, "{spec}");
        assert_eq!(got["enableCoordinator"], json!(true), "{spec}");
        assert_eq!(got["disableIPAM"], json!(false), "{spec}");
        assert_eq!(got["coordinator"], default_coordinator(), "{spec}");
        assert_eq!(got["chainCNIJsonData"], json!([]), "{spec}");
    }
}

#[test]
fn explicit_values_are_kept() {
    let spec = json!({
        "cniType": "macvlan",
        "enableCoordinator": false,
        "disableIPAM": true,
        "macvlan": {"master": ["a"], "vlanID": 3, "mtu": 1400, "rdmaResourceName": "r",
                    "ippools": {"ipv4": ["v4"]}},
    });
    let got = spec_json(&smc(spec));
    assert_eq!(got["enableCoordinator"], json!(false));
    assert_eq!(got["disableIPAM"], json!(true));
    assert_eq!(
        got["macvlan"],
        json!({"master": ["a"], "vlanID": 3, "mtu": 1400, "rdmaResourceName": "r",
               "ippools": {"ipv4": ["v4"]}})
    );
}

#[test]
fn coordinator_block_defaults() {
    // Absent block: the defaults, tunePodRoutes true.
    assert_eq!(spec_json(&smc(macvlan()))["coordinator"], default_coordinator());
    // Given without tunePodRoutes: true as well (DESIGN.md §5.4; Go says false).
    let mut spec = macvlan();
    spec["coordinator"] = json!({"mode": "underlay", "podCIDRType": "cluster", "vethMTU": 1400,
                                 "hijackCIDR": ["169.254.0.0/16"], "txQueueLen": 1000});
    let got = spec_json(&smc(spec));
    assert_eq!(
        got["coordinator"],
        json!({"mode": "underlay", "podCIDRType": "cluster", "hijackCIDR": ["169.254.0.0/16"],
               "podMACPrefix": "", "tunePodRoutes": true, "podDefaultRouteNIC": "",
               "txQueueLen": 1000, "vethLinkAddress": "", "vethMTU": 1400})
    );
    // An explicit false stays false.
    let mut spec = macvlan();
    spec["coordinator"] = json!({"tunePodRoutes": false});
    assert_eq!(spec_json(&smc(spec))["coordinator"]["tunePodRoutes"], json!(false));
}

#[test]
fn inject_annotations_become_labels() {
    let obj = annotated(
        json!({"cni.spidernet.io/rdma-resource-inject": "roce",
               "cni.spidernet.io/network-resource-inject": "g1",
               "multus.spidernet.io/cr-name": "x"}),
        macvlan(),
    );
    let labels = mutated(&obj).metadata.labels.unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels["cni.spidernet.io/rdma-resource-inject"], "roce");
    assert_eq!(labels["cni.spidernet.io/network-resource-inject"], "g1");
    assert_eq!(mutated(&smc(macvlan())).metadata.labels, None);
}

#[test]
fn unknown_cni_type_is_left_for_validation() {
    let obj = smc(json!({"cniType": "calico", "macvlan": {"master": ["a"]}}));
    let got = mutated(&obj);
    assert_eq!(got.spec.cni_type.as_deref(), Some("calico"));
    assert_eq!(got.spec.macvlan.unwrap().vlan_id, None);
}

#[test]
fn delete_changes_nothing() {
    let settings = ClusterSettings::default();
    let existing = Existing::default();
    let ctx = Context { settings: &settings, existing: &existing };
    let mut obj = smc(json!({}));
    mutate(&mut obj, Operation::Delete, &ctx).unwrap();
    assert_eq!(obj, smc(json!({})));
}
