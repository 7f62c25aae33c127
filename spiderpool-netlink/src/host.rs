//! The host side: which host addresses a pod should route to (reference §5.3
//! step 2) and the [`HostView`] the planner needs.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::route::RouteAttribute;
use rtnetlink::{Handle, RouteMessageBuilder};
use spiderpool_core::coordinator::{HostView, NetnsView};

use crate::error::{Error, Result, errno};
use crate::netns::{Netns, with_netns};
use crate::read::{read_view_of, read_view_with};

/// Host interfaces whose addresses are never pod host IPs (container, bridge
/// and overlay interfaces): Spiderpool's `^docker.*, ^cbr.*, ^dummy.*,
/// ^virbr.*, ^lxcbr.*, ^veth.*, ^lo$, ^cali.*, ^flannel.*, ^kube-ipvs.*, ^cni.*,
/// ^vx-submariner, ^cilium*` (the last regex matches any name starting with
/// `ciliu`).
pub fn is_excluded_host_link(name: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        "docker",
        "cbr",
        "dummy",
        "virbr",
        "lxcbr",
        "veth",
        "cali",
        "flannel",
        "kube-ipvs",
        "cni",
        "vx-submariner",
        "ciliu",
    ];
    name == "lo" || PREFIXES.iter().any(|p| name.starts_with(p))
}

fn skipped_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_multicast() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_unicast_link_local() || v6.is_multicast() || v6.is_unspecified(),
    }
}

/// The `src` the host would use to reach `ip` (`ip route get <ip>`); `None`
/// when the host has no route to it.
pub async fn route_get_src(h: &Handle, ip: IpAddr) -> Result<Option<IpAddr>> {
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let msg = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(ip, full)
        .map_err(|_| Error::Invalid {
            field: "pod IP",
            value: ip.to_string(),
            reason: "not a destination",
        })?
        .build();
    // No header fields beyond the destination's: a strict socket (see
    // `connect_strict`) refuses a route get with a table, protocol or type.
    let mut msg = msg;
    msg.header.table = 0;
    msg.header.protocol = netlink_packet_route::route::RouteProtocol::Unspec;
    msg.header.kind = netlink_packet_route::route::RouteType::Unspec;
    msg.header.scope = netlink_packet_route::route::RouteScope::Universe;
    let res: std::result::Result<Vec<_>, _> = h.route().get(msg).execute().try_collect().await;
    let msgs = match res {
        Ok(m) => m,
        // ENETUNREACH / EHOSTUNREACH: no route on the host.
        Err(e) if matches!(errno(&e), Some(101) | Some(113)) => return Ok(None),
        Err(e) => return Err(Error::netlink(format!("route get {ip}"), e)),
    };
    Ok(msgs.iter().flat_map(|m| &m.attributes).find_map(|a| match a {
        RouteAttribute::PrefSource(s) => route_view_ip(s),
        _ => None,
    }))
}

fn route_view_ip(a: &netlink_packet_route::route::RouteAddress) -> Option<IpAddr> {
    use netlink_packet_route::route::RouteAddress;
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Pod host IPs through an open handle in the host namespace: the route `src`
/// for each pod IP first, then the addresses of every host interface not
/// excluded by [`is_excluded_host_link`], skipping link-local, multicast and
/// unspecified addresses; de-duplicated, first occurrence kept.
///
/// A route `src` that sits on an excluded interface (`lo`, `kube-ipvs0`,
/// `veth*`, ...) is skipped too: once the coordinator has routed a pod through
/// its own host veth (table 500, no source), the kernel picks an arbitrary
/// address — often a service IP on `lo` or `kube-ipvs0` — and a CHECK right
/// after an ADD would otherwise plan through another host IP than the ADD.
pub async fn discover_pod_host_ips_with(h: &Handle, pod_ips: &[IpAddr]) -> Result<Vec<IpAddr>> {
    let view = read_view_with(h).await?;
    pod_host_ips_in(h, &view, pod_ips).await
}

/// [`discover_pod_host_ips_with`] over a view of the host namespace already
/// read through `h` (so a caller that needs the view too reads it once).
async fn pod_host_ips_in(h: &Handle, view: &NetnsView, pod_ips: &[IpAddr]) -> Result<Vec<IpAddr>> {
    let mut out: Vec<IpAddr> = Vec::new();
    let push = |ip: IpAddr, out: &mut Vec<IpAddr>| {
        if !skipped_ip(&ip) && !out.contains(&ip) {
            out.push(ip);
        }
    };
    let on_excluded_link = |ip: &IpAddr| {
        view.addresses.iter().any(|a| a.address.addr() == *ip && is_excluded_host_link(&a.dev))
    };
    for ip in pod_ips {
        if let Some(src) = route_get_src(h, *ip).await?
            && !on_excluded_link(&src)
        {
            push(src, &mut out);
        }
    }
    for a in &view.addresses {
        if !is_excluded_host_link(&a.dev) {
            push(a.address.addr(), &mut out);
        }
    }
    Ok(out)
}

/// Pod host IPs of the host namespace `host` (see [`discover_pod_host_ips_with`]).
pub fn discover_pod_host_ips(host: &Netns, pod_ips: &[IpAddr]) -> Result<Vec<IpAddr>> {
    with_netns(host, |h| async move { discover_pod_host_ips_with(&h, pod_ips).await })
}

/// The host view for the planner: the pod host IPs, all host links, all host
/// rules, and the routes of `host_rule_table`.
pub fn read_host_view(host: &Netns, pod_ips: &[IpAddr], host_rule_table: u32) -> Result<HostView> {
    with_netns(host, |h| async move { read_host_view_with(&h, pod_ips, host_rule_table).await })
}

/// [`read_host_view`] through an open handle in the host namespace. The host's
/// links, addresses, routes and rules are dumped once and serve both the pod
/// host IP discovery and the view. Only the routes of `host_rule_table` are
/// asked for (the kernel filters on a strict socket, as a [`Session`](crate::Session)'s
/// host socket is; on another socket the dump is complete and filtered here).
pub async fn read_host_view_with(
    h: &Handle,
    pod_ips: &[IpAddr],
    host_rule_table: u32,
) -> Result<HostView> {
    let view = read_view_of(h, Some(host_rule_table)).await?;
    let pod_host_ips = pod_host_ips_in(h, &view, pod_ips).await?;
    Ok(HostView {
        pod_host_ips,
        links: view.links,
        rules: view.rules,
        routes: view.routes.into_iter().filter(|r| r.table == host_rule_table).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_host_links_follow_spiderpool_patterns() {
        for n in [
            "lo",
            "docker0",
            "cbr0",
            "dummy1",
            "virbr0",
            "lxcbr0",
            "veth12ab",
            "cali123",
            "flannel.1",
            "kube-ipvs0",
            "cni0",
            "vx-submariner",
            "cilium_host",
            "ciliu",
        ] {
            assert!(is_excluded_host_link(n), "{n}");
        }
        for n in ["eth0", "ens3", "bond0", "lo0", "loopback", "net1", "cil"] {
            assert!(!is_excluded_host_link(n), "{n}");
        }
    }

    #[test]
    fn link_local_and_multicast_are_skipped() {
        for ip in ["169.254.1.1", "224.0.0.1", "fe80::1", "ff02::1", "0.0.0.0"] {
            assert!(skipped_ip(&ip.parse().unwrap()), "{ip}");
        }
        assert!(!skipped_ip(&"10.6.0.1".parse().unwrap()));
        assert!(!skipped_ip(&"fd00::1".parse().unwrap()));
    }
}
