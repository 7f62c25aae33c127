//! The pod facts (`KubeFacts`) against a real API server: a Deployment's pod
//! (kube-controller-manager creates its ReplicaSet and the pod, bound to the
//! test's node through the template's `nodeName`) resolves to its Deployment,
//! with the node's and the namespace's labels; a StatefulSet carries its
//! replicas; a pod the caches never saw (on another node) is read from the API
//! server; a SpiderCoordinator is read; a service account without a
//! permission gets a health error naming the verb, the resource and itself;
//! Deployments, DaemonSets and Jobs are read whole for the auto-pool size.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use spiderpool_core::pod::{ControllerKind, PodSource, gather_pod};
use spiderpool_core::store::CoordinatorSource;
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope, fixtures};
use spiderpool_k8s::{FactsOptions, KubeFacts};

/// Creates the cluster-scoped `object` (JSON of kind `K`), tracked for cleanup.
async fn create_cluster<K>(scope: &TestScope, object: serde_json::Value) -> TestResult<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
{
    let object: K = serde_json::from_value(object)?;
    scope.track_resource::<K>(None, object.meta().name.as_deref().unwrap_or_default());
    let api: Api<K> = Api::all(scope.client());
    Ok(api.create(&PostParams::default(), &object).await?)
}

/// Creates `object` (JSON of kind `K`) in `namespace`, tracked for cleanup.
async fn create_in<K>(
    scope: &TestScope,
    namespace: &str,
    object: serde_json::Value,
) -> TestResult<K>
where
    K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    K: Clone + DeserializeOwned + Serialize + Debug,
{
    let object: K = serde_json::from_value(object)?;
    scope.track_resource::<K>(Some(namespace), object.meta().name.as_deref().unwrap_or_default());
    let api: Api<K> = Api::namespaced(scope.client(), namespace);
    Ok(api.create(&PostParams::default(), &object).await?)
}

/// Waits up to 60 s for a pod of `namespace` labelled `selector`.
async fn wait_pod(scope: &TestScope, namespace: &str, selector: &str) -> TestResult<Pod> {
    let api: Api<Pod> = Api::namespaced(scope.client(), namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = api.list(&ListParams::default().labels(selector)).await?;
        if let Some(pod) = pods.items.into_iter().next() {
            return Ok(pod);
        }
        if Instant::now() > deadline {
            return Err(format!("no pod {selector} in {namespace} after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn template(app: &str, node: &str) -> serde_json::Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"nodeName": node, "automountServiceAccountToken": false, "containers": [{"name": "c", "image": "none"}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_come_from_the_caches_and_the_api_server() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("facts");
    let ns = scope.namespace("facts").await?;
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(scope.client());
    let patch = json!({"metadata": {"labels": {"team": "blue"}}});
    api.patch(&ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await?;
    let node = scope.name("node");
    create_cluster::<Node>(&scope, json!({"metadata": {"name": node, "labels": {"zone": "z1"}}}))
        .await?;
    create_in::<Deployment>(
        &scope,
        &ns,
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": "web"}}, "template": template("web", &node)}}),
    )
    .await?;
    create_in::<StatefulSet>(
        &scope,
        &ns,
        json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "serviceName": "db",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "db"}}, "template": template("db", &node)}}),
    )
    .await?;
    let web = wait_pod(&scope, &ns, "app=web").await?;
    let web_name = web.metadata.name.clone().unwrap();
    let db = wait_pod(&scope, &ns, "app=db").await?;
    let db_name = db.metadata.name.clone().unwrap();

    let facts = KubeFacts::new(scope.client(), FactsOptions::new(&node))?;
    facts.wait_synced().await?;
    facts.health()?;

    let ctx = gather_pod(&facts, &ns, &web_name, "", "other").await?;
    assert!(ctx.registered);
    assert_eq!(ctx.stored_uid, web.metadata.uid);
    assert_eq!(ctx.pod.uid, web.metadata.uid.clone().unwrap());
    assert_eq!(ctx.pod.node, node);
    assert_eq!((ctx.pod.owner_kind(), ctx.pod.owner_name()), ("Deployment", "web"));
    assert_eq!(ctx.pod.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(ctx.node.labels.get("zone").map(String::as_str), Some("z1"));
    assert_eq!(ctx.namespace.labels.get("team").map(String::as_str), Some("blue"));
    assert_eq!(ctx.not_alive, None);

    let ctx = gather_pod(&facts, &ns, &db_name, "", &node).await?;
    let owner = ctx.pod.owner.unwrap();
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("StatefulSet", "db"));
    assert_eq!(owner.statefulset.map(|s| s.replicas), Some(2));

    // A pod on another node is never in this node's cache: read from the
    // API server, not taken as unknown.
    let before = facts.stats().api_reads;
    create_in::<Pod>(
        &scope,
        &ns,
        json!({"metadata": {"name": "elsewhere", "annotations": {"a": "b"}},
               "spec": {"nodeName": "not-this-node", "automountServiceAccountToken": false, "containers": [{"name": "c", "image": "none"}]}}),
    )
    .await?;
    let ctx = gather_pod(&facts, &ns, "elsewhere", "", &node).await?;
    assert!(ctx.registered, "read from the API server");
    assert_eq!(ctx.pod.annotation("a"), Some("b"));
    assert_eq!(ctx.pod.node, "not-this-node");
    assert!(facts.stats().api_reads > before);
    let ghost = gather_pod(&facts, &ns, "ghost", "u1", &node).await?;
    assert!(!ghost.registered);

    // SpiderCoordinators: from the cache once the watch has it; a missing
    // one is None.
    let mut coordinator = fixtures::seed_coordinator();
    let name = scope.name("scc");
    coordinator.metadata.name = Some(name.clone());
    scope.create(coordinator).await?;
    let got = facts.coordinator(&name).await?.unwrap();
    assert_eq!(got.metadata.name_str(), name);
    assert_eq!(facts.coordinator("no-such-coordinator").await?, None);
    Ok(())
}

