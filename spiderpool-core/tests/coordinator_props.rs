//! Property tests of the coordinator planner over random multi-NIC pods
//! (underlay or overlay, IPv4 / IPv6 / dual stack, 1–3 extra NICs planned one
//! after another, random host IPs, hijack CIDRs, policy routes, default-route
//! NIC, MAC prefix):
//!
//! - planning is deterministic;
//! - planning again on the state a plan produces adds nothing (every `add`
//!   the views can show is already there);
//! - every route's gateway is reachable on its device in the resulting state
//!   (a route without gateway on that device covers it, or it is an IPv6
//!   link-local address);
//! - no rule points at an empty table (of its family).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;
use spiderpool_core::coordinator::{
    AddrView, EffectiveConfig, HostView, LinkFlags, LinkView, MacPrefix, ModeSetting, NetnsView,
    PlanInput, PolicyRoute, Route, Rule, Scope, apply_to_view, is_present, plan_add,
};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn link(index: u32, name: &str) -> LinkView {
    LinkView {
        index,
        name: name.to_owned(),
        flags: LinkFlags { up: true, broadcast: true, multicast: true, loopback: false },
        mac: Some(format!("02:00:00:00:00:{index:02x}")),
        mtu: Some(1500),
        kind: None,
        peer_index: None,
        ifalias: None,
    }
}

fn route(dst: IpNet, gw: Option<IpAddr>, dev: &str, scope: Scope) -> Route {
    Route {
        table: 254,
        dst,
        gateway: gw,
        dev: Some(dev.to_owned()),
        scope,
        prefsrc: None,
        protocol: None,
        nexthops: vec![],
    }
}

#[derive(Debug, Clone)]
struct Case {
    overlay: bool,
    v4: bool,
    v6: bool,
    host_v4: bool,
    host_v6: bool,
    extra: Vec<(bool, bool, u8)>, // (has default, has policy route, host byte)
    hijack: Vec<usize>,
    default_nic: u8,
    mac_prefix: bool,
    tx: u32,
}

const HIJACK: [&str; 6] = [
    "10.233.0.0/18",
    "10.233.64.0/18",
    "169.254.0.0/16",
    "fd00:10:233::/112",
    "fd00:10:244::/64",
    "192.0.2.0/24",
];

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((any::<bool>(), any::<bool>(), 2u8..250), 1..=3),
        prop::collection::vec(0usize..HIJACK.len(), 0..5),
        0u8..3,
        any::<bool>(),
        prop::sample::select(vec![0u32, 1000]),
    )
        .prop_map(
            |(overlay, fam, host_v4, host_v6, extra, hijack, default_nic, mac_prefix, tx)| Case {
                overlay,
                v4: fam != 1,
                v6: fam != 0,
                host_v4,
                host_v6,
                extra,
                hijack,
                default_nic,
                mac_prefix,
                tx,
            },
        )
}

/// Adds NIC `name` (number `i`) with its addresses and connected routes.
fn add_nic(pod: &mut NetnsView, c: &Case, i: u8, name: &str, host_byte: u8, default: bool) {
    let index = pod.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
    pod.links.push(link(index, name));
    if c.v4 {
        pod.addresses
            .push(AddrView { dev: name.into(), address: net(&format!("10.{i}.0.{host_byte}/24")) });
        pod.routes.push(Route {
            protocol: Some("kernel".into()),
            prefsrc: Some(ip(&format!("10.{i}.0.{host_byte}"))),
            ..route(net(&format!("10.{i}.0.0/24")), None, name, Scope::Link)
        });
        if default {
            pod.routes.push(route(
                net("0.0.0.0/0"),
                Some(ip(&format!("10.{i}.0.1"))),
                name,
                Scope::Global,
            ));
        }
    }
    if c.v6 {
        pod.addresses.push(AddrView {
            dev: name.into(),
            address: net(&format!("fd00:{i}::{host_byte:x}/64")),
        });
        pod.addresses.push(AddrView {
            dev: name.into(),
            address: net(&format!("fe80::{i}:{host_byte:x}/64")),
        });
        pod.routes.push(route(net(&format!("fd00:{i}::/64")), None, name, Scope::Link));
        pod.routes.push(route(net("fe80::/64"), None, name, Scope::Link));
        if default {
            pod.routes.push(route(
                net("::/0"),
                Some(ip(&format!("fd00:{i}::1"))),
                name,
                Scope::Global,
            ));
        }
    }
}

fn config(c: &Case, nic: u8) -> EffectiveConfig {
    let mut policy = Vec::new();
    if c.extra.get(usize::from(nic.saturating_sub(1))).is_some_and(|e| e.1)
        && !(c.overlay && nic == 0)
    {
        if c.v4 {
            policy.push(PolicyRoute {
                dst: net(&format!("172.16.{nic}.0/24")),
                gw: ip(&format!("10.{nic}.0.1")),
            });
        }
        if c.v6 {
            policy.push(PolicyRoute {
                dst: net(&format!("fd99:{nic}::/64")),
                gw: ip(&format!("fd00:{nic}::1")),
            });
        }
    }
    EffectiveConfig {
        mode: ModeSetting::Auto,
        hijack_cidr: c.hijack.iter().map(|i| net(HIJACK[*i])).collect(),
        policy_routes: policy,
        pod_default_route_nic: match c.default_nic {
            0 => None,
            1 => Some("eth0".into()),
            _ => Some("net1".into()),
        },
        pod_mac_prefix: c.mac_prefix.then_some(MacPrefix([0x0a, 0x1b])),
        tx_queue_len: c.tx,
        ..EffectiveConfig::default()
    }
}

