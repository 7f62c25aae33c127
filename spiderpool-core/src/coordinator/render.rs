//! Text forms: a plan as `ip` command lines ([`plan_lines`]) and a view's
//! tables and rules as `ip route show` / `ip rule show` print them
//! ([`route_lines`], [`rule_lines`]).
//!
//! Plan lines: pod-side commands run in a namespace called `pod`
//! (`ip -n pod ...`, `ip netns exec pod sysctl ...`), host-side commands in
//! the current namespace (`ip ...`). IPv6 routes, rules and neighbours carry
//! `-6`. The packet-mark rules have no `ip` form and print as a `#` comment.

use std::net::IpAddr;

use ipnet::IpNet;

use super::plan::{Action, Item, LinkOp, Op, RoutePlan, Side};
use super::route::{Route, Rule, Scope};
use super::view::{NetnsView, TABLE_LOCAL, TABLE_MAIN};
use crate::ip::{IpFamily, family_of_cidr};

/// The name `ip` uses for a table number.
pub fn table_name(table: u32) -> String {
    match table {
        253 => "default".to_owned(),
        TABLE_MAIN => "main".to_owned(),
        TABLE_LOCAL => "local".to_owned(),
        t => t.to_string(),
    }
}

/// A destination as `ip` prints it: `default`, a bare address for a host
/// route, else the CIDR.
fn dst_text(dst: &IpNet) -> String {
    if dst.prefix_len() == 0 {
        "default".to_owned()
    } else if dst.prefix_len() == dst.max_prefix_len() {
        dst.addr().to_string()
    } else {
        dst.to_string()
    }
}

fn scope_text(scope: Scope) -> Option<&'static str> {
    match scope {
        Scope::Global => None,
        Scope::Link => Some("link"),
        Scope::Host => Some("host"),
    }
}

fn route_body(
    dst: &IpNet,
    gw: Option<&IpAddr>,
    dev: Option<&str>,
    proto: Option<&str>,
    scope: Scope,
    src: Option<&IpAddr>,
) -> String {
    let mut s = dst_text(dst);
    if let Some(gw) = gw {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(dev) = dev {
        s.push_str(&format!(" dev {dev}"));
    }
    if let Some(p) = proto {
        s.push_str(&format!(" proto {p}"));
    }
    if let Some(sc) = scope_text(scope) {
        s.push_str(&format!(" scope {sc}"));
    }
    if let Some(src) = src {
        s.push_str(&format!(" src {src}"));
    }
    s
}

fn sort_key(dst: &IpNet) -> (IpFamily, u128, u8) {
    let v = match dst.addr() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    (family_of_cidr(dst), v, dst.prefix_len())
}

/// `ip [-6] route show table <table>` of a view, for one family, sorted by
/// destination (the kernel's dump order).
pub fn route_lines(view: &NetnsView, table: u32, family: IpFamily) -> Vec<String> {
    route_lines_of(&view.routes, table, family)
}

/// [`route_lines`] over a plain route list (the host view's routes).
pub fn route_lines_of(routes: &[Route], table: u32, family: IpFamily) -> Vec<String> {
    let mut rs: Vec<&Route> =
        routes.iter().filter(|r| r.table == table && r.family() == family).collect();
    rs.sort_by_key(|r| sort_key(&r.dst));
    rs.iter()
        .map(|r| {
            let mut line = route_body(
                &r.dst,
                r.gateway.as_ref(),
                r.dev.as_deref(),
                r.protocol.as_deref(),
                r.scope,
                r.prefsrc.as_ref(),
            );
            for n in &r.nexthops {
                line.push_str(" nexthop");
                if let Some(gw) = n.gateway {
                    line.push_str(&format!(" via {gw}"));
                }
                if let Some(dev) = &n.dev {
                    line.push_str(&format!(" dev {dev}"));
                }
            }
            line
        })
        .collect()
}

fn rule_body(
    src: Option<&IpNet>,
    dst: Option<&IpNet>,
    fwmark: Option<u32>,
    fwmask: Option<u32>,
    table: u32,
) -> String {
    let host_or_cidr = |n: &IpNet| {
        if n.prefix_len() == n.max_prefix_len() { n.addr().to_string() } else { n.to_string() }
    };
    let mut s = format!("from {}", src.map_or_else(|| "all".to_owned(), host_or_cidr));
    if let Some(d) = dst {
        s.push_str(&format!(" to {}", host_or_cidr(d)));
    }
    if let Some(m) = fwmark {
        s.push_str(&format!(" fwmark {m:#x}"));
        if let Some(mask) = fwmask {
            s.push_str(&format!("/{mask:#x}"));
        }
    }
    s.push_str(&format!(" lookup {}", table_name(table)));
    s
}

/// `ip [-6] rule show` of a rule list, for one family, by priority.
pub fn rule_lines(rules: &[Rule], family: IpFamily) -> Vec<String> {
    let mut rs: Vec<&Rule> = rules.iter().filter(|r| r.family == family).collect();
    rs.sort_by_key(|r| r.priority.unwrap_or(0));
    rs.iter()
        .map(|r| {
            format!(
                "{}:\t{}",
                r.priority.unwrap_or(0),
                rule_body(r.src.as_ref(), r.dst.as_ref(), r.fwmark, r.fwmask, r.table)
            )
        })
        .collect()
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Add => "add",
        Action::Del => "del",
        Action::Set => "set",
    }
}

