//! Whether the pool a Kubernetes controller's application needs is there
//! (Go `findAppAutoPool`): the agent lists the pools carrying the
//! application's labels until exactly one exists with exactly the desired
//! number of addresses, and reports what it saw while waiting.

use std::sync::Arc;

use super::pool::{AutoPoolKey, LABEL_OWNER_APPLICATION_UID, auto_pool_selector_labels};
use super::request::{AutoPoolPlan, AutoPoolRequestError, PlannedPool};
use crate::ip::IpSet;
use crate::model::SpiderIPPool;
use crate::store::pool_family;

/// What one look at the pools found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolCheck {
    /// The pool, of the right size: allocate from it.
    Ready(String),
    /// Not yet: what was seen (no pool, a terminating one, the wrong size).
    Wait(String),
}

/// Whether `pool` was made for an application (it carries
/// [`LABEL_OWNER_APPLICATION_UID`], as Go `IsAutoCreatedIPPool` reads it):
/// its `podAffinity` names the application, not pod labels.
pub fn is_auto_pool(pool: &SpiderIPPool) -> bool {
    pool.metadata.label(LABEL_OWNER_APPLICATION_UID).is_some()
}

/// The number of addresses in the pool's `spec.ips`; `None` when its family
/// or a range cannot be read.
pub fn pool_size(pool: &SpiderIPPool) -> Option<u128> {
    let family = pool_family(pool).ok()?;
    IpSet::parse_ranges(family, &pool.spec.ips).ok().map(|s| s.len())
}

/// The pools carrying the labels of `planned` for the plan's application
/// (its selector labels and its UID), by name order.
pub fn app_pools<'p>(
    pools: &'p [Arc<SpiderIPPool>],
    plan: &AutoPoolPlan,
    planned: &PlannedPool,
) -> Vec<&'p Arc<SpiderIPPool>> {
    let key = AutoPoolKey {
        app: &plan.app,
        interface: &plan.nic,
        family: planned.family,
        subnet: &planned.subnet,
    };
    let mut wanted = auto_pool_selector_labels(&key);
    wanted.insert(LABEL_OWNER_APPLICATION_UID.to_string(), plan.app.uid.clone());
    let mut found: Vec<&Arc<SpiderIPPool>> = pools
        .iter()
        .filter(|p| wanted.iter().all(|(k, v)| p.metadata.label(k) == Some(v.as_str())))
        .collect();
    found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    found
}

/// One look at `pools` for the pool of `planned` with `desired` addresses:
/// [`PoolCheck::Ready`] when exactly one pool carries the application's
/// labels, is not terminating and has exactly `desired` addresses;
/// [`PoolCheck::Wait`] saying what is missing otherwise; an error when more
/// than one pool carries the labels (Go refuses too).
pub fn check_auto_pool(
    pools: &[Arc<SpiderIPPool>],
    plan: &AutoPoolPlan,
    planned: &PlannedPool,
    desired: u64,
) -> Result<PoolCheck, AutoPoolRequestError> {
    let found = app_pools(pools, plan, planned);
    let pool = match found.as_slice() {
        [] => {
            return Ok(PoolCheck::Wait(format!(
                "no SpiderIPPool has the labels of {} ({LABEL_OWNER_APPLICATION_UID}={}, \
                 owner-spider-subnet={}, interface={}, ip-version={})",
                plan.app.describe(),
                plan.app.uid,
                planned.subnet,
                plan.nic,
                planned.family
            )));
        }
        [one] => one,
        many => {
            return Err(AutoPoolRequestError::too_many_pools(
                plan,
                planned,
                many.iter().map(|p| p.metadata.name_str().to_string()),
            ));
        }
    };
    let name = pool.metadata.name_str();
    if pool.metadata.is_terminating() {
        return Ok(PoolCheck::Wait(format!("pool {name} is terminating")));
    }
    match pool_size(pool) {
        Some(n) if n == u128::from(desired) => Ok(PoolCheck::Ready(name.to_string())),
        Some(n) => Ok(PoolCheck::Wait(format!(
            "pool {name} has {n} IPs, not {desired} (the controller has not resized it yet)"
        ))),
        None => Ok(PoolCheck::Wait(format!("pool {name}: spec.ips cannot be read"))),
    }
}
