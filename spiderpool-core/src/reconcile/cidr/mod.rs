//! SpiderCoordinator status (reference §6): the pod and service CIDRs the
//! coordinator plugin routes through the host, from facts the controller
//! gathered, with `phase: NotReady` and a reason naming exactly what is
//! missing when it cannot tell.
//!
//! Where it differs from Spiderpool, on purpose:
//! - the cluster's pod CIDR also comes from the nodes' `spec.podCIDRs`
//!   (after `kubeadm-config` and kube-controller-manager's flags), and a
//!   cluster without `kubeadm-config` and without a kube-controller-manager
//!   pod is not `NotReady` for podCIDRTypes that do not need it
//!   (reference §11 item 12);
//! - `podCIDRType: auto` without a CNI config file to read falls back to
//!   what the cluster shows (a `cilium-config` ConfigMap → cilium, Calico
//!   IPPools → calico, else cluster) instead of `none`;
//! - `calico` with no enabled Calico IPPool is `NotReady` (Spiderpool
//!   answers `Synced` with no overlay CIDR, which routes the overlay's
//!   traffic the wrong way).

use std::collections::BTreeMap;

use crate::ip::{canonical_cidr_string, parse_cidr};
use crate::model::{CoordinatorPhase, CoordinatorStatus, PodCidrType};

/// A Calico `IPPool` (`crd.projectcalico.org/v1`), as far as it matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalicoPool {
    /// `metadata.name`.
    pub name: String,
    /// `spec.cidr`.
    pub cidr: String,
    /// `spec.disabled`.
    pub disabled: bool,
}

/// Where the controller looked, and what it found. `None` means "not
/// there" (the ConfigMap, the CRD or the API does not exist); the adapter
/// orders lists by creation time, as Spiderpool does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrFacts {
    /// The `name` of the cluster's default CNI network: the first
    /// `*.conf`/`*.conflist` (sorted, `00-multus*` skipped) in the
    /// controller's CNI config directory. `None` when there is none.
    pub default_cni_network: Option<String>,
    /// Where `kubeadm-config` was looked for (`kube-system/kubeadm-config`).
    pub kubeadm_config_name: String,
    /// The `ClusterConfiguration` text of `kubeadm-config`, `None` when the
    /// ConfigMap (or the key) does not exist.
    pub kubeadm_cluster_configuration: Option<String>,
    /// The command and args of the first pod labelled
    /// `component=kube-controller-manager`, `None` when there is none.
    pub controller_manager_args: Option<Vec<String>>,
    /// Every node's `spec.podCIDRs` (or `spec.podCIDR`).
    pub node_pod_cidrs: Vec<String>,
    /// Calico IPPools; `None` when the CRD does not exist.
    pub calico_pools: Option<Vec<CalicoPool>>,
    /// Where `cilium-config` was looked for (`kube-system/cilium-config`).
    pub cilium_config_name: String,
    /// The data of `cilium-config`, `None` when it does not exist.
    pub cilium_config: Option<BTreeMap<String, String>>,
    /// The CIDRs of every CiliumPodIPPool; `None` when the CRD does not exist.
    pub cilium_pod_ip_pools: Option<Vec<String>>,
    /// The CIDRs of every ServiceCIDR; `None` when the API does not exist
    /// (Kubernetes before 1.29, or the feature off).
    pub service_cidr_api: Option<Vec<String>>,
}

/// The cluster's own pod and service CIDRs and where each came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterCidrs {
    /// Pod CIDRs.
    pub pod: Vec<String>,
    /// Service CIDRs.
    pub service: Vec<String>,
}

/// The status for a SpiderCoordinator whose `spec.podCIDRType` is `pod_cidr_type`.
///
/// `Synced` with the CIDRs, or `NotReady` with empty lists and a reason.
pub fn coordinator_status(pod_cidr_type: Option<&str>, facts: &CidrFacts) -> CoordinatorStatus {
    match detect(pod_cidr_type, facts) {
        Ok((overlay, service)) => CoordinatorStatus {
            phase: CoordinatorPhase::Synced.as_str().to_owned(),
            reason: String::new(),
            overlay_pod_cidr: overlay,
            service_cidr: service,
        },
        Err(reason) => CoordinatorStatus {
            phase: CoordinatorPhase::NotReady.as_str().to_owned(),
            reason,
            overlay_pod_cidr: Vec::new(),
            service_cidr: Vec::new(),
        },
    }
}

