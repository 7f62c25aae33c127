//! Pod facts from a cluster: [`KubeFacts`] is the core's
//! [`PodSource`] and [`CoordinatorSource`] over watch caches of the objects
//! the pod rules read.
//!
//! ```text
//!  API server ──watch──► caches (kube-runtime reflectors)
//!     │  pods with spec.nodeName=<this node>       (whole objects)
//!     │  namespaces, nodes, replicasets, jobs      (metadata only)
//!     │  statefulsets                              (whole: replicas, ordinals)
//!     │  spidercoordinators                        (decoded, bad ones named)
//!     │
//!     └──GET on a cache miss, and for fresh_pod ──► the same views
//! ```
//!
//! - A read waits (at most `sync_timeout`) for the first list of the cache it
//!   reads; the error names the resource and the last watch error (a 403
//!   names the verb, the resource and the service account).
//! - An object the cache does not hold is read from the API server, never
//!   taken as absent: the CNI ADD often arrives before the watch event of a
//!   new pod, and a ReplicaSet or StatefulSet can be just as new. A cached pod
//!   that is not alive (terminating, finished) is read again too: a same-name
//!   successor (a StatefulSet pod re-created by its controller) may already
//!   exist, and the cache would show its predecessor.
//! - [`PodSource::fresh_pod`] always asks the API server (release decisions).
//!
//! What it does not do: decide. Liveness, owner resolution and release rules
//! are `spiderpool_core::pod` and `spiderpool_core::allocator`; this module
//! only turns Kubernetes objects into the core's views
//! (`spiderpool_core::pod::view`, which read the objects' JSON).
//!
//! KubeVirt: a virt-launcher pod's `VirtualMachineInstance` and its
//! `VirtualMachine` are read from the API server when the rules ask
//! (see [`crate::dynamic`] for why they are not watched); where KubeVirt is
//! not installed they read as absent.

mod cache;
mod workload;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use spiderpool_core::model::SpiderCoordinator;
use spiderpool_core::pod::{
    ControllerKind, ControllerView, NamespaceView, NodeView, PodSource, PodView, not_alive,
};
use spiderpool_core::store::{CoordinatorSource, StoreError};

use crate::store::StartError;
use crate::store::decode::Decoded;
use cache::{Cache, describe};

/// A kube request error in one line (the API server's message, reason and
/// code), for other modules of the crate.
pub(crate) fn describe_error(error: &kube::Error) -> String {
    describe(error)
}

/// Settings of [`KubeFacts`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactsOptions {
    /// This node: only its pods (`spec.nodeName`) are watched.
    pub node_name: String,
    /// How long a read waits for the first list of the cache it reads.
    pub sync_timeout: Duration,
    /// Time limit of one read from the API server.
    pub request_timeout: Duration,
}

