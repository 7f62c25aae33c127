//! CNI CHECK: which operations of a plan have no effect in what the
//! namespaces hold. `spiderpool-netlink` reads the kernel into an
//! [`Observed`] (views, neighbours, the sysctls and packet marks the plan
//! names); [`check`] decides, with the same matcher the planner and the
//! simulator use for routes and rules ([`presence`](super::presence)).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::plan::{Action, Item, LinkOp, MarkOp, Op, RoutePlan, Side};
use super::presence::{route_holds, rule_holds};
use super::view::NetnsView;

/// One neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighView {
    /// Link name.
    pub dev: String,
    /// Neighbour address.
    pub dst: IpAddr,
    /// Its MAC, lower-case.
    pub lladdr: Option<String>,
    /// `nud permanent`.
    pub permanent: bool,
}

/// What one namespace holds, as far as a plan can ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsState {
    /// Links, addresses, routes, rules.
    pub view: NetnsView,
    /// Neighbour entries.
    pub neighbours: Vec<NeighView>,
    /// Values of the sysctls the plan names (absent: the key does not exist).
    pub sysctls: BTreeMap<String, String>,
    /// The packet-mark rule sets of the plan that are complete in the
    /// namespace (mark new connections from `iif`, save the mark into the
    /// connection, restore it on output).
    pub marks: Vec<MarkOp>,
}

/// Both namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The pod namespace.
    pub pod: NsState,
    /// The host namespace.
    pub host: NsState,
}

impl Observed {
    fn side(&self, side: Side) -> &NsState {
        match side {
            Side::Pod => &self.pod,
            Side::Host => &self.host,
        }
    }

    fn other(&self, side: Side) -> &NsState {
        match side {
            Side::Pod => &self.host,
            Side::Host => &self.pod,
        }
    }
}

/// An operation whose effect is not present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// Index in `RoutePlan::ops`.
    pub index: usize,
    /// Its side.
    pub side: Side,
    /// `add`, `del`, `set`.
    pub action: &'static str,
    /// `link`, `addr`, `route`, ...
    pub kind: &'static str,
    /// What is wrong, e.g. `rule from 10.6.0.2/32 lookup 101 not found`.
    pub what: String,
}

/// The operations of `plan` whose effect is not present in `observed` (for a
/// `del`: whose object is still there). Sysctl and MAC `del`s are never
/// reported. Empty when the namespaces match the plan.
pub fn check(plan: &RoutePlan, observed: &Observed) -> Vec<Missing> {
    plan.ops
        .iter()
        .enumerate()
        .filter_map(|(index, op)| {
            problem(observed, op, &plan.ops[index + 1..]).map(|what| Missing {
                index,
                side: op.side,
                action: op.action.name(),
                kind: op.item.kind_name(),
                what,
            })
        })
        .collect()
}

/// `what not found` for a missing `add`/`set`, `what still present` for a
/// `del` whose object is there.
fn present_or_absent(present: bool, del: bool, what: impl FnOnce() -> String) -> Option<String> {
    match (present, del) {
        (false, false) => Some(format!("{} not found", what())),
        (true, true) => Some(format!("{} still present", what())),
        _ => None,
    }
}

/// The problem with one operation, or `None` when its effect is present.
fn problem(obs: &Observed, op: &Op, later: &[Op]) -> Option<String> {
    let st = obs.side(op.side);
    let del = op.action == Action::Del;
    match &op.item {
        Item::Link(l) if del => present_or_absent(st.view.link(&l.ifname).is_some(), del, || {
            format!("link {}", l.ifname)
        }),
        Item::Link(l) => link_problem(obs, op, l, later),
        Item::Addr(a) => present_or_absent(
            st.view.addresses.iter().any(|x| x.dev == a.dev && x.address == a.local),
            del,
            || format!("addr {} dev {}", a.local, a.dev),
        ),
        Item::Route(r) => {
            present_or_absent(st.view.routes.iter().any(|x| route_holds(x, r)), del, || {
                format!("route {} via {:?} dev {:?} table {}", r.dst, r.gateway, r.dev, r.table)
            })
        }
        Item::Rule(r) => {
            present_or_absent(st.view.rules.iter().any(|x| rule_holds(x, r)), del, || {
                format!(
                    "rule from {:?} to {:?} fwmark {:?} lookup {} priority {:?}",
                    r.src, r.dst, r.fwmark, r.table, r.priority
                )
            })
        }
        Item::Neigh(n) => present_or_absent(
            st.neighbours.iter().any(|x| {
                x.dev == n.dev
                    && x.dst == n.dst
                    && n.lladdr.as_ref().is_none_or(|m| same_mac(x.lladdr.as_deref(), m))
                    && (!n.permanent || x.permanent)
            }),
            del,
            || format!("neigh {} lladdr {:?} dev {}", n.dst, n.lladdr, n.dev),
        ),
        Item::Sysctl(_) | Item::Mac(_) if del => None,
        Item::Sysctl(s) => match st.sysctls.get(&s.key) {
            Some(v) if v.trim() == s.value.trim() => None,
            other => Some(format!("sysctl {} = {:?}, want {}", s.key, other, s.value)),
        },
        Item::Mac(m) => {
            let have = st.view.link(&m.dev).and_then(|l| l.mac.clone());
            (!same_mac(have.as_deref(), &m.address))
                .then(|| format!("link {} address {:?}, want {}", m.dev, have, m.address))
        }
        Item::Mark(m) => present_or_absent(st.marks.contains(m), del, || {
            format!("nftables marks iif {} mark {:#x}", m.iif, m.fwmark)
        }),
    }
}

