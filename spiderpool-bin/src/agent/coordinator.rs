//! `GET /v1/coordinator/config` and `GET /v1/workloadendpoint`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use spiderpool_core::agent_api::{GetCoordinatorArgs, InterfaceDetail, Route, WorkloadEndpoint};
use spiderpool_core::annotation::{ANNO_DEFAULT_ROUTE_NIC, parse_default_route_nic};
use spiderpool_core::coordinator::{ClusterCoordinatorConfig, PolicyRouteWire};
use spiderpool_core::ip::normalize_ip_or_cidr;
use spiderpool_core::model::{CoordinatorMode, SpiderCoordinator};
use spiderpool_core::store::ObjectKey;

use super::api::{ApiError, Ident, check_identifiers, parse_body};
use super::facts::gather_pod;
use super::ipam::store_error;
use super::{Agent, AgentStore};

/// The name of the cluster's SpiderCoordinator.
pub const DEFAULT_COORDINATOR: &str = "default";

/// Builds the `CoordinatorConfig` answer from the SpiderCoordinator. A
/// coordinator with a `status.phase` other than `Synced` is not ready; one
/// without status (applied on one machine, where no controller detects CIDRs)
/// counts as `Synced` with empty `overlayPodCIDR` and `serviceCIDR`. A status
/// CIDR that does not parse is an error naming the field
/// (`status.overlayPodCIDR[1]`).
pub fn coordinator_config(scc: &SpiderCoordinator) -> Result<ClusterCoordinatorConfig, String> {
    let name = scc.metadata.name_str();
    let (overlay, service) = match &scc.status {
        Some(status) if !status.phase.is_empty() => {
            if !status.is_synced() {
                return Err(format!(
                    "SpiderCoordinator {name} is not ready: status.phase {:?}{}",
                    status.phase,
                    if status.reason.is_empty() {
                        String::new()
                    } else {
                        format!(", reason: {}", status.reason)
                    }
                ));
            }
            (status.overlay_pod_cidr.clone(), status.service_cidr.clone())
        }
        _ => (Vec::new(), Vec::new()),
    };
    // No admission sees `status` (the controller writes it, or the user on
    // one machine): check it here, with the rule the plugin parses it by,
    // rather than hand the plugin something it cannot use.
    for (field, list) in [("status.overlayPodCIDR", &overlay), ("status.serviceCIDR", &service)] {
        for (i, text) in list.iter().enumerate() {
            normalize_ip_or_cidr(text).map_err(|e| {
                format!("SpiderCoordinator {name}: {field}[{i}]: invalid value {text:?}: {e}")
            })?;
        }
    }
    let spec = &scc.spec;
    let mode = match spec.parsed_mode() {
        Ok(Some(m)) => m.as_cni_str().to_string(),
        Ok(None) => CoordinatorMode::Auto.as_cni_str().to_string(),
        Err(e) => return Err(format!("SpiderCoordinator {name}: {e}")),
    };
    Ok(ClusterCoordinatorConfig {
        overlay_pod_cidr: overlay,
        service_cidr: service,
        mode,
        tune_pod_routes: Some(spec.tune_pod_routes.unwrap_or(true)),
        hijack_cidr: spec.hijack_cidr.clone(),
        policy_routes: spec
            .policy_routes
            .iter()
            .map(|r| PolicyRouteWire { dst: r.dst.clone(), gw: r.gw.clone() })
            .collect(),
        pod_mac_prefix: spec.pod_mac_prefix.clone().unwrap_or_default(),
        pod_default_route_nic: spec.pod_default_route_nic.clone().unwrap_or_default(),
        host_rule_table: Some(spec.host_rule_table.unwrap_or(500)),
        pod_rp_filter: Some(spec.pod_rp_filter.unwrap_or(0)),
        tx_queue_len: Some(spec.tx_queue_len.unwrap_or(0)),
        veth_link_address: spec.veth_link_address.clone().unwrap_or_default(),
        veth_mtu: Some(spec.veth_mtu.unwrap_or(1500)),
    })
}

/// `GET /v1/coordinator/config` with a `GetCoordinatorArgs` body (an empty
/// body is accepted: no pod, no annotation override). 500 with a JSON string
/// when the SpiderCoordinator `default` is missing or not `Synced`.
pub(super) async fn config<S: AgentStore>(
    State(agent): State<Arc<Agent<S>>>,
    body: Bytes,
) -> Result<Json<ClusterCoordinatorConfig>, ApiError> {
    let args: GetCoordinatorArgs = if body.iter().all(u8::is_ascii_whitespace) {
        GetCoordinatorArgs::default()
    } else {
        parse_body(&body, "GetCoordinatorArgs")?
    };
    let key = ObjectKey::new(SpiderCoordinator::KIND, "", DEFAULT_COORDINATOR);
    let stored = agent
        .store()
        .get_object(&key)
        .await
        .map_err(|e| ApiError::internal(format!("SpiderCoordinator {DEFAULT_COORDINATOR}: {e}")))?
        .ok_or_else(|| {
            ApiError::internal(format!(
                "SpiderCoordinator {DEFAULT_COORDINATOR} not found: apply one before adding pods with the coordinator"
            ))
        })?;
    let scc: SpiderCoordinator = serde_json::from_value(stored.value).map_err(|e| {
        ApiError::internal(format!("SpiderCoordinator {DEFAULT_COORDINATOR}: stored object: {e}"))
    })?;
    check_identifiers(
        "GetCoordinatorArgs",
        &[
            ("podNamespace", Ident::PodNamespace, &args.pod_namespace),
            ("podName", Ident::PodName, &args.pod_name),
        ],
    )?;
    let mut answer = coordinator_config(&scc).map_err(ApiError::internal)?;
    if !args.pod_name.is_empty() && !args.pod_namespace.is_empty() {
        let pod_ref = format!("{}/{}", args.pod_namespace, args.pod_name);
        let ctx =
            gather_pod(agent.store(), agent.config(), &args.pod_namespace, &args.pod_name, "")
                .await
                .map_err(|e| store_error(&format!("pod {pod_ref}"), &e))?;
        if let Some(value) = ctx.pod.annotation(ANNO_DEFAULT_ROUTE_NIC) {
            answer.pod_default_route_nic = parse_default_route_nic(value)
                .map_err(|e| ApiError::internal(format!("pod {pod_ref}: {e}")))?;
        }
    }
    Ok(Json(answer))
}

/// `GET /v1/workloadendpoint?podNamespace=&podName=`: the pod's
/// SpiderEndpoint as Spiderpool's `WorkloadEndpointStatus`. 400 when a query
/// parameter is missing, 404 when the pod has no SpiderEndpoint.
pub(super) async fn workload_endpoint<S: AgentStore>(
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
    let ep = agent
        .store()
        .get_endpoint(&namespace, &name)
        .await
        .map_err(|e| store_error(&format!("SpiderEndpoint {namespace}/{name}"), &e))?
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
