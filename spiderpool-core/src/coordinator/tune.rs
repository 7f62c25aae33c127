//! Route tuning for extra NICs (`tunePodRoutes`, reference §5.4).
//!
//! Works on the builder's view, which already holds the host and hijack
//! routes this plan added: a "move" of `eth0`'s routes (default route on
//! another NIC) therefore takes them along, as Spiderpool's does.

use ipnet::IpNet;

use super::build::{Builder, Families, nic_addresses};
use super::config::EffectiveConfig;
use super::error::PlanError;
use super::mode::{Resolution, TABLE_REPLY};
use super::plan::{Action, Item, Op, ResolvedMode, Side};
use super::presence::is_present;
use super::route::{Route, Rule};
use super::view::{NetnsView, TABLE_MAIN};
use crate::ip::family_of_cidr;

/// The first link, in link order, other than `lo` and `current`, that owns a
/// default route in `main` of one of the run's families.
pub(crate) fn default_route_nic(pod: &NetnsView, current: &str, fam: Families) -> Option<String> {
    pod.links
        .iter()
        .filter(|l| l.name != "lo" && !l.flags.loopback && l.name != current)
        .find(|l| {
            pod.routes.iter().any(|r| {
                r.table == TABLE_MAIN
                    && r.is_default()
                    && fam.has(family_of_cidr(&r.dst))
                    && r.uses_dev(&l.name)
            })
        })
        .map(|l| l.name.clone())
}

pub(crate) fn tune_routes(
    b: &mut Builder,
    cfg: &EffectiveConfig,
    res: &Resolution,
    ifname: &str,
    fam: Families,
    pod_veth: &str,
) -> Result<(), PlanError> {
    let Some(actual) = default_route_nic(&b.pod, ifname, fam) else {
        return Ok(());
    };
    let table = res.table;
    match cfg.pod_default_route_nic.as_deref() {
        Some(wanted) if wanted != actual => {
            if b.pod.link(wanted).is_none() {
                return Err(PlanError::DefaultRouteNicNotFound { nic: wanted.to_owned() });
            }
            // Case B: the default route goes to `wanted`. When that is the
            // current NIC, traffic from the old default NIC's addresses uses
            // the table its routes move to; otherwise (a third NIC) Spiderpool
            // takes the current NIC's addresses but moves the old default
            // NIC's routes, and so do we.
            let from_nic = if wanted == ifname { actual.as_str() } else { ifname };
            let moves = moved_routes(&b.pod, &actual, table, fam);
            from_rules(b, from_nic, table, fam, &moves);
            apply_moves(b, moves);
        }
        _ => {
            // Case A: the default route stays; the current NIC gets its table.
            let moves = moved_routes(&b.pod, ifname, table, fam);
            from_rules(b, ifname, table, fam, &moves);
            if res.mode == ResolvedMode::Overlay && res.first_invoke {
                overlay_reply_table(b, pod_veth, fam);
            }
            apply_moves(b, moves);
        }
    }
    Ok(())
}

/// `from <ip> lookup 100` for `eth0`'s addresses and a copy of `eth0`'s
/// default route into table 100, per family that has one.
fn overlay_reply_table(b: &mut Builder, eth0: &str, fam: Families) {
    let defaults: Vec<Route> = b
        .pod
        .routes
        .iter()
        .filter(|r| {
            r.table == TABLE_MAIN
                && r.is_default()
                && fam.has(family_of_cidr(&r.dst))
                && r.uses_dev(eth0)
        })
        .map(|r| copy_into(r, eth0, TABLE_REPLY))
        .collect();
    for ip in nic_addresses(&b.pod, eth0, Some(fam)) {
        if defaults.iter().any(|d| family_of_cidr(&d.dst) == family_of_cidr(&ip)) {
            b.rule(Side::Pod, Action::Add, from_rule(ip, TABLE_REPLY));
        }
    }
    for r in defaults {
        b.route(Side::Pod, Action::Add, r);
    }
}

fn from_rule(ip: IpNet, table: u32) -> Rule {
    Rule {
        family: family_of_cidr(&ip),
        priority: None,
        src: Some(IpNet::from(ip.addr())),
        dst: None,
        fwmark: None,
        fwmask: None,
        table,
    }
}

/// `from <ip> lookup <table>` for each address of `nic`, for the families
/// whose table will not be empty.
fn from_rules(b: &mut Builder, nic: &str, table: u32, fam: Families, moves: &[Move]) {
    for ip in nic_addresses(&b.pod, nic, Some(fam)) {
        let family = family_of_cidr(&ip);
        let filled = moves.iter().any(|m| family_of_cidr(&m.copy.dst) == family)
            || b.pod.routes.iter().any(|r| r.table == table && family_of_cidr(&r.dst) == family);
        if filled {
            b.rule(Side::Pod, Action::Add, from_rule(ip, table));
        }
    }
}

struct Move {
    copy: Route,
    delete: Option<Route>,
}

fn copy_into(r: &Route, dev: &str, table: u32) -> Route {
    let gateway = if r.nexthops.is_empty() {
        r.gateway
    } else {
        r.nexthops.iter().find(|n| n.dev.as_deref() == Some(dev)).and_then(|n| n.gateway)
    };
    Route {
        table,
        dst: r.dst,
        gateway,
        dev: Some(dev.to_owned()),
        scope: r.scope,
        prefsrc: r.prefsrc,
        ..Route::default()
    }
}

/// Every `main` route of `dev` (except `fe80::/64`) is copied into `table`;
/// default routes are deleted from `main`.
fn moved_routes(pod: &NetnsView, dev: &str, table: u32, fam: Families) -> Vec<Move> {
    pod.routes
        .iter()
        .filter(|r| r.table == TABLE_MAIN && r.uses_dev(dev) && fam.has(family_of_cidr(&r.dst)))
        .filter(|r| !is_fe80_64(&r.dst))
        .map(|r| {
            let copy = copy_into(r, dev, table);
            let delete =
                r.is_default().then(|| Route { table: TABLE_MAIN, prefsrc: None, ..copy.clone() });
            Move { copy, delete }
        })
        .collect()
}

fn is_fe80_64(net: &IpNet) -> bool {
    match net {
        IpNet::V6(n) => n.prefix_len() == 64 && n.network().segments()[..4] == [0xfe80, 0, 0, 0],
        IpNet::V4(_) => false,
    }
}

/// Copies (routes without gateway first, so a gateway's link route is in
/// the table before the routes via it), skipping copies the table already
/// holds; then each default route is deleted from `main`.
fn apply_moves(b: &mut Builder, mut moves: Vec<Move>) {
    moves.sort_by_key(|m| m.copy.gateway.is_some());
    for m in moves {
        let copy = Op { side: Side::Pod, action: Action::Add, item: Item::Route(m.copy) };
        if is_present(&b.pod, &b.host, &copy) != Some(true) {
            b.push(copy.side, copy.action, copy.item);
        }
        if let Some(d) = m.delete {
            b.route(Side::Pod, Action::Del, Route { table: TABLE_MAIN, ..d });
        }
    }
}
