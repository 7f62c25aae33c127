//! Reading what a namespace holds: links, addresses, routes of all tables,
//! rules and neighbours, turned into the core's view types.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result, errno};
use crate::mac::format_mac;
use crate::netns::{Netns, with_netns};

/// `ENOENT`: what a strict route dump of a table that does not exist answers.
const ENOENT: i32 = 2;
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::{Handle, IpVersion, RouteMessageBuilder};
use spiderpool_core::coordinator::check::NeighView;
use spiderpool_core::coordinator::view::TABLE_LOCAL;
use spiderpool_core::coordinator::{
    AddrView, LinkFlags as ViewFlags, LinkView, NetnsView, NextHop, Route, Rule, Scope,
};
use spiderpool_core::ip::IpFamily;

/// Reads the view of a namespace on a thread inside it.
pub fn read_view(ns: &Netns) -> Result<NetnsView> {
    with_netns(ns, |h| async move { read_view_with(&h).await })
}

/// Reads the view through an open handle. Routes: unicast routes of every
/// table except `local` (255), IPv4 and IPv6, multipath next hops included.
/// Rules: every rule of both families that looks a table up.
pub async fn read_view_with(h: &Handle) -> Result<NetnsView> {
    read_view_of(h, None).await
}

/// [`read_view_with`], with the routes of `table` only when given (asked of
/// the kernel on a strict socket, see [`read_routes`]).
pub(crate) async fn read_view_of(h: &Handle, table: Option<u32>) -> Result<NetnsView> {
    let links = read_links(h).await?;
    let names: BTreeMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    let addresses = read_addresses(h, &names).await?;
    let mut routes = Vec::new();
    for v6 in [false, true] {
        routes.extend(read_routes(h, v6, &names, table).await?);
    }
    let mut rules = Vec::new();
    for family in [IpFamily::V4, IpFamily::V6] {
        rules.extend(read_rules(h, family).await?);
    }
    Ok(NetnsView { links, addresses, routes, rules })
}

pub(crate) async fn read_links(h: &Handle) -> Result<Vec<LinkView>> {
    let msgs: Vec<_> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink("dump links", e))?;
    let mut links: Vec<LinkView> = msgs.iter().map(link_view).collect();
    links.sort_by_key(|l| l.index);
    Ok(links)
}

