//! The `spiderpool` IPAM plugin run as a process with CNI environment against
//! an in-process agent (MemoryStore) on a temp socket. `CNI_NETNS` names a
//! namespace that does not exist: the address announcement (and probes, which
//! these agents never ask for) cannot open it, which is logged and skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spiderpool_bin::agent::{Agent, AgentConfig, replay_release_journal};
use spiderpool_bin::agent_client::request_json;
use spiderpool_core::store::MemoryStore;

mod agent_harness;

use agent_harness::{Dir, Serving, serve_agent};

struct Env {
    dir: Dir,
    agent: Arc<Agent<MemoryStore>>,
    serving: Option<Serving>,
}

impl Env {
    fn start() -> Env {
        let dir = Dir::new("sp-ipam-plugin");
        let agent = Arc::new(Agent::new(
            MemoryStore::new(),
            AgentConfig { node_name: "node1".into(), ..AgentConfig::default() },
        ));
        let serving = Some(serve_agent(agent.clone(), &dir.0.join("run/agent.sock")));
        Env { dir, agent, serving }
    }

    fn socket(&self) -> PathBuf {
        self.dir.0.join("run/agent.sock")
    }

    fn journal(&self) -> PathBuf {
        self.dir.0.join("lib/release-journal.jsonl")
    }

    fn stop(&mut self) {
        self.serving = None;
    }

