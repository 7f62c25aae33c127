//! SpiderSubnet auto-pools at CNI ADD, on one node with the embedded store
//! (reference §4.2 step 1): the subnet annotations come first; a
//! Kubernetes controller's pod waits (bounded) for the pool the controller
//! makes and uses it once it has the right size; a third-party controller's
//! pod gets a pool the agent carves from the subnet itself; bad input is
//! refused naming the annotation, the subnet and the numbers, with nothing
//! half-made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spiderpool_bin::agent::{Agent, AgentConfig};
use spiderpool_bin::store::EmbeddedStore;
use spiderpool_core::autopool::{AppRef, AutoPoolKey, IpNumber, SubnetFeature, new_auto_pool};
use spiderpool_core::ip::{IpFamily, IpSet};
use spiderpool_core::model::{SpiderIPPool, SpiderSubnet};
use spiderpool_core::store::{AdminStore, ObjectKey, PoolStore, SubnetStore};

mod agent_harness;

use agent_harness::raw_http::exchange;
use agent_harness::{Dir, Serving, serve_agent};

const DEPLOY_UID: &str = "2b4f0c8e-1d7a-4c55-9e0b-5d3a1c6f7e21";
const NATIVE_POOL: &str = "auto4-web-eth0-5d3a1";
const CRD_UID: &str = "7c1d2e3f-0000-4000-8000-abcdef012345";
const CRD_POOL: &str = "auto4-kruise-eth0-abcde";

struct Node {
    store: EmbeddedStore,
    socket: PathBuf,
    rt: tokio::runtime::Runtime,
    _serving: Serving,
    _dir: Dir,
}

fn config(subnet_on: bool) -> AgentConfig {
    AgentConfig {
        node_name: "node1".into(),
        enable_ipv6: false,
        subnet: SubnetFeature {
            enable_spider_subnet: subnet_on,
            enable_auto_pool: true,
            default_redundant: 1,
        },
        auto_pool_wait_retries: 4,
        auto_pool_wait_interval: Duration::from_millis(100),
        ..AgentConfig::default()
    }
}

impl Node {
    fn start(config: AgentConfig) -> Node {
        let dir = Dir::new("sp-subnet");
        let store = EmbeddedStore::open_dir(dir.path().join("store")).unwrap();
        let socket = dir.path().join("agent.sock");
        let serving = serve_agent(Arc::new(Agent::new(store.clone(), config)), &socket);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let node = Node { store, socket, rt, _serving: serving, _dir: dir };
        node.put(
            "SpiderSubnet",
            "",
            "sub4",
            json!({
                "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderSubnet",
                "metadata": {"name": "sub4"},
                "spec": {"ipVersion": 4, "subnet": "10.6.0.0/16", "gateway": "10.6.0.1",
                         "ips": ["10.6.0.10-10.6.0.19"]}
            }),
        );
        node
    }

    fn put(&self, kind: &str, ns: &str, name: &str, value: Value) {
        self.rt.block_on(self.store.put_object(&ObjectKey::new(kind, ns, name), value)).unwrap();
    }

    fn apply_pool(&self, pool: SpiderIPPool) {
        self.rt.block_on(self.store.apply_pool(pool)).unwrap();
    }

    fn pool(&self, name: &str) -> Option<SpiderIPPool> {
        let pools = self.rt.block_on(self.store.list_pools()).unwrap();
        pools.iter().find(|p| p.metadata.name_str() == name).map(|p| (**p).clone())
    }

    fn subnet(&self) -> SpiderSubnet {
        self.rt.block_on(self.store.get_subnet("sub4")).unwrap().unwrap().value
    }

    /// A Deployment `web` of `replicas` with a ReplicaSet, and its pod `pod`.
    fn deployment(&self, replicas: i64, pod: &str, annotations: Value) {
        self.put(
            "Deployment",
            "default",
            "web",
            json!({
                "metadata": {"name": "web", "namespace": "default", "uid": DEPLOY_UID},
                "spec": {"replicas": replicas}
            }),
        );
        self.put("ReplicaSet", "default", "web-5f", json!({
            "metadata": {"name": "web-5f", "namespace": "default", "uid": "rs-uid",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                     "uid": DEPLOY_UID, "controller": true}]},
            "spec": {"replicas": replicas}
        }));
        self.pod(
            pod,
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5f",
                              "uid": "rs-uid", "controller": true}]),
            annotations,
        );
    }

    /// A pod `pod` of a third-party controller (an OpenKruise CloneSet).
    fn third_party_pod(&self, pod: &str, annotations: Value) {
        self.pod(
            pod,
            json!([{"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
                              "name": "kruise", "uid": CRD_UID, "controller": true}]),
            annotations,
        );
    }

    fn pod(&self, pod: &str, owners: Value, annotations: Value) {
        self.put(
            "Pod",
            "default",
            pod,
            json!({
                "metadata": {"name": pod, "namespace": "default", "uid": format!("uid-{pod}"),
                             "ownerReferences": owners, "annotations": annotations},
                "spec": {"nodeName": "node1"}
            }),
        );
    }

    /// CNI ADD for `pod` on eth0: the status and the body.
    fn add(&self, pod: &str) -> (u16, Value) {
        let body = json!({
            "containerID": format!("ctr-{pod}"), "ifName": "eth0",
            "netNamespace": format!("/var/run/netns/{pod}"), "podNamespace": "default",
            "podName": pod, "podUID": format!("uid-{pod}"), "defaultIPv4IPPool": ["fallback"],
        });
        let a = exchange(&self.socket, "POST", "/v1/ipam/ip", &serde_json::to_vec(&body).unwrap());
        (a.status, a.json())
    }
}

