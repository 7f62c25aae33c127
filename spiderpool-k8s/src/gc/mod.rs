//! IP garbage collection on a cluster, run by the controller's leader
//! ([`run`]): addresses held by pods that are gone, finished, terminating
//! past their grace period, replaced by a same-name pod of another UID, or
//! on a node that no longer exists are released; a StatefulSet member that
//! its set still counts keeps its addresses.
//!
//! ```text
//!  pod watch (all pods) ──trace: deleted / terminating / finished──┐
//!  timer (scan_interval; grace while suspects wait) ───────────────┤
//!                                                                  ▼
//!  scan: pool records + SpiderEndpoints ─► holders (ns/name, uid) ─► core gc::judge
//!        first "release" → suspect; again ≥ grace later → re-read the Pod from the
//!        API server (UID, phase, node unchanged?) → judge again → core release_holder
//!        (allocator over KubeStore: records by UID with compare-and-swap, endpoint
//!        deleted with its finalizer)
//! ```
//!
//! What it does not do: decide. The rules are `spiderpool_core::gc` (which
//! reuses the core's liveness and StatefulSet rules); this module gathers
//! the facts, keeps the counters ([`GcMetrics`]), posts the events users
//! must see ([`IP_RELEASED`], [`IP_RELEASE_FAILED`], [`GC_SKIPPED`]) and
//! writes through the allocator. No scan runs before the store's and the
//! pod cache's first lists.

mod notes;
mod scan;
mod source;
mod stats;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{Either, select};
use spiderpool_core::allocator::{Allocator, Clock, RetryPolicy};
use spiderpool_core::gc::Suspects;
use spiderpool_core::store::StoreError;
use tokio::sync::{Mutex, Notify};

use crate::reconcile::{EventSink, Reporter};
use crate::store::{KubeStore, KubeStoreOptions, StartError};
use source::{ApiSource, PodCache};

pub use notes::{GC_SKIPPED, IP_RELEASE_FAILED, IP_RELEASED};
pub use scan::ScanReport;
pub use stats::{GcMetrics, GcStats, SkipReason};

/// Settings of the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcOptions {
    /// Time between full scans when nothing is waiting (Spiderpool's
    /// `SPIDERPOOL_GC_DEFAULT_INTERVAL_DURATION`, 600 s).
    pub scan_interval: Duration,
    /// How far apart the two observations that release an address must be.
    pub grace: Duration,
    /// Extra time after a terminating pod's grace period
    /// (`SPIDERPOOL_GC_ADDITIONAL_GRACE_DELAY`, 0 s).
    pub terminating_delay: Duration,
    /// The least time between two scans a pod event triggers
    /// (`SPIDERPOOL_GC_TRACE_POD_GAP_DURATION`, 5 s).
    pub trace_gap: Duration,
    /// The store the releases are written through. With group commit (the
    /// default) the releases of one scan that run side by side share one
    /// status write per pool.
    pub store: KubeStoreOptions,
    /// How many confirmed releases run side by side.
    pub release_concurrency: usize,
    /// How long the start waits for the first lists.
    pub sync_timeout: Duration,
    /// Time limit of one read from the API server.
    pub request_timeout: Duration,
    /// The counters the collector counts into; keep a clone to read them
    /// (the controller shares one across terms of leadership).
    pub metrics: GcMetrics,
    /// Who posts the collector's events (see [`IP_RELEASED`]).
    pub reporter: Reporter,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            scan_interval: Duration::from_secs(600),
            grace: Duration::from_secs(30),
            terminating_delay: Duration::ZERO,
            trace_gap: Duration::from_secs(5),
            store: KubeStoreOptions::default(),
            release_concurrency: 16,
            sync_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            metrics: GcMetrics::default(),
            reporter: Reporter::default(),
        }
    }
}

impl GcOptions {
    /// Options whose store watches only objects labelled `key=value`
    /// (tests, benchmarks).
    pub fn with_scope_label(mut self, key: &str, value: &str) -> Self {
        self.store = self.store.with_scope_label(key, value);
        self
    }

