//! A fixed number of allocate + release cycles of the allocator over the
//! in-memory store (the criterion `allocator` bench's `ipv4_slash8_dense/1000`
//! case), for counting instructions and heap allocations per cycle under
//! valgrind, which, unlike wall time, does not move with the machine's load:
//!
//! ```sh
//! cargo build --profile bench -p spiderpool-core --example alloc_cycles
//! B=target/release/examples/alloc_cycles
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.0 $B 0      # set-up only
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.1 $B 3000   # + 3000 cycles
//! valgrind $B 0; valgrind $B 2000                                    # "total heap usage"
//! ```
//!
//! Per cycle = (count with N cycles − count with 0) / N. See
//! docs/performance.md for the figures.
#![allow(missing_docs, clippy::unwrap_used)]
use std::collections::BTreeMap;
use std::net::IpAddr;

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
        default_ipv6_ippool: vec![],
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
    let req = request(pool, i);
    let got = pollster::block_on(alloc.allocate(&req)).unwrap();
    std::hint::black_box(&got);
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

fn main() {
    let n: u64 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(100_000);
    let v4 = prefilled(
        "v4-slash8",
        "10.0.0.0/8",
        "10.0.0.1-10.255.255.254",
        "10.0.0.1".parse().unwrap(),
        1000,
        1,
    );
    for i in 0..1000 {
        cycle(&v4, "v4-slash8", 10_000_000 + i);
    }
    for i in 0..n {
        cycle(&v4, "v4-slash8", i);
    }
}