fn detect(
    pod_cidr_type: Option<&str>,
    facts: &CidrFacts,
) -> Result<(Vec<String>, Vec<String>), String> {
    let cluster = cluster_cidrs(facts);
    let kind = resolve_type(pod_cidr_type, facts, &cluster)?;
    let service = if let Some(api) = &facts.service_cidr_api {
        valid_cidrs(api.iter().map(String::as_str))
    } else {
        cluster.service.clone()
    };
    if service.is_empty() {
        return Err(format!(
            "service CIDR unknown: {}",
            missing(facts, "serviceSubnet", "--service-cluster-ip-range", false)
        ));
    }
    let overlay = overlay_cidrs(kind, facts, &cluster)?;
    Ok((overlay, service))
}

/// `spec.podCIDRType`, with `auto` resolved.
pub fn resolve_type(
    pod_cidr_type: Option<&str>,
    facts: &CidrFacts,
    cluster: &ClusterCidrs,
) -> Result<PodCidrType, String> {
    let given = pod_cidr_type.unwrap_or_default();
    let kind = PodCidrType::parse_field("spec.podCIDRType", given)
        .map_err(|e| format!("{e} (bypassed admission)"))?;
    if kind != PodCidrType::Auto {
        return Ok(kind);
    }
    Ok(match facts.default_cni_network.as_deref() {
        Some("calico" | "k8s-pod-network") => PodCidrType::Calico,
        Some("cilium") => PodCidrType::Cilium,
        Some("flannel") => PodCidrType::Cluster,
        Some(_) => PodCidrType::None,
        None if facts.cilium_config.is_some() => PodCidrType::Cilium,
        None if facts.calico_pools.as_ref().is_some_and(|p| !p.is_empty()) => PodCidrType::Calico,
        None if !cluster.pod.is_empty() => PodCidrType::Cluster,
        None => PodCidrType::None,
    })
}

fn overlay_cidrs(
    kind: PodCidrType,
    facts: &CidrFacts,
    cluster: &ClusterCidrs,
) -> Result<Vec<String>, String> {
    let need_cluster = |what: &str| {
        if cluster.pod.is_empty() {
            Err(format!(
                "{what}: the cluster's pod CIDR is unknown: {}",
                missing(facts, "podSubnet", "--cluster-cidr", true)
            ))
        } else {
            Ok(cluster.pod.clone())
        }
    };
    match kind {
        PodCidrType::None | PodCidrType::Auto => Ok(Vec::new()),
        PodCidrType::Cluster => need_cluster("podCIDRType cluster"),
        PodCidrType::Calico => {
            let pools = facts.calico_pools.as_ref().ok_or(
                "podCIDRType calico: the Calico IPPool CRD (ippools.crd.projectcalico.org) does not exist",
            )?;
            let cidrs = valid_cidrs(pools.iter().filter(|p| !p.disabled).map(|p| p.cidr.as_str()));
            if cidrs.is_empty() {
                return Err(
                    "podCIDRType calico: no enabled Calico IPPool with a valid spec.cidr".into()
                );
            }
            Ok(cidrs)
        }
        PodCidrType::Cilium => cilium_cidrs(facts, need_cluster),
    }
}

fn cilium_cidrs(
    facts: &CidrFacts,
    need_cluster: impl Fn(&str) -> Result<Vec<String>, String>,
) -> Result<Vec<String>, String> {
    let name = &facts.cilium_config_name;
    let data = facts
        .cilium_config
        .as_ref()
        .ok_or_else(|| format!("podCIDRType cilium: ConfigMap {name} not found"))?;
    // Cilium's own default IPAM mode is cluster-pool.
    let mode = data.get("ipam").map_or("cluster-pool", |m| m.trim());
    match mode {
        "cluster-pool" | "cluster-pool-v2beta" => {
            let keys = ["cluster-pool-ipv4-cidr", "cluster-pool-ipv6-cidr"];
            let cidrs = valid_cidrs(
                keys.iter()
                    .filter_map(|k| data.get(*k))
                    .flat_map(|v| v.split([' ', ',', '\n']))
                    .filter(|s| !s.trim().is_empty()),
            );
            if cidrs.is_empty() {
                return Err(format!(
                    "podCIDRType cilium: ConfigMap {name} (ipam {mode}) has no valid cluster-pool-ipv4-cidr or cluster-pool-ipv6-cidr"
                ));
            }
            Ok(cidrs)
        }
        "multi-pool" => {
            let pools = facts.cilium_pod_ip_pools.as_ref().ok_or(
                "podCIDRType cilium: ipam multi-pool but the CiliumPodIPPool CRD (ciliumpodippools.cilium.io) does not exist",
            )?;
            let cidrs = valid_cidrs(pools.iter().map(String::as_str));
            if cidrs.is_empty() {
                return Err(
                    "podCIDRType cilium: ipam multi-pool but no CiliumPodIPPool has a valid CIDR"
                        .into(),
                );
            }
            Ok(cidrs)
        }
        "kubernetes" => need_cluster("podCIDRType cilium (ipam kubernetes)"),
        other => Err(format!(
            "podCIDRType cilium: unsupported Cilium IPAM mode {other:?} in ConfigMap {name} (supported: cluster-pool, multi-pool, kubernetes)"
        )),
    }
}

