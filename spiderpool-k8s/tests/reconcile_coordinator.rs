//! SpiderCoordinator status against a real API server: `NotReady` with a
//! reason naming what is missing, then `Synced` from a `kubeadm-config`
//! ConfigMap; Cilium's `cilium-config`; kube-controller-manager's flags from
//! its (static) pod and the nodes' `spec.podCIDR`s. The sources live in the
//! test's namespace (the options point there instead of `kube-system`), and
//! only the test's node counts. Kubernetes 1.20 has no ServiceCIDR API.
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used)]

mod reconcile_support;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use reconcile_support::{LABEL, event, eventually, options, start};
use serde_json::json;
use spiderpool_core::model::{CoordinatorSpec, CoordinatorStatus, SpiderCoordinator};
use spiderpool_k8s::CoordinatorObject;
use spiderpool_k8s::reconcile::coordinator::{self, CoordinatorOptions};
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope};

const KUBEADM: &str = "apiServer: {}\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n";

struct Setup {
    scope: TestScope,
    ns: String,
    name: String,
    label: String,
}

async fn setup(cluster: &TestCluster, prefix: &str, pod_cidr_type: &str) -> TestResult<Setup> {
    let scope = cluster.scope(prefix);
    let ns = scope.namespace(prefix).await?;
    let label = scope.name("l");
    let name = scope.name("scc");
    let mut c = SpiderCoordinator::new(
        &name,
        CoordinatorSpec { pod_cidr_type: Some(pod_cidr_type.into()), ..Default::default() },
    );
    c.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.clone())]));
    scope.create(c).await?;
    Ok(Setup { scope, ns, name, label })
}

fn coordinator_options(s: &Setup) -> CoordinatorOptions {
    CoordinatorOptions {
        name: s.name.clone(),
        cni_config_dir: None,
        kubeadm_config: (s.ns.clone(), "kubeadm-config".into()),
        cilium_config: (s.ns.clone(), "cilium-config".into()),
        controller_manager_namespace: s.ns.clone(),
        node_selector: Some(format!("{LABEL}={}", s.label)),
    }
}

async fn config_map(
    client: &kube::Client,
    ns: &str,
    name: &str,
    data: &[(&str, &str)],
) -> TestResult<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name},
        "data": data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    }))?;
    api.create(&PostParams::default(), &cm).await?;
    Ok(())
}

