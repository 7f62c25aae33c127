//! The agent over a backend that is not a store of administrative objects, as
//! the Kubernetes backend will be: pools and endpoints in a `MemoryStore`,
//! pods from a cache of typed views (`PodSource`), the SpiderCoordinator
//! from a `CoordinatorSource`. Every Spiderpool route works over it, the
//! release rules of the core apply, and there are no administrative routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use spiderpool_bin::agent::{
    Agent, AgentConfig, ServerLimits, api_router, bind_socket, serve_socket,
};
use spiderpool_core::model::{SpiderCoordinator, SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::pod::{
    ControllerKind, ControllerView, NamespaceView, NodeView, PodSource, PodView,
};
use spiderpool_core::store::contract::pool;
use spiderpool_core::store::{
    AllocationChange, CoordinatorSource, EndpointStore, MemoryStore, PoolState, PoolStore,
    StoreError, SubnetStore, Version, Versioned,
};

mod agent_harness;

use agent_harness::Dir;
use agent_harness::raw_http::{Answer, exchange};

/// Pools and endpoints in memory; pods in a map of views, as a watch cache
/// holds them. Clones share it: the test keeps one, the agent owns another.
#[derive(Clone, Default)]
struct Cluster(Arc<Shared>);

#[derive(Default)]
struct Shared {
    store: MemoryStore,
    pods: Mutex<BTreeMap<(String, String), PodView>>,
}

impl PoolStore for Cluster {
    async fn list_pools(&self) -> Result<Vec<Arc<SpiderIPPool>>, StoreError> {
        self.0.store.list_pools().await
    }

    async fn read_pool<R: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R + Send,
    ) -> Result<Option<Versioned<R>>, StoreError> {
        self.0.store.read_pool(name, f).await
    }

    async fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<Version, StoreError> {
        self.0.store.update_allocations(name, expected, change).await
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        self.0.store.list_reserved_ips().await
    }
}

impl EndpointStore for Cluster {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        self.0.store.get_endpoint(namespace, name).await
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        self.0.store.create_endpoint(endpoint).await
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        self.0.store.update_endpoint(endpoint, expected).await
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        self.0.store.delete_endpoint(namespace, name, expected).await
    }
}

impl PodSource for Cluster {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        Ok(self.0.pods.lock().unwrap().get(&(namespace.into(), name.into())).cloned())
    }

    async fn namespace(&self, _name: &str) -> Result<Option<NamespaceView>, StoreError> {
        Ok(None)
    }

    async fn node(&self, _name: &str) -> Result<Option<NodeView>, StoreError> {
        Ok(None)
    }

    async fn controller(
        &self,
        _kind: ControllerKind,
        _namespace: &str,
        _name: &str,
    ) -> Result<Option<ControllerView>, StoreError> {
        Ok(None)
    }
}

/// Subnets and auto-pool writes: the memory store's.
impl SubnetStore for Cluster {
    async fn get_subnet(
        &self,
        name: &str,
    ) -> Result<Option<Versioned<spiderpool_core::model::SpiderSubnet>>, StoreError> {
        self.0.store.get_subnet(name).await
    }

    async fn update_subnet_status(
        &self,
        name: &str,
        expected: Version,
        status: &spiderpool_core::model::SubnetStatus,
    ) -> Result<Version, StoreError> {
        self.0.store.update_subnet_status(name, expected, status).await
    }

    async fn create_pool(&self, pool: &SpiderIPPool) -> Result<(), StoreError> {
        self.0.store.create_pool(pool).await
    }

    async fn update_pool_ips(
        &self,
        name: &str,
        expected: &[String],
        ips: &[String],
    ) -> Result<(), StoreError> {
        self.0.store.update_pool_ips(name, expected, ips).await
    }
}

impl CoordinatorSource for Cluster {
    async fn coordinator(&self, name: &str) -> Result<Option<SpiderCoordinator>, StoreError> {
        let scc = json!({"metadata": {"name": name}, "spec": {"mode": "underlay"}});
        Ok(Some(serde_json::from_value(scc).unwrap()))
    }
}

