//! Address, route, rule and neighbour operations.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::route::{RouteProtocol, RouteScope};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::{Handle, RouteMessageBuilder};
use spiderpool_core::coordinator::{Action, AddrOp, NeighOp, Route, Rule, Scope, rule_holds};
use spiderpool_core::ip::IpFamily;

use crate::error::{Error, Result, errno};
use crate::mac::parse_mac;
use crate::read::{link_index, need_link, read_rule_messages};

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EADDRNOTAVAIL: i32 = 99;

fn invalid(field: &'static str, value: impl ToString, reason: &'static str) -> Error {
    Error::Invalid { field, value: value.to_string(), reason }
}

pub(super) async fn apply_addr(h: &Handle, action: Action, a: &AddrOp) -> Result<()> {
    let what = format!("{} addr {} dev {}", action.name(), a.local, a.dev);
    match action {
        Action::Add | Action::Set => {
            let idx = need_link(h, &a.dev).await?;
            h.address()
                .add(idx, a.local.addr(), a.local.prefix_len())
                .replace()
                .execute()
                .await
                .map_err(|e| Error::netlink(what, e))
        }
        Action::Del => {
            let Some(idx) = link_index(h, &a.dev).await? else { return Ok(()) };
            let msgs: Vec<_> = h
                .address()
                .get()
                .set_link_index_filter(idx)
                .execute()
                .try_collect()
                .await
                .map_err(|e| Error::netlink(what.clone(), e))?;
            for m in msgs {
                let hit = m.header.prefix_len == a.local.prefix_len()
                    && m.attributes.iter().any(|x| {
                        matches!(x, AddressAttribute::Local(ip) | AddressAttribute::Address(ip)
                            if *ip == a.local.addr())
                    });
                if hit {
                    match h.address().del(m).execute().await {
                        Ok(()) => {}
                        Err(e) if errno(&e) == Some(EADDRNOTAVAIL) => {}
                        Err(e) => return Err(Error::netlink(what, e)),
                    }
                    break;
                }
            }
            Ok(())
        }
    }
}

pub(super) async fn apply_route(h: &Handle, action: Action, r: &Route) -> Result<()> {
    let what = format!(
        "{} route {} via {:?} dev {:?} table {}",
        action.name(),
        r.dst,
        r.gateway,
        r.dev,
        r.table
    );
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(r.dst.addr(), r.dst.prefix_len())
        .map_err(|_| invalid("route dst", r.dst, "not a destination"))?
        .table_id(r.table);
    if let Some(gw) = r.gateway {
        if gw.is_ipv4() != r.dst.addr().is_ipv4() {
            return Err(invalid("route gateway", gw, "family differs from dst"));
        }
        b = b.gateway(gw).map_err(|_| invalid("route gateway", gw, "not a gateway"))?;
    }
    if let Some(src) = r.prefsrc {
        if src.is_ipv4() != r.dst.addr().is_ipv4() {
            return Err(invalid("route prefsrc", src, "family differs from dst"));
        }
        b = b.pref_source(src).map_err(|_| invalid("route prefsrc", src, "not a source"))?;
    }
    match action {
        Action::Add | Action::Set => {
            if let Some(dev) = &r.dev {
                b = b.output_interface(need_link(h, dev).await?);
            }
            b = b.scope(match r.scope {
                Scope::Global => RouteScope::Universe,
                Scope::Link => RouteScope::Link,
                Scope::Host => RouteScope::Host,
            });
            h.route().add(b.build()).replace().execute().await.map_err(|e| Error::netlink(what, e))
        }
        Action::Del => {
            if let Some(dev) = &r.dev {
                match link_index(h, dev).await? {
                    Some(idx) => b = b.output_interface(idx),
                    // The device is gone, and its routes with it.
                    None => return Ok(()),
                }
            }
            // Like `ip route del`: any scope and any protocol match (a route
            // added by another plugin is `proto boot`, ours `proto static`;
            // the kernel matches a non-zero protocol on delete).
            b = b.scope(RouteScope::NoWhere).protocol(RouteProtocol::Unspec);
            match h.route().del(b.build()).execute().await {
                Ok(()) => Ok(()),
                Err(e) if matches!(errno(&e), Some(ESRCH) | Some(ENOENT)) => Ok(()),
                Err(e) => Err(Error::netlink(what, e)),
            }
        }
    }
}

