//! Object names and the IPAM API's identifiers are validated as Kubernetes and
//! the kernel do (issue 9, item 9): the admin API refuses bad names with
//! `metadata.name` field errors before storing anything, the IPAM API answers
//! 400 naming the field, and `spiderpoolctl` reports a too-long name honestly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use spiderpool_bin::agent::{Agent, AgentConfig};
use spiderpool_bin::agent_client::Session;
use spiderpool_core::store::MemoryStore;

mod agent_harness;

use agent_harness::{Dir, Serving, serve_agent};

struct Server {
    socket: PathBuf,
    _serving: Serving,
    _dir: Dir,
}

impl Server {
    fn start() -> Self {
        let dir = Dir::new("sp-names");
        let socket = dir.path().join("spiderpool.sock");
        let config = AgentConfig { node_name: "node1".into(), ..AgentConfig::default() };
        let agent = Arc::new(Agent::new(MemoryStore::new(), config));
        let serving = serve_agent(agent, &socket);
        Server { socket, _serving: serving, _dir: dir }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut session = Session::new(&self.socket).unwrap().unwrap();
        let (status, bytes) =
            session.exchange(method, path, body.as_ref(), Duration::from_secs(10)).unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn apply(&self, obj: Value) -> (u16, Value) {
        self.call("PUT", "/v1/admin/objects", Some(obj))
    }

    fn ctl(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spiderpoolctl"));
        cmd.arg("--socket").arg(&self.socket).args(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn pool(name: &str) -> Value {
    json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderIPPool",
        "metadata": {"name": name},
        "spec": {"subnet": "10.84.0.0/16", "ips": ["10.84.0.10-10.84.0.12"]}
    })
}

/// The field errors of a 422 rejection, as `field: type` pairs.
fn causes(body: &Value) -> Vec<String> {
    body["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}: {}", c["field"].as_str().unwrap_or(""), c["detail"]))
        .collect()
}

#[test]
fn bad_object_names_are_refused_before_they_are_stored() {
    let server = Server::start();
    let (status, body) = server.apply(pool("../../etc/Bad_Name"));
    assert_eq!(status, 422, "{body}");
    assert!(causes(&body).iter().any(|c| c.starts_with("metadata.name: ")), "{body}");
    assert!(body.to_string().contains("RFC 1123 subdomain"), "{body}");

    let long = "a".repeat(100_000);
    let (status, body) = server.apply(pool(&long));
    assert_eq!(status, 422, "a 100,000-character name: {body}");
    assert!(body.to_string().contains("must be no more than 253 characters"), "{body}");
    assert!(body.to_string().len() < 4096, "the answer does not echo the whole name");
    let (_, list) = server.call("GET", "/v1/admin/objects/sp", None);
    assert_eq!(list["items"], json!([]), "nothing was stored");

    let smc = json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderMultusConfig",
        "metadata": {"name": "UPPER_case", "namespace": "default"},
        "spec": {"cniType": "macvlan", "macvlan": {"master": ["eth0"]}}});
    let (status, body) = server.apply(smc);
    assert_eq!(status, 422, "{body}");
    assert!(causes(&body).iter().any(|c| c.starts_with("metadata.name: ")), "{body}");

    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "../../x y", "namespace": "a/b", "uid": "u1"}});
    let (status, body) = server.apply(pod);
    assert_eq!(status, 422, "{body}");
    let c = causes(&body);
    assert!(c.iter().any(|c| c.starts_with("metadata.name: ")), "{body}");
    assert!(c.iter().any(|c| c.starts_with("metadata.namespace: ")), "{body}");

    // Namespaces are DNS labels: a dot is not allowed, 64 characters are too many.
    for bad in ["team.a", &"n".repeat(64)] {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": bad}});
        let (status, body) = server.apply(ns);
        assert_eq!(status, 422, "namespace {bad:?}: {body}");
    }
    // Nodes are DNS subdomains: dots are fine.
    let node =
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1.example.com"}});
    assert_eq!(server.apply(node).0, 200);
}

#[test]
fn ipam_api_identifiers_are_validated_with_the_field_named() {
    let server = Server::start();
    assert_eq!(server.apply(pool("p84")).0, 200);
    let args = json!({
        "containerID": "ctr1",
        "ifName": "net1",
        "netNamespace": "/var/run/netns/x",
        "podNamespace": "default",
        "podName": "pod-1",
        "podUID": "uid-1",
        "defaultIPv4IPPool": ["p84"],
    });
    for (field, bad) in [
        ("podName", json!("../../x y")),
        ("podNamespace", json!("a/b")),
        ("ifName", json!("net1/../eth0")),
        ("ifName", json!("a-very-long-ifname")),
        ("ifName", json!("..")),
        ("containerID", json!("-ctr")),
        ("containerID", json!("ctr id")),
    ] {
        let mut a = args.clone();
        a[field] = bad.clone();
        let (status, body) = server.call("POST", "/v1/ipam/ip", Some(a));
        assert_eq!(status, 400, "ADD with {field} = {bad}: {body}");
        assert!(body.as_str().unwrap_or("").contains(&format!("field {field}")), "{body}");
        let mut d = args.clone();
        d[field] = bad.clone();
        let (status, body) = server.call("DELETE", "/v1/ipam/ip", Some(d));
        assert_eq!(status, 400, "DEL with {field} = {bad}: {body}");
    }
    let (status, body) = server.call("POST", "/v1/ipam/ip", Some(args));
    assert_eq!(status, 200, "valid identifiers: {body}");
}

#[test]
fn ctl_reports_bad_names_as_field_errors_and_long_names_honestly() {
    let server = Server::start();
    let yaml = "apiVersion: spiderpool.spidernet.io/v2beta1\nkind: SpiderIPPool\nmetadata:\n  name: Bad_Name\nspec:\n  subnet: 10.84.0.0/16\n  ips: [10.84.0.10]\n";
    let (code, _, stderr) = server.ctl(&["validate", "-f", "-"], yaml);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            r#"metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#
        ),
        "{stderr}"
    );
    let (code, _, stderr) = server.ctl(&["apply", "-f", "-"], yaml);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("metadata.name: Invalid value"), "{stderr}");

    let long = "a".repeat(100_000);
    for cmd in ["get", "describe", "delete"] {
        let (code, _, stderr) = server.ctl(&[cmd, "sp", &long], "");
        assert_ne!(code, 0, "{cmd}: {stderr}");
        assert!(!stderr.contains("cannot reach the agent"), "{cmd}: {stderr}");
        assert!(stderr.contains("too long"), "{cmd}: {stderr}");
        assert!(stderr.len() < 1024, "{cmd}: the message does not echo the name");
    }
}
