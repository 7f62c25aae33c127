//! The embedded (redb) store: the store contract, reopening, and a writer
//! killed with SIGKILL in the middle of a burst of commits.
//!
//! The crash test re-executes this test binary as the writer: the test
//! `crash_writer_child` does nothing unless `SPIDERPOOL_EMBEDDED_CRASH_WRITER`
//! names a database file.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spiderpool_bin::store::{DB_FILE_NAME, EmbeddedError, EmbeddedStore, SyncMode};
use spiderpool_core::ip::IpSet;
use spiderpool_core::model::{
    IPAllocationDetail, PoolIpAllocation, SpiderEndpoint, SpiderIPPool, SpiderReservedIP,
};
use spiderpool_core::store::contract::{self, StoreFactory, pool, reserved};
use spiderpool_core::store::{
    AdminStore, AllocationChange, Deletion, EndpointStore, ObjectKey, PoolStore, StoreError,
};

/// Fresh stores, each in its own directory under one temp dir that lives as
/// long as the factory.
struct Embedded {
    dir: tempfile::TempDir,
    next: AtomicUsize,
    mode: SyncMode,
}

impl Embedded {
    fn new() -> Self {
        Self::with_mode(SyncMode::EveryWrite)
    }

    fn with_mode(mode: SyncMode) -> Self {
        Self { dir: tempfile::tempdir().unwrap(), next: AtomicUsize::new(0), mode }
    }
}

impl StoreFactory for Embedded {
    type Store = EmbeddedStore;
    fn create(&self, pools: Vec<SpiderIPPool>, reserved: Vec<SpiderReservedIP>) -> EmbeddedStore {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let s = EmbeddedStore::open_dir_with(self.dir.path().join(format!("store-{n}")), self.mode)
            .unwrap();
        for p in pools {
            pollster::block_on(s.apply_pool(p)).unwrap();
        }
        for r in reserved {
            pollster::block_on(s.apply_reserved_ip(r)).unwrap();
        }
        s
    }
}

#[test]
fn embedded_store_keeps_the_store_contract() {
    let f = Embedded::new();
    pollster::block_on(contract::run(&f));
    pollster::block_on(contract::run_admin(&f));
}

/// Group commit changes when writes reach the disk, not what they do.
#[test]
fn embedded_store_with_group_commit_keeps_the_store_contract() {
    let f = Embedded::with_mode(SyncMode::Group);
    pollster::block_on(contract::run(&f));
    pollster::block_on(contract::run_admin(&f));
}

/// In group mode, what was written before a `sync` survives reopening.
#[test]
fn group_commit_writes_survive_reopen_after_sync() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = EmbeddedStore::open_dir_with(dir.path(), SyncMode::Group).unwrap();
        assert_eq!(s.sync_mode(), SyncMode::Group);
        pollster::block_on(s.apply_pool(pool("p", "10.6.0.0/16", &["10.6.0.1-10.6.0.9"]))).unwrap();
        allocate(&s, "p", "u1").unwrap();
        allocate(&s, "p", "u2").unwrap();
        pollster::block_on(s.sync()).unwrap();
        // A second sync with nothing new returns at once.
        pollster::block_on(s.sync()).unwrap();
    }
    let s = EmbeddedStore::open_dir(dir.path()).unwrap();
    assert_eq!(records(&s, "p").len(), 2);
}

/// In group mode the writes since the last `sync` are staged in one open
/// transaction: the store's reads have them at once, and closing the store
/// commits them (nobody was told about them, but nothing is thrown away).
#[test]
fn group_commit_staged_writes_are_read_at_once_and_committed_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let third = {
        let s = EmbeddedStore::open_dir_with(dir.path(), SyncMode::Group).unwrap();
        pollster::block_on(s.apply_pool(pool("p", "10.6.0.0/16", &["10.6.0.1-10.6.0.9"]))).unwrap();
        allocate(&s, "p", "u1").unwrap();
        allocate(&s, "p", "u2").unwrap();
        pollster::block_on(s.sync()).unwrap();
        let synced = s.sync_commits();
        // Staged, not synced: the next allocation sees it taken.
        let third = allocate(&s, "p", "u3").unwrap();
        assert_eq!(records(&s, "p").len(), 3);
        assert_ne!(allocate(&s, "p", "u4").unwrap(), third);
        assert_eq!(s.sync_commits(), synced, "no commit before the next sync");
        third
    };
    let s = EmbeddedStore::open_dir(dir.path()).unwrap();
    let got = records(&s, "p");
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got.get(&third).map(String::as_str), Some("u3"), "{got:?}");
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
    s.parse().unwrap()
}

