//! The storage contract the allocator needs, and an in-memory implementation.
//!
//! Every write is compare-and-swap on a [`Version`] (Kubernetes'
//! `resourceVersion`); a stale version is a typed [`StoreError::Conflict`]. The
//! retry loop lives in the [`crate::allocator`], not in the stores.
//!
//! Pools are read through [`PoolState`]: the pool object plus an index of its
//! allocation records (`status.allocatedIPs`) and the interval sets the allocator
//! searches. Stores keep that index between reads, so a read of a pool with a
//! million allocations does not re-parse a million records, and a write sends only
//! the records that change ([`AllocationChange`]).
//!
//! `store::contract` (feature `testing`) holds the test suite every store
//! implementation runs.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use crate::ip::{IpError, IpFamily, IpRange, IpSet, ip_to_u128, u128_to_ip};
use crate::model::{
    ModelError, PoolIpAllocation, PoolIpAllocations, SpiderEndpoint, SpiderIPPool,
    SpiderReservedIP, parse_allocated_ips, render_allocated_ips,
};

mod admin;
#[cfg(any(test, feature = "testing"))]
pub mod contract;
mod coordinator;
pub mod deletion;
mod memory;
mod subnet;

pub use admin::{AdminError, AdminStore, ObjectKey};
pub use coordinator::CoordinatorSource;
pub use deletion::Deletion;
pub use memory::MemoryStore;
pub use subnet::SubnetStore;

/// Version of a stored object; compare-and-swap writes name the version they read.
pub type Version = u64;

/// A value read from a store, with the version to write back against.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The version the value was read at.
    pub version: Version,
    /// The value.
    pub value: T,
}

