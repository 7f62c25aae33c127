//! Rendering tests: the quick-start assertion, snapshots of every `cniType` and of
//! the coordinator, chain and annotation variants, and the render errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::render::{Config, build_config};
use super::*;
use crate::admission::multusconfig::default_smc;
use crate::model::SpiderMultusConfig;

const QUICK_START_SMC: &str = "\
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderMultusConfig
metadata:
  name: macvlan-ens192
  namespace: default
  uid: 3f902f46-d9d4-4c62-a7c3-98d4a9aa26e4
spec:
  cniType: macvlan
  macvlan:
    master:
    - ens192
    ippools:
      ipv4:
      - 10-6-v4
    vlanID: 0
";

/// An SMC `default/<name>` (uid `uid-<name>`), defaulted as admission stores it.
fn stored(name: &str, annotations: Value, spec: Value) -> SpiderMultusConfig {
    let mut smc: SpiderMultusConfig = serde_json::from_value(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderMultusConfig",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "annotations": annotations},
        "spec": spec,
    }))
    .unwrap();
    default_smc(&mut smc);
    smc
}

/// The NAD as pretty JSON, then its config pretty-printed in its own key order.
fn snapshot_text(smc: &SpiderMultusConfig) -> String {
    let nad = render(smc).unwrap();
    let mut out = serde_json::to_string_pretty(&nad).unwrap();
    out.push_str("\n--- spec.config ---\n");
    match build_config(smc, &mut BTreeMap::new()).unwrap() {
        Some(Config::List(list)) => out.push_str(&serde_json::to_string_pretty(&list).unwrap()),
        Some(Config::Custom(raw)) => out.push_str(&raw),
        None => out.push_str("(none)"),
    }
    out.push('\n');
    out
}

fn config(smc: &SpiderMultusConfig) -> Value {
    serde_json::from_str(render(smc).unwrap().spec.config.as_deref().unwrap()).unwrap()
}

