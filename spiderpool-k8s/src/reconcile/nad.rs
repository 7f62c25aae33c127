//! SpiderMultusConfig → Multus NetworkAttachmentDefinition
//! (`k8s.cni.cncf.io/v1`, reference §7).
//!
//! Each SMC is reconciled on its changes, on changes of the NAD it owns (a
//! hand edit or a deletion), and every `resync`:
//!
//! - a terminating SMC is left alone (garbage collection deletes its NAD
//!   through the owner reference);
//! - an SMC that claims a NAD name an earlier live SMC of its namespace
//!   claims gets a Warning event `NADNameConflict` naming that SMC, and
//!   nothing is written: the NAD stays the earlier one's (Spiderpool #4167);
//!   when the earlier one goes, the next resync hands the name over;
//! - an SMC that does not render ([`render`] refuses what admission would
//!   have) gets a Warning event `InvalidSpiderMultusConfig` and is skipped
//!   until it changes;
//! - otherwise the NAD is created, or — when its annotations, `spec.config`
//!   or owner references differ from what the SMC renders now — replaced
//!   (compare-and-swap on `resourceVersion`; the user's labels stay). The
//!   comparison is with the rendering, never with a remembered generation,
//!   so every SMC update reaches the NAD (Spiderpool #2008), drift is
//!   repaired and a deleted NAD comes back.

use std::future::Future;
use std::sync::Arc;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use spiderpool_core::admission::multusconfig::default_smc;
use spiderpool_core::model::SpiderMultusConfig;
use spiderpool_core::multus::{NAD_KIND, NetworkAttachmentDefinition, RenderError, render};
use spiderpool_core::reconcile::nad::{claim_owner, merged, needs_write};

use super::{ReconcileError, Shared, drain};
use crate::MultusConfigObject;

/// Event reason: another SMC owns the NAD name.
pub const CONFLICT: &str = "NADNameConflict";
/// Event reason: the SMC does not render.
pub const INVALID: &str = "InvalidSpiderMultusConfig";

/// The NetworkAttachmentDefinition resource (its plural is not the one kube
/// would guess).
pub fn nad_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("k8s.cni.cncf.io", "v1", NAD_KIND);
    ApiResource::from_gvk_with_plural(&gvk, "network-attachment-definitions")
}

/// The NAD `smc` renders to, with admission's defaults applied first (they
/// are idempotent: an SMC the mutating webhook stored is unchanged; one that
/// bypassed it renders as if it had not).
pub fn desired_nad(smc: &SpiderMultusConfig) -> Result<NetworkAttachmentDefinition, RenderError> {
    let mut smc = smc.clone();
    default_smc(&mut smc);
    render(&smc)
}

struct Ctx {
    shared: Arc<Shared>,
    smcs: Store<MultusConfigObject>,
}

