//! Property tests of the allocator over random sequences of ADD and DEL across
//! several pools, both families and several pods.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use proptest::prelude::*;
use spiderpool_core::allocator::{AllocateError, AllocateRequest, Allocator, ReleaseRequest};
use spiderpool_core::ip::{IpFamily, IpRange, IpSet, parse_cidr};
use spiderpool_core::model::parse_allocated_ips;
use spiderpool_core::pod::{NamespaceFacts, NodeFacts, PodFacts};
use spiderpool_core::selection::IpamSettings;
use spiderpool_core::store::contract::{pool, reserved};
use spiderpool_core::store::{EndpointStore, MemoryStore};

#[derive(Debug, Clone)]
enum Op {
    /// ADD for pod `pod` on NIC `nic`.
    Add { pod: usize, nic: usize },
    /// DEL for pod `pod`.
    Del { pod: usize },
    /// The pod is deleted and re-created with a new UID (next ADD uses it).
    Recreate { pod: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..8usize, 0..2usize).prop_map(|(pod, nic)| Op::Add { pod, nic }),
        2 => (0..8usize).prop_map(|pod| Op::Del { pod }),
        1 => (0..8usize).prop_map(|pod| Op::Recreate { pod }),
    ]
}

fn setup() -> Allocator<MemoryStore> {
    let s = MemoryStore::new();
    let mut a = pool("a", "10.1.0.0/28", &["10.1.0.1-10.1.0.6"]);
    a.spec.exclude_ips = vec!["10.1.0.2".into()];
    s.put_pool(a).unwrap();
    s.put_pool(pool("b", "10.2.0.0/28", &["10.2.0.1-10.2.0.4"])).unwrap();
    s.put_pool(pool("c", "fd00::/120", &["fd00::1-fd00::5"])).unwrap();
    s.put_reserved_ip(reserved("r", &["10.1.0.3", "fd00::2"]));
    Allocator::new(s)
}

fn request(pod: usize, generation: u32, nic: usize) -> AllocateRequest {
    let v6 = if pod.is_multiple_of(2) { vec!["c".to_string()] } else { vec![] };
    AllocateRequest {
        pod: PodFacts {
            namespace: "ns".into(),
            name: format!("pod{pod}"),
            uid: format!("uid{pod}-{generation}"),
            node: "n1".into(),
            ..Default::default()
        },
        namespace: NamespaceFacts { name: "ns".into(), ..Default::default() },
        node: NodeFacts { name: "n1".into(), ..Default::default() },
        container_id: format!("c{pod}-{generation}"),
        nic: format!("net{}", nic + 1),
        settings: IpamSettings {
            default_ipv4_ippool: vec!["a".into(), "b".into()],
            default_ipv6_ippool: v6,
            ..Default::default()
        },
        network: None,
    }
}

