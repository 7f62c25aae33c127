//! IP garbage collection against a real API server: the events a release
//! posts on the pool and the pod, the counters, the cancel path (the fresh
//! re-read before a release shows the pod alive again, or replaced by a
//! same-name pod), and objects that bypassed admission (skipped with an
//! event; the others still collected). The test plays the kubelet and the
//! agent as `gc_scenarios.rs` does.
#![allow(clippy::unwrap_used)]

mod common;
mod gc_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{LABEL, create_pool, create_raw};
use gc_support::{GRACE, World, uid, world, world_with};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use spiderpool_core::model::{
    IPPoolStatus, PoolIpAllocation, SpiderEndpoint, SpiderIPPool, render_allocated_ips,
};
use spiderpool_k8s::Kind;
use spiderpool_k8s::gc::{GC_SKIPPED, IP_RELEASE_FAILED, IP_RELEASED};
use spiderpool_k8s::testing::{TestCluster, TestResult};

/// The core/v1 events about object `name` (of `kind`) in `namespace`.
async fn events_of(w: &World, namespace: &str, kind: &str, name: &str) -> TestResult<Vec<Event>> {
    let api: Api<Event> = Api::namespaced(w.scope.client(), namespace);
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    Ok(api.list(&ListParams::default().fields(&selector)).await?.items)
}