    fn restart(&mut self) {
        self.serving = Some(serve_agent(self.agent.clone(), &self.socket()));
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Result<Option<Value>, String> {
        request_json(&self.socket(), method, path, body, Duration::from_secs(10))
            .map_err(|e| e.to_string())
    }

    fn apply(&self, obj: Value) {
        self.call("PUT", "/v1/admin/objects", &obj).unwrap();
    }

    fn pool(&self, name: &str, ips: &str) {
        self.apply(json!({
            "apiVersion": "spiderpool.spidernet.io/v2beta1",
            "kind": "SpiderIPPool",
            "metadata": {"name": name},
            "spec": {"gateway": "10.6.0.1", "ips": [ips], "subnet": "10.6.0.0/16"}
        }));
    }

    fn conf(&self, version: &str, pools: &[&str]) -> Value {
        json!({
            "cniVersion": version,
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

    /// The endpoint's addresses for `pod` (empty when it has none).
    fn held(&self, pod: &str) -> Vec<String> {
        match self.call(
            "GET",
            &format!("/v1/workloadendpoint?podNamespace=default&podName={pod}"),
            &Value::Null,
        ) {
            Ok(Some(w)) => w["interfaces"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|i| i["ipv4"].as_str().map(str::to_string))
                .collect(),
            Ok(None) => panic!("no agent"),
            Err(e) if e.contains("HTTP 404") => Vec::new(),
            Err(e) => panic!("{e}"),
        }
    }
}

struct Out {
    code: i32,
    stdout: String,
    elapsed: Duration,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

fn plugin(command: &str, pod: &str, ifname: &str, conf: &Value) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spiderpool"));
    cmd.env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !pod.is_empty() {
        cmd.env("CNI_CONTAINERID", format!("ctr-{pod}"))
            .env("CNI_NETNS", format!("/var/run/netns/{pod}"))
            .env("CNI_IFNAME", ifname)
            .env(
                "CNI_ARGS",
                format!(
                    "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod};K8S_POD_UID=uid-{pod}"
                ),
            );
    }
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(conf).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        elapsed: started.elapsed(),
    }
}

#[test]
fn add_returns_this_nics_address_repeat_is_stable_del_frees_twice() {
    let env = Env::start();
    env.pool("10-6-v4", "10.6.212.200-10.6.212.240");
    let conf = env.conf("1.0.0", &["10-6-v4"]);
    let a = plugin("ADD", "nginx-1", "net1", &conf);
    assert_eq!(a.code, 0, "{}", a.stdout);
    assert_eq!(
        a.json(),
        json!({
            "cniVersion": "1.0.0",
            "ips": [{"address": "10.6.212.200/16", "gateway": "10.6.0.1"}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.6.0.1"}]
        })
    );
    // An older version gets the `version` key; the second pod the next address.
    let b = plugin("ADD", "nginx-2", "net1", &env.conf("0.3.1", &["10-6-v4"]));
    assert_eq!(b.code, 0, "{}", b.stdout);
    assert_eq!(
        b.json()["ips"][0],
        json!({"version": "4", "address": "10.6.212.201/16", "gateway": "10.6.0.1"})
    );
    // Repeated ADD: same answer.
    let again = plugin("ADD", "nginx-1", "net1", &conf);
    assert_eq!(again.json(), a.json());
    assert_eq!(env.held("nginx-1"), ["10.6.212.200/16"]);

    let d = plugin("DEL", "nginx-1", "net1", &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""));
    assert!(env.held("nginx-1").is_empty());
    let d = plugin("DEL", "nginx-1", "net1", &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""));
    assert!(!env.journal().exists(), "nothing journaled while the agent answers");
    let c = plugin("ADD", "nginx-3", "net1", &conf);
    assert_eq!(c.json()["ips"][0]["address"], "10.6.212.200/16");
    // The log file got lines; stdout carried only the result.
    let log = std::fs::read_to_string(env.dir.0.join("log/spiderpool.log")).unwrap();
    assert!(
        log.contains("ADD default/nginx-1 ctr-nginx-1 net1 allocated [10.6.212.200/16]"),
        "{log}"
    );
}

#[test]
fn add_fails_with_the_agents_message_when_no_pool_has_room() {
    let env = Env::start();
    env.pool("pool-a", "10.6.212.200");
    env.pool("pool-b", "10.6.212.201");
    let conf = env.conf("1.1.0", &["pool-a", "pool-b"]);
    // One address each: the first pod gets pool-a's, the second pool-b's.
    assert_eq!(plugin("ADD", "p1", "net1", &conf).code, 0);
    assert_eq!(plugin("ADD", "p2", "net1", &conf).code, 0);
    let e = plugin("ADD", "p3", "net1", &conf);
    assert_eq!(e.code, 1);
    let err = e.json();
    assert_eq!(err["code"], 100, "{err}");
    let msg = err["msg"].as_str().unwrap();
    assert!(msg.contains("pool-a") && msg.contains("pool-b"), "{msg}");
    assert!(!msg.starts_with('"'), "the agent's JSON string is decoded: {msg}");
}

#[test]
fn pod_route_errors_name_the_pod_and_the_request_once() {
    let env = Env::start();
    env.pool("pool-a", "10.6.212.200");
    env.apply(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p1",
            "namespace": "default",
            "uid": "uid-p1",
            "annotations": {"ipam.spidernet.io/routes": "[{\"dst\":\"10.10.0.0/16\",\"gw\":\"bad\"}]"}
        }
    }));
    let e = plugin("ADD", "p1", "net1", &env.conf("1.0.0", &["pool-a"]));
    assert_eq!(e.code, 1);
    let err = e.json();
    assert_eq!(err["code"], 100, "{err}");
    assert_eq!(
        err["msg"],
        "allocate for pod default/p1: ipam.spidernet.io/routes: item 0: gw \"bad\" is not an IP address"
    );
    assert_eq!(err["details"], "agent POST /v1/ipam/ip: HTTP 500");
}

#[test]
fn add_without_an_agent_fails_naming_the_socket() {
    let env = Env::start();
    let mut conf = env.conf("1.0.0", &["10-6-v4"]);
    conf["ipam"]["ipam_unix_socket_path"] = json!(env.dir.0.join("none.sock"));
    let e = plugin("ADD", "p1", "net1", &conf);
    assert_eq!(e.code, 1);
    assert_eq!(e.json()["code"], 101);
    assert!(e.json()["msg"].as_str().unwrap().contains("none.sock"), "{}", e.stdout);
}

