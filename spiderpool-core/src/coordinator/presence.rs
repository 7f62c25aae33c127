//! The one answer to "does this view already hold what this operation asks
//! for": used by the planner (which skips route copies a table already
//! holds), by the simulator (re-adding what is there changes nothing, as
//! `ip route replace` and our rule add do), by the idempotence tests, and by
//! CNI CHECK ([`check`](super::check), over views `spiderpool-netlink` read
//! from the kernel). Before there was one, the simulator and CHECK disagreed
//! on rule masks and multipath routes.
//!
//! # Routes ([`route_holds`])
//!
//! A route of a view holds a planned route when it is in the same table, to
//! the same destination, and
//! - one of its paths — its own `(gateway, dev)`, or one of its `nexthops`
//!   when it is a multipath route — has the planned gateway, compared
//!   exactly: a planned route without gateway is a link route, which a route
//!   via a gateway is not (the kernel never adds a gateway by itself);
//! - that path leaves through the planned `dev`, when the plan names one
//!   (without one the kernel picks the device from the gateway);
//! - its preferred source is the planned `prefsrc`, when the plan names one.
//!
//! A multipath route that has the planned path among its next hops holds it:
//! traffic can leave the planned way, and that is how the planner itself
//! reads multipath routes (it moves the next hop of a NIC out of an ECMP
//! default route). Scope, protocol and metric are not compared: the kernel
//! derives or rewrites them.
//!
//! # Rules ([`rule_holds`])
//!
//! Same family, `from`, `to` and table; the same `(mark, mask)` as the kernel
//! keeps it ([`Rule::mark_and_mask`]: a planned `fwmark 0x1` without mask
//! reads back from the kernel as mask `0xffffffff`, and a rule without mark
//! as `(0, 0)`); and, when the plan names a priority, that priority (without
//! one the kernel picks it).

use super::plan::{Action, Item, Op, Side};
use super::route::{Route, Rule};
use super::view::{HostView, NetnsView};

/// Whether the route `have` holds the planned route `want` (see the [module
/// docs](self)).
pub fn route_holds(have: &Route, want: &Route) -> bool {
    have.table == want.table
        && have.dst == want.dst
        && want.prefsrc.is_none_or(|src| have.prefsrc == Some(src))
        && route_paths(have).any(|(gateway, dev)| {
            gateway == want.gateway && (want.dev.is_none() || dev == want.dev.as_deref())
        })
}

/// The `(gateway, dev)` paths of a route: its own, or its next hops.
fn route_paths(r: &Route) -> impl Iterator<Item = (Option<std::net::IpAddr>, Option<&str>)> {
    let own = r.nexthops.is_empty().then_some((r.gateway, r.dev.as_deref()));
    own.into_iter().chain(r.nexthops.iter().map(|n| (n.gateway, n.dev.as_deref())))
}

/// Whether the rule `have` holds the planned rule `want` (see the [module
/// docs](self)).
pub fn rule_holds(have: &Rule, want: &Rule) -> bool {
    have.family == want.family
        && have.src == want.src
        && have.dst == want.dst
        && have.table == want.table
        && have.mark_and_mask() == want.mark_and_mask()
        && want.priority.is_none_or(|p| have.priority == Some(p))
}