fn allocate(s: &EmbeddedStore, pool: &str, uid: &str) -> Result<IpAddr, StoreError> {
    let got = pollster::block_on(s.read_pool(pool, |st| st.first_free(&IpSet::new(st.family))))?
        .expect("pool exists");
    let addr = got.value.expect("pool has a free address");
    let change = AllocationChange { add: vec![(addr, record(uid))], ..Default::default() };
    pollster::block_on(s.update_allocations(pool, got.version, &change))?;
    Ok(addr)
}

fn records(s: &EmbeddedStore, pool: &str) -> BTreeMap<IpAddr, String> {
    pollster::block_on(s.read_pool(pool, |st| {
        st.records().map(|(ip, r)| (ip, r.pod_uid.clone())).collect::<BTreeMap<_, _>>()
    }))
    .unwrap()
    .unwrap()
    .value
}

#[test]
fn reopening_serves_the_same_state_and_versions_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    let (pool_before, ep_version, last) = {
        let s = EmbeddedStore::open_dir(dir.path()).unwrap();
        pollster::block_on(s.apply_pool(pool("v4", "10.6.0.0/16", &["10.6.0.1-10.6.0.100"])))
            .unwrap();
        pollster::block_on(s.apply_pool(pool("v6", "fd00::/64", &["fd00::1-fd00::ff"]))).unwrap();
        pollster::block_on(s.apply_reserved_ip(reserved("r", &["10.6.0.50"]))).unwrap();
        for i in 0..5 {
            allocate(&s, "v4", &format!("u{i}")).unwrap();
        }
        allocate(&s, "v6", "u6").unwrap();
        // Release one, so the reopened pool has a hole.
        let v = pollster::block_on(s.read_pool("v4", |_| ())).unwrap().unwrap().version;
        let release =
            AllocationChange { remove: vec![(ip("10.6.0.2"), "u1".into())], ..Default::default() };
        pollster::block_on(s.update_allocations("v4", v, &release)).unwrap();
        let mut ep = SpiderEndpoint::default();
        ep.metadata.name = Some("nginx-1".into());
        ep.metadata.namespace = Some("default".into());
        ep.status.current.uid = "u0".into();
        ep.status.current.ips.push(IPAllocationDetail {
            interface: "net1".into(),
            ipv4: Some("10.6.0.1/16".into()),
            ipv4_pool: Some("v4".into()),
            ..Default::default()
        });
        let ep_version = pollster::block_on(s.create_endpoint(&ep)).unwrap();
        let key = ObjectKey::new("Pod", "default", "nginx-1");
        pollster::block_on(s.put_object(&key, serde_json::json!({"metadata": {"uid": "u0"}})))
            .unwrap();
        let pool_before = pollster::block_on(AdminStore::get_pool(&s, "v4")).unwrap().unwrap();
        (pool_before, ep_version, s.version())
    };
    let s = EmbeddedStore::open(dir.path().join(DB_FILE_NAME)).unwrap();
    assert_eq!(s.version(), last, "the version counter survives a reopen");
    let pool_after = pollster::block_on(AdminStore::get_pool(&s, "v4")).unwrap().unwrap();
    assert_eq!(pool_after, pool_before, "the pool, its records and its version survive");
    let status = pool_after.value.status.unwrap();
    assert_eq!(status.allocated_ip_count, Some(4));
    assert_eq!(status.total_ip_count, Some(100));
    let v4 = records(&s, "v4");
    assert_eq!(
        v4.keys().copied().collect::<Vec<_>>(),
        ["10.6.0.1", "10.6.0.3", "10.6.0.4", "10.6.0.5"].map(ip)
    );
    assert_eq!(records(&s, "v6").get(&ip("fd00::1")).map(String::as_str), Some("u6"));
    let full = pollster::block_on(s.read_pool("v4", |st| st.record(&ip("10.6.0.1")).cloned()))
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(full, Some(record("u0")), "records keep every owner fact");
    assert_eq!(pollster::block_on(s.list_reserved_ips()).unwrap().len(), 1);
    let ep = pollster::block_on(s.get_endpoint("default", "nginx-1")).unwrap().unwrap();
    assert_eq!(ep.version, ep_version);
    assert_eq!(ep.value.status.current.uid, "u0");
    let pods = pollster::block_on(s.list_objects("Pod")).unwrap();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].1.value["metadata"]["uid"], "u0");
    // The hole is handed out again, at a version above every earlier one.
    assert_eq!(allocate(&s, "v4", "u9").unwrap(), ip("10.6.0.2"));
    assert!(s.version() > last, "versions move forward after a reopen");
    // Deletes are durable too: a pool holding a record stays terminating
    // across a reopen, and its removal with the last release is durable.
    let at = "2025-01-01T00:00:00Z";
    let deleted = pollster::block_on(AdminStore::delete_pool(&s, "v6", at)).unwrap();
    assert_eq!(deleted, Deletion::Terminating { holding: 1 });
    drop(s);
    let s = EmbeddedStore::open_dir(dir.path()).unwrap();
    let v6 =
        pollster::block_on(s.read_pool("v6", |st| (st.is_terminating(), st.allocated_count())))
            .unwrap()
            .unwrap();
    assert_eq!(v6.value, (true, 1), "terminating with its record after a reopen");
    let release =
        AllocationChange { remove: vec![(ip("fd00::1"), "u6".into())], ..Default::default() };
    pollster::block_on(s.update_allocations("v6", v6.version, &release)).unwrap();
    drop(s);
    let s = EmbeddedStore::open_dir(dir.path()).unwrap();
    assert!(pollster::block_on(s.read_pool("v6", |_| ())).unwrap().is_none());
    assert_eq!(records(&s, "v4").get(&ip("10.6.0.2")).map(String::as_str), Some("u9"));
}

