#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::model::SpiderIPPool;
use crate::pod::{OwnerFacts, StatefulSetFacts};
use crate::store::MemoryStore;
use crate::store::contract::{pool, reserved};

fn block<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn quickstart_pool() -> SpiderIPPool {
    let mut p = pool("10-6-v4", "10.6.0.0/16", &["10.6.212.200-10.6.212.240"]);
    p.spec.gateway = Some("10.6.0.1".into());
    p
}

fn store_with(pools: Vec<SpiderIPPool>) -> Allocator<MemoryStore> {
    let s = MemoryStore::new();
    for p in pools {
        s.put_pool(p).unwrap();
    }
    Allocator::new(s)
}

fn req(name: &str, uid: &str, nic: &str, v4: &[&str], v6: &[&str]) -> AllocateRequest {
    AllocateRequest {
        pod: PodFacts {
            namespace: "default".into(),
            name: name.into(),
            uid: uid.into(),
            node: "node1".into(),
            ..Default::default()
        },
        namespace: NamespaceFacts { name: "default".into(), ..Default::default() },
        node: NodeFacts { name: "node1".into(), ..Default::default() },
        container_id: format!("ctr-{uid}"),
        nic: nic.into(),
        settings: IpamSettings {
            default_ipv4_ippool: v4.iter().map(|s| s.to_string()).collect(),
            default_ipv6_ippool: v6.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        network: None,
    }
}

fn rel(r: &AllocateRequest) -> ReleaseRequest {
    ReleaseRequest {
        namespace: r.pod.namespace.clone(),
        name: r.pod.name.clone(),
        uid: Some(r.pod.uid.clone()),
        container_id: Some(r.container_id.clone()),
        owner: r.pod.owner.clone(),
        network: None,
    }
}

fn addrs(a: &Allocation) -> Vec<String> {
    a.ips.iter().map(|i| format!("{}={}", i.nic, i.address)).collect()
}

#[test]
fn quick_start_pod_gets_the_first_address_with_prefix_and_default_route() {
    let a = store_with(vec![quickstart_pool()]);
    let r = req("nginx-1", "u1", "net1", &["10-6-v4"], &[]);
    let got = block(a.allocate(&r)).unwrap();
    assert_eq!(addrs(&got), ["net1=10.6.212.200/16"]);
    assert_eq!(got.ips[0].pool, "10-6-v4");
    assert_eq!(got.ips[0].gateway, Some(ip("10.6.0.1")));
    assert_eq!(got.routes.len(), 1);
    assert_eq!(got.routes[0].dst.to_string(), "0.0.0.0/0");
    assert_eq!(got.routes[0].gw, ip("10.6.0.1"));

    let second = block(a.allocate(&req("nginx-2", "u2", "net1", &["10-6-v4"], &[]))).unwrap();
    assert_eq!(addrs(&second), ["net1=10.6.212.201/16"]);

    let ep = block(a.store().get_endpoint("default", "nginx-1")).unwrap().unwrap();
    let d = &ep.value.status.current.ips[0];
    assert_eq!(ep.value.status.current.uid, "u1");
    assert_eq!(d.interface, "net1");
    assert_eq!(d.ipv4.as_deref(), Some("10.6.212.200/16"));
    assert_eq!(d.ipv4_pool.as_deref(), Some("10-6-v4"));
    assert_eq!(d.ipv4_gateway.as_deref(), Some("10.6.0.1"));
    assert_eq!(d.clean_gateway, Some(false));
    assert_eq!(ep.value.status.owner_controller_type, "Pod");

    let pool = a.store().get_pool("10-6-v4").unwrap().value;
    let status = pool.status.unwrap();
    assert_eq!(status.allocated_ip_count, Some(2));
    assert_eq!(status.total_ip_count, Some(41));
    let records = crate::model::parse_allocated_ips(status.allocated_ips.as_deref()).unwrap();
    assert_eq!(records["10.6.212.200"].pod, "default/nginx-1");
    assert_eq!(records["10.6.212.200"].pod_uid, "u1");
    assert_eq!(records["10.6.212.200"].container_id.as_deref(), Some("ctr-u1"));
    assert_eq!(records["10.6.212.200"].interface.as_deref(), Some("net1"));
    assert_eq!(records["10.6.212.200"].node.as_deref(), Some("node1"));
}

#[test]
fn repeated_add_returns_the_same_addresses() {
    let a = store_with(vec![quickstart_pool()]);
    let r = req("p", "u1", "net1", &["10-6-v4"], &[]);
    let first = block(a.allocate(&r)).unwrap();
    let again = block(a.allocate(&r)).unwrap();
    assert_eq!(first, again);
    let count = a.store().get_pool("10-6-v4").unwrap().value.status.unwrap().allocated_ip_count;
    assert_eq!(count, Some(1), "no second record");
}

#[test]
fn release_frees_and_a_later_allocation_reuses_the_lowest_address() {
    let a = store_with(vec![quickstart_pool()]);
    let r1 = req("p1", "u1", "net1", &["10-6-v4"], &[]);
    let r2 = req("p2", "u2", "net1", &["10-6-v4"], &[]);
    block(a.allocate(&r1)).unwrap();
    block(a.allocate(&r2)).unwrap();
    let out = block(a.release(&rel(&r1))).unwrap();
    assert_eq!(out.released, [("10-6-v4".to_string(), ip("10.6.212.200"))]);
    assert!(block(a.store().get_endpoint("default", "p1")).unwrap().is_none());
    // Idempotent.
    let again = block(a.release(&rel(&r1))).unwrap();
    assert!(again.released.is_empty());
    let r3 = req("p3", "u3", "net1", &["10-6-v4"], &[]);
    assert_eq!(addrs(&block(a.allocate(&r3)).unwrap()), ["net1=10.6.212.200/16"]);
}

#[test]
fn excluded_and_reserved_addresses_are_never_handed_out() {
    let mut p = pool("p", "10.6.0.0/16", &["10.6.0.1-10.6.0.6"]);
    p.spec.exclude_ips = vec!["10.6.0.1-10.6.0.2".into(), "10.6.0.4".into()];
    let a = store_with(vec![p]);
    a.store().put_reserved_ip(reserved("r", &["10.6.0.3", "10.6.0.5"]));
    let got = block(a.allocate(&req("a", "ua", "net1", &["p"], &[]))).unwrap();
    assert_eq!(addrs(&got), ["net1=10.6.0.6/16"]);
    let err = block(a.allocate(&req("b", "ub", "net1", &["p"], &[]))).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, AllocateError::Exhausted { .. }), "{msg}");
    assert!(
        msg.contains("no free IPv4 address for NIC net1") && msg.contains("p: no free address"),
        "{msg}"
    );
}

