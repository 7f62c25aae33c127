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
use std::net::IpAddr;

use ipnet::IpNet;

use crate::ip::IpFamily;
use crate::pod::{NamespaceFacts, NodeFacts, PodFacts};
use crate::selection::{IpamSettings, SelectionError};
use crate::store::{
    AllocationChange, EndpointStore, PoolState, PoolStateError, PoolStore, StoreError, Versioned,
};

mod allocate;
mod endpoint;
mod pod_release;
mod record;
mod release;
mod retry;

pub use endpoint::endpoint_owner;
pub use pod_release::{
    KeepReason, RefuseReason, ReleaseDecision, ReleaseTrigger, release_decision,
};
pub(crate) use release::Removed;
pub use release::{ReleaseOutcome, ReleaseRequest};
pub use retry::{Clock, Jitter, NoSleep, RetryPolicy, SeededJitter, ThreadSleep, unit_interval};

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
///
/// Time ([`Clock`]) and the randomness of retry waits ([`Jitter`]) are
/// injected: by default conflicts are retried at once ([`NoSleep`]) with
/// [`SeededJitter`] (seed 0), so a run is reproducible; the agent passes
/// tokio's timer and jitter drawn from the operating system.
#[derive(Debug, Clone)]
pub struct Allocator<S, C = NoSleep, J = SeededJitter> {
    store: S,
    clock: C,
    jitter: J,
    retry: RetryPolicy,
}

impl<S> Allocator<S, NoSleep, SeededJitter>
where
    S: PoolStore + EndpointStore,
{
    /// An allocator that retries conflicts without waiting.
    pub fn new(store: S) -> Self {
        Self {
            store,
            clock: NoSleep,
            jitter: SeededJitter::default(),
            retry: RetryPolicy::default(),
        }
    }
}

impl<S, C> Allocator<S, C, SeededJitter>
where
    S: PoolStore + EndpointStore,
    C: Clock,
{
    /// An allocator with a clock and a retry policy (jitter from
    /// [`SeededJitter`] with seed 0 until [`Allocator::with_jitter`]).
    pub fn with_clock(store: S, clock: C, retry: RetryPolicy) -> Self {
        Self { store, clock, jitter: SeededJitter::default(), retry }
    }
}

impl<S, C, J> Allocator<S, C, J>
where
    S: PoolStore + EndpointStore,
    C: Clock,
    J: Jitter,
{
    /// The same allocator, drawing the jitter of its retry waits from
    /// `jitter`.
    pub fn with_jitter<K: Jitter>(self, jitter: K) -> Allocator<S, C, K> {
        Allocator { store: self.store, clock: self.clock, jitter, retry: self.retry }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Waits before the retry that follows failed attempt `attempt`.
    async fn backoff(&self, attempt: u32) {
        self.clock.sleep(self.retry.wait(attempt, self.jitter.sample())).await;
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
mod kubevirt_tests;
#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod tests;
