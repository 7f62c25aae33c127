//! The store contract test suite. Every store implementation (memory, embedded,
//! Kubernetes) runs [`run`] against itself; a failure panics with a message that
//! names the broken promise.
//!
//! Available to other crates with the `testing` feature.

use std::net::IpAddr;
use std::sync::Arc;

use super::{AllocationChange, Deletion, EndpointStore, PoolStore, StoreError};
use crate::model::{
    IPAllocationDetail, IPPoolSpec, ObjectMeta, PoolIpAllocation, ReservedIPSpec, SpiderEndpoint,
    SpiderIPPool, SpiderReservedIP,
};

/// Makes fresh stores seeded with pools and reserved IPs.
pub trait StoreFactory {
    /// The store under test.
    type Store: PoolStore + EndpointStore;
    /// A new, isolated store holding exactly these objects.
    fn create(&self, pools: Vec<SpiderIPPool>, reserved: Vec<SpiderReservedIP>) -> Self::Store;
}

/// A pool named `name` over `subnet` with `ips`.
pub fn pool(name: &str, subnet: &str, ips: &[&str]) -> SpiderIPPool {
    SpiderIPPool {
        metadata: ObjectMeta::named(name),
        spec: IPPoolSpec {
            subnet: subnet.to_string(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ..SpiderIPPool::default()
    }
}

/// A SpiderReservedIP named `name` holding `ips`.
pub fn reserved(name: &str, ips: &[&str]) -> SpiderReservedIP {
    SpiderReservedIP {
        metadata: ObjectMeta::named(name),
        spec: ReservedIPSpec {
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ..SpiderReservedIP::default()
    }
}

fn record(uid: &str) -> PoolIpAllocation {
    PoolIpAllocation {
        pod: format!("default/{uid}"),
        pod_uid: uid.to_string(),
        container_id: Some(format!("c-{uid}")),
        interface: Some("net1".into()),
        node: Some("node1".into()),
        network: None,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("test address {s:?}: {e}"))
}

fn endpoint(ns: &str, name: &str, uid: &str) -> SpiderEndpoint {
    let mut ep = SpiderEndpoint::default();
    ep.metadata.name = Some(name.to_string());
    ep.metadata.namespace = Some(ns.to_string());
    ep.status.current.uid = uid.to_string();
    ep.status.current.ips.push(IPAllocationDetail {
        interface: "net1".into(),
        ipv4: Some("10.6.0.10/16".into()),
        ipv4_pool: Some("p4".into()),
        ..Default::default()
    });
    ep
}

/// Runs every contract check against fresh stores from `factory`.
pub async fn run<F: StoreFactory>(factory: &F) {
    lists_seeded_pools_with_counts(factory).await;
    reads_missing_pool_as_none(factory).await;
    applies_changes_and_bumps_the_version(factory).await;
    rejects_stale_versions(factory).await;
    rejects_double_allocation_without_applying(factory).await;
    release_requires_the_holding_uid(factory).await;
    loads_allocated_ips_from_status(factory).await;
    lists_reserved_ips(factory).await;
    endpoints_are_compare_and_swap(factory).await;
}

async fn lists_seeded_pools_with_counts<F: StoreFactory>(f: &F) {
    let s = f.create(
        vec![
            pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"]),
            pool("b", "fd00::/64", &["fd00::1-fd00::4"]),
        ],
        vec![],
    );
    let mut names: Vec<String> = PoolStore::list_pools(&s)
        .await
        .expect("list_pools")
        .iter()
        .map(|p| p.metadata.name_str().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"], "list_pools returns every seeded pool");
    let total = s
        .read_pool("a", |st| (st.total_count(), st.allocated_count()))
        .await
        .expect("read_pool")
        .expect("pool a exists")
        .value;
    assert_eq!(total, (10, 0), "pool a has 10 addresses, none allocated");
}

async fn reads_missing_pool_as_none<F: StoreFactory>(f: &F) {
    let s = f.create(vec![], vec![]);
    assert!(
        s.read_pool("nope", |_| ()).await.expect("read_pool").is_none(),
        "missing pool reads as None"
    );
}

async fn applies_changes_and_bumps_the_version<F: StoreFactory>(f: &F) {
    let s = f.create(vec![pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])], vec![]);
    let v0 = s.read_pool("a", |_| ()).await.expect("read").expect("exists").version;
    let change =
        AllocationChange { add: vec![(ip("10.6.0.1"), record("u1"))], ..Default::default() };
    let v1 = s.update_allocations("a", v0, &change).await.expect("CAS write at the read version");
    assert_ne!(v0, v1, "a write changes the version");
    let seen = s
        .read_pool("a", |st| (st.record(&ip("10.6.0.1")).cloned(), st.allocated_count()))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(seen.version, v1, "a read after the write sees the new version");
    assert_eq!(seen.value, (Some(record("u1")), 1), "the record is stored with all owner facts");
    let listed = PoolStore::list_pools(&s).await.expect("list");
    let count = listed[0].status.as_ref().and_then(|st| st.allocated_ip_count);
    assert_eq!(count, Some(1), "list_pools reports allocatedIPCount");
}

async fn rejects_stale_versions<F: StoreFactory>(f: &F) {
    let s = f.create(vec![pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])], vec![]);
    let v0 = s.read_pool("a", |_| ()).await.expect("read").expect("exists").version;
    let first =
        AllocationChange { add: vec![(ip("10.6.0.1"), record("u1"))], ..Default::default() };
    let second =
        AllocationChange { add: vec![(ip("10.6.0.2"), record("u2"))], ..Default::default() };
    s.update_allocations("a", v0, &first).await.expect("first writer wins");
    let err = s.update_allocations("a", v0, &second).await.expect_err("second writer is stale");
    assert!(err.is_conflict(), "a stale version is a typed Conflict, got {err:?}");
    let n = s.read_pool("a", |st| st.allocated_count()).await.expect("read").expect("exists").value;
    assert_eq!(n, 1, "a rejected write changes nothing");
    let gone = s.update_allocations("missing", v0, &first).await.expect_err("no such pool");
    assert!(matches!(
        gone,
        StoreError::Conflict { actual: None, .. } | StoreError::NotFound { .. }
    ));
}