#[test]
fn dual_stack_keeps_nothing_when_one_family_fails() {
    let v4 = pool("v4", "10.6.0.0/16", &["10.6.0.1-10.6.0.9"]);
    let v6 = pool("v6", "fd00::/64", &["fd00::1"]);
    let a = store_with(vec![v4, v6]);
    let first = block(a.allocate(&req("a", "ua", "net1", &["v4"], &["v6"]))).unwrap();
    assert_eq!(addrs(&first), ["net1=10.6.0.1/16", "net1=fd00::1/64"]);
    let err = block(a.allocate(&req("b", "ub", "net1", &["v4"], &["v6"]))).unwrap_err();
    assert!(matches!(err, AllocateError::Exhausted { family: IpFamily::V6, .. }), "{err}");
    let v4_count = a.store().get_pool("v4").unwrap().value.status.unwrap().allocated_ip_count;
    assert_eq!(v4_count, Some(1), "the IPv4 address of the failed ADD was rolled back");
    assert!(block(a.store().get_endpoint("default", "b")).unwrap().is_none());
}

#[test]
fn fallback_keeps_the_user_order_among_equal_priorities() {
    let full = pool("a-full", "10.1.0.0/16", &["10.1.0.1"]);
    let b = pool("b", "10.2.0.0/16", &["10.2.0.1-10.2.0.9"]);
    let c = pool("c", "10.3.0.0/16", &["10.3.0.1-10.3.0.9"]);
    let a = store_with(vec![full, b, c]);
    block(a.allocate(&req("x", "ux", "net1", &["a-full"], &[]))).unwrap();
    // Listed c before b: c wins, every time.
    for i in 0..5 {
        let got = block(a.allocate(&req(
            &format!("p{i}"),
            &format!("u{i}"),
            "net1",
            &["a-full", "c", "b"],
            &[],
        )))
        .unwrap();
        assert_eq!(got.ips[0].pool, "c");
    }
}