fn plugin_types(smc: &SpiderMultusConfig) -> Vec<String> {
    config(smc)["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn quick_start_macvlan_ens192() {
    let mut smc: SpiderMultusConfig = serde_saphyr::from_str(QUICK_START_SMC).unwrap();
    default_smc(&mut smc);
    let nad = render(&smc).unwrap();
    assert_eq!(nad.api_version, "k8s.cni.cncf.io/v1");
    assert_eq!(nad.kind, "NetworkAttachmentDefinition");
    assert_eq!(nad.metadata.name.as_deref(), Some("macvlan-ens192"));
    assert_eq!(nad.metadata.namespace.as_deref(), Some("default"));
    let owner = &nad.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.api_version, "spiderpool.spidernet.io/v2beta1");
    assert_eq!(owner.kind, "SpiderMultusConfig");
    assert_eq!(owner.name, "macvlan-ens192");
    assert_eq!(owner.uid, "3f902f46-d9d4-4c62-a7c3-98d4a9aa26e4");
    assert_eq!((owner.controller, owner.block_owner_deletion), (Some(true), Some(true)));

    let conf = config(&smc);
    assert_eq!(conf["cniVersion"], "0.3.1");
    assert_eq!(conf["name"], "macvlan-ens192");
    let plugins = conf["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 2, "{conf}");
    let macvlan = &plugins[0];
    assert_eq!(macvlan["type"], "macvlan");
    assert_eq!(macvlan["master"], "ens192");
    assert_eq!(macvlan["mode"], "bridge");
    assert_eq!(macvlan["ipam"], json!({"type": "spiderpool", "default_ipv4_ippool": ["10-6-v4"]}));
    assert_eq!(plugins[1]["type"], "coordinator");

    // The exact string, keys in Spiderpool's order.
    assert_eq!(
        nad.spec.config.as_deref().unwrap(),
        r#"{"cniVersion":"0.3.1","name":"macvlan-ens192","plugins":[{"type":"macvlan","master":"ens192","mode":"bridge","ipam":{"type":"spiderpool","default_ipv4_ippool":["10-6-v4"]}},{"tunePodRoutes":true,"mode":"auto","type":"coordinator"}]}"#
    );
}

#[test]
fn names_and_version_come_from_annotations() {
    let plain = stored("net", json!({}), json!({"cniType": "ipoib", "ipoib": {"master": "ib0"}}));
    assert_eq!(nad_name(&plain), "net");
    assert_eq!(cni_config_name(&plain), "net");
    assert_eq!(cni_version(&plain), DEFAULT_CNI_VERSION);
    let named = stored(
        "net",
        json!({"multus.spidernet.io/cr-name": "nad-1", "multus.spidernet.io/cni-version": "1.0.0"}),
        json!({"cniType": "ipoib", "ipoib": {"master": "ib0"}}),
    );
    assert_eq!(nad_name(&named), "nad-1");
    assert_eq!(cni_config_name(&named), "nad-1");
    assert_eq!(config(&named)["cniVersion"], "1.0.0");
    let cni_named = stored(
        "net",
        json!({"cni.spidernet.io/cniconfig-name": "inner", "multus.spidernet.io/cr-name": ""}),
        json!({"cniType": "ipoib", "ipoib": {"master": "ib0"}}),
    );
    assert_eq!(nad_name(&cni_named), "net", "an empty cr-name falls back to the SMC name");
    assert_eq!(config(&cni_named)["name"], "inner");
}

#[test]
fn chain_order() {
    let chain = json!([r#"{"type":"bandwidth"}"#, r#"{"type":"sbr"}"#]);
    let cases = [
        (
            json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}}),
            vec!["macvlan", "coordinator"],
        ),
        (
            json!({"cniType": "macvlan", "macvlan": {"master": ["a"], "vlanID": 5}}),
            vec!["ifacer", "macvlan", "coordinator"],
        ),
        (
            json!({"cniType": "ipvlan", "ipvlan": {"master": ["a", "b"], "bond": {"name": "b", "mode": 0}}}),
            vec!["ifacer", "ipvlan", "coordinator"],
        ),
        (
            json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanID": 5}}),
            vec!["vlan", "coordinator"],
        ),
        (
            json!({"cniType": "sriov", "chainCNIJsonData": chain,
                   "sriov": {"resourceName": "r", "rdmaIsolation": true, "mtu": 9000}}),
            vec!["sriov", "rdma", "bandwidth", "sbr", "coordinator", "tuning"],
        ),
        (
            json!({"cniType": "sriov", "enableCoordinator": false, "sriov": {"resourceName": "r"}}),
            vec!["sriov"],
        ),
        (
            json!({"cniType": "ovs", "chainCNIJsonData": chain, "ovs": {"bridge": "br1"}}),
            vec!["ovs", "bandwidth", "sbr", "coordinator"],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(plugin_types(&stored("net", json!({}), spec.clone())), want, "{spec}");
    }
}

#[test]
fn resource_name_annotation() {
    let cases = [
        (
            json!({"cniType": "sriov", "sriov": {"resourceName": "spidernet.io/vf"}}),
            Some("spidernet.io/vf"),
        ),
        (
            json!({"cniType": "ib-sriov", "ibsriov": {"resourceName": "spidernet.io/ib"}}),
            Some("spidernet.io/ib"),
        ),
        (
            json!({"cniType": "ovs", "ovs": {"bridge": "br1", "deviceID": "0000:81:00.2"}}),
            Some("ovs-cni.network.kubevirt.io/br1"),
        ),
        (json!({"cniType": "ovs", "ovs": {"bridge": "br1"}}), None),
        (json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}}), None),
    ];
    for (spec, want) in cases {
        let nad = render(&stored("net", json!({"team": "net"}), spec.clone())).unwrap();
        let annotations = nad.metadata.annotations.unwrap();
        assert_eq!(annotations.get(RESOURCE_NAME_ANNOTATION).map(String::as_str), want, "{spec}");
        assert_eq!(annotations["team"], "net", "{spec}: SMC annotations are copied");
    }
}

