//! The ADD plan (reference §5.3): [`plan_add`] runs the named steps below in
//! Spiderpool's order over one [`Builder`], so each step sees the effect of
//! the ones before it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::build::{Builder, Families, PlanInput, is_link_local, nic_addresses};
use super::config::EffectiveConfig;
use super::error::PlanError;
use super::mac::{POD_VETH, prefixed_mac};
use super::mode::{Resolution, TABLE_REPLY, resolve};
use super::plan::{
    Action, Item, LinkOp, MacOp, MarkOp, NeighOp, ResolvedMode, RoutePlan, Side, SysctlOp,
};
use super::route::{Route, Rule, Scope};
use super::simulate::host_net;
use super::tune::tune_routes;
use super::veth::{Veth, setup_veth};
use super::view::{NetnsView, TABLE_MAIN};
use crate::ip::{IpFamily, family_of_cidr};

/// Priority of the host's `from all lookup <hostRuleTable>` rule and of the
/// pod's `fwmark 0x1 lookup 100` rule.
pub const RULE_PRIORITY: u32 = 1000;
/// The packet mark of connections that entered through `veth0`.
pub const REPLY_MARK: u32 = 0x1;

/// Plans an ADD (reference §5.3). Pure: the same input always gives the same
/// plan. A `disable`d mode gives an empty plan.
pub fn plan_add(input: &PlanInput) -> Result<RoutePlan, PlanError> {
    let res = resolve(&input.config, &input.ifname, &input.pod)?;
    let mut plan = RoutePlan {
        mode: res.mode,
        first_invoke: res.first_invoke,
        table: res.table,
        ops: Vec::new(),
    };
    if res.mode == ResolvedMode::Disabled {
        return Ok(plan);
    }
    let run = Run::new(input, res)?;
    let mut b = Builder::new(input);
    bring_nic_up(&mut b, &run);
    let veth = setup_veth(&mut b, input, &run.res, run.fam)?;
    configure_nic(&mut b, &run);
    add_neighbours(&mut b, &run, &veth);
    let src4 = route_source(&b.pod, run.cfg);
    add_host_routes_in_pod(&mut b, &run, &veth, src4);
    add_host_rules(&mut b, &run);
    add_pod_routes_on_host(&mut b, &run, &veth);
    add_hijack_routes(&mut b, &run, &veth, src4);
    if run.res.mode == ResolvedMode::Underlay && run.res.first_invoke {
        add_reply_via_veth(&mut b, &run, src4);
    }
    if run.cfg.tune_pod_routes && (!run.res.first_invoke || run.res.mode == ResolvedMode::Overlay) {
        tune_routes(&mut b, run.cfg, &run.res, run.ifname, run.fam, &veth.pod_name)?;
    }
    add_policy_routes(&mut b, &run)?;
    plan.ops = b.ops;
    Ok(plan)
}

/// What every step of one ADD reads: the input, the resolved mode, the
/// current NIC's addresses and families, and the host IPs to route to.
pub(super) struct Run<'a> {
    pub input: &'a PlanInput,
    pub cfg: &'a EffectiveConfig,
    pub res: Resolution,
    pub ifname: &'a str,
    /// The current NIC's non-link-local addresses, view order.
    pub addrs: Vec<IpNet>,
    /// Their families.
    pub fam: Families,
    /// The pod host IPs of the run's families, de-duplicated.
    pub host_ips: Vec<IpAddr>,
}

impl<'a> Run<'a> {
    /// Fails when the current NIC has no address to tell the family by.
    pub(super) fn new(input: &'a PlanInput, res: Resolution) -> Result<Run<'a>, PlanError> {
        let addrs = nic_addresses(&input.pod, &input.ifname, None);
        let fam = Families::of(&addrs);
        if !fam.v4 && !fam.v6 {
            return Err(PlanError::NoAddress { ifname: input.ifname.clone() });
        }
        let mut host_ips: Vec<IpAddr> = Vec::new();
        for ip in &input.host.pod_host_ips {
            if fam.has(IpFamily::of(ip)) && !host_ips.contains(ip) {
                host_ips.push(*ip);
            }
        }
        Ok(Run { input, cfg: &input.config, res, ifname: &input.ifname, addrs, fam, host_ips })
    }

    /// The first host IP of `family`.
    fn host_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.host_ips.iter().copied().find(|ip| IpFamily::of(ip) == family)
    }
}

/// Step 1: the current NIC up, when it is down.
pub(super) fn bring_nic_up(b: &mut Builder, run: &Run<'_>) {
    if b.pod.link(run.ifname).is_some_and(|l| !l.flags.up) {
        let up = LinkOp { ifname: run.ifname.to_owned(), up: Some(true), ..LinkOp::default() };
        b.push(Side::Pod, Action::Set, Item::Link(up));
    }
}

