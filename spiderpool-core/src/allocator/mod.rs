//! Allocation and release of addresses for one pod, over the compare-and-swap
//! store contract of [`crate::store`].
//!
//! The [`Allocator`] never holds a lock across a store call: it reads a pool,
//! decides, and writes the change against the version it read. A
//! [`StoreError::Conflict`] is retried with bounded, jittered exponential backoff
//! ([`RetryPolicy`]); time is injected through [`Clock`].
//!
//! Decisions follow Spiderpool (reference §4) with the fixes of DESIGN.md §5: no
//! per-pool cap on allocations, stable fallback order, and a release frees a
//! record only when the pod UID (and the container ID, when both sides know it)
//! match, so a late release never frees an address that was handed to someone
//! else.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::ip::IpFamily;
use crate::pod::{NamespaceFacts, NodeFacts, PodFacts};
use crate::selection::{IpamSettings, SelectionError};
use crate::store::{
    AllocationChange, EndpointStore, PoolState, PoolStateError, PoolStore, StoreError, Versioned,
};

mod allocate;
mod release;

pub use release::{ReleaseOutcome, ReleaseRequest};

/// Sleeps between retries. The agent passes tokio's timer; tests pass [`NoSleep`].
pub trait Clock: Send + Sync {
    /// Waits for `d`.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// A clock that never waits (tests, and embedders that retry immediately).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSleep;

impl Clock for NoSleep {
    async fn sleep(&self, _d: Duration) {}
}

/// A clock that blocks the calling thread (synchronous embedders).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleep;

impl Clock for ThreadSleep {
    async fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Bounded exponential backoff with jitter for store conflicts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per write, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial: Duration,
    /// Growth factor of the wait.
    pub factor: f64,
    /// Up to this fraction of the wait is added at random (0.0 to 1.0).
    pub jitter: f64,
    /// Upper bound of one wait.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 10 ms initial, factor 1.5, 50 % jitter, 200 ms cap: a little
    /// more patient than Spiderpool's 5 × 10 ms × 1.5, because group commits
    /// are not in the core.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial: Duration::from_millis(10),
            factor: 1.5,
            jitter: 0.5,
            max_wait: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (0-based), with jitter drawn from
    /// `random` in `[0, 1)`.
    pub fn wait(&self, attempt: u32, random: f64) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.max(1.0).powi(attempt.min(64) as i32);
        let jitter = base * self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        let secs = (base + jitter).min(self.max_wait.as_secs_f64());
        if secs.is_finite() && secs > 0.0 { Duration::from_secs_f64(secs) } else { Duration::ZERO }
    }
}

/// A number in `[0, 1)` that differs between calls and threads, for jitter.
fn jitter_sample() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// One allocation request: one CNI ADD.
#[derive(Debug, Clone, Default)]
pub struct AllocateRequest {
    /// The pod.
    pub pod: PodFacts,
    /// Its namespace.
    pub namespace: NamespaceFacts,
    /// Its node.
    pub node: NodeFacts,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub nic: String,
    /// Cluster settings and the CNI config's pool keys.
    pub settings: IpamSettings,
    /// The CNI network (netconf `name`) of this ADD, when the caller knows it.
    /// It is recorded on the records of `nic` only (the other NICs of a
    /// multi-NIC first ADD belong to other networks and get theirs from their
    /// own ADD), so CNI GC of a network frees only what that network made.
    pub network: Option<String>,
}

/// One address handed to a NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedIp {
    /// Interface in the pod.
    pub nic: String,
    /// The address with the pool's prefix length.
    pub address: IpNet,
    /// The pool it came from.
    pub pool: String,
    /// The pool's gateway.
    pub gateway: Option<IpAddr>,
    /// VLAN recorded for the NIC (0 = none).
    pub vlan: i64,
}

impl AllocatedIp {
    /// The family of the address.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.address.addr())
    }
}

/// One route handed to a NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRoute {
    /// Interface in the pod.
    pub nic: String,
    /// Destination.
    pub dst: IpNet,
    /// Next hop.
    pub gw: IpAddr,
}

/// The addresses and routes of every NIC of a pod (the IPAM plugin keeps those of
/// its own NIC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    /// Addresses, by NIC then family (IPv4 first).
    pub ips: Vec<AllocatedIp>,
    /// Routes: the default route through the pool gateway (unless clean
    /// gateway), the pool's routes, and annotation routes.
    pub routes: Vec<PodRoute>,
}

