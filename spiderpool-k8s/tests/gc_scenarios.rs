//! IP garbage collection against a real API server, with
//! kube-controller-manager running the StatefulSet controller. The test
//! plays the kubelet (it sets pod status and confirms deletions) and the
//! agent (allocations through the core allocator over `KubeStore`, with the
//! pod facts gathered as the agent gathers them). Each test drives
//! `Collector::scan` itself, with a short observation grace.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{LABEL, Node, address, create_pool, endpoints, records, request, setup};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node as KubeNode, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use spiderpool_core::gc::{Holder, release_holder};
use spiderpool_core::pod::gather_pod;
use spiderpool_k8s::gc::{Collector, GcOptions, ScanReport};
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope, install_kubevirt_crds};
use spiderpool_k8s::{CommitMode, FactsOptions, KubeFacts};

const GRACE: Duration = Duration::from_secs(2);

/// One test's world: a namespace, a node, a pool, an agent and a collector.
struct World {
    scope: TestScope,
    ns: String,
    node: String,
    pool: String,
    agent: Node,
    facts: KubeFacts,
    gc: Collector,
}

async fn world(cluster: &TestCluster, prefix: &str, ips: &[&str]) -> TestResult<World> {
    let (scope, ns, label) = setup(cluster, prefix).await?;
    let node = scope.name("node");
    scope.track_resource::<KubeNode>(None, &node);
    let api: Api<KubeNode> = Api::all(scope.client());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": node}}))?,
    )
    .await?;
    let pool = scope.name("pool");
    create_pool(&scope, &pool, "10.77.0.0/24", ips, &label).await?;
    let agent = Node::start(scope.client(), &node, CommitMode::Group, &label).await?;
    let facts = KubeFacts::new(scope.client(), FactsOptions::new(&node))?;
    facts.wait_synced().await?;
    let options = GcOptions::default().with_scope_label(LABEL, &label).with_timing(
        Duration::from_secs(600),
        GRACE,
        Duration::from_secs(1),
    );
    let gc = Collector::start(scope.client(), options).await?;
    Ok(World { scope, ns, node, pool, agent, facts, gc })
}