/// What a store can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object changed since it was read (optimistic concurrency).
    #[error("conflict on {kind} {name}: wrote against version {expected}, store holds {actual:?}")]
    Conflict {
        /// Kind of the object.
        kind: &'static str,
        /// Name (`ns/name` for namespaced kinds).
        name: String,
        /// The version the writer read.
        expected: Version,
        /// The version the store holds (`None`: the object is gone).
        actual: Option<Version>,
    },
    /// The object does not exist.
    #[error("{kind} {name} not found")]
    NotFound {
        /// Kind of the object.
        kind: &'static str,
        /// Name.
        name: String,
    },
    /// Create of an object that exists.
    #[error("{kind} {name} already exists")]
    AlreadyExists {
        /// Kind of the object.
        kind: &'static str,
        /// Name.
        name: String,
    },
    /// The change is not applicable to the stored state (for example adding a
    /// record for an address that is already allocated, or a pool whose spec does
    /// not parse).
    #[error("{kind} {name}: {message}")]
    Invalid {
        /// Kind of the object.
        kind: &'static str,
        /// Name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The backend failed (I/O, API server, database).
    #[error("store backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// A pool as the allocator reads it: the object (with `status.allocatedIPs`
/// left out) and an index of its allocation records.
#[derive(Debug, Clone)]
pub struct PoolState {
    /// The pool object; `status.allocatedIPs` is `None` here, the records live in
    /// [`PoolState::records`]. Counts in `status` are kept current.
    pub pool: Arc<SpiderIPPool>,
    /// Address family of the pool.
    pub family: IpFamily,
    /// `spec.ips` as ranges, in the order the spec lists them.
    ips: Vec<IpRange>,
    /// `spec.excludeIPs` as a set.
    excluded: IpSet,
    /// Addresses in `ips` minus `excluded`: the spec does not change while
    /// the state lives, so it is counted once, not on every write.
    total: u128,
    /// Allocation records by address.
    records: BTreeMap<u128, PoolIpAllocation>,
    /// The allocated addresses as an interval set (same keys as `records`).
    used: IpSet,
    /// Addresses by pod UID, so per-pod look-ups do not scan every record.
    by_uid: HashMap<String, Vec<u128>>,
}

impl PoolState {
    /// Builds the state of a pool object, parsing `status.allocatedIPs`.
    pub fn from_pool(pool: SpiderIPPool) -> Result<Self, PoolStateError> {
        let name = pool.metadata.name_str().to_string();
        let family = pool_family(&pool)?;
        let mut ips = Vec::with_capacity(pool.spec.ips.len());
        for (index, s) in pool.spec.ips.iter().enumerate() {
            let r = IpRange::parse_of(s, family).map_err(|cause| PoolStateError::Spec {
                pool: name.clone(),
                field: format!("spec.ips[{index}]"),
                cause,
            })?;
            ips.push(r);
        }
        let excluded = IpSet::parse_ranges(family, &pool.spec.exclude_ips).map_err(|cause| {
            PoolStateError::Spec { pool: name.clone(), field: "spec.excludeIPs".into(), cause }
        })?;
        let allocated =
            parse_allocated_ips(pool.status.as_ref().and_then(|s| s.allocated_ips.as_deref()))
                .map_err(|cause| PoolStateError::Status { pool: name.clone(), cause })?;
        let mut records = BTreeMap::new();
        let mut used = IpSet::new(family);
        let mut by_uid: HashMap<String, Vec<u128>> = HashMap::new();
        for (ip_text, record) in allocated {
            let ip =
                crate::ip::parse_ip_of(&ip_text, family).map_err(|cause| PoolStateError::Spec {
                    pool: name.clone(),
                    field: format!("status.allocatedIPs[{ip_text:?}]"),
                    cause,
                })?;
            let v = ip_to_u128(ip);
            used.insert_u128(v);
            by_uid.entry(record.pod_uid.clone()).or_default().push(v);
            records.insert(v, record);
        }
        let mut pool = pool;
        let status = pool.status.get_or_insert_with(Default::default);
        status.allocated_ips = None;
        let total = total_of(family, &ips, &excluded);
        let mut state =
            PoolState { pool: Arc::new(pool), family, ips, excluded, total, records, used, by_uid };
        state.refresh_counts();
        Ok(state)
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        self.pool.metadata.name_str()
    }

    /// True when the pool is being deleted (`metadata.deletionTimestamp`): it
    /// takes no new records and is removed with its last one.
    pub fn is_terminating(&self) -> bool {
        self.pool.metadata.is_terminating()
    }

    /// Marks the pool terminating at `at` (RFC 3339), keeping the finalizer
    /// (see [`deletion`]).
    pub fn mark_terminating(&mut self, at: &str) {
        deletion::mark_terminating(&mut Arc::make_mut(&mut self.pool).metadata, at);
    }

    /// Number of allocation records.
    pub fn allocated_count(&self) -> usize {
        self.records.len()
    }

    /// Number of addresses in `spec.ips` minus `spec.excludeIPs` (saturating).
    pub fn total_count(&self) -> u128 {
        self.total
    }

    /// `spec.ips` as ranges, in the order the spec lists them.
    pub fn ips(&self) -> &[IpRange] {
        &self.ips
    }

    /// `spec.excludeIPs` as a set.
    pub fn excluded(&self) -> &IpSet {
        &self.excluded
    }

    /// The set of allocated addresses.
    pub fn used(&self) -> &IpSet {
        &self.used
    }

    /// The record of one address.
    pub fn record(&self, ip: &IpAddr) -> Option<&PoolIpAllocation> {
        if IpFamily::of(ip) != self.family {
            return None;
        }
        self.records.get(&ip_to_u128(*ip))
    }

    /// All records in address order.
    pub fn records(&self) -> impl Iterator<Item = (IpAddr, &PoolIpAllocation)> + '_ {
        self.records.iter().map(|(v, r)| (u128_to_ip(self.family, *v), r))
    }

    /// Records held by a pod UID (an index look-up, not a scan).
    pub fn records_of_uid<'a>(
        &'a self,
        uid: &str,
    ) -> impl Iterator<Item = (IpAddr, &'a PoolIpAllocation)> + 'a {
        let family = self.family;
        self.by_uid
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(move |v| self.records.get(v).map(|r| (u128_to_ip(family, *v), r)))
    }

    fn index_remove(&mut self, v: u128) {
        if let Some(old) = self.records.remove(&v) {
            self.used.remove_u128(v);
            if let Some(list) = self.by_uid.get_mut(&old.pod_uid) {
                list.retain(|x| *x != v);
                if list.is_empty() {
                    self.by_uid.remove(&old.pod_uid);
                }
            }
        }
    }

    fn index_insert(&mut self, v: u128, record: PoolIpAllocation) {
        self.index_remove(v);
        self.by_uid.entry(record.pod_uid.clone()).or_default().push(v);
        self.records.insert(v, record);
        self.used.insert_u128(v);
    }

    /// The first address, in `spec.ips` order, that is not excluded, not in
    /// `blocked` (reserved addresses) and not allocated. Never walks address by
    /// address: each step jumps over a whole interval of one of the sets.
    pub fn first_free(&self, blocked: &IpSet) -> Option<IpAddr> {
        for r in &self.ips {
            let mut from = r.start_u128();
            let end = r.end_u128();
            // Each step jumps over a whole interval of one of the sets; a range
            // with nothing free hands over to the next range.
            while let Some(a) = self.used.first_free_in_u128(from, end) {
                let Some(b) = self.excluded.first_free_in_u128(a, end) else { break };
                let Some(c) = blocked.first_free_in_u128(b, end) else { break };
                if c == a {
                    return Some(u128_to_ip(self.family, c));
                }
                from = c;
            }
        }
        None
    }

    /// Applies a change to the in-memory index. The change is checked first and
    /// nothing is applied when any part of it does not fit. A terminating pool
    /// takes no new record ([`TERMINATING_ADD`]).
    pub fn apply(&mut self, change: &AllocationChange) -> Result<(), StoreError> {
        let invalid = |message: String| StoreError::Invalid {
            kind: "SpiderIPPool",
            name: self.name().to_string(),
            message,
        };
        if self.is_terminating() && !change.add.is_empty() {
            return Err(invalid(TERMINATING_ADD.to_string()));
        }
        self.apply_unchecked_terminating(change)
    }

    /// Puts back records the store already holds (a store loading its
    /// database, or carrying records over to a re-applied spec): like
    /// [`PoolState::apply`] with only `add`, also on a terminating pool.
    pub fn restore(&mut self, records: Vec<(IpAddr, PoolIpAllocation)>) -> Result<(), StoreError> {
        self.apply_unchecked_terminating(&AllocationChange { add: records, ..Default::default() })
    }

    fn apply_unchecked_terminating(&mut self, change: &AllocationChange) -> Result<(), StoreError> {
        let invalid = |message: String| StoreError::Invalid {
            kind: "SpiderIPPool",
            name: self.name().to_string(),
            message,
        };
        let mut pending_removed = Vec::new();
        for (ip, expect_uid) in &change.remove {
            if IpFamily::of(ip) != self.family {
                return Err(invalid(format!("release of {ip}: wrong address family")));
            }
            match self.records.get(&ip_to_u128(*ip)) {
                Some(r) if &r.pod_uid == expect_uid => pending_removed.push(ip_to_u128(*ip)),
                Some(r) => {
                    return Err(invalid(format!(
                        "release of {ip}: held by pod UID {}, not {expect_uid}",
                        r.pod_uid
                    )));
                }
                None => return Err(invalid(format!("release of {ip}: not allocated"))),
            }
        }
        for (ip, _) in &change.update {
            if IpFamily::of(ip) != self.family || !self.records.contains_key(&ip_to_u128(*ip)) {
                return Err(invalid(format!("update of {ip}: not allocated")));
            }
        }
        for (ip, _) in &change.add {
            if IpFamily::of(ip) != self.family {
                return Err(invalid(format!("allocation of {ip}: wrong address family")));
            }
            let v = ip_to_u128(*ip);
            if self.records.contains_key(&v) && !pending_removed.contains(&v) {
                return Err(invalid(format!("allocation of {ip}: already allocated")));
            }
        }
        for v in pending_removed {
            self.index_remove(v);
        }
        for (ip, rec) in change.update.iter().chain(&change.add) {
            self.index_insert(ip_to_u128(*ip), rec.clone());
        }
        self.refresh_counts();
        Ok(())
    }

    /// The pool object with `status.allocatedIPs` rendered as Spiderpool's JSON
    /// string and the counts set, as it would be stored in Kubernetes.
    pub fn to_pool(&self) -> SpiderIPPool {
        let mut pool = (*self.pool).clone();
        let map: PoolIpAllocations =
            self.records().map(|(ip, r)| (ip.to_string(), r.clone())).collect();
        let status = pool.status.get_or_insert_with(Default::default);
        status.allocated_ips = render_allocated_ips(&map);
        pool
    }

    fn refresh_counts(&mut self) {
        let allocated = self.records.len() as i64;
        let total = i64::try_from(self.total_count()).unwrap_or(i64::MAX);
        let pool = Arc::make_mut(&mut self.pool);
        let status = pool.status.get_or_insert_with(Default::default);
        status.allocated_ip_count = Some(allocated);
        status.total_ip_count = Some(total);
    }
}