#[test]
fn render_errors_name_the_field() {
    let raw = |spec: Value| -> SpiderMultusConfig {
        serde_json::from_value(json!({"metadata": {"name": "net"}, "spec": spec})).unwrap()
    };
    let cases = [
        (json!({"cniType": "bogus"}), "spec.cniType"),
        (json!({"cniType": "macvlan"}), "spec.macvlan"),
        (json!({"cniType": "macvlan", "macvlan": {"master": []}}), "spec.macvlan.master"),
        (json!({"cniType": "ipvlan", "ipvlan": {"master": ["a", "b"]}}), "spec.ipvlan.bond.name"),
        (
            json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanMode": "x"}}),
            "spec.vlan.vlanMode",
        ),
        (json!({"cniType": "sriov", "sriov": {}}), "spec.sriov.resourceName"),
        (
            json!({"cniType": "ib-sriov", "ibsriov": {"resourceName": ""}}),
            "spec.ibsriov.resourceName",
        ),
        (json!({"cniType": "ipoib", "ipoib": {}}), "spec.ipoib.master"),
        (json!({"cniType": "ovs", "ovs": {}}), "spec.ovs.bridge"),
        (json!({"cniType": "custom", "customCNI": "{"}), "spec.customCNI"),
        (
            json!({"cniType": "ipoib", "ipoib": {"master": "ib0"}, "chainCNIJsonData": ["{}", "x"]}),
            "spec.chainCNIJsonData[0]",
        ),
    ];
    for (spec, field) in cases {
        let err = render(&raw(spec.clone())).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{field}: ")), "{spec}: {err}");
    }
}

#[test]
fn custom_without_config_has_no_config() {
    let nad = render(&stored("net", json!({}), json!({"cniType": "custom"}))).unwrap();
    assert_eq!(nad.spec.config, None);
    assert_eq!(serde_json::to_value(&nad).unwrap()["spec"], json!({}));
}

macro_rules! snapshots {
    ($($name:ident: $annotations:expr, $spec:expr;)+) => {$(
        #[test]
        fn $name() {
            let smc = stored(&stringify!($name).replace('_', "-"), $annotations, $spec);
            insta::assert_snapshot!(snapshot_text(&smc));
        }
    )+};
}

