//! SpiderCoordinator status (reference §6): `overlayPodCIDR`, `serviceCIDR`
//! and `phase` (`Synced`, or `NotReady` with a reason naming what is
//! missing), decided by [`coordinator_status`] from facts gathered here:
//!
//! - the default CNI network's name, from the first config file in the CNI
//!   config directory (`podCIDRType: auto`);
//! - `kube-system/kubeadm-config` (`ClusterConfiguration`: `podSubnet`,
//!   `serviceSubnet`);
//! - the command line of the pod labelled `component=kube-controller-manager`
//!   in `kube-system` (its static pod): `--cluster-cidr`,
//!   `--service-cluster-ip-range`;
//! - every node's `spec.podCIDRs`;
//! - Calico IPPools (`crd.projectcalico.org/v1`) when that CRD exists;
//! - `kube-system/cilium-config`, and CiliumPodIPPools for its `multi-pool`
//!   mode;
//! - ServiceCIDRs (`networking.k8s.io/v1`, else `v1beta1`) where the API
//!   server has them (1.20 does not: a 404 means "no such API").
//!
//! The coordinator is reconciled on its own changes, on changes of the two
//! ConfigMaps, and every `resync` (nodes, pods and the other sources are
//! read then; watching every node's heartbeat would cost more than it
//! tells). The status is written only when it changed.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use spiderpool_core::model::SpiderCoordinator;
use spiderpool_core::reconcile::cidr::{
    CalicoPool, CidrFacts, coordinator_status, default_cni_network,
};

use super::{ReconcileError, Shared, drain};
use crate::CoordinatorObject;

/// Event reason: the status became `NotReady`.
pub const NOT_READY: &str = "CoordinatorNotReady";

/// Where the coordinator reconciler looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorOptions {
    /// The SpiderCoordinator to keep (`SPIDERPOOL_COORDINATOR_DEAFULT_NAME`,
    /// `default`).
    pub name: String,
    /// The CNI config directory (`SPIDERPOOL_CNI_CONFIG_DIR`,
    /// `/etc/cni/net.d`); `None`: not mounted.
    pub cni_config_dir: Option<PathBuf>,
    /// `namespace/name` of the kubeadm ConfigMap (`kube-system/kubeadm-config`).
    pub kubeadm_config: (String, String),
    /// `namespace/name` of Cilium's ConfigMap
    /// (`SPIDERPOOL_CILIUM_CONFIGMAP_NAMESPACE_NAME`, `kube-system/cilium-config`).
    pub cilium_config: (String, String),
    /// Where kube-controller-manager's pod runs (`kube-system`).
    pub controller_manager_namespace: String,
    /// Only nodes with these labels count for `spec.podCIDRs`; `None`: all.
    pub node_selector: Option<String>,
}

impl Default for CoordinatorOptions {
    fn default() -> Self {
        Self {
            name: SpiderCoordinator::DEFAULT_NAME.to_owned(),
            cni_config_dir: Some(PathBuf::from("/etc/cni/net.d")),
            kubeadm_config: ("kube-system".into(), "kubeadm-config".into()),
            cilium_config: ("kube-system".into(), "cilium-config".into()),
            controller_manager_namespace: "kube-system".into(),
            node_selector: None,
        }
    }
}

struct Ctx {
    shared: Arc<Shared>,
    options: CoordinatorOptions,
}

