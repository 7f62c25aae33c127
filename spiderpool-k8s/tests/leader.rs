//! Leader election against a real API server: a leader cut off from the API
//! server steps down within its renew deadline, another replica takes over
//! only after that (no two terms overlap), and the first replica leads — and
//! starts its work — again once it wins the Lease back (Spiderpool #409,
//! #1154). A shutdown releases the Lease.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use spiderpool_k8s::leader::{ElectionConfig, LeaderElector, StepDown, WorkError};
use spiderpool_k8s::testing::{ApiProxy, TestCluster, TestResult};
use tokio::sync::watch;

/// One start or stop of a term's work: (replica, started?, when).
type Log = Arc<Mutex<Vec<(String, bool, Instant)>>>;

fn config(namespace: &str, identity: &str) -> ElectionConfig {
    ElectionConfig {
        namespace: namespace.to_owned(),
        lease_name: "test-lease".to_owned(),
        identity: identity.to_owned(),
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_secs(1),
    }
}

/// Work that logs its start and its stop.
fn work(
    id: &str,
    log: Log,
) -> impl Fn(
    StepDown,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), WorkError>> + Send>>
+ Send
+ Sync
+ 'static {
    let id = id.to_owned();
    move |mut stop: StepDown| {
        let id = id.clone();
        let log = log.clone();
        Box::pin(async move {
            log.lock().unwrap().push((id.clone(), true, Instant::now()));
            stop.wait().await;
            log.lock().unwrap().push((id, false, Instant::now()));
            Ok(())
        })
    }
}

fn events(log: &Log, id: &str, started: bool) -> Vec<Instant> {
    log.lock().unwrap().iter().filter(|(i, s, _)| i == id && *s == started).map(|e| e.2).collect()
}

async fn wait_for(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> TestResult<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return Ok(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{what}: not within {limit:?}").into())
}

struct Replica {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    status: watch::Receiver<spiderpool_k8s::leader::LeaderStatus>,
}

fn start(client: kube::Client, config: ElectionConfig, log: Log) -> Replica {
    let id = config.identity.clone();
    let elector = LeaderElector::new(client, config).unwrap();
    let status = elector.status();
    let (stop, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        elector
            .run(work(&id, log), async move {
                let _ = rx.wait_for(|v| *v).await;
            })
            .await;
    });
    Replica { stop, task, status }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_steps_down_before_another_takes_over_and_leads_again_later()
-> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("leader");
    let ns = scope.namespace("leader").await?;
    let proxy = ApiProxy::start(cluster.apiserver_addr()?).await?;
    let client_a = kube::Client::try_from(cluster.config_through(proxy.addr())?)?;
    let log: Log = Arc::default();

    let a = start(client_a, config(&ns, "a"), log.clone());
    wait_for(Duration::from_secs(10), "a leads", || !events(&log, "a", true).is_empty()).await?;
    let b = start(cluster.client(), config(&ns, "b"), log.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(events(&log, "b", true).is_empty(), "b started while a renews: {log:?}");

    // Cut a off the API server: it cannot renew.
    let cut = Instant::now();
    proxy.cut();
    let a_stopped =
        wait_for(Duration::from_secs(8), "a steps down", || !events(&log, "a", false).is_empty())
            .await?;
    let b_started =
        wait_for(Duration::from_secs(12), "b takes over", || !events(&log, "b", true).is_empty())
            .await?;
    let a_stop = events(&log, "a", false)[0];
    let b_start = events(&log, "b", true)[0];
    println!(
        "a stepped down {:?} after the cut, b took over {:?} after it",
        a_stopped - cut,
        b_started - cut
    );
    assert!(a_stop <= b_start, "terms overlap: a stopped after b started");
    // Renew deadline 3 s, retry 1 s: a gives up within ~4 s of its last renewal.
    assert!(a_stopped - cut <= Duration::from_secs(5), "a stepped down late");
    // Lease duration 4 s + renew deadline 3 s (+ a retry period and polling).
    assert!(b_started - cut <= Duration::from_secs(8), "b took over late");
    assert!(!a.status.borrow().is_leader);
    assert_eq!(a.status.borrow().lost, 1);

    // a can reach the API server again; b shuts down and releases the Lease:
    // a leads again and its work starts again.
    proxy.restore();
    let released = Instant::now();
    b.stop.send(true)?;
    b.task.await?;
    wait_for(Duration::from_secs(6), "a leads again", || events(&log, "a", true).len() == 2)
        .await?;
    println!("a led again {:?} after b released the Lease", released.elapsed());
    assert_eq!(a.status.borrow().terms, 2);
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &ns);
    let lease = leases.get("test-lease").await?;
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("a"));
    assert_eq!(spec.lease_transitions, Some(2));

    a.stop.send(true)?;
    a.task.await?;
    let spec = leases.get("test-lease").await?.spec.unwrap();
    assert_eq!(spec.holder_identity, None, "a shutdown releases the Lease");
    assert_eq!(events(&log, "a", false).len(), 2, "every term's work stopped: {log:?}");
    Ok(())
}