snapshots! {
    snapshot_macvlan: json!({}), json!({"cniType": "macvlan",
        "macvlan": {"master": ["ens192"], "ippools": {"ipv4": ["10-6-v4"]}}});
    snapshot_macvlan_bond_vlan: json!({"multus.spidernet.io/cni-version": "1.0.0"}), json!({
        "cniType": "macvlan",
        "macvlan": {"master": ["ens192", "ens224"], "vlanID": 100, "mtu": 1480,
                    "bond": {"name": "bond0", "mode": 1, "options": "primary=ens192"},
                    "ippools": {"ipv4": ["vlan100-v4"], "ipv6": ["vlan100-v6"]}},
        "coordinator": {"mode": "underlay", "podDefaultRouteNIC": "net1",
                        "hijackCIDR": ["169.254.25.10/32"]}});
    snapshot_ipvlan_vlan: json!({}), json!({"cniType": "ipvlan",
        "ipvlan": {"master": ["ens192"], "vlanID": 100, "ippools": {"ipv4": ["v4"]}}});
    snapshot_vlan_bond: json!({}), json!({"cniType": "vlan",
        "vlan": {"master": ["ens192", "ens224"], "vlanID": 100, "mtu": 1480,
                 "bond": {"name": "bond0", "mode": 1}, "ippools": {"ipv4": ["v4"]}}});
    snapshot_vlan_auto: json!({}), json!({"cniType": "vlan", "enableCoordinator": false,
        "vlan": {"master": ["eth1"], "vlanMode": "auto", "ippools": {"ipv4": ["iaas-v4"]}}});
    snapshot_sriov: json!({}), json!({"cniType": "sriov",
        "sriov": {"resourceName": "spidernet.io/sriov_netdeivce", "vlanID": 100, "mtu": 8000,
                  "minTxRateMbps": 100, "maxTxRateMbps": 1000, "rdmaIsolation": true,
                  "ippools": {"matchMasterSubnet": true, "ipv4": ["rdmarail1-*"]}}});
    snapshot_ib_sriov: json!({}), json!({"cniType": "ib-sriov",
        "ibsriov": {"resourceName": "spidernet.io/mellanoxibsriov", "pkey": "0x7fff",
                    "ippools": {"ipv4": ["ib-v4"]}}});
    snapshot_ipoib: json!({}), json!({"cniType": "ipoib",
        "ipoib": {"master": "ibs5f0", "ippools": {"ipv4": ["ib-v4"], "ipv6": ["ib-v6"]}}});
    snapshot_ovs: json!({}), json!({"cniType": "ovs",
        "ovs": {"bridge": "br1", "trunk": [{"minID": 10, "maxID": 20}, {"id": 30}],
                "deviceID": "0000:81:00.2", "ippools": {"ipv4": ["ovs-v4"]}}});
    snapshot_custom: json!({}), json!({"cniType": "custom",
        "customCNI": r#"{"cniVersion":"0.3.1","name":"br","type":"bridge","bridge":"cni0"}"#});
    snapshot_custom_empty: json!({}), json!({});
    snapshot_coordinator_full: json!({}), json!({"cniType": "macvlan",
        "macvlan": {"master": ["ens192"]},
        "coordinator": {"mode": "overlay", "podCIDRType": "cilium", "hijackCIDR": ["10.233.0.0/18"],
                        "policyRoutes": [{"dst": "10.9.0.0/16", "gw": "10.6.0.254"}],
                        "podMACPrefix": "0a:1b", "tunePodRoutes": false,
                        "podDefaultRouteNIC": "eth0", "hostRuleTable": 600, "podRPFilter": 2,
                        "txQueueLen": 1000, "vethLinkAddress": "169.254.100.1", "vethMTU": 1400}});
    snapshot_coordinator_disabled_mode: json!({}), json!({"cniType": "ipvlan",
        "ipvlan": {"master": ["eth1"]}, "coordinator": {"mode": "disabled"}});
    snapshot_chain_no_ipam_no_coordinator: json!({}), json!({"cniType": "macvlan",
        "disableIPAM": true, "enableCoordinator": false, "macvlan": {"master": ["eth1"]},
        "chainCNIJsonData": [r#"{"type":"bandwidth","ingressRate":1000,"egressRate":1000}"#,
                             r#"{"type":"tuning","sysctl":{"net.ipv4.conf.eth0.arp_ignore":"1"}}"#]});
    snapshot_annotations: json!({
        "multus.spidernet.io/cr-name": "macvlan-100",
        "multus.spidernet.io/cni-version": "0.4.0",
        "cni.spidernet.io/cniconfig-name": "macvlan-net",
        "cni.spidernet.io/rdma-resource-inject": "roce",
        "example.com/owner": "team-a"}),
        json!({"cniType": "macvlan",
               "macvlan": {"master": ["ens192"], "rdmaResourceName": "spidernet.io/roce",
                           "ippools": {"ipv4": ["v4"]}}});
}

/// Issue 9 item 1: an SMC without a `coordinator` block rendered
/// `"podRPFilter":0,"txQueueLen":0` (and `"mtu":0`), and because the NAD wins
/// over the SpiderCoordinator, a cluster-wide `podRPFilter: 2` /
/// `txQueueLen: 1000` became 0 on every such network. Spiderpool renders
/// `{"type":"coordinator","mode":"auto","tunePodRoutes":true}` there.
#[test]
fn smc_without_coordinator_block_renders_no_zeros() {
    let smc = stored("net", json!({}), json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}}));
    let conf = config(&smc);
    assert_eq!(
        conf["plugins"][1],
        json!({"type": "coordinator", "mode": "auto", "tunePodRoutes": true})
    );
    assert_eq!(conf["plugins"][0].get("mtu"), None, "{conf}");
}

/// Issue 9 item 1, every `cniType`: an optional numeric key appears in the
/// config only when the user set it (0 included), never from a default.
#[test]
fn smc_renders_optional_numeric_keys_only_when_set() {
    // Numeric keys of the main plugins and the coordinator; the vlan plugin's
    // `vlanId` is required in manual mode and always rendered there.
    const NUMERIC: &[&str] = &[
        "mtu",
        "vlan",
        "min_tx_rate",
        "max_tx_rate",
        "vlanID",
        "txQueueLen",
        "podRPFilter",
        "vethMTU",
    ];
    let unset = [
        json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}}),
        json!({"cniType": "ipvlan", "ipvlan": {"master": ["a"]}}),
        json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanMode": "auto"}}),
        json!({"cniType": "sriov", "sriov": {"resourceName": "r"}}),
        json!({"cniType": "ib-sriov", "ibsriov": {"resourceName": "r"}}),
        json!({"cniType": "ipoib", "ipoib": {"master": "ib0"}}),
        json!({"cniType": "ovs", "ovs": {"bridge": "br1"}}),
    ];
    for spec in unset {
        let conf = config(&stored("net", json!({}), spec.clone()));
        for plugin in conf["plugins"].as_array().unwrap() {
            for key in NUMERIC {
                assert_eq!(plugin.get(*key), None, "{spec}: {key} rendered in {plugin}");
            }
        }
    }
    let vlan =
        config(&stored("net", json!({}), json!({"cniType": "vlan", "vlan": {"master": ["a"]}})));
    assert_eq!(vlan["plugins"][0]["vlanId"], json!(0), "manual mode always names its VLAN");

    // Set explicitly (to 0 as well): rendered as given.
    let set = [
        (json!({"cniType": "macvlan", "macvlan": {"master": ["a"], "mtu": 0}}), 0, "mtu", json!(0)),
        (
            json!({"cniType": "ipvlan", "ipvlan": {"master": ["a"], "mtu": 1400}}),
            0,
            "mtu",
            json!(1400),
        ),
        (
            json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanID": 7, "mtu": 0}}),
            0,
            "mtu",
            json!(0),
        ),
        (
            json!({"cniType": "sriov", "sriov": {"resourceName": "r", "vlanID": 0}}),
            0,
            "vlan",
            json!(0),
        ),
        (
            json!({"cniType": "sriov", "sriov": {"resourceName": "r", "minTxRateMbps": 0}}),
            0,
            "min_tx_rate",
            json!(0),
        ),
        (json!({"cniType": "ovs", "ovs": {"bridge": "br1", "vlan": 0}}), 0, "vlan", json!(0)),
        (
            json!({"cniType": "macvlan", "macvlan": {"master": ["a"]},
                   "coordinator": {"podRPFilter": 0, "txQueueLen": 0, "vethMTU": 1400}}),
            1,
            "podRPFilter",
            json!(0),
        ),
    ];
    for (spec, index, key, want) in set {
        let conf = config(&stored("net", json!({}), spec.clone()));
        assert_eq!(conf["plugins"][index][key], want, "{spec}: {conf}");
    }
    let given = config(&stored(
        "net",
        json!({}),
        json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}, "coordinator": {"mode": "underlay"}}),
    ));
    assert_eq!(
        given["plugins"][1],
        json!({"type": "coordinator", "mode": "underlay", "tunePodRoutes": true}),
        "a block without numeric keys renders none"
    );
}
