//! `/v1/ipam/*`: health, allocation (CNI ADD), release (CNI DEL) and batch
//! release.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use spiderpool_core::agent_api::{
    IpConfig, IpamAddArgs, IpamAddResponse, IpamBatchDelArgs, IpamDelArgs, Route,
};
use spiderpool_core::allocator::{
    AllocateError, AllocateRequest, Allocation, ReleaseDecision, ReleaseTrigger, release_decision,
};
use spiderpool_core::ip::IpFamily;
use spiderpool_core::pod::PodContext;
use spiderpool_core::selection::{RuledOutReason, SelectionError};
use spiderpool_core::store::StoreError;

use super::api::{ApiError, Ident, check_identifiers, parse_body, require_non_empty};
use super::metered::as_release;
use super::{Agent, AgentBackend, AgentConfig, autopool};

/// `GET /v1/ipam/healthy` (and the TCP runtime probes): 200 when the store
/// answers and can write, 500 naming why not otherwise.
pub(super) async fn healthy<S: AgentBackend>(
    State(agent): State<Arc<Agent<S>>>,
) -> Result<Json<Value>, ApiError> {
    match agent.health().await {
        Ok(()) => Ok(ok()),
        Err(why) => Err(ApiError::internal(format!("store is not ready: {why}"))),
    }
}

/// `POST /v1/ipam/ips`: a stub in Spiderpool (always 200); kept for clients.
pub(super) async fn batch_post() -> Json<Value> {
    ok()
}

/// The body of a 200 without a model: `{}` (Spiderpool sends none; JSON
/// clients that always decode the answer get an empty object).
fn ok() -> Json<Value> {
    Json(Value::Object(serde_json::Map::new()))
}

pub(super) fn store_error(context: &str, e: &StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(format!("{context}: {e}")),
        _ => ApiError::internal(format!("{context}: {e}")),
    }
}

/// `e`'s message without the pod its own message names (`pod ns/name: …`,
/// `release of pod ns/name: …`), for answers that name the pod already.
fn without_pod(e: &AllocateError) -> String {
    match e {
        AllocateError::Pod { message, .. } => message.clone(),
        AllocateError::Release { errors, .. } => errors.join("; "),
        _ => e.to_string(),
    }
}

/// A failed release: 500, naming the pod once.
fn release_error(pod: &str, e: &AllocateError) -> ApiError {
    ApiError::internal(format!("release for pod {pod}: {}", without_pod(e)))
}

/// Maps an allocation failure: 400 for an incomplete request, 404 when every
/// pool named for a family does not exist or its globs match no pool, 500
/// (Spiderpool's answer) for the rest, the message naming every pool tried and
/// why.
fn allocate_error(pod: &str, e: &AllocateError) -> ApiError {
    let message = format!("allocate for pod {pod}: {}", without_pod(e));
    match e {
        AllocateError::Request(_) => ApiError::bad_request(message),
        AllocateError::Selection(SelectionError::NoAvailablePool { ruled_out, .. })
            if !ruled_out.is_empty()
                && ruled_out.iter().all(|r| r.reason == RuledOutReason::NotFound) =>
        {
            ApiError::not_found(message)
        }
        AllocateError::Selection(SelectionError::NoPoolMatches { .. }) => {
            ApiError::not_found(message)
        }
        _ => ApiError::internal(message),
    }
}

fn response(alloc: &Allocation, config: &AgentConfig) -> IpamAddResponse {
    IpamAddResponse {
        ips: alloc
            .ips
            .iter()
            .map(|ip| IpConfig {
                version: match ip.family() {
                    IpFamily::V4 => 4,
                    IpFamily::V6 => 6,
                },
                address: ip.address.to_string(),
                nic: ip.nic.clone(),
                ip_pool: Some(ip.pool.clone()),
                gateway: ip.gateway.map(|g| g.to_string()),
                vlan: Some(ip.vlan),
                mac: None,
                enable_gateway_detection: config.enable_gateway_detection,
                enable_ip_conflict_detection: config.enable_ip_conflict_detection,
            })
            .collect(),
        routes: alloc
            .routes
            .iter()
            .map(|r| Route { if_name: r.nic.clone(), dst: r.dst.to_string(), gw: r.gw.to_string() })
            .collect(),
    }
}

/// Runs a request's work as its own task, so that it finishes even when the
/// client gives up (the IPAM plugin's DEL waits 1.5 s): a handler dropped half
/// way could free a pool record but keep the endpoint, or the reverse.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("request task failed: {e}"))))
}

/// `POST /v1/ipam/ip`: allocates for one CNI ADD and answers with the
/// addresses and routes of every NIC of the pod.
pub(super) async fn add<S: AgentBackend>(
    State(agent): State<Arc<Agent<S>>>,
    body: Bytes,
) -> Result<Json<IpamAddResponse>, ApiError> {
    detached(add_work(agent, body)).await
}

