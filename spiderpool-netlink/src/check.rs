//! CHECK: read back what the namespaces hold ([`observe`]) and list the
//! operations of a plan whose effect is not there ([`check`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

use spiderpool_core::coordinator::{Action, Item, LinkOp, NetnsView, Op, RoutePlan, Side};

use crate::apply::{Ctx, action_name, kind_name, with_ctx};
use crate::error::Result;
use crate::netns::Netns;
use crate::nft::{self, MarkState};
use crate::read::{read_neighbours, read_view_with};
use crate::sysctl::read_sysctl;

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
    /// The nftables mark table.
    pub marks: MarkState,
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

async fn observe_side(ctx: &mut Ctx, side: Side, ops: &[&Op]) -> Result<NsState> {
    let h = ctx.side(side).handle.clone();
    let view = read_view_with(&h).await?;
    let neighbours = read_neighbours(&h).await?;
    ctx.enter(side)?;
    let mut sysctls = BTreeMap::new();
    let mut marks = MarkState::default();
    for op in ops {
        match &op.item {
            Item::Sysctl(s) => {
                if let Ok(v) = read_sysctl(&s.key) {
                    sysctls.insert(s.key.clone(), v);
                }
            }
            Item::Mark(_) => marks = nft::read_marks()?,
            _ => {}
        }
    }
    Ok(NsState { view, neighbours, sysctls, marks })
}

/// Reads everything `plan` can be checked against, from `pod` and `host`.
pub fn observe(plan: &RoutePlan, pod: &Netns, host: &Netns) -> Result<Observed> {
    with_ctx(pod, host, |mut ctx| async move {
        let pod_ops: Vec<&Op> = plan.ops.iter().filter(|o| o.side == Side::Pod).collect();
        let host_ops: Vec<&Op> = plan.ops.iter().filter(|o| o.side == Side::Host).collect();
        let pod = observe_side(&mut ctx, Side::Pod, &pod_ops).await?;
        let host = observe_side(&mut ctx, Side::Host, &host_ops).await?;
        Ok(Observed { pod, host })
    })
}

fn link_matches(st: &NsState, l: &LinkOp, mac_changed_later: bool) -> Option<String> {
    let Some(have) = st.view.link(&l.ifname) else {
        return Some(format!("link {} not found", l.ifname));
    };
    if let Some(mtu) = l.mtu
        && have.mtu != Some(mtu)
    {
        return Some(format!("link {} mtu {:?}, want {mtu}", l.ifname, have.mtu));
    }
    if let Some(mac) = &l.address
        && !mac_changed_later
        && have.mac.as_deref() != Some(mac.to_ascii_lowercase().as_str())
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
    None
}

/// The problem with one operation, or `None` when its effect is present.
fn problem(obs: &Observed, op: &Op, later: &[Op]) -> Option<String> {
    let st = obs.side(op.side);
    let del = op.action == Action::Del;
    let present_or_absent = |present: bool, what: String| match (present, del) {
        (false, false) => Some(format!("{what} not found")),
        (true, true) => Some(format!("{what} still present")),
        _ => None,
    };
    match &op.item {
        Item::Link(l) => {
            if del {
                return present_or_absent(
                    st.view.link(&l.ifname).is_some(),
                    format!("link {}", l.ifname),
                );
            }
            // A later MAC change on the same link wins over the address set here.
            let mac_changed_later = later.iter().any(|o| {
                o.side == op.side
                    && match &o.item {
                        Item::Mac(m) => m.dev == l.ifname,
                        Item::Link(x) => x.ifname == l.ifname && x.address.is_some(),
                        _ => false,
                    }
            });
            if let Some(p) = link_matches(st, l, mac_changed_later) {
                return Some(p);
            }
            match &l.peer {
                Some(peer) if op.action == Action::Add => {
                    let other = obs.other(op.side);
                    match other.view.link(peer) {
                        None => Some(format!("veth peer {peer} not found")),
                        Some(p) => match &l.peer_address {
                            Some(mac)
                                if p.mac.as_deref() != Some(mac.to_ascii_lowercase().as_str()) =>
                            {
                                Some(format!("veth peer {peer} address {:?}, want {mac}", p.mac))
                            }
                            _ => None,
                        },
                    }
                }
                _ => None,
            }
        }
        Item::Addr(a) => present_or_absent(
            st.view.addresses.iter().any(|x| x.dev == a.dev && x.address == a.local),
            format!("addr {} dev {}", a.local, a.dev),
        ),
        Item::Route(r) => present_or_absent(
            st.view.routes.iter().any(|x| {
                x.table == r.table
                    && x.dst == r.dst
                    && x.gateway == r.gateway
                    && (r.dev.is_none() || x.dev == r.dev)
                    && (r.prefsrc.is_none() || x.prefsrc == r.prefsrc)
            }),
            format!("route {} via {:?} dev {:?} table {}", r.dst, r.gateway, r.dev, r.table),
        ),
        Item::Rule(r) => present_or_absent(
            st.view.rules.iter().any(|x| {
                x.family == r.family
                    && x.src == r.src
                    && x.dst == r.dst
                    && x.fwmark == r.fwmark
                    && (r.fwmask.is_none() || x.fwmask == r.fwmask)
                    && x.table == r.table
                    && r.priority.is_none_or(|p| x.priority == Some(p))
            }),
            format!(
                "rule from {:?} to {:?} fwmark {:?} lookup {} priority {:?}",
                r.src, r.dst, r.fwmark, r.table, r.priority
            ),
        ),
        Item::Neigh(n) => present_or_absent(
            st.neighbours.iter().any(|x| {
                x.dev == n.dev
                    && x.dst == n.dst
                    && (n.lladdr.is_none()
                        || x.lladdr.as_deref()
                            == n.lladdr.as_ref().map(|m| m.to_ascii_lowercase()).as_deref())
                    && (!n.permanent || x.permanent)
            }),
            format!("neigh {} lladdr {:?} dev {}", n.dst, n.lladdr, n.dev),
        ),
        Item::Sysctl(s) => {
            if del {
                return None;
            }
            match st.sysctls.get(&s.key) {
                Some(v) if v.trim() == s.value.trim() => None,
                other => Some(format!("sysctl {} = {:?}, want {}", s.key, other, s.value)),
            }
        }
        Item::Mac(m) => {
            if del {
                return None;
            }
            let have = st.view.link(&m.dev).and_then(|l| l.mac.clone());
            (have.as_deref() != Some(m.address.to_ascii_lowercase().as_str()))
                .then(|| format!("link {} address {:?}, want {}", m.dev, have, m.address))
        }
        Item::Mark(m) => present_or_absent(
            st.marks.has(&m.iif, m.fwmark),
            format!("nftables marks iif {} mark {:#x}", m.iif, m.fwmark),
        ),
    }
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
                action: action_name(op.action),
                kind: kind_name(&op.item),
                what,
            })
        })
        .collect()
}
