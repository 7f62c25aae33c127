//! `spiderpool-agent`: Spiderpool's agent API on a unix socket (an axum
//! router on a tokio `UnixListener`), generic over the store.
//!
//! The socket is owned through [`AgentSocket`] (one agent per path, see
//! [`bind_socket`]); every server of the agent runs [`serve_router`] (header
//! read and idle timeouts, connection cap); every error answer carries the
//! JSON error body, also those axum makes itself (404, 405, 413, rejected
//! extractors).
//!
//! Routes (reference §1.2; the request and answer types are
//! [`spiderpool_core::agent_api`]'s, the HTTP error answers and body parsing
//! are in `api`):
//! `GET /v1/ipam/healthy`, `POST /v1/ipam/ip`, `DELETE /v1/ipam/ip`,
//! `DELETE /v1/ipam/ips`, `GET /v1/coordinator/config`,
//! `GET /v1/workloadendpoint` ([`api_router`], for every backend), and for a
//! backend that keeps the administrative objects itself ([`AgentStore`]: the
//! embedded and memory stores) the administrative routes of [`admin`] under
//! `/v1/admin/objects` ([`router`]). The health endpoints of the TCP port are
//! in [`health_router`].
//!
//! The agent is generic over its backend ([`AgentBackend`]): pools and
//! endpoints ([`PoolStore`], [`EndpointStore`]), the pod facts
//! ([`PodSource`]) and the SpiderCoordinator ([`CoordinatorSource`]). A
//! Kubernetes backend implements those and gets every route but the
//! administrative ones (there, users apply objects with kubectl).
//!
//! What it does not do: decide. Pool selection, allocation and release are the
//! core [`Allocator`]'s, the pod facts and release rules are
//! `spiderpool_core::pod` and [`release_decision`], admission is
//! `spiderpool_core::admission`. This module gathers the pod's facts from the
//! backend, calls them and maps the answers to HTTP.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{delete, get, post};
use spiderpool_core::admission::ClusterSettings;
#[cfg(doc)]
use spiderpool_core::allocator::release_decision;
use spiderpool_core::allocator::{Allocator, Clock, Jitter, RetryPolicy, unit_interval};
use spiderpool_core::autopool::SubnetFeature;
use spiderpool_core::pod::{PodContext, PodSource, gather_pod, owner_recorded_in};
use spiderpool_core::selection::IpamSettings;
use spiderpool_core::store::{
    AdminStore, CoordinatorSource, EndpointStore, PoolStore, StoreError, SubnetStore,
};

pub mod admin;
mod announcer;
mod api;
mod autopool;
mod coordinator;
mod http_errors;
mod ipam;
mod journal;
mod metered;
pub mod metrics;
mod server;
mod socket;
mod timestamp;

pub use crate::journal::{restrict_journal_files, staging_path as journal_staging_path};
pub use announcer::{
    AnnounceSocket, MAX_RUNNING as MAX_ANNOUNCEMENTS_RUNNING, serve_announcements,
};
pub use http_errors::BODY_LIMIT;
pub use journal::{ReplayOutcome, replay_release_journal};
pub use metered::Metered;
use metrics::{Metrics, PoolCounts};
pub use server::{EVICTION_GRACE, ServerLimits, serve_router};
pub use socket::{AgentSocket, SocketError, bind_socket, lock_path};

/// Sleeps on tokio's timer between store-conflict retries.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Retry jitter from the operating system's randomness (a fresh
/// `RandomState` per draw), so the agents and requests that conflict on a
/// store spread their retries out.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsJitter;

impl Jitter for OsJitter {
    fn sample(&self) -> f64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        unit_interval(h.finish())
    }
}

