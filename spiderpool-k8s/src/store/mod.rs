//! The Kubernetes store: the core's [`PoolStore`] and [`EndpointStore`] over
//! the API server, so the agent runs on a cluster.
//!
//! ```text
//!            watches (kube-runtime watcher, relist on 410)
//!  API server ────────────────────────────────► Tables (one lock)
//!     ▲   spiderippools, spiderreservedips,        pools: base ─ staged ─► view
//!     │   spiderendpoints (label-scoped option)    endpoints: base ─ staged ─► view
//!     │                                            reserved IPs, units of work
//!     │  PUT …/spiderippools/NAME/status (CAS)         ▲            │
//!     └──────── commit (one write per pool) ◄──── sync()    reads, staged writes
//!               endpoint create/replace/delete (CAS)          (the allocator)
//! ```
//!
//! - **Reads** come from caches the watches keep (the `tracker` module decides which
//!   of the watch's and the answers' states is newest without ordering
//!   `resourceVersion`s). Each pool is parsed once per `resourceVersion`; a
//!   read or a staged change touches the parsed index only. Reads wait for
//!   the first list of every kind.
//! - **Versions** are the store's own: a counter bumped whenever a view
//!   changes; the `resourceVersion` a view is based on is kept beside it.
//! - **Writes** go to the API server with compare-and-swap: pool records as
//!   `status.allocatedIPs` through the status subresource, endpoints with a
//!   `resourceVersion` precondition. A 409 makes the store read the object
//!   afresh from the API server.
//! - **Commit modes** ([`CommitMode`]): `PerWrite` is Spiderpool's — every
//!   `update_allocations` is one status write, a 409 is a
//!   [`StoreError::Conflict`] for the allocator's retry loop. `Group` stages
//!   writes in the store's views at once (requests after them see them) and
//!   commits them in [`PoolStore::sync`]: one status write per pool carries
//!   every staged change of that pool, then the endpoint writes; on a 409 the
//!   changes are replayed on a fresh read and those that no longer fit fail
//!   their *unit of work* ([`KubeStore::unit_of_work`]).
//! - **Bad objects** (a pool whose `spec.ips` or `status.allocatedIPs` does not
//!   parse, an object that does not decode) are logged with the object and
//!   the field, listed by [`KubeStore::rejected`], read as
//!   [`StoreError::Invalid`], and never stop other objects.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::store::{
    AllocationChange, EndpointStore, PoolState, PoolStore, StoreError, Version, Versioned,
};
use tokio::task::AbortHandle;

mod api;
mod commit;
pub(crate) mod decode;
mod endpoints;
mod pools;
mod state;
mod stats;
mod tracker;
mod units;
mod watch;

pub use stats::StoreStats;

use api::Requests;
use state::{Precondition, Tables};
use stats::Counters;
use watch::Readiness;

/// How the store commits pool and endpoint writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// Group commit: writes are staged in the store's views and committed
    /// together by `sync` — one status write per pool for every change staged
    /// on it. The agent's default.
    #[default]
    Group,
    /// Spiderpool's behaviour, the measured baseline (`--group-commit=false`):
    /// every write goes to the API server when it is made; a 409 is a
    /// [`StoreError::Conflict`].
    PerWrite,
}

/// Settings of a [`KubeStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeStoreOptions {
    /// How writes are committed.
    pub commit: CommitMode,
    /// Watch only objects carrying this label (`key`, `value`) and put it on
    /// the endpoints the store creates: independent stores in one cluster
    /// (tests, benchmarks). Production leaves it unset.
    pub scope_label: Option<(String, String)>,
    /// How long reads and writes wait for the first list of every kind.
    pub sync_timeout: Duration,
    /// Time limit of one request to the API server (writes, fresh reads, the
    /// health probe).
    pub request_timeout: Duration,
    /// Status writes one commit tries on a pool (each 409 reads the pool
    /// afresh and replays) before the changes on it fail with a conflict.
    pub commit_attempts: u32,
}

impl Default for KubeStoreOptions {
    fn default() -> Self {
        Self {
            commit: CommitMode::Group,
            scope_label: None,
            sync_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            commit_attempts: 8,
        }
    }
}

