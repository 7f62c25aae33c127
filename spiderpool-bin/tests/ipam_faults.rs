//! Fault tests of the IPAM path, process level: the real `spiderpool-agent`
//! binary on the embedded store (temp data dir, temp socket, temp release
//! journal) and the real `spiderpool` IPAM plugin run as CNI processes.
//! `CNI_NETNS` names a namespace that does not exist, so the address
//! announcement is skipped (logged; probes are off) and no namespaces are
//! needed.
//!
//! - SIGKILL of the agent in the middle of 200 concurrent ADDs, restart on the
//!   same data dir: every ADD that succeeded still owns exactly its address,
//!   no address is held twice, DEL of all and a fresh batch of ADDs stay
//!   duplicate-free.
//! - DEL while the agent is down succeeds within 2 s; the restarted agent
//!   replays the journal and the address is free.
//! - An exhausted pool fails with a CNI error naming every pool tried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spiderpool_bin::agent_client::request_json;

/// A temp directory, removed on drop.
mod agent_harness;

use agent_harness::Dir;

/// The real agent process; SIGKILLed on drop.
struct AgentProc(Child);

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One node: a data dir, a socket and a release journal shared by every
/// start of the agent.
struct Node {
    dir: Dir,
    agent: Option<AgentProc>,
}

impl Node {
    fn new() -> Node {
        Node { dir: Dir::new("sp-ipam-faults"), agent: None }
    }

    fn socket(&self) -> PathBuf {
        self.dir.0.join("run/agent.sock")
    }

    fn journal(&self) -> PathBuf {
        self.dir.0.join("lib/release-journal.jsonl")
    }

