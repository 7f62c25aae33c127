//! A pure simulator of what the kernel holds after a plan: [`apply_to_view`]
//! applies each operation to copies of the pod and host views. The planner
//! uses it to see the effect of its own earlier operations (reference §5.3:
//! route tuning runs after the host and hijack routes were added); tests and
//! property tests use it to check the resulting tables.
//!
//! What it models: links (veth pairs get both ends, with `peer_index`),
//! addresses (with the kernel's connected route in `main`), routes of every
//! table, policy rules (a rule without priority gets one less than the
//! lowest non-zero priority of its family, or 32765, as the kernel does), MAC
//! and up-state changes. What it does not model: neighbours, sysctls,
//! packet marks and txqueuelen (the views have no place for them), route
//! metrics, and the kernel's checks (an unreachable gateway is accepted).

use std::net::IpAddr;

use ipnet::IpNet;

use super::plan::{Action, AddrOp, Item, LinkOp, Op, RouteOp, RoutePlan, RuleOp, Side};
use super::view::{
    AddrView, HostView, LinkFlags, LinkView, NetnsView, RouteView, RuleView, Scope, TABLE_MAIN,
};

/// The views after every operation of `plan` was applied, in order.
pub fn apply_to_view(pod: &NetnsView, host: &HostView, plan: &RoutePlan) -> (NetnsView, HostView) {
    let mut pod = pod.clone();
    let mut host = host.clone();
    for op in &plan.ops {
        apply_op(&mut pod, &mut host, op);
    }
    (pod, host)
}

/// The family number (4 or 6) of an address.
pub(crate) fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() { 4 } else { 6 }
}

/// The family number of a network.
pub(crate) fn net_family(net: &IpNet) -> u8 {
    family_of(&net.addr())
}

