//! Counters of what the store did, for tests, benchmarks and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`crate::KubeStore`] did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Pool status writes sent (`PUT …/status`), successful or not.
    pub status_writes: u64,
    /// Of those, answered 409 (another writer was first).
    pub status_conflicts: u64,
    /// Fresh reads of a pool after a 409.
    pub pool_refetches: u64,
    /// Endpoint writes sent (create, replace, delete; a delete that takes the
    /// finalizer off first counts once).
    pub endpoint_writes: u64,
    /// Of those, answered 409 or 404.
    pub endpoint_conflicts: u64,
    /// Group commits that wrote something.
    pub commits: u64,
    /// Staged writes (group commit).
    pub staged: u64,
    /// Units of work that failed (a staged change did not fit, or a write failed).
    pub units_failed: u64,
    /// Completed lists of a watched kind (the first one and every relist, e.g.
    /// after `410 Gone`).
    pub lists: u64,
    /// Errors the watches reported (each is retried with backoff).
    pub watch_errors: u64,
    /// Of those, watches that expired (`410 Gone`: the API server no longer
    /// has the events since the store's `resourceVersion`; a relist follows).
    pub watch_expiries: u64,
}

/// The live counters behind [`StoreStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) status_writes: AtomicU64,
    pub(super) status_conflicts: AtomicU64,
    pub(super) pool_refetches: AtomicU64,
    pub(super) endpoint_writes: AtomicU64,
    pub(super) endpoint_conflicts: AtomicU64,
    pub(super) commits: AtomicU64,
    pub(super) staged: AtomicU64,
    pub(super) units_failed: AtomicU64,
    pub(super) lists: AtomicU64,
    pub(super) watch_errors: AtomicU64,
    pub(super) watch_expiries: AtomicU64,
}

/// Adds one.
pub(super) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn snapshot(&self) -> StoreStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreStats {
            status_writes: get(&self.status_writes),
            status_conflicts: get(&self.status_conflicts),
            pool_refetches: get(&self.pool_refetches),
            endpoint_writes: get(&self.endpoint_writes),
            endpoint_conflicts: get(&self.endpoint_conflicts),
            commits: get(&self.commits),
            staged: get(&self.staged),
            units_failed: get(&self.units_failed),
            lists: get(&self.lists),
            watch_errors: get(&self.watch_errors),
            watch_expiries: get(&self.watch_expiries),
        }
    }
}
