//! Creates and resizes an application's auto-pools.
//!
//! For each (NIC, family) the pod template asks for, under the SpiderSubnet's
//! lock:
//!
//! 1. read the subnet (a GET: its `status.controlledIPPools` ledger and its
//!    `resourceVersion`), every pool (the pool reconciler's cache) and the
//!    reserved IPs;
//! 2. find the application's pool by its labels *and* by its name (a pool
//!    of that name with other labels is refused by name: creating it again
//!    would fail forever); the pool found is then read fresh (a GET: its
//!    records and `resourceVersion`);
//! 3. [`plan_carve`] decides every target before anything is written: a
//!    missing subnet, a fixed size below the replicas or a subnet without
//!    room refuses the whole application (a Warning event naming the
//!    annotation, the subnet and the numbers) and nothing is created;
//! 4. writes: growing, the ledger first (a status patch carrying the
//!    subnet's `resourceVersion`) then the pool; shrinking, the pool first
//!    (a patch carrying the pool's `resourceVersion`, so an address an agent
//!    allocated meanwhile makes it 409 and the shrink is decided again) then
//!    the ledger.
//!
//! No two pools ever share an address: carves of one subnet are serialized
//! in this process by the subnet's lock, and across processes (an agent
//! carving a third-party controller's pool, a deposed leader) by the
//! compare-and-swap on the subnet's `resourceVersion`: the ledger names
//! every address handed to a pool before the pool has it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use serde_json::json;
use spiderpool_core::annotation::ANNO_IPPOOL_IP_NUMBER;
use spiderpool_core::autopool::{
    AppRef, AutoPoolConfig, AutoPoolError, AutoPoolKey, CarveFacts, CarvePlan,
    LABEL_IPPOOL_RECLAIM, LABEL_OWNER_APPLICATION_KIND, LABEL_OWNER_APPLICATION_NAMESPACE,
    LABEL_OWNER_APPLICATION_UID, WriteOrder, app_replicas, auto_pool_annotations, auto_pool_name,
    auto_pool_selector_labels, desired_pool_size, new_auto_pool, parse_auto_pool_config,
    pick_existing_pool, plan_carve,
};
use spiderpool_core::ip::IpFamily;
use spiderpool_core::model::{
    SpiderIPPool, SpiderReservedIP, SpiderSubnet, render_controlled_ip_pools,
};
use spiderpool_core::store::reserved_set;

use super::{AppCtx, AppKind, later, reason};
use crate::reconcile::ReconcileError;
use crate::{IPPoolObject, ReservedIPObject, SubnetObject};

/// One pool to keep: a NIC and family of the application.
struct Target {
    interface: String,
    family: IpFamily,
    subnet: String,
}