/// The cluster's pod CIDR (kubeadm-config `podSubnet`, else
/// kube-controller-manager `--cluster-cidr`, else the nodes' podCIDRs) and
/// service CIDR (`serviceSubnet`, else `--service-cluster-ip-range`).
pub fn cluster_cidrs(facts: &CidrFacts) -> ClusterCidrs {
    let (k_pod, k_svc) =
        facts.kubeadm_cluster_configuration.as_deref().map(parse_kubeadm).unwrap_or_default();
    let (m_pod, m_svc) =
        facts.controller_manager_args.as_deref().map(parse_controller_manager).unwrap_or_default();
    let nodes = valid_cidrs(facts.node_pod_cidrs.iter().map(String::as_str));
    let first =
        |lists: [Vec<String>; 3]| lists.into_iter().find(|l| !l.is_empty()).unwrap_or_default();
    ClusterCidrs { pod: first([k_pod, m_pod, nodes]), service: first([k_svc, m_svc, Vec::new()]) }
}

/// What was tried for a CIDR, for a reason text.
fn missing(facts: &CidrFacts, kubeadm_key: &str, flag: &str, nodes: bool) -> String {
    let kubeadm = match &facts.kubeadm_cluster_configuration {
        None => format!("ConfigMap {} not found", facts.kubeadm_config_name),
        Some(_) => format!("ConfigMap {} has no valid {kubeadm_key}", facts.kubeadm_config_name),
    };
    let kcm = match &facts.controller_manager_args {
        None => "no pod labelled component=kube-controller-manager".to_owned(),
        Some(_) => format!("kube-controller-manager has no valid {flag}"),
    };
    let mut parts = Vec::new();
    if !nodes && facts.service_cidr_api.is_none() {
        parts.push("no ServiceCIDR API".to_owned());
    }
    parts.push(kubeadm);
    parts.push(kcm);
    if nodes {
        parts.push("no node has spec.podCIDRs".to_owned());
    }
    parts.join("; ")
}

/// `podSubnet` and `serviceSubnet` of a kubeadm `ClusterConfiguration`
/// (comma-separated for dual stack; invalid entries dropped).
pub fn parse_kubeadm(text: &str) -> (Vec<String>, Vec<String>) {
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter_map(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
            .next()
            .map(|v| valid_cidrs(v.split(',')))
            .unwrap_or_default()
    };
    (value("podSubnet"), value("serviceSubnet"))
}

/// `--cluster-cidr=` and `--service-cluster-ip-range=` of
/// kube-controller-manager's command line.
pub fn parse_controller_manager(args: &[String]) -> (Vec<String>, Vec<String>) {
    let flag = |name: &str| {
        args.iter()
            .filter_map(|a| a.trim().strip_prefix(name))
            .filter_map(|rest| rest.strip_prefix('='))
            .map(|v| valid_cidrs(v.split(',')))
            .next()
            .unwrap_or_default()
    };
    (flag("--cluster-cidr"), flag("--service-cluster-ip-range"))
}

/// The valid CIDRs of `items`, canonical, without duplicates, in order.
pub fn valid_cidrs<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if let Ok(net) = parse_cidr(item.trim()) {
            let text = canonical_cidr_string(&net);
            if !out.contains(&text) {
                out.push(text);
            }
        }
    }
    out
}

/// The `name` of the default CNI network: of `files` (file name, contents)
/// the first by name that ends in `.conf` or `.conflist` and does not
/// contain `00-multus`; `None` when there is none or its JSON has no `name`.
pub fn default_cni_network(files: &[(String, String)]) -> Option<String> {
    let mut candidates: Vec<&(String, String)> = files
        .iter()
        .filter(|(n, _)| {
            (n.ends_with(".conf") || n.ends_with(".conflist")) && !n.contains("00-multus")
        })
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let (_, text) = candidates.first()?;
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("name")?.as_str().map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
