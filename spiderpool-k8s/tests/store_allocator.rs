//! The core allocator over the Kubernetes store, against a real API server:
//! many concurrent allocations on one node, and several nodes on one pool
//! (a 409 storm), with group commit and with Spiderpool's one write per
//! allocation. Status writes are counted from the API server's `/metrics`.
//!
//! The tests of this binary run one at a time (they read global request
//! counters); they print what they measured (`--nocapture`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use common::{Node, address, create_pool, endpoints, join_all, records, request, setup};
use spiderpool_k8s::CommitMode;
use spiderpool_k8s::testing::{RequestCounts, TestCluster, TestResult, request_counts};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn status_writes(client: &kube::Client) -> TestResult<RequestCounts> {
    request_counts(client, "PUT", "spiderippools", "status").await
}

/// What a burst did.
struct Burst {
    /// Pod UID → address, for the pods that got one.
    granted: BTreeMap<String, IpAddr>,
    /// The errors the other pods got.
    errors: Vec<String>,
    /// Status writes (all codes) and 409s, from `/metrics`.
    writes: RequestCounts,
    seconds: f64,
}

/// Runs `per_node` concurrent ADDs on each node, all for `pool`.
async fn burst(
    client: &kube::Client,
    nodes: &[Arc<Node>],
    per_node: usize,
    namespace: &str,
    pool: &str,
) -> TestResult<Burst> {
    let before = status_writes(client).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for node in nodes {
        for i in 0..per_node {
            let node = node.clone();
            let uid = format!("{}-uid-{i}", node.name);
            let req = request(namespace, &format!("{}-pod-{i}", node.name), &uid, &node.name, pool);
            tasks.push(tokio::spawn(async move { (uid, node.add(&req).await) }));
        }
    }
    let results = join_all(tasks).await;
    let seconds = started.elapsed().as_secs_f64();
    let writes = status_writes(client).await?.since(&before);
    let mut granted = BTreeMap::new();
    let mut errors = Vec::new();
    for (uid, result) in results {
        match result {
            Ok(allocation) => {
                granted.insert(uid, address(&allocation));
            }
            Err(e) => errors.push(e),
        }
    }
    Ok(Burst { granted, errors, writes, seconds })
}

/// No address handed out twice; every pod told it has an address holds it
/// in the pool and has its endpoint.
async fn check_consistent(
    client: &kube::Client,
    burst: &Burst,
    namespace: &str,
    pool: &str,
) -> TestResult<()> {
    let addresses: BTreeSet<IpAddr> = burst.granted.values().copied().collect();
    assert_eq!(addresses.len(), burst.granted.len(), "an address was handed out twice");
    let stored = records(client, pool).await?;
    for (uid, ip) in &burst.granted {
        assert_eq!(stored.get(ip), Some(uid), "{uid} was told {ip}, the pool says otherwise");
    }
    let eps = endpoints(client, namespace).await?;
    for uid in burst.granted.keys() {
        assert!(eps.values().any(|u| u == uid), "no endpoint records {uid}");
    }
    Ok(())
}

fn report(what: &str, burst: &Burst, pods: usize) {
    println!(
        "{what}: {pods} pods, {} granted, {} failed, {:.2} s ({:.0} allocations/s), \
         {} status writes ({:.2} per pod), {} answered 409",
        burst.granted.len(),
        burst.errors.len(),
        burst.seconds,
        burst.granted.len() as f64 / burst.seconds,
        burst.writes.total(),
        burst.writes.total() as f64 / pods as f64,
        burst.writes.code("409"),
    );
}

/// 100 concurrent ADDs on one node: 100 distinct addresses; with group
/// commit far fewer status writes than allocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_allocations_on_one_node() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let _serial = SERIAL.lock().await;
    let client = cluster.client();
    for (mode, commit) in
        [("group commit", CommitMode::Group), ("one write per allocation", CommitMode::PerWrite)]
    {
        let (scope, namespace, label) = setup(&cluster, "one-node").await?;
        let pool = scope.name("pool");
        create_pool(&scope, &pool, "10.61.0.0/16", &["10.61.1.1-10.61.1.200"], &label).await?;
        let node = Arc::new(Node::start(client.clone(), "node-a", commit, &label).await?);
        let result = burst(&client, std::slice::from_ref(&node), 100, &namespace, &pool).await?;
        report(&format!("one node, {mode}"), &result, 100);
        assert!(result.errors.is_empty(), "{mode}: {:?}", result.errors);
        assert_eq!(result.granted.len(), 100);
        check_consistent(&client, &result, &namespace, &pool).await?;
        let stats = node.store().stats();
        println!("  store: {stats:?}");
        if commit == CommitMode::Group {
            assert!(
                result.writes.total() <= 25,
                "group commit: {} status writes for 100 allocations",
                result.writes.total()
            );
        } else {
            assert!(result.writes.total() >= 100, "one status write per allocation at least");
        }
        drop(node);
        scope.cleanup().await;
    }
    Ok(())
}

/// Several nodes, each with its own store and write queue, allocate from one
/// pool at once: every allocation succeeds or fails with a clear error, no
/// address is handed out twice, the 409s converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_racing_for_one_pool_converge_without_duplicates() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let _serial = SERIAL.lock().await;
    let client = cluster.client();
    let (nodes, per_node) = (4, 50);
    for (mode, commit) in
        [("group commit", CommitMode::Group), ("one write per allocation", CommitMode::PerWrite)]
    {
        let (scope, namespace, label) = setup(&cluster, "storm").await?;
        let pool = scope.name("pool");
        create_pool(&scope, &pool, "10.62.0.0/16", &["10.62.1.1-10.62.1.250"], &label).await?;
        let mut started = Vec::new();
        for n in 0..nodes {
            started.push(Arc::new(
                Node::start(client.clone(), &format!("node-{n}"), commit, &label).await?,
            ));
        }
        let result = burst(&client, &started, per_node, &namespace, &pool).await?;
        report(&format!("{nodes} nodes, {mode}"), &result, nodes * per_node);
        for node in &started {
            println!("  {}: {:?}", node.name, node.store().stats());
        }
        assert_eq!(result.granted.len() + result.errors.len(), nodes * per_node);
        for e in &result.errors {
            assert!(
                e.contains("conflict") || e.contains("gave up"),
                "{mode}: not a clear error: {e}"
            );
        }
        if commit == CommitMode::Group {
            assert!(result.errors.is_empty(), "group commit converges: {:?}", result.errors);
        }
        check_consistent(&client, &result, &namespace, &pool).await?;
        drop(started);
        scope.cleanup().await;
    }
    Ok(())
}
