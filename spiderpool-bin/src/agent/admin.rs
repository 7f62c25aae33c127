//! Administrative routes for the embedded store, under `/v1/admin/objects`:
//!
//! - `PUT /v1/admin/objects` — apply one object, a JSON array of objects, or a
//!   `List` with `items`, in order; every Spiderpool kind goes through
//!   `admission::mutate` and `admission::validate` first (rejections: 422, 403
//!   or 409 with the `Rejection` JSON). Applying a SpiderMultusConfig also
//!   stores the NetworkAttachmentDefinition it renders, as the controller does.
//! - `GET /v1/admin/objects/{kind}` — a `List` of every object of the kind.
//!   `?namespace=NS` keeps the objects of one namespace.
//! - `GET|DELETE /v1/admin/objects/{kind}/{namespace}/{name}` — one object;
//!   `_` stands for the namespace of cluster-scoped kinds. The short form
//!   `/v1/admin/objects/{kind}/{name}` means namespace `default` for
//!   namespaced kinds.
//!
//! `{kind}` is a kind (`SpiderIPPool`), its plural, singular or short name
//! (`spiderippools`, `sp`), case-insensitive: any kind of
//! [`spiderpool_core::kind::KINDS`]. The answers are
//! [`spiderpool_core::agent_api`]'s `Applied`, `ObjectList` and
//! `ObjectOutcome`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use serde_json::Value;
use spiderpool_core::admission::names::check_names;
use spiderpool_core::admission::{self, Context, Existing, Operation, Rejection};
use spiderpool_core::agent_api::{
    ADMIN_OBJECTS, Action, Applied, ErrorBody, NO_NAMESPACE, ObjectList, ObjectOutcome,
};
use spiderpool_core::allocator::ReleaseTrigger;
use spiderpool_core::kind::{self, KindInfo};
use spiderpool_core::model::{
    KINDS, Resource, SpiderCoordinator, SpiderEndpoint, SpiderIPPool, SpiderMultusConfig,
    SpiderReservedIP, SpiderSubnet,
};
use spiderpool_core::multus::{self, NAD_KIND, NetworkAttachmentDefinition};
use spiderpool_core::store::deletion::{self, Deletion};
use spiderpool_core::store::{AdminError, ObjectKey, StoreError};

use super::api::ApiError;
use super::ipam::{release_gathered, store_error};
use super::timestamp::rfc3339;
use super::{Agent, AgentStore};

fn unknown_kind(field: &str, name: &str) -> ApiError {
    let list = kind::KINDS.iter().map(|k| k.kind).collect::<Vec<_>>().join(", ");
    ApiError::bad_request(format!("{field}: unsupported kind {name:?} (supported: {list})"))
}

fn rejection(r: &Rejection) -> ApiError {
    ApiError {
        status: StatusCode::from_u16(r.reason.code()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        body: ErrorBody::from(r.clone()),
    }
}

/// The administrative routes.
pub fn routes<S: AgentStore>() -> Router<Arc<Agent<S>>> {
    Router::new()
        .route(ADMIN_OBJECTS, put(apply::<S>))
        .route(&format!("{ADMIN_OBJECTS}/{{kind}}"), get(list::<S>))
        .route(
            &format!("{ADMIN_OBJECTS}/{{kind}}/{{name}}"),
            get(get_short::<S>).delete(remove_short::<S>),
        )
        .route(
            &format!("{ADMIN_OBJECTS}/{{kind}}/{{namespace}}/{{name}}"),
            get(get_one::<S>).delete(remove::<S>),
        )
}

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("store: {e}"))
}

/// Every Spiderpool object admission consults.
async fn existing<S: AgentStore>(store: &S) -> Result<Existing, ApiError> {
    let mut out = Existing::default();
    for pool in store.list_pools().await.map_err(storage)? {
        if let Some(full) = store.get_pool(pool.metadata.name_str()).await.map_err(storage)? {
            out.ippools.push(full.value);
        }
    }
    out.reserved_ips =
        store.list_reserved_ips().await.map_err(storage)?.iter().map(|r| (**r).clone()).collect();
    for kind in [SpiderSubnet::KIND, SpiderMultusConfig::KIND, SpiderCoordinator::KIND] {
        for (_, v) in store.list_objects(kind).await.map_err(storage)? {
            if let Ok(r) = Resource::from_value(v.value) {
                out.push(r);
            }
        }
    }
    for (_, v) in store.list_objects(NAD_KIND).await.map_err(storage)? {
        if let Ok(nad) = serde_json::from_value::<NetworkAttachmentDefinition>(v.value) {
            out.nads.push(nad);
        }
    }
    Ok(out)
}

