//! The `spiderpool` IPAM plugin in a real chain, as root: `spiderpoolctl cni`
//! runs macvlan + spiderpool + coordinator inside the node namespace of
//! `netns/mod.rs` against an in-process agent (MemoryStore) whose pool
//! `10-6-v4` is applied through the admin API. Two pods get 10.6.212.200 and
//! .201, the client behind the gateway reaches both over net1, DEL releases.
//! With IP-conflict and gateway detection on, an address a LAN host already
//! uses and a pool whose gateway does not exist fail ADD and are released.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use netns::*;
use serde_json::{Value, json};
use spiderpool_bin::agent::{Agent, AgentConfig, AnnounceSocket, serve_announcements};
use spiderpool_bin::agent_client::request_json;
use spiderpool_core::agent_api::announce_socket;
use spiderpool_core::store::MemoryStore;

const CTL: &str = env!("CARGO_BIN_EXE_spiderpoolctl");
const SPIDERPOOL: &str = env!("CARGO_BIN_EXE_spiderpool");

macro_rules! need_netns {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

mod agent_harness;

use agent_harness::{Serving, serve_agent};

/// The agent on a temp socket, stopped (and its directory removed) on drop.
struct AgentProc {
    dir: PathBuf,
    serving: Option<Serving>,
    /// The announce socket beside `agent.sock`, as the agent binary serves it.
    announce: Option<AnnounceSocket>,
}

impl AgentProc {
    fn start(tag: &str) -> AgentProc {
        Self::start_with(tag, AgentConfig { node_name: "node1".into(), ..AgentConfig::default() })
    }

    fn start_with(tag: &str, config: AgentConfig) -> AgentProc {
        let dir = std::env::temp_dir().join(format!("sp-ipam-netns-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let agent = Arc::new(Agent::new(MemoryStore::new(), config));
        let serving = Some(serve_agent(agent, &dir.join("agent.sock")));
        let announce =
            Some(serve_announcements(&announce_socket(&dir.join("agent.sock"))).unwrap());
        AgentProc { dir, serving, announce }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        request_json(&self.socket(), method, path, body, Duration::from_secs(10))
            .map_err(|e| e.to_string())
            .map(|v| v.unwrap_or(Value::Null))
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        drop(self.serving.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        format!("exit {}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr)
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// `spiderpoolctl cni OP` inside the node namespace, our binaries first in
/// the CNI path, the pod's Kubernetes identity in `--args`.
fn run(lan: &Lan, dir: &Path, op: &str, conf: &Path, pod: &Netns, cid: &str, ifname: &str) -> Out {
    let ours = Path::new(SPIDERPOOL).parent().unwrap();
    let cni_path = format!("{}:{}", ours.display(), cni_bin_dir().display());
    let args = format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-{cid};K8S_POD_UID=uid-{cid}"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &lan.node.name, CTL, "cni", op, "--conf"])
        .arg(conf)
        .args(["--netns", &pod.path(), "--ifname", ifname, "--container-id", cid])
        .args(["--args", &args, "--cni-path", &cni_path, "--cache-dir"])
        .arg(dir.join("cache"))
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn two_pods_get_200_and_201_from_10_6_v4_traffic_flows_del_releases() {
    need_netns!();
    let lan = Lan::new();
    let agent = AgentProc::start(&lan.tag);
    let dir = agent.dir.clone();
    agent
        .call(
            "PUT",
            "/v1/admin/objects",
            &json!({
                "apiVersion": "spiderpool.spidernet.io/v2beta1",
                "kind": "SpiderIPPool",
                "metadata": {"name": "10-6-v4"},
                "spec": {"disable": false, "gateway": "10.6.0.1",
                         "ips": ["10.6.212.200-10.6.212.240"], "subnet": "10.6.0.0/16"}
            }),
        )
        .unwrap();
    let conf = dir.join("macvlan-ens192.conflist");
    std::fs::write(
        &conf,
        json!({"cniVersion": "1.0.0", "name": "macvlan-ens192", "plugins": [
            {"type": "macvlan", "master": lan.node_nic, "mode": "bridge",
             "ipam": {"type": "spiderpool", "default_ipv4_ippool": ["10-6-v4"],
                      "ipam_unix_socket_path": agent.socket(),
                      "log_file_path": dir.join("spiderpool.log"),
                      "release_journal_path": dir.join("journal.jsonl")}},
            {"type": "coordinator", "mode": "overlay", "serviceCIDR": [SERVICE_CIDR],
             "overlayPodCIDR": [POD_CIDR], "hijackCIDR": [],
             "logOptions": {"logFile": dir.join("coordinator.log")}}
        ]})
        .to_string(),
    )
    .unwrap();

    let pods: Vec<Netns> = (1..=2).map(|n| lan.pod(n)).collect();
    let cids: Vec<String> = (1..=2).map(|n| format!("{:0>12}{n}", lan.tag)).collect();
    for (n, (pod, cid)) in pods.iter().zip(&cids).enumerate() {
        lan.add_ptp_eth0(pod, cid, &format!("10.244.{}.5", n + 1));
        let out = run(&lan, &dir, "add", &conf, pod, cid, "net1");
        let log = std::fs::read_to_string(dir.join("spiderpool.log")).unwrap_or_default();
        assert_eq!(out.code, 0, "ADD: {}\nlog: {log}", out.text());
        let want = format!("10.6.212.{}/16", 200 + n);
        assert_eq!(out.json()["ips"][0]["address"], want.as_str(), "{}", out.stdout);
        let addrs = pod.show(&["-4", "-br", "addr", "show", "net1"]);
        assert!(addrs.contains(&want), "{addrs}");
    }
    for ip in ["10.6.212.200", "10.6.212.201"] {
        assert!(lan.client.ping(ip), "client -> {ip} over net1");
    }
    let list = agent.call("GET", "/v1/admin/objects/se", &Value::Null).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "{list}");

    // CHECK through the chain, then DEL releases; a second DEL succeeds.
    let out = run(&lan, &dir, "check", &conf, &pods[0], &cids[0], "net1");
    assert_eq!(out.code, 0, "CHECK: {}", out.text());
    for (pod, cid) in pods.iter().zip(&cids) {
        let out = run(&lan, &dir, "del", &conf, pod, cid, "net1");
        assert_eq!(out.code, 0, "DEL: {}", out.text());
        let out = run(&lan, &dir, "del", &conf, pod, cid, "net1");
        assert_eq!(out.code, 0, "second DEL: {}", out.text());
    }
    let list = agent.call("GET", "/v1/admin/objects/se", &Value::Null).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    let pool = agent.call("GET", "/v1/admin/objects/sp/_/10-6-v4", &Value::Null).unwrap();
    assert_eq!(pool["status"]["allocatedIPCount"], 0, "{pool}");
    assert!(!dir.join("journal.jsonl").exists(), "nothing journaled with the agent up");
}

/// Writes a macvlan + spiderpool + coordinator conflist using `pool`.
fn conflist(lan: &Lan, agent: &AgentProc, name: &str, pool: &str) -> PathBuf {
    let dir = &agent.dir;
    let conf = dir.join(format!("{name}.conflist"));
    std::fs::write(
        &conf,
        json!({"cniVersion": "1.0.0", "name": name, "plugins": [
            {"type": "macvlan", "master": lan.node_nic, "mode": "bridge",
             "ipam": {"type": "spiderpool", "default_ipv4_ippool": [pool],
                      "ipam_unix_socket_path": agent.socket(),
                      "log_file_path": dir.join("spiderpool.log"),
                      "release_journal_path": dir.join("journal.jsonl")}},
            {"type": "coordinator", "mode": "overlay", "serviceCIDR": [SERVICE_CIDR],
             "overlayPodCIDR": [POD_CIDR], "hijackCIDR": [],
             "logOptions": {"logFile": dir.join("coordinator.log")}}
        ]})
        .to_string(),
    )
    .unwrap();
    conf
}

fn pool(name: &str, gateway: &str, ips: &str) -> Value {
    json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderIPPool",
        "metadata": {"name": name},
        "spec": {"disable": false, "gateway": gateway, "ips": [ips], "subnet": "10.6.0.0/16"}
    })
}

fn allocated(agent: &AgentProc, name: &str) -> Value {
    let pool = agent.call("GET", &format!("/v1/admin/objects/sp/_/{name}"), &Value::Null).unwrap();
    pool["status"]["allocatedIPCount"].clone()
}

#[test]
fn with_detection_on_a_used_ip_and_a_missing_gateway_fail_add_and_are_released() {
    need_netns!();
    let lan = Lan::new();
    let agent = AgentProc::start_with(
        &format!("{}probe", lan.tag),
        AgentConfig {
            node_name: "node1".into(),
            enable_ip_conflict_detection: true,
            enable_gateway_detection: true,
            ..AgentConfig::default()
        },
    );
    let dir = agent.dir.clone();
    agent
        .call("PUT", "/v1/admin/objects", &pool("10-6-v4", LAN_GW, "10.6.212.200-10.6.212.240"))
        .unwrap();
    agent
        .call(
            "PUT",
            "/v1/admin/objects",
            &pool("10-6-nogw", "10.6.0.254", "10.6.213.10-10.6.213.20"),
        )
        .unwrap();
    let conf = conflist(&lan, &agent, "macvlan-ens192", "10-6-v4");
    let conf_nogw = conflist(&lan, &agent, "macvlan-nogw", "10-6-nogw");
    let log = || std::fs::read_to_string(dir.join("spiderpool.log")).unwrap_or_default();

    // A LAN host (the router's underlay NIC) already uses the first address.
    let el = format!("el{}", lan.tag);
    lan.lan.ip(&["addr", "add", "10.6.212.200/16", "dev", &el]);
    let lan_mac =
        lan.lan.ip_json(&["link", "show", &el])[0]["address"].as_str().unwrap().to_string();

    let pods: Vec<Netns> = (1..=3).map(|n| lan.pod(n)).collect();
    let cids: Vec<String> = (1..=3).map(|n| format!("{:0>12}{n}", lan.tag)).collect();
    for (n, (pod, cid)) in pods.iter().zip(&cids).enumerate() {
        lan.add_ptp_eth0(pod, cid, &format!("10.244.{}.5", n + 1));
    }

    let started = std::time::Instant::now();
    let out = run(&lan, &dir, "add", &conf, &pods[0], &cids[0], "net1");
    eprintln!("ADD with a conflicting address failed after {:?}", started.elapsed());
    assert_ne!(out.code, 0, "ADD must fail: {}\nlog: {}", out.text(), log());
    let want =
        format!("net1: 10.6.212.200 is already in use by {lan_mac} (ARP reply); released it");
    assert!(out.stdout.contains(&want), "want {want:?} in {}\nlog: {}", out.text(), log());
    assert_eq!(allocated(&agent, "10-6-v4"), 0, "the conflicting address is not held");
    let list = agent.call("GET", "/v1/admin/objects/se", &Value::Null).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");

    let started = std::time::Instant::now();
    let out = run(&lan, &dir, "add", &conf_nogw, &pods[1], &cids[1], "net1");
    eprintln!("ADD with a missing gateway failed after {:?}", started.elapsed());
    assert_ne!(out.code, 0, "ADD must fail: {}\nlog: {}", out.text(), log());
    let want = "net1: gateway 10.6.0.254 unreachable from 10.6.213.10 (no ARP answer); released it";
    assert!(out.stdout.contains(want), "want {want:?} in {}\nlog: {}", out.text(), log());
    assert_eq!(allocated(&agent, "10-6-nogw"), 0, "the address is not held");

    // The LAN host gives the address up: a normal ADD gets it, and it works.
    lan.lan.ip(&["addr", "del", "10.6.212.200/16", "dev", &el]);
    let started = std::time::Instant::now();
    let out = run(&lan, &dir, "add", &conf, &pods[2], &cids[2], "net1");
    eprintln!("ADD with both probes passing took {:?}", started.elapsed());
    assert_eq!(out.code, 0, "ADD: {}\nlog: {}", out.text(), log());
    assert_eq!(out.json()["ips"][0]["address"], "10.6.212.200/16", "{}", out.stdout);
    assert_eq!(allocated(&agent, "10-6-v4"), 1);
    assert!(lan.client.ping("10.6.212.200"), "client -> pod over net1");
    let l = log();
    assert!(l.contains("conflict probe 10.6.212.200: free"), "{l}");
    assert!(l.contains("gateway probe 10.6.0.1 from 10.6.212.200: reachable"), "{l}");
    assert!(l.contains("announced 10.6.212.200 from net1"), "{l}");
    let out = run(&lan, &dir, "del", &conf, &pods[2], &cids[2], "net1");
    assert_eq!(out.code, 0, "DEL: {}", out.text());
    assert_eq!(allocated(&agent, "10-6-v4"), 0);
}

/// ADD announces the address (gratuitous ARP): the router's stale entry for
/// it — a previous owner's MAC — is replaced by the pod's. The plugin runs
/// alone on a macvlan link made by hand and left without an address (the
/// macvlan plugin would send its own gratuitous ARP after configuring it), so
/// only the announcement can do it. First the agent announces (the plugin
/// hands it the namespace on the announce socket); then, with the announce
/// socket gone, the plugin's detached announcer does.
#[test]
fn add_announces_the_address_and_replaces_a_stale_neighbour_entry() {
    need_netns!();
    let lan = Lan::new();
    let mut agent = AgentProc::start(&format!("{}announce", lan.tag));
    let dir = agent.dir.clone();
    agent
        .call("PUT", "/v1/admin/objects", &pool("10-6-v4", LAN_GW, "10.6.212.200-10.6.212.240"))
        .unwrap();
    let el = format!("el{}", lan.tag);
    let stale = ["neigh", "replace", "10.6.212.200", "lladdr", "02:00:00:00:00:99", "dev", &el];
    let pod = lan.pod(1);
    let mv = format!("mv{}", lan.tag);
    lan.node.ip(&["link", "add", &mv, "link", &lan.node_nic, "type", "macvlan", "mode", "bridge"]);
    lan.node.ip(&["link", "set", &mv, "netns", &pod.name]);
    pod.ip(&["link", "set", &mv, "name", "net1"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "macvlan",
        "ipam": {"type": "spiderpool", "default_ipv4_ippool": ["10-6-v4"],
                 "ipam_unix_socket_path": agent.socket(),
                 "log_file_path": dir.join("spiderpool.log"),
                 "release_journal_path": dir.join("journal.jsonl")}});
    let plugin = |command: &str| {
        let mut child = Command::new(SPIDERPOOL)
            .env_clear()
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", "ctr-announce")
            .env("CNI_NETNS", pod.path())
            .env("CNI_IFNAME", "net1")
            .env("CNI_PATH", "/usr/lib/cni")
            .env("CNI_ARGS", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=announce;K8S_POD_UID=ua")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(conf.to_string().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let log = || std::fs::read_to_string(dir.join("spiderpool.log")).unwrap_or_default();
    let pod_mac =
        pod.ip_json(&["link", "show", "net1"])[0]["address"].as_str().unwrap().to_string();
    // by: what the plugin's log says it did; done: a log line that shows the
    // announcement ran (the agent's announcer logs in the agent, not here).
    for (by, done) in [
        ("announcement handed to the agent", None),
        ("handed to a detached announcer", Some("announced 10.6.212.200 from net1")),
    ] {
        lan.lan.ip(&[&stale[..], &["nud", "stale"]].concat());
        let out = plugin("ADD");
        assert_eq!(out.code, 0, "ADD: {}\nlog: {}", out.text(), log());
        assert_eq!(out.json()["ips"][0]["address"], "10.6.212.200/16", "{}", out.stdout);
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let neigh = lan.lan.show(&["neigh", "show", "10.6.212.200", "dev", &el]);
            let log = log();
            if neigh.contains(&pod_mac) && done.is_none_or(|d| log.contains(d)) {
                assert!(log.contains(by), "want {by:?} in {log}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "3 s after ADD ({by}) the router has {neigh:?}, not {pod_mac}\nlog: {log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = plugin("DEL");
        assert_eq!(out.code, 0, "DEL: {}", out.text());
        assert_eq!(allocated(&agent, "10-6-v4"), 0);
        // The next round: an agent without an announce socket.
        agent.announce = None;
    }
    let log = log();
    assert!(log.contains("announce socket") && log.contains("No such file"), "{log}");
}

/// Through the chain runner, macvlan + spiderpool: a pod without annotations
/// gets its address from the netconf's default pool; a registered pod whose
/// `ipam.spidernet.io/ippool` annotation names another pool gets that pool's;
/// when the default pool is full, ADD fails naming the pool and why, holds
/// nothing, and its DEL succeeds.
#[test]
fn pools_come_from_netconf_defaults_or_pod_annotations_and_exhaustion_is_clear() {
    need_netns!();
    let lan = Lan::new();
    let agent = AgentProc::start(&format!("{}select", lan.tag));
    let dir = agent.dir.clone();
    agent.call("PUT", "/v1/admin/objects", &pool("pool-a", LAN_GW, "10.6.212.200")).unwrap();
    agent
        .call("PUT", "/v1/admin/objects", &pool("pool-b", LAN_GW, "10.6.213.10-10.6.213.20"))
        .unwrap();
    let conf = dir.join("macvlan-a.conflist");
    std::fs::write(
        &conf,
        json!({"cniVersion": "1.0.0", "name": "macvlan-a", "plugins": [
            {"type": "macvlan", "master": lan.node_nic, "mode": "bridge",
             "ipam": {"type": "spiderpool", "default_ipv4_ippool": ["pool-a"],
                      "ipam_unix_socket_path": agent.socket(),
                      "log_file_path": dir.join("spiderpool.log"),
                      "release_journal_path": dir.join("journal.jsonl")}}
        ]})
        .to_string(),
    )
    .unwrap();
    let pods: Vec<Netns> = (1..=3).map(|n| lan.pod(n)).collect();
    let cids: Vec<String> = (1..=3).map(|n| format!("{:0>12}{n}", lan.tag)).collect();
    // Pod 2 is registered with an annotation choosing pool-b.
    agent
        .call(
            "PUT",
            "/v1/admin/objects",
            &json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("pod-{}", cids[1]), "namespace": "default",
                    "uid": format!("uid-{}", cids[1]),
                    "annotations": {"ipam.spidernet.io/ippool": "{\"ipv4\":[\"pool-b\"]}"}},
                "spec": {"nodeName": "node1"}}),
        )
        .unwrap();
    let address = |out: &Out| out.json()["ips"][0]["address"].as_str().unwrap().to_string();
    let out = run(&lan, &dir, "add", &conf, &pods[0], &cids[0], "net1");
    assert_eq!(out.code, 0, "ADD pod 1: {}", out.text());
    assert_eq!(address(&out), "10.6.212.200/16", "netconf default pool-a");
    let out = run(&lan, &dir, "add", &conf, &pods[1], &cids[1], "net1");
    assert_eq!(out.code, 0, "ADD pod 2: {}", out.text());
    assert_eq!(address(&out), "10.6.213.10/16", "the pod's annotation wins over the netconf");
    let addrs = pods[1].show(&["-4", "-br", "addr", "show", "net1"]);
    assert!(addrs.contains("10.6.213.10/16"), "{addrs}");
    // pool-a has one address, held by pod 1.
    let out = run(&lan, &dir, "add", &conf, &pods[2], &cids[2], "net1");
    assert_ne!(out.code, 0, "ADD on a full pool succeeded: {}", out.text());
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("pool-a"), "the error names the pool tried: {all}");
    assert!(all.contains("no free IPv4 address") || all.contains("exhausted"), "{all}");
    assert_eq!(allocated(&agent, "pool-a"), 1);
    assert_eq!(allocated(&agent, "pool-b"), 1);
    // A runtime tears a failed ADD down with DEL (Debian's macvlan 1.1.1
    // leaves its link behind when IPAM fails); that DEL succeeds too.
    for (pod, cid) in pods.iter().zip(&cids) {
        let out = run(&lan, &dir, "del", &conf, pod, cid, "net1");
        assert_eq!(out.code, 0, "DEL: {}", out.text());
    }
    assert_eq!(allocated(&agent, "pool-a"), 0);
    // Pod 2 is registered and alive: Spiderpool's rule keeps its address
    // across a DEL until the Pod object goes.
    assert_eq!(allocated(&agent, "pool-b"), 1);
    agent
        .call("DELETE", &format!("/v1/admin/objects/pod/default/pod-{}", cids[1]), &Value::Null)
        .unwrap();
    assert_eq!(allocated(&agent, "pool-b"), 0);
}