/// `have` (read lower-case) is the MAC `want` written in any case.
fn same_mac(have: Option<&str>, want: &str) -> bool {
    have == Some(want.to_ascii_lowercase().as_str())
}

/// An `add` or `set` of a link: the link with the planned MTU, MAC (unless a
/// later operation changes it), up-state and alias, and a new veth's peer
/// with its MAC in the other namespace.
fn link_problem(obs: &Observed, op: &Op, l: &LinkOp, later: &[Op]) -> Option<String> {
    // A later MAC change on the same link wins over the address set here.
    let mac_changed_later = later.iter().any(|o| {
        o.side == op.side
            && match &o.item {
                Item::Mac(m) => m.dev == l.ifname,
                Item::Link(x) => x.ifname == l.ifname && x.address.is_some(),
                _ => false,
            }
    });
    let Some(have) = obs.side(op.side).view.link(&l.ifname) else {
        return Some(format!("link {} not found", l.ifname));
    };
    if let Some(mtu) = l.mtu
        && have.mtu != Some(mtu)
    {
        return Some(format!("link {} mtu {:?}, want {mtu}", l.ifname, have.mtu));
    }
    if let Some(mac) = &l.address
        && !mac_changed_later
        && !same_mac(have.mac.as_deref(), mac)
    {
        return Some(format!("link {} address {:?}, want {mac}", l.ifname, have.mac));
    }
    if l.up == Some(true) && !have.flags.up {
        return Some(format!("link {} is down", l.ifname));
    }
    if let Some(alias) = &l.alias
        && have.ifalias.as_deref() != Some(alias.as_str())
    {
        return Some(format!("link {} alias {:?}, want {alias}", l.ifname, have.ifalias));
    }
    let peer = l.peer.as_ref().filter(|_| op.action == Action::Add)?;
    let Some(p) = obs.other(op.side).view.link(peer) else {
        return Some(format!("veth peer {peer} not found"));
    };
    match &l.peer_address {
        Some(mac) if !same_mac(p.mac.as_deref(), mac) => {
            Some(format!("veth peer {peer} address {:?}, want {mac}", p.mac))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::coordinator::plan::ResolvedMode;
    use crate::coordinator::route::{NextHop, Route, Rule};
    use crate::ip::IpFamily;

    fn plan(ops: Vec<Op>) -> RoutePlan {
        RoutePlan { mode: ResolvedMode::Underlay, first_invoke: true, table: 101, ops }
    }

    fn pod_add(item: Item) -> Op {
        Op { side: Side::Pod, action: Action::Add, item }
    }

    // What CHECK read from the kernel after applying `fwmark 0x1 lookup 100`:
    // the simulator's exact match called it missing.
    #[test]
    fn a_reply_rule_read_back_with_the_full_mask_is_present() {
        let want =
            Rule { priority: Some(1000), fwmark: Some(1), ..Rule::lookup(IpFamily::V4, 100) };
        let p = plan(vec![pod_add(Item::Rule(want.clone()))]);
        let mut obs = Observed::default();
        obs.pod.view.rules.push(Rule { fwmask: Some(u32::MAX), ..want.clone() });
        assert_eq!(check(&p, &obs), vec![]);
        obs.pod.view.rules[0].fwmask = Some(0xf);
        let missing = check(&p, &obs);
        assert_eq!(missing.len(), 1);
        assert_eq!((missing[0].action, missing[0].kind), ("add", "rule"));
        assert!(missing[0].what.ends_with("not found"), "{}", missing[0].what);
    }

    // CHECK ignored next hops: a route held as one of a multipath route's
    // next hops was reported missing, while the planner counted it present.
    #[test]
    fn a_route_held_by_a_multipath_next_hop_is_present() {
        let want = Route {
            table: 101,
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("10.6.0.1".parse().unwrap()),
            dev: Some("net1".into()),
            ..Route::default()
        };
        let p = plan(vec![pod_add(Item::Route(want.clone()))]);
        let mut obs = Observed::default();
        obs.pod.view.routes.push(Route {
            gateway: None,
            dev: None,
            nexthops: vec![
                NextHop { gateway: Some("10.7.0.1".parse().unwrap()), dev: Some("net2".into()) },
                NextHop { gateway: want.gateway, dev: want.dev.clone() },
            ],
            ..want.clone()
        });
        assert_eq!(check(&p, &obs), vec![]);
        let del = plan(vec![Op { side: Side::Pod, action: Action::Del, item: Item::Route(want) }]);
        assert_eq!(check(&del, &obs)[0].what.split(' ').next_back(), Some("present"));
    }

    #[test]
    fn marks_macs_and_sysctls() {
        let mark = MarkOp { iif: "veth0".into(), fwmark: 1 };
        let p = plan(vec![
            pod_add(Item::Mark(mark.clone())),
            Op {
                side: Side::Pod,
                action: Action::Set,
                item: Item::Mac(super::super::plan::MacOp {
                    dev: "net1".into(),
                    address: "0A:1B:0A:06:00:02".into(),
                    announce: vec![],
                }),
            },
        ]);
        let mut obs = Observed::default();
        let kinds: Vec<_> = check(&p, &obs).iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["mark", "mac"]);
        obs.pod.marks.push(mark);
        obs.pod.view.links.push(super::super::view::LinkView {
            name: "net1".into(),
            mac: Some("0a:1b:0a:06:00:02".into()),
            ..Default::default()
        });
        assert_eq!(check(&p, &obs), vec![]);
    }
}