/// ADD sends no health check first: a socket nobody listens on (an agent
/// that died and left it) fails the allocation itself, naming the request
/// and the socket error.
#[test]
fn add_with_a_dead_agent_socket_fails_naming_the_request() {
    let env = Env::start();
    let dead = env.dir.0.join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    assert!(dead.exists());
    let mut conf = env.conf("1.0.0", &["10-6-v4"]);
    conf["ipam"]["ipam_unix_socket_path"] = json!(dead);
    let e = plugin("ADD", "p1", "net1", &conf);
    assert_eq!(e.code, 1);
    assert_eq!(e.json()["code"], 101, "{}", e.stdout);
    let msg = e.json()["msg"].as_str().unwrap().to_string();
    assert!(msg.starts_with("POST /v1/ipam/ip: agent socket "), "{msg}");
    assert!(msg.contains("dead.sock: connect: Connection refused"), "{msg}");
}

#[test]
fn del_without_the_agent_is_journaled_and_replayed_at_start() {
    let mut env = Env::start();
    env.pool("10-6-v4", "10.6.212.200-10.6.212.240");
    let conf = env.conf("1.0.0", &["10-6-v4"]);
    assert_eq!(plugin("ADD", "nginx-1", "net1", &conf).code, 0);
    assert_eq!(plugin("ADD", "nginx-2", "net1", &conf).code, 0);
    env.stop();

    // No socket at all.
    let d = plugin("DEL", "nginx-1", "net1", &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""));
    assert!(d.elapsed < Duration::from_secs(2), "{:?}", d.elapsed);
    // A socket that accepts connections but never answers.
    let _hung = std::os::unix::net::UnixListener::bind(env.socket()).unwrap();
    let d = plugin("DEL", "nginx-2", "net1", &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""));
    assert!(d.elapsed < Duration::from_secs(2), "{:?}", d.elapsed);
    drop(_hung);

    let lines: Vec<Value> = std::fs::read_to_string(env.journal())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["containerID"], "ctr-nginx-1");
    assert_eq!(lines[0]["podName"], "nginx-1");
    assert_eq!(lines[0]["podUID"], "uid-nginx-1");

    // The agent starts: it replays the journal, then serves.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcome = rt.block_on(replay_release_journal(&env.agent, &env.journal())).unwrap();
    assert_eq!((outcome.released, outcome.kept), (2, 0));
    assert!(!env.journal().exists());
    env.restart();
    assert!(env.held("nginx-1").is_empty());
    assert!(env.held("nginx-2").is_empty());
    let c = plugin("ADD", "nginx-3", "net1", &conf);
    assert_eq!(c.json()["ips"][0]["address"], "10.6.212.200/16");
}

