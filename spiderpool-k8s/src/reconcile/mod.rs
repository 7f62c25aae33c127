//! The controller's reconcilers (kube-runtime `Controller`s), run on the
//! leader by `spiderpool-controller` through [`run`]:
//!
//! - [`pool`]: SpiderIPPool `status.totalIPCount` / `allocatedIPCount`,
//!   Spiderpool's finalizer (a deleted pool stays terminating until its last
//!   address is released), and the overlap race of two pools admitted at the
//!   same moment (Spiderpool #746);
//! - [`reserved`]: SpiderReservedIP effects the user must see (a reserved
//!   address that a pod still holds);
//! - [`subnet`]: SpiderSubnet `status` (counts, `controlledIPPools`), its
//!   finalizer, and (with the SpiderSubnet feature) adoption of pools with
//!   its CIDR;
//! - [`app`]: the SpiderSubnet application controller (auto-pools per
//!   application, with `enableAutoPoolForApplication`);
//! - [`nad`]: SpiderMultusConfig → Multus NetworkAttachmentDefinition;
//! - [`coordinator`]: SpiderCoordinator `status` (pod and service CIDRs);
//! - [`init`]: what Spiderpool's `spiderpool-init` Helm hook creates.
//!
//! Every decision is `spiderpool_core::reconcile`'s; these modules read
//! facts, call it, and write the answer with compare-and-swap on
//! `metadata.resourceVersion`. An object that bypassed admission and cannot
//! be understood is reported (a Warning event, and the status where the kind
//! has one) and skipped until it changes: it never stops the others.

pub mod app;
pub mod coordinator;
mod events;
pub mod init;
pub mod nad;
pub mod pool;
pub mod reserved;
pub mod subnet;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::watcher;

pub use app::AutoPoolOptions;
pub use coordinator::CoordinatorOptions;
pub use events::{EventSink, Reporter};

/// The field manager of the reconcilers' writes.
pub const FIELD_MANAGER: &str = "spiderpool-controller";

/// What the reconcilers do and where they look.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// Only objects of Spiderpool's kinds (and NADs) with these labels
    /// (`key=value,...`); `None` (the default): all. Tests scope their
    /// reconcilers with it.
    pub label_selector: Option<String>,
    /// Run the SpiderMultusConfig → NAD reconciler (Spiderpool's
    /// `SPIDERPOOL_MULTUS_CONFIG_ENABLED`; needs the NAD CRD).
    pub multus_config: bool,
    /// Run the SpiderCoordinator status reconciler with these settings
    /// (`SPIDERPOOL_COORDINATOR_ENABLED`); `None`: off.
    pub coordinator: Option<CoordinatorOptions>,
    /// How often every object is checked again without a change (Spiderpool's
    /// informer resync): catches what a watch cannot see (an earlier
    /// overlapping pool, a NAD claim freed by a deleted SMC, node CIDRs).
    pub resync: Duration,
    /// Delay before retrying an object whose write failed or conflicted.
    pub retry: Duration,
    /// Who reports events.
    pub reporter: Reporter,
    /// The SpiderSubnet feature (`enableSpiderSubnet`): subnets adopt the
    /// pools of their CIDR that no subnet owns.
    pub spider_subnet: bool,
    /// Run the application controller (`enableAutoPoolForApplication`, only
    /// with `spider_subnet`) with these settings; `None`: off.
    pub auto_pool: Option<AutoPoolOptions>,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            label_selector: None,
            multus_config: true,
            coordinator: Some(CoordinatorOptions::default()),
            resync: Duration::from_secs(60),
            retry: Duration::from_secs(5),
            reporter: Reporter::default(),
            spider_subnet: false,
            auto_pool: None,
        }
    }
}

impl ReconcileOptions {
    /// The watcher configuration of Spiderpool's kinds.
    pub(crate) fn watcher(&self) -> watcher::Config {
        let config = watcher::Config::default();
        match &self.label_selector {
            Some(selector) => config.labels(selector),
            None => config,
        }
    }
}