async fn status_until(
    client: &kube::Client,
    name: &str,
    what: &str,
    check: impl Fn(&CoordinatorStatus) -> bool,
) -> TestResult<CoordinatorStatus> {
    let api: Api<CoordinatorObject> = Api::all(client.clone());
    eventually(what, || async {
        let status = api.get(name).await?.status.unwrap_or_default();
        Ok(if check(&status) { Ok(status) } else { Err(format!("{status:?}")) })
    })
    .await
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_says_what_is_missing_then_kubeadm_config_syncs() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let client = cluster.client();
    let s = setup(&cluster, "rc-scc-kubeadm", "cluster").await?;
    let mut opts = options(&s.label);
    opts.coordinator = Some(coordinator_options(&s));
    let running = start(client.clone(), opts);

    let status = status_until(&client, &s.name, "NotReady", |st| st.phase == "NotReady").await?;
    assert_eq!(
        status.reason,
        format!(
            "service CIDR unknown: no ServiceCIDR API; ConfigMap {}/kubeadm-config not found; no pod labelled component=kube-controller-manager",
            s.ns
        )
    );
    let note = event(&client, "default", &s.name, coordinator::NOT_READY).await?;
    assert_eq!(note, status.reason);

    // The ConfigMap appears: the watch brings the coordinator to Synced.
    config_map(&client, &s.ns, "kubeadm-config", &[("ClusterConfiguration", KUBEADM)]).await?;
    let status = status_until(&client, &s.name, "Synced", |st| st.phase == "Synced").await?;
    assert_eq!(strs(&status.overlay_pod_cidr), ["10.244.0.0/16"]);
    assert_eq!(strs(&status.service_cidr), ["10.96.0.0/12"]);
    assert_eq!(status.reason, "", "the reason is cleared");
    running.stop().await?;
    drop(s.scope);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cilium_config_gives_the_overlay_cidrs() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let client = cluster.client();
    let s = setup(&cluster, "rc-scc-cilium", "cilium").await?;
    config_map(&client, &s.ns, "kubeadm-config", &[("ClusterConfiguration", KUBEADM)]).await?;
    let mut opts = options(&s.label);
    opts.coordinator = Some(coordinator_options(&s));
    let running = start(client.clone(), opts);

    let status = status_until(&client, &s.name, "NotReady", |st| st.phase == "NotReady").await?;
    assert_eq!(
        status.reason,
        format!("podCIDRType cilium: ConfigMap {}/cilium-config not found", s.ns)
    );
    config_map(
        &client,
        &s.ns,
        "cilium-config",
        &[
            ("ipam", "cluster-pool"),
            ("cluster-pool-ipv4-cidr", "10.0.0.0/8"),
            ("cluster-pool-ipv6-cidr", "fd85:ee78:d8a6:8607::/64"),
        ],
    )
    .await?;
    let status = status_until(&client, &s.name, "Synced", |st| st.phase == "Synced").await?;
    assert_eq!(strs(&status.overlay_pod_cidr), ["10.0.0.0/8", "fd85:ee78:d8a6:8607::/64"]);
    assert_eq!(strs(&status.service_cidr), ["10.96.0.0/12"]);
    running.stop().await?;
    drop(s.scope);
    Ok(())
}

/// Without `kubeadm-config`: the service CIDR from kube-controller-manager's
/// static pod, the pod CIDR from the nodes' `spec.podCIDR`s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_manager_flags_and_node_pod_cidrs() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let client = cluster.client();
    let s = setup(&cluster, "rc-scc-nodes", "cluster").await?;
    let node_name = s.scope.name("node");
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": node_name, "labels": {LABEL: s.label}},
        "spec": {"podCIDR": "10.245.3.0/24", "podCIDRs": ["10.245.3.0/24"],
                 "taints": [{"key": "spiderpool-rs.test/fake", "effect": "NoSchedule"}]},
    }))?;
    nodes.create(&PostParams::default(), &node).await?;
    let result = node_case(&client, &s).await;
    let _ = nodes.delete(&node_name, &DeleteParams::default()).await;
    drop(s.scope);
    result
}

async fn node_case(client: &kube::Client, s: &Setup) -> TestResult<()> {
    // The kube-controller-manager static pod (never scheduled: no node runs it).
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "kube-controller-manager-node1", "labels": {"component": "kube-controller-manager"}},
        "spec": {
            "automountServiceAccountToken": false,
            "nodeName": "no-such-node",
            "containers": [{
                "name": "kube-controller-manager",
                "image": "k8s.gcr.io/kube-controller-manager:v1.20.2",
                "command": ["kube-controller-manager", "--allocate-node-cidrs=true",
                            "--service-cluster-ip-range=10.97.0.0/16"],
            }],
        },
    }))?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &s.ns);
    // The namespace's default service account appears shortly after it.
    eventually("kube-controller-manager pod created", || async {
        Ok(match pods.create(&PostParams::default(), &pod).await {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        })
    })
    .await?;
    let mut opts = options(&s.label);
    opts.coordinator = Some(coordinator_options(s));
    let running = start(client.clone(), opts);
    let status = status_until(client, &s.name, "Synced", |st| st.phase == "Synced").await?;
    assert_eq!(strs(&status.overlay_pod_cidr), ["10.245.3.0/24"]);
    assert_eq!(strs(&status.service_cidr), ["10.97.0.0/16"]);
    running.stop().await?;
    Ok(())
}