#[test]
fn pools_with_affinity_are_tried_first() {
    let plain = pool("plain", "10.1.0.0/16", &["10.1.0.1-10.1.0.9"]);
    let mut pinned = pool("pinned", "10.2.0.0/16", &["10.2.0.1-10.2.0.9"]);
    pinned.spec.node_name = vec!["node1".into()];
    let a = store_with(vec![plain, pinned]);
    let got = block(a.allocate(&req("x", "ux", "net1", &["plain", "pinned"], &[]))).unwrap();
    assert_eq!(got.ips[0].pool, "pinned");
}

#[test]
fn no_candidate_error_lists_every_pool_and_why() {
    let mut off = pool("off", "10.1.0.0/16", &["10.1.0.1"]);
    off.spec.disable = Some(true);
    let mut elsewhere = pool("elsewhere", "10.2.0.0/16", &["10.2.0.1"]);
    elsewhere.spec.node_name = vec!["node9".into()];
    let v6 = pool("six", "fd00::/64", &["fd00::1"]);
    let a = store_with(vec![off, elsewhere, v6]);
    let err =
        block(a.allocate(&req("x", "ux", "net1", &["off", "elsewhere", "six", "ghost"], &[])))
            .unwrap_err()
            .to_string();
    for part in [
        "off: pool is disabled",
        "elsewhere: node node1 is not in spec.nodeName",
        "six: wrong IP family",
        "ghost: no such SpiderIPPool",
    ] {
        assert!(err.contains(part), "{err:?} lacks {part:?}");
    }
}

#[test]
fn clean_gateway_suppresses_the_default_route_only() {
    let mut p = quickstart_pool();
    p.spec.routes =
        Some(vec![crate::model::Route { dst: "10.7.0.0/16".into(), gw: "10.6.0.254".into() }]);
    let a = store_with(vec![p]);
    let mut r = req("x", "ux", "net1", &["10-6-v4"], &[]);
    r.settings.clean_gateway = true;
    let got = block(a.allocate(&r)).unwrap();
    let routes: Vec<String> =
        got.routes.iter().map(|r| format!("{} via {}", r.dst, r.gw)).collect();
    assert_eq!(routes, ["10.7.0.0/16 via 10.6.0.254"]);
}

#[test]
fn ippools_annotation_allocates_every_nic_in_the_first_add() {
    let a = store_with(vec![
        pool("p0", "10.1.0.0/16", &["10.1.0.1-10.1.0.9"]),
        pool("p1", "10.2.0.0/16", &["10.2.0.1-10.2.0.9"]),
    ]);
    let mut r = req("x", "ux", "eth0", &[], &[]);
    r.pod.annotations.insert(
        "ipam.spidernet.io/ippools".into(),
        r#"[{"interface":"eth0","ipv4":["p0"]},{"interface":"net1","ipv4":["p1"],"cleangateway":true}]"#.into(),
    );
    let got = block(a.allocate(&r)).unwrap();
    assert_eq!(addrs(&got), ["eth0=10.1.0.1/16", "net1=10.2.0.1/16"]);
    let p1 = a.store().get_pool("p1").unwrap().value.status.unwrap().allocated_ip_count;
    assert_eq!(p1, Some(1));
    r.nic = "net1".into();
    let second = block(a.allocate(&r)).unwrap();
    assert_eq!(got, second, "the later NIC is served from the endpoint");
    assert_eq!(addrs(&second.for_nic("net1")), ["net1=10.2.0.1/16"]);
}

