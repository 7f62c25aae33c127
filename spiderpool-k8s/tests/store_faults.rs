//! Faults, against a real API server: the API server restarted in the middle
//! of a burst; a watch that expires (410 Gone) while the store is cut off;
//! pool objects that bypassed admission (garbage `spec.ips`, bad
//! `status.allocatedIPs` JSON).
//!
//! The restart tests need the `scripts/k8s-testenv.sh` environment (they
//! restart its kube-apiserver); the tests of this binary run one at a time.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{LABEL, Node, address, create_pool, create_raw, join_all, records, request, setup};
use kube::api::{DeleteParams, PostParams};
use spiderpool_core::model::{
    IPPoolSpec, IPPoolStatus, ReservedIPSpec, SpiderIPPool, SpiderReservedIP,
};
use spiderpool_core::store::{PoolStore, StoreError};
use spiderpool_k8s::testing::{ApiProxy, TestCluster, TestResult};
use spiderpool_k8s::{CommitMode, Kind, KubeStoreOptions};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn labels(label: &str) -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([(LABEL.to_owned(), label.to_owned())]))
}

/// Waits up to `limit` for `check` to hold.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> TestResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{what}: not within {limit:?}").into())
}

/// Two nodes allocate 60 pods each, staggered over three seconds, while the
/// API server restarts (down ~1 s, back ~8 s later). In-flight ADDs fail with
/// a clear error; run again (as the kubelet does) every pod gets an address:
/// none handed out twice, none lost, no record left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apiserver_restart_in_the_middle_of_a_burst() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    if cluster.testenv_dir().is_none() {
        println!("skipped: the cluster is not a scripts/k8s-testenv.sh environment");
        return Ok(());
    }
    let _serial = SERIAL.lock().await;
    for (mode, commit) in
        [("group commit", CommitMode::Group), ("one write per allocation", CommitMode::PerWrite)]
    {
        let client = cluster.client();
        let (scope, namespace, label) = setup(&cluster, "restart").await?;
        let pool = scope.name("pool");
        create_pool(&scope, &pool, "10.63.0.0/16", &["10.63.1.1-10.63.1.250"], &label).await?;
        let mut nodes = Vec::new();
        for n in 0..2 {
            nodes.push(Arc::new(
                Node::start(client.clone(), &format!("node-{n}"), commit, &label).await?,
            ));
        }
        let mut pods = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..60 {
            for node in &nodes {
                let uid = format!("{}-uid-{i}", node.name);
                let req =
                    request(&namespace, &format!("{}-pod-{i}", node.name), &uid, &node.name, &pool);
                pods.push((node.clone(), req.clone()));
                let node = node.clone();
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50 * i)).await;
                    (req.pod.uid.clone(), node.add(&req).await)
                }));
            }
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let restart = Instant::now();
        cluster.restart_apiserver(Duration::from_secs(1)).await?;
        let restart_took = restart.elapsed();
        let first = join_all(tasks).await;
        let failed: BTreeSet<String> =
            first.iter().filter(|(_, r)| r.is_err()).map(|(u, _)| u.clone()).collect();
        for (uid, result) in &first {
            if let Err(e) = result {
                assert!(
                    e.contains("store backend") || e.contains("conflict") || e.contains("gave up"),
                    "{mode}: {uid}: not a clear error: {e}"
                );
            }
        }
        println!(
            "{mode}: restart took {restart_took:?}; {} of {} ADDs failed during it, e.g. {:?}",
            failed.len(),
            first.len(),
            first.iter().find_map(|(_, r)| r.as_ref().err())
        );
        // The kubelet runs a failed ADD again.
        let mut granted: BTreeMap<String, IpAddr> = BTreeMap::new();
        for (uid, result) in first {
            if let Ok(a) = result {
                granted.insert(uid, address(&a));
            }
        }
        for (node, req) in &pods {
            if failed.contains(&req.pod.uid) {
                let a = node
                    .add(req)
                    .await
                    .map_err(|e| format!("{mode}: retry of {}: {e}", req.pod.uid))?;
                granted.insert(req.pod.uid.clone(), address(&a));
            }
        }
        assert_eq!(granted.len(), 120, "{mode}: every pod has an address");
        let mut by_ip: BTreeMap<IpAddr, Vec<&str>> = BTreeMap::new();
        for (uid, ip) in &granted {
            by_ip.entry(*ip).or_default().push(uid);
        }
        let twice: Vec<_> = by_ip.iter().filter(|(_, uids)| uids.len() > 1).collect();
        if !twice.is_empty() {
            let stored = records(&client, &pool).await?;
            println!("{mode}: handed out twice: {twice:?}");
            println!("{mode}: first round failed: {failed:?}");
            println!("{mode}: stored: {stored:?}");
        }
        let distinct: BTreeSet<IpAddr> = granted.values().copied().collect();
        assert_eq!(distinct.len(), 120, "{mode}: an address was handed out twice");
        let stored = records(&client, &pool).await?;
        let expected: BTreeMap<IpAddr, String> =
            granted.iter().map(|(u, ip)| (*ip, u.clone())).collect();
        assert_eq!(stored, expected, "{mode}: the pool holds exactly the pods' records");
        for node in &nodes {
            println!("  {}: {:?}", node.name, node.store().stats());
        }
        drop(nodes);
        scope.cleanup().await;
    }
    Ok(())
}

