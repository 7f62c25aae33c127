//! SpiderSubnet status: `totalIPCount`, `allocatedIPCount` and
//! `controlledIPPools` in Spiderpool's string format, and the finalizer
//! (a deleted subnet stays until the pools it controls are gone). Decisions:
//! [`plan_subnet`]. Auto-created pools are the SpiderSubnet issue's.

use std::future::Future;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use spiderpool_core::model::{FINALIZER, SpiderIPPool, render_controlled_ip_pools};
use spiderpool_core::reconcile::pool::FinalizerAction;
use spiderpool_core::reconcile::subnet::plan_subnet;
use spiderpool_core::store::deletion::owner_subnet;

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
    let subnet = object.to_core();
    let name = subnet.metadata.name_str().to_owned();
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