/// The first pod: underlay `eth0` (a macvlan NIC) or overlay `eth0` (a /32
/// with a link-scope gateway, peered with host `cali0`).
fn start(c: &Case) -> (NetnsView, HostView) {
    let mut pod = NetnsView {
        links: vec![LinkView {
            index: 1,
            name: "lo".into(),
            flags: LinkFlags { up: true, loopback: true, ..LinkFlags::default() },
            ..LinkView::default()
        }],
        ..NetnsView::default()
    };
    let mut host = HostView::default();
    if c.host_v4 {
        host.pod_host_ips.push(ip("192.168.0.2"));
    }
    if c.host_v6 {
        host.pod_host_ips.push(ip("fd00:ffff::2"));
    }
    if c.overlay {
        let mut eth0 = link(2, "eth0");
        eth0.peer_index = Some(40);
        pod.links.push(eth0);
        let mut cali = link(40, "cali0");
        cali.peer_index = Some(2);
        host.links.push(cali);
        if c.v4 {
            pod.addresses.push(AddrView { dev: "eth0".into(), address: net("10.233.70.5/32") });
            pod.routes.push(route(net("169.254.1.1/32"), None, "eth0", Scope::Link));
            pod.routes.push(route(
                net("0.0.0.0/0"),
                Some(ip("169.254.1.1")),
                "eth0",
                Scope::Global,
            ));
        }
        if c.v6 {
            pod.addresses.push(AddrView { dev: "eth0".into(), address: net("fd00:233::5/128") });
            pod.routes.push(route(net("::/0"), Some(ip("fe80::1")), "eth0", Scope::Global));
        }
    } else {
        add_nic(&mut pod, c, 0, "eth0", 10, true);
    }
    (pod, host)
}

fn check_state(pod: &NetnsView, host: &HostView) -> Result<(), TestCaseError> {
    for r in &pod.routes {
        let Some(gw) = r.gateway else { continue };
        let dev = r.dev.as_deref().unwrap();
        let link_local = matches!(gw, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        let covered = pod.routes.iter().any(|c| {
            c.gateway.is_none()
                && c.dev.as_deref() == Some(dev)
                && c.dst.contains(&gw)
                && c.dst.prefix_len() > 0
        });
        prop_assert!(link_local || covered, "gateway {} of {:?} not reachable on {}", gw, r, dev);
    }
    let empty = |rules: &[Rule], routes: &[Route]| {
        rules
            .iter()
            .find(|rule| {
                !(253..=255).contains(&rule.table)
                    && !routes.iter().any(|r| r.table == rule.table && r.family() == rule.family)
            })
            .cloned()
    };
    prop_assert_eq!(empty(&pod.rules, &pod.routes), None, "pod rule to an empty table");
    prop_assert_eq!(empty(&host.rules, &host.routes), None, "host rule to an empty table");
    Ok(())
}

fn step(
    pod: &NetnsView,
    host: &HostView,
    cfg: EffectiveConfig,
    ifname: &str,
) -> Result<(NetnsView, HostView), TestCaseError> {
    let input = PlanInput {
        config: cfg,
        container_id: "c0ffee00112233445566".into(),
        ifname: ifname.into(),
        pod: pod.clone(),
        host: host.clone(),
    };
    let plan = plan_add(&input).map_err(|e| TestCaseError::fail(format!("{ifname}: {e}")))?;
    prop_assert_eq!(&plan_add(&input).unwrap(), &plan, "not deterministic");
    prop_assert!(
        plan.ops.iter().any(|o| matches!(o.item, spiderpool_core::coordinator::Item::Route(_))),
        "no routes planned"
    );
    let (p2, h2) = apply_to_view(pod, host, &plan);
    let again = PlanInput { pod: p2.clone(), host: h2.clone(), ..input };
    let second =
        plan_add(&again).map_err(|e| TestCaseError::fail(format!("re-plan {ifname}: {e}")))?;
    for op in &second.ops {
        prop_assert_ne!(
            is_present(&p2, &h2, op),
            Some(false),
            "re-plan of {} adds {:?}",
            ifname,
            op
        );
    }
    prop_assert_eq!((second.mode, second.table), (plan.mode, plan.table));
    check_state(&p2, &h2)?;
    Ok((p2, h2))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn plans_are_deterministic_idempotent_and_consistent(c in case()) {
        let (mut pod, mut host) = start(&c);
        if !c.overlay {
            (pod, host) = step(&pod, &host, config(&c, 0), "eth0")?;
        }
        for (k, (default, _, byte)) in c.extra.iter().enumerate() {
            let i = u8::try_from(k + 1).unwrap();
            let name = format!("net{i}");
            add_nic(&mut pod, &c, i, &name, *byte, *default);
            (pod, host) = step(&pod, &host, config(&c, i), &name)?;
        }
    }
}