/// Number of addresses in `ips` minus `excluded` (saturating).
fn total_of(family: IpFamily, ips: &[IpRange], excluded: &IpSet) -> u128 {
    let mut all = IpSet::new(family);
    for r in ips {
        // Same family by construction.
        let _ = all.insert_range(r);
    }
    all.difference(excluded).len()
}

/// Why a terminating pool refuses a new record (the message of the
/// [`StoreError::Invalid`] every store answers).
pub const TERMINATING_ADD: &str = "the pool is terminating: it allocates no new address and is removed when its last one is released";

/// The family of a pool: `spec.ipVersion`, or inferred from `spec.subnet`.
pub fn pool_family(pool: &SpiderIPPool) -> Result<IpFamily, PoolStateError> {
    let name = pool.metadata.name_str().to_string();
    if let Some(v) = pool.spec.ip_version {
        return IpFamily::from_version(v).ok_or(PoolStateError::IpVersion { pool: name, value: v });
    }
    crate::ip::parse_cidr(&pool.spec.subnet)
        .map(|net| crate::ip::family_of_cidr(&net))
        .map_err(|cause| PoolStateError::Spec { pool: name, field: "spec.subnet".into(), cause })
}

/// Why a pool object cannot be used by the allocator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolStateError {
    /// A spec field does not parse.
    #[error("SpiderIPPool {pool}: {field}: {cause}")]
    Spec {
        /// Pool name.
        pool: String,
        /// Field path.
        field: String,
        /// The parse error (part of the message, so not `source()`).
        cause: IpError,
    },
    /// `spec.ipVersion` is neither 4 nor 6.
    #[error("SpiderIPPool {pool}: spec.ipVersion: unsupported value {value} (want 4 or 6)")]
    IpVersion {
        /// Pool name.
        pool: String,
        /// The value.
        value: i64,
    },
    /// `status.allocatedIPs` does not parse.
    #[error("SpiderIPPool {pool}: {cause}")]
    Status {
        /// Pool name.
        pool: String,
        /// The parse error (part of the message, so not `source()`).
        cause: ModelError,
    },
}

