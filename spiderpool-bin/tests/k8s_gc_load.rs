//! Load figure of IP garbage collection with the real processes
//! (docs/performance.md, "IP garbage collection, agent and controller
//! processes"): 10 `spiderpool-agent --store kubernetes` processes (one per
//! node) give 1000 + 50 pods their addresses through their sockets, as the
//! IPAM plugin asks; a `spiderpool-controller` process is the leader with
//! `--gc=true` (default timing: 30 s grace between the two observations);
//! the 1000 pods are then deleted at once (`deletecollection`, grace 0, no
//! CNI DEL), as after a node crash. Measured: the time from the deletion
//! until the pool holds only the 50 live pods' records and only their
//! SpiderEndpoints are left, and how many live pods' addresses were released
//! (must be 0).
//!
//! Ignored by default (minutes); the collector touches every pool of the
//! cluster, so `scripts/bench-k8s-gc.sh` runs it on a cluster of its own.
//! Settings: `GC_LOAD_AGENTS` (10), `GC_LOAD_PODS` (per agent, 100),
//! `GC_LOAD_LIVE` (50).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;
mod controller_common;
mod k8s_agent_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use spiderpool_k8s::testing::TestResult;

use controller_common::Controller;
use k8s_agent_support::{Env, IPPOOL, add, ip_of, wait_healthy};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Creates pod `name` on `node` asking for `pool`, labelled `doomed`;
/// returns (name, uid).
async fn pod(
    env: &Env,
    node: &str,
    name: String,
    pool: &str,
    doomed: bool,
) -> TestResult<(String, String)> {
    let object: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"doomed": doomed.to_string()},
            "annotations": {IPPOOL: format!("{{\"ipv4\":[\"{pool}\"]}}")}},
        "spec": {"nodeName": node, "automountServiceAccountToken": false,
                 "containers": [{"name": "c", "image": "none"}]}
    }))?;
    let created = Api::<Pod>::namespaced(env.client(), &env.ns)
        .create(&PostParams::default(), &object)
        .await?;
    Ok((name, created.metadata.uid.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "load figure: minutes and 1000+ pods; scripts/bench-k8s-gc.sh runs it"]
async fn gc_with_processes_frees_every_deleted_pods_address_and_no_live_one() -> TestResult<()> {
    let Some(env) = Env::new("gc-load").await? else { return Ok(()) };
    let (agents, per, live) =
        (count("GC_LOAD_AGENTS", 10), count("GC_LOAD_PODS", 100), count("GC_LOAD_LIVE", 50));
    let pool = env.pool("load", "10.79.0.0/16", &["10.79.0.1-10.79.255.254"]).await?;
    let mut nodes = vec![env.node.clone()];
    for a in 1..agents {
        let node = env.scope.name(&format!("n{a}"));
        env.scope.track_resource::<Node>(None, &node);
        let object: Node = serde_json::from_value(json!({"metadata": {"name": node}}))?;
        Api::<Node>::all(env.client()).create(&PostParams::default(), &object).await?;
        nodes.push(node);
    }
    // Pods: `per` doomed ones per node, the live ones on the first node.
    let mut pods: Vec<(usize, String, String, bool)> = Vec::new();
    for (a, node) in nodes.iter().enumerate() {
        for i in 0..per {
            let (name, uid) = pod(&env, node, format!("d{a}-{i}"), &pool, true).await?;
            pods.push((a, name, uid, true));
        }
    }
    for i in 0..live {
        let (name, uid) = pod(&env, &nodes[0], format!("live-{i}"), &pool, false).await?;
        pods.push((0, name, uid, false));
    }
    let mut procs: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(a, node)| env.agent_on(node, &format!("a{a}"), &["--log-level", "warn"]))
        .collect();
    for p in &mut procs {
        tokio::task::block_in_place(|| wait_healthy(p, Duration::from_secs(120)));
    }
    let sockets: Vec<_> = procs.iter().map(|p| p.socket.clone()).collect();
    let ns = env.ns.clone();
    let granted: Vec<(String, String, bool)> = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = pods
                .chunks(25)
                .map(|chunk| {
                    let (sockets, ns) = (&sockets, &ns);
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|(a, name, uid, doomed)| {
                                let answer = add(&sockets[*a], ns, name, uid, &format!("c-{name}"))
                                    .unwrap_or_else(|e| panic!("ADD {name}: {e}"));
                                (name.clone(), ip_of(&answer), *doomed)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        })
    });
    let live_ips: BTreeMap<String, String> =
        granted.iter().filter(|(_, _, d)| !d).map(|(n, ip, _)| (ip.clone(), n.clone())).collect();
    assert_eq!(env.records(&pool).await?.len(), agents * per + live);

    let mut controller =
        Controller::start(env.cluster.kubeconfig(), &env.scope.name("ctl"), &["--gc=true"])?;
    controller.wait_ready(Duration::from_secs(60)).await?;
    let started = Instant::now();
    let params = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
    Api::<Pod>::namespaced(env.client(), &env.ns)
        .delete_collection(&params, &ListParams::default().labels("doomed=true"))
        .await?;
    let deadline = started + Duration::from_secs(900);
    let elapsed = loop {
        let records = env.records(&pool).await?;
        let endpoints = env.endpoints().await?.len();
        if records.len() == live && endpoints == live {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "after {:?}: {} records, {endpoints} endpoints; controller log:\n{}",
            started.elapsed(),
            records.len(),
            controller.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let records = env.records(&pool).await?;
    let lost: Vec<&String> = live_ips.keys().filter(|ip| !records.contains_key(*ip)).collect();
    println!(
        "| {agents} agents × {per} pods deleted, {live} live | all deleted pods' addresses free after {:.1} s | live addresses released: {} |",
        elapsed.as_secs_f64(),
        lost.len()
    );
    assert!(lost.is_empty(), "live addresses released: {lost:?}");
    for (ip, name) in &live_ips {
        assert_eq!(records[ip].pod, format!("{}/{name}", env.ns), "{ip}");
    }
    controller.terminate(Duration::from_secs(30))?;
    for p in procs {
        let mut p = p;
        let _ = tokio::task::block_in_place(|| p.terminate());
    }
    Ok(())
}
