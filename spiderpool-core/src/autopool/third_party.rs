//! The auto-pool of a third-party controller, which the agent makes and
//! resizes itself (Go `applyThirdControllerAutoPool`): the size is the
//! fixed `ippool-ip-number`; the addresses are recorded in the subnet's
//! `status.controlledIPPools` first (a compare-and-swap write that keeps two
//! agents from handing out the same addresses), then the pool is created
//! or its `spec.ips` rewritten.
//!
//! [`plan_third_party_pool`] decides; the agent writes. Two agents making
//! the same pool at once meet at the subnet write (the loser re-reads and
//! finds the entry the winner recorded, so it plans the same addresses) and
//! at the pool create (the loser gets "already exists" and uses the pool).

use super::AutoPoolError;
use super::carve::{ResizeInput, resize_pool, split_controlled, subnet_usable_ips};
use super::pool::{AutoPoolKey, new_auto_pool};
use super::request::{AutoPoolPlan, AutoPoolRequestError, PlannedPool};
use crate::ip::IpSet;
use crate::model::{PoolIpPreAllocation, SpiderIPPool, SpiderSubnet, SubnetStatus};

/// The facts a third-party pool is decided on.
#[derive(Debug, Clone, Copy)]
pub struct ThirdPartyInput<'a> {
    /// The pod's plan.
    pub plan: &'a AutoPoolPlan,
    /// The pool of one family.
    pub planned: &'a PlannedPool,
    /// The fixed size.
    pub desired: u64,
    /// The SpiderSubnet, as read (its status is rewritten from this).
    pub subnet: &'a SpiderSubnet,
    /// The application's pool, when it exists (found by its labels).
    pub existing: Option<&'a SpiderIPPool>,
    /// Addresses of the existing pool that pods hold.
    pub held: &'a IpSet,
    /// SpiderReservedIP addresses of the family.
    pub reserved: &'a IpSet,
    /// Addresses of every other pool of the subnet's CIDR, whether the
    /// subnet records it or not (a pool made before the subnet controller
    /// adopted it): never handed out twice.
    pub other_pools: &'a IpSet,
}

/// What the agent writes for a third-party pool.
#[derive(Debug, Clone, PartialEq)]
pub enum ThirdPartyAction {
    /// The pool exists with the right addresses: use it.
    Use(String),
    /// Write `status` to the subnet (compare-and-swap on the version read),
    /// then create `pool` (when it exists already, use it) — or, when
    /// `create` is false, set the existing pool's `spec.ips` to the pool's.
    Write {
        /// The subnet's new status (`controlledIPPools`, `allocatedIPCount`).
        status: Option<Box<SubnetStatus>>,
        /// The pool with its new `spec.ips`.
        pool: Box<SpiderIPPool>,
        /// Create the pool (true) or rewrite its `spec.ips` (false).
        create: bool,
    },
}