/// The wait before re-running a request whose commit conflicted for the
/// `attempt`-th time (1-based), with `random` in `[0, 1)`: none after the
/// first conflict (the store's view is fresh by then), then a random part of
/// 10 ms × 1.5^(attempt − 2), at most 500 ms — full jitter, so that agents
/// losing to each other spread out instead of colliding again.
pub fn conflict_wait(attempt: u32, random: f64) -> std::time::Duration {
    if attempt < 2 {
        return std::time::Duration::ZERO;
    }
    let exponent = i32::try_from(attempt - 2).unwrap_or(i32::MAX).min(64);
    let ceiling = (0.010 * 1.5f64.powi(exponent)).min(0.5);
    std::time::Duration::from_secs_f64(ceiling * random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod conflict_wait_tests {
    use super::conflict_wait;
    use std::time::Duration;

    #[test]
    fn the_first_retry_is_immediate_then_waits_grow_randomly_up_to_half_a_second() {
        assert_eq!(conflict_wait(1, 0.9), Duration::ZERO);
        assert_eq!(conflict_wait(2, 0.0), Duration::ZERO);
        assert!(conflict_wait(2, 0.99) <= Duration::from_millis(10));
        assert!(conflict_wait(6, 0.99) > conflict_wait(3, 0.99));
        assert!(conflict_wait(40, 0.99) <= Duration::from_millis(500));
        assert!(conflict_wait(u32::MAX, 0.99) <= Duration::from_millis(500));
    }
}

/// What the agent needs from its backend: pools and endpoints (with `sync`
/// and `health`), the pod facts, the SpiderCoordinator, and SpiderSubnets
/// with the auto-pool writes of third-party controllers.
pub trait AgentBackend:
    PoolStore + EndpointStore + PodSource + CoordinatorSource + SubnetStore + 'static
{
}

impl<T> AgentBackend for T where
    T: PoolStore + EndpointStore + PodSource + CoordinatorSource + SubnetStore + 'static
{
}

/// A backend that keeps every object itself (the embedded and memory
/// stores): the agent also serves the administrative routes over it.
pub trait AgentStore: AgentBackend + AdminStore {}

impl<T: AgentBackend + AdminStore> AgentStore for T {}

/// Settings of the agent (flags and environment of `spiderpool-agent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// This node's name (`SPIDERPOOL_NODE_NAME`): the node of pods whose stored
    /// object names none, and of every pod not registered.
    pub node_name: String,
    /// IPv4 allocation enabled.
    pub enable_ipv4: bool,
    /// IPv6 allocation enabled.
    pub enable_ipv6: bool,
    /// The namespace Spiderpool runs in (bare NAD names resolve here).
    pub agent_namespace: String,
    /// `MULTUS_CLUSTER_NETWORK` (`ns/name` of the cluster network NAD).
    pub multus_cluster_network: Option<String>,
    /// Stamp `enableIPConflictDetection` into every returned address.
    pub enable_ip_conflict_detection: bool,
    /// Stamp `enableGatewayDetection` into every returned address.
    pub enable_gateway_detection: bool,
    /// `SPIDERPOOL_ENABLED_RELEASE_CONFLICT_IPS`: when false, batch releases with
    /// `isReleaseConflictIPs` are refused with 521.
    pub enable_release_conflict_ips: bool,
    /// Admission settings for the administrative routes.
    pub admission: ClusterSettings,
    /// How often a request whose commit conflicted (another node wrote the
    /// pool first; group commit on a cluster) is run again before it fails.
    /// Each round one of the nodes contending for a pool wins, so a request
    /// can lose many rounds in a row: with 10 nodes streaming ADDs into one
    /// pool, 32 rounds were not always enough (docs/performance.md). Default
    /// 100, Spiderpool's number of conflict retries.
    pub conflict_retries: u32,
    /// SpiderSubnet auto-pools: `enableSpiderSubnet`,
    /// `enableAutoPoolForApplication` and the default number of spare
    /// addresses (`clusterSubnetAutoPoolDefaultRedundantIPNumber`).
    pub subnet: SubnetFeature,
    /// How many times the agent checks for the auto-pool of a Kubernetes
    /// controller's application (`SPIDERPOOL_WAIT_SUBNET_POOL_MAX_RETRIES`,
    /// 25) before the ADD fails.
    pub auto_pool_wait_retries: u32,
    /// The time between those checks
    /// (`SPIDERPOOL_WAIT_SUBNET_POOL_TIME_IN_SECOND`, 2 s).
    pub auto_pool_wait_interval: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            node_name: String::new(),
            enable_ipv4: true,
            enable_ipv6: true,
            agent_namespace: "kube-system".into(),
            multus_cluster_network: None,
            enable_ip_conflict_detection: false,
            enable_gateway_detection: false,
            enable_release_conflict_ips: true,
            admission: ClusterSettings::default(),
            conflict_retries: 100,
            subnet: SubnetFeature::default(),
            auto_pool_wait_retries: 25,
            auto_pool_wait_interval: Duration::from_secs(2),
        }
    }
}