/// Checks every invariant against the store's view.
fn check<C: spiderpool_core::allocator::Clock>(
    a: &Allocator<MemoryStore, C>,
) -> Result<(), TestCaseError> {
    let store = a.store();
    let reserved: BTreeSet<IpAddr> =
        ["10.1.0.3", "fd00::2"].iter().map(|s| s.parse().unwrap()).collect();
    let mut from_endpoints: BTreeMap<String, BTreeMap<IpAddr, String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for ep in store.list_endpoints() {
        for d in &ep.value.status.current.ips {
            for (addr, pool) in [(&d.ipv4, &d.ipv4_pool), (&d.ipv6, &d.ipv6_pool)] {
                let (Some(addr), Some(pool)) = (addr, pool) else { continue };
                let ip: IpAddr = addr.split('/').next().unwrap().parse().unwrap();
                prop_assert!(seen.insert(ip), "address {ip} is held twice");
                from_endpoints
                    .entry(pool.clone())
                    .or_default()
                    .insert(ip, ep.value.status.current.uid.clone());
            }
        }
    }
    for name in ["a", "b", "c"] {
        let p = store.get_pool(name).unwrap().value;
        let status = p.status.clone().unwrap();
        let records = parse_allocated_ips(status.allocated_ips.as_deref()).unwrap();
        prop_assert_eq!(
            status.allocated_ip_count,
            Some(records.len() as i64),
            "count equals records"
        );
        let subnet = parse_cidr(&p.spec.subnet).unwrap();
        let family = IpFamily::of(&subnet.addr());
        let ips = IpSet::parse_ranges(family, &p.spec.ips).unwrap();
        let excluded = IpSet::parse_ranges(family, &p.spec.exclude_ips).unwrap();
        let mut held = BTreeMap::new();
        for (ip, rec) in &records {
            let ip: IpAddr = ip.parse().unwrap();
            prop_assert!(subnet.contains(&ip), "{ip} outside {subnet}");
            prop_assert!(ips.contains(&ip), "{ip} outside spec.ips");
            prop_assert!(!excluded.contains(&ip), "{ip} is excluded");
            prop_assert!(!reserved.contains(&ip), "{ip} is reserved");
            held.insert(ip, rec.pod_uid.clone());
        }
        let expected = from_endpoints.remove(name).unwrap_or_default();
        prop_assert_eq!(held, expected, "pool {} records match the endpoints exactly", name);
        let _ = IpRange::single(subnet.addr());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_add_del_sequences_keep_every_invariant(ops in proptest::collection::vec(op(), 1..60)) {
        let a = setup();
        let mut generation = [0u32; 8];
        for op in ops {
            match op {
                Op::Add { pod, nic } => {
                    let r = request(pod, generation[pod], nic);
                    match pollster::block_on(a.allocate(&r)) {
                        Ok(got) => {
                            let mine = got.for_nic(&r.nic);
                            prop_assert!(!mine.ips.is_empty(), "ADD returned nothing for its NIC");
                            // Idempotent.
                            let again = pollster::block_on(a.allocate(&r)).unwrap();
                            prop_assert_eq!(&got, &again);
                        }
                        Err(AllocateError::Exhausted { .. }) => {}
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
                Op::Del { pod } => {
                    let r = request(pod, generation[pod], 0);
                    let rel = ReleaseRequest {
                        namespace: r.pod.namespace.clone(),
                        name: r.pod.name.clone(),
                        uid: Some(r.pod.uid.clone()),
                        container_id: Some(r.container_id.clone()),
                        owner: None,
                        network: None,
                    };
                    pollster::block_on(a.release(&rel)).unwrap();
                    let ep = pollster::block_on(a.store().get_endpoint("ns", &r.pod.name)).unwrap();
                    if let Some(ep) = ep {
                        prop_assert_ne!(&ep.value.status.current.uid, &r.pod.uid, "DEL leaves no endpoint of its UID");
                    }
                }
                Op::Recreate { pod } => generation[pod] += 1,
            }
            check(&a)?;
        }
    }

    #[test]
    fn release_then_allocate_round_trips(n in 1usize..8) {
        let a = setup();
        let reqs: Vec<_> = (0..n).map(|p| request(p, 0, 0)).collect();
        let first: Vec<_> = reqs.iter().map(|r| pollster::block_on(a.allocate(r))).collect();
        for r in &reqs {
            pollster::block_on(a.release(&ReleaseRequest {
                namespace: r.pod.namespace.clone(),
                name: r.pod.name.clone(),
                uid: Some(r.pod.uid.clone()),
                container_id: None,
                owner: None,
                network: None,
            })).unwrap();
        }
        check(&a)?;
        let second: Vec<_> = reqs.iter().map(|r| pollster::block_on(a.allocate(r))).collect();
        for (x, y) in first.iter().zip(&second) {
            match (x, y) {
                (Ok(x), Ok(y)) => prop_assert_eq!(x, y),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "outcome changed after release: {x:?} vs {y:?}"),
            }
        }
        check(&a)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Several threads run random ADD/DEL sequences for their own pods against
    /// the same pools at once; afterwards every invariant holds.
    #[test]
    fn threads_racing_on_one_store_keep_every_invariant(
        per_thread in proptest::collection::vec(proptest::collection::vec(op(), 20..80), 2..5)
    ) {
        use std::sync::Arc;
        use std::time::Duration;
        use spiderpool_core::allocator::{RetryPolicy, ThreadSleep};

        let base = setup();
        let store = Arc::new(Allocator::with_clock(
            MemoryStore::new(),
            ThreadSleep,
            RetryPolicy { max_attempts: 200, initial: Duration::from_micros(20), max_wait: Duration::from_millis(2), ..Default::default() },
        ));
        // Same pools as `setup`.
        for name in ["a", "b", "c"] {
            store.store().put_pool(base.store().get_pool(name).unwrap().value).unwrap();
        }
        store.store().put_reserved_ip(reserved("r", &["10.1.0.3", "fd00::2"]));
        let start = Arc::new(std::sync::Barrier::new(per_thread.len()));
        let handles: Vec<_> = per_thread
            .into_iter()
            .enumerate()
            .map(|(t, ops)| {
                let a = Arc::clone(&store);
                let start = Arc::clone(&start);
                std::thread::spawn(move || -> Result<(), String> {
                    let mut generation = [0u32; 8];
                    start.wait();
                    for op in ops {
                        // Each thread has its own pods: names and UIDs carry
                        // the thread number.
                        match op {
                            Op::Add { pod, nic } => {
                                let mut r = request(pod, generation[pod], nic);
                                r.pod.name = format!("t{t}-{}", r.pod.name);
                                r.pod.uid = format!("t{t}-{}", r.pod.uid);
                                match pollster::block_on(a.allocate(&r)) {
                                    Ok(_) | Err(AllocateError::Exhausted { .. }) => {}
                                    Err(e) => return Err(e.to_string()),
                                }
                            }
                            Op::Del { pod } => {
                                let r = request(pod, generation[pod], 0);
                                let rel = ReleaseRequest {
                                    namespace: r.pod.namespace.clone(),
                                    name: format!("t{t}-{}", r.pod.name),
                                    uid: Some(format!("t{t}-{}", r.pod.uid)),
                                    container_id: Some(r.container_id.clone()),
                                    owner: None,
                                    network: None,
                                };
                                pollster::block_on(a.release(&rel)).map_err(|e| e.to_string())?;
                            }
                            Op::Recreate { pod } => generation[pod] += 1,
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            let outcome = h.join().unwrap();
            prop_assert!(outcome.is_ok(), "thread failed: {outcome:?}");
        }
        check(&store)?;
    }
}