/// Why an application's pools were not brought to size.
enum SyncError {
    /// The annotations cannot be honoured (reported, retried later).
    Refused(String),
    /// The pool waits for pods to release addresses (event reason, message).
    Waits(&'static str, String),
    /// The pool cache has not listed yet: try again shortly, no report.
    NotReady,
    /// A request failed.
    Api(ReconcileError),
}

impl From<ReconcileError> for SyncError {
    fn from(e: ReconcileError) -> Self {
        SyncError::Api(e)
    }
}

/// Reconciles one application.
pub(super) async fn reconcile<K: AppKind>(
    object: Arc<K>,
    ctx: Arc<AppCtx>,
) -> Result<Action, ReconcileError> {
    let meta = object.meta();
    if meta.deletion_timestamp.is_some() || object.covered_by().is_some() {
        return Ok(Action::await_change());
    }
    let Some(annotations) = object.template_annotations() else {
        return Ok(Action::await_change());
    };
    let reference = object.object_ref(&());
    let events = &ctx.shared.events;
    let config = match parse_auto_pool_config(annotations, ctx.options.default_redundant) {
        Ok(Some(config)) => config,
        Ok(None) => return Ok(Action::await_change()),
        Err(e) => {
            events.warn(&reference, reason::FAILED, &format!("{e}; no auto-pool is created")).await;
            return Ok(Action::await_change());
        }
    };
    let kind = <K as k8s_openapi::Resource>::KIND;
    let (ns, name, uid) = (object.namespace().unwrap_or_default(), object.name_any(), object.uid());
    let Some(app) = AppRef::native(kind, &ns, &name, uid.as_deref().unwrap_or_default()) else {
        return Ok(Action::await_change());
    };
    match sync_app(&ctx, &app, &config, app_replicas(object.workload())).await {
        Ok(changes) => {
            events.clear(&reference, reason::FAILED);
            events.clear(&reference, reason::SHRINK_WAITS);
            events.clear(&reference, reason::POOL_TERMINATING);
            for change in changes {
                events.normal(&reference, reason::SYNCED, &change).await;
            }
            Ok(Action::requeue(ctx.shared.options.resync))
        }
        Err(SyncError::Refused(message)) => {
            let message = format!("{}: {message}; nothing was created or changed", app.describe());
            events.warn(&reference, reason::FAILED, &message).await;
            Ok(later(&ctx))
        }
        Err(SyncError::Waits(why, message)) => {
            events.normal(&reference, why, &message).await;
            Ok(later(&ctx))
        }
        Err(SyncError::NotReady) => Ok(later(&ctx)),
        Err(SyncError::Api(e)) => Err(e),
    }
}

/// The (NIC, family, subnet) targets of `config`.
fn targets(ctx: &AppCtx, config: &AutoPoolConfig) -> Result<Vec<Target>, SyncError> {
    let mut out = Vec::new();
    for nic in &config.nics {
        let pairs = nic
            .subnets_for(config.source, ctx.options.enable_ipv4, ctx.options.enable_ipv6)
            .map_err(|e| SyncError::Refused(e.to_string()))?;
        for (family, subnet) in pairs {
            out.push(Target {
                interface: nic.interface.clone(),
                family,
                subnet: subnet.to_owned(),
            });
        }
    }
    Ok(out)
}

/// A target's plan and what it was decided on.
struct Planned {
    target: Target,
    subnet: SpiderSubnet,
    subnet_version: Option<String>,
    pool: Option<(SpiderIPPool, Option<String>)>,
    pool_name: String,
    plan: CarvePlan,
}

/// Brings every pool of `app` to size; the changes made, for events.
async fn sync_app(
    ctx: &AppCtx,
    app: &AppRef,
    config: &AutoPoolConfig,
    replicas: u64,
) -> Result<Vec<String>, SyncError> {
    let size = desired_pool_size(app, replicas, config.ip_number)
        .map_err(|e| SyncError::Refused(e.to_string()))?;
    let targets = targets(ctx, config)?;
    let names: Vec<&str> = targets.iter().map(|t| t.subnet.as_str()).collect();
    let _locks = ctx.shared.subnet_locks.lock(&names).await;
    let listed = Listed::read(ctx).await?;
    let mut planned = Vec::with_capacity(targets.len());
    for target in targets {
        planned.push(plan_target(ctx, app, config, size, target, &listed).await?);
    }
    let mut changes = Vec::new();
    for p in &planned {
        if let Some(change) = write(ctx, app, config, p).await? {
            changes.push(change);
        }
    }
    Ok(changes)
}

/// Every pool (the pool reconciler's cache) and reserved IP, read once per
/// application.
struct Listed {
    core_pools: Vec<SpiderIPPool>,
    reserved: Vec<Arc<SpiderReservedIP>>,
}

impl Listed {
    async fn read(ctx: &AppCtx) -> Result<Listed, SyncError> {
        let Some(core_pools) = ctx.pools.pools().await else {
            return Err(SyncError::NotReady);
        };
        let reserved = Api::<ReservedIPObject>::all(ctx.shared.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(ReconcileError::kube("list SpiderReservedIPs"))?
            .items
            .into_iter()
            .map(|r| Arc::new(r.into_core()))
            .collect();
        Ok(Listed { core_pools, reserved })
    }
}

/// Plans one target (reads its subnet).
async fn plan_target(
    ctx: &AppCtx,
    app: &AppRef,
    config: &AutoPoolConfig,
    size: u64,
    target: Target,
    listed: &Listed,
) -> Result<Planned, SyncError> {
    let Listed { core_pools, reserved } = listed;
    let subnets: Api<SubnetObject> = Api::all(ctx.shared.client.clone());
    let Some(subnet_object) = subnets
        .get_opt(&target.subnet)
        .await
        .map_err(ReconcileError::kube(format!("get SpiderSubnet {}", target.subnet)))?
    else {
        return Err(SyncError::Refused(format!(
            "{}: interface {:?} asks for {} SpiderSubnet {:?}, which does not exist",
            config.source, target.interface, target.family, target.subnet
        )));
    };
    let subnet_version = subnet_object.resource_version();
    let subnet = subnet_object.into_core();
    let key = AutoPoolKey {
        app,
        interface: &target.interface,
        family: target.family,
        subnet: &target.subnet,
    };
    let fresh_name = auto_pool_name(&app.name, target.family, &target.interface, &app.uid)
        .map_err(|e| SyncError::Refused(e.to_string()))?;
    let existing = find_pool(&key, &fresh_name, core_pools)?;
    if let Some(p) = existing.filter(|p| p.metadata.is_terminating()) {
        return Err(SyncError::Waits(
            reason::POOL_TERMINATING,
            format!(
                "auto-pool {} of {} is being deleted (it waits for pods to release its addresses); \
             it is created again once it is gone",
                p.metadata.name_str(),
                app.describe()
            ),
        ));
    }
    let pool_name = existing.map_or(fresh_name, |p| p.metadata.name_str().to_owned());
    // The cache found it; its addresses, records and version are read fresh
    // (a shrink must see every address a pod holds).
    let pool = match existing {
        None => None,
        Some(_) => Api::<IPPoolObject>::all(ctx.shared.client.clone())
            .get_opt(&pool_name)
            .await
            .map_err(ReconcileError::kube(format!("get SpiderIPPool {pool_name}")))?
            .map(|o| (o.resource_version(), o.into_core()))
            .map(|(version, p)| (p, version)),
    };
    let others: Vec<&SpiderIPPool> = core_pools.iter().collect();
    let reserved = reserved_set(reserved, target.family);
    let plan = plan_carve(&CarveFacts {
        key: &key,
        pool_name: &pool_name,
        subnet: &subnet,
        pool: pool.as_ref().map(|(p, _)| p),
        others: &others,
        reserved: &reserved,
        desired: size,
    })
    .map_err(|e| match e {
        AutoPoolError::FreeIpsNotEnough { .. } => SyncError::Waits(
            reason::SHRINK_WAITS,
            format!("{e}; the pool keeps its size until pods release enough addresses"),
        ),
        e => SyncError::Refused(format!("{}: {e}", config.source)),
    })?;
    Ok(Planned { target, subnet, subnet_version, pool, pool_name, plan })
}

/// The application's pool for `key`: the one its labels find (a kept pool
/// of an earlier application of the same name included), else a pool named
/// `name`, which must then be this application's (UID label) — any other
/// pool of that name is refused, naming it.
fn find_pool<'p>(
    key: &AutoPoolKey<'_>,
    name: &str,
    pools: &'p [SpiderIPPool],
) -> Result<Option<&'p SpiderIPPool>, SyncError> {
    let selector = auto_pool_selector_labels(key);
    let labelled: Vec<SpiderIPPool> = pools
        .iter()
        .filter(|p| selector.iter().all(|(k, v)| p.metadata.label(k) == Some(v.as_str())))
        .cloned()
        .collect();
    if let Some(found) = pick_existing_pool(&labelled, &key.app.uid) {
        let found = found.metadata.name_str();
        return Ok(pools.iter().find(|p| p.metadata.name_str() == found));
    }
    let Some(named) = pools.iter().find(|p| p.metadata.name_str() == name) else {
        return Ok(None);
    };
    if named.metadata.label(LABEL_OWNER_APPLICATION_UID) == Some(key.app.uid.as_str())
        && selector.iter().all(|(k, v)| named.metadata.label(k) == Some(v.as_str()))
    {
        return Ok(Some(named));
    }
    Err(SyncError::Refused(format!(
        "SpiderIPPool {name} exists but is not the {} auto-pool of {} for interface {:?} from \
         SpiderSubnet {} (labels {}={:?}, {}={:?}, {}={:?}); delete it, or change the annotation \
         back",
        key.family,
        key.app.describe(),
        key.interface,
        key.subnet,
        spiderpool_core::admission::common::LABEL_OWNER_SPIDER_SUBNET,
        named.metadata.label(spiderpool_core::admission::common::LABEL_OWNER_SPIDER_SUBNET),
        LABEL_OWNER_APPLICATION_KIND,
        named.metadata.label(LABEL_OWNER_APPLICATION_KIND),
        LABEL_OWNER_APPLICATION_NAMESPACE,
        named.metadata.label(LABEL_OWNER_APPLICATION_NAMESPACE),
    )))
}

