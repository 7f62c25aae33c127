//! Benchmark (ignored by default; `scripts/bench-k8s-agents.sh` runs it):
//! `spiderpool-agent --store kubernetes` PROCESSES, each with its own node
//! name, all pods of all agents ADDed at once through the agents' sockets,
//! against the real API server — group commit against `--group-commit=false`
//! (Spiderpool's one status write per allocation) in the same run.
//!
//! Per case it prints one Markdown table row: agents × pods, pools, mode,
//! pods granted, allocations/s (granted pods over the wall time of the
//! burst), status writes and 409s per pod (the API server's own
//! `apiserver_request_total` for `PUT spiderippools/status`), p50/p99 ADD
//! latency, and duplicates (must be 0).
//!
//! Settings (environment): `BENCH_AGENTS` (default `1 4 10`), `BENCH_PODS`
//! (pods per agent, default 100), `BENCH_POOLS` (default `1 10`),
//! `BENCH_MODES` (default `group per-write`), `BENCH_ADD_TIMEOUT`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;
use spiderpool_core::model::{IPPoolSpec, SpiderEndpoint, SpiderIPPool};
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope, request_counts};

use agent_harness::Dir;
use agent_harness::process::AgentProcess;

const LABEL: &str = "spiderpool-rs.test/bench";

fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// How long the benchmark waits for one ADD (`BENCH_ADD_TIMEOUT` seconds,
/// default 120; the IPAM plugin waits 100 s): an ADD not answered by then
/// counts as failed.
fn add_timeout() -> Duration {
    let s = std::env::var("BENCH_ADD_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    Duration::from_secs(s)
}

/// One ADD over a fresh connection (as the IPAM plugin makes it): status
/// and body, or why it failed.
fn add(socket: &Path, body: &serde_json::Value) -> Result<String, String> {
    let body = body.to_string();
    let mut s = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(add_timeout())).map_err(|e| e.to_string())?;
    let head = format!(
        "POST /v1/ipam/ip HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body.as_bytes()))
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{}: {}",
            head.lines().next().unwrap_or(""),
            body.chars().take(300).collect::<String>()
        ));
    }
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    Ok(value["ips"][0]["address"].as_str().unwrap_or_default().to_owned())
}

struct Case {
    agents: usize,
    pods: usize,
    pools: usize,
    group: bool,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64()
}

async fn create_pods(
    scope: &TestScope,
    ns: &str,
    nodes: &[String],
    case: &Case,
    pools: &[String],
) -> TestResult<Vec<(usize, String, String)>> {
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for (a, node) in nodes.iter().enumerate() {
        for i in 0..case.pods {
            let n = a * case.pods + i;
            let pool = &pools[n % pools.len()];
            let name = format!("p{n}");
            let pod: Pod = serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": {"ipam.spidernet.io/ippool": format!("{{\"ipv4\":[\"{pool}\"]}}")}},
                "spec": {"nodeName": node, "automountServiceAccountToken": false,
                         "containers": [{"name": "c", "image": "none"}]}
            }))?;
            let api: Api<Pod> = Api::namespaced(scope.client(), ns);
            set.spawn(async move {
                let created = api.create(&PostParams::default(), &pod).await?;
                Ok::<_, kube::Error>((a, name, created.metadata.uid.unwrap_or_default()))
            });
            if set.len() >= 32 {
                out.push(set.join_next().await.unwrap()??);
            }
        }
    }
    while let Some(r) = set.join_next().await {
        out.push(r??);
    }
    out.sort();
    Ok(out)
}

