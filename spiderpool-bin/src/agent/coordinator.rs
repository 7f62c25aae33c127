//! `GET /v1/coordinator/config` and `GET /v1/workloadendpoint`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use spiderpool_core::agent_api::{GetCoordinatorArgs, InterfaceDetail, Route, WorkloadEndpoint};
use spiderpool_core::annotation::ANNO_DEFAULT_ROUTE_NIC;
use spiderpool_core::coordinator::ClusterCoordinatorConfig;
use spiderpool_core::model::SpiderCoordinator;
use spiderpool_core::store::StoreError;

use super::api::{ApiError, Ident, check_identifiers, parse_body};
use super::ipam::store_error;
use super::{Agent, AgentBackend};

/// The name of the cluster's SpiderCoordinator.
pub const DEFAULT_COORDINATOR: &str = SpiderCoordinator::DEFAULT_NAME;

/// `GET /v1/coordinator/config` with a `GetCoordinatorArgs` body (an empty
/// body is accepted: no pod, no annotation override). 500 with a JSON string
/// when the SpiderCoordinator `default` is missing or not `Synced`.
pub(super) async fn config<S: AgentBackend>(
    State(agent): State<Arc<Agent<S>>>,
    body: Bytes,
) -> Result<Json<ClusterCoordinatorConfig>, ApiError> {
    let args: GetCoordinatorArgs = if body.iter().all(u8::is_ascii_whitespace) {
        GetCoordinatorArgs::default()
    } else {
        parse_body(&body, "GetCoordinatorArgs")?
    };
    let scc: SpiderCoordinator = agent
        .store()
        .coordinator(DEFAULT_COORDINATOR)
        .await
        .map_err(|e| match e {
            // Names the object already.
            StoreError::Invalid { .. } => ApiError::internal(e.to_string()),
            e => ApiError::internal(format!("SpiderCoordinator {DEFAULT_COORDINATOR}: {e}")),
        })?
        .ok_or_else(|| {
            ApiError::internal(format!(
                "SpiderCoordinator {DEFAULT_COORDINATOR} not found: apply one before adding pods with the coordinator"
            ))
        })?;
    check_identifiers(
        "GetCoordinatorArgs",
        &[
            ("podNamespace", Ident::PodNamespace, &args.pod_namespace),
            ("podName", Ident::PodName, &args.pod_name),
        ],
    )?;
    let answer = ClusterCoordinatorConfig::from_spider_coordinator(&scc)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if args.pod_name.is_empty() || args.pod_namespace.is_empty() {
        return Ok(Json(answer));
    }
    let pod_ref = format!("{}/{}", args.pod_namespace, args.pod_name);
    let ctx = agent
        .gather(&args.pod_namespace, &args.pod_name, "")
        .await
        .map_err(|e| store_error(&format!("pod {pod_ref}"), &e))?;
    let answer = answer
        .for_pod(ctx.pod.annotation(ANNO_DEFAULT_ROUTE_NIC))
        .map_err(|e| ApiError::internal(format!("pod {pod_ref}: {e}")))?;
    Ok(Json(answer))
}

/// `GET /v1/workloadendpoint?podNamespace=&podName=`: the pod's
/// SpiderEndpoint as Spiderpool's `WorkloadEndpointStatus`. 400 when a query
/// parameter is missing, 404 when the pod has no SpiderEndpoint.
pub(super) async fn workload_endpoint<S: AgentBackend>(
    State(agent): State<Arc<Agent<S>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<WorkloadEndpoint>, ApiError> {
    let get = |name: &str| {
        query.get(name).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
            ApiError::bad_request(format!("query parameter {name}: required, must not be empty"))
        })
    };
    let namespace = get("podNamespace")?;
    let name = get("podName")?;
    check_identifiers(
        "query",
        &[("podNamespace", Ident::PodNamespace, &namespace), ("podName", Ident::PodName, &name)],
    )?;
    let lookup = |endpoint: String| {
        let agent = &agent;
        let namespace = &namespace;
        async move {
            agent
                .store()
                .get_endpoint(namespace, &endpoint)
                .await
                .map_err(|e| store_error(&format!("SpiderEndpoint {namespace}/{endpoint}"), &e))
        }
    };
    let mut found = lookup(name.clone()).await?;
    if found.is_none() {
        // A KubeVirt launcher pod's addresses are recorded under its VMI.
        let ctx = agent
            .gather(&namespace, &name, "")
            .await
            .map_err(|e| store_error(&format!("pod {namespace}/{name}"), &e))?;
        if ctx.pod.endpoint_name() != name {
            found = lookup(ctx.pod.endpoint_name().to_string()).await?;
        }
    }
    let ep = found
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "SpiderEndpoint {namespace}/{name} not found: pod {namespace}/{name} holds no address"
            ))
        })?
        .value;
    let current = ep.status.current;
    Ok(Json(WorkloadEndpoint {
        pod_namespace: namespace,
        pod_name: name,
        pod_uid: current.uid,
        node: current.node,
        interfaces: current
            .ips
            .into_iter()
            .map(|d| InterfaceDetail {
                routes: d
                    .routes
                    .iter()
                    .map(|r| Route {
                        if_name: d.interface.clone(),
                        dst: r.dst.clone(),
                        gw: r.gw.clone(),
                    })
                    .collect(),
                interface: d.interface,
                ipv4: d.ipv4,
                ipv6: d.ipv6,
                ipv4_pool: d.ipv4_pool,
                ipv6_pool: d.ipv6_pool,
                ipv4_gateway: d.ipv4_gateway,
                ipv6_gateway: d.ipv6_gateway,
                mac: d.mac.filter(|m| !m.is_empty()),
                vlan: d.vlan.filter(|v| *v != 0),
            })
            .collect(),
    }))
}
