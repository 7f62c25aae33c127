//! What the application controller writes for one auto-pool (Go
//! `ReconcileAutoIPPool` / `preAllocateIPsFromSubnet`), which pools a
//! SpiderSubnet adopts, which auto-pools go with their application, and
//! which `status.controlledIPPools` entries are forgotten.
//!
//! The subnet's `status.controlledIPPools` is the ledger: an auto-pool's
//! addresses are written there (compare-and-swap on the subnet's
//! `resourceVersion`) *before* the pool takes them, and taken off only
//! *after* the pool gave them back. So two carves racing on one subnet can
//! never hand out one address twice: one of the two ledger writes loses
//! with 409 and is decided again on the new ledger.

use std::net::IpAddr;

use super::AutoPoolError;
use super::app::AppRef;
use super::carve::{Resize, ResizeInput, resize_pool, split_controlled, subnet_usable_ips};
use super::pool::{AutoPoolKey, LABEL_IPPOOL_RECLAIM, LABEL_OWNER_APPLICATION_UID};
use crate::ip::{IpFamily, IpSet};
use crate::model::{PoolIpPreAllocation, PoolIpPreAllocations, SpiderIPPool, SpiderSubnet};
use crate::store::deletion::owner_subnet;

/// The facts one auto-pool's resize is decided on.
#[derive(Debug, Clone, Copy)]
pub struct CarveFacts<'a> {
    /// The application, NIC, family and subnet.
    pub key: &'a AutoPoolKey<'a>,
    /// The pool's name (the existing pool's, or the new one's).
    pub pool_name: &'a str,
    /// The SpiderSubnet, as just read (its `status.controlledIPPools`).
    pub subnet: &'a SpiderSubnet,
    /// The application's existing pool, if any.
    pub pool: Option<&'a SpiderIPPool>,
    /// Every other pool (those with the subnet's CIDR are kept out).
    pub others: &'a [&'a SpiderIPPool],
    /// SpiderReservedIP addresses of the family.
    pub reserved: &'a IpSet,
    /// The size the pool must have.
    pub desired: u64,
}

/// Which write goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOrder {
    /// Growing (or creating): the ledger takes the addresses, then the pool.
    LedgerFirst,
    /// Shrinking: the pool gives them back, then the ledger.
    PoolFirst,
}

/// What to write for one auto-pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarvePlan {
    /// The resize (the pool's addresses afterwards, added, removed).
    pub resize: Resize,
    /// The subnet's `controlledIPPools` afterwards.
    pub controlled: PoolIpPreAllocations,
    /// The ledger changes (the subnet's status must be written).
    pub ledger_changes: bool,
    /// The pool's `spec.ips` change (or the pool must be created).
    pub pool_changes: bool,
    /// `status.allocatedIPCount` of the subnet afterwards.
    pub allocated_count: i64,
    /// Which write goes first.
    pub order: WriteOrder,
}

/// Decides the resize of one auto-pool and the subnet ledger afterwards.
///
/// The pool's addresses now are its `spec.ips` when it exists, else the
/// ledger's entry (a pool whose creation failed after the ledger was
/// written is created with those addresses). Addresses of other ledger
/// entries and of any other pool with the subnet's CIDR are never taken.
/// A terminating subnet gives nothing. Errors name the subnet, the pool
/// and the numbers; on error nothing is to be written.
pub fn plan_carve(facts: &CarveFacts<'_>) -> Result<CarvePlan, AutoPoolError> {
    let subnet_name = facts.subnet.metadata.name_str();
    let spec_err =
        |reason: String| AutoPoolError::SubnetSpec { subnet: subnet_name.to_string(), reason };
    if facts.subnet.metadata.is_terminating() {
        return Err(spec_err("it is being deleted and gives no addresses".into()));
    }
    let (family, usable) = subnet_usable_ips(facts.subnet).ok_or_else(|| {
        spec_err(format!("spec.subnet {:?} is not a usable CIDR", facts.subnet.spec.subnet))
    })?;
    if family != facts.key.family {
        return Err(spec_err(format!("it is an {family} subnet, not {}", facts.key.family)));
    }
    let controlled = facts
        .subnet
        .status
        .clone()
        .unwrap_or_default()
        .controlled_pools()
        .map_err(|e| spec_err(e.to_string()))?;
    let (entry, mut others) = split_controlled(subnet_name, &controlled, facts.pool_name, family)?;
    for pool in facts.others.iter().filter(|p| {
        p.metadata.name_str() != facts.pool_name && p.spec.subnet == facts.subnet.spec.subnet
    }) {
        others = others.union(&pool_ips(pool, family)?);
    }
    let (current, held) = match facts.pool {
        Some(pool) => (pool_ips(pool, family)?, held_ips(pool, family)?),
        None => (entry.clone(), IpSet::new(family)),
    };
    let resize = resize_pool(&ResizeInput {
        pool: facts.pool_name,
        subnet: subnet_name,
        subnet_ips: &usable,
        current: &current,
        others: &others,
        reserved: facts.reserved,
        held: &held,
        desired: facts.desired,
    })?;
    let new_entry = PoolIpPreAllocation {
        ips: resize.ips.to_strings(),
        application: Some(facts.key.app.application_key()),
    };
    let mut after = controlled.clone();
    let ledger_changes = after.get(facts.pool_name) != Some(&new_entry);
    after.insert(facts.pool_name.to_string(), new_entry);
    let order =
        if resize.removed.is_empty() { WriteOrder::LedgerFirst } else { WriteOrder::PoolFirst };
    Ok(CarvePlan {
        pool_changes: facts.pool.is_none() || resize.ips != current,
        allocated_count: ledger_count(family, &after),
        controlled: after,
        ledger_changes,
        order,
        resize,
    })
}

