//! IP garbage collection against a real API server, with
//! kube-controller-manager running the StatefulSet controller. The test
//! plays the kubelet (it sets pod status and confirms deletions) and the
//! agent (allocations through the core allocator over `KubeStore`, with the
//! pod facts gathered as the agent gathers them). Each test drives
//! `Collector::scan` itself, with a short observation grace.
#![allow(clippy::unwrap_used)]

mod common;
mod gc_support;

use std::time::{Duration, Instant};

use common::endpoints;
use gc_support::{GRACE, uid, world};
use k8s_openapi::api::core::v1::Node as KubeNode;
use kube::api::{Api, DeleteParams, ListParams};
use spiderpool_core::gc::{Holder, release_holder};
use spiderpool_k8s::gc::GcOptions;
use spiderpool_k8s::testing::{TestCluster, TestResult, install_kubevirt_crds};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_deleted_without_del_is_freed_after_the_grace_period() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-del", &["10.77.0.10-10.77.0.12"]).await?;
    let keep = w.pod("keep").await?;
    let gone = w.pod("gone").await?;
    let keep_ip = w.add("keep").await?;
    let gone_ip = w.add("gone").await?;
    w.delete("gone", 0).await?;
    // The collector's pod cache sees the deletion (a watch event away).
    tokio::time::sleep(Duration::from_millis(500)).await;

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
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{DynamicObject, PostParams};
    use serde_json::json;
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