/// Errors of the reconcilers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// A request to the API server failed.
    #[error("{what}: {source}")]
    Kube {
        /// The request, e.g. `patch SpiderIPPool p status`.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// An object could not be converted (a bug or a timestamp that is not
    /// RFC 3339).
    #[error("{what}: {message}")]
    Convert {
        /// The object.
        what: String,
        /// Why.
        message: String,
    },
}

impl ReconcileError {
    pub(crate) fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Kube { what, source }
    }

    /// True for a compare-and-swap conflict (HTTP 409): the object changed
    /// under the write; the next reconcile reads the new version.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube { source: kube::Error::Api(s), .. } if s.code == 409)
    }
}

/// What every reconciler gets.
pub(crate) struct Shared {
    pub client: Client,
    pub options: ReconcileOptions,
    pub events: EventSink,
    /// Serializes the writers of a subnet's `controlledIPPools` in this
    /// process (the application controller and the subnet reconciler).
    pub subnet_locks: SubnetLocks,
    /// The kinds the application controller watches, once it has started.
    pub app_kinds: std::sync::OnceLock<Vec<&'static str>>,
}

/// One async lock per SpiderSubnet name.
#[derive(Default)]
pub(crate) struct SubnetLocks(
    std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
);

impl SubnetLocks {
    /// Takes the locks of `names` (sorted and deduplicated, so two callers
    /// never wait on each other in a cycle); released when dropped.
    pub(crate) async fn lock(&self, names: &[&str]) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        let mut names: Vec<&str> = names.to_vec();
        names.sort_unstable();
        names.dedup();
        let mut guards = Vec::with_capacity(names.len());
        for name in names {
            let lock = match self.0.lock() {
                Ok(mut map) => map.entry(name.to_owned()).or_default().clone(),
                Err(poisoned) => poisoned.into_inner().entry(name.to_owned()).or_default().clone(),
            };
            guards.push(lock.lock_owned().await);
        }
        guards
    }
}

impl Shared {
    /// The error policy: log, and retry after `options.retry` (sooner after
    /// a conflict, which only means "read again").
    pub(crate) fn on_error(&self, kind: &str, name: &str, error: &ReconcileError) -> Action {
        if error.is_conflict() {
            tracing::debug!(kind, name, %error, "write conflicted; reading again");
            return Action::requeue(Duration::from_millis(200));
        }
        tracing::warn!(kind, name, %error, "reconcile failed; retrying");
        Action::requeue(self.options.retry)
    }
}

