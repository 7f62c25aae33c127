//! What the leader runs: [`leader_work`] builds the [`LeaderWork`] the
//! election starts on each new term and stops on step-down.
//!
//! Each term runs the reconcilers (`spiderpool_k8s::reconcile::run`, unless
//! `--reconcile=false`) and the IP garbage collector
//! (`spiderpool_k8s::gc::run`, unless `--gc=false`) until
//! `stop.signalled()` resolves at the end of the term; they finish the write in flight and return. Reconcilers that fail
//! (say, the CRDs are not installed yet) are logged with the reason and the
//! term goes on until it ends, so the next term tries again.
//!
//! The heartbeat (`--leader-heartbeat-configmap NAME`, a hidden test flag)
//! makes the leader's work visible without reconcilers: every second the
//! leader writes its identity and a counter into ConfigMap `NAME` of the
//! controller's namespace (server-side apply). The fail-over tests watch it.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use spiderpool_k8s::gc::{self, GcOptions};
use spiderpool_k8s::leader::{LeaderWork, StepDown, WorkError};
use spiderpool_k8s::reconcile::{self, ReconcileOptions};

/// Key of the heartbeat ConfigMap: the leader's identity.
pub const HEARTBEAT_HOLDER: &str = "holder";
/// Key of the heartbeat ConfigMap: beats written in this term.
pub const HEARTBEAT_BEAT: &str = "beat";
/// Time between heartbeats.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// What the leader's work needs.
#[derive(Debug, Clone)]
pub struct LeaderWorkOptions {
    /// The controller's namespace.
    pub namespace: String,
    /// This replica's identity.
    pub identity: String,
    /// ConfigMap the leader writes heartbeats into (tests).
    pub heartbeat_configmap: Option<String>,
    /// The reconcilers' settings; `None`: no reconcilers.
    pub reconcile: Option<ReconcileOptions>,
    /// The IP garbage collector's settings; `None`: no collection.
    pub gc: Option<GcOptions>,
}

/// The leader's work over `client`.
pub fn leader_work(client: Client, options: LeaderWorkOptions) -> impl LeaderWork {
    move |stop: StepDown| leader_term(client.clone(), options.clone(), stop)
}

/// Waits for a task of the term, if it runs, and logs how it ended: a
/// failure is logged, not returned, so the term goes on to its end and the
/// next term starts the work again.
async fn join_logged<E: std::fmt::Display>(
    what: &str,
    task: Option<tokio::task::JoinHandle<Result<(), E>>>,
) {
    let Some(task) = task else { return };
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "{what} stopped with an error"),
        Err(e) => tracing::error!(error = %e, "{what}: task failed"),
    }
}

/// One term: everything the leader runs, until `stop` fires.
async fn leader_term(
    client: Client,
    options: LeaderWorkOptions,
    mut stop: StepDown,
) -> Result<(), WorkError> {
    tracing::info!(identity = %options.identity, "leader's work started");
    let heartbeat = options
        .heartbeat_configmap
        .clone()
        .map(|name| tokio::spawn(heartbeat(client.clone(), options.clone(), name, stop.clone())));
    let reconcilers = options.reconcile.clone().map(|settings| {
        let (client, until) = (client.clone(), stop.signalled());
        tokio::spawn(async move { reconcile::run(client, settings, until).await })
    });
    let collector = options.gc.clone().map(|settings| {
        let (client, until) = (client.clone(), stop.signalled());
        tokio::spawn(async move { gc::run(client, settings, until).await })
    });
    stop.wait().await;
    join_logged("reconcilers", reconcilers).await;
    join_logged("IP garbage collection", collector).await;
    if let Some(task) = heartbeat {
        task.await.map_err(|e| Box::new(e) as WorkError)??;
    }
    tracing::info!(identity = %options.identity, "leader's work stopped");
    Ok(())
}

/// Writes a beat every [`HEARTBEAT_PERIOD`]; checks `stop` between writes
/// only, so it never stops in the middle of one.
async fn heartbeat(
    client: Client,
    options: LeaderWorkOptions,
    name: String,
    mut stop: StepDown,
) -> Result<(), WorkError> {
    let api: Api<ConfigMap> = Api::namespaced(client, &options.namespace);
    let params = PatchParams::apply("spiderpool-controller-heartbeat").force();
    let mut beat: u64 = 0;
    while !stop.is_set() {
        beat += 1;
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {HEARTBEAT_HOLDER: options.identity, HEARTBEAT_BEAT: beat.to_string()},
        });
        if let Err(e) = api.patch(&name, &params, &Patch::Apply(&body)).await {
            tracing::warn!("heartbeat ConfigMap {}/{name}: {e}", options.namespace);
        }
        tokio::select! {
            () = stop.wait() => {}
            () = tokio::time::sleep(HEARTBEAT_PERIOD) => {}
        }
    }
    Ok(())
}