fn link_view(m: &LinkMessage) -> LinkView {
    let f = m.header.flags;
    let mut v = LinkView {
        index: m.header.index,
        flags: ViewFlags {
            up: f.contains(LinkFlags::Up),
            broadcast: f.contains(LinkFlags::Broadcast),
            multicast: f.contains(LinkFlags::Multicast),
            loopback: f.contains(LinkFlags::Loopback),
        },
        ..LinkView::default()
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => v.name = n.clone(),
            LinkAttribute::Address(b) if b.len() == 6 => v.mac = Some(format_mac(b)),
            LinkAttribute::Mtu(mtu) => v.mtu = Some(*mtu),
            LinkAttribute::Link(i) => v.peer_index = Some(*i),
            LinkAttribute::IfAlias(a) if !a.is_empty() => v.ifalias = Some(a.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        v.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    v
}

/// The longest link name the kernel accepts (`IFNAMSIZ - 1`).
const MAX_IFNAME_LEN: usize = 15;

/// One link by name, with one `RTM_GETLINK` request for that name (no dump);
/// `None` when the namespace has no link of that name, also for a name no
/// link can have (empty, or longer than the kernel's 15 bytes: the kernel
/// would refuse the request rather than say "no such device").
pub(crate) async fn read_link_with(h: &Handle, name: &str) -> Result<Option<LinkView>> {
    if name.is_empty() || name.len() > MAX_IFNAME_LEN || name.contains('\0') {
        return Ok(None);
    }
    let res = h.link().get().match_name(name.to_string()).execute().try_next().await;
    match res {
        Ok(m) => Ok(m.as_ref().map(link_view)),
        Err(e) if errno(&e) == Some(19) => Ok(None), // ENODEV
        Err(e) => Err(Error::netlink(format!("get link {name}"), e)),
    }
}

/// The links and addresses of a namespace, without its routes and rules
/// (the view's `routes` and `rules` are empty): what a DEL reads of the pod.
pub(crate) async fn read_links_and_addresses_with(h: &Handle) -> Result<NetnsView> {
    let links = read_links(h).await?;
    let names: BTreeMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    let addresses = read_addresses(h, &names).await?;
    Ok(NetnsView { links, addresses, ..NetnsView::default() })
}

async fn read_addresses(h: &Handle, names: &BTreeMap<u32, String>) -> Result<Vec<AddrView>> {
    let msgs: Vec<_> = h
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink("dump addresses", e))?;
    let mut out = Vec::new();
    for m in &msgs {
        let local = m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let addr = local.or_else(|| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        });
        let (Some(ip), Some(dev)) = (addr, names.get(&m.header.index)) else { continue };
        if let Ok(address) = IpNet::new(ip, m.header.prefix_len) {
            out.push(AddrView { dev: dev.clone(), address });
        }
    }
    Ok(out)
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub(crate) fn protocol_text(p: RouteProtocol) -> String {
    match p {
        RouteProtocol::Kernel => "kernel".into(),
        RouteProtocol::Boot => "boot".into(),
        RouteProtocol::Static => "static".into(),
        RouteProtocol::Ra => "ra".into(),
        RouteProtocol::Dhcp => "dhcp".into(),
        RouteProtocol::Bird => "bird".into(),
        other => u8::from(other).to_string(),
    }
}

fn scope_of(s: RouteScope) -> Scope {
    match s {
        RouteScope::Link => Scope::Link,
        RouteScope::Host => Scope::Host,
        _ => Scope::Global,
    }
}

/// The table of a route message (the `RTA_TABLE` attribute wins over the
/// 8-bit header field).
pub(crate) fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

pub(crate) fn route_view(m: &RouteMessage, names: &BTreeMap<u32, String>) -> Option<Route> {
    let v6 = m.header.address_family == netlink_packet_route::AddressFamily::Inet6;
    let mut dst: Option<IpAddr> = None;
    let mut view = Route {
        table: route_table(m),
        dst: IpNet::default(),
        gateway: None,
        dev: None,
        scope: scope_of(m.header.scope),
        prefsrc: None,
        protocol: Some(protocol_text(m.header.protocol)),
        nexthops: Vec::new(),
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = route_ip(d),
            RouteAttribute::Gateway(g) => view.gateway = route_ip(g),
            RouteAttribute::PrefSource(s) => view.prefsrc = route_ip(s),
            RouteAttribute::Oif(i) => view.dev = names.get(i).cloned(),
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    let gateway = hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => route_ip(g),
                        _ => None,
                    });
                    let dev = names.get(&hop.interface_index).cloned();
                    view.nexthops.push(NextHop { gateway, dev });
                }
            }
            _ => {}
        }
    }
    let unspecified =
        if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
    view.dst = IpNet::new(dst.unwrap_or(unspecified), m.header.destination_prefix_length).ok()?;
    Some(view)
}

