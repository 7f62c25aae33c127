//! SpiderSubnet status: `totalIPCount`, `allocatedIPCount` and
//! `controlledIPPools` in Spiderpool's string format, and the finalizer
//! (a deleted subnet stays until the pools it controls are gone). Decisions:
//! [`plan_subnet`].
//!
//! With the SpiderSubnet feature, a pool of the subnet's CIDR that no
//! subnet owns is adopted (controller owner reference and the
//! `owner-spider-subnet` label, a patch carrying the pool's
//! `resourceVersion`). With the application controller, a ledger entry of an
//! auto-pool that no longer exists is forgotten once its application is
//! gone (or replaced by one of another UID) — read from the API server, not
//! a cache. The subnet's lock (shared with the application controller) is
//! held while its status is decided and written.

use std::future::Future;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use spiderpool_core::admission::common::LABEL_OWNER_SPIDER_SUBNET;
use spiderpool_core::autopool::{adoptable, ledger_entry_stale, orphan_ledger_entries};
use spiderpool_core::model::{
    API_VERSION, FINALIZER, OwnerReference, SpiderIPPool, SpiderSubnet, render_controlled_ip_pools,
};
use spiderpool_core::reconcile::pool::FinalizerAction;
use spiderpool_core::reconcile::subnet::plan_subnet;
use spiderpool_core::store::deletion::owner_subnet;

use super::app::AppState;
use super::{PoolCache, ReconcileError, Shared, drain};
use crate::{IPPoolObject, SubnetObject};

/// Event reason: the subnet's spec or status does not parse.
pub const INVALID: &str = "InvalidSpiderSubnet";

struct Ctx {
    shared: Arc<Shared>,
    pools: PoolCache,
}

/// Runs the subnet reconciler: each subnet on its changes, on changes of a
/// pool it controls, and every `resync`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    pools: PoolCache,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ReconcileError> {
    let subnets: Api<SubnetObject> = Api::all(shared.client.clone());
    let pool_api: Api<IPPoolObject> = Api::all(shared.client.clone());
    let controller = Controller::new(subnets, shared.options.watcher())
        .watches(pool_api, shared.options.watcher(), |pool: IPPoolObject| {
            owner_subnet(&pool.to_core()).map(ObjectRef::<SubnetObject>::new)
        })
        .graceful_shutdown_on(shutdown);
    let ctx = Arc::new(Ctx { shared, pools });
    let stream = controller.run(
        reconcile,
        |subnet, error, ctx: Arc<Ctx>| {
            ctx.shared.on_error("SpiderSubnet", &subnet.name_any(), error)
        },
        ctx,
    );
    drain("SpiderSubnet", stream).await
}

async fn reconcile(object: Arc<SubnetObject>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let shared = &ctx.shared;
    // Counting against a pool cache that has not listed yet would drop the
    // subnet's records.
    let Some(all) = ctx.pools.pools().await else {
        return Ok(Action::requeue(shared.options.retry));
    };
    let reference = object.object_ref(&());
    let mut subnet = object.to_core();
    let name = subnet.metadata.name_str().to_owned();
    let _lock = shared.subnet_locks.lock(&[name.as_str()]).await;
    if shared.options.spider_subnet {
        adopt(shared, &subnet, &all).await?;
    }
    forget_orphans(shared, &mut subnet, &all).await?;
    let refs: Vec<&SpiderIPPool> = all.iter().collect();
    let plan = match plan_subnet(&subnet, &refs) {
        Ok(plan) => plan,
        Err(error) => {
            let message = format!("{error}; the subnet is skipped until it changes");
            shared.events.warn(&reference, INVALID, &message).await;
            return Ok(Action::await_change());
        }
    };
    shared.events.clear(&reference, INVALID);
    let api: Api<SubnetObject> = Api::all(shared.client.clone());
    let mut version = object.resource_version();
    if plan.finalizer != FinalizerAction::Keep {
        let present = plan.finalizer == FinalizerAction::Add;
        let mut finalizers: Vec<String> =
            object.finalizers().iter().filter(|f| f.as_str() != FINALIZER).cloned().collect();
        if present {
            finalizers.push(FINALIZER.to_owned());
        }
        let patch = json!({"metadata": {"resourceVersion": version, "finalizers": finalizers}});
        let written = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(ReconcileError::kube(format!("set the finalizer of SpiderSubnet {name}")))?;
        if !present {
            return Ok(Action::await_change());
        }
        version = written.resource_version();
    }
    let status = subnet.status.clone().unwrap_or_default();
    let controlled = render_controlled_ip_pools(&plan.controlled);
    if status.total_ip_count != Some(plan.total)
        || status.allocated_ip_count != Some(plan.allocated)
        || status.controlled_ip_pools != controlled
    {
        let patch = json!({
            "metadata": {"resourceVersion": version},
            "status": {
                "totalIPCount": plan.total,
                "allocatedIPCount": plan.allocated,
                "controlledIPPools": controlled,
            },
        });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(ReconcileError::kube(format!("patch SpiderSubnet {name} status")))?;
    }
    Ok(Action::requeue(shared.options.resync))
}

