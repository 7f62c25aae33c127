//! What the store tests share: a "node" (a store with its own write queue,
//! as the agent has one), pod requests, pools, and reading a pool back from
//! the API server.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::api::PostParams;
use spiderpool_core::allocator::{AllocateRequest, Allocation, Allocator, Clock, RetryPolicy};
use spiderpool_core::model::{IPPoolSpec, SpiderEndpoint, SpiderIPPool, parse_allocated_ips};
use spiderpool_core::pod::{NamespaceFacts, NodeFacts, PodFacts};
use spiderpool_core::selection::IpamSettings;
use spiderpool_core::store::{PoolStore, StoreError};
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope};
use spiderpool_k8s::{CommitMode, Kind, KubeObject, KubeStore, KubeStoreOptions};

/// The label that scopes a test's stores.
pub const LABEL: &str = "spiderpool-rs.test/store";

/// Tokio's timer for the allocator's conflict backoff.
pub struct TokioClock;

impl Clock for TokioClock {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// How often a request is run when its commit reports a conflict (the agent's
/// loop around a unit of work). Nodes that race for one pool pick the same
/// lowest free addresses, and a node may lose about one round per other node.
pub const UNIT_ATTEMPTS: u32 = 12;

/// One node: a store and the agent's single write queue.
pub struct Node {
    pub name: String,
    pub allocator: Allocator<KubeStore, TokioClock>,
    queue: tokio::sync::Mutex<()>,
}

impl Node {
    /// A node over its own store, scoped to `label`.
    pub async fn start(
        client: kube::Client,
        name: &str,
        commit: CommitMode,
        label: &str,
    ) -> TestResult<Node> {
        let options =
            KubeStoreOptions::default().with_commit(commit).with_scope_label(LABEL, label);
        Self::with_options(client, name, options).await
    }

    /// A node over a store with `options`.
    pub async fn with_options(
        client: kube::Client,
        name: &str,
        options: KubeStoreOptions,
    ) -> TestResult<Node> {
        let store = KubeStore::new(client, options)?;
        store.wait_synced().await?;
        let allocator = Allocator::with_clock(store, TokioClock, RetryPolicy::default());
        Ok(Node { name: name.to_owned(), allocator, queue: tokio::sync::Mutex::new(()) })
    }

    /// The store.
    pub fn store(&self) -> &KubeStore {
        self.allocator.store()
    }

    /// One CNI ADD as the agent runs it: a unit of work — the allocation in
    /// the node's queue, then `sync` outside it — run again when the commit
    /// reports a conflict. The error text is what the pod would see.
    pub async fn add(&self, req: &AllocateRequest) -> Result<Allocation, String> {
        let store = self.store();
        store
            .unit_of_work(async {
                let mut last = String::new();
                for _ in 0..UNIT_ATTEMPTS {
                    let result = {
                        let _turn = self.queue.lock().await;
                        self.allocator.allocate(req).await
                    };
                    match store.sync().await {
                        // At once: the view is fresh already (waiting lets
                        // more commits collide).
                        Err(e) if e.is_conflict() => last = format!("commit: {e}"),
                        Err(e) => return Err(format!("commit: {e}")),
                        Ok(()) => return result.map_err(|e| e.to_string()),
                    }
                }
                Err(format!("gave up after {UNIT_ATTEMPTS} commit conflicts; last: {last}"))
            })
            .await
    }
}

/// A pod `name` (UID `uid`) on `node` asking for `pool`.
pub fn request(namespace: &str, name: &str, uid: &str, node: &str, pool: &str) -> AllocateRequest {
    AllocateRequest {
        pod: PodFacts {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            node: node.into(),
            ..Default::default()
        },
        namespace: NamespaceFacts { name: namespace.into(), ..Default::default() },
        node: NodeFacts { name: node.into(), ..Default::default() },
        container_id: format!("ctr-{uid}"),
        nic: "eth0".into(),
        settings: IpamSettings {
            enable_ipv6: false,
            default_ipv4_ippool: vec![pool.into()],
            ..Default::default()
        },
        network: None,
    }
}

/// Creates pool `name` over `subnet` with `ips`, labelled for the test's
/// stores, tracked by `scope`.
pub async fn create_pool(
    scope: &TestScope,
    name: &str,
    subnet: &str,
    ips: &[&str],
    label: &str,
) -> TestResult<()> {
    let mut pool = SpiderIPPool::new(
        name,
        IPPoolSpec {
            subnet: subnet.into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    );
    pool.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.to_owned())]));
    scope.create(pool).await?;
    Ok(())
}

/// The records of pool `name` as the API server holds them: address → pod UID.
pub async fn records(client: &kube::Client, name: &str) -> TestResult<BTreeMap<IpAddr, String>> {
    let pool = SpiderIPPool::api(client.clone(), None).get(name).await?;
    let text = pool.status.and_then(|s| s.allocated_ips);
    let map = parse_allocated_ips(text.as_deref())?;
    Ok(map.into_iter().map(|(ip, r)| (ip.parse().unwrap(), r.pod_uid)).collect())
}

/// The endpoints in `namespace`, by name: the pod UID they record.
pub async fn endpoints(
    client: &kube::Client,
    namespace: &str,
) -> TestResult<BTreeMap<String, String>> {
    let list =
        SpiderEndpoint::api(client.clone(), Some(namespace)).list(&Default::default()).await?;
    Ok(list
        .items
        .into_iter()
        .map(|ep| {
            let ep = ep.into_core();
            (ep.metadata.name_str().to_owned(), ep.status.current.uid)
        })
        .collect())
}

/// A scope with a namespace for pods and a label for stores; everything the
/// stores create is deleted with the scope.
pub async fn setup(cluster: &TestCluster, prefix: &str) -> TestResult<(TestScope, String, String)> {
    let scope = cluster.scope(prefix);
    let namespace = scope.namespace(prefix).await?;
    let label = scope.name("l");
    scope.track_labelled::<SpiderEndpoint>(LABEL, &label);
    Ok((scope, namespace, label))
}

/// The address of an allocation (its first).
pub fn address(a: &Allocation) -> IpAddr {
    a.ips[0].address.addr()
}

/// Whether `e` reads like a store failure (not a store bug such as a panic).
pub fn is_store_error(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict { .. } | StoreError::Backend(_))
}

/// Creates an object through the API (no admission runs in the test cluster).
pub async fn create_raw<K: Kind>(client: &kube::Client, object: K) -> TestResult<KubeObject<K>> {
    let api = K::api(client.clone(), object.metadata().namespace.as_deref());
    Ok(api.create(&PostParams::default(), &KubeObject::from_core(object)?).await?)
}

/// Collects the results of `tasks`.
pub async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// A node shared between tasks.
pub type SharedNode = Arc<Node>;