/// The rules the kernel holds that hold `r` (the core's matcher: a
/// `fwmark` without mask reads back with mask `0xffffffff`).
async fn matching_rules(h: &Handle, r: &Rule) -> Result<Vec<RuleMessage>> {
    Ok(read_rule_messages(h, r.family)
        .await?
        .into_iter()
        .filter(|(have, _)| rule_holds(have, r))
        .map(|(_, m)| m)
        .collect())
}

pub(super) async fn apply_rule(h: &Handle, action: Action, r: &Rule) -> Result<()> {
    for net in [r.src, r.dst].into_iter().flatten() {
        if IpFamily::of(&net.addr()) != r.family {
            return Err(invalid("rule selector", net, "family differs from the rule's"));
        }
    }
    let what = format!(
        "{} rule from {:?} to {:?} fwmark {:?} lookup {} priority {:?}",
        action.name(),
        r.src,
        r.dst,
        r.fwmark,
        r.table,
        r.priority
    );
    let existing = matching_rules(h, r).await?;
    match action {
        Action::Add | Action::Set => {
            if !existing.is_empty() {
                return Ok(());
            }
            let mut req = h.rule().add().action(RuleAction::ToTable).table_id(r.table);
            if let Some(p) = r.priority {
                req = req.priority(p);
            }
            if let Some(m) = r.fwmark {
                req = req.fw_mark(m);
            }
            if let Some(mask) = r.fwmask {
                req.message_mut().attributes.push(RuleAttribute::FwMask(mask));
            }
            let res = if r.family == IpFamily::V4 {
                let mut req = req.v4();
                if let Some(IpAddr::V4(a)) = r.src.map(|n| n.addr()) {
                    req = req.source_prefix(a, r.src.map(|n| n.prefix_len()).unwrap_or(32));
                }
                if let Some(IpAddr::V4(a)) = r.dst.map(|n| n.addr()) {
                    req = req.destination_prefix(a, r.dst.map(|n| n.prefix_len()).unwrap_or(32));
                }
                req.execute().await
            } else {
                let mut req = req.v6();
                if let Some(IpAddr::V6(a)) = r.src.map(|n| n.addr()) {
                    req = req.source_prefix(a, r.src.map(|n| n.prefix_len()).unwrap_or(128));
                }
                if let Some(IpAddr::V6(a)) = r.dst.map(|n| n.addr()) {
                    req = req.destination_prefix(a, r.dst.map(|n| n.prefix_len()).unwrap_or(128));
                }
                req.execute().await
            };
            res.map_err(|e| Error::netlink(what, e))
        }
        Action::Del => {
            for m in existing {
                match h.rule().del(m).execute().await {
                    Ok(()) => {}
                    Err(e) if errno(&e) == Some(ENOENT) => {}
                    Err(e) => return Err(Error::netlink(what, e)),
                }
            }
            Ok(())
        }
    }
}

pub(super) async fn apply_neigh(h: &Handle, action: Action, n: &NeighOp) -> Result<()> {
    let what = format!("{} neigh {} dev {}", action.name(), n.dst, n.dev);
    match action {
        Action::Add | Action::Set => {
            let idx = need_link(h, &n.dev).await?;
            let Some(ll) = &n.lladdr else {
                return Err(invalid("neigh lladdr", "", "required to add a neighbour"));
            };
            let mac = parse_mac("neigh lladdr", ll)?;
            let state =
                if n.permanent { NeighbourState::Permanent } else { NeighbourState::Reachable };
            h.neighbours()
                .add(idx, n.dst)
                .link_layer_address(&mac)
                .state(state)
                .replace()
                .execute()
                .await
                .map_err(|e| Error::netlink(what, e))
        }
        Action::Del => {
            let Some(idx) = link_index(h, &n.dev).await? else { return Ok(()) };
            let msgs: Vec<_> = h
                .neighbours()
                .get()
                .execute()
                .try_collect()
                .await
                .map_err(|e| Error::netlink(what.clone(), e))?;
            for m in msgs {
                let hit = m.header.ifindex == idx
                    && m.attributes.iter().any(|a| match a {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                            IpAddr::V4(*v4) == n.dst
                        }
                        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                            IpAddr::V6(*v6) == n.dst
                        }
                        _ => false,
                    });
                if hit {
                    match h.neighbours().del(m).execute().await {
                        Ok(()) => {}
                        Err(e) if errno(&e) == Some(ENOENT) => {}
                        Err(e) => return Err(Error::netlink(what, e)),
                    }
                }
            }
            Ok(())
        }
    }
}