impl Cluster {
    fn put_pod(&self, name: &str, uid: &str, metadata: Value) {
        let mut meta = json!({"name": name, "namespace": "default", "uid": uid});
        meta.as_object_mut().unwrap().extend(metadata.as_object().unwrap().clone());
        let view = serde_json::from_value(json!({"metadata": meta})).unwrap();
        self.0.pods.lock().unwrap().insert(("default".into(), name.into()), view);
    }

    fn allocated(&self) -> i64 {
        let pool = self.0.store.get_pool("p").unwrap().value;
        pool.status.and_then(|s| s.allocated_ip_count).unwrap_or(0)
    }
}

/// Serves the agent's API routes (no administrative ones) over `cluster`
/// from a thread; stops when the sender is dropped.
fn serve(
    cluster: Arc<Agent<Cluster>>,
    socket: &Path,
) -> (tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let path = socket.to_path_buf();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let socket = bind_socket(&path).await.unwrap();
            ready_tx.send(()).unwrap();
            let shutdown = async move {
                let _ = stopped.await;
            };
            serve_socket(socket, api_router(cluster), ServerLimits::default(), shutdown)
                .await
                .unwrap();
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (stop, thread)
}

fn call(socket: &Path, method: &str, path: &str, body: Value) -> Answer {
    exchange(socket, method, path, &serde_json::to_vec(&body).unwrap())
}

fn ipam_args(pod: &str, uid: &str) -> Value {
    json!({"containerID": format!("ctr-{pod}"), "ifName": "net1", "netNamespace": "/x",
           "podNamespace": "default", "podName": pod, "podUID": uid})
}

#[test]
fn the_agent_serves_a_backend_without_administrative_objects() {
    let dir = Dir::new("sp-backend");
    let socket = dir.path().join("agent.sock");
    let cluster = Cluster::default();
    let mut p = pool("p", "10.6.0.0/16", &["10.6.212.200-10.6.212.210"]);
    p.spec.default = Some(true);
    cluster.0.store.put_pool(p).unwrap();
    let config = AgentConfig { node_name: "node1".into(), ..AgentConfig::default() };
    let agent = Arc::new(Agent::new(cluster.clone(), config));
    let (stop, thread) = serve(agent, &socket);

    // A registered pod gets an address from the cluster default pool.
    cluster.put_pod("web-1", "u1", json!({}));
    let add = call(&socket, "POST", "/v1/ipam/ip", ipam_args("web-1", "u1"));
    assert_eq!(add.status, 200, "{}", add.json());
    assert_eq!(add.json()["ips"][0]["address"], "10.6.212.200/16");

    // The core's release rule: a DEL of the live pod keeps its address, the
    // DEL after it terminates frees it.
    let del = call(&socket, "DELETE", "/v1/ipam/ip", ipam_args("web-1", "u1"));
    assert_eq!(del.status, 200);
    assert_eq!(cluster.allocated(), 1);
    cluster.put_pod("web-1", "u1", json!({"deletionTimestamp": "2026-01-01T00:00:00Z"}));
    let again = call(&socket, "POST", "/v1/ipam/ip", ipam_args("web-1", "u1"));
    assert_eq!(again.status, 500, "a terminating pod gets nothing: {}", again.json());
    let del = call(&socket, "DELETE", "/v1/ipam/ip", ipam_args("web-1", "u1"));
    assert_eq!(del.status, 200);
    assert_eq!(cluster.allocated(), 0);

    // The coordinator config comes from the backend's CoordinatorSource.
    let scc = call(&socket, "GET", "/v1/coordinator/config", json!({}));
    assert_eq!(scc.status, 200);
    assert_eq!(scc.json()["mode"], "underlay");

    // No administrative routes: objects are the cluster's.
    let admin = call(&socket, "PUT", "/v1/admin/objects", json!({"kind": "Pod"}));
    assert_eq!(admin.status, 404, "{}", admin.json());
    let list = call(&socket, "GET", "/v1/admin/objects/pods", Value::Null);
    assert_eq!(list.status, 404);

    drop(stop);
    thread.join().unwrap();
}
