//! Memory of a pool as a function of its size and of its allocations.
//!
//! Run with: `cargo bench -p spiderpool-benches --bench memory`
//!
//! Prints the resident-set growth (from `/proc/self/status`, VmRSS) of building a
//! store with one pool of a given size holding N allocation records. Memory must
//! follow N, not the pool size: a /64 pool with 1000 records must cost about what
//! a /24 pool with 1000 records costs.
#![allow(missing_docs, clippy::unwrap_used)]

use std::net::IpAddr;

use spiderpool_core::ip::{IpFamily, ip_to_u128, u128_to_ip};
use spiderpool_core::model::PoolIpAllocation;
use spiderpool_core::store::contract::pool;
use spiderpool_core::store::{AllocationChange, MemoryStore, PoolStore};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn build(subnet: &str, range: &str, start: &str, n: u128) -> MemoryStore {
    let store = MemoryStore::new();
    store.put_pool(pool("p", subnet, &[range])).unwrap();
    let start: IpAddr = start.parse().unwrap();
    let family = IpFamily::of(&start);
    let base = ip_to_u128(start);
    // Every other address: N separate intervals, the worst case for the sets.
    let add = (0..n)
        .map(|i| {
            let rec = PoolIpAllocation {
                pod: format!("ns/pod-{i}"),
                pod_uid: format!("{i:036}"),
                container_id: Some(format!("{i:064}")),
                interface: Some("net1".into()),
                node: Some("node-1".into()),
                network: None,
            };
            (u128_to_ip(family, base + 2 * i), rec)
        })
        .collect();
    let v = pollster::block_on(store.read_pool("p", |_| ())).unwrap().unwrap().version;
    pollster::block_on(store.update_allocations(
        "p",
        v,
        &AllocationChange { add, ..Default::default() },
    ))
    .unwrap();
    store
}

const CASES: &[(&str, &str, &str, &str)] = &[
    ("ipv4 /24", "10.6.0.0/24", "10.6.0.1-10.6.0.254", "10.6.0.1"),
    ("ipv4 /8", "10.0.0.0/8", "10.0.0.1-10.255.255.254", "10.0.0.1"),
    ("ipv6 /64", "fd00::/64", "fd00::1-fd00::ffff:ffff:ffff:fffe", "fd00::1"),
];

/// Each measurement runs in a fresh child process (`--case INDEX N`), so memory
/// freed by one case cannot hide the growth of the next.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--case") {
        let case: usize = args[pos + 1].parse().unwrap();
        let n: u128 = args[pos + 2].parse().unwrap();
        let (_, subnet, range, start) = CASES[case];
        let before = rss_kib();
        let store = build(subnet, range, start, n);
        let after = rss_kib();
        println!("{}", after.saturating_sub(before));
        drop(store);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    println!("{:<10} {:>10} {:>15} {:>13}", "pool", "records", "RSS growth KiB", "bytes/record");
    for (case, (label, ..)) in CASES.iter().enumerate() {
        for n in [0u128, 100, 1_000, 100_000, 1_000_000] {
            if case == 0 && n > 100 {
                continue;
            }
            let out = std::process::Command::new(&exe)
                .args(["--case", &case.to_string(), &n.to_string()])
                .output()
                .unwrap();
            let growth: u128 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
            let per = (growth * 1024).checked_div(n).unwrap_or(0);
            println!("{label:<10} {n:>10} {growth:>15} {per:>13}");
        }
    }
}
