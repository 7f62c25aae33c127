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

use super::plan::{Action, AddrOp, Item, LinkOp, Op, RoutePlan, Side};
use super::presence::{route_holds, rule_holds};
use super::route::{Route, Rule, Scope};
use super::view::{AddrView, HostView, LinkFlags, LinkView, NetnsView, TABLE_MAIN};

/// The views after every operation of `plan` was applied, in order.
pub fn apply_to_view(pod: &NetnsView, host: &HostView, plan: &RoutePlan) -> (NetnsView, HostView) {
    let mut pod = pod.clone();
    let mut host = host.clone();
    for op in &plan.ops {
        apply_op(&mut pod, &mut host, op);
    }
    (pod, host)
}

/// `ip/32` or `ip/128`.
pub(crate) fn host_net(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
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
    let connected = Route {
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

fn apply_route(routes: &mut Vec<Route>, action: Action, r: &Route) {
    match action {
        Action::Add | Action::Set => {
            if routes.iter().any(|x| route_holds(x, r)) {
                return;
            }
            routes.push(Route { protocol: None, nexthops: Vec::new(), ..r.clone() });
        }
        Action::Del => {
            let mut keep = Vec::with_capacity(routes.len());
            for mut x in routes.drain(..) {
                if x.table != r.table || x.dst != r.dst {
                    keep.push(x);
                    continue;
                }
                if x.nexthops.is_empty() {
                    if !deletes_path(r, x.gateway, x.dev.as_deref()) {
                        keep.push(x);
                    }
                    continue;
                }
                x.nexthops.retain(|n| !deletes_path(r, n.gateway, n.dev.as_deref()));
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

/// Whether `ip route del` of `r` removes the path `(gateway, dev)` of a route
/// to the same destination in the same table: like the kernel, a delete
/// that leaves the gateway or the device out matches any.
fn deletes_path(r: &Route, gateway: Option<IpAddr>, dev: Option<&str>) -> bool {
    (r.gateway.is_none() || gateway == r.gateway) && (r.dev.is_none() || dev == r.dev.as_deref())
}

fn apply_rule(rules: &mut Vec<Rule>, action: Action, r: &Rule) {
    match action {
        Action::Add | Action::Set => {
            if rules.iter().any(|x| rule_holds(x, r)) {
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
            rules.push(Rule { priority: Some(priority), ..r.clone() });
        }
        Action::Del => rules.retain(|x| !rule_holds(x, r)),
    }
}