/// Writes one target's plan in its order; a description of the change.
async fn write(
    ctx: &AppCtx,
    app: &AppRef,
    config: &AutoPoolConfig,
    p: &Planned,
) -> Result<Option<String>, ReconcileError> {
    let relabel = p.pool.as_ref().is_some_and(|(pool, _)| needs_relabel(pool, app, config));
    if !p.plan.ledger_changes && !p.plan.pool_changes && !relabel {
        return Ok(None);
    }
    if p.plan.order == WriteOrder::LedgerFirst {
        write_ledger(ctx, p).await?;
        write_pool(ctx, app, config, p).await?;
    } else {
        write_pool(ctx, app, config, p).await?;
        write_ledger(ctx, p).await?;
    }
    let r = &p.plan.resize;
    Ok(Some(match &p.pool {
        None => format!(
            "created SpiderIPPool {} with {} IPs ({}) from SpiderSubnet {} for interface {:?}",
            p.pool_name,
            r.ips.len(),
            r.ips.to_strings().join(","),
            p.target.subnet,
            p.target.interface
        ),
        Some(_) => format!(
            "SpiderIPPool {} now holds {} IPs (+{} -{}) from SpiderSubnet {}",
            p.pool_name,
            r.ips.len(),
            r.added.len(),
            r.removed.len(),
            p.target.subnet
        ),
    }))
}