#[test]
fn annotation_routes_go_to_the_nic_whose_subnet_holds_the_gateway() {
    let mut p0 = pool("p0", "10.1.0.0/16", &["10.1.0.1-10.1.0.9"]);
    p0.spec.gateway = Some("10.1.0.254".into());
    let p1 = pool("p1", "10.2.0.0/16", &["10.2.0.1-10.2.0.9"]);
    let a = store_with(vec![p0, p1]);
    let mut r = req("x", "ux", "eth0", &[], &[]);
    r.pod.annotations.insert(
        "ipam.spidernet.io/ippools".into(),
        r#"[{"interface":"eth0","ipv4":["p0"]},{"interface":"net1","ipv4":["p1"]}]"#.into(),
    );
    r.pod.annotations.insert(
        "ipam.spidernet.io/routes".into(),
        r#"[{"dst":"172.16.0.0/16","gw":"10.2.0.1"},{"dst":"172.17.0.0/16","gw":"192.168.9.9"}]"#
            .into(),
    );
    let got = block(a.allocate(&r)).unwrap();
    let routes: Vec<String> =
        got.routes.iter().map(|r| format!("{} {} via {}", r.nic, r.dst, r.gw)).collect();
    assert_eq!(routes, ["eth0 0.0.0.0/0 via 10.1.0.254", "net1 172.16.0.0/16 via 10.2.0.1"]);
}

#[test]
fn a_stale_release_never_frees_an_address_reused_by_another_pod() {
    let a = store_with(vec![quickstart_pool()]);
    let old = req("p", "old-uid", "net1", &["10-6-v4"], &[]);
    block(a.allocate(&old)).unwrap();
    block(a.release(&rel(&old))).unwrap();
    let new = req("q", "new-uid", "net1", &["10-6-v4"], &[]);
    let got = block(a.allocate(&new)).unwrap();
    assert_eq!(got.ips[0].address.addr(), ip("10.6.212.200"), "address reused");
    // The late DEL of the old pod arrives again.
    let out = block(a.release(&rel(&old))).unwrap();
    assert!(out.released.is_empty());
    let pool = a.store().get_pool("10-6-v4").unwrap().value;
    let records =
        crate::model::parse_allocated_ips(pool.status.unwrap().allocated_ips.as_deref()).unwrap();
    assert_eq!(records["10.6.212.200"].pod_uid, "new-uid");
}

#[test]
fn release_of_an_old_sandbox_keeps_what_the_new_sandbox_holds() {
    let a = store_with(vec![quickstart_pool()]);
    let mut r = req("p", "u1", "net1", &["10-6-v4"], &[]);
    r.container_id = "sandbox-1".into();
    block(a.allocate(&r)).unwrap();
    let old = rel(&r);
    r.container_id = "sandbox-2".into();
    let again = block(a.allocate(&r)).unwrap();
    assert_eq!(again.ips[0].address.addr(), ip("10.6.212.200"));
    let out = block(a.release(&old)).unwrap();
    assert!(out.released.is_empty(), "{out:?}");
    assert!(out.kept.is_some());
    assert!(block(a.store().get_endpoint("default", "p")).unwrap().is_some());
    let out = block(a.release(&rel(&r))).unwrap();
    assert_eq!(out.released.len(), 1);
}

#[test]
fn a_recreated_pod_with_the_same_name_replaces_the_stale_endpoint() {
    let a = store_with(vec![quickstart_pool()]);
    block(a.allocate(&req("p", "u1", "net1", &["10-6-v4"], &[]))).unwrap();
    let got = block(a.allocate(&req("p", "u2", "net1", &["10-6-v4"], &[]))).unwrap();
    assert_eq!(got.ips[0].address.addr(), ip("10.6.212.200"), "the stale record was freed first");
    let ep = block(a.store().get_endpoint("default", "p")).unwrap().unwrap();
    assert_eq!(ep.value.status.current.uid, "u2");
    let count = a.store().get_pool("10-6-v4").unwrap().value.status.unwrap().allocated_ip_count;
    assert_eq!(count, Some(1));
}