/// Adopts the pools of the subnet's CIDR that no subnet owns.
async fn adopt(
    shared: &Shared,
    subnet: &SpiderSubnet,
    pools: &[SpiderIPPool],
) -> Result<(), ReconcileError> {
    let Some(uid) = subnet.metadata.uid.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    let name = subnet.metadata.name_str();
    let api: Api<IPPoolObject> = Api::all(shared.client.clone());
    for pool in pools.iter().filter(|p| adoptable(p, subnet)) {
        let mut owners = pool.metadata.owner_references.clone().unwrap_or_default();
        owners.push(OwnerReference {
            api_version: API_VERSION.to_owned(),
            kind: SpiderSubnet::KIND.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
        let pool_name = pool.metadata.name_str();
        let patch = json!({"metadata": {
            "resourceVersion": pool.metadata.resource_version,
            "ownerReferences": owners,
            "labels": {LABEL_OWNER_SPIDER_SUBNET: name},
        }});
        api.patch(pool_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(ReconcileError::kube(format!("adopt SpiderIPPool {pool_name}")))?;
        tracing::info!(subnet = name, pool = pool_name, "pool adopted");
    }
    Ok(())
}

/// Drops from `subnet`'s ledger (in memory; the status write that follows
/// stores it) the entries of auto-pools that do not exist and whose
/// application is gone or replaced. Only while the application controller
/// runs: otherwise nobody knows the applications.
async fn forget_orphans(
    shared: &Shared,
    subnet: &mut SpiderSubnet,
    pools: &[SpiderIPPool],
) -> Result<(), ReconcileError> {
    let Some(kinds) = shared.app_kinds.get() else { return Ok(()) };
    let Some(status) = subnet.status.as_mut() else { return Ok(()) };
    let Ok(mut ledger) = status.controlled_pools() else { return Ok(()) };
    let orphans: Vec<(String, spiderpool_core::autopool::AppRef)> =
        orphan_ledger_entries(&ledger, |n| pools.iter().any(|p| p.metadata.name_str() == n))
            .into_iter()
            .map(|(n, a)| (n.to_owned(), a))
            .collect();
    let api: Api<IPPoolObject> = Api::all(shared.client.clone());
    let mut changed = false;
    for (pool, app) in orphans {
        // The cache may lag behind a pool just created: ask the API server.
        if api
            .get_opt(&pool)
            .await
            .map_err(ReconcileError::kube(format!("get SpiderIPPool {pool}")))?
            .is_some()
        {
            continue;
        }
        let uid = match super::app::app_state(&shared.client, kinds, &app).await? {
            AppState::Unknown => continue,
            AppState::Live(uid) => Some(uid),
            AppState::Gone => None,
        };
        if ledger_entry_stale(&pool, uid.as_deref()) {
            tracing::info!(
                subnet = subnet.metadata.name_str(),
                pool,
                "ledger entry forgotten: pool and application gone"
            );
            ledger.remove(&pool);
            changed = true;
        }
    }
    if changed {
        status.set_controlled_pools(&ledger);
    }
    Ok(())
}