fn route_cmd(r: &Route) -> String {
    let mut s =
        route_body(&r.dst, r.gateway.as_ref(), r.dev.as_deref(), None, r.scope, r.prefsrc.as_ref());
    if r.table != TABLE_MAIN {
        s.push_str(&format!(" table {}", table_name(r.table)));
    }
    s
}

/// A link operation as command lines (a veth pair with `up` gives two or
/// three).
fn link_lines(op: &Op, l: &LinkOp, ip: &str) -> Vec<String> {
    match op.action {
        Action::Add => {
            let mut s = format!("{ip} link add {}", l.ifname);
            if let Some(mac) = &l.address {
                s.push_str(&format!(" address {mac}"));
            }
            if let Some(mtu) = l.mtu {
                s.push_str(&format!(" mtu {mtu}"));
            }
            if let Some(kind) = &l.kind {
                s.push_str(&format!(" type {kind}"));
            }
            let mut out = Vec::new();
            if let Some(peer) = &l.peer {
                s.push_str(&format!(" peer name {peer}"));
                if let Some(mac) = &l.peer_address {
                    s.push_str(&format!(" address {mac}"));
                }
                if let Some(mtu) = l.mtu {
                    s.push_str(&format!(" mtu {mtu}"));
                }
                s.push_str(if op.side == Side::Pod { " netns 1" } else { " netns pod" });
            }
            out.push(s);
            if l.up == Some(true) {
                out.push(format!("{ip} link set {} up", l.ifname));
                if let Some(peer) = &l.peer {
                    let other = if op.side == Side::Pod { "ip" } else { "ip -n pod" };
                    out.push(format!("{other} link set {peer} up"));
                }
            }
            out
        }
        Action::Del => vec![format!("{ip} link del {}", l.ifname)],
        Action::Set => {
            let mut s = format!("{ip} link set {}", l.ifname);
            if let Some(mac) = &l.address {
                s.push_str(&format!(" address {mac}"));
            }
            if let Some(mtu) = l.mtu {
                s.push_str(&format!(" mtu {mtu}"));
            }
            if let Some(q) = l.txqlen {
                s.push_str(&format!(" txqueuelen {q}"));
            }
            if let Some(alias) = &l.alias {
                s.push_str(&format!(" alias {alias}"));
            }
            match l.up {
                Some(true) => s.push_str(" up"),
                Some(false) => s.push_str(" down"),
                None => {}
            }
            vec![s]
        }
    }
}

/// One operation as command lines (a veth pair with `up` gives two).
pub fn op_lines(op: &Op) -> Vec<String> {
    let (ip, exec) = match op.side {
        Side::Pod => ("ip -n pod", "ip netns exec pod"),
        Side::Host => ("ip", ""),
    };
    let v6 = |f: IpFamily| if f == IpFamily::V6 { " -6" } else { "" };
    let a = verb(op.action);
    match &op.item {
        Item::Link(l) => link_lines(op, l, ip),
        Item::Addr(x) => vec![format!("{ip} addr {a} {} dev {}", x.local, x.dev)],
        Item::Route(r) => {
            vec![format!("{ip}{} route {a} {}", v6(r.family()), route_cmd(r))]
        }
        Item::Rule(r) => {
            let mut s = format!(
                "{ip}{} rule {a} {}",
                v6(r.family),
                rule_body(r.src.as_ref(), r.dst.as_ref(), r.fwmark, r.fwmask, r.table)
            );
            if let Some(p) = r.priority {
                s.push_str(&format!(" priority {p}"));
            }
            vec![s]
        }
        Item::Neigh(n) => {
            let fam = IpFamily::of(&n.dst);
            let verb = if op.action == Action::Add { "replace" } else { a };
            let mut s = format!("{ip}{} neigh {verb} {}", v6(fam), n.dst);
            if let Some(mac) = &n.lladdr {
                s.push_str(&format!(" lladdr {mac}"));
            }
            s.push_str(&format!(" dev {}", n.dev));
            if n.permanent {
                s.push_str(" nud permanent");
            }
            vec![s]
        }
        Item::Sysctl(x) => {
            let prefix = if exec.is_empty() { String::new() } else { format!("{exec} ") };
            vec![format!("{prefix}sysctl -w {}={}", x.key, x.value)]
        }
        Item::Mac(m) => {
            let mut s = format!("{ip} link set {} address {}", m.dev, m.address);
            if !m.announce.is_empty() {
                let list: Vec<String> = m.announce.iter().map(ToString::to_string).collect();
                s.push_str(&format!("  # then announce {}", list.join(" ")));
            }
            vec![s]
        }
        Item::Mark(m) => {
            let side = if op.side == Side::Pod { "pod" } else { "host" };
            vec![format!(
                "# {side}: {a} mark {:#x} on new connections arriving on {} (saved to the conntrack mark, restored on output)",
                m.fwmark, m.iif
            )]
        }
    }
}

/// The plan as command lines, in order, after a header comment giving the
/// mode, first-invoke flag and table.
pub fn plan_lines(plan: &RoutePlan) -> Vec<String> {
    let mode = match plan.mode {
        super::plan::ResolvedMode::Underlay => "underlay",
        super::plan::ResolvedMode::Overlay => "overlay",
        super::plan::ResolvedMode::Disabled => "disabled",
    };
    let mut out =
        vec![format!("# mode {mode}, first invoke {}, table {}", plan.first_invoke, plan.table)];
    out.extend(plan.ops.iter().flat_map(op_lines));
    out
}
