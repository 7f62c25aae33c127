//! Load figure of the collector (docs/performance.md): N pods get addresses
//! through the agent's allocator over `KubeStore`, N are then deleted
//! without a CNI DEL while L others stay; the collector (`gc::run`, default
//! options) runs meanwhile. Measured: the time from the deletion until every
//! address of the deleted pods is free (records and endpoints), and how many
//! addresses of live pods were released (must be 0).
//!
//! Ignored by default (minutes, 1000+ pods on the API server):
//! `SPIDERPOOL_TEST_KUBECONFIG=... cargo test -p spiderpool-k8s --test gc_load -- --ignored --nocapture`
//! (`GC_LOAD_PODS`, default 1000; `GC_LOAD_LIVE`, default 50).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{LABEL, Node, address, create_pool, endpoints, join_all, records, request, setup};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node as KubeNode, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use spiderpool_k8s::CommitMode;
use spiderpool_k8s::gc::{Collector, GcOptions};
use spiderpool_k8s::testing::{TestCluster, TestResult};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load figure: minutes and 1000+ pods; run with --ignored"]
async fn gc_frees_every_deleted_pods_address_and_no_live_one() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (n, live) = (env_count("GC_LOAD_PODS", 1000), env_count("GC_LOAD_LIVE", 50));
    let (scope, ns, label) = setup(&cluster, "gc-load").await?;
    let node = scope.name("node");
    scope.track_resource::<KubeNode>(None, &node);
    let nodes: Api<KubeNode> = Api::all(scope.client());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": node}}))?,
        )
        .await?;
    let pool = scope.name("pool");
    create_pool(&scope, &pool, "10.78.0.0/16", &["10.78.0.1-10.78.255.254"], &label).await?;
    let pods: Api<Pod> = Api::namespaced(scope.client(), &ns);

    // The pods (no kubelet: they stay Pending, alive for the rules).
    let started = Instant::now();
    let created: Vec<(String, String, bool)> = futures::stream::iter(0..n + live)
        .map(|i| {
            let (pods, node) = (pods.clone(), node.clone());
            async move {
                let doomed = i < n;
                let name = format!("p-{i}");
                let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name,
                    "labels": {"doomed": doomed.to_string()}},
                    "spec": {"nodeName": node, "automountServiceAccountToken": false,
                        "containers": [{"name": "c", "image": "none"}]}}))
                .unwrap();
                let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
                (name, pod.metadata.uid.unwrap(), doomed)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    println!("{} pods created in {:?}", created.len(), started.elapsed());

    // Their ADDs through one agent (group commit).
    let agent = Arc::new(Node::start(scope.client(), &node, CommitMode::Group, &label).await?);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (name, uid, doomed) in created.clone() {
        let (agent, ns, node, pool) = (agent.clone(), ns.clone(), node.clone(), pool.clone());
        tasks.push(tokio::spawn(async move {
            let req = request(&ns, &name, &uid, &node, &pool);
            (uid, doomed, agent.add(&req).await.map(|a| address(&a)))
        }));
    }
    let mut live_ips = std::collections::BTreeMap::new();
    for (uid, doomed, ip) in join_all(tasks).await {
        let ip = ip?;
        if !doomed {
            live_ips.insert(ip, uid);
        }
    }
    println!("{} addresses allocated in {:?}", n + live, started.elapsed());

    // The collector's decisions and scans, timestamped (with --nocapture).
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let only_gc = tracing_subscriber::filter::Targets::new()
            .with_target("spiderpool_k8s::gc", tracing::Level::DEBUG);
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_test_writer())
            .with(only_gc)
            .try_init();
    }
    // The collector, default options, running before the deletion.
    let options = GcOptions::default().with_scope_label(LABEL, &label);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let collector = Arc::new(Collector::start(scope.client(), options.clone()).await?);
    let running = collector.clone();
    let gc = tokio::spawn(async move {
        running
            .run_until(async move {
                let _ = stopped.await;
            })
            .await;
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let deleted = Instant::now();
    let params = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    pods.delete_collection(&params, &ListParams::default().labels("doomed=true")).await?;
    let limit = Duration::from_secs(900);
    loop {
        let held = records(&scope.client(), &pool).await?;
        let eps = endpoints(&scope.client(), &ns).await?;
        if held.len() <= live && eps.len() <= live {
            break;
        }
        assert!(deleted.elapsed() < limit, "{} records, {} endpoints left", held.len(), eps.len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = deleted.elapsed();
    let held = records(&scope.client(), &pool).await?;
    let live_released = live_ips.iter().filter(|(ip, uid)| held.get(*ip) != Some(*uid)).count();
    println!(
        "gc: {n} deleted pods' addresses free {:.1} s after the deletion \
         (grace {:?}, trace gap {:?}); live addresses released: {live_released} of {live}",
        took.as_secs_f64(),
        options.grace,
        options.trace_gap
    );
    stop.send(()).unwrap();
    gc.await?;
    let stats = collector.stats();
    println!(
        "gc stats: {} scans, released {:?}, {} cancelled, {} failed releases (retried), last scan {:?}",
        stats.scans, stats.released, stats.cancelled, stats.failures, stats.last_scan_duration
    );
    assert_eq!(live_released, 0);
    // Clean up the live pods at once (no kubelet).
    pods.delete_collection(&params, &ListParams::default()).await?;
    Ok(())
}