async fn run_case(cluster: &TestCluster, case: &Case) -> TestResult<String> {
    let scope = cluster.scope("bench");
    let ns = scope.namespace("bench").await?;
    let label = scope.name("l");
    scope.track_labelled::<SpiderEndpoint>(LABEL, &label);
    let dir = Dir::new("sp-bench");
    let total = case.agents * case.pods;
    let per_pool = total / case.pools + 10;
    let mut pools = Vec::new();
    for p in 0..case.pools {
        let name = scope.name(&format!("pool{p}"));
        let first = 10u32;
        let last = first + per_pool as u32 - 1;
        let spec = IPPoolSpec {
            subnet: format!("10.{}.0.0/16", 210 + p),
            ips: vec![format!(
                "10.{0}.{1}.{2}-10.{0}.{3}.{4}",
                210 + p,
                first / 256,
                first % 256,
                last / 256,
                last % 256
            )],
            ..Default::default()
        };
        let mut pool = SpiderIPPool::new(&name, spec);
        pool.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.clone())]));
        scope.create(pool).await?;
        pools.push(name);
    }
    let mut nodes = Vec::new();
    for a in 0..case.agents {
        let node = scope.name(&format!("n{a}"));
        scope.track_resource::<Node>(None, &node);
        let object: Node = serde_json::from_value(json!({"metadata": {"name": node}}))?;
        Api::<Node>::all(scope.client()).create(&PostParams::default(), &object).await?;
        nodes.push(node);
    }
    let pods = create_pods(&scope, &ns, &nodes, case, &pools).await?;
    let mut agents: Vec<AgentProcess> = Vec::new();
    for (a, node) in nodes.iter().enumerate() {
        let socket: PathBuf = dir.path().join(format!("a{a}.sock"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_spiderpool-agent"));
        c.args(["--store", "kubernetes", "--log-level", "warn", "--health-port", "0"]);
        c.arg("--kubeconfig").arg(cluster.kubeconfig()).arg("--node-name").arg(node);
        c.arg("--k8s-scope-label").arg(format!("{LABEL}={label}"));
        c.arg("--group-commit").arg(case.group.to_string());
        c.arg("--socket")
            .arg(&socket)
            .arg("--release-journal")
            .arg(dir.path().join(format!("a{a}.journal")));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SPIDERPOOL_") || k == "KUBECONFIG" {
                c.env_remove(k);
            }
        }
        agents.push(AgentProcess::spawn(c, &socket, &dir.path().join(format!("a{a}.log"))));
    }
    for agent in &mut agents {
        tokio::task::block_in_place(|| agent.wait_healthy(Duration::from_secs(60)));
    }

    let client = scope.client();
    let writes0 = request_counts(&client, "PUT", "spiderippools", "status").await?;
    let started = Instant::now();
    let threads: Vec<_> = pods
        .iter()
        .map(|(a, name, uid)| {
            let socket = agents[*a].socket.clone();
            let body = json!({"containerID": format!("c-{name}"), "ifName": "net1", "netNamespace": "/x",
                "podNamespace": ns, "podName": name, "podUID": uid});
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = add(&socket, &body);
                (r, t.elapsed())
            })
        })
        .collect();
    let results: Vec<(Result<String, String>, Duration)> =
        tokio::task::block_in_place(|| threads.into_iter().map(|t| t.join().unwrap()).collect());
    let wall = started.elapsed();
    let writes = request_counts(&client, "PUT", "spiderippools", "status").await?.since(&writes0);

    let mut latencies: Vec<Duration> =
        results.iter().filter(|(r, _)| r.is_ok()).map(|(_, d)| *d).collect();
    latencies.sort();
    let granted: Vec<&String> = results.iter().filter_map(|(r, _)| r.as_ref().ok()).collect();
    let distinct: BTreeSet<&String> = granted.iter().copied().collect();
    let duplicates = granted.len() - distinct.len();
    let failures: Vec<&String> = results.iter().filter_map(|(r, _)| r.as_ref().err()).collect();
    if let Some(f) = failures.first() {
        eprintln!("first failure of {}: {f}", failures.len());
    }
    for mut agent in agents {
        let _ = tokio::task::block_in_place(|| agent.terminate());
    }
    let per_pod = |n: u64| n as f64 / total as f64;
    Ok(format!(
        "| {} × {} | {} | {} | {}{} | {:.1} | {:.2} | {:.2} | {:.2} / {:.2} s | {} |",
        case.agents,
        case.pods,
        case.pools,
        if case.group { "group" } else { "per write" },
        granted.len(),
        if failures.is_empty() { String::new() } else { format!(" ({} failed)", failures.len()) },
        granted.len() as f64 / wall.as_secs_f64(),
        per_pod(writes.total()),
        per_pod(writes.code("409")),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        duplicates,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: scripts/bench-k8s-agents.sh runs it"]
async fn bench_agents_against_the_api_server() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let pods: usize = std::env::var("BENCH_PODS").ok().and_then(|p| p.parse().ok()).unwrap_or(100);
    println!(
        "| agents × pods | pools | mode | granted | allocations/s | status writes per pod | 409s per pod | p50 / p99 ADD latency | duplicates |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for agents in list("BENCH_AGENTS", "1 4 10") {
        for pools in list("BENCH_POOLS", "1 10") {
            for mode in list("BENCH_MODES", "group per-write") {
                let case = Case {
                    agents: agents.parse()?,
                    pods,
                    pools: pools.parse()?,
                    group: mode == "group",
                };
                let row = run_case(&cluster, &case).await?;
                println!("{row}");
                assert!(row.ends_with("| 0 |"), "duplicates: {row}");
            }
        }
    }
    Ok(())
}
