//! The SpiderSubnet application controller (Spiderpool's
//! `SubnetAppController`): gives each application whose pod template asks
//! for `ipam.spidernet.io/subnet(s)` its own SpiderIPPool per NIC and
//! family, carved out of the SpiderSubnet, and keeps its size with the
//! replicas; and deletes or keeps the pools per `ippool-reclaim` when the
//! application goes.
//!
//! - one kube-runtime `Controller` per kind (Deployment, ReplicaSet not
//!   owned by a Deployment, StatefulSet, DaemonSet, Job not owned by a
//!   CronJob, CronJob where the API server serves `batch/v1` CronJobs):
//!   `sync.rs` creates and resizes the pools;
//! - one `Controller` over the auto-pools, triggered by the deletion of
//!   their application: `reap.rs` deletes a reclaimable pool whose
//!   application is gone.
//!
//! The decisions are `spiderpool_core::autopool`'s; how two reconciles never
//! hand one address out twice is in `sync.rs` and in docs/subnet.md.

mod reap;
mod sync;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use spiderpool_core::autopool::{AppRef, Workload};

use super::{PoolCache, ReconcileError, Shared, drain};

/// Settings of the application controller (Spiderpool's
/// `enableAutoPoolForApplication` and the values it reads with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPoolOptions {
    /// IPv4 is enabled (`enableIPv4`): every NIC needs an IPv4 subnet.
    pub enable_ipv4: bool,
    /// IPv6 is enabled (`enableIPv6`).
    pub enable_ipv6: bool,
    /// Spare addresses when `ippool-ip-number` is absent
    /// (`clusterSubnetAutoPoolDefaultRedundantIPNumber`).
    pub default_redundant: u64,
    /// Labels added to every pool the controller creates (tests scope their
    /// stores and reconcilers with them).
    pub pool_labels: BTreeMap<String, String>,
}

impl Default for AutoPoolOptions {
    /// Both families (as the controller's `--enable-ipv4`/`--enable-ipv6`),
    /// one spare address (the chart's default), no extra labels.
    fn default() -> Self {
        Self {
            enable_ipv4: true,
            enable_ipv6: true,
            default_redundant: 1,
            pool_labels: BTreeMap::new(),
        }
    }
}

/// Event reasons of the application controller.
pub mod reason {
    /// The application's auto-pool annotations cannot be honoured (bad
    /// value, missing subnet, fixed size below the replicas, no room).
    pub const FAILED: &str = "AutoPoolFailed";
    /// The pool cannot shrink yet: pods hold too many of its addresses.
    pub const SHRINK_WAITS: &str = "AutoPoolShrinkWaits";
    /// The application's pool is being deleted (a user deleted it while
    /// pods hold its addresses): it is created again once it is gone.
    pub const POOL_TERMINATING: &str = "AutoPoolTerminating";
    /// A pool was created, resized or taken over.
    pub const SYNCED: &str = "AutoPoolSynced";
    /// A reclaimable pool of a deleted application was deleted.
    pub const RECLAIMED: &str = "AutoPoolReclaimed";
}

/// A workload kind the controller watches.
pub(crate) trait AppKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + k8s_openapi::Resource
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The pod template's annotations.
    fn template_annotations(&self) -> Option<&BTreeMap<String, String>>;
    /// What its replicas are counted from.
    fn workload(&self) -> Workload;
    /// The kind of a controlling owner whose pool covers this object's pods
    /// (a Deployment's ReplicaSet, a CronJob's Job): then it has none.
    fn covered_by(&self) -> Option<&'static str> {
        None
    }
}

fn controlled_by(meta: &ObjectMeta, kind: &'static str) -> Option<&'static str> {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.kind == kind)
        .then_some(kind)
}

fn job_workload(spec: Option<&JobSpec>) -> Workload {
    Workload::Job {
        parallelism: spec.and_then(|s| s.parallelism).map(i64::from),
        completions: spec.and_then(|s| s.completions).map(i64::from),
    }
}

macro_rules! replicas_kind {
    ($t:ty) => {
        impl AppKind for $t {
            fn template_annotations(&self) -> Option<&BTreeMap<String, String>> {
                self.spec.as_ref()?.template.metadata.as_ref()?.annotations.as_ref()
            }
            fn workload(&self) -> Workload {
                Workload::Replicas(self.spec.as_ref().and_then(|s| s.replicas).map(i64::from))
            }
        }
    };
}

replicas_kind!(Deployment);
replicas_kind!(StatefulSet);

impl AppKind for ReplicaSet {
    fn template_annotations(&self) -> Option<&BTreeMap<String, String>> {
        let template = self.spec.as_ref()?.template.as_ref()?;
        template.metadata.as_ref()?.annotations.as_ref()
    }
    fn workload(&self) -> Workload {
        Workload::Replicas(self.spec.as_ref().and_then(|s| s.replicas).map(i64::from))
    }
    fn covered_by(&self) -> Option<&'static str> {
        controlled_by(&self.metadata, "Deployment")
    }
}