/// `ip/32` or `ip/128`.
pub(crate) fn host_net(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// Whether an `add` operation's item is already present in the views;
/// `None` for the kinds the views cannot show (neighbours, sysctls, marks,
/// MAC changes) and for `del` / `set`.
pub fn is_present(pod: &NetnsView, host: &HostView, op: &Op) -> Option<bool> {
    if op.action != Action::Add {
        return None;
    }
    let (links, routes, rules) = match op.side {
        Side::Pod => (&pod.links, &pod.routes, &pod.rules),
        Side::Host => (&host.links, &host.routes, &host.rules),
    };
    match &op.item {
        Item::Link(l) => Some(links.iter().any(|x| x.name == l.ifname)),
        Item::Addr(a) => match op.side {
            Side::Pod => Some(pod.addresses.iter().any(|x| x.dev == a.dev && x.address == a.local)),
            Side::Host => None,
        },
        Item::Route(r) => Some(routes.iter().any(|x| route_matches(x, r))),
        Item::Rule(r) => Some(rules.iter().any(|x| rule_matches(x, r))),
        _ => None,
    }
}

fn route_matches(x: &RouteView, r: &RouteOp) -> bool {
    x.table == r.table
        && x.dst == r.dst
        && (r.gateway.is_none() || x.gateway == r.gateway || nexthop_matches(x, r))
        && (r.dev.is_none() || x.dev == r.dev || nexthop_matches(x, r))
}

fn nexthop_matches(x: &RouteView, r: &RouteOp) -> bool {
    x.nexthops.iter().any(|n| {
        (r.gateway.is_none() || n.gateway == r.gateway) && (r.dev.is_none() || n.dev == r.dev)
    })
}

fn rule_matches(x: &RuleView, r: &RuleOp) -> bool {
    x.family == r.family
        && x.src == r.src
        && x.dst == r.dst
        && x.fwmark == r.fwmark
        && x.fwmask == r.fwmask
        && x.table == r.table
        && (r.priority.is_none() || x.priority == r.priority)
}

/// Applies one operation.
pub(crate) fn apply_op(pod: &mut NetnsView, host: &mut HostView, op: &Op) {
    match &op.item {
        Item::Link(l) => apply_link(pod, host, op.side, op.action, l),
        Item::Addr(a) => {
            if op.side == Side::Pod {
                apply_addr(pod, op.action, a);
            }
        }
        Item::Route(r) => {
            let routes = match op.side {
                Side::Pod => &mut pod.routes,
                Side::Host => &mut host.routes,
            };
            apply_route(routes, op.action, r);
        }
        Item::Rule(r) => {
            let rules = match op.side {
                Side::Pod => &mut pod.rules,
                Side::Host => &mut host.rules,
            };
            apply_rule(rules, op.action, r);
        }
        Item::Mac(m) => {
            let links = match op.side {
                Side::Pod => &mut pod.links,
                Side::Host => &mut host.links,
            };
            if let Some(link) = links.iter_mut().find(|x| x.name == m.dev) {
                link.mac = Some(m.address.clone());
            }
        }
        Item::Neigh(_) | Item::Sysctl(_) | Item::Mark(_) => {}
    }
}

fn new_link(links: &[LinkView], name: &str, mac: Option<&String>, l: &LinkOp) -> LinkView {
    let index = links.iter().map(|x| x.index).max().unwrap_or(0) + 1;
    let up = l.up == Some(true);
    LinkView {
        index,
        name: name.to_owned(),
        flags: LinkFlags { up, broadcast: true, multicast: true, loopback: false },
        mac: mac.cloned(),
        mtu: l.mtu,
        kind: l.kind.clone(),
        peer_index: None,
        ifalias: None,
    }
}

fn apply_link(pod: &mut NetnsView, host: &mut HostView, side: Side, action: Action, l: &LinkOp) {
    let (mine, other) = match side {
        Side::Pod => (&mut pod.links, &mut host.links),
        Side::Host => (&mut host.links, &mut pod.links),
    };
    match action {
        Action::Add => {
            if mine.iter().any(|x| x.name == l.ifname) {
                return;
            }
            let mut link = new_link(mine, &l.ifname, l.address.as_ref(), l);
            if let Some(peer) = &l.peer
                && !other.iter().any(|x| &x.name == peer)
            {
                let mut p = new_link(other, peer, l.peer_address.as_ref(), l);
                p.peer_index = Some(link.index);
                link.peer_index = Some(p.index);
                other.push(p);
            }
            mine.push(link);
        }
        Action::Set => {
            if let Some(link) = mine.iter_mut().find(|x| x.name == l.ifname) {
                if let Some(up) = l.up {
                    link.flags.up = up;
                }
                if l.address.is_some() {
                    link.mac = l.address.clone();
                }
                if l.mtu.is_some() {
                    link.mtu = l.mtu;
                }
                if l.alias.is_some() {
                    link.ifalias = l.alias.clone();
                }
            }
        }
        Action::Del => {
            let Some(pos) = mine.iter().position(|x| x.name == l.ifname) else { return };
            let link = mine.remove(pos);
            let peer_name = if link.kind.as_deref() == Some("veth") {
                link.peer_index
                    .and_then(|i| other.iter().find(|x| x.index == i))
                    .map(|p| p.name.clone())
            } else {
                None
            };
            if let Some(peer) = &peer_name {
                other.retain(|x| &x.name != peer);
            }
            let (pod_gone, host_gone) = match side {
                Side::Pod => (Some(link.name.clone()), peer_name),
                Side::Host => (peer_name, Some(link.name.clone())),
            };
            if let Some(name) = pod_gone {
                pod.addresses.retain(|a| a.dev != name);
                pod.routes.retain(|r| !r.uses_dev(&name));
            }
            if let Some(name) = host_gone {
                host.routes.retain(|r| !r.uses_dev(&name));
            }
        }
    }
}

fn apply_addr(pod: &mut NetnsView, action: Action, a: &AddrOp) {
    let exists = pod.addresses.iter().any(|x| x.dev == a.dev && x.address == a.local);
    let connected = RouteView {
        table: TABLE_MAIN,
        dst: a.local.trunc(),
        gateway: None,
        dev: Some(a.dev.clone()),
        scope: Scope::Link,
        prefsrc: Some(a.local.addr()),
        protocol: Some("kernel".to_owned()),
        nexthops: Vec::new(),
    };
    let has_prefix_route = a.local.prefix_len() < a.local.max_prefix_len();
    match action {
        Action::Add | Action::Set => {
            if !exists {
                pod.addresses.push(AddrView { dev: a.dev.clone(), address: a.local });
                if has_prefix_route && !pod.routes.contains(&connected) {
                    pod.routes.push(connected);
                }
            }
        }
        Action::Del => {
            pod.addresses.retain(|x| !(x.dev == a.dev && x.address == a.local));
            pod.routes.retain(|r| r != &connected);
        }
    }
}

fn apply_route(routes: &mut Vec<RouteView>, action: Action, r: &RouteOp) {
    match action {
        Action::Add | Action::Set => {
            if routes.iter().any(|x| route_matches(x, r)) {
                return;
            }
            routes.push(RouteView {
                table: r.table,
                dst: r.dst,
                gateway: r.gateway,
                dev: r.dev.clone(),
                scope: r.scope,
                prefsrc: r.prefsrc,
                protocol: None,
                nexthops: Vec::new(),
            });
        }
        Action::Del => {
            let mut keep = Vec::with_capacity(routes.len());
            for mut x in routes.drain(..) {
                if x.table != r.table || x.dst != r.dst {
                    keep.push(x);
                    continue;
                }
                if x.nexthops.is_empty() {
                    if !route_matches(&x, r) {
                        keep.push(x);
                    }
                    continue;
                }
                x.nexthops.retain(|n| {
                    !((r.gateway.is_none() || n.gateway == r.gateway)
                        && (r.dev.is_none() || n.dev == r.dev))
                });
                match x.nexthops.len() {
                    0 => {}
                    1 => {
                        let n = x.nexthops.remove(0);
                        x.gateway = n.gateway;
                        x.dev = n.dev;
                        keep.push(x);
                    }
                    _ => keep.push(x),
                }
            }
            *routes = keep;
        }
    }
}

fn apply_rule(rules: &mut Vec<RuleView>, action: Action, r: &RuleOp) {
    match action {
        Action::Add | Action::Set => {
            if rules.iter().any(|x| rule_matches(x, r)) {
                return;
            }
            let priority = r.priority.unwrap_or_else(|| {
                rules
                    .iter()
                    .filter(|x| x.family == r.family)
                    .filter_map(|x| x.priority)
                    .filter(|p| *p > 0)
                    .min()
                    .map_or(32765, |p| p.saturating_sub(1))
            });
            rules.push(RuleView {
                priority: Some(priority),
                family: r.family,
                src: r.src,
                dst: r.dst,
                fwmark: r.fwmark,
                fwmask: r.fwmask,
                table: r.table,
            });
        }
        Action::Del => rules.retain(|x| !rule_matches(x, r)),
    }
}
