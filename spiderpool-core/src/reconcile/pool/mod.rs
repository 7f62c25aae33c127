//! SpiderIPPool: the status counts, Spiderpool's finalizer, and the overlap
//! race of two pools admitted at the same moment (Spiderpool #746).

use std::cmp::Ordering;

use crate::admission::common::{cidrs_overlap, go_list, stored_network, stored_total};
use crate::ip::IpSet;
use crate::model::{
    CONDITION_OVERLAPPING, Condition, FINALIZER, ObjectMeta, SpiderIPPool, SpiderReservedIP,
};
use crate::store::{PoolState, PoolStateError, reserved_set};

use super::admitted_before;

/// What the finalizer of a pool needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizerAction {
    /// Nothing to do.
    Keep,
    /// Add `spiderpool.spidernet.io` (a live pool without it: it bypassed the
    /// mutating webhook).
    Add,
    /// Remove it: the pool is terminating and holds no allocation record.
    Remove,
}

/// What a pool's status and finalizer should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPlan {
    /// `status.totalIPCount`: `|ips − excludeIPs|` (reserved addresses are not
    /// subtracted, as in Spiderpool and in what the agents write).
    pub total: i64,
    /// `status.allocatedIPCount`: the number of records in `allocatedIPs`.
    pub allocated: i64,
    /// The finalizer change.
    pub finalizer: FinalizerAction,
}

impl PoolPlan {
    /// True when the stored status counts differ from the plan's.
    pub fn counts_differ(&self, pool: &SpiderIPPool) -> bool {
        let status = pool.status.clone().unwrap_or_default();
        status.total_ip_count != Some(self.total)
            || status.allocated_ip_count != Some(self.allocated)
    }
}

/// The plan for `pool`, or why its spec or `status.allocatedIPs` does not
/// parse (the pool is then left alone: a finalizer is never removed from a
/// pool whose records cannot be read).
pub fn plan_pool(pool: &SpiderIPPool) -> Result<PoolPlan, PoolStateError> {
    let state = PoolState::from_pool(pool.clone())?;
    let allocated = state.allocated_count();
    Ok(PoolPlan {
        total: i64::try_from(state.total_count()).unwrap_or(i64::MAX),
        allocated: i64::try_from(allocated).unwrap_or(i64::MAX),
        finalizer: finalizer_action(&pool.metadata, allocated),
    })
}

/// The finalizer rule: a terminating pool loses the finalizer when it holds
/// no record (so the API server removes it); a live pool gets it.
pub fn finalizer_action(meta: &ObjectMeta, records: usize) -> FinalizerAction {
    let has = meta.finalizers.iter().flatten().any(|f| f == FINALIZER);
    match (meta.is_terminating(), has) {
        (true, true) if records == 0 => FinalizerAction::Remove,
        (false, false) => FinalizerAction::Add,
        _ => FinalizerAction::Keep,
    }
}

/// An earlier pool that `pool` overlaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The earlier pool (it keeps its addresses).
    pub earlier: String,
    /// What overlaps, in the webhook's words.
    pub detail: String,
}

/// The overlap race (Spiderpool #746): two pools that the webhook admitted at
/// the same moment, each checked against a list without the other, can
/// overlap. The admission rules are checked again against every pool: a
/// different but overlapping subnet of the same family, or, with the same
/// subnet, common usable addresses. The later pool (by creationTimestamp,
/// then name) loses; this returns the earliest pool it overlaps, or `None`.
pub fn earlier_overlap(pool: &SpiderIPPool, all: &[&SpiderIPPool]) -> Option<Overlap> {
    let (family, net) = stored_network(pool.spec.ip_version, &pool.spec.subnet)?;
    let mine = stored_total(family, &pool.spec.ips, &pool.spec.exclude_ips);
    let key = |p: &SpiderIPPool| {
        (p.metadata.creation_timestamp.clone(), p.metadata.name_str().to_owned())
    };
    let (my_time, my_name) = key(pool);
    let mut earlier: Vec<&SpiderIPPool> = all
        .iter()
        .copied()
        .filter(|o| o.metadata.name_str() != my_name)
        .filter(|o| {
            let (t, n) = key(o);
            admitted_before((&t, &n), (&my_time, &my_name)) == Ordering::Less
        })
        .collect();
    earlier.sort_by(|a, b| {
        let (ta, na) = key(a);
        let (tb, nb) = key(b);
        admitted_before((&ta, &na), (&tb, &nb))
    });
    earlier.into_iter().find_map(|other| {
        let (f, n) = stored_network(other.spec.ip_version, &other.spec.subnet)?;
        if f != family {
            return None;
        }
        let name = other.metadata.name_str().to_owned();
        if n != net && cidrs_overlap(&n, &net) {
            return Some(Overlap {
                detail: format!(
                    "spec.subnet {} overlaps spec.subnet {} of SpiderIPPool {name}",
                    pool.spec.subnet, other.spec.subnet
                ),
                earlier: name,
            });
        }
        if n != net {
            return None;
        }
        let common = mine.intersection(&stored_total(f, &other.spec.ips, &other.spec.exclude_ips));
        (!common.is_empty()).then(|| Overlap {
            detail: format!("IPs {} are also in SpiderIPPool {name}", go_list(&common)),
            earlier: name,
        })
    })
}

/// The `reason` of the `Overlapping` condition.
pub const OVERLAP_REASON: &str = "IPPoolOverlap";

/// The pool's `status.conditions` after the overlap check, or `None` when
/// they stay as they are. An overlap sets `Overlapping: True` (the selection
/// then rules the pool out: it allocates nothing, and keeps the records it
/// holds); no overlap removes the condition. `now` (RFC 3339) becomes the
/// `lastTransitionTime` when the status changes.
pub fn overlap_conditions(
    pool: &SpiderIPPool,
    overlap: Option<&Overlap>,
    now: &str,
) -> Option<Vec<Condition>> {
    let current = pool.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let existing = current.iter().find(|c| c.type_ == CONDITION_OVERLAPPING);
    let others = current.iter().filter(|c| c.type_ != CONDITION_OVERLAPPING).cloned();
    let Some(overlap) = overlap else {
        return existing.map(|_| others.collect());
    };
    let message = format!(
        "overlaps SpiderIPPool {}, admitted before it: {}; this pool allocates nothing until the overlap is gone",
        overlap.earlier, overlap.detail
    );
    if existing.is_some_and(|c| c.is_true() && c.reason == OVERLAP_REASON && c.message == message) {
        return None;
    }
    let since = existing.filter(|c| c.is_true()).and_then(|c| c.last_transition_time.clone());
    let condition = Condition {
        type_: CONDITION_OVERLAPPING.to_owned(),
        status: "True".to_owned(),
        reason: OVERLAP_REASON.to_owned(),
        message,
        last_transition_time: Some(since.unwrap_or_else(|| now.to_owned())),
        observed_generation: pool.metadata.generation,
    };
    Some(others.chain(std::iter::once(condition)).collect())
}

/// The allocated addresses of `pool` that a SpiderReservedIP now covers: the
/// pods keep them, but a pod that restarts does not get them back
/// (reference §2.3). Empty when the pool does not parse.
pub fn reserved_in_use(
    pool: &SpiderIPPool,
    reserved: &[std::sync::Arc<SpiderReservedIP>],
) -> IpSet {
    let Ok(state) = PoolState::from_pool(pool.clone()) else {
        return IpSet::new(crate::ip::IpFamily::V4);
    };
    let blocked = reserved_set(reserved, state.used().family());
    state.used().intersection(&blocked)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
