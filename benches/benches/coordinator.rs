//! Coordinator route planning: ADD plan for the fourth NIC of an overlay pod
//! (eth0 + net1..net4, already tuned) with 100 hijack CIDRs, and the same
//! plan plus the simulation of its result. DESIGN.md §9: microseconds.
//!
//! Run with: `cargo bench -p spiderpool-benches --bench coordinator`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::IpNet;
use spiderpool_core::coordinator::{
    AddrView, EffectiveConfig, HostView, LinkFlags, LinkView, ModeSetting, NetnsView, PlanInput,
    Route, Scope, apply_to_view, plan_add,
};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn link(index: u32, name: &str, peer: Option<u32>) -> LinkView {
    LinkView {
        index,
        name: name.into(),
        flags: LinkFlags { up: true, broadcast: true, multicast: true, loopback: false },
        mac: Some(format!("02:00:00:00:00:{index:02x}")),
        mtu: Some(1500),
        kind: None,
        peer_index: peer,
        ifalias: None,
    }
}

fn route(dst: &str, gw: Option<&str>, dev: &str, scope: Scope) -> Route {
    Route {
        table: 254,
        dst: net(dst),
        gateway: gw.map(ip),
        dev: Some(dev.into()),
        scope,
        prefsrc: None,
        protocol: None,
        nexthops: vec![],
    }
}

/// Plans net1..net3 one after another, then adds net4: the input of the
/// fourth NIC's ADD.
fn input() -> PlanInput {
    let config = EffectiveConfig {
        mode: ModeSetting::Auto,
        service_cidr: vec![net("10.233.0.0/18")],
        overlay_pod_cidr: vec![net("10.233.64.0/18")],
        hijack_cidr: (0..100).map(|i| net(&format!("192.168.{i}.0/24"))).collect(),
        ..EffectiveConfig::default()
    };
    let mut pod = NetnsView {
        links: vec![link(2, "eth0", Some(40))],
        addresses: vec![AddrView { dev: "eth0".into(), address: net("10.233.70.5/32") }],
        routes: vec![
            route("169.254.1.1/32", None, "eth0", Scope::Link),
            route("0.0.0.0/0", Some("169.254.1.1"), "eth0", Scope::Global),
        ],
        rules: vec![],
    };
    let mut host = HostView {
        pod_host_ips: vec![ip("10.6.0.2")],
        links: vec![link(40, "cali0", Some(2))],
        ..HostView::default()
    };
    let mut last = None;
    for i in 1..=4u8 {
        let name = format!("net{i}");
        pod.links.push(link(2 + u32::from(i), &name, None));
        pod.addresses.push(AddrView { dev: name.clone(), address: net(&format!("10.{i}.0.5/24")) });
        pod.routes.push(route(&format!("10.{i}.0.0/24"), None, &name, Scope::Link));
        pod.routes.push(route("0.0.0.0/0", Some(&format!("10.{i}.0.1")), &name, Scope::Global));
        let inp = PlanInput {
            config: config.clone(),
            container_id: "c0ffee".into(),
            ifname: name,
            pod: pod.clone(),
            host: host.clone(),
        };
        if i == 4 {
            last = Some(inp);
            break;
        }
        let plan = plan_add(&inp).unwrap();
        (pod, host) = apply_to_view(&pod, &host, &plan);
    }
    last.unwrap()
}

fn bench(c: &mut Criterion) {
    let inp = input();
    let plan = plan_add(&inp).unwrap();
    assert_eq!(plan.table, 104);
    assert!(plan.ops.len() > 100, "{} ops", plan.ops.len());
    c.bench_function("coordinator/plan_add 4 NICs, 100 hijack CIDRs", |b| {
        b.iter(|| plan_add(black_box(&inp)).unwrap())
    });
    c.bench_function("coordinator/plan_add + apply_to_view", |b| {
        b.iter(|| {
            let plan = plan_add(black_box(&inp)).unwrap();
            apply_to_view(&inp.pod, &inp.host, &plan)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