#[test]
fn replay_drops_undecodable_and_incomplete_lines() {
    let env = Env::start();
    env.pool("10-6-v4", "10.6.212.200-10.6.212.240");
    std::fs::create_dir_all(env.journal().parent().unwrap()).unwrap();
    let bad =
        r#"{"containerID":"c","ifName":"net1","podNamespace":"default","podName":"","podUID":"u"}"#;
    let good = r#"{"containerID":"c","ifName":"net1","podNamespace":"default","podName":"gone","podUID":"u"}"#;
    std::fs::write(env.journal(), format!("{good}\nnot json\n{bad}\n")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcome = rt.block_on(replay_release_journal(&env.agent, &env.journal())).unwrap();
    assert_eq!((outcome.released, outcome.kept), (1, 0), "{outcome:?}");
    assert_eq!(outcome.invalid.len(), 2, "{outcome:?}");
    assert!(outcome.invalid[0].starts_with("line 2:"), "{outcome:?}");
    assert!(outcome.invalid[1].contains("line 3: IpamDelArgs: field podName"), "{outcome:?}");
    assert!(!env.journal().exists());
    // A missing journal is an empty one.
    let outcome = rt.block_on(replay_release_journal(&env.agent, &env.journal())).unwrap();
    assert_eq!(outcome, Default::default());
}

#[test]
fn status_is_50_without_the_agent_and_0_with_it() {
    let mut env = Env::start();
    let conf = env.conf("1.1.0", &["10-6-v4"]);
    let s = plugin("STATUS", "", "", &conf);
    assert_eq!((s.code, s.stdout.as_str()), (0, ""));
    env.stop();
    let s = plugin("STATUS", "", "", &conf);
    assert_eq!(s.code, 1);
    assert_eq!(s.json()["code"], 50, "{}", s.stdout);
    assert!(s.json()["msg"].as_str().unwrap().contains("agent.sock"), "{}", s.stdout);
}

#[test]
fn gc_releases_attachments_not_listed_and_keeps_listed_ones() {
    let env = Env::start();
    env.pool("10-6-v4", "10.6.212.200-10.6.212.240");
    let conf = env.conf("1.1.0", &["10-6-v4"]);
    for pod in ["keep", "stale"] {
        assert_eq!(plugin("ADD", pod, "net1", &conf).code, 0);
    }
    // Without the key nothing is released.
    let g = plugin("GC", "", "", &conf);
    assert_eq!((g.code, g.stdout.as_str()), (0, ""));
    assert_eq!(env.held("stale"), ["10.6.212.201/16"]);

    // A container with any valid attachment is kept whole (the agent releases
    // per pod and container, every NIC at once).
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([
        {"containerID": "ctr-keep", "ifname": "net2"},
        {"containerID": "ctr-stale", "ifname": "net2"}
    ]);
    let g = plugin("GC", "", "", &gc);
    assert_eq!((g.code, g.stdout.as_str()), (0, ""));
    assert_eq!(env.held("stale"), ["10.6.212.201/16"]);
    // A network without default pools releases nothing either.
    let mut no_pools = env.conf("1.1.0", &[]);
    no_pools["cni.dev/valid-attachments"] = json!([]);
    assert_eq!(plugin("GC", "", "", &no_pools).code, 0);
    assert_eq!(env.held("stale"), ["10.6.212.201/16"]);

    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr-keep", "ifname": "net1"}]);
    let g = plugin("GC", "", "", &gc);
    assert_eq!((g.code, g.stdout.as_str()), (0, ""));
    assert_eq!(env.held("keep"), ["10.6.212.200/16"]);
    assert!(env.held("stale").is_empty());
}

/// Issue 9 item 5: with one pool used by two networks, `GC` of `neta` whose
/// `cni.dev/valid-attachments` lists only `neta`'s attachments released
/// `netb`'s container. GC of a network releases only that network's records;
/// records made before networks were recorded are never collected by CNI GC.
#[test]
fn gc_of_one_network_never_releases_another_networks_or_legacy_records() {
    let env = Env::start();
    env.pool("10-6-v4", "10.6.212.200-10.6.212.240");
    let mut neta = env.conf("1.1.0", &["10-6-v4"]);
    neta["name"] = json!("neta");
    let mut netb = neta.clone();
    netb["name"] = json!("netb");
    for (pod, conf) in [("a-live", &neta), ("a-gone", &neta), ("b-live", &netb)] {
        let add = plugin("ADD", pod, "net1", conf);
        assert_eq!(add.code, 0, "{pod}: {}", add.stdout);
    }
    // A record from before the change: an ADD without a network, as an older
    // plugin sends it.
    let legacy = json!({
        "containerID": "ctr-legacy", "ifName": "net1", "netNamespace": "/var/run/netns/legacy",
        "podNamespace": "default", "podName": "legacy", "podUID": "uid-legacy",
        "defaultIPv4IPPool": ["10-6-v4"],
    });
    env.call("POST", "/v1/ipam/ip", &legacy).unwrap();
    let records = env.call("GET", "/v1/admin/objects/sp/_/10-6-v4", &Value::Null).unwrap().unwrap();
    let records: Value =
        serde_json::from_str(records["status"]["allocatedIPs"].as_str().unwrap()).unwrap();
    let network_of = |pod: &str| {
        let (_, rec) = records
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, r)| r["pod"] == format!("default/{pod}"))
            .unwrap();
        rec.get("network").cloned()
    };
    assert_eq!(network_of("a-live"), Some(json!("neta")));
    assert_eq!(network_of("b-live"), Some(json!("netb")));
    assert_eq!(network_of("legacy"), None, "no key for a record without network");

    let mut gc = neta.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr-a-live", "ifname": "net1"}]);
    let g = plugin("GC", "", "", &gc);
    assert_eq!((g.code, g.stdout.as_str()), (0, ""));
    assert_eq!(env.held("a-live"), ["10.6.212.200/16"]);
    assert!(env.held("a-gone").is_empty(), "neta's unlisted container is released");
    assert_eq!(env.held("b-live"), ["10.6.212.202/16"], "netb's container is not neta's to free");
    assert_eq!(env.held("legacy"), ["10.6.212.203/16"], "a record without network is kept");
}