fn sts(r: &mut AllocateRequest, replicas: i32) {
    r.pod.owner = Some(OwnerFacts {
        kind: "StatefulSet".into(),
        name: "web".into(),
        uid: Some("set-uid".into()),
        api_version: None,
        statefulset: Some(StatefulSetFacts { replicas, ordinal_start: None }),
        kubevirt: None,
    });
}

#[test]
fn statefulset_pods_keep_their_address_until_scale_down() {
    let a = store_with(vec![quickstart_pool()]);
    block(a.allocate(&req("filler", "uf", "net1", &["10-6-v4"], &[]))).unwrap();
    let mut r = req("web-1", "u1", "net1", &["10-6-v4"], &[]);
    sts(&mut r, 2);
    let first = block(a.allocate(&r)).unwrap();
    assert_eq!(first.ips[0].address.addr(), ip("10.6.212.201"));
    // Pod deleted: DEL keeps the address for the member.
    let out = block(a.release(&rel(&r))).unwrap();
    assert!(out.released.is_empty() && out.kept.is_some(), "{out:?}");
    // Free .200 so a fresh allocation would pick it.
    block(a.release(&rel(&req("filler", "uf", "net1", &[], &[])))).unwrap();
    // Re-created with a new UID: same address, records re-pointed.
    let mut again = req("web-1", "u2", "net1", &["10-6-v4"], &[]);
    sts(&mut again, 2);
    let second = block(a.allocate(&again)).unwrap();
    assert_eq!(second.ips[0].address.addr(), ip("10.6.212.201"));
    let pool = a.store().get_pool("10-6-v4").unwrap().value;
    let records =
        crate::model::parse_allocated_ips(pool.status.unwrap().allocated_ips.as_deref()).unwrap();
    assert_eq!(records["10.6.212.201"].pod_uid, "u2");
    // Scaled down to 1: web-1 is no longer a member and its DEL frees the address.
    sts(&mut again, 1);
    let out = block(a.release(&rel(&again))).unwrap();
    assert_eq!(out.released, [("10-6-v4".to_string(), ip("10.6.212.201"))]);
}

#[test]
fn statefulset_pod_moved_to_another_pool_gets_a_fresh_address() {
    let a =
        store_with(vec![quickstart_pool(), pool("other", "10.9.0.0/16", &["10.9.0.1-10.9.0.9"])]);
    let mut r = req("web-0", "u1", "net1", &["10-6-v4"], &[]);
    sts(&mut r, 1);
    block(a.allocate(&r)).unwrap();
    let mut moved = req("web-0", "u2", "net1", &["other"], &[]);
    sts(&mut moved, 1);
    let got = block(a.allocate(&moved)).unwrap();
    assert_eq!(addrs(&got), ["net1=10.9.0.1/16"]);
    let old = a.store().get_pool("10-6-v4").unwrap().value.status.unwrap().allocated_ip_count;
    assert_eq!(old, Some(0), "the old pool's address was given back");
}

#[test]
fn empty_request_fields_are_rejected_by_name() {
    let a = store_with(vec![quickstart_pool()]);
    let mut r = req("p", "u1", "net1", &["10-6-v4"], &[]);
    r.pod.uid.clear();
    let err = block(a.allocate(&r)).unwrap_err().to_string();
    assert!(err.contains("pod UID is empty"), "{err}");
}

#[test]
fn threads_racing_on_one_pool_never_share_an_address() {
    let a = Arc::new(Allocator::with_clock(
        {
            let s = MemoryStore::new();
            s.put_pool(pool("p", "10.0.0.0/16", &["10.0.0.1-10.0.0.200"])).unwrap();
            s
        },
        ThreadSleep,
        RetryPolicy {
            max_attempts: 50,
            initial: std::time::Duration::from_micros(50),
            ..Default::default()
        },
    ));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..40 {
                    let r = req(&format!("t{t}-{i}"), &format!("u{t}-{i}"), "net1", &["p"], &[]);
                    got.push(block(a.allocate(&r)).unwrap().ips[0].address.addr());
                    if i % 3 == 0 {
                        block(a.release(&rel(&r))).unwrap();
                        got.pop();
                    }
                }
                got
            })
        })
        .collect();
    let mut all: Vec<IpAddr> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an address was handed out twice");
    let count = a.store().get_pool("p").unwrap().value.status.unwrap().allocated_ip_count;
    assert_eq!(count, Some(n as i64));
}