async fn rejects_double_allocation_without_applying<F: StoreFactory>(f: &F) {
    let s = f.create(vec![pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])], vec![]);
    let v0 = s.read_pool("a", |_| ()).await.expect("read").expect("exists").version;
    let one = AllocationChange { add: vec![(ip("10.6.0.1"), record("u1"))], ..Default::default() };
    let v1 = s.update_allocations("a", v0, &one).await.expect("write");
    let both = AllocationChange {
        add: vec![(ip("10.6.0.2"), record("u2")), (ip("10.6.0.1"), record("u3"))],
        ..Default::default()
    };
    let err = s.update_allocations("a", v1, &both).await.expect_err("10.6.0.1 is taken");
    assert!(matches!(err, StoreError::Invalid { .. }), "double allocation is Invalid, got {err:?}");
    let state = s
        .read_pool("a", |st| (st.allocated_count(), st.record(&ip("10.6.0.1")).cloned()))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(state.value, (1, Some(record("u1"))), "nothing of a rejected change is applied");
}

async fn release_requires_the_holding_uid<F: StoreFactory>(f: &F) {
    let s = f.create(vec![pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])], vec![]);
    let v0 = s.read_pool("a", |_| ()).await.expect("read").expect("exists").version;
    let add = AllocationChange { add: vec![(ip("10.6.0.1"), record("u1"))], ..Default::default() };
    let v1 = s.update_allocations("a", v0, &add).await.expect("write");
    let wrong =
        AllocationChange { remove: vec![(ip("10.6.0.1"), "u2".into())], ..Default::default() };
    let err = s.update_allocations("a", v1, &wrong).await.expect_err("u2 does not hold it");
    assert!(matches!(err, StoreError::Invalid { .. }), "release by another UID is Invalid");
    let right =
        AllocationChange { remove: vec![(ip("10.6.0.1"), "u1".into())], ..Default::default() };
    s.update_allocations("a", v1, &right).await.expect("the holder releases");
    let n = s.read_pool("a", |st| st.allocated_count()).await.expect("read").expect("exists").value;
    assert_eq!(n, 0);
}

async fn loads_allocated_ips_from_status<F: StoreFactory>(f: &F) {
    let mut p = pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"]);
    p.status = Some(crate::model::IPPoolStatus {
        allocated_ips: Some(r#"{"10.6.0.5":{"pod":"default/x","podUid":"ux"}}"#.into()),
        ..Default::default()
    });
    let s = f.create(vec![p], vec![]);
    let got = s
        .read_pool("a", |st| {
            (st.record(&ip("10.6.0.5")).map(|r| r.pod_uid.clone()), st.used().len())
        })
        .await
        .expect("read")
        .expect("exists")
        .value;
    assert_eq!(got, (Some("ux".to_string()), 1), "records in status.allocatedIPs are loaded");
}

async fn lists_reserved_ips<F: StoreFactory>(f: &F) {
    let s = f.create(vec![], vec![reserved("r", &["10.6.0.1-10.6.0.3"])]);
    let list: Vec<Arc<SpiderReservedIP>> = s.list_reserved_ips().await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].spec.ips, ["10.6.0.1-10.6.0.3"]);
}