/// Decides a third-party pool (see the module docs): the addresses it has
/// are those its `controlledIPPools` entry records (else its `spec.ips`),
/// grown from the subnet's lowest free addresses or shrunk by its lowest
/// addresses no pod holds. Errors name the annotation, the subnet and the
/// numbers: a subnet with too little room, an entry that does not parse, a
/// subnet of the wrong family. Nothing is written on error.
pub fn plan_third_party_pool(
    input: &ThirdPartyInput<'_>,
) -> Result<ThirdPartyAction, AutoPoolRequestError> {
    let (plan, planned, subnet) = (input.plan, input.planned, input.subnet);
    let rule = |source: AutoPoolError| AutoPoolRequestError::rule(plan.annotation, source);
    let subnet_name = subnet.metadata.name_str();
    let name = input.existing.map_or(planned.name.as_str(), |p| p.metadata.name_str());
    let spec_err = |reason: String| {
        rule(AutoPoolError::SubnetSpec { subnet: subnet_name.to_string(), reason })
    };
    let (family, usable) = subnet_usable_ips(subnet).ok_or_else(|| {
        spec_err(format!("spec.subnet {:?} is not a usable CIDR", subnet.spec.subnet))
    })?;
    if family != planned.family {
        return Err(spec_err(format!("it is an {family} subnet, not {}", planned.family)));
    }
    let status = subnet.status.clone().unwrap_or_default();
    let mut controlled = status
        .controlled_pools()
        .map_err(|e| spec_err(format!("status.controlledIPPools does not parse: {e}")))?;
    let (recorded, others) =
        split_controlled(subnet_name, &controlled, name, family).map_err(rule)?;
    let current = match (controlled.contains_key(name), input.existing) {
        (false, Some(pool)) => IpSet::parse_ranges(family, &pool.spec.ips)
            .map_err(|e| spec_err(format!("pool {name}: spec.ips: {e}")))?,
        _ => recorded.clone(),
    };
    let resize = resize_pool(&ResizeInput {
        pool: name,
        subnet: subnet_name,
        subnet_ips: &usable,
        current: &current,
        others: &others.union(input.other_pools),
        reserved: input.reserved,
        held: input.held,
        desired: input.desired,
    })
    .map_err(rule)?;
    let application = Some(plan.app.application_key());
    let entry_ok = controlled.get(name).is_some_and(|e| {
        e.application == application
            && IpSet::parse_ranges(family, &e.ips).ok() == Some(resize.ips.clone())
    });
    let new_status = (!entry_ok).then(|| {
        controlled.insert(
            name.to_string(),
            PoolIpPreAllocation { ips: resize.ips.to_strings(), application },
        );
        let handed = controlled
            .values()
            .filter_map(|e| IpSet::parse_ranges(family, &e.ips).ok())
            .fold(IpSet::new(family), |acc, s| acc.union(&s));
        let mut status = status.clone();
        status.set_controlled_pools(&controlled);
        status.allocated_ip_count = Some(i64::try_from(handed.len()).unwrap_or(i64::MAX));
        status.total_ip_count = Some(i64::try_from(usable.len()).unwrap_or(i64::MAX));
        Box::new(status)
    });
    match input.existing {
        Some(pool) => {
            let have = IpSet::parse_ranges(family, &pool.spec.ips).ok();
            if new_status.is_none() && have.as_ref() == Some(&resize.ips) {
                return Ok(ThirdPartyAction::Use(name.to_string()));
            }
            let mut pool = pool.clone();
            pool.spec.ips = resize.ips.to_strings();
            Ok(ThirdPartyAction::Write { status: new_status, pool: Box::new(pool), create: false })
        }
        None => {
            let key =
                AutoPoolKey { app: &plan.app, interface: &plan.nic, family, subnet: subnet_name };
            let pool = new_auto_pool(&key, subnet, plan.ip_number, plan.reclaim, &resize.ips)
                .map_err(rule)?;
            Ok(ThirdPartyAction::Write { status: new_status, pool: Box::new(pool), create: true })
        }
    }
}

/// The status of `subnet` without the `controlledIPPools` entry of `pool`,
/// with `allocatedIPCount` counted again (after a pool create failed, so
/// that nothing is left half-made); `None` when there is no such entry or
/// the status cannot be read.
pub fn status_without_pool(subnet: &SpiderSubnet, pool: &str) -> Option<SubnetStatus> {
    let (family, _) = subnet_usable_ips(subnet)?;
    let mut status = subnet.status.clone().unwrap_or_default();
    let mut controlled = status.controlled_pools().ok()?;
    controlled.remove(pool)?;
    let handed = controlled
        .values()
        .filter_map(|e| IpSet::parse_ranges(family, &e.ips).ok())
        .fold(IpSet::new(family), |acc, s| acc.union(&s));
    status.set_controlled_pools(&controlled);
    status.allocated_ip_count = Some(i64::try_from(handed.len()).unwrap_or(i64::MAX));
    Some(status)
}