/// The store is cut off the API server (its connections dropped, new ones
/// refused) while pools and reserved IPs change, and the API server restarts
/// (a new watch cache: resuming from the store's resourceVersion answers 410
/// Gone). Let back, the store relists and holds exactly the API server's
/// objects; health says unreachable while cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_expiry_relists_without_missing_events() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    if cluster.testenv_dir().is_none() {
        println!("skipped: the cluster is not a scripts/k8s-testenv.sh environment");
        return Ok(());
    }
    let _serial = SERIAL.lock().await;
    let client = cluster.client();
    let (scope, namespace, label) = setup(&cluster, "expiry").await?;
    let (kept, changed, gone, born) =
        (scope.name("kept"), scope.name("changed"), scope.name("gone"), scope.name("born"));
    for name in [&kept, &changed, &gone] {
        create_pool(&scope, name, "10.64.0.0/16", &["10.64.1.1-10.64.1.10"], &label).await?;
    }
    let proxy = ApiProxy::start(cluster.apiserver_addr()?).await?;
    let config = cluster.config_through(proxy.addr())?;
    let options = KubeStoreOptions::default().with_scope_label(LABEL, &label);
    let node = Node::with_options(kube::Client::try_from(config)?, "node-a", options).await?;
    let store = node.store();
    let before = store.stats();
    assert_eq!(store.list_pools().await?.len(), 3);
    assert!(store.health().await.is_ok());

    proxy.cut();
    // Health probes the API server at most once a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = store.health().await.unwrap_err();
    assert!(err.to_string().contains("kubernetes API server unreachable"), "{err}");
    // Meanwhile: a record appears in one pool, one pool goes, one is born, a
    // reserved IP is added.
    let api = SpiderIPPool::api(client.clone(), None);
    let mut object = api.get(&changed).await?;
    object.status = Some(IPPoolStatus {
        allocated_ips: Some(r#"{"10.64.1.1":{"pod":"other/p","podUid":"elsewhere"}}"#.into()),
        allocated_ip_count: Some(1),
        total_ip_count: Some(10),
        ..Default::default()
    });
    api.replace_status(&changed, &PostParams::default(), &object).await?;
    api.delete(&gone, &DeleteParams::default()).await?;
    create_pool(&scope, &born, "10.64.0.0/16", &["10.64.2.1-10.64.2.10"], &label).await?;
    let mut reserved = SpiderReservedIP::new(
        scope.name("reserved"),
        ReservedIPSpec { ips: vec!["10.64.1.5".into()], ..Default::default() },
    );
    reserved.metadata.labels = labels(&label);
    scope.track::<SpiderReservedIP>(None, reserved.metadata.name_str());
    create_raw(&client, reserved).await?;
    cluster.restart_apiserver(Duration::ZERO).await?;
    proxy.restore();

    eventually(Duration::from_secs(60), "the store catches up", || async {
        let names: BTreeSet<String> = match store.list_pools().await {
            Ok(pools) => pools.iter().map(|p| p.metadata.name_str().to_owned()).collect(),
            Err(_) => return false,
        };
        let holder = store
            .read_pool(&changed, |s| {
                s.record(&"10.64.1.1".parse().unwrap()).map(|r| r.pod_uid.clone())
            })
            .await;
        let reserved = store.list_reserved_ips().await.map(|r| r.len()).unwrap_or(0);
        names == BTreeSet::from([kept.clone(), changed.clone(), born.clone()])
            && matches!(holder, Ok(Some(v)) if v.value.as_deref() == Some("elsewhere"))
            && reserved == 1
    })
    .await?;
    let after = store.stats();
    println!("before: {before:?}\nafter:  {after:?}");
    assert!(after.watch_errors > before.watch_errors, "the watches failed while cut off");
    assert!(after.watch_expiries > before.watch_expiries, "the watches expired (410 Gone)");
    assert!(after.lists > before.lists, "the store relisted");
    assert!(store.health().await.is_ok());
    // And allocates from what it relisted: 10.64.1.1 is taken, 10.64.1.5 reserved.
    let req = request(&namespace, "p", "u-p", "node-a", &changed);
    let got = node.add(&req).await?;
    assert_eq!(address(&got).to_string(), "10.64.1.2");
    drop(node);
    scope.cleanup().await;
    Ok(())
}