#[test]
fn retry_waits_grow_and_stay_bounded() {
    let p = RetryPolicy::default();
    assert!(p.wait(0, 0.0) < p.wait(3, 0.0));
    assert!(p.wait(60, 1.0) <= p.max_wait);
    assert_eq!(p.wait(0, 0.0), std::time::Duration::from_millis(10));
    let r = SeededJitter::default().sample();
    assert!((0.0..1.0).contains(&r));
    let _unused: BTreeMap<(), ()> = BTreeMap::new();
}

#[test]
fn first_free_moves_on_when_an_earlier_range_is_full() {
    // Regression: an early `?` made a full first range end the search.
    let p = pool("p", "10.6.0.0/16", &["10.6.0.1-10.6.0.2", "10.6.9.1-10.6.9.3"]);
    let a = store_with(vec![p]);
    let got: Vec<String> = (0..4)
        .map(|i| {
            let r = req(&format!("p{i}"), &format!("u{i}"), "net1", &["p"], &[]);
            block(a.allocate(&r)).unwrap().ips[0].address.to_string()
        })
        .collect();
    assert_eq!(got, ["10.6.0.1/16", "10.6.0.2/16", "10.6.9.1/16", "10.6.9.2/16"]);
}

#[test]
fn spec_ips_order_is_followed_not_numeric_order() {
    let p = pool("p", "10.6.0.0/16", &["10.6.5.1", "10.6.0.1"]);
    let a = store_with(vec![p]);
    let got = block(a.allocate(&req("x", "ux", "net1", &["p"], &[]))).unwrap();
    assert_eq!(got.ips[0].address.to_string(), "10.6.5.1/16");
}

#[test]
fn a_pool_holds_more_than_go_spiderpools_5000_cap() {
    let a = store_with(vec![pool("big", "10.0.0.0/16", &["10.0.0.1-10.0.255.254"])]);
    for i in 0..5100 {
        let r = req(&format!("p{i}"), &format!("u{i}"), "net1", &["big"], &[]);
        block(a.allocate(&r)).unwrap();
    }
    let status = a.store().get_pool("big").unwrap().value.status.unwrap();
    assert_eq!(status.allocated_ip_count, Some(5100));
}