/// Runs the coordinator status reconciler.
pub(crate) async fn run(
    shared: Arc<Shared>,
    options: CoordinatorOptions,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ReconcileError> {
    let api: Api<CoordinatorObject> = Api::all(shared.client.clone());
    let own = watcher::Config::default().fields(&format!("metadata.name={}", options.name));
    let mut controller = Controller::new(api, own);
    for (namespace, name) in [&options.kubeadm_config, &options.cilium_config] {
        let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let target = options.name.clone();
        controller = controller
            .watches(maps, config, move |_| Some(ObjectRef::<CoordinatorObject>::new(&target)));
    }
    let controller = controller.graceful_shutdown_on(shutdown);
    let ctx = Arc::new(Ctx { shared, options });
    let stream = controller.run(
        reconcile,
        |c, error, ctx: Arc<Ctx>| ctx.shared.on_error("SpiderCoordinator", &c.name_any(), error),
        ctx,
    );
    drain("SpiderCoordinator", stream).await
}

async fn reconcile(
    object: Arc<CoordinatorObject>,
    ctx: Arc<Ctx>,
) -> Result<Action, ReconcileError> {
    let shared = &ctx.shared;
    if object.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let facts = gather(&shared.client, &ctx.options).await?;
    let status = coordinator_status(object.spec.pod_cidr_type.as_deref(), &facts);
    let reference = object.object_ref(&());
    if status.is_synced() {
        shared.events.clear(&reference, NOT_READY);
    } else {
        shared.events.warn(&reference, NOT_READY, &status.reason).await;
    }
    if object.status.as_ref() != Some(&status) {
        let name = object.name_any();
        let patch = json!({
            "metadata": {"resourceVersion": object.resource_version()},
            "status": {
                "phase": status.phase,
                // `null` removes a stale reason.
                "reason": if status.reason.is_empty() { None } else { Some(&status.reason) },
                "overlayPodCIDR": status.overlay_pod_cidr,
                "serviceCIDR": status.service_cidr,
            },
        });
        let api: Api<CoordinatorObject> = Api::all(shared.client.clone());
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(ReconcileError::kube(format!("patch SpiderCoordinator {name} status")))?;
        tracing::info!(
            coordinator = name,
            phase = status.phase,
            reason = status.reason,
            "status written"
        );
    }
    Ok(Action::requeue(shared.options.resync))
}

/// Reads every source. A source that does not exist is a fact (`None`); a
/// request that fails is an error (retried; the status stays as it was).
pub async fn gather(
    client: &kube::Client,
    options: &CoordinatorOptions,
) -> Result<CidrFacts, ReconcileError> {
    let (kns, kname) = &options.kubeadm_config;
    let (cns, cname) = &options.cilium_config;
    let kubeadm = config_map(client, kns, kname).await?;
    let cilium_config = config_map(client, cns, cname).await?;
    let multi_pool = cilium_config
        .as_ref()
        .is_some_and(|d| d.get("ipam").map(|s| s.trim()) == Some("multi-pool"));
    Ok(CidrFacts {
        default_cni_network: read_cni_dir(options.cni_config_dir.clone()).await,
        kubeadm_config_name: format!("{kns}/{kname}"),
        kubeadm_cluster_configuration: kubeadm.and_then(|d| d.get("ClusterConfiguration").cloned()),
        controller_manager_args: controller_manager_args(
            client,
            &options.controller_manager_namespace,
        )
        .await?,
        node_pod_cidrs: node_pod_cidrs(client, options.node_selector.as_deref()).await?,
        calico_pools: calico_pools(client).await?,
        cilium_config_name: format!("{cns}/{cname}"),
        cilium_pod_ip_pools: if multi_pool { cilium_pod_ip_pools(client).await? } else { None },
        cilium_config,
        service_cidr_api: service_cidrs(client).await?,
    })
}

async fn config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, ReconcileError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let found = api
        .get_opt(name)
        .await
        .map_err(ReconcileError::kube(format!("get ConfigMap {namespace}/{name}")))?;
    Ok(found.map(|cm| cm.data.unwrap_or_default()))
}