    /// Options with these intervals: full scan, observation grace, trace gap.
    pub fn with_timing(
        mut self,
        scan_interval: Duration,
        grace: Duration,
        trace_gap: Duration,
    ) -> Self {
        self.scan_interval = scan_interval;
        self.grace = grace;
        self.trace_gap = trace_gap;
        self
    }
}

/// Errors of the collector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GcError {
    /// The store could not start.
    #[error("gc: starting the store: {0}")]
    Start(#[from] StartError),
    /// The first lists did not arrive, or a read failed.
    #[error("gc: {0}")]
    Store(#[from] StoreError),
    /// Listing an object kind failed.
    #[error("gc: listing {what}: {source}")]
    List {
        /// The resource.
        what: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Tokio's timer for the allocator's conflict backoff.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// The collector: its store, pod cache, suspects and counters. [`run`]
/// drives it; tests drive [`Collector::scan`] directly.
pub struct Collector {
    allocator: Allocator<KubeStore, TokioClock>,
    client: kube::Client,
    api: ApiSource,
    pods: PodCache,
    trace: Arc<Notify>,
    options: GcOptions,
    suspects: Mutex<Suspects>,
    metrics: GcMetrics,
    events: Arc<EventSink>,
    /// The task publishing the last scan's events (at most one at a time).
    publisher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    started: tokio::time::Instant,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("options", &self.options).finish_non_exhaustive()
    }
}

impl Collector {
    /// Starts the store and the pod cache and waits for their first lists
    /// (never scans before).
    pub async fn start(client: kube::Client, options: GcOptions) -> Result<Self, GcError> {
        let store = KubeStore::new(client.clone(), options.store.clone())?;
        let trace = Arc::new(Notify::new());
        let pods = PodCache::spawn(client.clone(), trace.clone());
        store.wait_synced().await?;
        pods.wait(options.sync_timeout).await?;
        let allocator = Allocator::with_clock(store, TokioClock, RetryPolicy::default());
        let api = ApiSource { client: client.clone(), timeout: options.request_timeout };
        let events = Arc::new(EventSink::new(client.clone(), options.reporter.clone()));
        let metrics = options.metrics.clone();
        Ok(Self {
            allocator,
            client,
            api,
            pods,
            trace,
            options,
            suspects: Mutex::new(Suspects::new()),
            metrics,
            events,
            publisher: Mutex::new(None),
            started: tokio::time::Instant::now(),
        })
    }

    /// The options.
    pub fn options(&self) -> &GcOptions {
        &self.options
    }

    /// The counters (those of [`GcOptions::metrics`]).
    pub fn stats(&self) -> GcStats {
        self.metrics.stats()
    }

    /// Scans until `shutdown` completes: at start, every `scan_interval`,
    /// every `grace` while suspects wait, and at most every `trace_gap` after
    /// a pod event. A failed scan is logged and retried at the next tick.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = pin!(shutdown);
        loop {
            match self.scan().await {
                Ok(report) => tracing::debug!(?report, "gc scan done"),
                Err(e) => tracing::warn!(error = %e, "gc scan failed; retrying at the next tick"),
            }
            let waiting = self.metrics.suspects() > 0;
            let next = if waiting {
                self.options.grace.min(self.options.scan_interval)
            } else {
                self.options.scan_interval
            };
            let wake = async {
                let sleep = pin!(tokio::time::sleep(next));
                let traced = pin!(self.trace.notified());
                if let Either::Right(_) = select(sleep, traced).await {
                    tokio::time::sleep(self.options.trace_gap).await;
                }
            };
            if let Either::Left(_) = select(shutdown.as_mut(), pin!(wake)).await {
                return;
            }
        }
    }
}

/// The collector's entry point for the controller's leader: starts the
/// collector (waiting for its caches) and scans until `shutdown` completes.
pub async fn run(
    client: kube::Client,
    opts: GcOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GcError> {
    let mut shutdown = pin!(shutdown);
    let start = pin!(Collector::start(client, opts));
    let collector = match select(shutdown.as_mut(), start).await {
        Either::Left(_) => return Ok(()),
        Either::Right((started, _)) => started?,
    };
    tracing::info!("gc: caches synced; collecting");
    collector.run_until(shutdown).await;
    Ok(())
}