/// Issue 9 item 3: a glob in `ipam.spidernet.io/ippool` that matches no pool
/// answered with no address and wrote an empty SpiderEndpoint. It fails, names
/// the annotation, the NIC and the pattern, and writes nothing.
#[test]
fn annotation_glob_matching_no_pool_fails_and_writes_nothing() {
    let a = store_with(vec![quickstart_pool()]);
    let mut r = req("p", "u1", "net1", &[], &[]);
    r.pod.annotations.insert("ipam.spidernet.io/ippool".into(), r#"{"ipv4":["zzz*"]}"#.into());
    let err = block(a.allocate(&r)).unwrap_err();
    let msg = err.to_string();
    for part in ["ipam.spidernet.io/ippool", "NIC net1", "\"zzz*\""] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert!(block(a.store().get_endpoint("default", "p")).unwrap().is_none(), "no endpoint");
    let status = a.store().get_pool("10-6-v4").unwrap().value.status.unwrap_or_default();
    assert_eq!(status.allocated_ip_count.unwrap_or(0), 0, "no record");
}

fn network_of_records(a: &Allocator<MemoryStore>, pool: &str) -> Vec<(String, Option<String>)> {
    let status = a.store().get_pool(pool).unwrap().value.status.unwrap_or_default();
    let records = crate::model::parse_allocated_ips(status.allocated_ips.as_deref()).unwrap();
    records.values().map(|r| (r.pod.clone(), r.network.clone())).collect()
}

/// Issue 9 item 5: records carry the network of their ADD, and a release
/// scoped to a network (CNI GC) frees only that network's records: another
/// network's pod, and a record made before networks were recorded, are kept.
#[test]
fn a_network_scoped_release_frees_only_that_networks_records() {
    let a = store_with(vec![quickstart_pool()]);
    let on = |pod: &str, network: Option<&str>| {
        let mut r = req(pod, &format!("u-{pod}"), "net1", &["10-6-v4"], &[]);
        r.network = network.map(str::to_string);
        block(a.allocate(&r)).unwrap();
        r
    };
    let (ra, rb, rl) = (on("a", Some("neta")), on("b", Some("netb")), on("legacy", None));
    assert_eq!(
        network_of_records(&a, "10-6-v4"),
        [
            ("default/a".into(), Some("neta".into())),
            ("default/b".into(), Some("netb".into())),
            ("default/legacy".into(), None)
        ]
    );
    let scoped = |r: &AllocateRequest| ReleaseRequest { network: Some("neta".into()), ..rel(r) };
    for r in [&rb, &rl] {
        let out = block(a.release(&scoped(r))).unwrap();
        assert!(out.released.is_empty(), "{}: {out:?}", r.pod.name);
        assert!(out.kept.unwrap().contains("other networks"));
        assert!(block(a.store().get_endpoint("default", &r.pod.name)).unwrap().is_some());
    }
    let out = block(a.release(&scoped(&ra))).unwrap();
    assert_eq!(out.released, [("10-6-v4".to_string(), ip("10.6.212.200"))]);
    assert!(block(a.store().get_endpoint("default", "a")).unwrap().is_none());
    assert_eq!(network_of_records(&a, "10-6-v4").len(), 2);
    // A repeated ADD without a network keeps the one recorded.
    let mut again = rb.clone();
    again.network = None;
    block(a.allocate(&again)).unwrap();
    assert!(network_of_records(&a, "10-6-v4").contains(&("default/b".into(), Some("netb".into()))));
}

/// With `ipam.spidernet.io/ippools`, the first ADD (net1, network `neta`)
/// allocates net2 too; net2 gets its network from its own ADD (`netb`), and
/// GC of `netb` frees net2 only, leaving net1 and its endpoint entry alone.
#[test]
fn each_nic_of_a_multi_nic_pod_records_its_own_network() {
    let a = store_with(vec![
        pool("p0", "10.1.0.0/16", &["10.1.0.1-10.1.0.9"]),
        pool("p1", "10.2.0.0/16", &["10.2.0.1-10.2.0.9"]),
    ]);
    let mut r = req("x", "ux", "net1", &[], &[]);
    r.pod.annotations.insert(
        "ipam.spidernet.io/ippools".into(),
        r#"[{"interface":"net1","ipv4":["p0"]},{"interface":"net2","ipv4":["p1"]}]"#.into(),
    );
    r.network = Some("neta".into());
    block(a.allocate(&r)).unwrap();
    assert_eq!(network_of_records(&a, "p0"), [("default/x".into(), Some("neta".into()))]);
    assert_eq!(network_of_records(&a, "p1"), [("default/x".into(), None)], "not neta's NIC");
    r.nic = "net2".into();
    r.network = Some("netb".into());
    block(a.allocate(&r)).unwrap();
    assert_eq!(network_of_records(&a, "p0"), [("default/x".into(), Some("neta".into()))]);
    assert_eq!(network_of_records(&a, "p1"), [("default/x".into(), Some("netb".into()))]);

    let out =
        block(a.release(&ReleaseRequest { network: Some("netb".into()), ..rel(&r) })).unwrap();
    assert_eq!(out.released, [("p1".to_string(), ip("10.2.0.1"))]);
    let ep = block(a.store().get_endpoint("default", "x")).unwrap().unwrap();
    let nics: Vec<&str> =
        ep.value.status.current.ips.iter().map(|d| d.interface.as_str()).collect();
    assert_eq!(nics, ["net1"]);
    assert_eq!(network_of_records(&a, "p1"), []);
    assert_eq!(network_of_records(&a, "p0").len(), 1);
}