/// The stored object of a Spiderpool kind, as a [`Resource`].
async fn current<S: AgentStore>(
    store: &S,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Resource>, ApiError> {
    Ok(match kind {
        SpiderIPPool::KIND => {
            store.get_pool(name).await.map_err(storage)?.map(|v| Resource::IPPool(v.value))
        }
        SpiderReservedIP::KIND => store
            .list_reserved_ips()
            .await
            .map_err(storage)?
            .iter()
            .find(|r| r.metadata.name_str() == name)
            .map(|r| Resource::ReservedIP((**r).clone())),
        SpiderEndpoint::KIND => store
            .get_endpoint(namespace, name)
            .await
            .map_err(storage)?
            .map(|v| Resource::Endpoint(v.value)),
        _ => {
            match store.get_object(&ObjectKey::new(kind, namespace, name)).await.map_err(storage)? {
                Some(v) => Some(Resource::from_value(v.value).map_err(|e| {
                    ApiError::internal(format!("stored {kind} {name} does not decode: {e}"))
                })?),
                None => None,
            }
        }
    })
}

/// `PUT /v1/admin/objects`.
async fn apply<S: AgentStore>(
    State(agent): State<Arc<Agent<S>>>,
    body: Bytes,
) -> Result<Json<Applied>, ApiError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("request body: invalid JSON: {e}")))?;
    let listed = value.is_array() || value.get("kind").and_then(Value::as_str) == Some("List");
    let objects = match value {
        Value::Array(items) => items,
        Value::Object(mut obj) if obj.get("kind").and_then(Value::as_str) == Some("List") => {
            match obj.remove("items") {
                Some(Value::Array(items)) => items,
                _ => return Err(ApiError::bad_request("items: required, must be an array")),
            }
        }
        obj @ Value::Object(_) => vec![obj],
        other => {
            return Err(ApiError::bad_request(format!(
                "request body: expected an object, an array or a List, found {}",
                match other {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    _ => "a string",
                }
            )));
        }
    };
    let mut applied = Vec::with_capacity(objects.len());
    let mut failed = None;
    for (index, obj) in objects.into_iter().enumerate() {
        match apply_one(&agent, obj, listed.then_some(index)).await {
            Ok(v) => applied.push(v),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // The objects applied before a failure stay applied: make them durable
    // before answering either way.
    agent.sync().await.map_err(storage)?;
    match failed {
        Some(e) => Err(e),
        None => Ok(Json(Applied { applied })),
    }
}

fn object_names(obj: &Value) -> (String, Option<String>) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
    (name, ns)
}

/// `PUT` of one object (`index`: its place in a list, for messages): every
/// kind's name rule, then admission and the store for Spiderpool kinds, a
/// plain put for the others.
async fn apply_one<S: AgentStore>(
    agent: &Agent<S>,
    mut obj: Value,
    index: Option<usize>,
) -> Result<ObjectOutcome, ApiError> {
    let target = identify(&mut obj, index)?;
    let store = agent.store();
    if !KINDS.contains(&target.info.kind) {
        let key = ObjectKey::new(target.info.kind, &target.namespace, &target.name);
        let existed = store.get_object(&key).await.map_err(storage)?.is_some();
        store.put_object(&key, obj).await.map_err(storage)?;
        return Ok(outcome(target.info.kind, &target.namespace, &target.name, existed));
    }
    let (res, op) = admit(agent, &target, obj).await?;
    store_resource(store, &target, res).await?;
    let Target { info, namespace, name, .. } = &target;
    tracing::info!(kind = info.kind, namespace = %namespace, name = %name, ?op, "applied");
    Ok(outcome(info.kind, namespace, name, op == Operation::Update))
}

/// Which object a `PUT` item is: its kind and identity.
#[derive(Debug)]
struct Target {
    /// The kind, resolved from any of its names.
    info: &'static KindInfo,
    /// `kind` as written, for messages.
    kind_name: String,
    /// `metadata.namespace` (`default` when unset), empty for cluster-scoped
    /// kinds.
    namespace: String,
    /// `metadata.name`.
    name: String,
}

