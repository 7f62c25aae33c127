//! SpiderSubnet auto-pools at CNI ADD (reference §4.2 step 1): for a pod
//! whose subnet annotations apply ([`plan_auto_pools`], the first level of
//! the core's pool selection), the agent finds the NIC's pools before the
//! allocator picks an address from them.
//!
//! - Kubernetes controllers: spiderpool-controller makes the pool; the
//!   agent checks, up to [`AgentConfig::auto_pool_wait_retries`] times
//!   [`AgentConfig::auto_pool_wait_interval`] apart, until exactly one pool
//!   carries the application's labels with exactly the size its replicas
//!   ask for ([`check_auto_pool`]); then it fails naming the pool, the
//!   subnet, the size and what it saw last.
//! - Third-party controllers: the agent makes (or resizes) the pool itself
//!   ([`plan_third_party_pool`]): the subnet's `controlledIPPools` first
//!   (compare-and-swap), then the pool; a conflict reads everything again,
//!   a pool another agent just created is used.
//!
//! Decisions are the core's; this module reads, waits and writes.

use std::sync::Arc;
use std::time::Instant;

use spiderpool_core::autopool::{
    AutoPoolPlan, AutoPoolRequestError, PlannedPool, PoolCheck, ThirdPartyAction, ThirdPartyInput,
    WaitReport, Workload, app_pools, check_auto_pool, plan_auto_pools, plan_third_party_pool,
    status_without_pool, workload_of,
};
use spiderpool_core::ip::{IpFamily, IpSet};
use spiderpool_core::model::SpiderIPPool;
use spiderpool_core::pod::PodFacts;
use spiderpool_core::selection::{IpamSettings, NicRequest};
use spiderpool_core::store::{StoreError, reserved_set};

use super::{Agent, AgentBackend};

