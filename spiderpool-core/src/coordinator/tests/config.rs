//! Netconf parsing, cluster config and merge precedence.

use serde_json::json;

use super::*;
use crate::coordinator::config::{ConfigError, CoordinatorNetConf, MacPrefix};
use crate::coordinator::{ClusterCoordinatorConfig, PolicyRouteWire, merge};

fn parse(v: serde_json::Value) -> Result<CoordinatorNetConf, ConfigError> {
    CoordinatorNetConf::from_value(&v)
}

fn err_key(v: serde_json::Value) -> (String, String) {
    match parse(v).unwrap_err() {
        ConfigError::Invalid { key, value, .. } => (key, value),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_key_parses() {
    let c = parse(json!({
        "cniVersion": "1.1.0", "name": "x", "type": "coordinator",
        "mode": "disabled", "tunePodRoutes": false, "podDefaultRouteNic": "net1",
        "podDefaultCniNic": "ens1", "podMACPrefix": "0a-1b",
        "overlayPodCIDR": ["10.244.0.0/16"], "serviceCIDR": ["10.96.0.1/12"],
        "hijackCIDR": ["169.254.25.10"], "policyRoutes": [{"dst": "10.10.0.0/16", "gw": "172.100.0.1"}],
        "hostRuleTable": 600, "podRPFilter": -5, "txQueueLen": 1000,
        "vethLinkAddress": "169.254.100.1", "vethMTU": 1450,
        "logOptions": {"logLevel": "info", "logFile": "/tmp/c.log", "logMaxSize": 10, "logMaxAge": 3, "logMaxCount": 2},
        "hostRPFilter": 0, "multusNicPrefix": "net", "detectGateway": true, "detectIPConflict": false, "detectOptions": {"retry": 3}
    })).unwrap();
    assert_eq!(c.mode, Some(ModeSetting::Disabled));
    assert_eq!(c.tune_pod_routes, Some(false));
    assert_eq!(c.pod_default_route_nic.as_deref(), Some("net1"));
    assert_eq!(c.pod_default_cni_nic.as_deref(), Some("ens1"));
    assert_eq!(c.pod_mac_prefix, Some(MacPrefix([0x0a, 0x1b])));
    assert_eq!(c.service_cidr, [net("10.96.0.0/12")], "host bits cleared");
    assert_eq!(c.hijack_cidr, [net("169.254.25.10/32")], "bare IP is a /32");
    assert_eq!(c.policy_routes, [policy("10.10.0.0/16", "172.100.0.1")]);
    assert_eq!(
        (c.host_rule_table, c.pod_rp_filter, c.tx_queue_len),
        (Some(600), Some(-1), Some(1000))
    );
    assert_eq!((c.veth_link_address, c.veth_mtu), (Some(ip("169.254.100.1")), Some(1450)));
    assert_eq!(c.log_options.log_max_count, Some(2));
    assert_eq!(c.ignored_keys.len(), 5);
    assert_eq!(parse(json!({"mode": "disable"})).unwrap().mode, Some(ModeSetting::Disabled));
    assert_eq!(parse(json!({"mode": ""})).unwrap().mode, None);
}

#[test]
fn errors_name_the_key_and_value() {
    let cases = [
        (json!({"mode": "fast"}), "mode", "\"fast\""),
        (json!({"vethMTU": 10}), "vethMTU", "10"),
        (json!({"vethMTU": "1500"}), "vethMTU", "\"1500\""),
        (json!({"podMACPrefix": "0b:1b"}), "podMACPrefix", "\"0b:1b\""),
        (json!({"podMACPrefix": "zz:1b"}), "podMACPrefix", "\"zz:1b\""),
        (json!({"hijackCIDR": ["10.0.0.0/8", "nope"]}), "hijackCIDR[1]", "\"nope\""),
        (json!({"serviceCIDR": "10.0.0.0/8"}), "serviceCIDR", "\"10.0.0.0/8\""),
        (
            json!({"policyRoutes": [{"dst": "10.0.0.0/8", "gw": "fd00::1"}]}),
            "policyRoutes[0].gw",
            "\"fd00::1\"",
        ),
        (json!({"policyRoutes": [{"dst": "10.0.0.0/8"}]}), "policyRoutes[0].gw", "null"),
        (json!({"podRPFilter": 3}), "podRPFilter", "3"),
        (json!({"hostRuleTable": 254}), "hostRuleTable", "254"),
        (json!({"hostRuleTable": -1}), "hostRuleTable", "-1"),
        (json!({"txQueueLen": 1.5}), "txQueueLen", "1.5"),
        (json!({"vethLinkAddress": "x"}), "vethLinkAddress", "\"x\""),
        (json!({"podDefaultRouteNic": "a/b"}), "podDefaultRouteNic", "\"a/b\""),
        (json!({"tunePodRoutes": "yes"}), "tunePodRoutes", "\"yes\""),
        (json!({"logOptions": {"logMaxSize": -1}}), "logOptions.logMaxSize", "-1"),
    ];
    for (v, key, value) in cases {
        assert_eq!(err_key(v.clone()), (key.to_owned(), value.to_owned()), "{v}");
    }
    assert!(matches!(parse(json!([1])), Err(ConfigError::NotAnObject { .. })));
    assert!(CoordinatorNetConf::from_slice(b"{").is_err());
}

#[test]
fn merge_precedence_netconf_then_agent_then_defaults() {
    let cluster: ClusterCoordinatorConfig = serde_json::from_value(json!({
        "overlayPodCIDR": ["10.233.64.0/18"], "serviceCIDR": ["10.233.0.0/18"], "mode": "overlay",
        "tunePodRoutes": false, "hijackCIDR": ["169.254.0.0/16"], "policyRoutes": [{"dst": "10.9.0.0/16", "gw": "10.6.0.1"}],
        "podMACPrefix": "0a:1b", "podDefaultRouteNIC": "net2", "hostRuleTable": 700, "podRPFilter": 2,
        "txQueueLen": 500, "vethLinkAddress": "169.254.1.1", "vethMTU": 9000
    })).unwrap();
    let empty = CoordinatorNetConf::default();
    let m = merge(&empty, Some(&cluster), None).unwrap();
    assert_eq!(m.mode, ModeSetting::Overlay);
    assert!(!m.tune_pod_routes);
    assert_eq!(m.pod_default_route_nic.as_deref(), Some("net2"));
    assert_eq!(
        (m.host_rule_table, m.pod_rp_filter, m.tx_queue_len, m.veth_mtu),
        (700, 2, 500, 9000)
    );
    assert_eq!(
        m.hijack_routes(),
        [net("10.233.64.0/18"), net("10.233.0.0/18"), net("169.254.0.0/16")]
    );
    assert_eq!(m.policy_routes, [policy("10.9.0.0/16", "10.6.0.1")]);
    // Annotation beats the agent, netconf beats the annotation.
    assert_eq!(
        merge(&empty, Some(&cluster), Some("net1")).unwrap().pod_default_route_nic.as_deref(),
        Some("net1")
    );
    let nc = parse(json!({"podDefaultRouteNic": "net3", "mode": "underlay", "serviceCIDR": ["10.96.0.0/12"], "vethMTU": 1400, "tunePodRoutes": true})).unwrap();
    let m = merge(&nc, Some(&cluster), Some("net1")).unwrap();
    assert_eq!(m.pod_default_route_nic.as_deref(), Some("net3"));
    assert_eq!((m.mode, m.veth_mtu, m.tune_pod_routes), (ModeSetting::Underlay, 1400, true));
    assert_eq!(m.service_cidr, [net("10.96.0.0/12")]);
    assert_eq!(m.overlay_pod_cidr, [net("10.233.64.0/18")], "empty netconf list falls back");
    // No agent: the defaults.
    let d = merge(&empty, None, None).unwrap();
    assert_eq!(d, EffectiveConfig::default());
    assert_eq!(
        (d.mode, d.host_rule_table, d.veth_mtu, d.pod_default_cni_nic.as_str()),
        (ModeSetting::Auto, 500, 1500, "eth0")
    );
    assert!(d.tune_pod_routes);
    // Bad agent values name clusterConfig.<key>.
    let bad = ClusterCoordinatorConfig {
        policy_routes: vec![PolicyRouteWire { dst: "x".into(), gw: "1.1.1.1".into() }],
        ..ClusterCoordinatorConfig::default()
    };
    let e = merge(&empty, Some(&bad), None).unwrap_err();
    assert!(
        e.to_string().starts_with("clusterConfig.policyRoutes[0].dst: invalid value \"x\""),
        "{e}"
    );
    let bad = ClusterCoordinatorConfig {
        pod_default_route_nic: "a b".into(),
        ..ClusterCoordinatorConfig::default()
    };
    assert!(
        merge(&empty, Some(&bad), None)
            .unwrap_err()
            .to_string()
            .starts_with("clusterConfig.podDefaultRouteNIC")
    );
    assert!(merge(&empty, None, Some("x/y")).is_err());
}

#[test]
fn cluster_config_json_names() {
    let c = ClusterCoordinatorConfig {
        mode: "auto".into(),
        tune_pod_routes: Some(true),
        pod_default_route_nic: "net1".into(),
        veth_mtu: Some(1500),
        ..ClusterCoordinatorConfig::default()
    };
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(
        v,
        json!({"overlayPodCIDR": [], "serviceCIDR": [], "mode": "auto", "tunePodRoutes": true, "podDefaultRouteNIC": "net1", "vethMTU": 1500})
    );
}
