//! Two `spiderpool-controller` processes on a real API server: SIGKILL the
//! leader, the other takes over within the lease duration plus the renew
//! deadline, and the leader's work resumes there (the heartbeat the leader
//! writes into a ConfigMap, `--leader-heartbeat-configmap`, continues under
//! the new holder). Then a SIGTERM of the new leader releases the Lease and
//! a restarted first process leads at once.
#![allow(clippy::unwrap_used)]

mod controller_common;

use std::time::{Duration, Instant};

use controller_common::{Controller, eventually};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use spiderpool_k8s::testing::{TestCluster, TestResult};

const LEASE: Duration = Duration::from_secs(4);
const RENEW: Duration = Duration::from_secs(3);

fn args(ns: &str) -> Vec<String> {
    [
        "--namespace",
        ns,
        "--leader-election-lease-duration",
        "4s",
        "--leader-election-renew-deadline",
        "3s",
        "--leader-election-retry-period",
        "1s",
        "--leader-heartbeat-configmap",
        "heartbeat",
        "--webhook-configuration",
        "",
        "--tls-extra-san",
        "127.0.0.1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// (holder, beat) of the heartbeat ConfigMap.
async fn heartbeat(api: &Api<ConfigMap>) -> Option<(String, u64)> {
    let cm = api.get_opt("heartbeat").await.ok()??;
    let data = cm.data?;
    Some((data.get("holder")?.clone(), data.get("beat")?.parse().ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_leader_hands_the_work_to_the_other_replica() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("ctl-leader");
    let ns = scope.namespace("ctl-leader").await?;
    let args = args(&ns);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let kubeconfig = cluster.kubeconfig().to_owned();
    let tag = std::process::id();
    let mut a = Controller::start(&kubeconfig, &format!("a-{tag}"), &args)?;
    let mut b = Controller::start(&kubeconfig, &format!("b-{tag}"), &args)?;
    a.wait_ready(Duration::from_secs(30)).await?;
    b.wait_ready(Duration::from_secs(30)).await?;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client(), &ns);
    let (first, _) = eventually(Duration::from_secs(20), "a heartbeat", || async {
        heartbeat(&maps).await.filter(|(_, beat)| *beat >= 2)
    })
    .await?;
    let (leader, follower) = if first == a.identity { (&mut a, &mut b) } else { (&mut b, &mut a) };
    assert_eq!(first, leader.identity);

    let killed = Instant::now();
    leader.kill();
    let (second, _) =
        eventually(Duration::from_secs(20), "the other replica's heartbeat", || async {
            heartbeat(&maps).await.filter(|(holder, _)| *holder != first)
        })
        .await?;
    let took = killed.elapsed();
    println!("leader SIGKILLed; {second} wrote its first heartbeat {took:?} later");
    assert_eq!(second, follower.identity);
    // Lease duration + renew deadline, plus one heartbeat period of slack.
    assert!(took <= LEASE + RENEW + Duration::from_secs(1), "take-over took {took:?}");
    // The work goes on: more beats from the new leader.
    eventually(Duration::from_secs(10), "beats continue", || async {
        heartbeat(&maps).await.filter(|(h, beat)| *h == second && *beat >= 3)
    })
    .await?;
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &ns);
    let spec = leases.get("spiderpool-controller-leases").await?.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(second.as_str()));
    assert_eq!(spec.lease_transitions, Some(1));

    // SIGTERM: the leader stops its work and releases the Lease; a replica
    // started now leads at once (no wait for expiry).
    let status = follower.terminate(Duration::from_secs(10))?;
    assert!(status.success(), "SIGTERM exit: {status}\n{}", follower.log_text());
    let spec = leases.get("spiderpool-controller-leases").await?.spec.unwrap();
    assert_eq!(spec.holder_identity, None, "released on SIGTERM");
    let restarted = Instant::now();
    let mut c = Controller::start(&kubeconfig, &format!("c-{tag}"), &args)?;
    let c_id = c.identity.clone();
    eventually(Duration::from_secs(10), "c's heartbeat", || async {
        heartbeat(&maps).await.filter(|(h, _)| *h == c_id)
    })
    .await?;
    println!("after a released Lease, a new replica led {:?} after its start", restarted.elapsed());
    assert!(restarted.elapsed() < LEASE, "a released Lease is taken without waiting for expiry");
    c.terminate(Duration::from_secs(10))?;
    Ok(())
}