async fn controller_manager_args(
    client: &kube::Client,
    namespace: &str,
) -> Result<Option<Vec<String>>, ReconcileError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels("component=kube-controller-manager");
    let pods = api.list(&params).await.map_err(ReconcileError::kube(format!(
        "list kube-controller-manager pods in {namespace}"
    )))?;
    Ok(pods.items.into_iter().next().map(|pod| {
        let containers = pod.spec.map(|s| s.containers).unwrap_or_default();
        containers
            .into_iter()
            .next()
            .map(|c| {
                c.command
                    .unwrap_or_default()
                    .into_iter()
                    .chain(c.args.unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }))
}

async fn node_pod_cidrs(
    client: &kube::Client,
    selector: Option<&str>,
) -> Result<Vec<String>, ReconcileError> {
    let api: Api<Node> = Api::all(client.clone());
    let mut params = ListParams::default();
    if let Some(s) = selector {
        params = params.labels(s);
    }
    let nodes = api.list(&params).await.map_err(ReconcileError::kube("list Nodes"))?;
    Ok(nodes
        .items
        .into_iter()
        .filter_map(|n| n.spec)
        .flat_map(|s| match s.pod_cidrs {
            Some(list) if !list.is_empty() => list,
            _ => s.pod_cidr.into_iter().collect(),
        })
        .collect())
}

/// Lists a resource that may not exist: `None` on 404.
async fn list_optional(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Result<Option<Vec<DynamicObject>>, ReconcileError> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let mut items = list.items;
            items.sort_by(|a, b| {
                let key = |o: &DynamicObject| (o.metadata.creation_timestamp.clone(), o.name_any());
                key(a).cmp(&key(b))
            });
            Ok(Some(items))
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(ReconcileError::Kube { what: format!("list {plural}.{group}"), source: e }),
    }
}

async fn calico_pools(client: &kube::Client) -> Result<Option<Vec<CalicoPool>>, ReconcileError> {
    let items = list_optional(client, "crd.projectcalico.org", "v1", "IPPool", "ippools").await?;
    Ok(items.map(|items| {
        items
            .into_iter()
            .filter(|o| o.metadata.deletion_timestamp.is_none())
            .map(|o| CalicoPool {
                name: o.name_any(),
                cidr: o.data["spec"]["cidr"].as_str().unwrap_or_default().to_owned(),
                disabled: o.data["spec"]["disabled"].as_bool().unwrap_or(false),
            })
            .collect()
    }))
}

async fn cilium_pod_ip_pools(client: &kube::Client) -> Result<Option<Vec<String>>, ReconcileError> {
    let items =
        list_optional(client, "cilium.io", "v2alpha1", "CiliumPodIPPool", "ciliumpodippools")
            .await?;
    Ok(items.map(|items| {
        items
            .into_iter()
            .flat_map(|o| {
                ["ipv4", "ipv6"]
                    .into_iter()
                    .flat_map(|f| {
                        o.data["spec"][f]["cidrs"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }))
}

async fn service_cidrs(client: &kube::Client) -> Result<Option<Vec<String>>, ReconcileError> {
    for version in ["v1", "v1beta1"] {
        let items =
            list_optional(client, "networking.k8s.io", version, "ServiceCIDR", "servicecidrs")
                .await?;
        if let Some(items) = items {
            return Ok(Some(
                items
                    .into_iter()
                    .filter(|o| o.metadata.deletion_timestamp.is_none())
                    .flat_map(|o| {
                        o.data["spec"]["cidrs"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                    })
                    .collect(),
            ));
        }
    }
    Ok(None)
}

/// The default CNI network's name from the CNI config directory (`None`
/// when it is not mounted or holds no config).
async fn read_cni_dir(dir: Option<PathBuf>) -> Option<String> {
    let dir = dir?;
    let files = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") || name.ends_with(".conflist") {
                // A config over 1 MiB is not a CNI config.
                if let Ok(meta) = entry.metadata()
                    && meta.len() <= 1 << 20
                    && let Ok(text) = std::fs::read_to_string(entry.path())
                {
                    out.push((name, text));
                }
            }
        }
        Some(out)
    })
    .await
    .ok()
    .flatten()?;
    default_cni_network(&files)
}