/// The unicast routes of one family, of `table` only when given (else of
/// every table but `local`). The request carries no header filter (no table,
/// protocol or type: on a strict socket, see
/// [`connect_strict`](crate::netns::connect_strict), the kernel would apply
/// them); `table` goes in `RTA_TABLE`, which a strict socket makes the kernel
/// apply (it then answers `ENOENT` for a table that does not exist: no
/// routes) and a plain one ignores, so the routes are filtered here too.
pub(crate) async fn read_routes(
    h: &Handle,
    v6: bool,
    names: &BTreeMap<u32, String>,
    table: Option<u32>,
) -> Result<Vec<Route>> {
    let mut req = if v6 {
        RouteMessageBuilder::<Ipv6Addr>::new().build()
    } else {
        RouteMessageBuilder::<Ipv4Addr>::new().build()
    };
    req.header.table = 0;
    req.header.protocol = RouteProtocol::Unspec;
    req.header.scope = RouteScope::Universe;
    req.header.kind = RouteType::Unspec;
    if let Some(t) = table {
        req.attributes.push(RouteAttribute::Table(t));
    }
    let res: std::result::Result<Vec<RouteMessage>, _> =
        h.route().get(req).execute().try_collect().await;
    let msgs = match res {
        Ok(m) => m,
        Err(e) if table.is_some() && errno(&e) == Some(ENOENT) => Vec::new(),
        Err(e) => {
            return Err(Error::netlink(
                if v6 { "dump IPv6 routes" } else { "dump IPv4 routes" },
                e,
            ));
        }
    };
    Ok(msgs
        .iter()
        .filter(|m| m.header.kind == RouteType::Unicast)
        .filter(|m| match table {
            Some(t) => route_table(m) == t,
            None => route_table(m) != TABLE_LOCAL,
        })
        .filter_map(|m| route_view(m, names))
        .collect())
}

/// The rules of one family that look a table up, each with the message it
/// was read from (what a rule delete sends back).
pub(crate) async fn read_rule_messages(
    h: &Handle,
    family: IpFamily,
) -> Result<Vec<(Rule, RuleMessage)>> {
    let version = match family {
        IpFamily::V4 => IpVersion::V4,
        IpFamily::V6 => IpVersion::V6,
    };
    let msgs: Vec<RuleMessage> = h
        .rule()
        .get(version)
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink("dump rules", e))?;
    Ok(msgs.into_iter().filter_map(|m| Some((rule_view(&m, family)?, m))).collect())
}

async fn read_rules(h: &Handle, family: IpFamily) -> Result<Vec<Rule>> {
    Ok(read_rule_messages(h, family).await?.into_iter().map(|(rule, _)| rule).collect())
}

fn rule_view(m: &RuleMessage, family: IpFamily) -> Option<Rule> {
    if m.header.action != RuleAction::ToTable {
        return None;
    }
    let mut v = Rule::lookup(family, u32::from(m.header.table));
    for a in &m.attributes {
        match a {
            RuleAttribute::Priority(p) => v.priority = Some(*p),
            RuleAttribute::Source(ip) => v.src = IpNet::new(*ip, m.header.src_len).ok(),
            RuleAttribute::Destination(ip) => v.dst = IpNet::new(*ip, m.header.dst_len).ok(),
            RuleAttribute::FwMark(x) => v.fwmark = Some(*x),
            RuleAttribute::FwMask(x) => v.fwmask = Some(*x),
            RuleAttribute::Table(t) => v.table = *t,
            _ => {}
        }
    }
    Some(v)
}

/// Reads the neighbour entries (IPv4 and IPv6) through an open handle.
pub async fn read_neighbours(h: &Handle) -> Result<Vec<NeighView>> {
    let links = read_links(h).await?;
    let names: BTreeMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    let msgs: Vec<_> = h
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink("dump neighbours", e))?;
    let mut out = Vec::new();
    for m in &msgs {
        let mut dst = None;
        let mut lladdr = None;
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    dst = Some(IpAddr::V4(*v4))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    dst = Some(IpAddr::V6(*v6))
                }
                NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                    lladdr = Some(format_mac(b))
                }
                _ => {}
            }
        }
        let (Some(dst), Some(dev)) = (dst, names.get(&m.header.ifindex)) else { continue };
        out.push(NeighView {
            dev: dev.clone(),
            dst,
            lladdr,
            permanent: m.header.state == NeighbourState::Permanent,
        });
    }
    Ok(out)
}

/// The index of a link by name; `None` when there is none.
pub(crate) async fn link_index(h: &Handle, name: &str) -> Result<Option<u32>> {
    Ok(read_link_with(h, name).await?.map(|l| l.index))
}

/// Like [`link_index`], but a missing link is an error.
pub(crate) async fn need_link(h: &Handle, name: &str) -> Result<u32> {
    link_index(h, name).await?.ok_or_else(|| Error::LinkNotFound { name: name.to_string() })
}
