//! Two `spiderpool-controller` processes on a real API server: SIGKILL the
//! leader, the other takes over within the lease duration plus the renew
//! deadline, and the leader's work resumes there (the heartbeat the leader
//! writes into a ConfigMap, `--leader-heartbeat-configmap`, continues under
//! the new holder). Then a SIGTERM of the new leader releases the Lease and
//! a restarted first process leads at once. With the reconcilers running, a
//! pool created at the moment of the SIGKILL gets its finalizer and counts
//! from the new leader.
#![allow(clippy::unwrap_used)]

mod controller_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use controller_common::{Controller, eventually};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use spiderpool_core::model::{IPPoolSpec, SpiderIPPool};
use spiderpool_k8s::Kind;
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

/// Reconciliation resumes after a fail-over: two controllers run the
/// reconcilers (scoped to the test's label); after a SIGKILL of the leader,
/// a pool created at that moment gets its finalizer and true counts from
/// the other replica, within the lease duration plus the renew deadline
/// plus the reconcilers' start (caches listed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_leader_resumes_pool_reconciliation_on_the_other_replica() -> TestResult<()>
{
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("ctl-failover");
    let ns = scope.namespace("ctl-failover").await?;
    let label = scope.name("l");
    let scope_label = format!("{POOL_LABEL}={label}");
    let mut args = args(&ns);
    args.retain(|a| a != "--leader-heartbeat-configmap" && a != "heartbeat");
    args.extend(
        [
            "--reconcile=true",
            "--enable-multus-config=false",
            "--enable-coordinator=false",
            "--scope-label",
            &scope_label,
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let kubeconfig = cluster.kubeconfig().to_owned();
    let tag = std::process::id();
    let mut a = Controller::start(&kubeconfig, &format!("ra-{tag}"), &args)?;
    let mut b = Controller::start(&kubeconfig, &format!("rb-{tag}"), &args)?;
    a.wait_ready(Duration::from_secs(30)).await?;
    b.wait_ready(Duration::from_secs(30)).await?;
    let pools = SpiderIPPool::api(cluster.client(), None);
    let first = create_pool(&scope, &label, "first", "10.82.0.1-10.82.0.4").await?;
    eventually(Duration::from_secs(30), "the first leader reconciles a pool", || async {
        reconciled(&pools, &first, 4).await.then_some(())
    })
    .await?;
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &ns);
    let holder = leases.get("spiderpool-controller-leases").await?.spec.unwrap().holder_identity;
    let (leader, follower) = if holder.as_deref() == Some(a.identity.as_str()) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };

    let killed = Instant::now();
    leader.kill();
    let second = create_pool(&scope, &label, "second", "10.82.1.1-10.82.1.6").await?;
    let follower_id = follower.identity.clone();
    let took_lease = eventually(Duration::from_secs(20), "the other replica leads", || async {
        let spec = leases.get("spiderpool-controller-leases").await.ok()?.spec?;
        (spec.holder_identity.as_deref() == Some(follower_id.as_str())).then(|| killed.elapsed())
    })
    .await?;
    let took = eventually(Duration::from_secs(30), "the new leader reconciles", || async {
        reconciled(&pools, &second, 6).await.then(|| killed.elapsed())
    })
    .await
    .map_err(|e| format!("{e}\n{}", follower.log_text()))?;
    println!(
        "leader SIGKILLed: the other replica held the Lease {took_lease:?} later and had \
         reconciled a pool created at the kill {took:?} later"
    );
    assert!(took_lease <= LEASE + RENEW + Duration::from_secs(1), "take-over took {took_lease:?}");
    assert!(
        took <= LEASE + RENEW + Duration::from_secs(5),
        "reconciliation resumed after {took:?}"
    );
    follower.terminate(Duration::from_secs(10))?;
    scope.cleanup().await;
    Ok(())
}

const POOL_LABEL: &str = "spiderpool-rs.test/failover";

/// Creates a pool labelled for the test's controllers; its name.
async fn create_pool(
    scope: &spiderpool_k8s::testing::TestScope,
    label: &str,
    base: &str,
    ips: &str,
) -> TestResult<String> {
    let name = scope.name(base);
    let mut pool = SpiderIPPool::new(
        &name,
        IPPoolSpec { subnet: "10.82.0.0/16".into(), ips: vec![ips.into()], ..Default::default() },
    );
    pool.metadata.labels = Some(BTreeMap::from([(POOL_LABEL.to_owned(), label.to_owned())]));
    scope.create(pool).await?;
    Ok(name)
}

/// Whether pool `name` has Spiderpool's finalizer and true counts.
async fn reconciled(pools: &Api<spiderpool_k8s::IPPoolObject>, name: &str, total: i64) -> bool {
    let Ok(pool) = pools.get(name).await else { return false };
    let finalized =
        pool.metadata.finalizers.iter().flatten().any(|f| f == "spiderpool.spidernet.io");
    let status = pool.status.unwrap_or_default();
    finalized && status.total_ip_count == Some(total) && status.allocated_ip_count == Some(0)
}