#[test]
fn a_second_open_of_the_same_file_is_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open_dir(dir.path()).unwrap();
    let err = EmbeddedStore::open_dir(dir.path()).unwrap_err();
    assert!(matches!(err, EmbeddedError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(DB_FILE_NAME), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.redb");
    std::fs::write(&path, b"not a redb file, just some bytes that are long enough ...").unwrap();
    let err = EmbeddedStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("junk.redb"), "{err}");
}

const CHILD_ENV: &str = "SPIDERPOOL_EMBEDDED_CRASH_WRITER";
const ROUND_ENV: &str = "SPIDERPOOL_EMBEDDED_CRASH_ROUND";
const GROUP_ENV: &str = "SPIDERPOOL_EMBEDDED_CRASH_GROUP";

/// The writer of the crash test (a no-op unless `CHILD_ENV` is set): allocates
/// in a loop, releasing its oldest allocation every fourth step, and prints
/// each committed change as `add IP UID` or `release IP UID`, flushed at once.
#[test]
fn crash_writer_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let round = std::env::var(ROUND_ENV).unwrap_or_default();
    let mode =
        if std::env::var(GROUP_ENV).is_ok() { SyncMode::Group } else { SyncMode::EveryWrite };
    let s = EmbeddedStore::open_with(&path, mode).unwrap();
    let mut out = std::io::stdout().lock();
    let mut held: VecDeque<(IpAddr, String)> = VecDeque::new();
    // libtest has printed `test crash_writer_child ... ` without a newline.
    writeln!(out).unwrap();
    for i in 0u64.. {
        if i % 4 == 3
            && let Some((addr, uid)) = held.pop_front()
        {
            let v = pollster::block_on(s.read_pool("p", |_| ())).unwrap().unwrap().version;
            let change =
                AllocationChange { remove: vec![(addr, uid.clone())], ..Default::default() };
            pollster::block_on(s.update_allocations("p", v, &change)).unwrap();
            pollster::block_on(s.sync()).unwrap();
            writeln!(out, "release {addr} {uid}").unwrap();
        } else {
            let uid = format!("crash-{round}-{i}");
            let addr = allocate(&s, "p", &uid).unwrap();
            pollster::block_on(s.sync()).unwrap();
            writeln!(out, "add {addr} {uid}").unwrap();
            held.push_back((addr, uid));
        }
        out.flush().unwrap();
    }
}

