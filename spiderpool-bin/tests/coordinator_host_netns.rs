//! The `coordinator` binary and the host it runs on (issue 9, items 8 and
//! 12), against real kernel objects in namespaces the tests build:
//!
//! - container IDs that share their first 11 characters want the same host
//!   veth name: the second ADD fails naming the container that holds it, and
//!   the second container's DEL leaves the first pod's veth alone (also for a
//!   veth made before the ownership alias existed);
//! - DEL (which reads only the pod's links and addresses and the one host
//!   link of its name) removes its own host veth and legacy host rules and
//!   leaves another pod's alone;
//! - `CNI_NETNS` naming the namespace the plugin itself runs in (the host's
//!   own) is refused on ADD and CHECK, and DEL succeeds without changing it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns;

use std::os::unix::fs::MetadataExt;
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

#[test]
fn del_removes_this_containers_host_veth_and_host_rules_and_spares_another_pods() {
    need_netns!();
    let lan = Lan::new();
    let (pod_a, pod_b) = (lan.pod(3), lan.pod(4));
    // IDs that differ in their first 11 characters: two host veths.
    let cid_a = format!("a{:0>10}{}", lan.tag, "1".repeat(53));
    let cid_b = format!("b{:0>10}{}", lan.tag, "2".repeat(53));
    let veth_a = format!("veth{}", &cid_a[..11]);
    let veth_b = format!("veth{}", &cid_b[..11]);
    let log = LogFile::new(&lan.tag, "delboth");
    let (ip_a, ip_b) = ("10.6.212.213", "10.6.212.214");
    let prev_a = lan.cni_add(&pod_a, &cid_a, "macvlan", "eth0", &lan.macvlan_conf(ip_a, true));
    let prev_b = lan.cni_add(&pod_b, &cid_b, "macvlan", "eth0", &lan.macvlan_conf(ip_b, true));
    let conf_a = coordinator_conf("underlay", &log, &prev_a);
    let conf_b = coordinator_conf("underlay", &log, &prev_b);
    for (pod, cid, name, conf) in
        [(&pod_a, &cid_a, "pod-a", &conf_a), (&pod_b, &cid_b, "pod-b", &conf_b)]
    {
        let (ok, _, text) = coordinator(&lan, pod, cid, name, "ADD", conf);
        assert!(ok, "ADD of {name}: {text}");
    }
    // The legacy host rules (`to <pod IP> lookup <hostRuleTable>`, what older
    // coordinators added) of both pods, and an unrelated rule to A's IP in
    // another table.
    for ip in [ip_a, ip_b] {
        lan.node.ip(&["rule", "add", "to", &format!("{ip}/32"), "lookup", "500"]);
    }
    lan.node.ip(&["rule", "add", "to", &format!("{ip_a}/32"), "lookup", "501"]);
    let links = lan.node.show(&["link"]);
    assert!(links.contains(&veth_a) && links.contains(&veth_b), "{links}");
    assert!(lan.node.ping(ip_a) && lan.node.ping(ip_b), "the node reaches both pods");

    for round in 1..=2 {
        let (ok, _, text) = coordinator(&lan, &pod_a, &cid_a, "pod-a", "DEL", &conf_a);
        assert!(ok, "DEL #{round} of A: {text}\nlog:\n{}", log.text());
        let links = lan.node.show(&["link"]);
        assert!(!links.contains(&veth_a), "DEL #{round} removes A's host veth {veth_a}: {links}");
        assert!(links.contains(&veth_b), "DEL #{round} spares B's host veth {veth_b}: {links}");
        let rules = lan.node.show(&["rule"]);
        assert!(
            !rules.contains(&format!("to {ip_a} lookup 500")),
            "DEL #{round} removes A's host rule:\n{rules}"
        );
        assert!(
            rules.contains(&format!("to {ip_b} lookup 500")),
            "DEL #{round} spares B's host rule:\n{rules}"
        );
        assert!(
            rules.contains(&format!("to {ip_a} lookup 501")),
            "DEL #{round} spares the rule of another table:\n{rules}"
        );
        assert!(lan.node.ping(ip_b), "the node still reaches B after A's DEL #{round}");
    }
    assert!(log.text().contains(&format!("DEL {cid_a} eth0: ")), "{}", log.text());
}

/// What the tests compare before and after: link names, IPv4 addresses,
/// rules of both families, IPv4 routes of every table, the nftables ruleset
/// and the rp_filter sysctls.
fn host_state(ns: &Netns) -> String {
    let links: Vec<String> = ns
        .ip_json(&["link", "show"])
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["ifname"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let nft = ns.exec(&["nft", "list", "ruleset"]);
    let rp = ns.exec(&["sysctl", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"]);
    format!(
        "links {links:?}\n{}\n{}\n{}\n{}\nnft:\n{}\n{}",
        ns.show(&["-4", "addr"]),
        ns.show(&["-4", "rule"]),
        ns.show(&["-6", "rule"]),
        ns.show(&["-4", "route", "show", "table", "all"]),
        String::from_utf8_lossy(&nft.stdout),
        String::from_utf8_lossy(&rp.stdout),
    )
}

fn netns_inode(path: &str) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn coordinator_refuses_the_hosts_own_network_namespace() {
    need_netns!();
    let tag = unique_tag();
    // The test's "host": the plugin runs inside it, and CNI_NETNS names it too.
    let host = Netns::new("hself", &tag);
    let peer = Netns::new("hpeer", &tag);
    let far = format!("p{tag}");
    host.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", &far, "netns", &peer.name]);
    host.ip(&["addr", "add", "10.88.0.2/24", "dev", "eth0"]);
    host.ip(&["link", "set", "eth0", "up"]);
    host.sysctl("net.ipv4.conf.all.rp_filter", "1");
    let log = LogFile::new(&tag, "hostns");
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": host.path()}],
        "ips": [{"address": "10.88.0.2/24", "interface": 0}],
    });
    let conf = coordinator_conf("underlay", &log, &prev);
    let plugin = Path::new(env!("CARGO_BIN_EXE_coordinator"));
    let cid = format!("{tag:0>12}hostns");
    let call = |command| CniCall {
        plugin,
        command,
        container_id: &cid,
        pod: Some(&host),
        ifname: "eth0",
        args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=hostns",
    };
    let before = host_state(&host);
    let want = format!(
        "CNI_NETNS {:?}: is the network namespace the coordinator runs in (net:[{}]), the host's own: \
         the coordinator only configures pod network namespaces",
        host.path(),
        netns_inode(&host.path())
    );

    let (ok, out, text) = cni(&host, &call("ADD"), &conf);
    assert!(!ok, "ADD into the host's own namespace must be refused: {text}");
    assert_eq!(host_state(&host), before, "ADD changed the host\nlog:\n{}", log.text());
    assert_eq!(out["code"], 4, "{text}");
    assert_eq!(out["msg"], want, "{text}");

    let (ok, out, text) = cni(&host, &call("CHECK"), &conf);
    assert!(!ok, "CHECK in the host's own namespace fails: {text}");
    assert_eq!((out["code"].clone(), out["msg"].clone()), (json!(4), json!(want)), "{text}");

    for round in 0..2 {
        let (ok, _, text) = cni(&host, &call("DEL"), &conf);
        assert!(ok, "DEL #{round} succeeds: {text}");
        assert_eq!(host_state(&host), before, "DEL #{round} changed the host");
    }
    assert!(log.text().contains("host's own"), "DEL logs why it did nothing:\n{}", log.text());
}