/// The pool's UID or reclaim label, or its size annotation, differ from
/// the application's.
fn needs_relabel(pool: &SpiderIPPool, app: &AppRef, config: &AutoPoolConfig) -> bool {
    let number = config.ip_number.to_string();
    pool.metadata.label(LABEL_OWNER_APPLICATION_UID) != Some(app.uid.as_str())
        || pool.metadata.label(LABEL_IPPOOL_RECLAIM) != Some(bool_str(config.reclaim))
        || pool.metadata.annotation(ANNO_IPPOOL_IP_NUMBER) != Some(number.as_str())
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The subnet's ledger and count, compare-and-swap on the version read.
async fn write_ledger(ctx: &AppCtx, p: &Planned) -> Result<(), ReconcileError> {
    if !p.plan.ledger_changes {
        return Ok(());
    }
    let name = p.subnet.metadata.name_str();
    let patch = json!({
        "metadata": {"resourceVersion": p.subnet_version},
        "status": {
            "controlledIPPools": render_controlled_ip_pools(&p.plan.controlled),
            "allocatedIPCount": p.plan.allocated_count,
        },
    });
    Api::<SubnetObject>::all(ctx.shared.client.clone())
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(ReconcileError::kube(format!("patch SpiderSubnet {name} controlledIPPools")))?;
    Ok(())
}

/// Creates the pool, or writes its `spec.ips` and labels with its version.
async fn write_pool(
    ctx: &AppCtx,
    app: &AppRef,
    config: &AutoPoolConfig,
    p: &Planned,
) -> Result<(), ReconcileError> {
    let api: Api<IPPoolObject> = Api::all(ctx.shared.client.clone());
    let ips = &p.plan.resize.ips;
    let Some((pool, version)) = &p.pool else {
        let key = AutoPoolKey {
            app,
            interface: &p.target.interface,
            family: p.target.family,
            subnet: &p.target.subnet,
        };
        let mut pool = new_auto_pool(&key, &p.subnet, config.ip_number, config.reclaim, ips)
            .map_err(|e| ReconcileError::Convert {
                what: format!("auto-pool {}", p.pool_name),
                message: e.to_string(),
            })?;
        let labels = pool.metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.extend(ctx.options.pool_labels.clone());
        let object = IPPoolObject::from_core(pool).map_err(|e| ReconcileError::Convert {
            what: format!("auto-pool {}", p.pool_name),
            message: e.to_string(),
        })?;
        api.create(&PostParams::default(), &object)
            .await
            .map_err(ReconcileError::kube(format!("create SpiderIPPool {}", p.pool_name)))?;
        tracing::info!(pool = p.pool_name, app = app.describe(), "auto-pool created");
        return Ok(());
    };
    let mut patch = json!({
        "metadata": {
            "resourceVersion": version,
            "labels": {
                LABEL_OWNER_APPLICATION_UID: app.uid,
                LABEL_IPPOOL_RECLAIM: bool_str(config.reclaim),
            },
            "annotations": auto_pool_annotations(config.ip_number),
        },
    });
    if p.plan.pool_changes {
        patch["spec"] = json!({"ips": ips.to_strings()});
    }
    let name = pool.metadata.name_str();
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(ReconcileError::kube(format!("patch SpiderIPPool {name} spec.ips")))?;
    Ok(())
}
