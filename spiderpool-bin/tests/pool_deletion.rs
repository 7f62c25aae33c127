//! Deleting a SpiderIPPool or SpiderSubnet that still holds addresses, through
//! the agent's API on the embedded store (issue 9, item 4): the pool becomes
//! terminating, hands out nothing new, survives a re-apply as terminating and
//! goes away with its last release.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use spiderpool_bin::agent::{Agent, AgentConfig};
use spiderpool_bin::agent_client::Session;
use spiderpool_bin::store::EmbeddedStore;

mod agent_harness;

use agent_harness::{Dir, Serving, serve_agent};

struct Server {
    socket: PathBuf,
    // Dropped in this order: stop serving, then remove the directory.
    _serving: Serving,
    _dir: Dir,
}

impl Server {
    fn start(config: AgentConfig) -> Self {
        let dir = Dir::new("sp-pool-del");
        let socket = dir.path().join("spiderpool.sock");
        let store = EmbeddedStore::open_dir(dir.path().join("data")).unwrap();
        let agent = Arc::new(Agent::new(store, config));
        let serving = serve_agent(agent, &socket);
        Server { socket, _serving: serving, _dir: dir }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut session = Session::new(&self.socket).unwrap().unwrap();
        let (status, bytes) =
            session.exchange(method, path, body.as_ref(), Duration::from_secs(10)).unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn apply(&self, obj: &Value) -> (u16, Value) {
        self.call("PUT", "/v1/admin/objects", Some(obj.clone()))
    }

    /// ADD for pod `name`: the address it got, or the error answer.
    fn add(&self, name: &str) -> Result<String, (u16, Value)> {
        let args = json!({
            "containerID": format!("ctr-{name}"),
            "ifName": "net1",
            "netNamespace": format!("/var/run/netns/{name}"),
            "podNamespace": "default",
            "podName": name,
            "podUID": format!("uid-{name}"),
            "defaultIPv4IPPool": ["p83"],
        });
        match self.call("POST", "/v1/ipam/ip", Some(args)) {
            (200, body) => Ok(body["ips"][0]["address"].as_str().unwrap().to_string()),
            other => Err(other),
        }
    }

    fn del(&self, name: &str) {
        let args = json!({
            "containerID": format!("ctr-{name}"),
            "ifName": "net1",
            "podNamespace": "default",
            "podName": name,
            "podUID": format!("uid-{name}"),
        });
        let (status, body) = self.call("DELETE", "/v1/ipam/ip", Some(args));
        assert_eq!(status, 200, "DEL {name}: {body}");
    }

    fn get(&self, kind: &str, name: &str) -> (u16, Value) {
        self.call("GET", &format!("/v1/admin/objects/{kind}/{name}"), None)
    }
}

fn pool() -> Value {
    json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderIPPool",
        "metadata": {"name": "p83"},
        "spec": {"subnet": "10.83.0.0/16", "ips": ["10.83.0.10-10.83.0.12"]}
    })
}

#[test]
fn deleted_pool_with_allocations_is_not_reissued_after_reapply() {
    let server = Server::start(AgentConfig { node_name: "node1".into(), ..Default::default() });
    assert_eq!(server.apply(&pool()).0, 200);
    let mut holders: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..3 {
        let pod = format!("old{i}");
        let ip = server.add(&pod).unwrap_or_else(|e| panic!("ADD {pod}: {e:?}"));
        holders.insert(ip, pod);
    }

    // Delete: the pool holds three addresses, so it stays, terminating.
    let (status, body) = server.call("DELETE", "/v1/admin/objects/sp/p83", None);
    assert_eq!(status, 200, "{body}");
    let (status, stored) = server.get("sp", "p83");
    assert_eq!(status, 200, "a pool that holds addresses is kept while they are in use");
    assert!(stored["metadata"]["deletionTimestamp"].is_string(), "{stored}");
    assert_eq!(stored["status"]["allocatedIPCount"], 3, "{stored}");

    // Re-applying the same pool is refused: it would clear the deletion.
    let (status, body) = server.apply(&pool());
    assert_eq!(status, 403, "re-apply of a terminating pool: {body}");
    assert!(body.to_string().contains("terminating"), "{body}");

    // New pods never get an old pod's address.
    for i in 0..3 {
        let pod = format!("new{i}");
        match server.add(&pod) {
            Ok(ip) => {
                let old = holders.get(&ip);
                panic!("{pod} got {ip}, still held by {old:?}");
            }
            Err((status, body)) => {
                assert_eq!(status, 500, "{body}");
                assert!(body.to_string().contains("terminating"), "{pod}: {body}");
            }
        }
    }

    // The old pods leave: the pool goes with the last release.
    server.del("old0");
    server.del("old1");
    assert_eq!(server.get("sp", "p83").0, 200, "one address is still held");
    server.del("old2");
    let (status, body) = server.get("sp", "p83");
    assert_eq!(status, 404, "the pool is removed with its last address: {body}");

    // Applied again now, it is a new pool.
    assert_eq!(server.apply(&pool()).0, 200);
    let ip = server.add("new0").expect("the new pool allocates");
    assert!(holders.contains_key(&ip), "{ip} is free again");
}

#[test]
fn deleted_subnet_with_controlled_pools_waits_for_them() {
    let mut config = AgentConfig { node_name: "node1".into(), ..Default::default() };
    config.admission.enable_spider_subnet = true;
    let server = Server::start(config);
    let subnet = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderSubnet",
        "metadata": {"name": "s83"},
        "spec": {"subnet": "10.83.0.0/16", "ips": ["10.83.0.1-10.83.0.100"]}
    });
    assert_eq!(server.apply(&subnet).0, 200);
    assert_eq!(server.apply(&pool()).0, 200);
    let (_, stored) = server.get("sp", "p83");
    assert_eq!(
        stored["metadata"]["labels"]["ipam.spidernet.io/owner-spider-subnet"], "s83",
        "the pool is controlled by the subnet: {stored}"
    );
    let ip = server.add("old0").expect("ADD old0");

    let (status, body) = server.call("DELETE", "/v1/admin/objects/ss/s83", None);
    assert_eq!(status, 200, "{body}");
    let (status, stored) = server.get("ss", "s83");
    assert_eq!(status, 200, "the subnet waits for its pool");
    assert!(stored["metadata"]["deletionTimestamp"].is_string(), "{stored}");
    let (_, pool_now) = server.get("sp", "p83");
    assert!(pool_now["metadata"]["deletionTimestamp"].is_string(), "{pool_now}");
    let (status, body) = server.apply(&subnet);
    assert_eq!(status, 403, "re-apply of a terminating subnet: {body}");
    assert!(server.add("new0").is_err(), "the terminating pool hands out nothing ({ip} is held)");

    server.del("old0");
    assert_eq!(server.get("sp", "p83").0, 404, "pool gone with its last address");
    assert_eq!(server.get("ss", "s83").0, 404, "subnet gone with its last pool");
}