    fn data(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    /// Starts the agent (no periodic journal replay: the tests that journal
    /// look at the journal before a restart) and waits (bounded) until it
    /// answers its health route.
    fn start(&mut self) {
        self.start_with(&["--release-journal-interval", "0"]);
    }

    /// [`Node::start`] with extra flags.
    fn start_with(&mut self, extra: &[&str]) {
        assert!(self.agent.is_none(), "agent already running");
        std::fs::create_dir_all(self.dir.0.join("run")).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.0.join("agent.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_spiderpool-agent"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["--node-name", "node1", "--health-port", "0", "--store", "embedded"])
            .arg("--socket")
            .arg(self.socket())
            .arg("--data-dir")
            .arg(self.data())
            .arg("--release-journal")
            .arg(self.journal())
            .args(extra)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.agent = Some(AgentProc(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = request_json(
                &self.socket(),
                "GET",
                "/v1/ipam/healthy",
                &json!({}),
                Duration::from_secs(2),
            );
            if matches!(up, Ok(Some(_))) {
                return;
            }
            if let Some(status) = self.agent.as_mut().unwrap().0.try_wait().unwrap() {
                panic!("agent exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "agent did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown, the socket file is left behind.
    fn kill(&mut self) {
        if let Some(mut a) = self.agent.take() {
            a.0.kill().unwrap();
            a.0.wait().unwrap();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("agent.log")).unwrap_or_default()
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Option<Value> {
        request_json(&self.socket(), method, path, body, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn pool(&self, name: &str, subnet: &str, gateway: &str, ips: &str) {
        self.call(
            "PUT",
            "/v1/admin/objects",
            &json!({
                "apiVersion": "spiderpool.spidernet.io/v2beta1",
                "kind": "SpiderIPPool",
                "metadata": {"name": name},
                "spec": {"gateway": gateway, "ips": [ips], "subnet": subnet}
            }),
        );
    }

    /// The pool's `status.allocatedIPs`, IP → holder (`namespace/name`).
    fn allocated(&self, pool: &str) -> BTreeMap<String, String> {
        let p = self.call("GET", &format!("/v1/admin/objects/sp/{pool}"), &Value::Null).unwrap();
        match p["status"]["allocatedIPs"].as_str() {
            None => BTreeMap::new(),
            Some(text) => {
                let m: BTreeMap<String, Value> = serde_json::from_str(text).unwrap();
                m.into_iter()
                    .map(|(ip, who)| (ip, who["pod"].as_str().unwrap_or_default().to_string()))
                    .collect()
            }
        }
    }

    /// Every (pod name, IPv4 with prefix) of every SpiderEndpoint.
    fn endpoint_ips(&self) -> Vec<(String, String)> {
        let list = self.call("GET", "/v1/admin/objects/se", &Value::Null).unwrap();
        let mut out = Vec::new();
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap().to_string();
            for ip in item["status"]["current"]["ips"].as_array().into_iter().flatten() {
                if let Some(v4) = ip["ipv4"].as_str() {
                    out.push((name.clone(), v4.to_string()));
                }
            }
        }
        out
    }

    fn conf(&self, pools: &[&str]) -> Value {
        json!({
            "cniVersion": "1.0.0",
            "name": "macvlan-ens192",
            "type": "macvlan",
            "ipam": {
                "type": "spiderpool",
                "default_ipv4_ippool": pools,
                "ipam_unix_socket_path": self.socket(),
                "log_file_path": self.dir.0.join("log/spiderpool.log"),
                "release_journal_path": self.journal(),
            }
        })
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {} / {}", self.stdout, self.stderr))
    }

    /// The address of a successful ADD.
    fn address(&self) -> String {
        assert_eq!(self.code, 0, "{} / {}", self.stdout, self.stderr);
        self.json()["ips"][0]["address"].as_str().unwrap().to_string()
    }
}

/// Runs the IPAM plugin once; bounded by the plugin's own timeouts.
fn plugin(command: &str, pod: &str, conf: &Value) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spiderpool"));
    cmd.env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", "/usr/lib/cni")
        .env("CNI_CONTAINERID", format!("ctr-{pod}"))
        .env("CNI_NETNS", format!("/var/run/netns/{pod}"))
        .env("CNI_IFNAME", "net1")
        .env(
            "CNI_ARGS",
            format!(
                "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod};K8S_POD_UID=uid-{pod}"
            ),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(conf).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Runs `command` for every pod concurrently; `done` counts returned runs.
fn burst(
    command: &'static str,
    pods: Vec<String>,
    conf: &Value,
    done: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<(String, Out)>> {
    pods.into_iter()
        .map(|pod| {
            let conf = conf.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let out = plugin(command, &pod, &conf);
                done.fetch_add(1, Ordering::SeqCst);
                (pod, out)
            })
        })
        .collect()
}

fn pods(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Asserts that no IP is held by two endpoints and that the endpoints and the
/// `allocatedIPs` of `pools` agree; returns pod → address held.
fn consistent(node: &Node, pools: &[&str]) -> BTreeMap<String, String> {
    consistent_but(node, pools, &[])
}

/// [`consistent`], except that the pools may also hold records, without an
/// endpoint, for the pods in `unanswered`: an ADD the agent committed to the
/// pool but was killed before it wrote the endpoint and answered. Such a record
/// is taken back by the pod's next ADD (same pod UID and NIC).
fn consistent_but(node: &Node, pools: &[&str], unanswered: &[String]) -> BTreeMap<String, String> {
    let eps = node.endpoint_ips();
    let mut by_ip: BTreeMap<String, String> = BTreeMap::new();
    let mut by_pod: BTreeMap<String, String> = BTreeMap::new();
    for (pod, ip) in &eps {
        if let Some(other) = by_ip.insert(ip.clone(), pod.clone()) {
            panic!("{ip} held by both {other} and {pod}");
        }
        assert!(by_pod.insert(pod.clone(), ip.clone()).is_none(), "{pod} holds two addresses");
    }
    let mut allocated = BTreeMap::new();
    for pool in pools {
        for (ip, pod) in node.allocated(pool) {
            assert!(allocated.insert(ip.clone(), pod).is_none(), "{ip} in two pools");
        }
    }
    let from_eps: BTreeMap<String, String> = by_ip
        .iter()
        .map(|(ip, pod)| (ip.split('/').next().unwrap().to_string(), format!("default/{pod}")))
        .collect();
    let orphans: BTreeMap<String, String> = allocated
        .iter()
        .filter(|(ip, pod)| from_eps.get(*ip) != Some(*pod))
        .map(|(ip, pod)| (ip.clone(), pod.clone()))
        .collect();
    for (ip, pod) in &orphans {
        let name = pod.strip_prefix("default/").unwrap_or(pod);
        assert!(
            unanswered.iter().any(|u| u == name) && !by_pod.contains_key(name),
            "{ip}: pool record for {pod} without a matching endpoint"
        );
    }
    for (ip, pod) in &from_eps {
        assert_eq!(allocated.get(ip), Some(pod), "{ip}: endpoint of {pod} not in {pools:?}");
    }
    if !orphans.is_empty() {
        eprintln!("pool records of unanswered ADDs: {orphans:?}");
    }
    by_pod
}

#[test]
fn sigkill_during_200_concurrent_adds_loses_nothing_and_duplicates_nothing() {
    let started = Instant::now();
    let mut node = Node::new();
    node.start();
    node.pool("big", "10.20.0.0/22", "10.20.3.255", "10.20.0.1-10.20.3.254");
    let conf = node.conf(&["big"]);

    let first = pods("burst", 200);
    let done = Arc::new(AtomicUsize::new(0));
    let handles = burst("ADD", first.clone(), &conf, done.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::SeqCst) < 50 {
        assert!(Instant::now() < deadline, "50 ADDs did not return in 30 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    node.kill();
    let returned_at_kill = done.load(Ordering::SeqCst);
    let results: Vec<(String, Out)> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let mut succeeded: BTreeMap<String, String> = BTreeMap::new();
    let mut failed = Vec::new();
    for (pod, out) in &results {
        if out.code == 0 {
            succeeded.insert(pod.clone(), out.address());
        } else {
            // A failed ADD is a CNI error on stdout, never a crash.
            assert_eq!(out.code, 1, "{pod}: {} / {}", out.stdout, out.stderr);
            assert!(out.json()["code"].as_u64().is_some(), "{pod}: {}", out.stdout);
            if std::env::var_os("SP_FAULT_DEBUG").is_some() {
                eprintln!("{pod}: {}", out.json()["msg"]);
            }
            failed.push(pod.clone());
        }
    }
    let distinct: BTreeSet<&String> = succeeded.values().collect();
    assert_eq!(distinct.len(), succeeded.len(), "two successful ADDs got the same address");
    assert!(succeeded.len() >= 50, "only {} ADDs succeeded", succeeded.len());
    eprintln!(
        "killed after {returned_at_kill} returned; {} succeeded, {} failed",
        succeeded.len(),
        failed.len()
    );

    // Restart on the same data dir (the stale socket is replaced).
    node.start();
    let held = consistent_but(&node, &["big"], &failed);
    for (pod, addr) in &succeeded {
        assert_eq!(held.get(pod), Some(addr), "{pod} lost its address after the restart");
    }
    // Repeating the ADD of every successful pod returns the same address.
    let done = Arc::new(AtomicUsize::new(0));
    let again = burst("ADD", succeeded.keys().cloned().collect(), &conf, done);
    for h in again {
        let (pod, out) = h.join().unwrap();
        assert_eq!(&out.address(), &succeeded[&pod], "{pod}: repeated ADD after restart");
    }
    // The failed ones retry (as the runtime would) and get distinct addresses.
    let done = Arc::new(AtomicUsize::new(0));
    for h in burst("ADD", failed.clone(), &conf, done) {
        let (pod, out) = h.join().unwrap();
        assert_eq!(out.code, 0, "{pod}: retry: {} / {}", out.stdout, out.stderr);
    }
    let held = consistent(&node, &["big"]);
    assert_eq!(held.len(), 200, "{held:?}");

    // DEL everything, concurrently. A DEL the busy agent does not answer
    // within the plugin's 1.5 s bound is journaled (and still succeeds).
    let done = Arc::new(AtomicUsize::new(0));
    for h in burst("DEL", first.clone(), &conf, done) {
        let (pod, out) = h.join().unwrap();
        assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{pod}: DEL: {} ", out.stderr);
        assert!(out.elapsed < Duration::from_secs(2), "{pod}: DEL took {:?}", out.elapsed);
    }
    let journaled: BTreeSet<String> = std::fs::read_to_string(node.journal())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["podName"].as_str().unwrap().into())
        .collect();
    // Not `consistent`: a DEL cut off by the plugin's bound may have freed the
    // pool record but not yet deleted the endpoint; the replay finishes it.
    let left: BTreeMap<String, String> = node.endpoint_ips().into_iter().collect();
    for pod in left.keys() {
        assert!(journaled.contains(pod), "{pod}: DEL succeeded but neither released nor journaled");
    }
    eprintln!("{} DELs journaled, {} still held until the replay", journaled.len(), left.len());
    // Another SIGKILL and restart: the replay frees what was journaled.
    node.kill();
    node.start();
    assert!(node.endpoint_ips().is_empty(), "{:?}", node.endpoint_ips());
    assert!(node.allocated("big").is_empty());
    assert!(!node.journal().exists(), "journal not consumed: {}", node.log());

    // A fresh batch: 200 distinct addresses.
    let done = Arc::new(AtomicUsize::new(0));
    let mut fresh = BTreeSet::new();
    for h in burst("ADD", pods("fresh", 200), &conf, done) {
        let (_, out) = h.join().unwrap();
        assert!(fresh.insert(out.address()), "duplicate address in the fresh batch");
    }
    assert_eq!(consistent(&node, &["big"]).len(), 200);
    eprintln!("whole fault run in {:?}", started.elapsed());
}

#[test]
fn del_while_the_agent_is_down_succeeds_fast_and_the_restart_frees_the_address() {
    let mut node = Node::new();
    node.start();
    node.pool("10-6-v4", "10.6.0.0/16", "10.6.0.1", "10.6.212.200-10.6.212.240");
    let conf = node.conf(&["10-6-v4"]);
    assert_eq!(plugin("ADD", "nginx-1", &conf).address(), "10.6.212.200/16");
    assert_eq!(plugin("ADD", "nginx-2", &conf).address(), "10.6.212.201/16");
    node.kill();
    // SIGKILL left the socket file: connecting is refused.
    assert!(node.socket().exists());
    let d = plugin("DEL", "nginx-1", &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""), "{}", d.stderr);
    assert!(d.elapsed < Duration::from_secs(2), "{:?}", d.elapsed);
    // No socket file at all.
    std::fs::remove_file(node.socket()).unwrap();
    let d = plugin("DEL", "nginx-2", &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""), "{}", d.stderr);
    assert!(d.elapsed < Duration::from_secs(2), "{:?}", d.elapsed);
    let journal = std::fs::read_to_string(node.journal()).unwrap();
    assert_eq!(journal.lines().count(), 2, "{journal}");

    // The agent replays the journal before serving.
    node.start();
    assert!(!node.journal().exists(), "journal not consumed: {}", node.log());
    assert!(node.endpoint_ips().is_empty(), "{:?}", node.endpoint_ips());
    assert!(node.allocated("10-6-v4").is_empty());
    assert_eq!(plugin("ADD", "nginx-3", &conf).address(), "10.6.212.200/16");
    // A second DEL of a released pod is still a success.
    let d = plugin("DEL", "nginx-1", &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""), "{}", d.stderr);
}

#[test]
fn a_del_journaled_while_the_agent_serves_is_replayed_without_a_restart() {
    let mut node = Node::new();
    node.start_with(&["--release-journal-interval", "1"]);
    node.pool("10-6-v4", "10.6.0.0/16", "10.6.0.1", "10.6.212.200-10.6.212.240");
    let conf = node.conf(&["10-6-v4"]);
    assert_eq!(plugin("ADD", "nginx-1", &conf).address(), "10.6.212.200/16");
    assert_eq!(plugin("ADD", "nginx-2", &conf).address(), "10.6.212.201/16");
    // The plugin cannot reach the agent (as when it is too slow to answer):
    // DEL succeeds and journals; the running agent replays it on its own.
    let mut unreachable = conf.clone();
    unreachable["ipam"]["ipam_unix_socket_path"] = json!(node.dir.0.join("run/elsewhere.sock"));
    let d = plugin("DEL", "nginx-1", &unreachable);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""), "{}", d.stderr);
    assert!(node.journal().exists(), "the DEL was not journaled");
    let staging = spiderpool_bin::agent::journal_staging_path(&node.journal());
    // The replay releases, then removes its staging file: wait for both.
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.allocated("10-6-v4").len() != 1 || node.journal().exists() || staging.exists() {
        assert!(Instant::now() < deadline, "journal not replayed in 10 s: {}", node.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let held: Vec<String> = node.allocated("10-6-v4").into_keys().collect();
    assert_eq!(held, ["10.6.212.201"]);
    // The agent kept serving: the freed address is handed out again.
    assert_eq!(plugin("ADD", "nginx-3", &conf).address(), "10.6.212.200/16");
}

/// The detection flags of the agent binary reach the plugin: every address
/// of the answer carries them.
#[test]
fn the_agents_detection_flags_are_stamped_into_each_address() {
    let mut node = Node::new();
    node.start_with(&[
        "--release-journal-interval",
        "0",
        "--enable-ip-conflict-detection",
        "true",
        "--enable-gateway-detection",
        "true",
    ]);
    node.pool("10-6-v4", "10.6.0.0/16", "10.6.0.1", "10.6.212.200-10.6.212.240");
    let answer = node
        .call(
            "POST",
            "/v1/ipam/ip",
            &json!({"containerID": "c1", "ifName": "net1", "netNamespace": "/var/run/netns/p1",
                    "podNamespace": "default",
                    "podName": "p1", "podUID": "u1", "defaultIPv4IPPool": ["10-6-v4"]}),
        )
        .unwrap();
    assert_eq!(answer["ips"][0]["enableIPConflictDetection"], true, "{answer}");
    assert_eq!(answer["ips"][0]["enableGatewayDetection"], true, "{answer}");
}

#[test]
fn an_exhausted_pool_fails_naming_every_pool_tried() {
    let mut node = Node::new();
    node.start();
    node.pool("pool-a", "10.6.0.0/16", "10.6.0.1", "10.6.212.200");
    node.pool("pool-b", "10.6.0.0/16", "10.6.0.1", "10.6.212.201");
    let conf = node.conf(&["pool-a", "pool-b"]);
    assert_eq!(plugin("ADD", "p1", &conf).address(), "10.6.212.200/16");
    assert_eq!(plugin("ADD", "p2", &conf).address(), "10.6.212.201/16");
    let e = plugin("ADD", "p3", &conf);
    assert_eq!(e.code, 1, "{} / {}", e.stdout, e.stderr);
    let err = e.json();
    assert_eq!(err["code"], 100, "{err}");
    let msg = err["msg"].as_str().unwrap();
    assert!(msg.contains("pool-a") && msg.contains("pool-b"), "{msg}");
    // Nothing was half-allocated for the failed pod, and the holders are unchanged.
    let held = consistent(&node, &["pool-a", "pool-b"]);
    assert_eq!(held.get("p1").map(String::as_str), Some("10.6.212.200/16"));
    assert!(!held.contains_key("p3"));
    assert_eq!(node.allocated("pool-b").len(), 1);
    // The error survives a restart the same way; after a DEL the pod fits.
    node.kill();
    node.start();
    let e = plugin("ADD", "p3", &conf);
    assert_eq!(e.json()["code"], 100, "{}", e.stdout);
    assert_eq!(plugin("DEL", "p1", &conf).code, 0);
    assert_eq!(plugin("ADD", "p3", &conf).address(), "10.6.212.200/16");
}