async fn endpoints_are_compare_and_swap<F: StoreFactory>(f: &F) {
    let s = f.create(vec![], vec![]);
    assert!(s.get_endpoint("ns", "p").await.expect("get").is_none(), "no endpoint yet");
    let ep = endpoint("ns", "p", "u1");
    let v1 = s.create_endpoint(&ep).await.expect("create");
    let again = s.create_endpoint(&ep).await.expect_err("create twice");
    assert!(matches!(again, StoreError::AlreadyExists { .. }), "second create is AlreadyExists");
    let got = s.get_endpoint("ns", "p").await.expect("get").expect("exists");
    assert_eq!(got.version, v1);
    assert_eq!(got.value.status.current.uid, "u1");
    let mut changed = ep.clone();
    changed.status.current.node = "node2".into();
    let v2 = s.update_endpoint(&changed, v1).await.expect("update at the read version");
    let stale = s.update_endpoint(&changed, v1).await.expect_err("stale update");
    assert!(stale.is_conflict(), "stale endpoint update is a Conflict");
    let stale_del = s.delete_endpoint("ns", "p", v1).await.expect_err("stale delete");
    assert!(stale_del.is_conflict(), "stale endpoint delete is a Conflict");
    s.delete_endpoint("ns", "p", v2).await.expect("delete at the current version");
    assert!(s.get_endpoint("ns", "p").await.expect("get").is_none(), "deleted");
}

/// The administrative half of the contract, for stores that implement
/// [`super::AdminStore`] (every store the agent can run on).
pub async fn run_admin<F>(factory: &F)
where
    F: StoreFactory,
    F::Store: super::AdminStore,
{
    use super::{AdminStore, ObjectKey};

    let s = factory.create(vec![], vec![]);
    // Pools applied through the admin API are allocatable and keep their records.
    s.apply_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])).await.expect("apply pool");
    let v = s.read_pool("a", |_| ()).await.expect("read").expect("applied pool exists").version;
    let add = AllocationChange { add: vec![(ip("10.6.0.1"), record("u1"))], ..Default::default() };
    s.update_allocations("a", v, &add).await.expect("allocate");
    s.apply_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.20"])).await.expect("re-apply");
    let got = AdminStore::get_pool(&s, "a").await.expect("get").expect("exists").value;
    let status = got.status.unwrap_or_default();
    assert_eq!(status.allocated_ip_count, Some(1), "re-applying a pool keeps its records");
    assert_eq!(status.total_ip_count, Some(20), "re-applying a pool takes the new spec");
    assert!(status.allocated_ips.unwrap_or_default().contains("10.6.0.1"), "allocatedIPs rendered");
    let bad = s.apply_pool(pool("b", "10.6.0.0/16", &["10.6.0.9-10.6.0.1"])).await;
    assert!(bad.is_err(), "a pool whose ranges do not parse is refused");
    s.apply_pool(pool("empty", "10.7.0.0/16", &["10.7.0.1"])).await.expect("apply pool");
    assert_eq!(AdminStore::delete_pool(&s, "empty", AT).await.expect("delete"), Deletion::Removed);
    assert_eq!(AdminStore::delete_pool(&s, "empty", AT).await.expect("again"), Deletion::NotFound);
    assert!(s.read_pool("empty", |_| ()).await.expect("read").is_none(), "deleted pool is gone");

    // Reserved IPs.
    s.apply_reserved_ip(reserved("r", &["10.6.0.5"])).await.expect("apply reserved");
    assert_eq!(s.list_reserved_ips().await.expect("list").len(), 1);
    assert!(s.delete_reserved_ip("r").await.expect("delete reserved"));
    assert!(s.list_reserved_ips().await.expect("list").is_empty());

    // Other objects.
    let pod = ObjectKey::new("Pod", "default", "nginx-1");
    let node = ObjectKey::new("Node", "", "node1");
    assert!(s.get_object(&pod).await.expect("get").is_none());
    let v1 = s
        .put_object(&pod, serde_json::json!({"metadata": {"name": "nginx-1"}}))
        .await
        .expect("put");
    let v2 = s
        .put_object(&pod, serde_json::json!({"metadata": {"name": "nginx-1", "uid": "u"}}))
        .await
        .expect("put again");
    assert_ne!(v1, v2, "a write changes the version");
    s.put_object(&node, serde_json::json!({"metadata": {"name": "node1"}}))
        .await
        .expect("put node");
    let got = s.get_object(&pod).await.expect("get").expect("exists");
    assert_eq!(got.value["metadata"]["uid"], "u", "the last write wins");
    assert_eq!(got.version, v2);
    let pods = s.list_objects("Pod").await.expect("list");
    assert_eq!(pods.len(), 1, "list is per kind");
    assert_eq!(pods[0].0, pod);
    assert!(s.delete_object(&pod).await.expect("delete"));
    assert!(!s.delete_object(&pod).await.expect("delete again"));
    assert!(s.get_object(&pod).await.expect("get").is_none());
    assert_eq!(s.list_objects("Node").await.expect("list").len(), 1);
    assert!(AdminStore::list_endpoints(&s).await.expect("list endpoints").is_empty());

    deleting_a_pool_with_records_waits_for_the_last_release(factory).await;
    deleting_a_subnet_deletes_its_pools_and_waits_for_them(factory).await;
}