/// The identity of a `PUT` item, checked as the API server does before
/// anything else: `kind` known, `metadata.name` set, every kind's name rule
/// (ours and Kubernetes' Pod, Namespace, Node, ...). A namespaced object gets
/// its namespace written into `metadata`. SpiderEndpoints are refused: the
/// agent writes them. `index` is the item's place in a list, for messages.
fn identify(obj: &mut Value, index: Option<usize>) -> Result<Target, ApiError> {
    let field = |f: &str| match index {
        Some(i) => format!("items[{i}].{f}"),
        None => f.to_string(),
    };
    let Some(kind_name) = obj.get("kind").and_then(Value::as_str).map(str::to_string) else {
        return Err(ApiError::bad_request(format!("{}: required", field("kind"))));
    };
    let info = kind::lookup(&kind_name).ok_or_else(|| unknown_kind(&field("kind"), &kind_name))?;
    let (name, ns) = object_names(obj);
    if name.is_empty() {
        return Err(ApiError::bad_request(format!("{}: required", field("metadata.name"))));
    }
    let namespace =
        if info.namespaced { ns.unwrap_or_else(|| "default".into()) } else { String::new() };
    check_names(info.kind, &name, Some(&namespace), info.namespaced).map_err(|r| rejection(&r))?;
    if info.namespaced
        && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("namespace".into(), Value::String(namespace.clone()));
    }
    if info.kind == SpiderEndpoint::KIND {
        return Err(ApiError::message(
            StatusCode::FORBIDDEN,
            format!(
                "{}: SpiderEndpoint {namespace}/{name} is written by the agent, not applied",
                field("kind")
            ),
        ));
    }
    Ok(Target { info, kind_name, namespace, name })
}

/// A Spiderpool object through admission: decoded (a pool's `status` dropped:
/// allocation records are the agent's, a status subresource in Kubernetes),
/// the stored deletion state carried ([`carry_deletion`]), mutated and
/// validated against the stored objects. Returns it with the operation.
async fn admit<S: AgentStore>(
    agent: &Agent<S>,
    target: &Target,
    mut obj: Value,
) -> Result<(Resource, Operation), ApiError> {
    if target.info.kind == SpiderIPPool::KIND
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    let mut res = Resource::from_value(obj)
        .map_err(|e| ApiError::bad_request(format!("{} {}: {e}", target.kind_name, target.name)))?;
    let store = agent.store();
    let old = current(store, target.info.kind, &target.namespace, &target.name).await?;
    let op = if old.is_some() { Operation::Update } else { Operation::Create };
    carry_deletion(&mut res, old.as_ref());
    let existing = existing(store).await?;
    let ctx = Context { settings: &agent.config().admission, existing: &existing };
    admission::mutate(&mut res, op, &ctx).map_err(|r| rejection(&r))?;
    admission::validate(op, Some(&res), old.as_ref(), &ctx).map_err(|r| rejection(&r))?;
    Ok((res, op))
}

/// As the API server: a create starts no deletion, an update neither starts
/// nor clears one (admission then refuses to change a terminating pool or
/// subnet).
fn carry_deletion(res: &mut Resource, old: Option<&Resource>) {
    match old {
        Some(old) => deletion::keep_deletion(res.metadata_mut(), old.metadata()),
        None => {
            let meta = res.metadata_mut();
            meta.deletion_timestamp = None;
            meta.deletion_grace_period_seconds = None;
        }
    }
}

/// Writes an admitted object: pools and reserved IPs through their store
/// methods, the other kinds as JSON; a SpiderMultusConfig also stores the
/// NetworkAttachmentDefinition it renders, as the controller does.
async fn store_resource<S: AgentStore>(
    store: &S,
    target: &Target,
    res: Resource,
) -> Result<(), ApiError> {
    let Target { info, namespace, name, .. } = target;
    match res {
        Resource::IPPool(pool) => {
            store.apply_pool(pool).await.map_err(|e| match e {
                AdminError::Pool(p) => {
                    ApiError::message(StatusCode::UNPROCESSABLE_ENTITY, p.to_string())
                }
                other => storage(other),
            })?;
        }
        Resource::ReservedIP(r) => {
            store.apply_reserved_ip(r).await.map_err(storage)?;
        }
        other => {
            if let Resource::MultusConfig(smc) = &other {
                store_rendered_nad(store, smc, namespace, name).await?;
            }
            let value = other.to_value().map_err(storage)?;
            store
                .put_object(&ObjectKey::new(info.kind, namespace, name), value)
                .await
                .map_err(storage)?;
        }
    }
    Ok(())
}