fn spawn_writer(db: &Path, round: usize, mode: SyncMode) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    if mode == SyncMode::Group {
        cmd.env(GROUP_ENV, "1");
    }
    cmd.args(["--exact", "crash_writer_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .env(ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs one writer until it has reported about `kill_after` changes, SIGKILLs
/// it, and replays what it reported onto `model`. Returns the addresses it
/// allocated and had not released, oldest first.
fn burst_and_kill(
    db: &Path,
    mode: SyncMode,
    round: usize,
    kill_after: usize,
    model: &mut BTreeMap<IpAddr, String>,
) -> VecDeque<IpAddr> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let mut child = spawn_writer(db, round, mode);
    let stdout = child.stdout.take().unwrap();
    let mut order: VecDeque<IpAddr> = VecDeque::new();
    let mut events = 0usize;
    let mut killed = false;
    let started = Instant::now();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some("add"), Some(a), Some(uid)) => {
                let a = ip(a);
                assert!(model.insert(a, uid.to_string()).is_none(), "{a} handed out twice");
                order.push_back(a);
            }
            (Some("release"), Some(a), Some(uid)) => {
                let a = ip(a);
                assert_eq!(model.remove(&a).as_deref(), Some(uid), "release of {a}");
                order.retain(|x| *x != a);
            }
            _ => continue,
        }
        events += 1;
        if !killed && events >= kill_after {
            kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), Signal::SIGKILL).unwrap();
            killed = true;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "writer too slow");
    }
    let status = child.wait().unwrap();
    assert!(killed, "the writer stopped by itself after {events} changes: {status:?}");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status:?}");
    order
}

#[test]
fn a_writer_killed_mid_burst_loses_no_committed_allocation() {
    killed_mid_burst(SyncMode::EveryWrite);
}

/// The same with group commit: the writer reports a change only after its
/// `sync`, so what it reported is on disk; what it had not synced may be lost.
#[test]
fn a_group_commit_writer_killed_mid_burst_loses_no_synced_allocation() {
    killed_mid_burst(SyncMode::Group);
}

fn killed_mid_burst(mode: SyncMode) {
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join(DB_FILE_NAME);
    {
        let s = EmbeddedStore::open(&db).unwrap();
        pollster::block_on(s.apply_pool(pool("p", "10.6.0.0/16", &["10.6.0.1-10.6.255.254"])))
            .unwrap();
    }
    // What the writers reported as committed, carried across rounds.
    let mut model: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (round, kill_after) in [(0, 300), (1, 151), (2, 77)] {
        let order = burst_and_kill(&db, mode, round, kill_after, &mut model);
        let s = EmbeddedStore::open(&db).expect("the database opens cleanly after SIGKILL");
        let stored = records(&s, "p");
        // Every change a writer reported is in the database; at most the one
        // change in flight when the signal came is there and unreported.
        let extra: Vec<_> = stored.iter().filter(|(a, _)| !model.contains_key(a)).collect();
        let missing: Vec<_> = model.iter().filter(|(a, _)| !stored.contains_key(a)).collect();
        assert!(
            extra.len() + missing.len() <= 1,
            "round {round}: extra {extra:?}, missing {missing:?}"
        );
        eprintln!(
            "round {round}: {} held, in flight: extra {extra:?}, missing {missing:?}",
            stored.len()
        );
        if let Some((a, _)) = missing.first() {
            assert_eq!(order.front(), Some(*a), "only the in-flight release may be missing");
        }
        for (a, uid) in &model {
            if let Some(held) = stored.get(a) {
                assert_eq!(held, uid, "{a} is held by the pod the writer reported");
            }
        }
        // No address held twice: one address per pod UID, and the indexes agree.
        let mut uids: Vec<&String> = stored.values().collect();
        uids.sort();
        uids.dedup();
        assert_eq!(uids.len(), stored.len(), "a pod UID holds more than one address");
        let (count, used) =
            pollster::block_on(s.read_pool("p", |st| (st.allocated_count(), st.used().len())))
                .unwrap()
                .unwrap()
                .value;
        assert_eq!((count, used), (stored.len(), stored.len() as u128));
        // The database is the truth the next round starts from.
        model = stored;
    }
    // And the store takes writes again.
    let s = EmbeddedStore::open(&db).unwrap();
    let next = allocate(&s, "p", "after-crash").unwrap();
    assert!(!model.contains_key(&next));
}