/// The deletion time the admin contract uses.
const AT: &str = "2025-01-01T00:00:00Z";

/// A pool that holds records becomes terminating (deletionTimestamp, finalizer),
/// keeps its records, takes no new one, survives a re-apply as terminating,
/// and goes away with its last release.
async fn deleting_a_pool_with_records_waits_for_the_last_release<F>(factory: &F)
where
    F: StoreFactory,
    F::Store: super::AdminStore,
{
    use super::AdminStore;

    let s = factory.create(vec![], vec![]);
    s.apply_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])).await.expect("apply pool");
    let v = s.read_pool("a", |_| ()).await.expect("read").expect("exists").version;
    let two = AllocationChange {
        add: vec![(ip("10.6.0.1"), record("u1")), (ip("10.6.0.2"), record("u2"))],
        ..Default::default()
    };
    s.update_allocations("a", v, &two).await.expect("allocate");
    let deleted = AdminStore::delete_pool(&s, "a", AT).await.expect("delete");
    assert_eq!(deleted, Deletion::Terminating { holding: 2 }, "a pool with records is kept");
    let again = AdminStore::delete_pool(&s, "a", "2030-01-01T00:00:00Z").await.expect("again");
    assert_eq!(again, Deletion::Terminating { holding: 2 }, "deleting again changes nothing");
    let got = AdminStore::get_pool(&s, "a").await.expect("get").expect("terminating pool exists");
    let meta = &got.value.metadata;
    assert_eq!(meta.deletion_timestamp.as_deref(), Some(AT), "the first deletion time stands");
    assert!(
        meta.finalizers.iter().flatten().any(|f| f == crate::model::FINALIZER),
        "the finalizer is kept while records remain"
    );
    assert_eq!(got.value.status.and_then(|st| st.allocated_ip_count), Some(2), "records kept");
    let listed = PoolStore::list_pools(&s).await.expect("list");
    assert!(listed[0].metadata.is_terminating(), "list_pools shows the pool terminating");

    // No new record, not even through a re-apply of the same pool.
    let (v, terminating) = s
        .read_pool("a", |st| st.is_terminating())
        .await
        .expect("read")
        .map(|r| (r.version, r.value))
        .expect("exists");
    assert!(terminating, "read_pool sees the pool terminating");
    let add = AllocationChange { add: vec![(ip("10.6.0.3"), record("u3"))], ..Default::default() };
    let err = s.update_allocations("a", v, &add).await.expect_err("a terminating pool allocates");
    assert!(matches!(err, StoreError::Invalid { .. }), "refused as Invalid, got {err:?}");
    s.apply_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.20"])).await.expect("re-apply");
    let (v, terminating, count) = s
        .read_pool("a", |st| (st.is_terminating(), st.allocated_count()))
        .await
        .expect("read")
        .map(|r| (r.version, r.value.0, r.value.1))
        .expect("exists");
    assert!(terminating, "re-applying a terminating pool does not resurrect it");
    assert_eq!(count, 2, "re-applying a terminating pool keeps its records");
    let err = s.update_allocations("a", v, &add).await.expect_err("still terminating");
    assert!(matches!(err, StoreError::Invalid { .. }), "got {err:?}");

    // Releases: the pool goes with the last one.
    let one =
        AllocationChange { remove: vec![(ip("10.6.0.1"), "u1".into())], ..Default::default() };
    let v = s.update_allocations("a", v, &one).await.expect("release one");
    assert!(s.read_pool("a", |_| ()).await.expect("read").is_some(), "one record left");
    let last =
        AllocationChange { remove: vec![(ip("10.6.0.2"), "u2".into())], ..Default::default() };
    s.update_allocations("a", v, &last).await.expect("release the last one");
    assert!(s.read_pool("a", |_| ()).await.expect("read").is_none(), "gone with the last record");
    assert!(AdminStore::get_pool(&s, "a").await.expect("get").is_none());
    // A pool of the same name applied now is a new pool.
    s.apply_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])).await.expect("apply anew");
    let fresh = AdminStore::get_pool(&s, "a").await.expect("get").expect("exists").value;
    assert!(!fresh.metadata.is_terminating(), "a pool created after the removal is live");
}

