//! SpiderIPPool: counts, finalizer, and the overlap race (Spiderpool #746).
//!
//! Each pool is reconciled on every change and every `resync`:
//!
//! 1. [`plan_pool`] decides the counts and the finalizer from the pool as
//!    stored; a pool whose spec or `status.allocatedIPs` does not parse gets
//!    a Warning event `InvalidIPPool` and is left alone until it changes
//!    (its finalizer is never removed on records that cannot be read);
//! 2. [`earlier_overlap`] re-checks the webhook's overlap rules against every
//!    pool: the later of two overlapping pools gets the status condition
//!    `Overlapping: True` (the agents' pool selection then rules it out: it
//!    allocates nothing and keeps what it holds) and a Warning event
//!    `IPPoolOverlap`, both naming the earlier pool; the condition goes when
//!    the overlap does;
//! 3. the finalizer is added (live pool that bypassed the mutating webhook)
//!    or removed (terminating pool without records), then the counts are
//!    written to `status`, each with compare-and-swap on `resourceVersion`.
//!
//! A terminating pool that still holds records gets a Normal event
//! `IPPoolTerminating` with the number it waits for; the agents allocate
//! nothing from it (the store refuses new records on a terminating pool).

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::json;
use spiderpool_core::model::Condition;
use spiderpool_core::model::{FINALIZER, SpiderIPPool};
use spiderpool_core::reconcile::pool::{
    FinalizerAction, PoolPlan, earlier_overlap, overlap_conditions, plan_pool,
};

use super::{ReconcileError, Shared, drain};
use crate::IPPoolObject;

/// Event reasons of this reconciler.
pub mod reason {
    /// The pool's spec or status does not parse (it bypassed admission).
    pub const INVALID: &str = "InvalidIPPool";
    /// The pool overlaps a pool admitted before it.
    pub const OVERLAP: &str = "IPPoolOverlap";
    /// The pool is deleted and waits for its addresses to be released.
    pub const TERMINATING: &str = "IPPoolTerminating";
}

struct Ctx {
    shared: Arc<Shared>,
    pools: Store<IPPoolObject>,
}

/// The pool controller (its store is every pool, for the other reconcilers).
pub(crate) fn controller(shared: &Shared) -> Controller<IPPoolObject> {
    let api: Api<IPPoolObject> = Api::all(shared.client.clone());
    Controller::new(api, shared.options.watcher())
}

/// Runs the pool reconciler until the controller shuts down.
pub(crate) async fn run(
    controller: Controller<IPPoolObject>,
    shared: Arc<Shared>,
) -> Result<(), ReconcileError> {
    let ctx = Arc::new(Ctx { pools: controller.store(), shared });
    let stream = controller.run(
        reconcile,
        |pool, error, ctx: Arc<Ctx>| ctx.shared.on_error("SpiderIPPool", &pool.name_any(), error),
        ctx,
    );
    drain("SpiderIPPool", stream).await
}

async fn reconcile(object: Arc<IPPoolObject>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let shared = &ctx.shared;
    let reference = object.object_ref(&());
    let pool = object.to_core();
    let name = pool.metadata.name_str().to_owned();
    let plan = match plan_pool(&pool) {
        Ok(plan) => plan,
        Err(error) => {
            let message = format!("{error}; the pool is skipped until it changes");
            shared.events.warn(&reference, reason::INVALID, &message).await;
            return Ok(Action::await_change());
        }
    };
    shared.events.clear(&reference, reason::INVALID);
    let conditions = report_overlap(&ctx, &pool, &reference).await;
    if pool.metadata.is_terminating() && plan.allocated > 0 {
        let message = format!(
            "the pool is deleted: it allocates no new address and is removed when its last {} allocated address(es) are released",
            plan.allocated
        );
        shared.events.normal(&reference, reason::TERMINATING, &message).await;
    }
    let api: Api<IPPoolObject> = Api::all(shared.client.clone());
    let mut version = object.resource_version();
    match plan.finalizer {
        FinalizerAction::Keep => {}
        FinalizerAction::Remove => {
            set_finalizer(&api, &object, false).await?;
            tracing::info!(pool = name, "last address released: finalizer removed");
            return Ok(Action::await_change());
        }
        FinalizerAction::Add => {
            let written = set_finalizer(&api, &object, true).await?;
            version = written.resource_version();
        }
    }
    write_status(&api, &pool, &plan, conditions, version).await?;
    Ok(Action::requeue(shared.options.resync))
}

/// The overlap check: reports an overlap, and returns the new
/// `status.conditions` when they change.
async fn report_overlap(
    ctx: &Ctx,
    pool: &SpiderIPPool,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
) -> Option<Vec<Condition>> {
    let all: Vec<SpiderIPPool> = ctx.pools.state().iter().map(|p| p.to_core()).collect();
    let refs: Vec<&SpiderIPPool> = all.iter().collect();
    let overlap = earlier_overlap(pool, &refs);
    let conditions = overlap_conditions(pool, overlap.as_ref(), &now());
    match overlap {
        Some(overlap) => {
            let message = format!(
                "SpiderIPPool {} overlaps SpiderIPPool {}, admitted before it ({}); two pools \
                 admitted at the same moment passed the webhook's overlap check (Spiderpool #746). \
                 Delete or fix the later pool",
                pool.metadata.name_str(),
                overlap.earlier,
                overlap.detail
            );
            ctx.shared.events.warn(reference, reason::OVERLAP, &message).await;
        }
        None => ctx.shared.events.clear(reference, reason::OVERLAP),
    }
    conditions
}

/// Now, as the API server writes times (`%Y-%m-%dT%H:%M:%SZ`).
fn now() -> String {
    let time =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    match serde_json::to_value(time) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Adds or removes Spiderpool's finalizer with a merge patch that carries
/// the `resourceVersion` read (compare-and-swap: a pool that changed since —
/// a new record, say — answers 409 and is reconciled again).
async fn set_finalizer(
    api: &Api<IPPoolObject>,
    object: &IPPoolObject,
    present: bool,
) -> Result<IPPoolObject, ReconcileError> {
    let name = object.name_any();
    let mut finalizers: Vec<String> =
        object.finalizers().iter().filter(|f| f.as_str() != FINALIZER).cloned().collect();
    if present {
        finalizers.push(FINALIZER.to_owned());
    }
    let patch = json!({"metadata": {
        "resourceVersion": object.resource_version(),
        "finalizers": finalizers,
    }});
    let verb = if present { "add" } else { "remove" };
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(ReconcileError::kube(format!("{verb} the finalizer of SpiderIPPool {name}")))
}

/// Writes the counts and, when they changed, the conditions (a merge patch
/// replaces the whole `conditions` list; the `resourceVersion` read makes it
/// compare-and-swap).
async fn write_status(
    api: &Api<IPPoolObject>,
    pool: &SpiderIPPool,
    plan: &PoolPlan,
    conditions: Option<Vec<Condition>>,
    version: Option<String>,
) -> Result<(), ReconcileError> {
    if !plan.counts_differ(pool) && conditions.is_none() {
        return Ok(());
    }
    let name = pool.metadata.name_str();
    let mut status = json!({"totalIPCount": plan.total, "allocatedIPCount": plan.allocated});
    if let Some(conditions) = conditions {
        status["conditions"] = json!(conditions);
    }
    let patch = json!({"metadata": {"resourceVersion": version}, "status": status});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(ReconcileError::kube(format!("patch SpiderIPPool {name} status")))?;
    tracing::debug!(
        pool = name,
        total = plan.total,
        allocated = plan.allocated,
        "status counts written"
    );
    Ok(())
}
