//! Allocation and release over the embedded (redb) store.
//!
//! Run with: `cargo bench -p spiderpool-benches --bench embedded`
//!
//! Each measured iteration is one CNI ADD (allocate) and one CNI DEL (release)
//! of a fresh pod through the full allocator over [`EmbeddedStore`], with the
//! pool pre-filled with N records (every other address, N separate intervals).
//! Every write is a durable redb commit (fsync), so the disk dominates; what
//! must not happen is a cost that grows with N (a write of the whole pool).
//! The `_group` variant opens the store in [`SyncMode::Group`] and makes each
//! operation durable with one `sync` after it, as the agent does.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use spiderpool_bin::store::{EmbeddedStore, SyncMode};
use spiderpool_core::allocator::{AllocateRequest, Allocator, ReleaseRequest};
use spiderpool_core::ip::{IpFamily, ip_to_u128, u128_to_ip};
use spiderpool_core::model::PoolIpAllocation;
use spiderpool_core::pod::{NodeFacts, PodFacts};
use spiderpool_core::selection::IpamSettings;
use spiderpool_core::store::contract::pool;
use spiderpool_core::store::{AdminStore, AllocationChange, PoolStore};

const POOL: &str = "v4-slash8";

fn prefilled(dir: &std::path::Path, n: u128) -> Allocator<EmbeddedStore> {
    let store = EmbeddedStore::open_dir(dir).unwrap();
    pollster::block_on(store.apply_pool(pool(POOL, "10.0.0.0/8", &["10.0.0.1-10.255.255.254"])))
        .unwrap();
    let start = "10.0.0.1".parse().unwrap();
    let family = IpFamily::of(&start);
    let base = ip_to_u128(start);
    let add = (0..n)
        .map(|i| {
            let rec = PoolIpAllocation {
                pod: format!("bench/filler-{i}"),
                pod_uid: format!("filler-{i}"),
                container_id: Some(format!("c{i}")),
                interface: Some("net1".into()),
                node: Some("node1".into()),
                network: None,
            };
            (u128_to_ip(family, base + 2 * i), rec)
        })
        .collect();
    let v = pollster::block_on(store.read_pool(POOL, |_| ())).unwrap().unwrap().version;
    let change = AllocationChange { add, ..Default::default() };
    pollster::block_on(store.update_allocations(POOL, v, &change)).unwrap();
    Allocator::new(store)
}

fn cycle(alloc: &Allocator<EmbeddedStore>, i: u64) {
    let sync = || {
        if alloc.store().sync_mode() == SyncMode::Group {
            pollster::block_on(alloc.store().sync()).unwrap();
        }
    };
    let req = AllocateRequest {
        pod: PodFacts {
            namespace: "bench".into(),
            name: format!("pod-{i}"),
            uid: format!("uid-{i}"),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            node: "node1".into(),
            owner: None,
        },
        node: NodeFacts { name: "node1".into(), labels: BTreeMap::new() },
        container_id: format!("ctr-{i}"),
        nic: "net1".into(),
        settings: IpamSettings {
            default_ipv4_ippool: vec![POOL.to_string()],
            ..IpamSettings::default()
        },
        ..AllocateRequest::default()
    };
    let got = pollster::block_on(alloc.allocate(&req)).unwrap();
    sync();
    black_box(&got);
    let rel = ReleaseRequest {
        namespace: req.pod.namespace.clone(),
        name: req.pod.name.clone(),
        uid: Some(req.pod.uid.clone()),
        container_id: Some(req.container_id.clone()),
        owner: None,
        network: None,
    };
    pollster::block_on(alloc.release(&rel)).unwrap();
    sync();
}

fn allocate_release(c: &mut Criterion) {
    let mut g = c.benchmark_group("embedded_allocate_release");
    g.sample_size(20);
    for &n in &[1_000u128, 100_000] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        drop(prefilled(dir.path(), n));
        // Start-up cost: open the file and rebuild the caches from it.
        let started = std::time::Instant::now();
        let alloc = Allocator::new(EmbeddedStore::open_dir(dir.path()).unwrap());
        println!("embedded: open with {n} records: {:?}", started.elapsed());
        let before = alloc.store().version();
        cycle(&alloc, 0);
        println!(
            "embedded: {} durable commits per ADD+DEL with {n} records",
            alloc.store().version() - before
        );
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::new("ipv4_slash8_sparse", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                cycle(&alloc, i)
            })
        });
        drop(alloc);
        let alloc =
            Allocator::new(EmbeddedStore::open_dir_with(dir.path(), SyncMode::Group).unwrap());
        g.bench_with_input(BenchmarkId::new("ipv4_slash8_sparse_group", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                cycle(&alloc, i)
            })
        });
    }
    g.finish();
}

/// One `update_allocations` (one durable commit), alternating the allocation
/// and the release of one address: the store's own cost per write.
fn one_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("embedded_update_allocations");
    g.sample_size(20);
    for &n in &[1_000u128, 100_000] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let alloc = prefilled(dir.path(), n);
        let store = alloc.store();
        let addr = "10.200.0.1".parse().unwrap();
        let rec = PoolIpAllocation::new("bench/one", "one");
        let add = AllocationChange { add: vec![(addr, rec)], ..Default::default() };
        let remove = AllocationChange { remove: vec![(addr, "one".into())], ..Default::default() };
        let mut held = false;
        g.bench_with_input(BenchmarkId::new("add_or_remove_one_record", n), &n, |b, _| {
            b.iter(|| {
                let v = pollster::block_on(store.read_pool(POOL, |_| ())).unwrap().unwrap().version;
                let change = if held { &remove } else { &add };
                pollster::block_on(store.update_allocations(POOL, v, change)).unwrap();
                held = !held;
            })
        });
    }
    g.finish();
}

criterion_group!(benches, allocate_release, one_commit);
criterion_main!(benches);