impl World {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.scope.client(), &self.ns)
    }

    /// A bare pod on the node, Running (the test is its kubelet).
    async fn pod(&self, name: &str) -> TestResult<Pod> {
        self.scope.track_resource::<Pod>(Some(&self.ns), name);
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"nodeName": self.node, "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "containers": [{"name": "c", "image": "none"}]}}))?;
        self.pods().create(&PostParams::default(), &pod).await?;
        self.set_phase(name, "Running").await
    }

    async fn set_phase(&self, name: &str, phase: &str) -> TestResult<Pod> {
        let status = json!({"status": {"phase": phase}});
        Ok(self.pods().patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?)
    }

    /// The agent's ADD for pod `name` as it is now.
    async fn add(&self, name: &str) -> TestResult<IpAddr> {
        let ctx = gather_pod(&self.facts, &self.ns, name, "", &self.node).await?;
        let mut req = request(&self.ns, name, &ctx.pod.uid, &self.node, &self.pool);
        req.pod = ctx.pod;
        Ok(address(&self.agent.add(&req).await?))
    }

    async fn delete(&self, name: &str, grace: u32) -> TestResult<()> {
        let params = DeleteParams { grace_period_seconds: Some(grace), ..Default::default() };
        self.pods().delete(name, &params).await?;
        Ok(())
    }

    /// Pool records: address → pod UID.
    async fn records(&self) -> TestResult<std::collections::BTreeMap<IpAddr, String>> {
        records(&self.scope.client(), &self.pool).await
    }

    /// Two scans a grace period apart; the report of the second.
    async fn collect(&self) -> TestResult<ScanReport> {
        let first = self.gc.scan().await?;
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
        let second = self.gc.scan().await?;
        assert!(second.errors.is_empty(), "{:?}", second.errors);
        Ok(second)
    }

    /// Every endpoint's UID holds exactly the records of that UID, and
    /// every record's UID has its endpoint.
    async fn assert_agree(&self) -> TestResult<()> {
        let records = self.records().await?;
        let eps = endpoints(&self.scope.client(), &self.ns).await?;
        for uid in records.values() {
            assert!(eps.values().any(|u| u == uid), "record of {uid} without endpoint: {eps:?}");
        }
        for (name, uid) in &eps {
            assert!(records.values().any(|u| u == uid), "endpoint {name} ({uid}) without records");
        }
        Ok(())
    }

    async fn wait_pod(&self, name: &str, not_uid: Option<&str>) -> TestResult<Pod> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(p) = self.pods().get_opt(name).await?
                && p.metadata.deletion_timestamp.is_none()
                && p.metadata.uid.as_deref() != not_uid
            {
                return Ok(p);
            }
            if Instant::now() > deadline {
                return Err(format!("pod {name} did not appear in 60 s").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn statefulset(&self, name: &str, replicas: i32) -> TestResult<()> {
        // Its pods (deleted after the set, at once: no kubelet confirms).
        for i in 0..3 {
            self.scope.track_resource::<Pod>(Some(&self.ns), &format!("{name}-{i}"));
        }
        self.scope.track_resource::<StatefulSet>(Some(&self.ns), name);
        let set: StatefulSet = serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"nodeName": self.node, "automountServiceAccountToken": false,
                        "containers": [{"name": "c", "image": "none"}]}}}}))?;
        let api: Api<StatefulSet> = Api::namespaced(self.scope.client(), &self.ns);
        api.create(&PostParams::default(), &set).await?;
        Ok(())
    }

    async fn scale(&self, name: &str, replicas: i32) -> TestResult<()> {
        let api: Api<StatefulSet> = Api::namespaced(self.scope.client(), &self.ns);
        let patch = json!({"spec": {"replicas": replicas}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }
}

fn uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_deleted_without_del_is_freed_after_the_grace_period() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-del", &["10.77.0.10-10.77.0.12"]).await?;
    let keep = w.pod("keep").await?;
    let gone = w.pod("gone").await?;
    let keep_ip = w.add("keep").await?;
    let gone_ip = w.add("gone").await?;
    w.delete("gone", 0).await?;

    let first = w.gc.scan().await?;
    assert_eq!((first.waiting, first.released.len()), (1, 0), "{first:?}");
    assert_eq!(w.records().await?.get(&gone_ip), Some(&uid(&gone)), "kept until the grace ends");
    tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
    let second = w.gc.scan().await?;
    assert_eq!(second.released, vec![(w.pool.clone(), gone_ip)], "{second:?}");

    let records = w.records().await?;
    assert_eq!(records.get(&keep_ip), Some(&uid(&keep)));
    assert_eq!(records.get(&gone_ip), None);
    let eps = endpoints(&w.scope.client(), &w.ns).await?;
    assert!(!eps.contains_key("gone"), "the endpoint (and its finalizer) is gone: {eps:?}");
    w.assert_agree().await?;
    let stats = w.gc.stats();
    assert_eq!(stats.released.get("pod_deleted"), Some(&1));
    assert_eq!(stats.scans, 2);
    // Nothing more to do: a third scan releases nothing.
    assert!(w.collect().await?.released.is_empty());
    Ok(())
}

/// Spiderpool #1187: a same-name pod re-created with a new UID before its
/// predecessor's DEL: the old records go, the new pod's stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_1187_a_same_name_pod_with_a_new_uid() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-1187", &["10.77.0.20-10.77.0.22"]).await?;
    let old = w.pod("web").await?;
    let old_ip = w.add("web").await?;
    w.delete("web", 0).await?;
    let new = w.pod("web").await?;
    assert_ne!(uid(&old), uid(&new));

    let report = w.collect().await?;
    assert_eq!(report.released, vec![(w.pool.clone(), old_ip)], "{report:?}");
    assert_eq!(w.gc.stats().released.get("uid_changed"), Some(&1));
    assert!(w.records().await?.is_empty());
    // The new pod's ADD, then GC keeps it.
    let new_ip = w.add("web").await?;
    assert!(w.collect().await?.released.is_empty());
    assert_eq!(w.records().await?.get(&new_ip), Some(&uid(&new)));
    w.assert_agree().await
}

/// Spiderpool #2442 and #2526: a StatefulSet pod restarted with a new UID
/// keeps its IP, and while the member runs its IP is never handed to another
/// pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_2442_2526_a_restarted_statefulset_member_keeps_its_ip() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-2442", &["10.77.0.30-10.77.0.31"]).await?;
    w.statefulset("db", 1).await?;
    let first = w.wait_pod("db-0", None).await?;
    w.set_phase("db-0", "Running").await?;
    let ip = w.add("db-0").await?;

    // The pod is deleted (no DEL) and the controller re-creates it.
    w.delete("db-0", 0).await?;
    let second = w.wait_pod("db-0", Some(&uid(&first))).await?;
    let report = w.collect().await?;
    assert!(report.released.is_empty(), "{report:?}");
    assert_eq!(w.records().await?.get(&ip), Some(&uid(&first)), "kept for the member");
    w.set_phase("db-0", "Running").await?;
    assert_eq!(w.add("db-0").await?, ip, "the new pod gets the member's address");
    assert_eq!(w.records().await?.get(&ip), Some(&uid(&second)));

    // #2526: the running member's address is not freed nor handed out.
    assert!(w.collect().await?.released.is_empty());
    w.pod("other").await?;
    let other_ip = w.add("other").await?;
    assert_ne!(other_ip, ip);
    w.assert_agree().await
}