/// Changes to one pool's allocation records, applied atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocationChange {
    /// New records; each address must be free.
    pub add: Vec<(IpAddr, PoolIpAllocation)>,
    /// Records to replace (same address, new owner facts such as a new container ID).
    pub update: Vec<(IpAddr, PoolIpAllocation)>,
    /// Records to remove, each with the pod UID that must hold it.
    pub remove: Vec<(IpAddr, String)>,
}

impl AllocationChange {
    /// True when the change does nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
}

/// Pools and reserved addresses, as the allocator needs them.
pub trait PoolStore: Send + Sync {
    /// Every pool, without allocation records (counts are in `status`).
    fn list_pools(&self)
    -> impl Future<Output = Result<Vec<Arc<SpiderIPPool>>, StoreError>> + Send;

    /// Reads one pool at a consistent version and runs `f` on it. `Ok(None)` when
    /// the pool does not exist.
    fn read_pool<R: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R + Send,
    ) -> impl Future<Output = Result<Option<Versioned<R>>, StoreError>> + Send;

    /// Applies `change` if the pool is still at `expected`; returns the new version.
    fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// Every SpiderReservedIP.
    fn list_reserved_ips(
        &self,
    ) -> impl Future<Output = Result<Vec<Arc<SpiderReservedIP>>, StoreError>> + Send;

    /// Waits until every write of this store that has returned (pools,
    /// endpoints and administrative objects alike) is durable. Stores whose
    /// writes are durable when they return, like this default, have nothing
    /// to do; a store that defers its fsyncs shares one among the callers
    /// waiting here (group commit). Callers answer a client only after it.
    fn sync(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// Runs `work` — one request's writes and the [`PoolStore::sync`] after
    /// them — as one unit of work. A store that stages writes and commits
    /// those of many requests together (group commit) uses the scope to tell
    /// whose write failed: `sync` inside the scope reports the outcome of this
    /// unit's writes only, and a unit whose write cannot be committed has its
    /// other staged writes withdrawn. Stores whose writes are committed when
    /// they return, like this default, run `work` as it is.
    ///
    /// Callers that retry a request whose `sync` returned
    /// [`StoreError::Conflict`] run the retry inside the same scope or a new
    /// one; both are fine.
    fn unit_of_work<F>(&self, work: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        work
    }

    /// Whether the store can take writes now: `Err` naming why not (a store
    /// whose disk is full says so here, and keeps saying it until a write
    /// can succeed again). Stores that cannot fail, like this default,
    /// answer `Ok`. Health probes report it.
    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }
}

