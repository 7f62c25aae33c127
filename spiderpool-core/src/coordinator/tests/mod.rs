//! Planner tests: the worked examples of reference §5.6 as views, checked
//! through the simulator's `ip route` / `ip rule` text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config;
mod del;
mod overlay;
mod steps;
mod underlay;

use std::net::IpAddr;

use ipnet::IpNet;

use super::config::{EffectiveConfig, ModeSetting, PolicyRoute};
use super::render::{route_lines, route_lines_of, rule_lines};
use super::route::{Route, Rule, Scope};
use super::view::{AddrView, HostView, LinkFlags, LinkView, NetnsView};
use super::{PlanInput, RoutePlan, apply_to_view, is_present, plan_add};
use crate::ip::IpFamily;
pub(super) use crate::ip::IpFamily::{V4, V6};

pub(super) const CID: &str = "0123456789abcdef0123";

pub(super) fn net(s: &str) -> IpNet {
    crate::ip::normalize_ip_or_cidr(s).unwrap()
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An UP, BROADCAST, MULTICAST link.
pub(super) fn link(index: u32, name: &str, mac: &str) -> LinkView {
    LinkView {
        index,
        name: name.to_owned(),
        flags: LinkFlags { up: true, broadcast: true, multicast: true, loopback: false },
        mac: Some(mac.to_owned()),
        mtu: Some(1500),
        kind: None,
        peer_index: None,
        ifalias: None,
    }
}

pub(super) fn lo() -> LinkView {
    LinkView {
        index: 1,
        name: "lo".to_owned(),
        flags: LinkFlags { up: true, broadcast: false, multicast: false, loopback: true },
        ..LinkView::default()
    }
}

/// Parses an `ip route` line: `DST [via GW] [dev D] [proto P] [scope S]
/// [src X] [table T]`.
pub(super) fn r(line: &str) -> Route {
    let mut t = line.split_whitespace();
    let dst_text = t.next().unwrap();
    let mut route = Route {
        table: 254,
        dst: net("0.0.0.0/0"),
        gateway: None,
        dev: None,
        scope: Scope::Global,
        prefsrc: None,
        protocol: None,
        nexthops: Vec::new(),
    };
    while let Some(k) = t.next() {
        let v = t.next().unwrap();
        match k {
            "via" => route.gateway = Some(ip(v)),
            "dev" => route.dev = Some(v.to_owned()),
            "proto" => route.protocol = Some(v.to_owned()),
            "scope" => route.scope = if v == "link" { Scope::Link } else { Scope::Host },
            "src" => route.prefsrc = Some(ip(v)),
            "table" => route.table = v.parse().unwrap(),
            _ => panic!("unknown key {k}"),
        }
    }
    route.dst = if dst_text == "default" {
        if route.gateway.is_some_and(|g| g.is_ipv6()) { net("::/0") } else { net("0.0.0.0/0") }
    } else {
        net(dst_text)
    };
    route
}

pub(super) fn a(dev: &str, cidr: &str) -> AddrView {
    AddrView { dev: dev.to_owned(), address: cidr.parse().unwrap() }
}

pub(super) fn input(
    config: EffectiveConfig,
    ifname: &str,
    pod: NetnsView,
    host: HostView,
) -> PlanInput {
    PlanInput { config, container_id: CID.to_owned(), ifname: ifname.to_owned(), pod, host }
}

pub(super) fn cfg(mode: ModeSetting) -> EffectiveConfig {
    EffectiveConfig {
        mode,
        service_cidr: vec![net("10.233.0.0/18")],
        overlay_pod_cidr: vec![net("10.233.64.0/18")],
        ..EffectiveConfig::default()
    }
}

pub(super) fn policy(dst: &str, gw: &str) -> PolicyRoute {
    PolicyRoute { dst: net(dst), gw: ip(gw) }
}

/// Plans, checks the plan is deterministic and idempotent, and returns the
/// plan with the resulting views.
pub(super) fn run(input: &PlanInput) -> (RoutePlan, NetnsView, HostView) {
    let plan = plan_add(input).unwrap();
    assert_eq!(plan_add(input).unwrap(), plan, "deterministic");
    let (pod, host) = apply_to_view(&input.pod, &input.host, &plan);
    let again = PlanInput { pod: pod.clone(), host: host.clone(), ..input.clone() };
    let second = plan_add(&again).unwrap();
    for op in &second.ops {
        assert_ne!(is_present(&pod, &host, op), Some(false), "re-plan adds {op:?}");
    }
    (plan, pod, host)
}

pub(super) fn main4(view: &NetnsView) -> Vec<String> {
    route_lines(view, 254, V4)
}

pub(super) fn table4(view: &NetnsView, table: u32) -> Vec<String> {
    route_lines(view, table, V4)
}

pub(super) fn rules4(view: &NetnsView) -> Vec<String> {
    rule_lines(&view.rules, V4)
}

pub(super) fn host_table(host: &HostView, table: u32, family: IpFamily) -> Vec<String> {
    route_lines_of(&host.routes, table, family)
}

pub(super) fn host_rules(host: &HostView, family: IpFamily) -> Vec<String> {
    rule_lines(&host.rules, family)
}

/// Kernel default rules of one family.
pub(super) fn default_rules(family: IpFamily) -> Vec<Rule> {
    [(0, 255), (32766, 254), (32767, 253)]
        .into_iter()
        .map(|(p, t)| Rule { priority: Some(p), ..Rule::lookup(family, t) })
        .collect()
}