impl Allocation {
    /// Only what belongs to `nic`.
    pub fn for_nic(&self, nic: &str) -> Allocation {
        Allocation {
            ips: self.ips.iter().filter(|i| i.nic == nic).cloned().collect(),
            routes: self.routes.iter().filter(|r| r.nic == nic).cloned().collect(),
        }
    }
}

/// One pool tried for a NIC and family, and why it gave no address.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolAttempt {
    /// Pool name.
    pub pool: String,
    /// Why it failed.
    pub reason: String,
}

/// Allocation failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllocateError {
    /// No candidate pool (annotations, defaults, filters).
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// Every candidate pool was tried and none had a free address.
    #[error("no free {family} address for NIC {nic}: {}", format_attempts(.tried))]
    Exhausted {
        /// The NIC.
        nic: String,
        /// The family.
        family: IpFamily,
        /// Every pool tried, in order.
        tried: Vec<PoolAttempt>,
    },
    /// The store kept reporting conflicts.
    #[error("{what}: gave up after {attempts} attempts on write conflicts")]
    RetriesExhausted {
        /// What was being written.
        what: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A pool object cannot be used.
    #[error(transparent)]
    Pool(#[from] PoolStateError),
    /// The pod's annotations hold something unusable (routes).
    #[error("pod {pod}: {message}")]
    Pod {
        /// `ns/name`.
        pod: String,
        /// What is wrong.
        message: String,
    },
    /// A release met failures; it went on past each and lists them all.
    #[error("release of pod {pod}: {}", .errors.join("; "))]
    Release {
        /// `ns/name`.
        pod: String,
        /// Every failure.
        errors: Vec<String>,
    },
    /// The request is incomplete.
    #[error("invalid request: {0}")]
    Request(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn format_attempts(tried: &[PoolAttempt]) -> String {
    tried.iter().map(|a| format!("{}: {}", a.pool, a.reason)).collect::<Vec<_>>().join("; ")
}

/// Allocates and releases pod addresses over a store.
#[derive(Debug, Clone)]
pub struct Allocator<S, C = NoSleep> {
    store: S,
    clock: C,
    retry: RetryPolicy,
}

impl<S> Allocator<S, NoSleep>
where
    S: PoolStore + EndpointStore,
{
    /// An allocator that retries conflicts without waiting.
    pub fn new(store: S) -> Self {
        Self { store, clock: NoSleep, retry: RetryPolicy::default() }
    }
}

impl<S, C> Allocator<S, C>
where
    S: PoolStore + EndpointStore,
    C: Clock,
{
    /// An allocator with a clock and a retry policy.
    pub fn with_clock(store: S, clock: C, retry: RetryPolicy) -> Self {
        Self { store, clock, retry }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    async fn backoff(&self, attempt: u32) {
        self.clock.sleep(self.retry.wait(attempt, jitter_sample())).await;
    }

    fn attempts(&self) -> u32 {
        self.retry.max_attempts.max(1)
    }

    /// The one compare-and-swap loop on a pool: read it, let `decide` look at
    /// it, write the change it asks for against the version read, and start
    /// over on a conflict (with backoff, bounded). `Ok(None)`: no such pool.
    async fn update_pool<T: Send>(
        &self,
        pool: &str,
        decide: impl Fn(&PoolState) -> Step<T> + Sync,
    ) -> Result<Option<T>, AllocateError> {
        let attempts = self.attempts();
        for attempt in 0..attempts {
            let Some(Versioned { version, value }) = self.store.read_pool(pool, &decide).await?
            else {
                return Ok(None);
            };
            let (change, out) = match value {
                Step::Done(out) => return Ok(Some(out)),
                Step::Write(change, out) => (change, out),
            };
            match self.store.update_allocations(pool, version, &change).await {
                Ok(_) => return Ok(Some(out)),
                Err(e) if e.is_conflict() => self.backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AllocateError::RetriesExhausted { what: format!("SpiderIPPool {pool}"), attempts })
    }
}

/// What one read of a pool decided in [`Allocator::update_pool`].
enum Step<T> {
    /// Nothing to write; the answer is `T`.
    Done(T),
    /// Write this change; on success the answer is `T`.
    Write(AllocationChange, T),
}

impl fmt::Display for PoolAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pool, self.reason)
    }
}

#[cfg(test)]
mod tests;