/// Runs the SMC → NAD reconciler.
pub(crate) async fn run(
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ReconcileError> {
    let smcs: Api<MultusConfigObject> = Api::all(shared.client.clone());
    let resource = nad_resource();
    let nads: Api<DynamicObject> = Api::all_with(shared.client.clone(), &resource);
    let controller = Controller::new(smcs, shared.options.watcher())
        .owns_with(nads, resource, watcher::Config::default())
        .graceful_shutdown_on(shutdown);
    let ctx = Arc::new(Ctx { smcs: controller.store(), shared });
    let stream = controller.run(
        reconcile,
        |smc, error, ctx: Arc<Ctx>| {
            ctx.shared.on_error("SpiderMultusConfig", &smc.name_any(), error)
        },
        ctx,
    );
    drain("SpiderMultusConfig", stream).await
}

async fn reconcile(
    object: Arc<MultusConfigObject>,
    ctx: Arc<Ctx>,
) -> Result<Action, ReconcileError> {
    let shared = &ctx.shared;
    let smc = object.to_core();
    if smc.metadata.is_terminating() {
        return Ok(Action::await_change());
    }
    let reference = object.object_ref(&());
    let namespace = smc.metadata.namespace.clone().unwrap_or_default();
    let siblings: Vec<SpiderMultusConfig> = ctx
        .smcs
        .state()
        .iter()
        .filter(|o| o.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .map(|o| o.to_core())
        .collect();
    let desired = match desired_nad(&smc) {
        Ok(nad) => nad,
        Err(error) => {
            let message = format!(
                "SpiderMultusConfig {namespace}/{}: {error}; no NetworkAttachmentDefinition is written until it changes",
                smc.metadata.name_str()
            );
            shared.events.warn(&reference, INVALID, &message).await;
            return Ok(Action::await_change());
        }
    };
    shared.events.clear(&reference, INVALID);
    let nad_name = desired.metadata.name_str().to_owned();
    if let Some(owner) = claim_owner(&smc, &siblings) {
        let message = format!(
            "SpiderMultusConfig {namespace}/{} claims NetworkAttachmentDefinition {namespace}/{nad_name}, which SpiderMultusConfig {namespace}/{owner} (created before it) owns; nothing is written for this one",
            smc.metadata.name_str()
        );
        shared.events.warn(&reference, CONFLICT, &message).await;
        return Ok(Action::requeue(shared.options.resync));
    }
    shared.events.clear(&reference, CONFLICT);
    sync_nad(shared, &namespace, &desired).await
}

/// Creates the NAD, or replaces it when it differs from `desired`.
async fn sync_nad(
    shared: &Shared,
    namespace: &str,
    desired: &NetworkAttachmentDefinition,
) -> Result<Action, ReconcileError> {
    let name = desired.metadata.name_str();
    let what = |verb: &str| format!("{verb} NetworkAttachmentDefinition {namespace}/{name}");
    let api: Api<DynamicObject> =
        Api::namespaced_with(shared.client.clone(), namespace, &nad_resource());
    let stored = api.get_opt(name).await.map_err(ReconcileError::kube(what("get")))?;
    let Some(stored) = stored else {
        let object = to_dynamic(desired, &what("create"))?;
        api.create(&PostParams::default(), &object)
            .await
            .map_err(ReconcileError::kube(what("create")))?;
        tracing::info!(namespace, nad = name, "NetworkAttachmentDefinition created");
        return Ok(Action::requeue(shared.options.resync));
    };
    if stored.metadata.deletion_timestamp.is_some() {
        // Re-created once the old one is gone.
        return Ok(Action::requeue(shared.options.retry));
    }
    let stored = from_dynamic(&stored, &what("read"))?;
    if needs_write(desired, &stored) {
        let object = to_dynamic(&merged(desired, &stored), &what("update"))?;
        api.replace(name, &PostParams::default(), &object)
            .await
            .map_err(ReconcileError::kube(what("update")))?;
        tracing::info!(namespace, nad = name, "NetworkAttachmentDefinition updated");
    }
    Ok(Action::requeue(shared.options.resync))
}

fn to_dynamic(
    nad: &NetworkAttachmentDefinition,
    what: &str,
) -> Result<DynamicObject, ReconcileError> {
    serde_json::to_value(nad)
        .and_then(serde_json::from_value)
        .map_err(|e| ReconcileError::Convert { what: what.to_owned(), message: e.to_string() })
}

/// The stored NAD as the core's type (a NAD whose `spec.config` is not a
/// string reads as one without config, so it is rewritten).
fn from_dynamic(
    object: &DynamicObject,
    what: &str,
) -> Result<NetworkAttachmentDefinition, ReconcileError> {
    let mut value = serde_json::to_value(object)
        .map_err(|e| ReconcileError::Convert { what: what.to_owned(), message: e.to_string() })?;
    if value.pointer("/spec/config").is_some_and(|c| !c.is_string())
        && let Some(spec) = value.get_mut("spec").and_then(|s| s.as_object_mut())
    {
        spec.remove("config");
    }
    if value.get("spec").is_some_and(|s| !s.is_object()) {
        value["spec"] = serde_json::json!({});
    }
    serde_json::from_value(value)
        .map_err(|e| ReconcileError::Convert { what: what.to_owned(), message: e.to_string() })
}
