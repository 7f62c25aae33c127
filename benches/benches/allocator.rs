//! Allocation and release cost as pools fill up.
//!
//! Run with: `cargo bench -p spiderpool-benches --bench allocator`
//!
//! Each measured iteration is one CNI ADD (allocate) followed by one CNI DEL
//! (release) of a fresh pod, through the full allocator over the in-memory
//! store, so the pool stays at the same fill level. The pools are pre-filled with
//! N records: "dense" fills the first N addresses, "sparse" every other address
//! (N separate intervals, the worst case for the interval sets).
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::IpAddr;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use spiderpool_core::allocator::{AllocateRequest, Allocator, ReleaseRequest};
use spiderpool_core::ip::{IpFamily, ip_to_u128, u128_to_ip};
use spiderpool_core::model::PoolIpAllocation;
use spiderpool_core::pod::{NodeFacts, PodFacts};
use spiderpool_core::selection::IpamSettings;
use spiderpool_core::store::contract::pool;
use spiderpool_core::store::{AllocationChange, MemoryStore, PoolStore};

fn prefilled(
    name: &str,
    subnet: &str,
    range: &str,
    start: IpAddr,
    n: u128,
    stride: u128,
) -> Allocator<MemoryStore> {
    let store = MemoryStore::new();
    store.put_pool(pool(name, subnet, &[range])).unwrap();
    let family = IpFamily::of(&start);
    let base = ip_to_u128(start);
    let add = (0..n)
        .map(|i| {
            let ip = u128_to_ip(family, base + i * stride);
            let rec = PoolIpAllocation {
                pod: format!("bench/filler-{i}"),
                pod_uid: format!("filler-{i}"),
                container_id: Some(format!("c{i}")),
                interface: Some("net1".into()),
                node: Some("node1".into()),
                network: None,
            };
            (ip, rec)
        })
        .collect();
    let change = AllocationChange { add, ..Default::default() };
    let v = pollster::block_on(store.read_pool(name, |_| ())).unwrap().unwrap().version;
    pollster::block_on(store.update_allocations(name, v, &change)).unwrap();
    Allocator::new(store)
}

fn request(pool: &str, i: u64) -> AllocateRequest {
    let settings = IpamSettings {
        default_ipv4_ippool: vec![pool.to_string()],
        default_ipv6_ippool: vec![pool.to_string()],
        ..IpamSettings::default()
    };
    AllocateRequest {
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
        settings,
        ..AllocateRequest::default()
    }
}

fn cycle(alloc: &Allocator<MemoryStore>, pool: &str, i: u64) {
    let mut req = request(pool, i);
    // Only the pool's own family is asked for.
    if pool.starts_with("v6") {
        req.settings.default_ipv4_ippool.clear();
    } else {
        req.settings.default_ipv6_ippool.clear();
    }
    let got = pollster::block_on(alloc.allocate(&req)).unwrap();
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
}

fn allocate_release(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocate_release");
    g.sample_size(30);
    for &n in &[1_000u128, 100_000, 1_000_000] {
        for (layout, stride) in [("dense", 1u128), ("sparse", 2u128)] {
            let v4 = prefilled(
                "v4-slash8",
                "10.0.0.0/8",
                "10.0.0.1-10.255.255.254",
                "10.0.0.1".parse().unwrap(),
                n,
                stride,
            );
            let mut i = 0u64;
            g.bench_with_input(BenchmarkId::new(format!("ipv4_slash8_{layout}"), n), &n, |b, _| {
                b.iter(|| {
                    i += 1;
                    cycle(&v4, "v4-slash8", i)
                })
            });
            drop(v4);
            let v6 = prefilled(
                "v6-slash64",
                "fd00::/64",
                "fd00::1-fd00::ffff:ffff:ffff:fffe",
                "fd00::1".parse().unwrap(),
                n,
                stride,
            );
            g.bench_with_input(
                BenchmarkId::new(format!("ipv6_slash64_{layout}"), n),
                &n,
                |b, _| {
                    b.iter(|| {
                        i += 1;
                        cycle(&v6, "v6-slash64", i)
                    })
                },
            );
        }
    }
    g.finish();
}

fn filling_slash16(c: &mut Criterion) {
    let mut g = c.benchmark_group("fill_slash16");
    g.sample_size(30);
    let total: u128 = 65_534;
    for pct in [0u128, 50, 90, 99] {
        let n = total * pct / 100;
        let alloc = prefilled(
            "v4-slash16",
            "10.7.0.0/16",
            "10.7.0.1-10.7.255.254",
            "10.7.0.1".parse().unwrap(),
            n,
            1,
        );
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::new("percent_full", pct), &pct, |b, _| {
            b.iter(|| {
                i += 1;
                cycle(&alloc, "v4-slash16", i)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, allocate_release, filling_slash16);
criterion_main!(benches);