/// Runs every enabled reconciler until `shutdown` completes (each finishes
/// the object it is working on, then stops) or one of them fails.
///
/// The controller executable calls it on the leader and drops the future
/// when it loses the lease: nothing here writes anything a lost lease would
/// leave half done (every write is one compare-and-swap request).
///
/// `shutdown` must be `Send + 'static`: it is shared by every reconciler's
/// kube-runtime `Controller`.
///
/// ```no_run
/// # async fn demo(client: kube::Client) -> Result<(), spiderpool_k8s::reconcile::ReconcileError> {
/// use spiderpool_k8s::reconcile::{self, ReconcileOptions};
///
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let reconcilers = tokio::spawn(reconcile::run(client, ReconcileOptions::default(), async {
///     let _ = stopped.await;
/// }));
/// // ... the lease is lost, or SIGTERM:
/// let _ = stop.send(());
/// # let _ = reconcilers.await;
/// # Ok(()) }
/// ```
pub async fn run(
    client: Client,
    options: ReconcileOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReconcileError> {
    let shutdown = shutdown.shared();
    let shared = Arc::new(Shared {
        events: EventSink::new(client.clone(), options.reporter.clone()),
        client,
        options,
        subnet_locks: SubnetLocks::default(),
        app_kinds: std::sync::OnceLock::new(),
    });
    let pools = pool::controller(&shared).graceful_shutdown_on(shutdown.clone());
    let pool_store = PoolCache::new(pools.store());
    let mut tasks: Vec<futures::future::BoxFuture<'static, Result<(), ReconcileError>>> = vec![
        pool::run(pools, shared.clone()).boxed(),
        subnet::run(shared.clone(), pool_store.clone(), shutdown.clone()).boxed(),
        reserved::run(shared.clone(), pool_store.clone(), shutdown.clone()).boxed(),
    ];
    if let Some(auto_pool) =
        shared.options.auto_pool.clone().filter(|_| shared.options.spider_subnet)
    {
        tasks.push(app::run(shared.clone(), auto_pool, pool_store, shutdown.clone()).boxed());
    }
    if shared.options.multus_config {
        tasks.push(nad::run(shared.clone(), shutdown.clone()).boxed());
    }
    if let Some(coordinator) = shared.options.coordinator.clone() {
        tasks.push(coordinator::run(shared.clone(), coordinator, shutdown.clone()).boxed());
    }
    let mut all: futures::stream::FuturesUnordered<_> = tasks.into_iter().collect();
    while let Some(done) = all.next().await {
        done?;
    }
    Ok(())
}

/// Every pool, from the pool reconciler's cache, for the subnet and
/// reserved-IP reconcilers.
///
/// Readiness goes through a `watch` channel fed by one waiter task that
/// polls kube-runtime's `Store::wait_until_ready` with a short timeout:
/// that future wakes only the last of several concurrent waiters (its
/// oneshot receiver keeps one waker) and the controller's own applier waits
/// on it too, so a plain second waiter can sleep forever (seen in tests).
#[derive(Clone)]
pub(crate) struct PoolCache {
    store: kube::runtime::reflector::Store<crate::IPPoolObject>,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl PoolCache {
    fn new(store: kube::runtime::reflector::Store<crate::IPPoolObject>) -> Self {
        let (tx, ready) = tokio::sync::watch::channel(false);
        let waiter = store.clone();
        tokio::spawn(async move {
            loop {
                let poll = Duration::from_millis(100);
                match tokio::time::timeout(poll, waiter.wait_until_ready()).await {
                    Ok(Ok(())) => {
                        let _ = tx.send(true);
                        return;
                    }
                    // The pool reconciler stopped before it listed.
                    Ok(Err(_)) => return,
                    Err(_) if tx.is_closed() => return,
                    Err(_) => {}
                }
            }
        });
        Self { store, ready }
    }

    /// Every pool once the cache has listed them; `None` when the pool
    /// reconciler stopped before it did.
    pub(crate) async fn pools(&self) -> Option<Vec<spiderpool_core::model::SpiderIPPool>> {
        let mut ready = self.ready.clone();
        ready.wait_for(|r| *r).await.ok()?;
        Some(self.store.state().iter().map(|p| p.to_core()).collect())
    }
}

/// Drains a controller's output stream: logs each outcome, ends when the
/// controller shuts down. A watch error is logged and the watch retries
/// (kube-runtime's backoff), so nothing here ends the reconciler early.
pub(crate) async fn drain<S, K, E1, E2>(
    reconciler: &'static str,
    stream: S,
) -> Result<(), ReconcileError>
where
    S: futures::Stream<
            Item = Result<
                (kube::runtime::reflector::ObjectRef<K>, Action),
                kube::runtime::controller::Error<E1, E2>,
            >,
        >,
    K: kube::Resource,
    E1: std::error::Error + 'static,
    E2: std::error::Error + 'static,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok((object, _)) => tracing::trace!(reconciler, %object, "reconciled"),
            Err(error) => tracing::debug!(reconciler, %error, "controller"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod subnet_lock_tests {
    use super::SubnetLocks;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_subnet_and_names_deduplicated() {
        let locks = SubnetLocks::default();
        let held = locks.lock(&["b", "a", "a"]).await;
        assert_eq!(held.len(), 2, "each subnet once");
        // "a" is held: a second carve on it waits; one on "c" does not.
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock(&["c"])).await;
        assert!(other.is_ok());
        let blocked = tokio::time::timeout(Duration::from_millis(50), locks.lock(&["a"])).await;
        assert!(blocked.is_err(), "a second holder of subnet a");
        drop(held);
        let after = tokio::time::timeout(Duration::from_millis(50), locks.lock(&["a"])).await;
        assert!(after.is_ok());
    }
}
