//! Deletes the auto-pools of deleted applications (`ippool-reclaim:
//! "true"`), keeps the others for a same-named application.
//!
//! A `Controller` over the pools that carry
//! `ipam.spidernet.io/owner-application-kind`, triggered by every change of
//! such a pool, by the deletion (or any change) of a watched application
//! (mapped to its pools by their labels) and every `resync`. A pool is
//! deleted only when a fresh read of its application says it is gone (or
//! replaced: another UID), and with preconditions on the pool's UID and
//! `resourceVersion`, so a pool taken over by a new application in the
//! meantime is never deleted. The pool then stays terminating while pods
//! hold its addresses (the pool reconciler's finalizer).

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use spiderpool_core::admission::common::LABEL_OWNER_APPLICATION_NAME;
use spiderpool_core::autopool::{
    AppRef, LABEL_OWNER_APPLICATION_GV, LABEL_OWNER_APPLICATION_KIND,
    LABEL_OWNER_APPLICATION_NAMESPACE, Reap, reap_auto_pool,
};

use super::{AppCtx, AppKind, AppState, app_state, reason};
use crate::IPPoolObject;
use crate::reconcile::{ReconcileError, drain};

/// The application an auto-pool's labels name (UID left empty).
fn labelled_app(pool: &IPPoolObject) -> Option<AppRef> {
    let label = |k: &str| pool.labels().get(k).cloned();
    Some(AppRef {
        api_version: label(LABEL_OWNER_APPLICATION_GV)?.replacen('_', "/", 1),
        kind: label(LABEL_OWNER_APPLICATION_KIND)?,
        namespace: label(LABEL_OWNER_APPLICATION_NAMESPACE)?,
        name: label(LABEL_OWNER_APPLICATION_NAME)?,
        uid: String::new(),
    })
}

/// The pools of the store whose labels name `workload`.
fn pools_of<K: AppKind>(pools: &Store<IPPoolObject>, workload: &K) -> Vec<ObjectRef<IPPoolObject>> {
    let kind = <K as k8s_openapi::Resource>::KIND;
    let (ns, name) = (workload.namespace().unwrap_or_default(), workload.name_any());
    pools
        .state()
        .iter()
        .filter(|p| {
            labelled_app(p).is_some_and(|a| a.kind == kind && a.namespace == ns && a.name == name)
        })
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

fn watch_apps<K: AppKind>(
    controller: Controller<IPPoolObject>,
    config: &watcher::Config,
    client: &kube::Client,
) -> Controller<IPPoolObject> {
    let store = controller.store();
    controller
        .watches(Api::<K>::all(client.clone()), config.clone(), move |w: K| pools_of(&store, &w))
}

/// Runs the reaper.
pub(super) async fn run(
    ctx: Arc<AppCtx>,
    cronjobs: bool,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ReconcileError> {
    let client = ctx.shared.client.clone();
    let apps = ctx.shared.options.watcher();
    let selector = match &ctx.shared.options.label_selector {
        Some(s) => format!("{s},{LABEL_OWNER_APPLICATION_KIND}"),
        None => LABEL_OWNER_APPLICATION_KIND.to_owned(),
    };
    let pools = watcher::Config::default().labels(&selector);
    let mut controller = Controller::new(Api::<IPPoolObject>::all(client.clone()), pools);
    controller = watch_apps::<Deployment>(controller, &apps, &client);
    controller = watch_apps::<ReplicaSet>(controller, &apps, &client);
    controller = watch_apps::<StatefulSet>(controller, &apps, &client);
    controller = watch_apps::<DaemonSet>(controller, &apps, &client);
    controller = watch_apps::<Job>(controller, &apps, &client);
    if cronjobs {
        controller = watch_apps::<CronJob>(controller, &apps, &client);
    }
    let stream = controller.graceful_shutdown_on(shutdown).run(
        |pool, ctx: Arc<AppCtx>| reconcile(pool, ctx).boxed(),
        |pool, error, ctx: Arc<AppCtx>| {
            ctx.shared.on_error("SpiderIPPool (auto-pool)", &pool.name_any(), error)
        },
        ctx,
    );
    drain("auto-pool reaper", stream).await
}

async fn reconcile(pool: Arc<IPPoolObject>, ctx: Arc<AppCtx>) -> Result<Action, ReconcileError> {
    let resync = Action::requeue(ctx.shared.options.resync);
    if pool.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(app) = labelled_app(&pool) else { return Ok(resync) };
    let uid = match app_state(&ctx.shared.client, &ctx.kinds, &app).await? {
        AppState::Unknown => return Ok(resync),
        AppState::Live(uid) => Some(uid),
        AppState::Gone => None,
    };
    let core = pool.to_core();
    if reap_auto_pool(&core, uid.as_deref()) == Reap::Keep {
        return Ok(resync);
    }
    let name = pool.name_any();
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: pool.uid(),
            resource_version: pool.resource_version(),
        }),
        ..DeleteParams::default()
    };
    Api::<IPPoolObject>::all(ctx.shared.client.clone())
        .delete(&name, &params)
        .await
        .map_err(ReconcileError::kube(format!("delete auto-pool SpiderIPPool {name}")))?;
    let gone = if uid.is_some() { "was replaced by a new one of the same name" } else { "is gone" };
    let message = format!(
        "{} {gone}: auto-pool {name} (ippool-reclaim \"true\") is deleted; it stays terminating \
         until pods release its addresses",
        app.describe()
    );
    tracing::info!(pool = name, "{message}");
    ctx.shared.events.normal(&pool.object_ref(&()), reason::RECLAIMED, &message).await;
    Ok(Action::await_change())
}
