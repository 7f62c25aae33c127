//! The `coordinator` binary against real kernel objects in namespaces the tests
//! build (see `netns/mod.rs`): Debian's `ptp` gives the pod `eth0` (standing
//! in for Cilium), Debian's `macvlan` with `static` IPAM gives `net1` (or `eth0`
//! for an underlay pod), and the coordinator runs after it, inside the node
//! namespace, exactly as a runtime chains it. Checked by read-back and by real
//! traffic between the test's own namespaces.

mod netns;

use netns::*;
use serde_json::{Value, json};

struct Pod<'a> {
    lan: &'a Lan,
    ns: Netns,
    cid: String,
    log: std::path::PathBuf,
}

impl<'a> Pod<'a> {
    fn new(lan: &'a Lan, n: u32) -> Pod<'a> {
        let ns = lan.pod(n);
        let cid = format!("{:0>12}{}", lan.tag, n);
        let log = std::env::temp_dir().join(format!("sp-coord-{}-{n}.log", lan.tag));
        Pod { lan, ns, cid, log }
    }

    fn netconf(&self, extra: Value, prev: &Value) -> Value {
        let conf = json!({
            "cniVersion": "1.0.0",
            "name": "macvlan-underlay",
            "type": "coordinator",
            "serviceCIDR": [SERVICE_CIDR],
            "overlayPodCIDR": [POD_CIDR],
            "hijackCIDR": [],
            "logOptions": {"logFile": self.log.display().to_string()},
            "prevResult": prev,
        });
        with_keys(conf, &extra)
    }

    fn coordinator(&self, command: &str, ifname: &str, conf: &Value) -> (bool, Value, String) {
        run_coordinator(self.lan, &self.ns, &self.cid, command, ifname, conf)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn rules(&self) -> String {
        self.ns.show(&["rule"])
    }

    fn routes(&self) -> String {
        self.ns.show(&["route", "show", "table", "all"])
    }
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

macro_rules! need_netns {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

#[test]
fn overlay_mode_replies_leave_by_net1_and_cluster_traffic_by_eth0() {
    need_netns!();
    let lan = Lan::new();
    let pod = Pod::new(&lan, 1);
    lan.add_ptp_eth0(&pod.ns, &pod.cid, "10.244.1.5");
    let prev = lan.add_macvlan_net1(&pod.ns, &pod.cid, "10.6.212.200", true);
    let conf = pod.netconf(json!({"mode": "overlay"}), &prev);
    let (ok, out, text) = pod.coordinator("ADD", "net1", &conf);
    assert!(ok, "coordinator ADD failed: {text}");
    assert_eq!(out["ips"], prev["ips"], "prevResult passes through");

    let rules = pod.rules();
    assert!(rules.contains("from 10.6.212.200 lookup 101"), "{rules}");
    assert!(rules.contains("from 10.244.1.5 lookup 100"), "{rules}");
    let routes = pod.routes();
    assert!(routes.contains("default via 10.6.0.1 dev net1 table 101"), "{routes}");
    assert!(
        !routes
            .lines()
            .any(|l| l.starts_with("default via 10.6.0.1 dev net1 ") && !l.contains("table")),
        "net1's default left main:\n{routes}\nlog:\n{}",
        pod.log_text()
    );
    // The hijack gateway is the node's IP (the source on ptp's host veth is not
    // taken: addresses on veth*/lo/kube-ipvs* links are never host IPs).
    assert!(routes.contains(&format!("{SERVICE_CIDR} via {NODE_IP} dev eth0")), "{routes}");
    let host_rules = lan.node.show(&["rule"]);
    assert!(host_rules.contains("1000:\tfrom all lookup 500"), "{host_rules}");
    let host_500 = lan.node.show(&["route", "show", "table", "500"]);
    assert!(host_500.contains("10.6.212.200 dev veth"), "{host_500}");

    assert!(
        lan.client.ping("10.6.212.200"),
        "client behind the router reaches net1 and the reply returns through net1:\n{rules}\n{routes}"
    );
    assert!(pod.ns.ping(NODE_IP), "pod reaches the node IP through eth0:\n{routes}");
    assert!(pod.ns.ping(SERVICE_IP), "pod reaches a service address through eth0:\n{routes}");
    assert!(
        lan.node.ping_from(NODE_IP, "10.6.212.200"),
        "node reaches the pod's underlay address through table 500"
    );

    // CHECK passes after ADD and fails once a rule is gone.
    let (ok, _, text) = pod.coordinator("CHECK", "net1", &conf);
    assert!(ok, "CHECK after ADD: {text}");
    pod.ns.ip(&["rule", "del", "from", "10.6.212.200", "lookup", "101"]);
    let (ok, out, text) = pod.coordinator("CHECK", "net1", &conf);
    assert!(!ok, "CHECK must fail after the rule is deleted: {text}");
    assert_eq!(out["code"], 103, "{text}");
    assert!(out["details"].as_str().unwrap_or("").contains("lookup 101"), "{text}");

    // DEL twice succeeds.
    for round in 0..2 {
        let (ok, _, text) = pod.coordinator("DEL", "net1", &conf);
        assert!(ok, "DEL #{round}: {text}");
    }
}

#[test]
fn underlay_mode_gives_the_pod_a_veth_to_the_node() {
    need_netns!();
    let lan = Lan::new();
    let pod = Pod::new(&lan, 2);
    // Underlay pod: its only NIC is the macvlan eth0.
    let conf_mv = lan.macvlan_conf("10.6.212.201", true);
    let plugin = cni_bin_dir().join("macvlan");
    let call = CniCall {
        plugin: &plugin,
        command: "ADD",
        container_id: &pod.cid,
        pod: Some(&pod.ns),
        ifname: "eth0",
        args: "",
    };
    let (ok, prev, text) = cni(&lan.node, &call, &conf_mv);
    assert!(ok, "macvlan ADD: {text}");
    // Without the coordinator a macvlan child cannot reach its parent (the node).
    assert!(!pod.ns.ping(NODE_IP), "macvlan pod must not reach the node directly");

    let conf = pod.netconf(json!({"mode": "underlay"}), &prev);
    let (ok, _, text) = pod.coordinator("ADD", "eth0", &conf);
    assert!(ok, "coordinator ADD failed: {text}");
    let links = pod.ns.show(&["link"]);
    assert!(links.contains("veth0@"), "{links}");
    let host_veth = format!("veth{}", &pod.cid[..11]);
    assert!(lan.node.show(&["link"]).contains(&host_veth), "host side {host_veth}");
    let routes = pod.routes();
    assert!(routes.contains(&format!("{SERVICE_CIDR} via {NODE_IP} dev veth0")), "{routes}");
    assert!(routes.contains(&format!("default via {NODE_IP} dev veth0 table 100")), "{routes}");
    assert!(pod.rules().contains("fwmark 0x1 lookup 100"), "{}", pod.rules());

    assert!(pod.ns.ping(NODE_IP), "pod reaches the node through veth0:\n{routes}");
    assert!(pod.ns.ping(SERVICE_IP), "pod reaches a service address through veth0:\n{routes}");
    assert!(lan.client.ping("10.6.212.201"), "client reaches the underlay pod");
    assert!(lan.node.ping("10.6.212.201"), "node reaches the pod through its veth");

    let (ok, _, text) = pod.coordinator("CHECK", "eth0", &conf);
    assert!(
        ok,
        "CHECK after ADD: {text}\nnode route get: {}\nnode addrs: {}",
        lan.node.show(&["route", "get", "10.6.212.201"]),
        lan.node.show(&["-br", "addr"])
    );
    let (ok, _, text) = pod.coordinator("DEL", "eth0", &conf);
    assert!(ok, "DEL: {text}");
    assert!(!lan.node.show(&["link"]).contains(&host_veth), "DEL removes the host veth");
    let (ok, _, text) = pod.coordinator("DEL", "eth0", &conf);
    assert!(ok, "second DEL: {text}");
}

#[test]
fn default_route_nic_annotation_moves_the_default_route_to_net1() {
    need_netns!();
    let lan = Lan::new();
    let pod = Pod::new(&lan, 3);
    lan.add_ptp_eth0(&pod.ns, &pod.cid, "10.244.3.5");
    let prev = lan.add_macvlan_net1(&pod.ns, &pod.cid, "10.6.212.203", true);
    let conf = pod.netconf(json!({"mode": "overlay", "podDefaultRouteNic": "net1"}), &prev);
    let (ok, _, text) = pod.coordinator("ADD", "net1", &conf);
    assert!(ok, "coordinator ADD failed: {text}");
    let main = pod.ns.show(&["route", "show", "table", "main"]);
    let default: Vec<&str> = main.lines().filter(|l| l.starts_with("default")).collect();
    assert_eq!(default, ["default via 10.6.0.1 dev net1 "], "main:\n{main}");
    let rules = pod.rules();
    assert!(rules.contains("from 10.244.3.5 lookup 101"), "{rules}");
    let t101 = pod.ns.show(&["route", "show", "table", "101"]);
    assert!(t101.contains("default via 10.244.3.1 dev eth0"), "{t101}");
    assert!(lan.client.ping("10.6.212.203"), "client reaches net1 (main default now via net1)");
    assert!(pod.ns.ping(SERVICE_IP), "service traffic still leaves by eth0");
}

#[test]
fn del_after_the_namespace_is_gone_succeeds() {
    need_netns!();
    let lan = Lan::new();
    let pod = Pod::new(&lan, 4);
    let conf_mv = lan.macvlan_conf("10.6.212.204", true);
    let plugin = cni_bin_dir().join("macvlan");
    let call = CniCall {
        plugin: &plugin,
        command: "ADD",
        container_id: &pod.cid,
        pod: Some(&pod.ns),
        ifname: "eth0",
        args: "",
    };
    let (ok, prev, text) = cni(&lan.node, &call, &conf_mv);
    assert!(ok, "macvlan ADD: {text}");
    let conf = pod.netconf(json!({"mode": "underlay"}), &prev);
    let (ok, _, text) = pod.coordinator("ADD", "eth0", &conf);
    assert!(ok, "ADD: {text}");
    let host_veth = format!("veth{}", &pod.cid[..11]);
    run(&["ip", "netns", "del", &pod.ns.name]);
    let (ok, _, text) = pod.coordinator("DEL", "eth0", &conf);
    assert!(ok, "DEL after the netns is gone: {text}");
    assert!(!lan.node.show(&["link"]).contains(&host_veth), "no host veth left");
    let (ok, _, text) = pod.coordinator("DEL", "eth0", &conf);
    assert!(ok, "second DEL: {text}");
}