impl KubeStoreOptions {
    /// Options with this commit mode.
    pub fn with_commit(mut self, commit: CommitMode) -> Self {
        self.commit = commit;
        self
    }

    /// Options scoped to objects labelled `key=value`.
    pub fn with_scope_label(mut self, key: &str, value: &str) -> Self {
        self.scope_label = Some((key.to_owned(), value.to_owned()));
        self
    }

    /// The label selector of the scope label.
    fn label_selector(&self) -> Option<String> {
        self.scope_label.as_ref().map(|(k, v)| format!("{k}={v}"))
    }
}

/// An object the store skips because it does not decode or parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedObject {
    /// Its kind.
    pub kind: &'static str,
    /// Its name (`namespace/name` for endpoints).
    pub name: String,
    /// Why, naming the field.
    pub reason: String,
}

/// Errors of [`KubeStore::new`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store runs its watches on tokio; it was created outside a runtime.
    #[error("the Kubernetes store must be created inside a tokio runtime")]
    NoRuntime,
}

/// The state every task of a store shares.
pub(crate) struct Shared {
    requests: Requests,
    options: KubeStoreOptions,
    tables: Mutex<Tables>,
    /// Held by the one commit running at a time.
    commit_lock: Arc<tokio::sync::Mutex<()>>,
    readiness: Readiness,
    counters: Counters,
    /// The last health probe and when it ran.
    probed: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        // Every change to the tables is checked before it is made, so a panic
        // while the lock is held leaves them consistent.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn wait_ready(&self) -> Result<(), StoreError> {
        self.readiness.wait(self.options.sync_timeout).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.readiness.check()?;
        let fresh = |at: &Instant| at.elapsed() < Duration::from_secs(1);
        let cached = match self.probed.lock() {
            Ok(probed) => probed.as_ref().filter(|(at, _)| fresh(at)).map(|(_, r)| r.clone()),
            Err(_) => None,
        };
        let result = match cached {
            Some(r) => r,
            None => {
                let selector = self.options.label_selector();
                let r = self.requests.probe(selector.as_deref()).await.map_err(|e| match e {
                    api::RequestError::Failed(m)
                    | api::RequestError::Conflict(m)
                    | api::RequestError::NotFound(m) => m,
                });
                if let Ok(mut probed) = self.probed.lock() {
                    *probed = Some((Instant::now(), r.clone()));
                }
                r
            }
        };
        result.map_err(|m| StoreError::Backend(format!("kubernetes API server unreachable: {m}")))
    }
}

/// The core's stores over a Kubernetes API server (see the module doc).
///
/// Dropping it stops its watches.
pub struct KubeStore {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
}

impl std::fmt::Debug for KubeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeStore").field("options", &self.shared.options).finish_non_exhaustive()
    }
}

