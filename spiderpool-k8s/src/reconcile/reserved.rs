//! SpiderReservedIP effects users must see. The agents never allocate a
//! reserved address (the allocator skips them); pool counts stay
//! `|ips − excludeIPs|` as in Spiderpool and as the agents write them. What
//! the controller adds: a reserved address a pod still holds is reported
//! (Warning event `ReservedIPInUse` on the SpiderReservedIP: the pod keeps
//! it, but does not get it back after a restart — reference §2.3), and an
//! object whose `ips` do not parse is reported (`InvalidReservedIP`; the
//! allocator skips its bad entries).

use std::future::Future;
use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::{Resource, ResourceExt};
use spiderpool_core::ip::{IpFamily, IpRange};
use spiderpool_core::model::SpiderReservedIP;
use spiderpool_core::reconcile::pool::reserved_in_use;

use super::{PoolCache, ReconcileError, Shared, drain};
use crate::ReservedIPObject;

/// Event reason: a reserved address is allocated to a pod.
pub const IN_USE: &str = "ReservedIPInUse";
/// Event reason: an entry of `spec.ips` does not parse.
pub const INVALID: &str = "InvalidReservedIP";

struct Ctx {
    shared: Arc<Shared>,
    pools: PoolCache,
}

/// Runs the SpiderReservedIP reconciler.
pub(crate) async fn run(
    shared: Arc<Shared>,
    pools: PoolCache,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ReconcileError> {
    let api: Api<ReservedIPObject> = Api::all(shared.client.clone());
    let controller = Controller::new(api, shared.options.watcher()).graceful_shutdown_on(shutdown);
    let ctx = Arc::new(Ctx { shared, pools });
    let stream = controller.run(
        reconcile,
        |r, error, ctx: Arc<Ctx>| ctx.shared.on_error("SpiderReservedIP", &r.name_any(), error),
        ctx,
    );
    drain("SpiderReservedIP", stream).await
}

async fn reconcile(object: Arc<ReservedIPObject>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let shared = &ctx.shared;
    let Some(pools) = ctx.pools.pools().await else {
        return Ok(Action::requeue(shared.options.retry));
    };
    let reference = object.object_ref(&());
    let reserved = object.to_core();
    match bad_entries(&reserved) {
        Some(message) => shared.events.warn(&reference, INVALID, &message).await,
        None => shared.events.clear(&reference, INVALID),
    }
    let one = [Arc::new(reserved)];
    let mut held = Vec::new();
    for pool in &pools {
        let set = reserved_in_use(pool, &one);
        if !set.is_empty() {
            held.push(format!(
                "{} in SpiderIPPool {}",
                set.to_strings().join(","),
                pool.metadata.name_str()
            ));
        }
    }
    if held.is_empty() {
        shared.events.clear(&reference, IN_USE);
    } else {
        let message = format!(
            "reserved addresses still allocated to pods: {}; the pods keep them, but a pod that restarts does not get them back",
            held.join("; ")
        );
        shared.events.warn(&reference, IN_USE, &message).await;
    }
    Ok(Action::requeue(shared.options.resync))
}

/// Entries of `spec.ips` that are not ranges of the object's family.
fn bad_entries(reserved: &SpiderReservedIP) -> Option<String> {
    let name = reserved.metadata.name_str();
    let family = match reserved.spec.ip_version {
        Some(v) => match IpFamily::from_version(v) {
            Some(f) => f,
            None => {
                return Some(format!(
                    "SpiderReservedIP {name}: spec.ipVersion: {v} is neither 4 nor 6"
                ));
            }
        },
        None => return Some(format!("SpiderReservedIP {name}: spec.ipVersion is not set")),
    };
    let bad: Vec<String> = reserved
        .spec
        .ips
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            IpRange::parse_of(s, family).err().map(|e| format!("spec.ips[{i}]: {e}"))
        })
        .collect();
    (!bad.is_empty()).then(|| {
        format!("SpiderReservedIP {name}: {}; these entries reserve nothing", bad.join("; "))
    })
}