/// Regression guard for the RBAC table: a service account that may not list
/// StatefulSets gets a health error (and reads of StatefulSets fail) naming
/// the verb, the resource and the account, instead of facts without owners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_named_with_verb_resource_and_account() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("facts-rbac");
    let ns = scope.namespace("facts-rbac").await?;
    let role = scope.name("partial");
    let rules = json!([
        {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["spiderpool.spidernet.io"], "resources": ["spidercoordinators"], "verbs": ["get", "list", "watch"]}
    ]);
    create_cluster::<k8s_openapi::api::rbac::v1::ClusterRole>(
        &scope,
        json!({"metadata": {"name": role}, "rules": rules}),
    )
    .await?;
    create_cluster::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(
        &scope,
        json!({"metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}),
    )
    .await?;
    let mut config = cluster.config().clone();
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:default"));
    config.auth_info.impersonate_groups = Some(vec!["system:serviceaccounts".into()]);
    let client = kube::Client::try_from(config)?;
    let mut options = FactsOptions::new("n1");
    options.sync_timeout = Duration::from_secs(3);
    let facts = KubeFacts::new(client, options)?;
    // The API server's authorizer sees a new binding a moment after it is
    // created: until then every list is forbidden. Wait (bounded) for the
    // granted kinds to list; the assertions below check the state reached.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut message = None;
    let message = loop {
        if let Err(e) = facts.health()
            && e.to_string().contains("last error")
        {
            message = Some(e.to_string());
        }
        match &message {
            Some(m) if !m.contains("pods (last error") => break m.clone(),
            Some(m) if Instant::now() > deadline => break m.clone(),
            None if Instant::now() > deadline => return Err("no watch error after 30 s".into()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert!(message.contains("statefulsets.apps (last error: "), "{message}");
    assert!(
        message.contains(&format!(
            "User \"system:serviceaccount:{ns}:default\" cannot list resource \"statefulsets\""
        )),
        "{message}"
    );
    assert!(message.contains("Forbidden, HTTP 403"), "{message}");
    assert!(!message.contains("pods"), "pods are listed: {message}");
    let e = facts.controller(ControllerKind::StatefulSet, &ns, "db").await.unwrap_err();
    assert!(e.to_string().contains("statefulsets"), "{e}");
    Ok(())
}

/// `KubeFacts::workload` reads whole controllers from the API server for the
/// auto-pool size: a Deployment's `spec.replicas`, a DaemonSet's
/// `status.desiredNumberScheduled`, a Job's `parallelism`/`completions`; a
/// controller that does not exist is `None`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_are_read_whole_for_the_auto_pool_size() -> TestResult<()> {
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::batch::v1::Job;
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("facts-wl");
    let ns = scope.namespace("facts-wl").await?;
    // Templates no node matches: the controllers' pods stay pending.
    let pending = |restart: &str| {
        json!({"metadata": {"labels": {"app": "wl"}},
        "spec": {"nodeSelector": {"nowhere": "x"}, "restartPolicy": restart,
                 "containers": [{"name": "c", "image": "none"}]}})
    };
    let selector = json!({"matchLabels": {"app": "wl"}});
    create_in::<Deployment>(
        &scope,
        &ns,
        json!({"metadata": {"name": "d"},
        "spec": {"replicas": 3, "selector": selector, "template": pending("Always")}}),
    )
    .await?;
    create_in::<DaemonSet>(
        &scope,
        &ns,
        json!({"metadata": {"name": "ds"},
        "spec": {"selector": selector, "template": pending("Always")}}),
    )
    .await?;
    create_in::<Job>(
        &scope,
        &ns,
        json!({"metadata": {"name": "j"},
        "spec": {"completions": 4, "parallelism": 2, "template": pending("Never")}}),
    )
    .await?;
    let facts = KubeFacts::new(scope.client(), FactsOptions::new("nowhere"))?;
    let d = facts.workload(ControllerKind::Deployment, &ns, "d").await?.unwrap();
    assert_eq!(d.spec.replicas, Some(3));
    let j = facts.workload(ControllerKind::Job, &ns, "j").await?.unwrap();
    assert_eq!((j.spec.completions, j.spec.parallelism), (Some(4), Some(2)));
    let ds = facts.workload(ControllerKind::DaemonSet, &ns, "ds").await?.unwrap();
    // No node matches the template: the controller counts 0 (once it has
    // written its status; until then the field is absent).
    assert!(matches!(ds.status.desired_number_scheduled, None | Some(0)), "{ds:?}");
    assert_eq!(facts.workload(ControllerKind::Deployment, &ns, "gone").await?, None);
    Ok(())
}