fn message(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

fn address(v: &Value) -> String {
    v["ips"][0]["address"].as_str().unwrap().to_string()
}

fn subnet_annotation(number: &str) -> Value {
    json!({"ipam.spidernet.io/subnet": r#"{"ipv4":["sub4"]}"#,
           "ipam.spidernet.io/ippool-ip-number": number})
}

/// The pool the application controller would make for Deployment `web`.
fn native_pool(node: &Node, ips: &[&str]) -> SpiderIPPool {
    let app = AppRef::native("Deployment", "default", "web", DEPLOY_UID).unwrap();
    let key = AutoPoolKey { app: &app, interface: "eth0", family: IpFamily::V4, subnet: "sub4" };
    let ips = IpSet::parse_ranges(IpFamily::V4, ips).unwrap();
    new_auto_pool(&key, &node.subnet(), IpNumber::Flexible(1), true, &ips).unwrap()
}

#[test]
fn a_kubernetes_controllers_pod_waits_for_its_pool_then_fails_saying_what_it_waited_for() {
    let node = Node::start(config(true));
    node.deployment(2, "web-5f-a", subnet_annotation("+1"));
    let started = Instant::now();
    let (status, body) = node.add("web-5f-a");
    let waited = started.elapsed();
    assert_eq!(status, 500, "{body}");
    let m = message(&body);
    assert!(
        m.contains("ipam.spidernet.io/subnet: waited")
            && m.contains("(4 checks) for spiderpool-controller to create the IPv4 auto-pool auto4-web-eth0-5d3a1 of Deployment default/web from SpiderSubnet sub4 with 3 IPs for interface eth0")
            && m.contains("last seen: no SpiderIPPool has the labels of Deployment default/web"),
        "{m}"
    );
    assert!(waited >= Duration::from_millis(300), "3 intervals of 100 ms: {waited:?}");
    assert!(node.pool(NATIVE_POOL).is_none(), "the agent makes no pool for a Deployment");

    // A pool of the wrong size is waited on too.
    node.apply_pool(native_pool(&node, &["10.6.0.10-10.6.0.11"]));
    let (status, body) = node.add("web-5f-a");
    assert_eq!(status, 500, "{body}");
    assert!(
        message(&body).contains("last seen: pool auto4-web-eth0-5d3a1 has 2 IPs, not 3"),
        "{body}"
    );
}

#[test]
fn a_pool_of_the_right_size_is_used_also_when_it_appears_during_the_wait() {
    let node = Node::start(config(true));
    node.deployment(2, "web-5f-a", subnet_annotation("+1"));
    node.apply_pool(native_pool(&node, &["10.6.0.10-10.6.0.11"]));
    // The "controller" resizes the pool while the agent waits.
    let grown = native_pool(&node, &["10.6.0.10-10.6.0.12"]);
    let store = node.store.clone();
    let resize = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(store.apply_pool(grown)).unwrap();
    });
    let (status, body) = node.add("web-5f-a");
    resize.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ips"][0]["ipPool"], NATIVE_POOL);
    assert!(address(&body).starts_with("10.6.0.1"), "{body}");
    // The same pod again: the same address (idempotent ADD).
    let (status, again) = node.add("web-5f-a");
    assert_eq!((status, address(&again)), (200, address(&body)));
}

