//! The pool, subnet and reserved-IP reconcilers against a real API server:
//! counts kept true after allocations written by a KubeStore, Spiderpool's
//! finalizer (a deleted pool stays terminating and allocates nothing until
//! its last address is released), the overlap race of Spiderpool #746,
//! subnet status, reserved addresses in use, and objects that bypassed
//! admission (reported, skipped, never wedging the others).
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used)]

mod common;
mod reconcile_support;

use std::collections::BTreeMap;

use common::{Node, create_raw, request, setup};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use reconcile_support::{LABEL, event, events, eventually, options, start};
use serde_json::json;
use spiderpool_core::allocator::ReleaseRequest;
use spiderpool_core::model::{
    FINALIZER, IPPoolSpec, OwnerReference, ReservedIPSpec, SpiderIPPool, SpiderReservedIP,
    SpiderSubnet, SubnetSpec,
};
use spiderpool_core::store::PoolStore;
use spiderpool_k8s::reconcile::{pool, reserved, subnet};
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope};
use spiderpool_k8s::{CommitMode, IPPoolObject, SubnetObject};

/// A pool labelled for the test's store (`common::LABEL`) and reconcilers.
fn pool(name: &str, subnet: &str, ips: &[&str], label: &str) -> SpiderIPPool {
    let mut p = SpiderIPPool::new(
        name,
        IPPoolSpec {
            subnet: subnet.into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    );
    p.metadata.labels = Some(BTreeMap::from([
        (common::LABEL.to_owned(), label.to_owned()),
        (LABEL.to_owned(), label.to_owned()),
    ]));
    p
}

async fn get_pool(client: &kube::Client, name: &str) -> TestResult<Option<SpiderIPPool>> {
    let api: Api<IPPoolObject> = Api::all(client.clone());
    Ok(api.get_opt(name).await?.map(|o| o.into_core()))
}

fn counts(p: &SpiderIPPool) -> (Option<i64>, Option<i64>) {
    let s = p.status.clone().unwrap_or_default();
    (s.total_ip_count, s.allocated_ip_count)
}

fn has_finalizer(p: &SpiderIPPool) -> bool {
    p.metadata.finalizers.iter().flatten().any(|f| f == FINALIZER)
}

/// Waits until pool `name` satisfies `check` (a description of what it saw
/// otherwise).
async fn pool_until(
    client: &kube::Client,
    name: &str,
    what: &str,
    check: impl Fn(&SpiderIPPool) -> bool,
) -> TestResult<SpiderIPPool> {
    eventually(what, || async {
        Ok(match get_pool(client, name).await? {
            Some(p) if check(&p) => Ok(p),
            Some(p) => {
                Err(format!("finalizers {:?}, status {:?}", p.metadata.finalizers, p.status))
            }
            None => Err("pool is gone".into()),
        })
    })
    .await
}

/// One CNI DEL as the agent runs it: a unit of work, run again when the
/// commit reports a conflict (the endpoint of a pod that has no Pod object
/// can be changed under it by kube-controller-manager's garbage collector);
/// a retry that finds nothing to release is the agent's idempotent DEL. (A
/// release on a pool removed right after its write succeeds:
/// `store_terminating.rs`.)
async fn release(node: &Node, namespace: &str, pod: &str, uid: &str) -> Result<(), String> {
    let req = ReleaseRequest {
        namespace: namespace.into(),
        name: pod.into(),
        uid: Some(uid.into()),
        container_id: None,
        owner: None,
        network: None,
    };
    let store = node.store();
    let mut conflicted = false;
    for _ in 0..common::UNIT_ATTEMPTS {
        let outcome = store
            .unit_of_work(async {
                let out = node.allocator.release(&req).await.map_err(|e| e.to_string())?;
                match store.sync().await {
                    Err(e) if e.is_conflict() => Ok(None),
                    Err(e) => Err(e.to_string()),
                    Ok(()) => Ok(Some(out)),
                }
            })
            .await?;
        match outcome {
            None => conflicted = true,
            Some(out) if out.released.is_empty() && !conflicted => {
                return Err(format!("nothing released: {:?}", out.kept));
            }
            Some(_) => return Ok(()),
        }
    }
    Err("release: gave up after repeated commit conflicts".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_become_true_after_allocations_and_the_finalizer_is_added() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "rc-counts").await?;
    let client = cluster.client();
    let name = scope.name("p");
    scope.track::<SpiderIPPool>(None, &name);
    // Created without the webhook: no finalizer, no status.
    create_raw(&client, pool(&name, "10.61.0.0/24", &["10.61.0.10-10.61.0.29"], &label)).await?;
    let running = start(client.clone(), options(&label));
    pool_until(&client, &name, "finalizer and counts 20/0", |p| {
        has_finalizer(p) && counts(p) == (Some(20), Some(0))
    })
    .await?;

    let node = Node::start(client.clone(), "n1", CommitMode::Group, &label).await?;
    for i in 0..3 {
        let req = request(&ns, &format!("pod-{i}"), &format!("uid-{i}"), "n1", &name);
        node.add(&req).await?;
    }
    pool_until(&client, &name, "counts 20/3", |p| counts(p) == (Some(20), Some(3))).await?;

    // A count written wrong (by hand, or by an old agent) is corrected from
    // the records.
    let api: Api<IPPoolObject> = Api::all(client.clone());
    let wrong = json!({"status": {"totalIPCount": 1, "allocatedIPCount": 99}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&wrong)).await?;
    pool_until(&client, &name, "counts corrected to 20/3", |p| counts(p) == (Some(20), Some(3)))
        .await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pool_stays_terminating_until_its_last_address_is_released() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "rc-final").await?;
    let client = cluster.client();
    let name = scope.name("p");
    scope.track::<SpiderIPPool>(None, &name);
    create_raw(&client, pool(&name, "10.62.0.0/24", &["10.62.0.10-10.62.0.29"], &label)).await?;
    let running = start(client.clone(), options(&label));
    pool_until(&client, &name, "finalizer added", has_finalizer).await?;
    let node = Node::start(client.clone(), "n1", CommitMode::Group, &label).await?;
    let mut held = Vec::new();
    for i in 0..2 {
        let req = request(&ns, &format!("pod-{i}"), &format!("uid-{i}"), "n1", &name);
        held.push(common::address(&node.add(&req).await?));
    }

    let api: Api<IPPoolObject> = Api::all(client.clone());
    api.delete(&name, &DeleteParams::default()).await?;
    let p = pool_until(&client, &name, "terminating", |p| p.metadata.is_terminating()).await?;
    assert!(has_finalizer(&p));
    let note = event(&client, "default", &name, pool::reason::TERMINATING).await?;
    assert!(note.contains("last 2 allocated address"), "{note}");

    // Wait until this node's store has seen the deletion, then: nothing new.
    eventually("store sees the pool terminating", || async {
        let terminating = node.store().read_pool(&name, |s| s.is_terminating()).await?;
        Ok(terminating.filter(|v| v.value).map(|_| ()).ok_or_else(|| "not yet".to_owned()))
    })
    .await?;
    let refused = node.add(&request(&ns, "late", "uid-late", "n1", &name)).await;
    let err = refused.expect_err("a terminating pool allocates nothing");
    assert!(err.contains("terminating"), "{err}");

    release(&node, &ns, "pod-0", "uid-0").await?;
    // One address still held: the pool stays, with that record intact.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let p = get_pool(&client, &name).await?.expect("the pool stays while an address is held");
    let records = p.status.unwrap().allocations()?;
    assert_eq!(records.keys().cloned().collect::<Vec<_>>(), vec![held[1].to_string()]);
    assert_eq!(
        records[&held[1].to_string()].pod_uid,
        "uid-1",
        "the held address was not re-issued"
    );

    release(&node, &ns, "pod-1", "uid-1").await?;
    eventually("pool removed after its last release", || async {
        Ok(match get_pool(&client, &name).await? {
            None => Ok(()),
            Some(p) => Err(format!("still there: {:?} {:?}", p.metadata.finalizers, p.status)),
        })
    })
    .await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// Spiderpool #746: two overlapping pools admitted at the same moment (here:
/// created without the webhook at once); the later one by creationTimestamp,
/// then name, is marked `Overlapping` and reported, and an agent's store
/// allocates nothing from it; the earlier one is untouched. When the earlier
/// pool is deleted, the mark goes and the later pool allocates again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overlap_race_marks_the_later_pool() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "rc-overlap").await?;
    let client = cluster.client();
    let (a, b) = (scope.name("a"), scope.name("b"));
    scope.track::<SpiderIPPool>(None, &a);
    scope.track::<SpiderIPPool>(None, &b);
    let (ra, rb) = tokio::join!(
        create_raw(&client, pool(&a, "10.63.0.0/24", &["10.63.0.10-10.63.0.20"], &label)),
        create_raw(&client, pool(&b, "10.63.0.0/24", &["10.63.0.15-10.63.0.30"], &label)),
    );
    let (ra, rb) = (ra?.into_core(), rb?.into_core());
    let key = |p: &SpiderIPPool| {
        (p.metadata.creation_timestamp.clone(), p.metadata.name_str().to_owned())
    };
    let (earlier, later) = if key(&ra) < key(&rb) { (ra, rb) } else { (rb, ra) };
    let (earlier, later) =
        (earlier.metadata.name_str().to_owned(), later.metadata.name_str().to_owned());

    let running = start(client.clone(), options(&label));
    let note = event(&client, "default", &later, pool::reason::OVERLAP).await?;
    assert!(note.contains(&format!("overlaps SpiderIPPool {earlier}")), "{note}");
    assert!(note.contains("10.63.0.15-10.63.0.20"), "{note}");
    let marked = pool_until(&client, &later, "later pool marked Overlapping", |p| {
        p.status.as_ref().is_some_and(|s| s.overlapping().is_some())
    })
    .await?;
    let condition = marked.status.unwrap().overlapping().cloned().unwrap();
    assert_eq!(condition.reason, "IPPoolOverlap");
    assert!(
        condition.message.contains(&format!("overlaps SpiderIPPool {earlier}")),
        "{}",
        condition.message
    );
    // The earlier pool was reconciled too (it has its finalizer) and is not
    // marked or reported.
    let first = pool_until(&client, &earlier, "earlier pool reconciled", has_finalizer).await?;
    assert!(first.status.unwrap_or_default().conditions.is_empty());
    let on_earlier = events(&client, "default", &earlier).await?;
    assert!(
        !on_earlier.iter().any(|(_, r, _)| r == pool::reason::OVERLAP),
        "the earlier pool keeps its addresses: {on_earlier:?}"
    );

    // An agent allocates from the earlier pool, never from the later one.
    let node = Node::start(client.clone(), "n1", CommitMode::Group, &label).await?;
    eventually("the store sees the mark", || async {
        let seen = node
            .store()
            .read_pool(&later, |s| {
                s.pool.status.as_ref().is_some_and(|st| st.overlapping().is_some())
            })
            .await?;
        Ok(seen.filter(|v| v.value).map(|_| ()).ok_or_else(|| "not yet".to_owned()))
    })
    .await?;
    let err = node.add(&request(&ns, "p-later", "uid-later", "n1", &later)).await.unwrap_err();
    assert!(err.contains("overlaps an earlier pool"), "{err}");
    node.add(&request(&ns, "p-earlier", "uid-earlier", "n1", &earlier)).await?;

    // The earlier pool goes (its pod released first): the mark goes too.
    release(&node, &ns, "p-earlier", "uid-earlier").await?;
    Api::<IPPoolObject>::all(client.clone()).delete(&earlier, &DeleteParams::default()).await?;
    pool_until(&client, &later, "mark removed", |p| {
        p.status.as_ref().is_some_and(|s| s.conditions.is_empty())
    })
    .await?;
    eventually("the later pool allocates again", || async {
        Ok(node.add(&request(&ns, "p-later", "uid-later", "n1", &later)).await.map(|_| ()))
    })
    .await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// Bad input: a pool whose `status.allocatedIPs` is not JSON and a reserved
/// IP with a broken range are reported; the pool next to them is still
/// reconciled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_that_bypassed_admission_are_reported_and_skipped() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, _ns, label) = setup(&cluster, "rc-bad").await?;
    let client = cluster.client();
    let (bad, good, bad_r) = (scope.name("bad"), scope.name("good"), scope.name("r"));
    scope.track::<SpiderIPPool>(None, &bad);
    scope.track::<SpiderIPPool>(None, &good);
    scope.track::<SpiderReservedIP>(None, &bad_r);
    create_raw(&client, pool(&bad, "10.64.0.0/24", &["10.64.0.10"], &label)).await?;
    let api: Api<IPPoolObject> = Api::all(client.clone());
    let broken = json!({"status": {"allocatedIPs": "{broken"}});
    api.patch_status(&bad, &PatchParams::default(), &Patch::Merge(&broken)).await?;
    let mut r = SpiderReservedIP::new(
        &bad_r,
        ReservedIPSpec { ip_version: Some(4), ips: vec!["10.64.0.9-10.64.0.1".into()] },
    );
    r.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.clone())]));
    create_raw(&client, r).await?;
    create_raw(&client, pool(&good, "10.65.0.0/24", &["10.65.0.10-10.65.0.11"], &label)).await?;

    let running = start(client.clone(), options(&label));
    let note = event(&client, "default", &bad, pool::reason::INVALID).await?;
    assert!(
        note.contains(&format!("SpiderIPPool {bad}")) && note.contains("status.allocatedIPs"),
        "{note}"
    );
    let note = event(&client, "default", &bad_r, reserved::INVALID).await?;
    assert!(note.contains("spec.ips[0]") && note.contains("10.64.0.9-10.64.0.1"), "{note}");
    pool_until(&client, &good, "the good pool is reconciled", |p| {
        has_finalizer(p) && counts(p) == (Some(2), Some(0))
    })
    .await?;
    let p = get_pool(&client, &bad).await?.unwrap();
    assert!(!has_finalizer(&p), "the bad pool was skipped, not changed");
    running.stop().await?;
    drop(scope);
    Ok(())
}