/// The number of addresses in the union of a ledger's entries (entries
/// that do not parse count nothing), as `status.allocatedIPCount`.
pub fn ledger_count(family: IpFamily, controlled: &PoolIpPreAllocations) -> i64 {
    let mut all = IpSet::new(family);
    for entry in controlled.values() {
        if let Ok(set) = IpSet::parse_ranges(family, &entry.ips) {
            all = all.union(&set);
        }
    }
    i64::try_from(all.len()).unwrap_or(i64::MAX)
}

fn pool_ips(pool: &SpiderIPPool, family: IpFamily) -> Result<IpSet, AutoPoolError> {
    IpSet::parse_ranges(family, &pool.spec.ips).map_err(|e| AutoPoolError::SubnetSpec {
        subnet: pool.spec.subnet.clone(),
        reason: format!("SpiderIPPool {} spec.ips: {e}", pool.metadata.name_str()),
    })
}

/// The pool's addresses pods hold (`status.allocatedIPs`); a record that
/// does not parse is an error: shrinking past it could take a pod's address.
fn held_ips(pool: &SpiderIPPool, family: IpFamily) -> Result<IpSet, AutoPoolError> {
    let name = pool.metadata.name_str();
    let bad = |reason: String| AutoPoolError::SubnetSpec {
        subnet: pool.spec.subnet.clone(),
        reason: format!("SpiderIPPool {name} status.allocatedIPs: {reason}"),
    };
    let records =
        pool.status.clone().unwrap_or_default().allocations().map_err(|e| bad(e.to_string()))?;
    let mut held = IpSet::new(family);
    for ip in records.keys() {
        let addr: IpAddr = ip.parse().map_err(|_| bad(format!("{ip:?} is not an IP address")))?;
        held.insert(addr);
    }
    Ok(held)
}

/// What happens to an auto-pool whose application is gone or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reap {
    /// The pool stays: its application lives, or `ippool-reclaim` is false.
    Keep,
    /// The pool is deleted (`ippool-reclaim: "true"`).
    Delete,
}

/// Whether an auto-pool goes: `app_uid` is the UID of the application the
/// pool's labels name, `None` when it does not exist. A pool of a live
/// application of the same UID stays; otherwise a reclaimable pool goes and
/// a kept one (`ippool-reclaim: "false"`) waits for a same-named
/// application to reuse it.
pub fn reap_auto_pool(pool: &SpiderIPPool, app_uid: Option<&str>) -> Reap {
    let m = &pool.metadata;
    let ours = m.label(LABEL_OWNER_APPLICATION_UID);
    if app_uid.is_some() && app_uid == ours {
        return Reap::Keep;
    }
    if m.label(LABEL_IPPOOL_RECLAIM) == Some("true") { Reap::Delete } else { Reap::Keep }
}

/// Whether `subnet` adopts `pool` (Go's subnet informer): the pool has the
/// subnet's CIDR, no SpiderSubnet owns it, and neither is terminating.
pub fn adoptable(pool: &SpiderIPPool, subnet: &SpiderSubnet) -> bool {
    !pool.metadata.is_terminating()
        && !subnet.metadata.is_terminating()
        && owner_subnet(pool).is_none()
        && !pool.spec.subnet.is_empty()
        && pool.spec.subnet == subnet.spec.subnet
}

/// The application a ledger entry's `application`
/// (`<group>_<version>_<Kind>_<namespace>_<name>`, `<version>_...` for the
/// core group) names: an [`AppRef`] without UID; `None` when it is not of
/// that form. Object names cannot hold `_`, so the split is unambiguous.
pub fn parse_application_key(key: &str) -> Option<AppRef> {
    let mut parts = key.rsplitn(4, '_');
    let name = parts.next().filter(|s| !s.is_empty())?;
    let namespace = parts.next().filter(|s| !s.is_empty())?;
    let kind = parts.next().filter(|s| !s.is_empty())?;
    let gv = parts.next().filter(|s| !s.is_empty())?;
    Some(AppRef {
        api_version: gv.replacen('_', "/", 1),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: String::new(),
    })
}

/// The ledger entries of auto-pools (with `application`) that no existing
/// pool has: candidates to forget once their application is known gone.
/// `pools` are the names of the pools that exist.
pub fn orphan_ledger_entries(
    controlled: &PoolIpPreAllocations,
    pool_exists: impl Fn(&str) -> bool,
) -> Vec<(&str, AppRef)> {
    controlled
        .iter()
        .filter(|(name, _)| !pool_exists(name))
        .filter_map(|(name, e)| {
            Some((name.as_str(), parse_application_key(e.application.as_deref()?)?))
        })
        .collect()
}

/// Whether an orphan ledger entry (its pool does not exist) is forgotten:
/// its application is gone (`app_uid` `None`), or lives with another UID
/// than the one the pool was named after (the entry is an earlier, reclaimed
/// application's). An entry of a live application's pool that is yet to be
/// created is kept: its addresses are promised to that pool.
pub fn ledger_entry_stale(pool_name: &str, app_uid: Option<&str>) -> bool {
    let Some(uid) = app_uid else { return true };
    let last = uid.rsplit('-').next().unwrap_or_default();
    let suffix: String = last.chars().take(5).collect::<String>().to_lowercase();
    suffix.is_empty() || !pool_name.ends_with(&format!("-{suffix}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "tests/scale.rs"]
mod tests;