/// A subnet that controls pools is deleted with foreground propagation: its
/// pools are deleted (empty ones at once), it stays terminating while any is
/// left and goes with the last one; a re-apply keeps it terminating.
async fn deleting_a_subnet_deletes_its_pools_and_waits_for_them<F>(factory: &F)
where
    F: StoreFactory,
    F::Store: super::AdminStore,
{
    use super::{AdminStore, ObjectKey};
    use crate::admission::common::LABEL_OWNER_SPIDER_SUBNET;

    let s = factory.create(vec![], vec![]);
    let subnet = |extra: &str| {
        serde_json::json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderSubnet",
            "metadata": {"name": "s", "finalizers": [crate::model::FINALIZER]},
            "spec": {"subnet": "10.6.0.0/16", "ips": [extra]}})
    };
    let key = ObjectKey::new("SpiderSubnet", "", "s");
    s.put_object(&key, subnet("10.6.0.1-10.6.0.100")).await.expect("put subnet");
    let controlled = |name: &str, ips: &[&str]| {
        let mut p = pool(name, "10.6.0.0/16", ips);
        p.metadata.labels = Some([(LABEL_OWNER_SPIDER_SUBNET.to_string(), "s".to_string())].into());
        p
    };
    s.apply_pool(controlled("used", &["10.6.0.1-10.6.0.10"])).await.expect("apply");
    s.apply_pool(controlled("idle", &["10.6.0.11-10.6.0.20"])).await.expect("apply");
    s.apply_pool(pool("other", "10.6.0.0/16", &["10.6.0.21"])).await.expect("apply");
    let v = s.read_pool("used", |_| ()).await.expect("read").expect("exists").version;
    let add = AllocationChange { add: vec![(ip("10.6.0.1"), record("u1"))], ..Default::default() };
    s.update_allocations("used", v, &add).await.expect("allocate");

    let deleted = s.delete_subnet("s", AT).await.expect("delete subnet");
    assert_eq!(deleted, Deletion::Terminating { holding: 1 }, "one controlled pool holds records");
    assert!(s.read_pool("idle", |_| ()).await.expect("read").is_none(), "empty pool removed");
    assert!(s.read_pool("other", |_| ()).await.expect("read").is_some(), "others untouched");
    let used = AdminStore::get_pool(&s, "used").await.expect("get").expect("kept").value;
    assert!(used.metadata.is_terminating(), "the used pool is terminating");
    let stored = s.get_object(&key).await.expect("get").expect("subnet kept").value;
    assert!(super::deletion::is_terminating_json(&stored), "the subnet is terminating");
    s.put_object(&key, subnet("10.6.0.1-10.6.0.200")).await.expect("re-apply subnet");
    let stored = s.get_object(&key).await.expect("get").expect("subnet kept").value;
    assert!(super::deletion::is_terminating_json(&stored), "re-applying keeps it terminating");

    let release =
        AllocationChange { remove: vec![(ip("10.6.0.1"), "u1".into())], ..Default::default() };
    let v = s.read_pool("used", |_| ()).await.expect("read").expect("exists").version;
    s.update_allocations("used", v, &release).await.expect("release");
    assert!(s.read_pool("used", |_| ()).await.expect("read").is_none(), "pool gone");
    assert!(s.get_object(&key).await.expect("get").is_none(), "subnet gone with its last pool");
    assert_eq!(s.delete_subnet("s", AT).await.expect("again"), Deletion::NotFound);
    s.put_object(&key, subnet("10.6.0.1-10.6.0.100")).await.expect("put subnet");
    assert_eq!(s.delete_subnet("s", AT).await.expect("delete"), Deletion::Removed, "no pools");
}