/// Spiderpool #3778: a StatefulSet scaled down and quickly up again: the
/// member's address, re-allocated to its new pod, is never freed — also by
/// a release decided before the re-allocation and carried out after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_3778_scale_down_and_up_never_frees_a_reallocated_ip() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-3778", &["10.77.0.40-10.77.0.43"]).await?;
    w.statefulset("db", 2).await?;
    w.wait_pod("db-0", None).await?;
    let old = w.wait_pod("db-1", None).await?;
    w.add("db-0").await?;
    let ip = w.add("db-1").await?;

    w.scale("db", 1).await?;
    // The controller deletes db-1 gracefully; the test, as its kubelet,
    // confirms.
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.pods().get_opt("db-1").await?.is_some_and(|p| p.metadata.deletion_timestamp.is_none()) {
        assert!(Instant::now() < deadline, "db-1 not deleted by the controller");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if w.pods().get_opt("db-1").await?.is_some() {
        w.delete("db-1", 0).await?;
    }
    let first = w.gc.scan().await?;
    assert_eq!(first.waiting, 1, "db-1 is no longer wanted: suspected {first:?}");

    w.scale("db", 2).await?;
    let new = w.wait_pod("db-1", Some(&uid(&old))).await?;
    assert_eq!(w.add("db-1").await?, ip, "re-allocated to the new member");
    tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
    let second = w.gc.scan().await?;
    assert!(second.released.is_empty(), "{second:?}");
    assert_eq!(w.records().await?.get(&ip), Some(&uid(&new)));

    // A release of the old holder decided earlier frees nothing now.
    let stale = Holder { namespace: w.ns.clone(), name: "db-1".into(), uid: uid(&old) };
    let outcome =
        release_holder(&w.agent.allocator, &stale, true, None, &[(w.pool.clone(), ip)]).await?;
    assert!(outcome.released.is_empty(), "{outcome:?}");
    assert_eq!(w.records().await?.get(&ip), Some(&uid(&new)));
    w.assert_agree().await
}

/// Spiderpool #4864: a terminating pod keeps its IP inside its grace period;
/// past it (and for a finished pod, and a pod whose node is gone) the IP goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_4864_terminating_pods_keep_their_ip_inside_the_grace_period() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-4864", &["10.77.0.50-10.77.0.53"]).await?;
    let slow = w.pod("slow").await?;
    let done = w.pod("done").await?;
    let slow_ip = w.add("slow").await?;
    let done_ip = w.add("done").await?;
    w.delete("slow", 30).await?;
    w.set_phase("done", "Succeeded").await?;

    let report = w.collect().await?;
    assert_eq!(report.released, vec![(w.pool.clone(), done_ip)], "{report:?}");
    assert_eq!(w.records().await?.get(&slow_ip), Some(&uid(&slow)), "inside its grace period");
    assert_eq!(w.gc.stats().released.get("pod_finished"), Some(&1));
    let _ = done;

    // A shorter grace period (a second delete), now past.
    w.delete("slow", 1).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = w.collect().await?;
    assert_eq!(report.released, vec![(w.pool.clone(), slow_ip)], "{report:?}");
    assert_eq!(w.gc.stats().released.get("terminating_overdue"), Some(&1));

    // A pod whose node is deleted.
    let lost = w.pod("lost").await?;
    let lost_ip = w.add("lost").await?;
    assert!(w.gc.scan().await?.released.is_empty(), "alive on its node");
    let nodes: Api<KubeNode> = Api::all(w.scope.client());
    nodes.delete(&w.node, &DeleteParams::default()).await?;
    let report = w.collect().await?;
    assert_eq!(report.released, vec![(w.pool.clone(), lost_ip)], "{report:?}");
    assert!(!w.records().await?.values().any(|u| *u == uid(&lost)));
    w.assert_agree().await?;
    let listed = w.pods().list(&ListParams::default()).await?;
    assert!(listed.items.iter().any(|p| p.metadata.name.as_deref() == Some("lost")));
    Ok(())
}