/// Waits (up to 10 s) for an event of `reason` about `name` whose message
/// contains every one of `words`; returns it.
async fn wait_event(
    w: &World,
    namespace: &str,
    kind: &str,
    name: &str,
    reason: &str,
    words: &[&str],
) -> TestResult<Event> {
    for _ in 0..50 {
        let found = events_of(w, namespace, kind, name).await?.into_iter().find(|e| {
            let msg = e.message.as_deref().unwrap_or("");
            e.reason.as_deref() == Some(reason) && words.iter().all(|w| msg.contains(w))
        });
        if let Some(e) = found {
            return Ok(e);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = events_of(w, namespace, kind, name).await?;
    let seen: Vec<_> = all.iter().map(|e| (e.reason.clone(), e.message.clone())).collect();
    Err(format!("no {reason} event on {kind} {name} with {words:?}; seen: {seen:?}").into())
}

/// Deletes the events about the test's pools in `default` (cluster-scoped
/// objects' events live there).
async fn delete_pool_events(w: &World, pools: &[&str]) {
    let api: Api<Event> = Api::namespaced(w.scope.client(), "default");
    for pool in pools {
        for e in events_of(w, "default", "SpiderIPPool", pool).await.unwrap_or_default() {
            if let Some(name) = e.metadata.name {
                let _ = api.delete(&name, &Default::default()).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_posts_events_on_the_pool_and_the_pod_and_counts() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-ev", &["10.78.0.10-10.78.0.12"]).await?;
    w.pod("gone").await?;
    let done = w.pod("done").await?;
    let gone_ip = w.add("gone").await?;
    let done_ip = w.add("done").await?;
    w.delete("gone", 0).await?;
    w.set_phase("done", "Failed").await?;
    // The collector's pod cache sees the new phase.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let report = w.collect().await?;
    assert_eq!(report.released.len(), 2, "{report:?}");
    let stats = w.gc.stats();
    assert_eq!(stats.released.get("pod_deleted"), Some(&1), "{stats:?}");
    assert_eq!(stats.released.get("pod_finished"), Some(&1), "{stats:?}");
    assert_eq!((stats.scans, stats.scan_errors, stats.cancelled, stats.failures), (2, 0, 0, 0));
    assert_eq!((stats.holders, stats.suspects), (2, 0), "{stats:?}");
    assert!(stats.last_scan_duration > Duration::ZERO && stats.last_scan_unix > 0);

    // On the pool (cluster-scoped: its events are in `default`), one per
    // released pod, naming the pod, its UID, the address, the pool and why.
    let e = wait_event(
        &w,
        "default",
        "SpiderIPPool",
        &w.pool,
        IP_RELEASED,
        &[&format!("{}/gone", w.ns), &gone_ip.to_string(), &w.pool, "pod_deleted"],
    )
    .await?;
    println!("pool event: {:?}", e.message);
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    assert_eq!(
        e.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("spiderpool-controller")
    );
    wait_event(
        &w,
        "default",
        "SpiderIPPool",
        &w.pool,
        IP_RELEASED,
        &[&format!("{}/done", w.ns), &uid(&done), &done_ip.to_string(), "pod_finished"],
    )
    .await?;
    // On the pod that still exists (finished), in its namespace.
    let e = wait_event(&w, &w.ns, "Pod", "done", IP_RELEASED, &[&done_ip.to_string()]).await?;
    assert_eq!(e.involved_object.uid.as_deref(), Some(uid(&done).as_str()));
    // `kubectl describe` finds the pool's events (they carry its UID).
    let out = cluster.kubectl().args(["describe", "spiderippool", &w.pool]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(IP_RELEASED) && text.contains(&gone_ip.to_string()), "{text}");
    delete_pool_events(&w, &[&w.pool]).await;
    w.scope.cleanup().await;
    Ok(())
}

/// The cancel path: a release that two observations agreed on is cancelled
/// when the fresh read from the API server, right before the write, shows
/// the pod changed since the cache showed it — here a finished pod running
/// again (it keeps its address) and a deleted pod re-created with the same
/// name (a new UID: the old UID's address goes only after new observations).
/// Twenty deleted pods are released first, one at a time, so the changes
/// land between the cache's look and the targets' fresh reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_cancelled_when_the_fresh_read_shows_the_pod_changed() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world_with(&cluster, "gc-cancel", &["10.78.1.10-10.78.1.40"], |mut o| {
        o.release_concurrency = 1;
        o
    })
    .await?;
    let fillers: Vec<String> = (0..20).map(|i| format!("a{i:02}")).collect();
    for name in &fillers {
        w.pod(name).await?;
        w.add(name).await?;
    }
    let revived = w.pod("z-revived").await?;
    let revived_ip = w.add("z-revived").await?;
    let replaced = w.pod("z-replaced").await?;
    let replaced_ip = w.add("z-replaced").await?;
    for name in &fillers {
        w.delete(name, 0).await?;
    }
    w.set_phase("z-revived", "Failed").await?;
    w.delete("z-replaced", 0).await?;
    // The collector's pod cache sees the changes.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let first = w.gc.scan().await?;
    assert_eq!(first.waiting, 22, "{first:?}");
    tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
    let holders = w.records().await?.len();
    let change = async {
        // The first filler's release means every holder has been looked at
        // in the cache: change the two targets before their turn comes.
        while w.records().await?.len() == holders {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        w.set_phase("z-revived", "Running").await?;
        w.pod("z-replaced").await?;
        TestResult::Ok(())
    };
    let (second, changed) = tokio::join!(w.gc.scan(), change);
    changed?;
    let second = second?;
    println!("second scan: {second:?}");
    assert_eq!(second.cancelled, 2, "{second:?}");
    assert_eq!(second.released.len(), 20, "{second:?}");
    assert_eq!(w.gc.stats().cancelled, 2);
    let records = w.records().await?;
    assert_eq!(records.get(&revived_ip), Some(&uid(&revived)));
    assert_eq!(records.get(&replaced_ip), Some(&uid(&replaced)), "not freed by the cancelled try");

    // Observed anew: the revived pod keeps; the replaced one's old UID goes
    // as `uid_changed` after two more observations.
    let third = w.collect().await?;
    assert_eq!(third.released.len(), 1, "{third:?}");
    assert_eq!(third.released[0].1, replaced_ip);
    assert_eq!(w.gc.stats().released.get("uid_changed"), Some(&1));
    assert_eq!(w.records().await?.get(&revived_ip), Some(&uid(&revived)));
    w.assert_agree().await?;
    delete_pool_events(&w, &[&w.pool]).await;
    w.scope.cleanup().await;
    Ok(())
}

/// Objects that bypassed admission: a pool whose `status.allocatedIPs` is
/// not JSON, a pool record whose `pod` is not `namespace/name`, and a
/// SpiderEndpoint without a pod UID are skipped — each with a Warning event
/// on the object, once — while a deleted pod's address is still collected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_objects_are_skipped_with_an_event_and_the_rest_collected() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-bad", &["10.78.2.10-10.78.2.12"]).await?;
    let client = w.scope.client();
    let api = SpiderIPPool::api(client.clone(), None);
    // A pool with garbage in its status.
    let bad_status = w.scope.name("bad-status");
    create_pool(&w.scope, &bad_status, "10.78.3.0/24", &["10.78.3.1-10.78.3.5"], &w.label).await?;
    let mut object = api.get(&bad_status).await?;
    object.status =
        Some(IPPoolStatus { allocated_ips: Some("{not json".into()), ..Default::default() });
    api.replace_status(&bad_status, &PostParams::default(), &object).await?;
    // A pool whose record names a pod without a namespace.
    let bad_record = w.scope.name("bad-record");
    create_pool(&w.scope, &bad_record, "10.78.4.0/24", &["10.78.4.1-10.78.4.5"], &w.label).await?;
    let records = BTreeMap::from([
        ("10.78.4.1".parse().unwrap(), PoolIpAllocation::new("no-namespace", "uid-x")),
        ("10.78.4.2".parse().unwrap(), PoolIpAllocation::new("neither", "uid-y")),
    ]);
    let mut object = api.get(&bad_record).await?;
    object.status = Some(IPPoolStatus {
        allocated_ips: render_allocated_ips(&records),
        allocated_ip_count: Some(2),
        ..Default::default()
    });
    api.replace_status(&bad_record, &PostParams::default(), &object).await?;
    // A SpiderEndpoint without a pod UID.
    let ep: SpiderEndpoint = serde_json::from_value(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderEndpoint",
        "metadata": {"name": "no-uid", "namespace": w.ns, "labels": {LABEL: w.label}},
        "status": {"current": {"uid": "", "node": w.node,
            "ips": [{"interface": "eth0", "ipv4": "10.78.2.99/24", "ipv4Pool": w.pool}]}}
    }))?;
    create_raw(&client, ep).await?;
    // And a pod deleted without DEL, on the good pool.
    w.pod("gone").await?;
    let gone_ip = w.add("gone").await?;
    w.delete("gone", 0).await?;
    // The store has seen the bad pool.
    for _ in 0..50 {
        if w.gc.scan().await?.skipped.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let report = w.collect().await?;
    println!("{report:#?}");
    // The others are collected (by the last scan, or by one of the waiting
    // loop's if it ran a grace period long).
    assert!(!w.records().await?.contains_key(&gone_ip), "the deleted pod's address is freed");
    assert_eq!(w.gc.stats().released.get("pod_deleted"), Some(&1));
    assert_eq!(report.skipped.len(), 4, "{:?}", report.skipped);
    let stats = w.gc.stats();
    for reason in ["invalid_pool", "invalid_record", "no_uid"] {
        assert!(stats.skipped.get(reason).copied().unwrap_or(0) >= 2, "{reason}: {stats:?}");
    }
    let e = wait_event(
        &w,
        "default",
        "SpiderIPPool",
        &bad_status,
        GC_SKIPPED,
        &[&bad_status, "status.allocatedIPs"],
    )
    .await?;
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert!(e.involved_object.uid.is_some(), "with the UID, for kubectl describe: {e:?}");
    // Both bad records of one pool in one event (not two replacing each
    // other at every scan).
    let words = ["10.78.4.1", "no-namespace", "10.78.4.2", "neither"];
    wait_event(&w, "default", "SpiderIPPool", &bad_record, GC_SKIPPED, &words).await?;
    wait_event(&w, &w.ns, "SpiderEndpoint", "no-uid", GC_SKIPPED, &["no pod UID"]).await?;
    // Once per object and message, however many scans skip it.
    for pool in [&bad_status, &bad_record] {
        let skipped = events_of(&w, "default", "SpiderIPPool", pool).await?;
        let n = skipped.iter().filter(|e| e.reason.as_deref() == Some(GC_SKIPPED)).count();
        assert_eq!(n, 1, "{pool}: {skipped:?}");
    }
    // The bad record is untouched.
    let object = api.get(&bad_record).await?;
    assert!(object.status.unwrap().allocated_ips.unwrap().contains("no-namespace"));
    delete_pool_events(&w, &[&w.pool, &bad_status, &bad_record]).await;
    w.scope.cleanup().await;
    Ok(())
}

/// A release that fails — here a SpiderEndpoint written by hand whose
/// address does not parse, of a pod that does not exist — is counted,
/// reported on the endpoint with `IPReleaseFailed` (once, however many scans
/// try again), and tried again at the next scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_release_is_reported_on_the_endpoint_and_tried_again() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let w = world(&cluster, "gc-fail", &["10.78.5.10-10.78.5.12"]).await?;
    let ep: SpiderEndpoint = serde_json::from_value(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderEndpoint",
        "metadata": {"name": "bad-ip", "namespace": w.ns, "labels": {LABEL: w.label}},
        "status": {"current": {"uid": "uid-bad", "node": w.node,
            "ips": [{"interface": "eth0", "ipv4": "not-an-ip", "ipv4Pool": w.pool}]}}
    }))?;
    create_raw(&w.scope.client(), ep).await?;
    let mut failures = Vec::new();
    for _ in 0..3 {
        let report = w.gc.scan().await?;
        failures.push(report.errors.len());
        tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
    }
    // First observation, then a failed release at each later scan.
    assert_eq!(failures, vec![0, 1, 1]);
    assert_eq!(w.gc.stats().failures, 2);
    let e = wait_event(&w, &w.ns, "SpiderEndpoint", "bad-ip", IP_RELEASE_FAILED, &["not-an-ip"])
        .await?;
    println!("{:?}", e.message);
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    let all = events_of(&w, &w.ns, "SpiderEndpoint", "bad-ip").await?;
    assert_eq!(all.len(), 1, "reported once: {all:?}");
    assert!(SpiderEndpoint::api(w.scope.client(), Some(&w.ns)).get_opt("bad-ip").await?.is_some());
    w.scope.cleanup().await;
    Ok(())
}