/// Pools created straight in the API (no admission) with garbage
/// `spec.ips` or bad `status.allocatedIPs` JSON: reported with the object and
/// the field, read as `Invalid`, skipped; the other pools keep allocating,
/// and a fixed pool comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pools_that_bypassed_admission_are_reported_and_skipped() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let _serial = SERIAL.lock().await;
    let client = cluster.client();
    let (scope, namespace, label) = setup(&cluster, "bad").await?;
    let (good, bad_ips, bad_status) =
        (scope.name("good"), scope.name("bad-ips"), scope.name("bad-status"));
    create_pool(&scope, &good, "10.65.0.0/16", &["10.65.1.1-10.65.1.10"], &label).await?;
    create_pool(&scope, &bad_ips, "10.65.0.0/16", &["10.65.2.1-not-an-ip"], &label).await?;
    create_pool(&scope, &bad_status, "10.65.0.0/16", &["10.65.3.1-10.65.3.10"], &label).await?;
    let api = SpiderIPPool::api(client.clone(), None);
    let mut object = api.get(&bad_status).await?;
    object.status =
        Some(IPPoolStatus { allocated_ips: Some("{not json".into()), ..Default::default() });
    api.replace_status(&bad_status, &PostParams::default(), &object).await?;

    let node = Node::start(client.clone(), "node-a", CommitMode::Group, &label).await?;
    let store = node.store();
    eventually(Duration::from_secs(10), "both bad pools are rejected", || async {
        store.rejected().len() == 2
    })
    .await?;
    let rejected = store.rejected();
    println!("{rejected:#?}");
    let reason_of =
        |name: &str| rejected.iter().find(|r| r.name == name).map(|r| r.reason.clone()).unwrap();
    assert!(
        reason_of(&bad_ips).contains(&format!("SpiderIPPool {bad_ips}: spec.ips[0]")),
        "{}",
        reason_of(&bad_ips)
    );
    assert!(reason_of(&bad_status).contains("status.allocatedIPs"), "{}", reason_of(&bad_status));
    let err = store.read_pool(&bad_ips, |_| ()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    let listed: Vec<String> =
        store.list_pools().await?.iter().map(|p| p.metadata.name_str().to_owned()).collect();
    assert_eq!(listed, std::slice::from_ref(&good));
    assert!(store.health().await.is_ok(), "bad objects do not make the store unhealthy");

    // The good pool allocates; a pod that asks for a bad pool gets a clear error.
    for i in 0..3 {
        let req = request(&namespace, &format!("p{i}"), &format!("u{i}"), "node-a", &good);
        node.add(&req).await?;
    }
    let err = node.add(&request(&namespace, "q", "uq", "node-a", &bad_ips)).await.unwrap_err();
    assert!(err.contains(&bad_ips), "{err}");
    assert_eq!(records(&client, &good).await?.len(), 3);

    // Fixed by hand: allocatable again.
    let mut object = api.get(&bad_ips).await?;
    object.spec = IPPoolSpec {
        subnet: "10.65.0.0/16".into(),
        ips: vec!["10.65.2.1-10.65.2.10".into()],
        ..object.spec
    };
    api.replace(&bad_ips, &PostParams::default(), &object).await?;
    eventually(Duration::from_secs(10), "the fixed pool is accepted", || async {
        store.rejected().len() == 1
    })
    .await?;
    let got = node.add(&request(&namespace, "q", "uq", "node-a", &bad_ips)).await?;
    assert_eq!(address(&got).to_string(), "10.65.2.1");
    drop(node);
    scope.cleanup().await;
    Ok(())
}

/// A store started while the API server cannot be reached waits: reads fail
/// after `sync_timeout` saying which kinds were never listed and why, health
/// says the same; once the API server is reachable the store syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_started_without_the_api_server_waits_and_says_why() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let _serial = SERIAL.lock().await;
    let (scope, _namespace, label) = setup(&cluster, "nostart").await?;
    let pool = scope.name("pool");
    create_pool(&scope, &pool, "10.66.0.0/16", &["10.66.1.1-10.66.1.10"], &label).await?;
    let proxy = ApiProxy::start(cluster.apiserver_addr()?).await?;
    proxy.cut();
    let client = kube::Client::try_from(cluster.config_through(proxy.addr())?)?;
    let mut options = KubeStoreOptions::default().with_scope_label(LABEL, &label);
    options.sync_timeout = Duration::from_secs(2);
    let store = spiderpool_k8s::KubeStore::new(client, options)?;
    let err = store.list_pools().await.unwrap_err().to_string();
    println!("{err}");
    assert!(
        err.starts_with(
            "store backend: kubernetes store not ready: waiting for the first list of spiderippools"
        ),
        "{err}"
    );
    assert!(err.contains("last error:") && err.contains("(after 2s)"), "{err}");
    let health = store.health().await.unwrap_err().to_string();
    assert!(health.contains("not ready"), "{health}");
    proxy.restore();
    eventually(Duration::from_secs(90), "the store syncs", || async {
        store.wait_synced().await.is_ok()
    })
    .await?;
    assert_eq!(store.list_pools().await?.len(), 1);
    assert!(store.health().await.is_ok());
    drop(store);
    scope.cleanup().await;
    Ok(())
}