impl KubeStore {
    /// A store over `client`: starts the watches of SpiderIPPools,
    /// SpiderReservedIPs and SpiderEndpoints on the current tokio runtime and
    /// returns at once; reads wait until each has been listed
    /// ([`KubeStore::wait_synced`]).
    pub fn new(client: kube::Client, options: KubeStoreOptions) -> Result<Self, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let shared = Arc::new(Shared {
            requests: Requests::new(client, options.request_timeout),
            options,
            tables: Mutex::new(Tables::default()),
            commit_lock: Arc::new(tokio::sync::Mutex::new(())),
            readiness: Readiness::default(),
            counters: Counters::default(),
            probed: Mutex::new(None),
        });
        let tasks = watch::spawn_all(&shared, &runtime);
        Ok(Self { shared, tasks })
    }

    /// Waits until every watched kind has been listed once (at most the
    /// options' `sync_timeout`); the error says what is missing and why.
    pub async fn wait_synced(&self) -> Result<(), StoreError> {
        self.shared.wait_ready().await
    }

    /// The options.
    pub fn options(&self) -> &KubeStoreOptions {
        &self.shared.options
    }

    /// Counters of requests, conflicts, commits and relists.
    pub fn stats(&self) -> StoreStats {
        self.shared.counters.snapshot()
    }

    /// The objects skipped because they do not decode or parse.
    pub fn rejected(&self) -> Vec<RejectedObject> {
        let tables = self.shared.lock();
        tables
            .rejected
            .iter()
            .map(|((kind, name), reason)| RejectedObject {
                kind,
                name: name.clone(),
                reason: reason.clone(),
            })
            .collect()
    }

    /// Runs `work` — one request's writes and the `sync` after them — as one
    /// unit of work (see [`PoolStore::unit_of_work`]): with group commit,
    /// `sync` inside it reports whether *this* unit's staged writes were
    /// committed. A unit whose staged change no longer fits (another node took
    /// the address) fails as a whole: `sync` returns [`StoreError::Conflict`],
    /// its other staged writes are withdrawn from the views and not sent; pool
    /// records already written for it stay, for the retried request of the
    /// same pod UID to find. Nested calls run in the outer unit. When `work`
    /// ends (or is dropped) with writes not yet committed, they are withdrawn.
    pub async fn unit_of_work<F: Future>(&self, work: F) -> F::Output {
        if units::current().is_some() {
            return work.await;
        }
        let unit = self.shared.lock().units.allocate();
        let _guard = UnitGuard { shared: self.shared.clone(), unit };
        units::scoped(unit, work).await
    }
}

/// Ends a unit of work: withdraws its writes that no `sync` committed.
struct UnitGuard {
    shared: Arc<Shared>,
    unit: units::UnitId,
}

impl Drop for UnitGuard {
    fn drop(&mut self) {
        let mut tables = self.shared.lock();
        if tables.units.abandon(self.unit) {
            tables.withdraw_failed();
        }
    }
}

impl Drop for KubeStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PoolStore for KubeStore {
    async fn list_pools(&self) -> Result<Vec<Arc<SpiderIPPool>>, StoreError> {
        self.shared.wait_ready().await?;
        Ok(self.shared.lock().list_pools())
    }

    async fn read_pool<R: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R + Send,
    ) -> Result<Option<Versioned<R>>, StoreError> {
        self.shared.wait_ready().await?;
        self.shared.lock().read_pool(name, f)
    }

    async fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<Version, StoreError> {
        self.shared.wait_ready().await?;
        commit::update_allocations(&self.shared, name, expected, change).await
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        self.shared.wait_ready().await?;
        Ok(self.shared.lock().reserved.values().cloned().collect())
    }

    async fn sync(&self) -> Result<(), StoreError> {
        commit::sync(&self.shared).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.shared.health().await
    }

    fn unit_of_work<F>(&self, work: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        KubeStore::unit_of_work(self, work)
    }
}

fn key(namespace: &str, name: &str) -> endpoints::EndpointKey {
    (namespace.to_owned(), name.to_owned())
}

impl EndpointStore for KubeStore {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        self.shared.wait_ready().await?;
        let k = key(namespace, name);
        let mut tables = self.shared.lock();
        if let Some(unit) = units::current() {
            // The answer may rest on other units' staged writes of this
            // endpoint (an earlier ADD of the same pod still committing).
            tables.depend_on_staged_endpoint(unit, &k);
        }
        Ok(tables.get_endpoint(&k))
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        self.shared.wait_ready().await?;
        let k = key(
            endpoint.metadata.namespace.as_deref().unwrap_or_default(),
            endpoint.metadata.name_str(),
        );
        let version =
            commit::write_endpoint(&self.shared, &k, Precondition::Absent, Some(endpoint.clone()))
                .await?;
        Ok(version)
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        self.shared.wait_ready().await?;
        let k = key(
            endpoint.metadata.namespace.as_deref().unwrap_or_default(),
            endpoint.metadata.name_str(),
        );
        commit::write_endpoint(&self.shared, &k, Precondition::At(expected), Some(endpoint.clone()))
            .await
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        self.shared.wait_ready().await?;
        commit::write_endpoint(
            &self.shared,
            &key(namespace, name),
            Precondition::At(expected),
            None,
        )
        .await
        .map(|_| ())
    }
}