async fn subnet_status(client: &kube::Client, name: &str) -> TestResult<Option<SpiderSubnet>> {
    let api: Api<SubnetObject> = Api::all(client.clone());
    Ok(api.get_opt(name).await?.map(|o| o.into_core()))
}

/// SpiderSubnet counts and `controlledIPPools` (Spiderpool's string), and a
/// reserved address a pod holds is reported on the SpiderReservedIP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subnet_status_and_reserved_addresses_in_use() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label): (TestScope, String, String) = setup(&cluster, "rc-subnet").await?;
    let client = cluster.client();
    let (s, p, r) = (scope.name("s"), scope.name("p"), scope.name("r"));
    scope.track::<SpiderSubnet>(None, &s);
    scope.track::<SpiderIPPool>(None, &p);
    scope.track::<SpiderReservedIP>(None, &r);
    let mut subnet_obj = SpiderSubnet::new(
        &s,
        SubnetSpec {
            ip_version: Some(4),
            subnet: "10.66.0.0/16".into(),
            ips: vec!["10.66.0.1-10.66.0.100".into()],
            exclude_ips: vec!["10.66.0.1".into()],
            ..Default::default()
        },
    );
    subnet_obj.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.clone())]));
    let created = create_raw(&client, subnet_obj).await?;
    let mut owned = pool(&p, "10.66.0.0/16", &["10.66.0.10-10.66.0.19"], &label);
    owned.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "spiderpool.spidernet.io/v2beta1".into(),
        kind: SpiderSubnet::KIND.into(),
        name: s.clone(),
        uid: created.metadata.uid.clone().unwrap(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    create_raw(&client, owned).await?;

    let running = start(client.clone(), options(&label));
    let want = format!(r#"{{"{p}":{{"ips":["10.66.0.10-10.66.0.19"]}}}}"#);
    eventually("subnet status", || async {
        let got = subnet_status(&client, &s).await?.and_then(|x| x.status).unwrap_or_default();
        let ok = got.total_ip_count == Some(99)
            && got.allocated_ip_count == Some(10)
            && got.controlled_ip_pools.as_deref() == Some(want.as_str());
        Ok(if ok { Ok(()) } else { Err(format!("{got:?}")) })
    })
    .await?;

    let node = Node::start(client.clone(), "n1", CommitMode::Group, &label).await?;
    let got = node.add(&request(&ns, "pod-0", "uid-0", "n1", &p)).await?;
    let ip = common::address(&got).to_string();
    let mut reserved_obj =
        SpiderReservedIP::new(&r, ReservedIPSpec { ip_version: Some(4), ips: vec![ip.clone()] });
    reserved_obj.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.clone())]));
    create_raw(&client, reserved_obj).await?;
    let note = event(&client, "default", &r, reserved::IN_USE).await?;
    assert!(note.contains(&format!("{ip} in SpiderIPPool {p}")), "{note}");
    let _ = subnet::INVALID;
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// How long the pool reconciler takes to bring many pools created without
/// the webhook to their finalizer and true counts (printed; run with
/// `--nocapture`). Each pool needs two writes (finalizer, status).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pools_are_reconciled() -> TestResult<()> {
    const POOLS: usize = 200;
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, _ns, label) = setup(&cluster, "rc-many").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let mut names = Vec::new();
    for i in 0..POOLS {
        let name = scope.name("m");
        let subnet = format!("10.{}.{}.0/24", 100 + i / 250, i % 250);
        let ips =
            format!("10.{}.{}.10-10.{}.{}.19", 100 + i / 250, i % 250, 100 + i / 250, i % 250);
        create_raw(&client, pool(&name, &subnet, &[ips.as_str()], &label)).await?;
        names.push(name);
    }
    let started = std::time::Instant::now();
    let running = start(client.clone(), options(&label));
    let api: Api<IPPoolObject> = Api::all(client.clone());
    let selector = format!("{LABEL}={label}");
    eventually("every pool reconciled", || async {
        let list = api.list(&kube::api::ListParams::default().labels(&selector)).await?;
        let done = list
            .items
            .into_iter()
            .map(|o| o.into_core())
            .filter(|p| has_finalizer(p) && counts(p) == (Some(10), Some(0)))
            .count();
        Ok(if done == POOLS { Ok(()) } else { Err(format!("{done}/{POOLS} done")) })
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{POOLS} pools reconciled (finalizer + counts) in {seconds:.2} s after start");
    running.stop().await?;
    drop(scope);
    Ok(())
}