/// Whether the item of an `add` operation is already present in the views;
/// `None` for the kinds the views cannot show (neighbours, sysctls, marks,
/// MAC changes, host addresses) and for `del` / `set`.
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
        Item::Route(r) => Some(routes.iter().any(|x| route_holds(x, r))),
        Item::Rule(r) => Some(rules.iter().any(|x| rule_holds(x, r))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::IpAddr;

    use ipnet::IpNet;

    use super::*;
    use crate::coordinator::route::{NextHop, Scope};
    use crate::ip::IpFamily;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn planned(dst: &str, gw: Option<&str>, dev: Option<&str>) -> Route {
        Route {
            table: 101,
            dst: net(dst),
            gateway: gw.map(ip),
            dev: dev.map(str::to_owned),
            scope: Scope::Global,
            ..Route::default()
        }
    }

    // The simulator required the exact mask (`None`), CHECK took any mask:
    // the kernel reports 0xffffffff for a planned `fwmark 0x1`.
    #[test]
    fn rule_fwmark_without_mask_is_held_by_the_kernels_full_mask() {
        let want =
            Rule { fwmark: Some(1), priority: Some(1000), ..Rule::lookup(IpFamily::V4, 100) };
        let kernel = Rule { fwmask: Some(u32::MAX), ..want.clone() };
        assert!(rule_holds(&kernel, &want));
        assert!(rule_holds(&want, &want), "a simulated rule holds itself");
        let narrower = Rule { fwmask: Some(0x1), ..want.clone() };
        assert!(!rule_holds(&narrower, &want), "fwmark 0x1/0x1 is another rule");
        let no_mark = Rule { fwmark: None, ..want.clone() };
        assert!(!rule_holds(&no_mark, &want));
        assert!(!rule_holds(&kernel, &no_mark));
    }

    #[test]
    fn rule_priority_counts_only_when_planned() {
        let want = Rule { src: Some(net("10.6.0.2/32")), ..Rule::lookup(IpFamily::V4, 101) };
        let have = Rule { priority: Some(32765), ..want.clone() };
        assert!(rule_holds(&have, &want));
        let pinned = Rule { priority: Some(1000), ..want.clone() };
        assert!(!rule_holds(&have, &pinned));
        let v6 = Rule { family: IpFamily::V6, ..have };
        assert!(!rule_holds(&v6, &want));
    }

    // CHECK ignored next hops (a multipath route never held anything); the
    // simulator looked into them.
    #[test]
    fn a_multipath_route_holds_each_of_its_next_hops() {
        let have = Route {
            table: 101,
            dst: net("0.0.0.0/0"),
            nexthops: vec![
                NextHop { gateway: Some(ip("10.6.0.1")), dev: Some("net1".into()) },
                NextHop { gateway: Some(ip("10.7.0.1")), dev: Some("net2".into()) },
            ],
            ..Route::default()
        };
        assert!(route_holds(&have, &planned("0.0.0.0/0", Some("10.6.0.1"), Some("net1"))));
        assert!(route_holds(&have, &planned("0.0.0.0/0", Some("10.7.0.1"), None)));
        assert!(!route_holds(&have, &planned("0.0.0.0/0", Some("10.6.0.1"), Some("net2"))));
        assert!(!route_holds(&have, &planned("0.0.0.0/0", None, Some("net1"))));
    }

    // The simulator took a planned route without gateway as "any gateway";
    // CHECK compared it exactly.
    #[test]
    fn a_link_route_is_not_held_by_a_route_via_a_gateway() {
        let via = planned("10.6.212.132/32", Some("10.6.0.1"), Some("eth0"));
        let link = planned("10.6.212.132/32", None, Some("eth0"));
        assert!(!route_holds(&via, &link));
        assert!(!route_holds(&link, &via));
        assert!(route_holds(&link, &link));
        assert!(route_holds(&via, &planned("10.6.212.132/32", Some("10.6.0.1"), None)));
    }

    // CHECK compared a planned preferred source; the simulator ignored it.
    #[test]
    fn a_planned_prefsrc_must_match() {
        let want = Route { prefsrc: Some(ip("10.6.0.2")), ..planned("10.96.0.0/12", None, None) };
        let same = want.clone();
        let other = Route { prefsrc: Some(ip("10.6.0.3")), ..want.clone() };
        let none = Route { prefsrc: None, ..want.clone() };
        assert!(route_holds(&same, &want));
        assert!(!route_holds(&other, &want));
        assert!(!route_holds(&none, &want));
        assert!(route_holds(&other, &none), "no planned source: any");
        let elsewhere = Route { table: 254, ..same };
        assert!(!route_holds(&elsewhere, &want));
    }
}