/// Steps 5–8 on the current NIC and the pod: the `podMACPrefix` MAC
/// (announced), `txqueuelen` inside the pod (DESIGN §5.4), IPv6 on when the
/// NIC has IPv6, `rp_filter`.
pub(super) fn configure_nic(b: &mut Builder, run: &Run<'_>) {
    let cfg = run.cfg;
    let ifname = run.ifname.to_owned();
    if let Some(prefix) = cfg.pod_mac_prefix
        && let Some(first) = run.addrs.first()
    {
        let address = prefixed_mac(prefix, first.addr());
        let announce = run.addrs.iter().map(IpNet::addr).collect();
        b.push(Side::Pod, Action::Set, Item::Mac(MacOp { dev: ifname.clone(), address, announce }));
    }
    if cfg.tx_queue_len > 0 {
        let txq = LinkOp { ifname, txqlen: Some(cfg.tx_queue_len), ..LinkOp::default() };
        b.push(Side::Pod, Action::Set, Item::Link(txq));
    }
    if run.fam.v6 {
        b.push(Side::Pod, Action::Set, sysctl("net.ipv6.conf.all.disable_ipv6", "0".to_owned()));
    }
    if cfg.pod_rp_filter >= 0 {
        let value = cfg.pod_rp_filter.to_string();
        b.push(Side::Pod, Action::Set, sysctl("net.ipv4.conf.all.rp_filter", value));
    }
}

fn sysctl(key: &str, value: String) -> Item {
    Item::Sysctl(SysctlOp { key: key.to_owned(), value })
}

/// Step 9: permanent neighbours, the NIC's addresses on the host end; on
/// the first invoke, the host IPs on the pod end.
pub(super) fn add_neighbours(b: &mut Builder, run: &Run<'_>, veth: &Veth) {
    let neigh = |dev: &str, dst: IpAddr, mac: &str| {
        Item::Neigh(NeighOp {
            dev: dev.to_owned(),
            dst,
            lladdr: Some(mac.to_owned()),
            permanent: true,
        })
    };
    for a in &run.addrs {
        b.push(Side::Host, Action::Add, neigh(&veth.host_name, a.addr(), &veth.pod_mac));
    }
    if run.res.first_invoke {
        for ip in &run.host_ips {
            b.push(Side::Pod, Action::Add, neigh(&veth.pod_name, *ip, &veth.host_mac));
        }
    }
}

/// Step 10: the source of host and hijack routes, the first IPv4 address of
/// the first NIC (`podDefaultCniNic`).
pub(super) fn route_source(pod: &NetnsView, cfg: &EffectiveConfig) -> Option<IpAddr> {
    nic_addresses(pod, &cfg.pod_default_cni_nic, None).iter().map(IpNet::addr).find(IpAddr::is_ipv4)
}

/// `src4` for an IPv4 destination, none for IPv6.
fn source_for(ip: &IpAddr, src4: Option<IpAddr>) -> Option<IpAddr> {
    if ip.is_ipv4() { src4 } else { None }
}

/// Step 11a: a link route to each host IP through the pod end, in the NIC's
/// table and, on the first invoke, in `main`.
pub(super) fn add_host_routes_in_pod(
    b: &mut Builder,
    run: &Run<'_>,
    veth: &Veth,
    src4: Option<IpAddr>,
) {
    let mut tables = vec![run.res.table];
    if run.res.first_invoke {
        tables.push(TABLE_MAIN);
    }
    for ip in &run.host_ips {
        for table in &tables {
            let route = Route {
                table: *table,
                dst: host_net(*ip),
                dev: Some(veth.pod_name.clone()),
                scope: Scope::Link,
                prefsrc: source_for(ip, src4),
                ..Route::default()
            };
            b.route(Side::Pod, Action::Add, route);
        }
    }
}

/// Step 11b: `from all lookup <hostRuleTable>` on the host, per family of
/// the run, unless the host had it.
pub(super) fn add_host_rules(b: &mut Builder, run: &Run<'_>) {
    let hrt = run.cfg.host_rule_table;
    for family in run.fam.list() {
        let wanted = Rule::lookup(family, hrt);
        let present = run.input.host.rules.iter().any(|r| {
            r.family == family
                && r.table == hrt
                && r.src.is_none()
                && r.dst.is_none()
                && r.fwmark.is_none()
        });
        if !present {
            b.rule(Side::Host, Action::Add, Rule { priority: Some(RULE_PRIORITY), ..wanted });
        }
    }
}

