//! `spiderpoolctl` against an in-process agent (MemoryStore) on a temp socket:
//! the built binary is run with `--socket`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use spiderpool_bin::agent::{Agent, AgentConfig};
use spiderpool_bin::agent_client::request_json;
use spiderpool_core::store::MemoryStore;

mod agent_harness;

use agent_harness::{Dir, Serving, serve_agent};

struct Server {
    socket: PathBuf,
    // Dropped in this order: stop serving, then remove the directory.
    _serving: Serving,
    dir: Dir,
}

impl Server {
    fn start() -> Self {
        let dir = Dir::new("sp-ctl-agent");
        let socket = dir.path().join("spiderpool.sock");
        let config = AgentConfig { node_name: "worker-01".into(), ..AgentConfig::default() };
        let agent = Arc::new(Agent::new(MemoryStore::new(), config));
        let serving = serve_agent(agent, &socket);
        Server { socket, _serving: serving, dir }
    }

    fn ctl(&self, args: &[&str]) -> Run {
        ctl_at(&self.socket, args, None)
    }

    fn ctl_stdin(&self, args: &[&str], stdin: &str) -> Run {
        ctl_at(&self.socket, args, Some(stdin))
    }

    fn agent(&self, method: &str, path: &str, body: Value) -> Value {
        request_json(&self.socket, method, path, &body, Duration::from_secs(10)).unwrap().unwrap()
    }
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ctl_at(socket: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spiderpoolctl"));
    cmd.arg("--socket").arg(socket).args(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The SpiderIPPool and SpiderMultusConfig of Spiderpool's Cilium quick start.
const QUICK_START: &str = r#"apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: 10-6-v4
spec:
  disable: false
  gateway: 10.6.0.1
  ips:
  - 10.6.212.200-10.6.212.240
  subnet: 10.6.0.0/16
---
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderMultusConfig
metadata:
  name: macvlan-ens192
  namespace: kube-system
spec:
  cniType: macvlan
  macvlan:
    master:
    - ens192
    ippools:
      ipv4:
      - 10-6-v4
    vlanID: 0
"#;

fn add_args(pod: &str, uid: &str) -> Value {
    json!({
        "containerID": format!("ctr-{pod}"),
        "ifName": "net1",
        "netNamespace": format!("/var/run/netns/{pod}"),
        "podNamespace": "default",
        "podName": pod,
        "podUID": uid,
        "defaultIPv4IPPool": ["10-6-v4"],
    })
}

#[test]
fn quick_start_apply_get_describe_release_delete() {
    let server = Server::start();
    let run = server.ctl_stdin(&["apply", "-f", "-"], QUICK_START);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "spiderippool.spiderpool.spidernet.io/10-6-v4 created\n\
         spidermultusconfig.spiderpool.spidernet.io/macvlan-ens192 created\n"
    );
    let run = server.ctl_stdin(&["apply", "-f", "-"], QUICK_START);
    assert!(
        run.stdout.starts_with("spiderippool.spiderpool.spidernet.io/10-6-v4 configured\n"),
        "{run:?}"
    );

    let run = server.ctl(&["get", "sp"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "NAME      VERSION   SUBNET        ALLOCATED-IP-COUNT   TOTAL-IP-COUNT   DEFAULT   STATUS\n\
         10-6-v4   4         10.6.0.0/16   0                    41               false     Active\n"
    );
    let run = server.ctl(&["get", "ippools", "-o", "wide"]);
    assert!(run.stdout.starts_with("NAME      VERSION   SUBNET        ALLOCATED-IP-COUNT   TOTAL-IP-COUNT   DEFAULT   STATUS   DISABLE   NODENAME   MULTUSNAME   APP-NAMESPACE\n"), "{run:?}");
    let run = server.ctl(&["get", "smc", "-n", "kube-system"]);
    assert!(run.stdout.contains("macvlan-ens192   macvlan   [\"ens192\"]"), "{run:?}");
    let run = server.ctl(&["get", "se"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
    assert_eq!(run.stderr, "No resources found in default namespace.\n");

    for (pod, uid) in [("nginx-1", "uid-1"), ("nginx-2", "uid-2")] {
        let a = server.agent("POST", "/v1/ipam/ip", add_args(pod, uid));
        assert!(a["ips"][0]["address"].as_str().unwrap().starts_with("10.6.212.20"), "{a}");
    }
    let run = server.ctl(&["get", "se"]);
    assert_eq!(
        run.stdout,
        "NAME      INTERFACE   IPV4POOL   IPV4              IPV6POOL   IPV6   NODE\n\
         nginx-1   net1        10-6-v4    10.6.212.200/16                     worker-01\n\
         nginx-2   net1        10-6-v4    10.6.212.201/16                     worker-01\n",
        "{run:?}"
    );
    let run = server.ctl(&["get", "endpoints", "-A"]);
    assert!(run.stdout.starts_with("NAMESPACE   NAME      INTERFACE"), "{run:?}");
    assert!(run.stdout.contains("default     nginx-2   net1"), "{run:?}");

    let run = server.ctl(&["get", "se", "-o", "json"]);
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][1]["status"]["current"]["ips"][0]["ipv4"], "10.6.212.201/16");
    let run = server.ctl(&["get", "sp", "10-6-v4", "-o", "yaml"]);
    let pool: Value = serde_saphyr::from_str(&run.stdout).unwrap();
    assert_eq!(pool["status"]["allocatedIPCount"], 2, "{run:?}");
    let run = server.ctl(&["get", "sp", "-o", "yaml"]);
    let pools: Value = serde_saphyr::from_str(&run.stdout).unwrap();
    assert_eq!(pools["kind"], "List", "{run:?}");

    let run = server.ctl(&["describe", "sp", "10-6-v4"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("Name:         10-6-v4\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Usage:        [--------------------] 2/41 (4%)\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("10.6.212.200   default/nginx-1   uid-1"), "{}", run.stdout);
    assert!(run.stdout.contains("10.6.212.201   default/nginx-2   uid-2"), "{}", run.stdout);

    // release with another pod UID frees nothing; with none it frees
    // nginx-1's address: the next pod gets .200 again.
    let run = server.ctl(&["release", "--pod", "default/nginx-1", "--uid", "other-uid"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "pod default/nginx-1: nothing released\n\
         pod default/nginx-1: still holds 10.6.212.200/16 (net1, pool 10-6-v4)\n"
    );
    let run = server.ctl(&["describe", "sp", "10-6-v4"]);
    assert!(run.stdout.contains("2/41"), "{}", run.stdout);
    let run = server.ctl(&["release", "--pod", "default/nginx-1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "pod default/nginx-1: released 10.6.212.200/16 (net1, pool 10-6-v4)\n");
    let run = server.ctl(&["describe", "sp", "10-6-v4"]);
    assert!(run.stdout.contains("1/41"), "{}", run.stdout);
    assert!(!run.stdout.contains("nginx-1"), "{}", run.stdout);
    let a = server.agent("POST", "/v1/ipam/ip", add_args("nginx-3", "uid-3"));
    assert_eq!(a["ips"][0]["address"], "10.6.212.200/16");

    // Deleting the pool while nginx-2 and nginx-3 hold addresses: it stays,
    // terminating, and shows it.
    let run = server.ctl(&["delete", "sp", "10-6-v4"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "spiderippool.spiderpool.spidernet.io \"10-6-v4\" deleted (terminating until its 2 allocated address(es) are released)\n"
    );
    let run = server.ctl(&["get", "sp"]);
    assert!(run.stdout.contains("41               false     Terminating\n"), "{run:?}");
    let run = server.ctl(&["describe", "sp", "10-6-v4"]);
    assert!(run.stdout.contains("until its 2 allocated addresses are released"), "{run:?}");
    let run = server.ctl_stdin(&["apply", "-f", "-"], QUICK_START);
    assert_eq!(run.code, 1, "re-applying a terminating pool is refused: {run:?}");
    assert!(run.stderr.contains("cannot update a terminating IPPool"), "{run:?}");

    // delete, then NotFound.
    let run = server.ctl(&["delete", "smc", "macvlan-ens192", "-n", "kube-system"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "spidermultusconfig.spiderpool.spidernet.io \"macvlan-ens192\" deleted\n"
    );
    let run = server.ctl(&["get", "smc", "macvlan-ens192", "-n", "kube-system"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "Error from server (NotFound): SpiderMultusConfig kube-system/macvlan-ens192 not found\n"
    );
    let run = server.ctl(&["release", "--pod", "nginx-1"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--pod: \"nginx-1\" is not NAMESPACE/NAME"), "{run:?}");
    let run = server.ctl(&["describe", "sp", "nope"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("Error from server (NotFound): "), "{run:?}");
}

#[test]
fn invalid_objects_are_rejected_as_kubectl_prints_them() {
    let server = Server::start();
    let bad = "apiVersion: spiderpool.spidernet.io/v2beta1\nkind: SpiderIPPool\n\
               metadata: {name: bad}\nspec: {subnet: 10.6.0.0/16, ips: [10.7.0.1]}\n---\n\
               apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n";
    let file = server.dir.path().join("bad.yaml");
    std::fs::write(&file, bad).unwrap();
    let run = server.ctl(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("Error from server (Invalid): <doc 1> SpiderIPPool \"bad\" is invalid:\nspec.ips[0]: Invalid value: \"10.7.0.1\""),
        "{run:?}"
    );
    // The valid object after it is still applied.
    assert_eq!(run.stdout, "namespace/team created\n");
    let run = server.ctl(&["get", "namespaces"]);
    assert_eq!(run.stdout, "NAME\nteam\n", "{run:?}");
    let run = server.ctl(&["get", "widgets"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("\"widgets\""), "{run:?}");
}

#[test]
fn an_unreachable_agent_exits_2_naming_the_socket() {
    let tmp = Dir::new("sp-ctl-agent");
    let dir = tmp.path().to_path_buf();
    let socket = dir.join("absent.sock");
    for args in [&["get", "sp"][..], &["release", "--pod", "default/x"], &["delete", "sp", "x"]] {
        let run = ctl_at(&socket, args, None);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(socket.to_str().unwrap()), "{run:?}");
        assert!(run.stderr.contains("cannot reach the agent"), "{run:?}");
    }
    // A file that is not a socket (connect refused).
    std::fs::write(&socket, "").unwrap();
    let run = ctl_at(&socket, &["get", "se"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(socket.to_str().unwrap()), "{run:?}");
}