impl AgentConfig {
    /// The allocator's settings for one request (the CNI config's pool keys
    /// are filled in by the caller).
    pub fn ipam_settings(&self) -> IpamSettings {
        IpamSettings {
            enable_ipv4: self.enable_ipv4,
            enable_ipv6: self.enable_ipv6,
            agent_namespace: self.agent_namespace.clone(),
            multus_cluster_network: self.multus_cluster_network.clone(),
            subnet: self.subnet,
            ..IpamSettings::default()
        }
    }
}

/// The agent: configuration and the allocator over the backend.
#[derive(Debug)]
pub struct Agent<S> {
    allocator: Allocator<Metered<S>, TokioClock, OsJitter>,
    config: AgentConfig,
    metrics: Arc<Metrics>,
    /// Node-local serialisation of allocations and releases (Spiderpool's
    /// ticket limiter, reference §4.5, simplified to one queue): this agent is
    /// the only writer of its pools, so letting requests race only turns into
    /// compare-and-swap conflicts — with 200 concurrent ADDs on the embedded
    /// store, 5–20 % of them used to give up after 8 conflicts. Waiting in
    /// this queue costs nothing the store would not serialise anyway.
    write_queue: tokio::sync::Mutex<()>,
    /// Third-party auto-pool writes of this agent, one at a time (the store
    /// writes are compare-and-swap across agents; this keeps one agent's
    /// requests from conflicting with each other).
    auto_pool_writes: tokio::sync::Mutex<()>,
}