impl AppKind for DaemonSet {
    fn template_annotations(&self) -> Option<&BTreeMap<String, String>> {
        self.spec.as_ref()?.template.metadata.as_ref()?.annotations.as_ref()
    }
    fn workload(&self) -> Workload {
        let n = self.status.as_ref().map_or(0, |s| s.desired_number_scheduled);
        Workload::DaemonSet { desired_number_scheduled: i64::from(n) }
    }
}

impl AppKind for Job {
    fn template_annotations(&self) -> Option<&BTreeMap<String, String>> {
        self.spec.as_ref()?.template.metadata.as_ref()?.annotations.as_ref()
    }
    fn workload(&self) -> Workload {
        job_workload(self.spec.as_ref())
    }
    fn covered_by(&self) -> Option<&'static str> {
        controlled_by(&self.metadata, "CronJob")
    }
}

impl AppKind for CronJob {
    fn template_annotations(&self) -> Option<&BTreeMap<String, String>> {
        let job = self.spec.as_ref()?.job_template.spec.as_ref()?;
        job.template.metadata.as_ref()?.annotations.as_ref()
    }
    fn workload(&self) -> Workload {
        job_workload(self.spec.as_ref().and_then(|s| s.job_template.spec.as_ref()))
    }
}

/// What the application controllers share.
pub(crate) struct AppCtx {
    pub shared: Arc<Shared>,
    pub options: AutoPoolOptions,
    /// Every pool (the pool reconciler's cache).
    pub pools: PoolCache,
    /// The kinds watched here (a `batch/v1` CronJob only where served).
    pub kinds: Vec<&'static str>,
}

/// Whether an application exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppState {
    /// It exists, with this UID.
    Live(String),
    /// It does not exist.
    Gone,
    /// Not a kind this controller watches (a third-party controller, or a
    /// CronJob on a server without `batch/v1` CronJobs): left alone.
    Unknown,
}

/// Looks `app` up on the API server (a read, not a cache: a pool is only
/// ever deleted on a fresh answer).
pub(crate) async fn app_state(
    client: &kube::Client,
    kinds: &[&'static str],
    app: &AppRef,
) -> Result<AppState, ReconcileError> {
    if app.is_third_party() || app.is_orphan_pod() || !kinds.contains(&app.kind.as_str()) {
        return Ok(AppState::Unknown);
    }
    let (group, version) = app.group_version();
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &app.kind));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &app.namespace, &resource);
    let found = api
        .get_opt(&app.name)
        .await
        .map_err(ReconcileError::kube(format!("get {}", app.describe())))?;
    Ok(match found {
        Some(o) => AppState::Live(o.uid().unwrap_or_default()),
        None => AppState::Gone,
    })
}

/// Whether the API server serves `batch/v1` CronJobs (Kubernetes 1.21+).
async fn serves_cronjobs(client: &kube::Client) -> bool {
    match client.list_api_group_resources("batch/v1").await {
        Ok(list) => list.resources.iter().any(|r| r.name == "cronjobs"),
        Err(error) => {
            tracing::warn!(%error, "discovery of batch/v1 failed; CronJobs are not watched");
            false
        }
    }
}

/// Runs the application controllers and the reaper until `shutdown`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    options: AutoPoolOptions,
    pools: PoolCache,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) -> Result<(), ReconcileError> {
    let mut kinds = vec!["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"];
    let cronjobs = serves_cronjobs(&shared.client).await;
    if cronjobs {
        kinds.push("CronJob");
    }
    let _ = shared.app_kinds.set(kinds.clone());
    let ctx = Arc::new(AppCtx { shared, options, pools, kinds });
    let mut tasks = vec![
        watch_kind::<Deployment>(ctx.clone(), shutdown.clone()).boxed(),
        watch_kind::<ReplicaSet>(ctx.clone(), shutdown.clone()).boxed(),
        watch_kind::<StatefulSet>(ctx.clone(), shutdown.clone()).boxed(),
        watch_kind::<DaemonSet>(ctx.clone(), shutdown.clone()).boxed(),
        watch_kind::<Job>(ctx.clone(), shutdown.clone()).boxed(),
        reap::run(ctx.clone(), cronjobs, shutdown.clone()).boxed(),
    ];
    if cronjobs {
        tasks.push(watch_kind::<CronJob>(ctx.clone(), shutdown.clone()).boxed());
    }
    futures::future::try_join_all(tasks).await.map(|_| ())
}

/// One kind's controller.
async fn watch_kind<K: AppKind>(
    ctx: Arc<AppCtx>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ReconcileError> {
    let api: Api<K> = Api::all(ctx.shared.client.clone());
    let stream =
        Controller::new(api, ctx.shared.options.watcher()).graceful_shutdown_on(shutdown).run(
            |object: Arc<K>, ctx: Arc<AppCtx>| async move { sync::reconcile(object, ctx).await },
            |object: Arc<K>, error: &ReconcileError, ctx: Arc<AppCtx>| {
                ctx.shared.on_error(<K as k8s_openapi::Resource>::KIND, &object.name_any(), error)
            },
            ctx,
        );
    drain("application", stream).await
}

/// The requeue after a decision that waits for something to change.
pub(crate) fn later(ctx: &AppCtx) -> Action {
    Action::requeue(ctx.shared.options.retry)
}