/// The leader's entry point: `run` waits for its caches, scans, and a pod
/// deleted without DEL (traced from the pod watch) is freed about a grace
/// period later; `run` returns when shutdown completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_frees_a_traced_deletion_and_stops_on_shutdown() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-run", &["10.77.0.60-10.77.0.61"]).await?;
    let label = w.gc.options().store.scope_label.clone().unwrap();
    w.pod("alive").await?;
    w.pod("gone").await?;
    let alive_ip = w.add("alive").await?;
    let gone_ip = w.add("gone").await?;
    let options = GcOptions::default().with_scope_label(&label.0, &label.1).with_timing(
        Duration::from_secs(600),
        GRACE,
        Duration::from_millis(300),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gc = tokio::spawn(spiderpool_k8s::gc::run(w.scope.client(), options, async move {
        let _ = stopped.await;
    }));
    // Let the first scan (at start) find nothing to do.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deleted = Instant::now();
    w.delete("gone", 0).await?;
    while w.records().await?.contains_key(&gone_ip) {
        assert!(deleted.elapsed() < Duration::from_secs(20), "not freed in 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = deleted.elapsed();
    assert!(took >= GRACE, "freed after {took:?}, before the grace period");
    assert!(w.records().await?.contains_key(&alive_ip));
    println!("traced deletion freed after {took:?} (grace {GRACE:?})");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), gc).await??.map_err(|e| e.to_string())?;
    w.assert_agree().await
}

/// KubeVirt: a VM's address, recorded under its VirtualMachineInstance
/// (`ns/vm1`, endpoint `vm1`), stays while the VMI or its VirtualMachine
/// exists — also when the launcher pod is deleted without a DEL — and is
/// freed, with the endpoint, once both are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubevirt_vm_keeps_its_ip_until_the_vmi_and_the_vm_are_gone() -> TestResult<()> {
    use kube::api::DynamicObject;
    use spiderpool_core::kind::by_kind;
    use spiderpool_k8s::dynamic::api_resource;

    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    install_kubevirt_crds(&cluster.client()).await?;
    let w = world(&cluster, "gc-vm", &["10.77.0.10-10.77.0.12"]).await?;
    let api = |kind: &str| {
        let resource = api_resource(by_kind(kind).unwrap());
        Api::<DynamicObject>::namespaced_with(w.scope.client(), &w.ns, &resource)
    };
    let create = |kind: &'static str, owner: Option<(&'static str, String)>| {
        let api = api(kind);
        async move {
            let owners: Vec<_> = owner
                .map(|(k, uid)| {
                    json!({"apiVersion": "kubevirt.io/v1", "kind": k, "name": "vm1",
                    "uid": uid, "controller": true})
                })
                .into_iter()
                .collect();
            let object: DynamicObject =
                serde_json::from_value(json!({"apiVersion": "kubevirt.io/v1",
                "kind": kind, "metadata": {"name": "vm1", "ownerReferences": owners}}))?;
            let created = api.create(&PostParams::default(), &object).await?;
            TestResult::Ok(created.metadata.uid.unwrap_or_default())
        }
    };
    let vm = create("VirtualMachine", None).await?;
    let vmi = create("VirtualMachineInstance", Some(("VirtualMachine", vm))).await?;
    let launcher = "virt-launcher-vm1-abcde";
    w.scope.track_resource::<Pod>(Some(&w.ns), launcher);
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": launcher,
        "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "name": "vm1", "uid": vmi, "controller": true}]},
        "spec": {"nodeName": w.node, "automountServiceAccountToken": false,
            "containers": [{"name": "compute", "image": "none"}]}}))?;
    w.pods().create(&PostParams::default(), &pod).await?;
    let pod = w.set_phase(launcher, "Running").await?;
    let ip = w.add(launcher).await?;
    assert_eq!(w.records().await?.get(&ip), Some(&uid(&pod)));
    assert!(endpoints(&w.scope.client(), &w.ns).await?.contains_key("vm1"));

    // The launcher pod is deleted without a DEL: the VMI still wants the address.
    w.delete(launcher, 0).await?;
    let kept = w.collect().await?;
    assert!(kept.released.is_empty(), "{kept:?}");
    assert_eq!((kept.kept, kept.waiting), (1, 0), "kept by the collector's rule: {kept:?}");
    // The VMI goes, the VM stays (stopped): still kept.
    api("VirtualMachineInstance").delete("vm1", &DeleteParams::default()).await?;
    assert!(w.collect().await?.released.is_empty());
    assert_eq!(w.records().await?.get(&ip), Some(&uid(&pod)));
    // The VM goes: freed, with the endpoint.
    api("VirtualMachine").delete("vm1", &DeleteParams::default()).await?;
    let freed = w.collect().await?;
    assert_eq!(freed.released, vec![(w.pool.clone(), ip)], "{freed:?}");
    assert!(w.records().await?.is_empty());
    assert!(!endpoints(&w.scope.client(), &w.ns).await?.contains_key("vm1"));
    Ok(())
}