/// The body of `POST /v1/ipam/ip`, decoded and checked: every identifier
/// present and well-formed.
fn add_args(body: &Bytes) -> Result<IpamAddArgs, ApiError> {
    let args: IpamAddArgs = parse_body(body, "IpamAddArgs")?;
    require_non_empty(
        "IpamAddArgs",
        &[
            ("containerID", &args.container_id),
            ("ifName", &args.if_name),
            ("podNamespace", &args.pod_namespace),
            ("podName", &args.pod_name),
            ("podUID", &args.pod_uid),
        ],
    )?;
    check_identifiers(
        "IpamAddArgs",
        &[
            ("containerID", Ident::ContainerId, &args.container_id),
            ("ifName", Ident::IfName, &args.if_name),
            ("podNamespace", Ident::PodNamespace, &args.pod_namespace),
            ("podName", Ident::PodName, &args.pod_name),
            ("podUID", Ident::PodUid, &args.pod_uid),
        ],
    )?;
    Ok(args)
}

async fn add_work<S: AgentBackend>(
    agent: Arc<Agent<S>>,
    body: Bytes,
) -> Result<Json<IpamAddResponse>, ApiError> {
    let started = Instant::now();
    let args = add_args(&body)?;
    let pod_ref = format!("{}/{}", args.pod_namespace, args.pod_name);
    let ctx = agent
        .gather(&args.pod_namespace, &args.pod_name, &args.pod_uid)
        .await
        .map_err(|e| store_error(&format!("pod {pod_ref}"), &e))?;
    if let Some(reason) = &ctx.not_alive {
        return Err(ApiError::internal(format!(
            "allocate for pod {pod_ref}: the pod is not alive: {reason}"
        )));
    }
    let mut settings = agent.config().ipam_settings();
    settings.default_ipv4_ippool = args.default_ipv4_ippool.clone();
    settings.default_ipv6_ippool = args.default_ipv6_ippool.clone();
    settings.clean_gateway = args.clean_gateway;
    settings.auto_pools = match autopool::resolve(&agent, &ctx.pod, &settings, &args.if_name).await
    {
        Ok(resolved) => resolved,
        Err(e) => {
            let err = ApiError::internal(format!("allocate for pod {pod_ref}: {e}"));
            agent.metrics().allocation(
                started.elapsed(),
                Err(&AllocateError::Pod { pod: pod_ref.clone(), message: e.to_string() }),
            );
            tracing::warn!(pod = %pod_ref, nic = %args.if_name, error = %e, "auto-pools not resolved");
            return Err(err);
        }
    };
    let req = AllocateRequest {
        pod: ctx.pod,
        namespace: ctx.namespace,
        node: ctx.node,
        container_id: args.container_id.clone(),
        nic: args.if_name.clone(),
        settings,
        network: args.network.clone().filter(|n| !n.is_empty()),
    };
    let result = agent.serialized(|| agent.allocator().allocate(&req)).await;
    agent.metrics().allocation(started.elapsed(), result.as_ref().map(|_| ()));
    match result {
        Ok(alloc) => {
            let answer = response(&alloc, agent.config());
            tracing::info!(
                pod = %pod_ref,
                container_id = %args.container_id,
                nic = %args.if_name,
                ips = ?answer.ips.iter().map(|i| i.address.as_str()).collect::<Vec<_>>(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "allocated"
            );
            Ok(Json(answer))
        }
        Err(e) => {
            let err = allocate_error(&pod_ref, &e);
            tracing::warn!(pod = %pod_ref, nic = %args.if_name, status = err.status.as_u16(), error = %e, "allocation failed");
            Err(err)
        }
    }
}

/// `DELETE /v1/ipam/ip`: releases what the pod holds (every NIC, as Spiderpool
/// does). Idempotent. StatefulSet members keep their addresses.
pub(super) async fn del<S: AgentBackend>(
    State(agent): State<Arc<Agent<S>>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    detached(del_work(agent, body)).await
}

async fn del_work<S: AgentBackend>(
    agent: Arc<Agent<S>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let args: IpamDelArgs = parse_body(&body, "IpamDelArgs")?;
    check_del_args(&args)?;
    release(
        &agent,
        &args.pod_namespace,
        &args.pod_name,
        &args.pod_uid,
        &args.container_id,
        args.network.as_deref(),
        ReleaseTrigger::CniDel,
    )
    .await
}

/// The checks of an `IpamDelArgs` (a DEL, or a line of the release
/// journal): pod namespace and name required, every identifier valid.
pub(super) fn check_del_args(args: &IpamDelArgs) -> Result<(), ApiError> {
    require_non_empty(
        "IpamDelArgs",
        &[("podNamespace", &args.pod_namespace), ("podName", &args.pod_name)],
    )?;
    check_identifiers(
        "IpamDelArgs",
        &[
            ("containerID", Ident::ContainerId, &args.container_id),
            ("ifName", Ident::IfName, &args.if_name),
            ("podNamespace", Ident::PodNamespace, &args.pod_namespace),
            ("podName", Ident::PodName, &args.pod_name),
            ("podUID", Ident::PodUid, &args.pod_uid),
        ],
    )
}

/// Releases what `trigger` frees of pod `namespace/name` (`uid`: the
/// caller's, empty when unknown): gathers its facts, then
/// [`release_gathered`].
pub(super) async fn release<S: AgentBackend>(
    agent: &Agent<S>,
    namespace: &str,
    name: &str,
    uid: &str,
    container_id: &str,
    network: Option<&str>,
    trigger: ReleaseTrigger,
) -> Result<Json<Value>, ApiError> {
    let pod_ref = format!("{namespace}/{name}");
    let ctx = agent
        .gather_for_release(namespace, name, uid)
        .await
        .map_err(|e| store_error(&format!("pod {pod_ref}"), &e))?;
    release_gathered(agent, &ctx, container_id, network, trigger).await
}

/// Carries out the core's [`release_decision`] for the pod of `ctx`: keeps
/// (200), refuses (522), or has the allocator release the records it names.
pub(super) async fn release_gathered<S: AgentBackend>(
    agent: &Agent<S>,
    ctx: &PodContext,
    container_id: &str,
    network: Option<&str>,
    trigger: ReleaseTrigger,
) -> Result<Json<Value>, ApiError> {
    let pod_ref = format!("{}/{}", ctx.pod.namespace, ctx.pod.name);
    let req = match release_decision(ctx, trigger, container_id, network) {
        ReleaseDecision::Release(req) => *req,
        ReleaseDecision::Keep(why) => {
            tracing::info!(pod = %pod_ref, container_id = %container_id, "release skipped: {why}");
            return Ok(ok());
        }
        ReleaseDecision::Refuse(why) => {
            return Err(ApiError::message(status(522), format!("pod {pod_ref}: {why}")));
        }
    };
    let started = Instant::now();
    let result = as_release(agent.serialized(|| agent.allocator().release(&req))).await;
    agent.metrics().release(started.elapsed(), result.as_ref().map(|_| ()));
    match result {
        Ok(outcome) => {
            tracing::info!(
                pod = %pod_ref,
                container_id = %container_id,
                network = network.unwrap_or(""),
                ?trigger,
                released = ?outcome.released.iter().map(|(p, ip)| format!("{p}:{ip}")).collect::<Vec<_>>(),
                kept = outcome.kept.as_deref().unwrap_or(""),
                "released"
            );
            Ok(ok())
        }
        Err(e) => {
            tracing::warn!(pod = %pod_ref, error = %e, "release failed");
            Err(release_error(&pod_ref, &e))
        }
    }
}

/// `DELETE /v1/ipam/ips`: releases every address of the pod (used after an IP
/// conflict). With `isReleaseConflictIPs`: 521 when releasing conflict IPs is
/// disabled, 522 for StatefulSet pods (reference §4.7).
pub(super) async fn batch_del<S: AgentBackend>(
    State(agent): State<Arc<Agent<S>>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    detached(batch_del_work(agent, body)).await
}

async fn batch_del_work<S: AgentBackend>(
    agent: Arc<Agent<S>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let args: IpamBatchDelArgs = parse_body(&body, "IpamBatchDelArgs")?;
    require_non_empty(
        "IpamBatchDelArgs",
        &[("podNamespace", &args.pod_namespace), ("podName", &args.pod_name)],
    )?;
    check_identifiers(
        "IpamBatchDelArgs",
        &[
            ("containerID", Ident::ContainerId, &args.container_id),
            ("podNamespace", Ident::PodNamespace, &args.pod_namespace),
            ("podName", Ident::PodName, &args.pod_name),
            ("podUID", Ident::PodUid, &args.pod_uid),
        ],
    )?;
    let pod_ref = format!("{}/{}", args.pod_namespace, args.pod_name);
    if args.is_release_conflict_ips && !agent.config().enable_release_conflict_ips {
        return Err(ApiError::message(
            status(521),
            format!(
                "pod {pod_ref}: releasing conflicting IPs is disabled (SPIDERPOOL_ENABLED_RELEASE_CONFLICT_IPS=false)"
            ),
        ));
    }
    let trigger = ReleaseTrigger::Batch { conflict_ips: args.is_release_conflict_ips };
    release(
        &agent,
        &args.pod_namespace,
        &args.pod_name,
        &args.pod_uid,
        &args.container_id,
        None,
        trigger,
    )
    .await
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_and_release_errors_name_the_pod_once() {
        let e = AllocateError::Pod {
            pod: "default/x".into(),
            message: "ipam.spidernet.io/routes: item 0: gw \"bad\" is not an IP address".into(),
        };
        assert_eq!(
            allocate_error("default/x", &e).body,
            "allocate for pod default/x: ipam.spidernet.io/routes: item 0: gw \"bad\" is not an IP address"
        );
        let e = AllocateError::Release {
            pod: "default/x".into(),
            errors: vec!["pool a: store backend: disk full".into(), "pool b: gone".into()],
        };
        assert_eq!(
            release_error("default/x", &e).body,
            "release for pod default/x: pool a: store backend: disk full; pool b: gone"
        );
        let e = AllocateError::Request("podUID is empty".into());
        assert_eq!(
            allocate_error("default/x", &e).body,
            "allocate for pod default/x: invalid request: podUID is empty"
        );
    }
}