#[test]
fn check_passes_for_the_allocation_and_fails_on_a_mismatch() {
    let env = Env::start();
    env.pool("10-6-v4", "10.6.212.200-10.6.212.240");
    let conf = env.conf("1.1.0", &["10-6-v4"]);
    let a = plugin("ADD", "nginx-1", "net1", &conf);
    assert_eq!(a.code, 0, "{}", a.stdout);
    let mut check = conf.clone();
    check["prevResult"] = a.json();
    let c = plugin("CHECK", "nginx-1", "net1", &check);
    assert_eq!((c.code, c.stdout.as_str()), (0, ""));

    check["prevResult"]["ips"][0]["address"] = json!("10.6.212.230/16");
    let c = plugin("CHECK", "nginx-1", "net1", &check);
    assert_eq!(c.code, 1);
    assert_eq!(c.json()["code"], 103, "{}", c.stdout);
    assert!(c.json()["msg"].as_str().unwrap().contains("10.6.212.200/16"), "{}", c.stdout);

    // After DEL the allocation is gone.
    assert_eq!(plugin("DEL", "nginx-1", "net1", &conf).code, 0);
    check["prevResult"] = a.json();
    let c = plugin("CHECK", "nginx-1", "net1", &check);
    assert_eq!(c.code, 1, "{}", c.stdout);
}

#[test]
fn the_agent_binary_replays_the_journal_before_serving() {
    let dir = Dir::new("sp-ipam-plugin");
    let journal = dir.0.join("journal.jsonl");
    let socket = dir.0.join("agent.sock");
    std::fs::write(
        &journal,
        "{\"containerID\":\"c\",\"ifName\":\"net1\",\"podNamespace\":\"default\",\"podName\":\"gone\",\"podUID\":\"u\"}\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spiderpool-agent"))
        .args(["--store", "memory", "--node-name", "node1", "--health-port", "0", "--socket"])
        .arg(&socket)
        .arg("--release-journal")
        .arg(&journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The socket is bound before the replay, but answered only after it.
    let answers = || {
        matches!(
            request_json(&socket, "GET", "/v1/ipam/healthy", &json!({}), Duration::from_secs(2)),
            Ok(Some(_))
        )
    };
    let started = Instant::now();
    while !answers() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let serving = answers();
    let journal_left = journal.exists();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    // The agent's structured log goes to stdout.
    let log =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(serving, "the agent did not start: {log}");
    assert!(!journal_left, "the journal was not replayed: {log}");
    assert!(log.contains("release journal replayed"), "{log}");
}