impl FactsOptions {
    /// Options for node `node_name`: 30 s sync timeout, 10 s request timeout.
    pub fn new(node_name: &str) -> Self {
        Self {
            node_name: node_name.to_owned(),
            sync_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of [`KubeFacts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactsStats {
    /// Reads answered from a cache.
    pub cache_hits: u64,
    /// Reads sent to the API server (cache misses, pods read again, fresh
    /// reads).
    pub api_reads: u64,
    /// Pods in the cache of this node's pods.
    pub cached_pods: usize,
}

/// The core's [`PodSource`] and [`CoordinatorSource`] over watch caches of a
/// cluster (see the module doc). Dropping it stops its watches.
pub struct KubeFacts {
    client: Client,
    options: FactsOptions,
    pods: Cache<Pod>,
    namespaces: Cache<PartialObjectMeta<Namespace>>,
    nodes: Cache<PartialObjectMeta<Node>>,
    replicasets: Cache<PartialObjectMeta<ReplicaSet>>,
    jobs: Cache<PartialObjectMeta<Job>>,
    statefulsets: Cache<StatefulSet>,
    coordinators: Cache<Decoded<SpiderCoordinator>>,
    hits: AtomicU64,
    api_reads: AtomicU64,
}

impl std::fmt::Debug for KubeFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeFacts").field("options", &self.options).finish_non_exhaustive()
    }
}

impl KubeFacts {
    /// Starts the watches on the current tokio runtime and returns at once;
    /// reads wait for the caches they read.
    pub fn new(client: Client, options: FactsOptions) -> Result<Self, StartError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let all = watcher::Config::default;
        let on_node = all().fields(&format!("spec.nodeName={}", options.node_name));
        let c = || client.clone();
        Ok(Self {
            pods: Cache::spawn("pods", Api::all(c()), on_node, &rt),
            namespaces: Cache::spawn("namespaces", Api::all(c()), all(), &rt),
            nodes: Cache::spawn("nodes", Api::all(c()), all(), &rt),
            replicasets: Cache::spawn("replicasets.apps", Api::all(c()), all(), &rt),
            jobs: Cache::spawn("jobs.batch", Api::all(c()), all(), &rt),
            statefulsets: Cache::spawn("statefulsets.apps", Api::all(c()), all(), &rt),
            coordinators: Cache::spawn(
                "spidercoordinators.spiderpool.spidernet.io",
                Api::all(c()),
                all(),
                &rt,
            ),
            client,
            options,
            hits: AtomicU64::new(0),
            api_reads: AtomicU64::new(0),
        })
    }

    /// The options.
    pub fn options(&self) -> &FactsOptions {
        &self.options
    }

    /// Counters of cache hits and API reads.
    pub fn stats(&self) -> FactsStats {
        FactsStats {
            cache_hits: self.hits.load(Ordering::Relaxed),
            api_reads: self.api_reads.load(Ordering::Relaxed),
            cached_pods: self.pods.len(),
        }
    }

    /// `Ok` once every cache has been listed; otherwise which have not and
    /// the last watch error of each.
    pub fn health(&self) -> Result<(), StoreError> {
        let missing: Vec<String> = [
            self.pods.status(),
            self.namespaces.status(),
            self.nodes.status(),
            self.replicasets.status(),
            self.jobs.status(),
            self.statefulsets.status(),
            self.coordinators.status(),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(StoreError::Backend(format!(
            "kubernetes pod facts not ready: waiting for the first list of {}",
            missing.join(", ")
        )))
    }

    /// Waits until every cache has been listed (at most `sync_timeout`).
    pub async fn wait_synced(&self) -> Result<(), StoreError> {
        let t = self.options.sync_timeout;
        self.pods.wait(t).await?;
        self.namespaces.wait(t).await?;
        self.nodes.wait(t).await?;
        self.replicasets.wait(t).await?;
        self.jobs.wait(t).await?;
        self.statefulsets.wait(t).await?;
        self.coordinators.wait(t).await
    }

    /// Reads from the API server with the request time limit; 404 is `None`.
    async fn read<T>(
        &self,
        what: impl FnOnce() -> String,
        request: impl Future<Output = Result<Option<T>, kube::Error>>,
    ) -> Result<Option<T>, StoreError> {
        self.api_reads.fetch_add(1, Ordering::Relaxed);
        let limit = self.options.request_timeout;
        match tokio::time::timeout(limit, Box::pin(request)).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(StoreError::Backend(format!("{}: {}", what(), describe(&e)))),
            Err(_) => Err(StoreError::Backend(format!("{}: no answer within {limit:?}", what()))),
        }
    }

    fn hit<T>(&self, found: T) -> T {
        self.hits.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The pod from the API server.
    async fn api_pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = self.read(|| format!("get pod {namespace}/{name}"), api.get_opt(name)).await?;
        Ok(pod.as_ref().map(view))
    }

    /// Metadata of `K` `namespace/name`: the cache, else the API server.
    async fn metadata<K>(
        &self,
        cache: &Cache<PartialObjectMeta<K>>,
        api: Api<K>,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<PartialObjectMeta<K>>, StoreError>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
        K: Send + Sync + 'static,
    {
        cache.wait(self.options.sync_timeout).await?;
        if let Some(found) = cache.get(namespace, name) {
            return Ok(Some(self.hit((*found).clone())));
        }
        let kind = K::kind(&());
        let key = namespace.map_or_else(|| name.to_owned(), |ns| format!("{ns}/{name}"));
        self.read(|| format!("get {kind} {key}"), api.get_metadata_opt(name)).await
    }
}

/// The JSON of a Kubernetes object as one of the core's lenient views.
fn view<T: Serialize, V: DeserializeOwned + Default>(object: &T) -> V {
    serde_json::to_value(object)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl PodSource for KubeFacts {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        self.pods.wait(self.options.sync_timeout).await?;
        let Some(cached) = self.pods.get(Some(namespace), name) else {
            return self.api_pod(namespace, name).await;
        };
        let cached: PodView = view(&*cached);
        if not_alive(&cached).is_none() {
            return Ok(Some(self.hit(cached)));
        }
        match self.api_pod(namespace, name).await {
            Ok(found) => Ok(found),
            // The API server is away: the cached pod, which is not alive,
            // is still the safest answer (an ADD for it is refused and
            // retried by the kubelet).
            Err(e) => {
                tracing::debug!(pod = %format!("{namespace}/{name}"), error = %e, "re-read failed; the cached pod answers");
                Ok(Some(cached))
            }
        }
    }

    async fn fresh_pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        self.api_pod(namespace, name).await
    }

    async fn namespace(&self, name: &str) -> Result<Option<NamespaceView>, StoreError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        Ok(self.metadata(&self.namespaces, api, None, name).await?.as_ref().map(view))
    }

    async fn node(&self, name: &str) -> Result<Option<NodeView>, StoreError> {
        let api: Api<Node> = Api::all(self.client.clone());
        Ok(self.metadata(&self.nodes, api, None, name).await?.as_ref().map(view))
    }

    async fn controller(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ControllerView>, StoreError> {
        let ns = Some(namespace);
        let c = || self.client.clone();
        let found = match kind {
            ControllerKind::ReplicaSet => {
                let api: Api<ReplicaSet> = Api::namespaced(c(), namespace);
                self.metadata(&self.replicasets, api, ns, name).await?.as_ref().map(view)
            }
            ControllerKind::Job => {
                let api: Api<Job> = Api::namespaced(c(), namespace);
                self.metadata(&self.jobs, api, ns, name).await?.as_ref().map(view)
            }
            ControllerKind::StatefulSet => {
                self.statefulsets.wait(self.options.sync_timeout).await?;
                if let Some(set) = self.statefulsets.get(ns, name) {
                    return Ok(Some(self.hit(view(&*set))));
                }
                let api: Api<StatefulSet> = Api::namespaced(c(), namespace);
                let what = || format!("get StatefulSet {namespace}/{name}");
                self.read(what, api.get_opt(name)).await?.as_ref().map(view)
            }
            ControllerKind::VirtualMachineInstance | ControllerKind::VirtualMachine => {
                let Some(api) = crate::dynamic::kubevirt_api(c(), kind, namespace) else {
                    return Ok(None);
                };
                let what = || format!("get {kind} {namespace}/{name}");
                self.read(what, api.get_opt(name)).await?.as_ref().map(view)
            }
            // A kind the core learned to read after this adapter was
            // written: say so rather than answer "no such controller".
            other => {
                return Err(StoreError::Backend(format!(
                    "{other} {namespace}/{name}: the Kubernetes pod facts do not watch {other}s"
                )));
            }
        };
        Ok(found)
    }
}

impl CoordinatorSource for KubeFacts {
    async fn coordinator(&self, name: &str) -> Result<Option<SpiderCoordinator>, StoreError> {
        self.coordinators.wait(self.options.sync_timeout).await?;
        let decoded = match self.coordinators.get(None, name) {
            Some(cached) => Some(self.hit(Arc::unwrap_or_clone(cached))),
            None => {
                let api: Api<Decoded<SpiderCoordinator>> = Api::all(self.client.clone());
                self.read(|| format!("get SpiderCoordinator {name}"), api.get_opt(name)).await?
            }
        };
        let Some(decoded) = decoded else { return Ok(None) };
        decoded.object.map(|o| Some(o.into_core())).map_err(|reason| StoreError::Invalid {
            kind: SpiderCoordinator::KIND,
            name: name.to_owned(),
            message: reason,
        })
    }
}