/// SpiderEndpoints (one per pod), keyed by namespace and name.
pub trait EndpointStore: Send + Sync {
    /// Reads an endpoint.
    fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Versioned<SpiderEndpoint>>, StoreError>> + Send;

    /// Creates an endpoint; [`StoreError::AlreadyExists`] when one exists.
    fn create_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// Replaces an endpoint if it is still at `expected`.
    fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// Deletes an endpoint if it is still at `expected`.
    fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The reserved addresses of one family: the union of every SpiderReservedIP that
/// is not terminating. Entries that do not parse are skipped (admission rejects
/// them; a broken object must not stop allocation for everyone).
pub fn reserved_set(reserved: &[Arc<SpiderReservedIP>], family: IpFamily) -> IpSet {
    let mut set = IpSet::new(family);
    for r in reserved {
        if r.metadata.is_terminating() {
            continue;
        }
        if let Some(v) = r.spec.ip_version
            && IpFamily::from_version(v) != Some(family)
        {
            continue;
        }
        for s in &r.spec.ips {
            if let Ok(range) = IpRange::parse_of(s, family) {
                let _ = set.insert_range(&range);
            }
        }
    }
    set
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pool_state_errors_print_their_cause_once() {
        let spec_err = PoolState::from_pool(contract::pool("a", "10.6.0.0/33", &[])).unwrap_err();
        let mut status = contract::pool("b", "10.6.0.0/16", &["10.6.0.1"]);
        status.status.get_or_insert_with(Default::default).allocated_ips = Some("{not json".into());
        let status_err = PoolState::from_pool(status).unwrap_err();
        for e in [spec_err, status_err] {
            // The message holds the cause; `source()` must not hand it to a
            // printer that walks the chain (anyhow's `{:#}`) a second time.
            assert!(std::error::Error::source(&e).is_none(), "{e}");
        }
    }

    /// Stores that commit every write when it returns run a unit of work as
    /// it is (the default `PoolStore::unit_of_work`).
    #[test]
    fn default_unit_of_work_runs_the_work_as_it_is() {
        let store = MemoryStore::new();
        let out = pollster::block_on(store.unit_of_work(async { 41 + 1 }));
        assert_eq!(out, 42);
    }
}