impl<S: AgentBackend> Agent<S> {
    /// An agent over `store`.
    pub fn new(store: S, config: AgentConfig) -> Self {
        let metrics = Arc::new(Metrics::new());
        let metered = Metered { inner: store, metrics: metrics.clone() };
        Self {
            allocator: Allocator::with_clock(metered, TokioClock, RetryPolicy::default())
                .with_jitter(OsJitter),
            config,
            metrics,
            write_queue: tokio::sync::Mutex::new(()),
            auto_pool_writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs one allocation or release as one unit of work of the store
    /// ([`PoolStore::unit_of_work`]): `work()` after the requests queued
    /// before it on this node (see the `write_queue` field), then waits until
    /// its writes are durable ([`PoolStore::sync`]) — outside the queue, so
    /// the requests that finished meanwhile share one fsync or one status
    /// write (group commit). A failed sync turns a success into the store's
    /// error: the client must not be told about writes a crash could lose.
    ///
    /// A sync that fails with a conflict (group commit on a cluster: another
    /// node took an address this unit staged) runs `work()` again — at once
    /// the first time, then after a growing, fully random wait
    /// ([`conflict_wait`]) — up to [`AgentConfig::conflict_retries`] times.
    /// Without the waits, agents that keep losing the race to the same pool
    /// retried in lockstep: with 10 agents streaming ADDs into one pool,
    /// some ADDs lost 33 races in a row and failed.
    pub async fn serialized<T, E, F, Fut>(&self, work: F) -> Result<T, E>
    where
        T: Send,
        E: From<StoreError> + Send,
        F: Fn() -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<T, E>> + Send,
    {
        let attempts = self.config.conflict_retries.saturating_add(1);
        self.store()
            .unit_of_work(async {
                let mut attempt = 1;
                loop {
                    let result = {
                        let _turn = self.write_queue.lock().await;
                        work().await
                    };
                    match self.sync().await {
                        Ok(()) => return result,
                        Err(e) if e.is_conflict() && attempt < attempts => {
                            metered::count_conflict(&self.metrics);
                            let wait = conflict_wait(attempt, OsJitter.sample());
                            attempt += 1;
                            tracing::debug!(attempt, ?wait, error = %e, "commit conflict; running the request again");
                            tokio::time::sleep(wait).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            })
            .await
    }

    /// Waits until every write that has returned is durable (see
    /// [`Agent::serialized`]); the administrative routes call it before they
    /// answer.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let r = self.store().sync().await;
        self.metrics.sync(started.elapsed());
        r
    }

    /// The backend.
    pub fn store(&self) -> &S {
        &self.allocator.store().inner
    }

    /// The facts of pod `namespace/name` from the backend (`uid`: the
    /// caller's, empty when unknown); see [`gather_pod`].
    pub async fn gather(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> Result<PodContext, StoreError> {
        gather_pod(self.store(), namespace, name, uid, &self.config.node_name).await
    }

    /// [`Agent::gather`] for a release: the pod is read with
    /// [`PodSource::fresh_pod`] (bypassing the backend's caches, as Spiderpool
    /// reads it from the API server before it releases); for a pod that is
    /// gone, the owner its SpiderEndpoint records is read again
    /// ([`owner_recorded_in`]), so a StatefulSet member keeps its addresses
    /// for its successor.
    pub async fn gather_for_release(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> Result<PodContext, StoreError> {
        let store = self.store();
        let mut ctx =
            gather_pod(&FreshPod(store), namespace, name, uid, &self.config.node_name).await?;
        if !ctx.registered
            && ctx.pod.owner.is_none()
            && let Some(ep) = store.get_endpoint(namespace, name).await?
        {
            ctx.pod.owner = owner_recorded_in(store, &ep.value).await?;
        }
        Ok(ctx)
    }

    /// The allocator (over the store wrapped for conflict counting).
    pub fn allocator(&self) -> &Allocator<Metered<S>, TokioClock, OsJitter> {
        &self.allocator
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics exposition, with the per-pool gauges refreshed from the
    /// store.
    pub async fn render_metrics(&self) -> Result<String, String> {
        let pools = self.store().list_pools().await.map_err(|e| format!("store: {e}"))?;
        let counts: Vec<PoolCounts> = pools
            .iter()
            .map(|p| {
                let status = p.status.as_ref();
                PoolCounts {
                    name: p.metadata.name_str().to_string(),
                    total: status.and_then(|s| s.total_ip_count).unwrap_or(0),
                    allocated: status.and_then(|s| s.allocated_ip_count).unwrap_or(0),
                }
            })
            .collect();
        self.metrics.set_pools(&counts);
        self.metrics.encode().map_err(|e| format!("encoding metrics: {e}"))
    }

    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// `Ok` when the store answers (a pool listing succeeds) and can take
    /// writes ([`PoolStore::health`]); otherwise why not.
    /// The store's own health first: a store still waiting for its first
    /// lists says so at once, where a listing would wait for them.
    pub async fn health(&self) -> Result<(), String> {
        self.store().health().await.map_err(|e| e.to_string())?;
        self.store().list_pools().await.map_err(|e| e.to_string()).map(|_| ())
    }
}

/// A backend whose [`PodSource::pod`] is its [`PodSource::fresh_pod`].
struct FreshPod<'a, S>(&'a S);

impl<S: PodSource> PodSource for FreshPod<'_, S> {
    async fn pod(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<spiderpool_core::pod::PodView>, StoreError> {
        self.0.fresh_pod(namespace, name).await
    }

    async fn namespace(
        &self,
        name: &str,
    ) -> Result<Option<spiderpool_core::pod::NamespaceView>, StoreError> {
        self.0.namespace(name).await
    }

    async fn node(&self, name: &str) -> Result<Option<spiderpool_core::pod::NodeView>, StoreError> {
        self.0.node(name).await
    }

    async fn controller(
        &self,
        kind: spiderpool_core::pod::ControllerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<spiderpool_core::pod::ControllerView>, StoreError> {
        self.0.controller(kind, namespace, name).await
    }
}

/// Spiderpool's agent routes, served for every backend.
fn api_routes<S: AgentBackend>() -> Router<Arc<Agent<S>>> {
    Router::new()
        .route("/v1/ipam/healthy", get(ipam::healthy::<S>))
        .route("/v1/ipam/ip", post(ipam::add::<S>).delete(ipam::del::<S>))
        .route("/v1/ipam/ips", delete(ipam::batch_del::<S>).post(ipam::batch_post))
        .route("/v1/coordinator/config", get(coordinator::config::<S>))
        .route("/v1/workloadendpoint", get(coordinator::workload_endpoint::<S>))
}

/// `routes` with the agent as state, the body limit and JSON error bodies.
fn socket_router<S: AgentBackend>(routes: Router<Arc<Agent<S>>>, agent: Arc<Agent<S>>) -> Router {
    routes
        .with_state(agent)
        .layer(http_errors::body_limit())
        .layer(axum::middleware::from_fn(http_errors::json_errors))
}

/// The router of the unix socket for any backend: Spiderpool's agent routes.
pub fn api_router<S: AgentBackend>(agent: Arc<Agent<S>>) -> Router {
    socket_router(api_routes::<S>(), agent)
}

/// The router of the unix socket for a backend that keeps every object
/// ([`AgentStore`]): Spiderpool's agent routes and the administrative routes.
pub fn router<S: AgentStore>(agent: Arc<Agent<S>>) -> Router {
    socket_router(api_routes::<S>().merge(admin::routes::<S>()), agent)
}

/// The router of the TCP health port: `GET /v1/runtime/startup`,
/// `/v1/runtime/readiness` and `/v1/runtime/liveness` (200 when the store
/// answers, 500 otherwise).
pub fn health_router<S: AgentBackend>(agent: Arc<Agent<S>>) -> Router {
    Router::new()
        .route("/v1/runtime/startup", get(ipam::healthy::<S>))
        .route("/v1/runtime/readiness", get(ipam::healthy::<S>))
        .route("/v1/runtime/liveness", get(ipam::healthy::<S>))
        .with_state(agent)
        .layer(axum::middleware::from_fn(http_errors::json_errors))
}

/// The router of the metrics port: the OpenMetrics text on every path.
pub fn metrics_router<S: AgentBackend>(agent: Arc<Agent<S>>) -> Router {
    Router::new()
        .fallback(serve_metrics::<S>)
        .with_state(agent)
        .layer(axum::middleware::from_fn(http_errors::json_errors))
}

async fn serve_metrics<S: AgentBackend>(
    axum::extract::State(agent): axum::extract::State<Arc<Agent<S>>>,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    match agent.render_metrics().await {
        Ok(text) => (
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// Serves the agent over a store ([`router`]: with the administrative
/// routes) on `socket`; see [`serve_socket`].
pub async fn serve<S: AgentStore>(
    socket: AgentSocket,
    agent: Arc<Agent<S>>,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_socket(socket, router(agent), limits, shutdown).await
}

/// Serves `router` ([`router`] or [`api_router`]) on `socket` with `limits`
/// until `shutdown` completes (then waits for the requests in flight); the
/// socket file is removed when `socket` is dropped (if it is still the one
/// bound).
pub async fn serve_socket(
    mut socket: AgentSocket,
    router: Router,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = socket.take_listener().ok_or_else(|| {
        io::Error::other(format!("socket {}: already served", socket.path().display()))
    })?;
    serve_router(listener, router, limits, shutdown).await
}
