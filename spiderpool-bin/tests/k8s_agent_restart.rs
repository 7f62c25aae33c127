//! The API server restarted in the middle of a burst of plugin ADDs to two
//! `spiderpool-agent --store kubernetes` processes: every ADD either
//! succeeds or fails with a clear error, the kubelet's retries all succeed
//! through the same processes (no agent restart), no address is handed out
//! twice, what a pod was told is what the pool records, and after the DELs
//! no record or endpoint is left.
//!
//! It restarts the `scripts/k8s-testenv.sh` cluster's kube-apiserver, so it
//! is the only test of this binary (cargo runs test binaries one at a time:
//! no other test sees the API server go away) and skips on a cluster that
//! is not such an environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;
mod k8s_agent_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, PostParams};
use serde_json::json;
use spiderpool_k8s::testing::TestResult;

use k8s_agent_support::{Env, add, del, health, ip_of, wait_healthy};

const PODS_PER_AGENT: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_restart_mid_burst_of_adds_to_agent_processes() -> TestResult<()> {
    let Some(env) = Env::new("k8s-restart").await? else { return Ok(()) };
    if env.cluster.testenv_dir().is_none() {
        println!("skipped: the cluster is not a scripts/k8s-testenv.sh environment");
        return Ok(());
    }
    let pool = env.pool("restart", "10.205.0.0/16", &["10.205.0.10-10.205.0.209"]).await?;
    let node2 = env.scope.name("node2");
    env.scope.track_resource::<Node>(None, &node2);
    let object: Node = serde_json::from_value(json!({"metadata": {"name": node2}}))?;
    Api::<Node>::all(env.client()).create(&PostParams::default(), &object).await?;
    let mut agents = [env.agent("a", &[]), env.agent_on(&node2, "b", &[])];
    for agent in &mut agents {
        wait_healthy(agent, Duration::from_secs(60));
    }
    // (agent index, pod name, uid)
    let mut pods = Vec::new();
    for i in 0..PODS_PER_AGENT {
        for (a, node) in [(0, env.node.clone()), (1, node2.clone())] {
            let name = format!("r{a}-{i}");
            let uid = env.pod_on(&node, &name, &pool).await?;
            pods.push((a, name, uid));
        }
    }

    // The burst: ADDs staggered over two seconds; the API server goes down
    // 400 ms in, for a second.
    let burst: Vec<_> = pods
        .iter()
        .enumerate()
        .map(|(k, (a, name, uid))| {
            let (socket, ns) = (agents[*a].socket.clone(), env.ns.clone());
            let (name, uid) = (name.clone(), uid.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(25 * k as u64));
                let started = Instant::now();
                let result = add(&socket, &ns, &name, &uid, "c").map(|a| ip_of(&a));
                (result.map_err(|e| e.to_string()), started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let restart = Instant::now();
    env.cluster.restart_apiserver(Duration::from_secs(1)).await?;
    let restart_took = restart.elapsed();
    let first: Vec<(Result<String, String>, Duration)> =
        burst.into_iter().map(|t| t.join().unwrap()).collect();
    let failed: Vec<&str> =
        first.iter().filter_map(|(r, _)| r.as_ref().err()).map(|e| e.as_str()).collect();
    let slowest = first.iter().map(|(_, d)| *d).max().unwrap_or_default();
    println!(
        "restart took {restart_took:?}; {} of {} ADDs failed during it (slowest answer {slowest:?}); first and last error: {:?}",
        failed.len(),
        first.len(),
        (failed.first(), failed.last())
    );
    for ((_, name, _), (result, _)) in pods.iter().zip(&first) {
        let Err(e) = result else { continue };
        // A clear error: the pod, the request that failed and why.
        let pod = format!("{}/{name}", env.ns);
        assert!(e.contains(&pod), "the error names the pod {pod}: {e:?}");
        let cause = e.split(&pod).nth(1).unwrap_or_default();
        assert!(cause.trim_start_matches([':', ' ', '"']).len() > 10, "no cause in {e:?}");
    }

    // The agents recover without a restart: healthy again, and the
    // kubelet's retries of the failed ADDs succeed through them.
    for agent in &mut agents {
        wait_healthy(agent, Duration::from_secs(60));
        assert!(agent.child.try_wait()?.is_none(), "the agent kept running");
    }
    let mut granted: BTreeMap<String, String> = BTreeMap::new();
    for ((a, name, uid), (result, _)) in pods.iter().zip(&first) {
        let ip = match result {
            Ok(ip) => ip.clone(),
            Err(_) => {
                let answer = add(&agents[*a].socket, &env.ns, name, uid, "c").unwrap_or_else(|e| {
                    panic!("retry of {name}: {e}; log:\n{}", agents[*a].log_text())
                });
                ip_of(&answer)
            }
        };
        granted.insert(uid.clone(), ip);
    }
    let distinct: BTreeSet<&String> = granted.values().collect();
    assert_eq!(distinct.len(), pods.len(), "an address each, none twice: {granted:?}");
    let records = env.records(&pool).await?;
    assert_eq!(records.len(), pods.len(), "no lost and no leaked record: {records:?}");
    for (_, name, uid) in &pods {
        let record = &records[&granted[uid]];
        assert_eq!(
            (record.pod.as_str(), record.pod_uid.as_str()),
            (&*format!("{}/{name}", env.ns), uid.as_str())
        );
    }
    assert_eq!(env.endpoints().await?.len(), pods.len());

    // The pods go: DELs free everything.
    for (a, name, uid) in &pods {
        env.delete_pod(name).await?;
        del(&agents[*a].socket, &env.ns, name, uid, "c")
            .unwrap_or_else(|e| panic!("DEL {name}: {e}; log:\n{}", agents[*a].log_text()));
    }
    let records = env.records(&pool).await?;
    assert!(records.is_empty(), "records left after the DELs: {records:?}");
    assert!(env.endpoints().await?.is_empty(), "endpoints left after the DELs");
    for agent in &mut agents {
        assert!(health(&agent.socket).is_ok());
        assert!(agent.terminate().success(), "log:\n{}", agent.log_text());
    }
    env.scope.cleanup().await;
    Ok(())
}
