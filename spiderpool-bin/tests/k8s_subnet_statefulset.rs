//! A StatefulSet's pods keep their addresses across restarts inside their
//! SpiderSubnet auto-pool, with every part real: the API server and
//! kube-controller-manager (the StatefulSet controller makes and re-makes
//! the pods), the application controller (`spiderpool_k8s::reconcile::run`
//! with the SpiderSubnet feature and auto-pools, scoped to the test's label,
//! as `spiderpool-controller` runs it) making and resizing the pool, and a
//! `spiderpool-agent --store kubernetes --enable-spider-subnet` process
//! answering the IPAM plugin's ADD and DEL. The test plays the kubelet: it
//! marks pods Running, sends the CNI requests and confirms deletions.
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;
mod k8s_agent_support;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use spiderpool_core::autopool::{AppRef, auto_pool_name};
use spiderpool_core::ip::IpFamily;
use spiderpool_core::model::{SpiderIPPool, SpiderSubnet, SubnetSpec};
use spiderpool_k8s::Kind;
use spiderpool_k8s::reconcile::{self, AutoPoolOptions, ReconcileError, ReconcileOptions};
use spiderpool_k8s::testing::TestResult;

use k8s_agent_support::{Env, LABEL, add, del, ip_of, subnet_agent_args, wait_healthy};

/// The agent's flags: SpiderSubnet on, IPv4 only, waiting for an auto-pool
/// up to 30 × 1 s.
fn agent_args() -> [&'static str; 8] {
    subnet_agent_args("30")
}

/// How long the test waits for the controllers (kube-controller-manager's
/// and ours) to act.
const WAIT: Duration = Duration::from_secs(60);

/// The subnet's addresses: 31, of which the pool takes the lowest.
const SUBNET_IPS: &str = "10.215.0.10-10.215.0.40";