/// Why the auto-pools of a pod could not be resolved.
#[derive(Debug)]
pub(super) enum ResolveError {
    /// A rule refused, or the wait ran out: the message says why.
    Rule(AutoPoolRequestError),
    /// The backend failed.
    Store(String, StoreError),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Rule(e) => write!(f, "{e}"),
            ResolveError::Store(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl From<AutoPoolRequestError> for ResolveError {
    fn from(e: AutoPoolRequestError) -> Self {
        ResolveError::Rule(e)
    }
}

fn store(what: impl Into<String>) -> impl FnOnce(StoreError) -> ResolveError {
    let what = what.into();
    move |e| ResolveError::Store(what, e)
}

fn subnet_missing(plan: &AutoPoolPlan, planned: &PlannedPool) -> ResolveError {
    ResolveError::Rule(AutoPoolRequestError::SubnetMissing {
        annotation: plan.annotation,
        subnet: planned.subnet.clone(),
        family: planned.family,
        nic: plan.nic.clone(),
    })
}

/// The NIC's auto-pools as a selection request, or `None` when the pod's
/// pools come from another level of the precedence.
pub(super) async fn resolve<S: AgentBackend>(
    agent: &Agent<S>,
    pod: &PodFacts,
    settings: &IpamSettings,
    nic: &str,
) -> Result<Option<NicRequest>, ResolveError> {
    let Some(plan) = plan_auto_pools(pod, settings, nic)? else { return Ok(None) };
    for planned in &plan.pools {
        let subnet = agent.store().get_subnet(&planned.subnet).await;
        if subnet.map_err(store(format!("SpiderSubnet {}", planned.subnet)))?.is_none() {
            return Err(AutoPoolRequestError::SubnetMissing {
                annotation: plan.annotation,
                subnet: planned.subnet.clone(),
                family: planned.family,
                nic: plan.nic.clone(),
            }
            .into());
        }
    }
    let mut resolved = plan.clone();
    for planned in &mut resolved.pools {
        planned.name = if plan.app.is_third_party() {
            let desired = plan.desired_size(Workload::ThirdParty)?;
            let _one_at_a_time = agent.auto_pool_writes.lock().await;
            third_party(agent, &plan, planned, desired).await?
        } else {
            wait_for_pool(agent, &plan, planned).await?
        };
    }
    tracing::info!(
        pod = %pod.namespaced_name(),
        nic,
        app = %plan.app.describe(),
        pools = ?resolved.pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        "auto-pools resolved"
    );
    Ok(Some(resolved.request(settings.clean_gateway)))
}

/// Waits (bounded) for the controller-made pool of `planned` with the size
/// the application's replicas ask for; its name.
async fn wait_for_pool<S: AgentBackend>(
    agent: &Agent<S>,
    plan: &AutoPoolPlan,
    planned: &PlannedPool,
) -> Result<String, ResolveError> {
    let config = agent.config();
    let started = Instant::now();
    let tries = config.auto_pool_wait_retries.max(1);
    let app = &plan.app;
    let (mut seen, mut desired) = (String::new(), 0);
    for attempt in 1..=tries {
        let kind = plan.workload_kind().ok_or_else(|| AutoPoolRequestError::AppMissing {
            annotation: plan.annotation,
            app: app.describe(),
        })?;
        let object = agent.store().workload(kind, &app.namespace, &app.name).await;
        let object = object.map_err(store(format!("reading {}", app.describe())))?;
        let object = object.ok_or_else(|| AutoPoolRequestError::AppMissing {
            annotation: plan.annotation,
            app: app.describe(),
        })?;
        desired = plan.desired_size(workload_of(kind, &object))?;
        let pools = agent.store().list_pools().await.map_err(store("listing SpiderIPPools"))?;
        match check_auto_pool(&pools, plan, planned, desired)? {
            PoolCheck::Ready(name) => return Ok(name),
            PoolCheck::Wait(what) => seen = what,
        }
        tracing::debug!(app = %app.describe(), pool = %planned.name, attempt, %seen, "waiting for the auto-pool");
        if attempt < tries {
            tokio::time::sleep(config.auto_pool_wait_interval).await;
        }
    }
    let report = WaitReport {
        app: app.describe(),
        pool: planned.name.clone(),
        subnet: planned.subnet.clone(),
        family: planned.family,
        nic: plan.nic.clone(),
        desired,
        seen,
        tries,
        waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Err(AutoPoolRequestError::NotReady { annotation: plan.annotation, report: Box::new(report) }
        .into())
}

/// Makes or resizes the third-party pool of `planned` (see the module
/// docs); its name. A write conflict reads everything again, up to
/// [`AgentConfig::conflict_retries`] times, after a pause that grows by
/// 50 ms a round (at most 500 ms): a backend that lists pools from a watch
/// cache shows another agent's new pool a moment after its create.
async fn third_party<S: AgentBackend>(
    agent: &Agent<S>,
    plan: &AutoPoolPlan,
    planned: &PlannedPool,
    desired: u64,
) -> Result<String, ResolveError> {
    let attempts = agent.config().conflict_retries.saturating_add(1);
    let mut last = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            let pause = 50 * u64::from(attempt.min(10));
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        match third_party_once(agent, plan, planned, desired).await {
            Ok(name) => return Ok(name),
            Err(ResolveError::Store(what, e))
                if e.is_conflict() || matches!(e, StoreError::AlreadyExists { .. }) =>
            {
                tracing::debug!(pool = %planned.name, %what, error = %e, "auto-pool write conflict; reading again");
                last = Some(ResolveError::Store(what, e));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        ResolveError::Store(planned.name.clone(), StoreError::Backend("no attempt".into()))
    }))
}

async fn third_party_once<S: AgentBackend>(
    agent: &Agent<S>,
    plan: &AutoPoolPlan,
    planned: &PlannedPool,
    desired: u64,
) -> Result<String, ResolveError> {
    let backend = agent.store();
    let subnet_what = format!("SpiderSubnet {}", planned.subnet);
    let Some(subnet) = backend.get_subnet(&planned.subnet).await.map_err(store(&subnet_what))?
    else {
        return Err(subnet_missing(plan, planned));
    };
    let pools = backend.list_pools().await.map_err(store("listing SpiderIPPools"))?;
    let (existing, held) = existing_pool(agent, plan, planned, &pools).await?;
    let reserved = backend.list_reserved_ips().await.map_err(store("listing SpiderReservedIPs"))?;
    let reserved = reserved_set(&reserved, planned.family);
    let other_pools =
        pools_of_cidr(&pools, &subnet.value.spec.subnet, existing.as_deref(), planned.family);
    let input = ThirdPartyInput {
        plan,
        planned,
        desired,
        subnet: &subnet.value,
        existing: existing.as_deref(),
        held: &held,
        reserved: &reserved,
        other_pools: &other_pools,
    };
    let (status, pool, create) = match plan_third_party_pool(&input)? {
        ThirdPartyAction::Use(name) => return Ok(name),
        ThirdPartyAction::Write { status, pool, create } => (status, pool, create),
    };
    let name = pool.metadata.name_str().to_string();
    if let Some(status) = &status {
        let write = backend.update_subnet_status(&planned.subnet, subnet.version, status).await;
        write.map_err(store(&subnet_what))?;
    }
    let pool_what = format!("SpiderIPPool {name}");
    if create {
        match backend.create_pool(&pool).await {
            Ok(()) => {
                tracing::info!(pool = %name, subnet = %planned.subnet, ips = ?pool.spec.ips, app = %plan.app.describe(), "auto-pool created")
            }
            // Another agent created it meanwhile: the next round uses it.
            Err(e @ StoreError::AlreadyExists { .. }) => {
                return Err(ResolveError::Store(pool_what, e));
            }
            Err(e) => {
                undo_entry(agent, plan, planned, &name).await;
                return Err(ResolveError::Store(pool_what, e));
            }
        }
    } else {
        let before = existing.as_ref().map(|p| p.spec.ips.clone()).unwrap_or_default();
        let write = backend.update_pool_ips(&name, &before, &pool.spec.ips).await;
        write.map_err(store(&pool_what))?;
        tracing::info!(pool = %name, ips = ?pool.spec.ips, "auto-pool resized");
    }
    visible(agent, &name, &pool.spec.ips).await?;
    Ok(name)
}

/// Waits (at most 5 s) until the backend's pool listing shows pool `name`
/// with `ips`: a backend that reads pools from a watch cache sees the write
/// a moment later, and the allocation must find the pool as written.
async fn visible<S: AgentBackend>(
    agent: &Agent<S>,
    name: &str,
    ips: &[String],
) -> Result<(), ResolveError> {
    const CHECKS: u32 = 50;
    for _ in 0..CHECKS {
        let pools = agent.store().list_pools().await.map_err(store("listing SpiderIPPools"))?;
        if pools.iter().any(|p| p.metadata.name_str() == name && p.spec.ips == ips) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(ResolveError::Store(
        format!("SpiderIPPool {name}"),
        StoreError::Backend(format!(
            "written with spec.ips {ips:?}, but the pool listing did not show it within 5 s"
        )),
    ))
}

/// The application's pool of `planned` among `pools` (by its labels; two
/// is an error) and the addresses pods hold in it.
async fn existing_pool<S: AgentBackend>(
    agent: &Agent<S>,
    plan: &AutoPoolPlan,
    planned: &PlannedPool,
    pools: &[Arc<SpiderIPPool>],
) -> Result<(Option<Arc<SpiderIPPool>>, IpSet), ResolveError> {
    let backend = agent.store();
    let existing = match app_pools(pools, plan, planned).as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => {
            return Err(AutoPoolRequestError::too_many_pools(
                plan,
                planned,
                many.iter().map(|p| p.metadata.name_str().to_string()),
            )
            .into());
        }
    };
    let held = match &existing {
        Some(pool) => {
            let name = pool.metadata.name_str();
            let read = backend.read_pool(name, |s| s.used().clone()).await;
            read.map_err(store(format!("SpiderIPPool {name}")))?
                .map_or_else(|| IpSet::new(planned.family), |v| v.value)
        }
        None => IpSet::new(planned.family),
    };
    Ok((existing, held))
}

/// The addresses of every pool with CIDR `cidr` but `this` (pools whose
/// `spec.ips` do not parse offer none).
fn pools_of_cidr(
    pools: &[Arc<SpiderIPPool>],
    cidr: &str,
    this: Option<&SpiderIPPool>,
    family: IpFamily,
) -> IpSet {
    let this = this.map(|p| p.metadata.name_str());
    pools
        .iter()
        .filter(|p| p.spec.subnet == cidr && Some(p.metadata.name_str()) != this)
        .filter_map(|p| IpSet::parse_ranges(family, &p.spec.ips).ok())
        .fold(IpSet::new(family), |acc, s| acc.union(&s))
}

/// After a failed create: removes the pool's entry from the subnet's
/// `controlledIPPools` again (best effort, once), so nothing is left
/// half-made; the subnet controller drops entries of pools that never
/// appeared otherwise.
async fn undo_entry<S: AgentBackend>(
    agent: &Agent<S>,
    plan: &AutoPoolPlan,
    planned: &PlannedPool,
    pool: &str,
) {
    let backend = agent.store();
    let Ok(Some(subnet)) = backend.get_subnet(&planned.subnet).await else { return };
    let Some(status) = status_without_pool(&subnet.value, pool) else { return };
    if let Err(e) = backend.update_subnet_status(&planned.subnet, subnet.version, &status).await {
        tracing::warn!(pool, subnet = %planned.subnet, app = %plan.app.describe(), error = %e, "could not remove the entry of an auto-pool that was not created");
    }
}