/// Renders `smc` and stores the NetworkAttachmentDefinition (named as the
/// rendering says, else after the SpiderMultusConfig).
async fn store_rendered_nad<S: AgentStore>(
    store: &S,
    smc: &SpiderMultusConfig,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let nad = multus::render(smc).map_err(|e| {
        ApiError::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("SpiderMultusConfig {namespace}/{name}: {e}"),
        )
    })?;
    let nad_name = nad.metadata.name.clone().unwrap_or_else(|| name.to_owned());
    let nad_value = serde_json::to_value(&nad).map_err(storage)?;
    store
        .put_object(&ObjectKey::new(NAD_KIND, namespace, &nad_name), nad_value)
        .await
        .map_err(storage)?;
    Ok(())
}

fn outcome(kind: &str, namespace: &str, name: &str, existed: bool) -> ObjectOutcome {
    ObjectOutcome {
        action: if existed { Action::Configured } else { Action::Created },
        holding: None,
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.to_string(),
    }
}

/// `GET /v1/admin/objects/{kind}`.
async fn list<S: AgentStore>(
    State(agent): State<Arc<Agent<S>>>,
    Path(kind): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ObjectList>, ApiError> {
    let info = kind::lookup(&kind).ok_or_else(|| unknown_kind("kind", &kind))?;
    let store = agent.store();
    let items: Vec<Value> = match info.kind {
        SpiderIPPool::KIND => {
            let mut out = Vec::new();
            for pool in store.list_pools().await.map_err(storage)? {
                if let Some(full) =
                    store.get_pool(pool.metadata.name_str()).await.map_err(storage)?
                {
                    out.push(serde_json::to_value(full.value).map_err(storage)?);
                }
            }
            out
        }
        SpiderReservedIP::KIND => store
            .list_reserved_ips()
            .await
            .map_err(storage)?
            .iter()
            .filter_map(|r| serde_json::to_value(&**r).ok())
            .collect(),
        SpiderEndpoint::KIND => store
            .list_endpoints()
            .await
            .map_err(storage)?
            .into_iter()
            .filter_map(|e| serde_json::to_value(e.value).ok())
            .collect(),
        k => store
            .list_objects(k)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|(_, v)| v.value)
            .collect(),
    };
    let items: Vec<Value> = match query.get("namespace").filter(|n| !n.is_empty()) {
        Some(ns) => items
            .into_iter()
            .filter(|o| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
            .collect(),
        None => items,
    };
    Ok(Json(ObjectList::new(items)))
}

/// The namespace segment implied by the two-segment form
/// `/v1/admin/objects/{kind}/{name}`: `default` for namespaced kinds, `_` for
/// cluster-scoped ones.
fn implied_namespace(kind: &str) -> String {
    match kind::lookup(kind) {
        Some(info) if info.namespaced => "default".into(),
        _ => NO_NAMESPACE.into(),
    }
}

/// `GET /v1/admin/objects/{kind}/{name}`.
async fn get_short<S: AgentStore>(
    state: State<Arc<Agent<S>>>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let namespace = implied_namespace(&kind);
    get_one(state, Path((kind, namespace, name))).await
}

/// `DELETE /v1/admin/objects/{kind}/{name}`.
async fn remove_short<S: AgentStore>(
    state: State<Arc<Agent<S>>>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Json<ObjectOutcome>, ApiError> {
    let namespace = implied_namespace(&kind);
    remove(state, Path((kind, namespace, name))).await
}

fn scope(info: &KindInfo, namespace: &str) -> String {
    if info.namespaced && namespace != NO_NAMESPACE { namespace.to_string() } else { String::new() }
}

/// `GET /v1/admin/objects/{kind}/{namespace}/{name}`.
async fn get_one<S: AgentStore>(
    State(agent): State<Arc<Agent<S>>>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let info = kind::lookup(&kind).ok_or_else(|| unknown_kind("kind", &kind))?;
    let namespace = scope(info, &namespace);
    let store = agent.store();
    let found = if KINDS.contains(&info.kind) {
        current(store, info.kind, &namespace, &name)
            .await?
            .map(|r| r.to_value().map_err(storage))
            .transpose()?
    } else {
        store
            .get_object(&ObjectKey::new(info.kind, &namespace, &name))
            .await
            .map_err(|e| store_error(info.kind, &e))?
            .map(|v| v.value)
    };
    found.map(Json).ok_or_else(|| not_found(info, &namespace, &name))
}

fn not_found(info: &KindInfo, namespace: &str, name: &str) -> ApiError {
    if namespace.is_empty() {
        ApiError::not_found(format!("{} {name} not found", info.kind))
    } else {
        ApiError::not_found(format!("{} {namespace}/{name} not found", info.kind))
    }
}

/// `DELETE /v1/admin/objects/{kind}/{namespace}/{name}`: admission
/// validates the delete of Spiderpool kinds (e.g. a pool with allocations when
/// delete protection is on). 404 when the object does not exist.
async fn remove<S: AgentStore>(
    State(agent): State<Arc<Agent<S>>>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<ObjectOutcome>, ApiError> {
    let info = kind::lookup(&kind).ok_or_else(|| unknown_kind("kind", &kind))?;
    let namespace = scope(info, &namespace);
    let store = agent.store();
    let outcome = if KINDS.contains(&info.kind) {
        let Some(old) = current(store, info.kind, &namespace, &name).await? else {
            return Err(not_found(info, &namespace, &name));
        };
        let existing = existing(store).await?;
        let ctx = Context { settings: &agent.config().admission, existing: &existing };
        admission::validate(Operation::Delete, None, Some(&old), &ctx)
            .map_err(|r| rejection(&r))?;
        let now = rfc3339(std::time::SystemTime::now());
        match info.kind {
            SpiderIPPool::KIND => store.delete_pool(&name, &now).await.map_err(storage)?,
            SpiderSubnet::KIND => store.delete_subnet(&name, &now).await.map_err(storage)?,
            SpiderReservedIP::KIND => gone(store.delete_reserved_ip(&name).await)?,
            SpiderEndpoint::KIND => match store
                .get_endpoint(&namespace, &name)
                .await
                .map_err(storage)?
            {
                Some(ep) => {
                    store.delete_endpoint(&namespace, &name, ep.version).await.map_err(storage)?;
                    Deletion::Removed
                }
                None => Deletion::NotFound,
            },
            k => gone(store.delete_object(&ObjectKey::new(k, &namespace, &name)).await)?,
        }
    } else if info.kind == "Pod" {
        // The pod is gone: what it holds is released (as Spiderpool's GC does
        // for a deleted pod), except a valid StatefulSet member's addresses,
        // kept for the pod that replaces it (the core's release decision).
        // Its facts (owner) are read before the object goes.
        let ctx = agent.gather(&namespace, &name, "").await.map_err(storage)?;
        let existed = store
            .delete_object(&ObjectKey::new(info.kind, &namespace, &name))
            .await
            .map_err(storage)?;
        if existed {
            let _released =
                release_gathered(&agent, &ctx, "", None, ReleaseTrigger::PodDeleted).await?;
        }
        if existed { Deletion::Removed } else { Deletion::NotFound }
    } else {
        gone(store.delete_object(&ObjectKey::new(info.kind, &namespace, &name)).await)?
    };
    let (action, holding) = match outcome {
        Deletion::NotFound => return Err(not_found(info, &namespace, &name)),
        Deletion::Removed => (Action::Deleted, None),
        Deletion::Terminating { holding } => (Action::Terminating, Some(holding)),
    };
    let answer = ObjectOutcome {
        action,
        holding,
        kind: info.kind.to_string(),
        name: name.clone(),
        namespace: namespace.clone(),
    };
    agent.sync().await.map_err(storage)?;
    tracing::info!(kind = info.kind, namespace = %namespace, name = %name, ?outcome, "deleted");
    Ok(Json(answer))
}

/// A plain delete's answer as a [`Deletion`].
fn gone(result: Result<bool, StoreError>) -> Result<Deletion, ApiError> {
    match result.map_err(storage)? {
        true => Ok(Deletion::Removed),
        false => Ok(Deletion::NotFound),
    }
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