#[test]
fn a_third_party_controllers_pool_is_made_by_the_agent_from_the_subnet() {
    let node = Node::start(config(true));
    // A SpiderReservedIP in the subnet is never carved.
    node.rt
        .block_on(
            node.store.apply_reserved_ip(
                serde_json::from_value(json!({
                    "metadata": {"name": "r"}, "spec": {"ipVersion": 4, "ips": ["10.6.0.10"]}
                }))
                .unwrap(),
            ),
        )
        .unwrap();
    node.third_party_pod("kruise-a", subnet_annotation("2"));
    node.third_party_pod("kruise-b", subnet_annotation("2"));
    node.third_party_pod("kruise-c", subnet_annotation("2"));
    let (status, a) = node.add("kruise-a");
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["ips"][0]["ipPool"], CRD_POOL);
    let pool = node.pool(CRD_POOL).unwrap();
    assert_eq!(pool.spec.ips, ["10.6.0.11-10.6.0.12"]);
    assert_eq!(pool.metadata.label("ipam.spidernet.io/owner-application-kind"), Some("CloneSet"));
    let status_now = node.subnet().status.unwrap();
    assert_eq!(
        status_now.controlled_ip_pools.as_deref(),
        Some(
            r#"{"auto4-kruise-eth0-abcde":{"ips":["10.6.0.11-10.6.0.12"],"application":"apps.kruise.io_v1alpha1_CloneSet_default_kruise"}}"#
        )
    );
    assert_eq!(status_now.allocated_ip_count, Some(2));
    let (status, b) = node.add("kruise-b");
    assert_eq!(status, 200, "{b}");
    assert_ne!(address(&a), address(&b));
    // The fixed size is the pool's size: a third pod finds it full.
    let (status, c) = node.add("kruise-c");
    assert_eq!(status, 500, "{c}");
    assert!(message(&c).contains(CRD_POOL), "{c}");
    assert_eq!(node.pool(CRD_POOL).unwrap().spec.ips, ["10.6.0.11-10.6.0.12"]);
    // A new template asks for 3: the agent grows the pool (the subnet's
    // record first) and the pod gets the new address.
    node.third_party_pod("kruise-d", subnet_annotation("3"));
    let (status, d) = node.add("kruise-d");
    assert_eq!(status, 200, "{d}");
    assert_eq!(node.pool(CRD_POOL).unwrap().spec.ips, ["10.6.0.11-10.6.0.13"]);
    assert!(address(&d).starts_with("10.6.0.13/"), "{d}");
    let grown = node.subnet().status.unwrap();
    assert_eq!(grown.allocated_ip_count, Some(3));
    assert!(grown.controlled_ip_pools.unwrap().contains(r#""ips":["10.6.0.11-10.6.0.13"]"#));
}

#[test]
fn bad_input_is_refused_naming_annotation_subnet_and_numbers_with_nothing_made() {
    let node = Node::start(config(true));
    // An orphan pod.
    node.pod("lonely", json!([]), subnet_annotation("2"));
    let (status, body) = node.add("lonely");
    assert_eq!(status, 500);
    assert!(
        message(&body).contains("ipam.spidernet.io/subnet: pod default/lonely has no controller"),
        "{body}"
    );
    // A subnet that does not exist.
    node.third_party_pod(
        "kruise-a",
        json!({"ipam.spidernet.io/subnet": r#"{"ipv4":["nope"]}"#,
                                             "ipam.spidernet.io/ippool-ip-number": "2"}),
    );
    let (_, body) = node.add("kruise-a");
    assert!(
        message(&body).contains(
            "ipam.spidernet.io/subnet: SpiderSubnet nope (IPv4, interface eth0) does not exist"
        ),
        "{body}"
    );
    // Two NICs on one subnet.
    node.third_party_pod(
        "kruise-b",
        json!({"ipam.spidernet.io/subnets":
        r#"[{"interface":"eth0","ipv4":["sub4"]},{"interface":"net1","ipv4":["sub4"]}]"#,
        "ipam.spidernet.io/ippool-ip-number": "2"}),
    );
    let (_, body) = node.add("kruise-b");
    assert!(
        message(&body).contains("ipam.spidernet.io/subnets")
            && message(&body).contains("\"sub4\" is already used by interface \"eth0\""),
        "{body}"
    );
    // No room left: 10 addresses, 20 asked.
    node.third_party_pod("kruise-c", subnet_annotation("20"));
    let (_, body) = node.add("kruise-c");
    assert!(message(&body).contains("SpiderSubnet sub4 has 10 free IPs (not reserved, not held by other pools) but auto-pool auto4-kruise-eth0-abcde needs 20 more to grow from 0 to 20"), "{body}");
    // A fixed size below the Deployment's replicas.
    node.deployment(3, "web-5f-a", subnet_annotation("2"));
    let (_, body) = node.add("web-5f-a");
    assert!(
        message(&body)
            .contains("fixed size 2 of Deployment default/web is smaller than its 3 replicas"),
        "{body}"
    );
    // Nothing was made.
    assert!(node.rt.block_on(node.store.list_pools()).unwrap().is_empty());
    assert_eq!(node.subnet().status, None);
}

#[test]
fn with_spider_subnet_off_the_annotation_is_ignored() {
    let node = Node::start(config(false));
    node.third_party_pod("kruise-a", subnet_annotation("2"));
    let (status, body) = node.add("kruise-a");
    assert_eq!(status, 404, "the fallback pool of the CNI config does not exist: {body}");
    assert!(message(&body).contains("fallback"), "{body}");
    assert!(node.pool(CRD_POOL).is_none());
}