/// Step 11c: in the host rule table, each NIC address as a link route
/// through the host end, replacing the host's stale routes to it (another
/// device, or via a gateway).
pub(super) fn add_pod_routes_on_host(b: &mut Builder, run: &Run<'_>, veth: &Veth) {
    let hrt = run.cfg.host_rule_table;
    for a in &run.addrs {
        let dst = host_net(a.addr());
        let stale: Vec<Route> = run
            .input
            .host
            .routes
            .iter()
            .filter(|r| r.table == hrt && r.dst == dst)
            .filter(|r| r.dev.as_deref() != Some(veth.host_name.as_str()) || r.gateway.is_some())
            .cloned()
            .collect();
        for r in stale {
            let del = Route {
                table: hrt,
                dst,
                gateway: r.gateway,
                dev: r.dev,
                scope: r.scope,
                ..Route::default()
            };
            b.route(Side::Host, Action::Del, del);
        }
        let route = Route {
            table: hrt,
            dst,
            dev: Some(veth.host_name.clone()),
            scope: Scope::Link,
            ..Route::default()
        };
        b.route(Side::Host, Action::Add, route);
    }
}

/// Step 12: the hijacked CIDRs (`overlayPodCIDR ∪ serviceCIDR ∪ hijackCIDR`)
/// via the host IP of their family through the pod end, in `main` on the
/// first invoke, else in the NIC's table.
pub(super) fn add_hijack_routes(b: &mut Builder, run: &Run<'_>, veth: &Veth, src4: Option<IpAddr>) {
    let table = if run.res.first_invoke { TABLE_MAIN } else { run.res.table };
    for net in run.cfg.hijack_routes() {
        let Some(gw) = run.host_ip(family_of_cidr(&net)) else { continue };
        let route = Route {
            table,
            dst: net,
            gateway: Some(gw),
            dev: Some(veth.pod_name.clone()),
            scope: Scope::Global,
            prefsrc: source_for(&gw, src4),
            ..Route::default()
        };
        b.route(Side::Pod, Action::Add, route);
    }
}

/// Step 13 (underlay, first invoke): replies to connections that came in by
/// `veth0` leave by `veth0`: the packet mark, and per family with a host IP
/// `fwmark 0x1 lookup 100` and a default route via the host in table 100.
pub(super) fn add_reply_via_veth(b: &mut Builder, run: &Run<'_>, src4: Option<IpAddr>) {
    let mark = MarkOp { iif: POD_VETH.to_owned(), fwmark: REPLY_MARK };
    b.push(Side::Pod, Action::Add, Item::Mark(mark));
    for family in run.fam.list() {
        let Some(gw) = run.host_ip(family) else { continue };
        let rule = Rule {
            priority: Some(RULE_PRIORITY),
            fwmark: Some(REPLY_MARK),
            ..Rule::lookup(family, TABLE_REPLY)
        };
        b.rule(Side::Pod, Action::Add, rule);
        let route = Route {
            table: TABLE_REPLY,
            dst: default_net(family),
            gateway: Some(gw),
            dev: Some(POD_VETH.to_owned()),
            scope: Scope::Global,
            prefsrc: source_for(&gw, src4),
            ..Route::default()
        };
        b.route(Side::Pod, Action::Add, route);
    }
}

/// Step 15: the static `policyRoutes` of the run's families through the
/// current NIC (in `main` on an underlay first invoke, else in the NIC's
/// table). A gateway the NIC cannot reach is an error.
pub(super) fn add_policy_routes(b: &mut Builder, run: &Run<'_>) -> Result<(), PlanError> {
    let underlay_first = run.res.mode == ResolvedMode::Underlay && run.res.first_invoke;
    let table = if underlay_first { TABLE_MAIN } else { run.res.table };
    for pr in &run.cfg.policy_routes {
        if !run.fam.has(family_of_cidr(&pr.dst)) {
            continue;
        }
        if !gateway_reachable(&b.pod, run.ifname, &pr.gw) {
            return Err(PlanError::PolicyRouteGatewayUnreachable {
                dst: pr.dst,
                gw: pr.gw,
                dev: run.ifname.to_owned(),
            });
        }
        let route = Route {
            table,
            dst: pr.dst,
            gateway: Some(pr.gw),
            dev: Some(run.ifname.to_owned()),
            scope: Scope::Global,
            ..Route::default()
        };
        b.route(Side::Pod, Action::Add, route);
    }
    Ok(())
}

/// `0.0.0.0/0` or `::/0`.
pub(crate) fn default_net(family: IpFamily) -> IpNet {
    match family {
        IpFamily::V4 => IpNet::V4(ipnet::Ipv4Net::default()),
        IpFamily::V6 => IpNet::V6(ipnet::Ipv6Net::default()),
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
