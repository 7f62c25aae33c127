//! The ADD plan (reference §5.3), step by step in Spiderpool's order.

use std::net::IpAddr;

use ipnet::IpNet;

use super::config::EffectiveConfig;
use super::error::PlanError;
use super::mac::{POD_VETH, host_veth_name, prefixed_mac, veth_mac};
use super::mode::{Resolution, TABLE_REPLY, resolve};
use super::owner::{host_veth_conflict, veth_alias};
use super::plan::{
    Action, AddrOp, Item, LinkOp, MacOp, MarkOp, NeighOp, Op, ResolvedMode, RouteOp, RoutePlan,
    RuleOp, Side, SysctlOp,
};
use super::simulate::{apply_op, family_of, host_net, net_family};
use super::tune::tune_routes;
use super::view::{HostView, NetnsView, Scope, TABLE_MAIN};

/// Priority of the host's `from all lookup <hostRuleTable>` rule and of the
/// pod's `fwmark 0x1 lookup 100` rule.
pub const RULE_PRIORITY: u32 = 1000;
/// The packet mark of connections that entered through `veth0`.
pub const REPLY_MARK: u32 = 0x1;

/// Everything one ADD (or DEL) plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    /// The merged configuration.
    pub config: EffectiveConfig,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`: the NIC the previous plugin just set up.
    pub ifname: String,
    /// What the pod's netns holds now.
    pub pod: NetnsView,
    /// What the planner needs from the host netns.
    pub host: HostView,
}

/// The IP families of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    pub(crate) fn has(self, family: u8) -> bool {
        (family == 4 && self.v4) || (family == 6 && self.v6)
    }

    pub(crate) fn list(self) -> Vec<u8> {
        [(4, self.v4), (6, self.v6)].into_iter().filter(|(_, on)| *on).map(|(f, _)| f).collect()
    }
}

/// Link-local addresses (169.254.0.0/16, fe80::/10) do not count.
pub(crate) fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The non-link-local addresses of `dev` in the run's families, view order.
pub(crate) fn nic_addresses(pod: &NetnsView, dev: &str, fam: Option<Families>) -> Vec<IpNet> {
    pod.addresses_of(dev)
        .filter(|a| !is_link_local(&a.addr()))
        .filter(|a| fam.is_none_or(|f| f.has(net_family(a))))
        .copied()
        .collect()
}

/// Ops plus the views they produce, so later steps see earlier ones.
pub(crate) struct Builder {
    pub ops: Vec<Op>,
    pub pod: NetnsView,
    pub host: HostView,
}

impl Builder {
    pub(crate) fn push(&mut self, side: Side, action: Action, item: Item) {
        let op = Op { side, action, item };
        apply_op(&mut self.pod, &mut self.host, &op);
        self.ops.push(op);
    }

    pub(crate) fn route(&mut self, side: Side, action: Action, r: RouteOp) {
        self.push(side, action, Item::Route(r));
    }

    pub(crate) fn rule(&mut self, side: Side, action: Action, r: RuleOp) {
        self.push(side, action, Item::Rule(r));
    }
}

/// Plans an ADD (reference §5.3). Pure: the same input always gives the same
/// plan. A `disable`d mode gives an empty plan.
pub fn plan_add(input: &PlanInput) -> Result<RoutePlan, PlanError> {
    let cfg = &input.config;
    let ifname = input.ifname.as_str();
    let res = resolve(cfg, ifname, &input.pod)?;
    let mut plan = RoutePlan {
        mode: res.mode,
        first_invoke: res.first_invoke,
        table: res.table,
        ops: Vec::new(),
    };
    if res.mode == ResolvedMode::Disabled {
        return Ok(plan);
    }
    let cur_addrs = nic_addresses(&input.pod, ifname, None);
    let fam = Families {
        v4: cur_addrs.iter().any(|a| a.addr().is_ipv4()),
        v6: cur_addrs.iter().any(|a| a.addr().is_ipv6()),
    };
    if !fam.v4 && !fam.v6 {
        return Err(PlanError::NoAddress { ifname: ifname.to_owned() });
    }
    let mut b = Builder { ops: Vec::new(), pod: input.pod.clone(), host: input.host.clone() };

    // 1. The current NIC up.
    if input.pod.link(ifname).is_some_and(|l| !l.flags.up) {
        b.push(
            Side::Pod,
            Action::Set,
            Item::Link(LinkOp { ifname: ifname.to_owned(), up: Some(true), ..LinkOp::default() }),
        );
    }

    // 2. Host IPs of the run's families, de-duplicated.
    let mut host_ips: Vec<IpAddr> = Vec::new();
    for ip in &input.host.pod_host_ips {
        if fam.has(family_of(ip)) && !host_ips.contains(ip) {
            host_ips.push(*ip);
        }
    }

    // 3. The veth pair (underlay) or the overlay eth0 and its host peer.
    let veth = setup_veth(&mut b, input, &res, fam)?;

    // 5. MAC prefix.
    if let Some(prefix) = cfg.pod_mac_prefix
        && let Some(first) = cur_addrs.first()
    {
        b.push(
            Side::Pod,
            Action::Set,
            Item::Mac(MacOp {
                dev: ifname.to_owned(),
                address: prefixed_mac(prefix, first.addr()),
                announce: cur_addrs.iter().map(IpNet::addr).collect(),
            }),
        );
    }
    // 6. txqueuelen, inside the pod (DESIGN §5.4).
    if cfg.tx_queue_len > 0 {
        b.push(
            Side::Pod,
            Action::Set,
            Item::Link(LinkOp {
                ifname: ifname.to_owned(),
                txqlen: Some(cfg.tx_queue_len),
                ..LinkOp::default()
            }),
        );
    }
    // 7. IPv6 on.
    if fam.v6 {
        b.push(
            Side::Pod,
            Action::Set,
            Item::Sysctl(SysctlOp {
                key: "net.ipv6.conf.all.disable_ipv6".to_owned(),
                value: "0".to_owned(),
            }),
        );
    }
    // 8. rp_filter.
    if cfg.pod_rp_filter >= 0 {
        b.push(
            Side::Pod,
            Action::Set,
            Item::Sysctl(SysctlOp {
                key: "net.ipv4.conf.all.rp_filter".to_owned(),
                value: cfg.pod_rp_filter.to_string(),
            }),
        );
    }
    // 9. Permanent neighbours: pod IPs on the host; host IPs in the pod.
    for a in &cur_addrs {
        b.push(
            Side::Host,
            Action::Add,
            Item::Neigh(NeighOp {
                dev: veth.host_name.clone(),
                dst: a.addr(),
                lladdr: Some(veth.pod_mac.clone()),
                permanent: true,
            }),
        );
    }
    if res.first_invoke {
        for ip in &host_ips {
            b.push(
                Side::Pod,
                Action::Add,
                Item::Neigh(NeighOp {
                    dev: veth.pod_name.clone(),
                    dst: *ip,
                    lladdr: Some(veth.host_mac.clone()),
                    permanent: true,
                }),
            );
        }
    }
    // 10. Source for host and hijack routes: first IPv4 of the first NIC.
    let src4 = nic_addresses(&b.pod, &cfg.pod_default_cni_nic, None)
        .iter()
        .map(IpNet::addr)
        .find(IpAddr::is_ipv4);
    let src_for = |ip: &IpAddr| if ip.is_ipv4() { src4 } else { None };

    // 11. Host routes in the pod, host rule and /32 routes on the host.
    let mut tables = vec![res.table];
    if res.first_invoke {
        tables.push(TABLE_MAIN);
    }
    for ip in &host_ips {
        for table in &tables {
            b.route(
                Side::Pod,
                Action::Add,
                RouteOp {
                    table: *table,
                    dst: host_net(*ip),
                    gateway: None,
                    dev: Some(veth.pod_name.clone()),
                    scope: Scope::Link,
                    prefsrc: src_for(ip),
                },
            );
        }
    }
    let hrt = cfg.host_rule_table;
    for family in fam.list() {
        let present = input.host.rules.iter().any(|r| {
            r.family == family
                && r.table == hrt
                && r.src.is_none()
                && r.dst.is_none()
                && r.fwmark.is_none()
        });
        if !present {
            b.rule(
                Side::Host,
                Action::Add,
                RuleOp {
                    family,
                    priority: Some(RULE_PRIORITY),
                    src: None,
                    dst: None,
                    fwmark: None,
                    fwmask: None,
                    table: hrt,
                },
            );
        }
    }
    for a in &cur_addrs {
        let dst = host_net(a.addr());
        let stale: Vec<_> = input
            .host
            .routes
            .iter()
            .filter(|r| r.table == hrt && r.dst == dst)
            .filter(|r| r.dev.as_deref() != Some(veth.host_name.as_str()) || r.gateway.is_some())
            .cloned()
            .collect();
        for r in stale {
            b.route(
                Side::Host,
                Action::Del,
                RouteOp {
                    table: hrt,
                    dst,
                    gateway: r.gateway,
                    dev: r.dev,
                    scope: r.scope,
                    prefsrc: None,
                },
            );
        }
        b.route(
            Side::Host,
            Action::Add,
            RouteOp {
                table: hrt,
                dst,
                gateway: None,
                dev: Some(veth.host_name.clone()),
                scope: Scope::Link,
                prefsrc: None,
            },
        );
    }

    // 12. Hijack routes via the node.
    let hijack_table = if res.first_invoke { TABLE_MAIN } else { res.table };
    for net in cfg.hijack_routes() {
        let family = net_family(&net);
        let Some(gw) = host_ips.iter().find(|ip| family_of(ip) == family) else { continue };
        b.route(
            Side::Pod,
            Action::Add,
            RouteOp {
                table: hijack_table,
                dst: net,
                gateway: Some(*gw),
                dev: Some(veth.pod_name.clone()),
                scope: Scope::Global,
                prefsrc: src_for(gw),
            },
        );
    }

    // 13. Underlay first invoke: replies to connections from veth0 leave by veth0.
    if res.mode == ResolvedMode::Underlay && res.first_invoke {
        b.push(
            Side::Pod,
            Action::Add,
            Item::Mark(MarkOp { iif: POD_VETH.to_owned(), fwmark: REPLY_MARK }),
        );
        for family in fam.list() {
            let Some(gw) = host_ips.iter().find(|ip| family_of(ip) == family) else { continue };
            b.rule(
                Side::Pod,
                Action::Add,
                RuleOp {
                    family,
                    priority: Some(RULE_PRIORITY),
                    src: None,
                    dst: None,
                    fwmark: Some(REPLY_MARK),
                    fwmask: None,
                    table: TABLE_REPLY,
                },
            );
            b.route(
                Side::Pod,
                Action::Add,
                RouteOp {
                    table: TABLE_REPLY,
                    dst: default_net(family),
                    gateway: Some(*gw),
                    dev: Some(POD_VETH.to_owned()),
                    scope: Scope::Global,
                    prefsrc: src_for(gw),
                },
            );
        }
    }

    // 14. Route tuning.
    if cfg.tune_pod_routes && (!res.first_invoke || res.mode == ResolvedMode::Overlay) {
        tune_routes(&mut b, cfg, &res, ifname, fam, &veth.pod_name)?;
    }

    // 15. Static policy routes.
    let policy_table =
        if res.mode == ResolvedMode::Underlay && res.first_invoke { TABLE_MAIN } else { res.table };
    for pr in &cfg.policy_routes {
        if !fam.has(net_family(&pr.dst)) {
            continue;
        }
        if !gateway_reachable(&b.pod, ifname, &pr.gw) {
            return Err(PlanError::PolicyRouteGatewayUnreachable {
                dst: pr.dst,
                gw: pr.gw,
                dev: ifname.to_owned(),
            });
        }
        b.route(
            Side::Pod,
            Action::Add,
            RouteOp {
                table: policy_table,
                dst: pr.dst,
                gateway: Some(pr.gw),
                dev: Some(ifname.to_owned()),
                scope: Scope::Global,
                prefsrc: None,
            },
        );
    }

    plan.ops = b.ops;
    Ok(plan)
}

/// `0.0.0.0/0` or `::/0`.
pub(crate) fn default_net(family: u8) -> IpNet {
    if family == 4 {
        IpNet::V4(ipnet::Ipv4Net::default())
    } else {
        IpNet::V6(ipnet::Ipv6Net::default())
    }
}

/// A gateway is reachable on `dev` when a route without gateway on `dev`
/// (connected or scope link, any table) covers it; IPv6 link-local gateways
/// always are.
pub fn gateway_reachable(view: &NetnsView, dev: &str, gw: &IpAddr) -> bool {
    if let IpAddr::V6(_) = gw
        && is_link_local(gw)
    {
        return true;
    }
    view.routes.iter().any(|r| {
        r.gateway.is_none()
            && r.nexthops.is_empty()
            && r.dev.as_deref() == Some(dev)
            && r.dst.contains(gw)
            && !r.is_default()
    })
}

/// The pod and host ends the plan wires up.
struct Veth {
    pod_name: String,
    pod_mac: String,
    host_name: String,
    host_mac: String,
}

fn setup_veth(
    b: &mut Builder,
    input: &PlanInput,
    res: &Resolution,
    fam: Families,
) -> Result<Veth, PlanError> {
    let cfg = &input.config;
    if res.mode == ResolvedMode::Underlay {
        if input.container_id.is_empty() {
            return Err(PlanError::EmptyContainerId);
        }
        let host_name = host_veth_name(&input.container_id);
        if res.first_invoke {
            if let Some(taken) = host_veth_conflict(&b.host, &b.pod, &input.container_id) {
                return Err(taken);
            }
            let creates = !b.host.links.iter().any(|l| l.name == host_name);
            let pod_mac = veth_mac(&input.container_id, Side::Pod);
            let host_mac = veth_mac(&input.container_id, Side::Host);
            b.push(
                Side::Pod,
                Action::Add,
                Item::Link(LinkOp {
                    ifname: POD_VETH.to_owned(),
                    kind: Some("veth".to_owned()),
                    peer: Some(host_name.clone()),
                    peer_address: Some(host_mac.clone()),
                    address: Some(pod_mac.clone()),
                    mtu: Some(cfg.veth_mtu),
                    txqlen: None,
                    up: Some(true),
                    alias: None,
                }),
            );
            // The ownership mark DEL checks (the kernel takes no alias in the
            // request that creates the pair; the MAC covers the gap).
            if creates {
                b.push(
                    Side::Host,
                    Action::Set,
                    Item::Link(LinkOp {
                        ifname: host_name.clone(),
                        alias: Some(veth_alias(&input.container_id)),
                        ..LinkOp::default()
                    }),
                );
            }
            if let Some(addr) = cfg.veth_link_address
                && fam.v4
            {
                b.push(
                    Side::Pod,
                    Action::Add,
                    Item::Addr(AddrOp { dev: POD_VETH.to_owned(), local: host_net(addr) }),
                );
            }
            // A veth0 that already exists keeps its MACs (re-planning).
            let pod_mac = b.pod.link(POD_VETH).and_then(|l| l.mac.clone()).unwrap_or(pod_mac);
            let host_mac = b
                .host
                .links
                .iter()
                .find(|l| l.name == host_name)
                .and_then(|l| l.mac.clone())
                .unwrap_or(host_mac);
            return Ok(Veth { pod_name: POD_VETH.to_owned(), pod_mac, host_name, host_mac });
        }
        let pod_mac = b
            .pod
            .link(POD_VETH)
            .and_then(|l| l.mac.clone())
            .ok_or_else(|| PlanError::NoMac { side: "pod", name: POD_VETH.to_owned() })?;
        let host = b.host.links.iter().find(|l| l.name == host_name).ok_or_else(|| {
            PlanError::HostVethNotFound { name: host_name.clone(), pod_side: POD_VETH.to_owned() }
        })?;
        let host_mac = host
            .mac
            .clone()
            .ok_or_else(|| PlanError::NoMac { side: "host", name: host_name.clone() })?;
        return Ok(Veth { pod_name: POD_VETH.to_owned(), pod_mac, host_name, host_mac });
    }
    let first = cfg.pod_default_cni_nic.clone();
    let eth0 = b.pod.link(&first).ok_or_else(|| PlanError::FirstNicNotFound {
        ifname: input.ifname.clone(),
        first: first.clone(),
    })?;
    let pod_mac =
        eth0.mac.clone().ok_or_else(|| PlanError::NoMac { side: "pod", name: first.clone() })?;
    let peer = eth0.peer_index.and_then(|i| b.host.links.iter().find(|l| l.index == i));
    let host = peer.ok_or_else(|| PlanError::HostVethNotFound {
        name: eth0
            .peer_index
            .map_or_else(|| "unknown (no peer index)".to_owned(), |i| format!("ifindex {i}")),
        pod_side: first.clone(),
    })?;
    let host_mac = host
        .mac
        .clone()
        .ok_or_else(|| PlanError::NoMac { side: "host", name: host.name.clone() })?;
    Ok(Veth { pod_name: first, pod_mac, host_name: host.name.clone(), host_mac })
}