/// Polls `probe` until it returns `Ok(value)`, or fails after [`WAIT`]
/// naming `what` and the last thing seen.
async fn eventually<T, F, Fut>(what: &str, probe: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Result<T, String>>>,
{
    spiderpool_k8s::testing::eventually(WAIT, what, probe).await
}

/// The reconcilers with the application controller, in this process,
/// scoped to the test's label; aborted when dropped.
struct Reconcilers {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ReconcileError>>,
}

impl Reconcilers {
    /// `spiderpool-controller --enable-spider-subnet` with auto-pools for
    /// applications (IPv4 only, one spare address), its objects and the
    /// pools it makes labelled `LABEL=label`.
    fn start(client: kube::Client, label: &str) -> Reconcilers {
        let options = ReconcileOptions {
            label_selector: Some(format!("{LABEL}={label}")),
            multus_config: false,
            coordinator: None,
            resync: Duration::from_secs(2),
            retry: Duration::from_millis(500),
            spider_subnet: true,
            auto_pool: Some(AutoPoolOptions {
                enable_ipv4: true,
                enable_ipv6: false,
                default_redundant: 1,
                pool_labels: BTreeMap::from([(LABEL.to_owned(), label.to_owned())]),
            }),
            ..ReconcileOptions::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(reconcile::run(client, options, async move {
            let _ = rx.await;
        }));
        Reconcilers { stop: Some(tx), task }
    }

    /// Stops them gracefully; their result.
    async fn stop(mut self) -> TestResult<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let finished = tokio::time::timeout(Duration::from_secs(20), &mut self.task).await;
        Ok(finished.map_err(|_| "reconcilers did not stop in 20 s")???)
    }
}

impl Drop for Reconcilers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The IPAM plugin's ADD (the agent client blocks: the runtime's other
/// tasks, the reconcilers, move to another worker meanwhile).
fn cni_add(env: &Env, socket: &std::path::Path, pod: &str, uid: &str, container: &str) -> Value {
    tokio::task::block_in_place(|| add(socket, &env.ns, pod, uid, container))
        .unwrap_or_else(|e| panic!("ADD {pod} ({uid}, {container}): {e}"))
}

/// The IPAM plugin's DEL.
fn cni_del(env: &Env, socket: &std::path::Path, pod: &str, uid: &str, container: &str) {
    tokio::task::block_in_place(|| del(socket, &env.ns, pod, uid, container))
        .unwrap_or_else(|e| panic!("DEL {pod} ({uid}, {container}): {e}"));
}

/// The pool's records as address → (pod name, pod UID, container ID).
async fn records(env: &Env, pool: &str) -> TestResult<BTreeMap<String, (String, String, String)>> {
    Ok(env
        .records(pool)
        .await?
        .into_iter()
        .map(|(ip, r)| (ip, (r.pod, r.pod_uid, r.container_id.unwrap_or_default())))
        .collect())
}

/// The endpoints of the test's namespace as pod name → (UID, `net1`'s IPv4
/// address with its prefix, its pool, the recorded controller kind).
async fn endpoints(env: &Env) -> TestResult<BTreeMap<String, (String, String, String, String)>> {
    let mut out = BTreeMap::new();
    for ep in env.endpoints().await? {
        let current = &ep.status.current;
        assert_eq!(current.ips.len(), 1, "one NIC: {:?}", ep.status);
        let nic = &current.ips[0];
        assert_eq!(nic.interface, "net1");
        out.insert(
            ep.metadata.name_str().to_owned(),
            (
                current.uid.clone(),
                nic.ipv4.clone().unwrap_or_default(),
                nic.ipv4_pool.clone().unwrap_or_default(),
                ep.status.owner_controller_type.clone(),
            ),
        );
    }
    Ok(out)
}

/// The test's auto-pools (every pool carrying its label).
async fn pools(env: &Env) -> TestResult<Vec<SpiderIPPool>> {
    let api = SpiderIPPool::api(env.client(), None);
    let list = api.list(&ListParams::default().labels(&format!("{LABEL}={}", env.label))).await?;
    Ok(list.items.into_iter().map(|p| p.into_core()).collect())
}

/// Waits until the test's only pool is `name` with exactly `ips` (live),
/// and the subnet's status says exactly that: `controlledIPPools` holds
/// that one pool with those addresses for `application`, the counts are
/// its size of the subnet's 31.
async fn pool_and_subnet_are(
    env: &Env,
    subnet: &str,
    name: &str,
    application: &str,
    ips: &[&str],
    size: i64,
) -> TestResult<()> {
    let ips: Vec<String> = ips.iter().map(|s| s.to_string()).collect();
    eventually(&format!("pool {name} is {ips:?} and SpiderSubnet {subnet} counts it"), || async {
        let pools = pools(env).await?;
        let seen: Vec<_> = pools
            .iter()
            .map(|p| {
                (p.metadata.name_str().to_owned(), p.spec.ips.clone(), p.metadata.is_terminating())
            })
            .collect();
        if seen != [(name.to_owned(), ips.clone(), false)] {
            return Ok(Err(format!("pools {seen:?}")));
        }
        let s = SpiderSubnet::api(env.client(), None).get(subnet).await?.into_core();
        let status = s.status.unwrap_or_default();
        let ledger: Vec<_> = status
            .controlled_pools()?
            .into_iter()
            .map(|(k, v)| (k, v.ips, v.application.unwrap_or_default()))
            .collect();
        let ok = ledger == [(name.to_owned(), ips.clone(), application.to_owned())]
            && status.allocated_ip_count == Some(size)
            && status.total_ip_count == Some(31);
        Ok(if ok {
            Ok(())
        } else {
            Err(format!(
                "subnet ledger {ledger:?}, allocated {:?}, total {:?}",
                status.allocated_ip_count, status.total_ip_count
            ))
        })
    })
    .await
}

/// Waits for pod `name` made by the StatefulSet controller, live and not
/// `not_uid`; marks it Running (the test is its kubelet); its UID.
async fn running_pod(env: &Env, name: &str, not_uid: Option<&str>) -> TestResult<String> {
    let api: Api<Pod> = Api::namespaced(env.client(), &env.ns);
    let uid = eventually(&format!("kube-controller-manager makes pod {name}"), || async {
        Ok(match api.get_opt(name).await? {
            Some(p)
                if p.metadata.deletion_timestamp.is_none()
                    && p.metadata.uid.as_deref() != not_uid =>
            {
                Ok(p.metadata.uid.unwrap_or_default())
            }
            Some(p) => Err(format!(
                "{name} {:?}, deleting: {}",
                p.metadata.uid,
                p.metadata.deletion_timestamp.is_some()
            )),
            None => Err(format!("no {name}")),
        })
    })
    .await?;
    let status = json!({"status": {"phase": "Running"}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(uid)
}

fn rec(pod: &str, uid: &str, container: &str) -> (String, String, String) {
    (pod.to_owned(), uid.to_owned(), container.to_owned())
}

fn ep(uid: &str, ip: &str, pool: &str) -> (String, String, String, String) {
    (uid.to_owned(), format!("{ip}/16"), pool.to_owned(), "StatefulSet".to_owned())
}

/// A StatefulSet of 2 with `ipam.spidernet.io/subnet` gets its auto-pool of
/// 3 from the application controller and its pods get the pool's lowest
/// addresses; db-0 deleted and re-created (new UID) gets the same address
/// back, its DEL having kept it, with the pool's record and the endpoint
/// moved to the new pod and db-1 untouched; scaled to 1, the pool shrinks to
/// the two held addresses (never db-0's), db-1's DEL frees its address, and
/// db-0 restarted again keeps its address rather than take the free one.
/// The pool, the records, the endpoints and the subnet's `controlledIPPools`
/// and `allocatedIPCount` are checked exactly at every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulsets_pods_keep_their_addresses_across_restarts_in_the_auto_pool()
-> TestResult<()> {
    let Some(env) = Env::new("k8s-subnet-sts").await? else { return Ok(()) };
    env.scope.track_labelled::<SpiderIPPool>(LABEL, &env.label);
    let mut sub = SpiderSubnet::new(
        env.scope.name("sub"),
        SubnetSpec {
            ip_version: Some(4),
            subnet: "10.215.0.0/16".into(),
            ips: vec![SUBNET_IPS.into()],
            ..SubnetSpec::default()
        },
    );
    sub.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), env.label.clone())]));
    let subnet = env.scope.create(sub).await?.into_core().metadata.name_str().to_owned();

    let mut agent = env.agent("a", &agent_args());
    tokio::task::block_in_place(|| wait_healthy(&mut agent, Duration::from_secs(60)));
    let reconcilers = Reconcilers::start(env.client(), &env.label);

    // The StatefulSet (its pods tracked before it, so cleanup deletes it
    // first and nothing re-creates them).
    for pod in ["db-0", "db-1"] {
        env.scope.track_resource::<Pod>(Some(&env.ns), pod);
    }
    env.scope.track_resource::<StatefulSet>(Some(&env.ns), "db");
    let anno = format!(r#"{{"interface":"net1","ipv4":["{subnet}"]}}"#);
    let set: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db", "labels": {LABEL: env.label}},
        "spec": {"replicas": 2, "serviceName": "db", "podManagementPolicy": "Parallel",
                 "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"},
                                           "annotations": {"ipam.spidernet.io/subnet": anno}},
                              "spec": {"nodeName": env.node, "automountServiceAccountToken": false,
                                       "containers": [{"name": "c", "image": "none"}]}}}
    }))?;
    let sets: Api<StatefulSet> = Api::namespaced(env.client(), &env.ns);
    let set_uid = sets.create(&PostParams::default(), &set).await?.metadata.uid.unwrap_or_default();
    let app = AppRef::native("StatefulSet", &env.ns, "db", &set_uid).unwrap();
    let application = app.application_key();
    assert_eq!(application, format!("apps_v1_StatefulSet_{}_db", env.ns));
    let pool = auto_pool_name("db", IpFamily::V4, "net1", &set_uid)?;

    // The application controller makes the pool: 2 replicas + 1, the
    // subnet's lowest addresses.
    pool_and_subnet_are(&env, &subnet, &pool, &application, &["10.215.0.10-10.215.0.12"], 3)
        .await?;

    // kube-controller-manager makes the pods; each gets an address.
    let uid0 = running_pod(&env, "db-0", None).await?;
    let uid1 = running_pod(&env, "db-1", None).await?;
    let got0 = cni_add(&env, &agent.socket, "db-0", &uid0, "db-0-a");
    assert_eq!(got0["ips"][0]["ipPool"], json!(pool), "{got0}");
    assert_eq!(ip_of(&got0), "10.215.0.10");
    let got1 = cni_add(&env, &agent.socket, "db-1", &uid1, "db-1-a");
    assert_eq!(got1["ips"][0]["ipPool"], json!(pool), "{got1}");
    assert_eq!(ip_of(&got1), "10.215.0.11");
    let both = BTreeMap::from([
        ("10.215.0.10".to_owned(), rec("db-0", &uid0, "db-0-a")),
        ("10.215.0.11".to_owned(), rec("db-1", &uid1, "db-1-a")),
    ]);
    let full_names = |m: BTreeMap<String, (String, String, String)>| -> BTreeMap<_, _> {
        m.into_iter()
            .map(|(ip, (pod, uid, c))| (ip, (format!("{}/{pod}", env.ns), uid, c)))
            .collect()
    };
    assert_eq!(records(&env, &pool).await?, full_names(both.clone()));
    let ep1 = ep(&uid1, "10.215.0.11", &pool);
    assert_eq!(
        endpoints(&env).await?,
        BTreeMap::from([
            ("db-0".to_owned(), ep(&uid0, "10.215.0.10", &pool)),
            ("db-1".to_owned(), ep1.clone()),
        ])
    );

    // db-0 restarts: the pod is deleted at once, its container's DEL keeps
    // the member's address, the StatefulSet controller makes a new db-0.
    env.delete_pod("db-0").await?;
    cni_del(&env, &agent.socket, "db-0", &uid0, "db-0-a");
    assert_eq!(records(&env, &pool).await?, full_names(both), "the DEL kept db-0's address");
    assert_eq!(endpoints(&env).await?["db-0"], ep(&uid0, "10.215.0.10", &pool));
    let uid0b = running_pod(&env, "db-0", Some(&uid0)).await?;
    assert_ne!(uid0b, uid0);
    let again = cni_add(&env, &agent.socket, "db-0", &uid0b, "db-0-b");
    assert_eq!(ip_of(&again), "10.215.0.10", "the new db-0 gets the same address: {again}");
    assert_eq!(again["ips"][0]["ipPool"], json!(pool));
    let restarted = BTreeMap::from([
        ("10.215.0.10".to_owned(), rec("db-0", &uid0b, "db-0-b")),
        ("10.215.0.11".to_owned(), rec("db-1", &uid1, "db-1-a")),
    ]);
    assert_eq!(records(&env, &pool).await?, full_names(restarted), "records of the new db-0");
    assert_eq!(
        endpoints(&env).await?,
        BTreeMap::from([
            ("db-0".to_owned(), ep(&uid0b, "10.215.0.10", &pool)),
            ("db-1".to_owned(), ep1.clone()),
        ]),
        "db-0's endpoint names the new pod; db-1's is untouched"
    );
    // The pool and the subnet did not move.
    pool_and_subnet_are(&env, &subnet, &pool, &application, &["10.215.0.10-10.215.0.12"], 3)
        .await?;

    // Scaled to 1: the pool shrinks to 1 + 1 addresses — the two held ones,
    // never db-0's; the controller deletes db-1 (gracefully: the test, as
    // its kubelet, sends the DEL and confirms).
    sets.patch("db", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 1}})))
        .await?;
    pool_and_subnet_are(&env, &subnet, &pool, &application, &["10.215.0.10-10.215.0.11"], 2)
        .await?;
    let pods: Api<Pod> = Api::namespaced(env.client(), &env.ns);
    eventually("kube-controller-manager deletes db-1", || async {
        Ok(match pods.get_opt("db-1").await? {
            Some(p) if p.metadata.deletion_timestamp.is_none() => Err("db-1 live".to_owned()),
            _ => Ok(()),
        })
    })
    .await?;
    cni_del(&env, &agent.socket, "db-1", &uid1, "db-1-a");
    env.delete_pod("db-1").await?;
    let only_db0 = BTreeMap::from([("10.215.0.10".to_owned(), rec("db-0", &uid0b, "db-0-b"))]);
    assert_eq!(records(&env, &pool).await?, full_names(only_db0), "db-1's address is free");
    eventually("db-1's endpoint is gone", || async {
        let eps = endpoints(&env).await?;
        Ok(if eps == BTreeMap::from([("db-0".to_owned(), ep(&uid0b, "10.215.0.10", &pool))]) {
            Ok(())
        } else {
            Err(format!("{eps:?}"))
        })
    })
    .await?;
    // The pool keeps its size for 1 replica, and db-0's address.
    pool_and_subnet_are(&env, &subnet, &pool, &application, &["10.215.0.10-10.215.0.11"], 2)
        .await?;
    assert!(pods.get_opt("db-1").await?.is_none(), "db-1 is not re-created at 1 replica");

    // db-0 restarts once more in the shrunk pool: its address comes back,
    // not the free .11 a new pod would get.
    env.delete_pod("db-0").await?;
    cni_del(&env, &agent.socket, "db-0", &uid0b, "db-0-b");
    let uid0c = running_pod(&env, "db-0", Some(&uid0b)).await?;
    let third = cni_add(&env, &agent.socket, "db-0", &uid0c, "db-0-c");
    assert_eq!(ip_of(&third), "10.215.0.10", "{third}");
    let last = BTreeMap::from([("10.215.0.10".to_owned(), rec("db-0", &uid0c, "db-0-c"))]);
    assert_eq!(records(&env, &pool).await?, full_names(last));
    assert_eq!(
        endpoints(&env).await?,
        BTreeMap::from([("db-0".to_owned(), ep(&uid0c, "10.215.0.10", &pool))])
    );
    pool_and_subnet_are(&env, &subnet, &pool, &application, &["10.215.0.10-10.215.0.11"], 2)
        .await?;

    reconcilers.stop().await?;
    drop(agent);
    drop(env);
    Ok(())
}