fn pod_request(i: usize) -> spiderpool_core::allocator::AllocateRequest {
    use spiderpool_core::pod::{NodeFacts, PodFacts};
    spiderpool_core::allocator::AllocateRequest {
        pod: PodFacts {
            namespace: "default".into(),
            name: format!("pod-{i}"),
            uid: format!("uid-{i}"),
            node: "node1".into(),
            ..PodFacts::default()
        },
        node: NodeFacts { name: "node1".into(), ..NodeFacts::default() },
        container_id: format!("ctr-{i}"),
        nic: "net1".into(),
        settings: spiderpool_core::selection::IpamSettings {
            default_ipv4_ippool: vec!["p".into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn concurrent_allocations_through_the_allocator_are_distinct_and_durable() {
    use spiderpool_core::allocator::{Allocator, ReleaseRequest, RetryPolicy, ThreadSleep};

    const THREADS: usize = 8;
    const PER_THREAD: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_dir(dir.path()).unwrap();
    pollster::block_on(store.apply_pool(pool("p", "10.6.0.0/16", &["10.6.212.1-10.6.212.254"])))
        .unwrap();
    let retry = RetryPolicy {
        max_attempts: 200,
        initial: Duration::from_micros(200),
        max_wait: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let alloc = Allocator::with_clock(store, ThreadSleep, retry);
    let mut got: Vec<(usize, IpAddr)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let alloc = &alloc;
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|k| {
                            let i = t * PER_THREAD + k;
                            let res = pollster::block_on(alloc.allocate(&pod_request(i)))
                                .unwrap_or_else(|e| panic!("allocation {i}: {e}"));
                            let addr = res.ips.first().expect("one address").address.addr();
                            (i, addr)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    got.sort();
    let mut addrs: Vec<IpAddr> = got.iter().map(|(_, a)| *a).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), THREADS * PER_THREAD, "every pod got its own address");
    drop(alloc);
    // After a reopen every pod still holds the address it was given.
    let store = EmbeddedStore::open_dir(dir.path()).unwrap();
    let stored = records(&store, "p");
    assert_eq!(stored.len(), THREADS * PER_THREAD);
    for (i, a) in &got {
        assert_eq!(stored.get(a), Some(&format!("uid-{i}")), "{a} after reopen");
    }
    assert_eq!(pollster::block_on(store.list_endpoints()).unwrap().len(), THREADS * PER_THREAD);
    // Releases are durable too.
    let alloc = Allocator::new(store);
    for (i, _) in &got {
        let rel = ReleaseRequest {
            namespace: "default".into(),
            name: format!("pod-{i}"),
            uid: Some(format!("uid-{i}")),
            container_id: Some(format!("ctr-{i}")),
            owner: None,
            network: None,
        };
        pollster::block_on(alloc.release(&rel)).unwrap();
    }
    drop(alloc);
    let store = EmbeddedStore::open_dir(dir.path()).unwrap();
    assert!(records(&store, "p").is_empty(), "every release survived the reopen");
}

#[test]
fn applied_pools_with_records_replace_the_stored_records_durably() {
    use spiderpool_core::model::IPPoolStatus;
    let with = |json: &str| {
        let mut p = pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"]);
        p.status = Some(IPPoolStatus { allocated_ips: Some(json.into()), ..Default::default() });
        p
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let s = EmbeddedStore::open_dir(dir.path()).unwrap();
        pollster::block_on(s.apply_pool(with(
            r#"{"10.6.0.5":{"pod":"default/x","podUid":"ux"},"10.6.0.6":{"pod":"default/y","podUid":"uy"}}"#,
        )))
        .unwrap();
        // Without allocatedIPs the records are kept.
        pollster::block_on(s.apply_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.20"])))
            .unwrap();
    }
    {
        let s = EmbeddedStore::open_dir(dir.path()).unwrap();
        let got = records(&s, "a");
        assert_eq!(got.len(), 2, "{got:?}");
        let total = pollster::block_on(s.read_pool("a", |st| st.total_count())).unwrap().unwrap();
        assert_eq!(total.value, 20, "the re-applied spec is stored");
        // With allocatedIPs they replace the stored records.
        pollster::block_on(s.apply_pool(with(r#"{"10.6.0.7":{"pod":"default/z","podUid":"uz"}}"#)))
            .unwrap();
    }
    let s = EmbeddedStore::open_dir(dir.path()).unwrap();
    let got = records(&s, "a");
    assert_eq!(got.into_iter().collect::<Vec<_>>(), [(ip("10.6.0.7"), "uz".to_string())]);
}

struct TokioSleep;

impl spiderpool_core::allocator::Clock for TokioSleep {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// The agent's shape: a multi-threaded runtime, writes on its blocking pool,
/// 200 concurrent allocations on one pool as tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_allocations_on_a_tokio_runtime_are_distinct() {
    use spiderpool_core::allocator::{Allocator, RetryPolicy};

    let f = Embedded::new();
    contract::run(&f).await;
    contract::run_admin(&f).await;

    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_dir(dir.path()).unwrap();
    store.apply_pool(pool("p", "10.6.0.0/16", &["10.6.212.1-10.6.212.254"])).await.unwrap();
    let retry = RetryPolicy {
        max_attempts: 400,
        initial: Duration::from_micros(200),
        max_wait: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let alloc = std::sync::Arc::new(Allocator::with_clock(store.clone(), TokioSleep, retry));
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let alloc = std::sync::Arc::clone(&alloc);
            tokio::spawn(async move {
                let res = alloc.allocate(&pod_request(i)).await;
                let res = res.unwrap_or_else(|e| panic!("allocation {i}: {e}"));
                (i, res.ips.first().expect("one address").address.addr())
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    let mut addrs: Vec<IpAddr> = got.iter().map(|(_, a)| *a).collect();
    addrs.sort();
    addrs.dedup();
    eprintln!("200 concurrent allocations: {:?}", started.elapsed());
    assert_eq!(addrs.len(), 200, "200 pods, 200 distinct addresses");
    let stored = store.read_pool("p", |st| st.allocated_count()).await.unwrap().unwrap().value;
    assert_eq!(stored, 200);
}

/// The agent's shape with this store: a current-thread runtime, writes
/// inline. 50 allocations as concurrent tasks, each followed by its
/// `sync` as the agent answers: every task gets its write in before the
/// first fsync (a `sync` lets the ready tasks run first), so far fewer
/// fsyncs than answers, and every answered allocation survives a reopen.
#[test]
fn concurrent_syncs_on_a_current_thread_runtime_share_fsyncs() {
    use spiderpool_core::allocator::{Allocator, RetryPolicy};

    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let addrs = rt.block_on(async {
        let store = EmbeddedStore::open_dir_with(dir.path(), SyncMode::Group).unwrap();
        store.apply_pool(pool("p", "10.6.0.0/16", &["10.6.212.1-10.6.212.254"])).await.unwrap();
        store.sync().await.unwrap();
        let before = store.sync_commits();
        let alloc = std::sync::Arc::new(Allocator::with_clock(
            store.clone(),
            TokioSleep,
            RetryPolicy::default(),
        ));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (alloc, store) = (std::sync::Arc::clone(&alloc), store.clone());
                tokio::spawn(async move {
                    let res = alloc.allocate(&pod_request(i)).await;
                    let res = res.unwrap_or_else(|e| panic!("allocation {i}: {e}"));
                    store.sync().await.unwrap();
                    res.ips.first().expect("one address").address.addr()
                })
            })
            .collect();
        let mut addrs = Vec::new();
        for t in tasks {
            addrs.push(t.await.unwrap());
        }
        let fsyncs = store.sync_commits() - before;
        assert!((1..=5).contains(&fsyncs), "50 answers, {fsyncs} fsyncs");
        addrs
    });
    let mut distinct = addrs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 50, "50 pods, 50 distinct addresses");
    let reopened = EmbeddedStore::open_dir(dir.path()).unwrap();
    let stored = records(&reopened, "p");
    assert!(addrs.iter().all(|a| stored.contains_key(a)), "every answered allocation is durable");
}
