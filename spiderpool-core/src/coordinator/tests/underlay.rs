//! Underlay examples: reference §5.6 (a), (b), (g), a third NIC, dual stack
//! and IPv6 only.

use super::*;
use crate::coordinator::mac::{host_veth_name, veth_mac};
use crate::coordinator::plan::{Action, Item, MarkOp, ResolvedMode, Side};
use crate::coordinator::{PlanError, gateway_reachable};

/// A pod whose `eth0` is a macvlan NIC with 172.100.0.210/16.
fn single_nic_pod(ip4: &str) -> NetnsView {
    NetnsView {
        links: vec![lo(), link(2, "eth0", "02:00:00:00:00:02")],
        addresses: vec![a("eth0", &format!("{ip4}/16"))],
        routes: vec![
            r("default via 172.100.0.1 dev eth0"),
            r(&format!("172.100.0.0/16 dev eth0 proto kernel scope link src {ip4}")),
        ],
        rules: default_rules(V4),
    }
}

fn node(ips: &[&str]) -> HostView {
    HostView { pod_host_ips: ips.iter().map(|s| ip(s)).collect(), ..HostView::default() }
}

fn underlay_cfg() -> EffectiveConfig {
    EffectiveConfig {
        hijack_cidr: vec![net("169.254.0.0/16")],
        policy_routes: vec![policy("10.10.0.0/16", "172.100.0.1")],
        ..cfg(ModeSetting::Auto)
    }
}

#[test]
fn example_a_underlay_single_nic_with_policy_route_in_main() {
    let inp =
        input(underlay_cfg(), "eth0", single_nic_pod("172.100.0.210"), node(&["172.100.0.2"]));
    let (plan, pod, host) = run(&inp);
    assert_eq!(plan.mode, ResolvedMode::Underlay);
    assert!(plan.first_invoke);
    assert_eq!(plan.table, 101);
    assert_eq!(
        rules4(&pod),
        [
            "0:\tfrom all lookup local",
            "1000:\tfrom all fwmark 0x1 lookup 100",
            "32766:\tfrom all lookup main",
            "32767:\tfrom all lookup default",
        ]
    );
    // Code behaviour (reference §11.2): the single-NIC policy route is in main.
    assert_eq!(
        main4(&pod),
        [
            "default via 172.100.0.1 dev eth0",
            "10.10.0.0/16 via 172.100.0.1 dev eth0",
            "10.233.0.0/18 via 172.100.0.2 dev veth0 src 172.100.0.210",
            "10.233.64.0/18 via 172.100.0.2 dev veth0 src 172.100.0.210",
            "169.254.0.0/16 via 172.100.0.2 dev veth0 src 172.100.0.210",
            "172.100.0.0/16 dev eth0 proto kernel scope link src 172.100.0.210",
            "172.100.0.2 dev veth0 scope link src 172.100.0.210",
        ]
    );
    assert_eq!(table4(&pod, 100), ["default via 172.100.0.2 dev veth0 src 172.100.0.210"]);
    assert_eq!(table4(&pod, 101), ["172.100.0.2 dev veth0 scope link src 172.100.0.210"]);
    let hv = host_veth_name(CID);
    assert_eq!(hv, "veth0123456789a");
    assert_eq!(host_rules(&host, V4), ["1000:\tfrom all lookup 500"]);
    assert_eq!(host_table(&host, 500, V4), [format!("172.100.0.210 dev {hv} scope link")]);
    // The veth pair: deterministic MACs, MTU, both ends, pod end up.
    let veth0 = pod.link("veth0").unwrap();
    assert_eq!(veth0.mac.as_deref(), Some(veth_mac(CID, Side::Pod).as_str()));
    assert!(veth0.flags.up);
    assert_eq!(veth0.mtu, Some(1500));
    let peer = host.links.iter().find(|l| l.name == hv).unwrap();
    assert_eq!(peer.mac.as_deref(), Some(veth_mac(CID, Side::Host).as_str()));
    assert_eq!(veth0.peer_index, Some(peer.index));
    // Neighbours both ways, the reply mark, sysctls.
    let neigh: Vec<_> = plan
        .ops
        .iter()
        .filter_map(|o| match &o.item {
            Item::Neigh(n) => {
                Some((o.side, n.dev.clone(), n.dst, n.lladdr.clone().unwrap(), n.permanent))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        neigh,
        [
            (Side::Host, hv.clone(), ip("172.100.0.210"), veth_mac(CID, Side::Pod), true),
            (Side::Pod, "veth0".to_owned(), ip("172.100.0.2"), veth_mac(CID, Side::Host), true),
        ]
    );
    assert!(
        plan.ops.iter().any(|o| o.side == Side::Pod
            && o.item == Item::Mark(MarkOp { iif: "veth0".into(), fwmark: 1 }))
    );
    let sysctls: Vec<_> = plan
        .ops
        .iter()
        .filter_map(|o| match &o.item {
            Item::Sysctl(s) => Some(format!("{}={}", s.key, s.value)),
            _ => None,
        })
        .collect();
    assert_eq!(sysctls, ["net.ipv4.conf.all.rp_filter=0"], "v4 only: no disable_ipv6");
}

#[test]
fn example_g_host_side_and_link_address() {
    let mut c = cfg(ModeSetting::Underlay);
    c.veth_link_address = Some(ip("169.254.100.1"));
    c.veth_mtu = 1450;
    c.host_rule_table = 600;
    let mut pod = single_nic_pod("172.17.1.100");
    pod.routes = vec![r("172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.1.100")];
    let mut host = node(&["172.17.1.1"]);
    // A stale route to the pod IP through another link is replaced.
    host.routes = vec![r("172.17.1.100 dev vethold scope link table 600")];
    let (plan, pod, host) = run(&input(c, "eth0", pod, host));
    let hv = host_veth_name(CID);
    assert_eq!(host_rules(&host, V4), ["1000:\tfrom all lookup 600"]);
    assert_eq!(host_table(&host, 600, V4), [format!("172.17.1.100 dev {hv} scope link")]);
    assert!(main4(&pod).contains(&"172.17.1.1 dev veth0 scope link src 172.17.1.100".to_owned()));
    assert_eq!(
        pod.addresses_of("veth0").map(ToString::to_string).collect::<Vec<_>>(),
        ["169.254.100.1/32"]
    );
    assert_eq!(pod.link("veth0").unwrap().mtu, Some(1450));
    assert!(plan.ops.iter().any(|o| o.action == Action::Del && o.side == Side::Host));
}

/// The state after eth0's ADD, with net1 (172.200.0.201/16) added by macvlan.
fn two_nic_pod() -> (NetnsView, HostView) {
    let (_, mut pod, host) = run(&input(
        underlay_cfg(),
        "eth0",
        single_nic_pod("172.100.0.211"),
        node(&["172.100.0.2"]),
    ));
    pod.links.push(link(10, "net1", "02:00:00:00:01:01"));
    pod.addresses.push(a("net1", "172.200.0.201/16"));
    pod.routes.push(r("default via 172.200.0.1 dev net1"));
    pod.routes.push(r("172.200.0.0/16 dev net1 proto kernel scope link src 172.200.0.201"));
    (pod, host)
}

#[test]
fn example_b_underlay_two_nics() {
    let (pod, host) = two_nic_pod();
    let mut c = underlay_cfg();
    c.policy_routes = vec![policy("10.20.0.0/16", "172.200.0.1")];
    let (plan, pod, host) = run(&input(c, "net1", pod, host));
    assert_eq!((plan.mode, plan.first_invoke, plan.table), (ResolvedMode::Underlay, false, 101));
    assert_eq!(
        rules4(&pod),
        [
            "0:\tfrom all lookup local",
            "999:\tfrom 172.200.0.201 lookup 101",
            "1000:\tfrom all fwmark 0x1 lookup 100",
            "32766:\tfrom all lookup main",
            "32767:\tfrom all lookup default",
        ]
    );
    assert_eq!(
        main4(&pod),
        [
            "default via 172.100.0.1 dev eth0",
            "10.10.0.0/16 via 172.100.0.1 dev eth0",
            "10.233.0.0/18 via 172.100.0.2 dev veth0 src 172.100.0.211",
            "10.233.64.0/18 via 172.100.0.2 dev veth0 src 172.100.0.211",
            "169.254.0.0/16 via 172.100.0.2 dev veth0 src 172.100.0.211",
            "172.100.0.0/16 dev eth0 proto kernel scope link src 172.100.0.211",
            "172.100.0.2 dev veth0 scope link src 172.100.0.211",
            "172.200.0.0/16 dev net1 proto kernel scope link src 172.200.0.201",
        ]
    );
    // Code behaviour (reference §11.2): host and hijack routes in the NIC table too.
    assert_eq!(
        table4(&pod, 101),
        [
            "default via 172.200.0.1 dev net1",
            "10.20.0.0/16 via 172.200.0.1 dev net1",
            "10.233.0.0/18 via 172.100.0.2 dev veth0 src 172.100.0.211",
            "10.233.64.0/18 via 172.100.0.2 dev veth0 src 172.100.0.211",
            "169.254.0.0/16 via 172.100.0.2 dev veth0 src 172.100.0.211",
            "172.100.0.2 dev veth0 scope link src 172.100.0.211",
            "172.200.0.0/16 dev net1 scope link src 172.200.0.201",
        ]
    );
    let hv = host_veth_name(CID);
    assert_eq!(
        host_table(&host, 500, V4),
        [
            format!("172.100.0.211 dev {hv} scope link"),
            format!("172.200.0.201 dev {hv} scope link"),
        ]
    );
}

#[test]
fn third_underlay_nic_gets_table_102() {
    let (pod, host) = two_nic_pod();
    let (_, mut pod, host) = run(&input(cfg(ModeSetting::Auto), "net1", pod, host));
    pod.links.push(link(11, "net2", "02:00:00:00:02:01"));
    pod.addresses.push(a("net2", "172.201.0.5/24"));
    pod.routes.push(r("172.201.0.0/24 dev net2 proto kernel scope link src 172.201.0.5"));
    let (plan, pod, _) = run(&input(cfg(ModeSetting::Auto), "net2", pod, host));
    assert_eq!((plan.mode, plan.table), (ResolvedMode::Underlay, 102));
    assert!(rules4(&pod).contains(&"998:\tfrom 172.201.0.5 lookup 102".to_owned()));
    assert!(
        table4(&pod, 102)
            .contains(&"172.201.0.0/24 dev net2 scope link src 172.201.0.5".to_owned())
    );
}

#[test]
fn underlay_sanity_errors() {
    let mut pod = single_nic_pod("172.100.0.210");
    pod.links.push(link(3, "net1", "02:00:00:00:01:01"));
    pod.addresses.push(a("net1", "10.1.0.2/24"));
    let err =
        plan_add(&input(cfg(ModeSetting::Underlay), "net1", pod.clone(), node(&[]))).unwrap_err();
    assert_eq!(
        err,
        PlanError::UnderlayWithoutVeth0 { ifname: "net1".into(), first: "eth0".into() }
    );
    let err = plan_add(&input(cfg(ModeSetting::Auto), "net9", pod.clone(), node(&[]))).unwrap_err();
    assert_eq!(err, PlanError::NicNotFound { ifname: "net9".into() });
    pod.addresses.retain(|x| x.dev != "eth0");
    pod.addresses.push(a("eth0", "169.254.3.3/16"));
    let err = plan_add(&input(cfg(ModeSetting::Auto), "eth0", pod, node(&[]))).unwrap_err();
    assert_eq!(err, PlanError::NoAddress { ifname: "eth0".into() });
    let mut c = underlay_cfg();
    c.policy_routes = vec![policy("10.10.0.0/16", "192.168.9.1")];
    let err = plan_add(&input(c, "eth0", single_nic_pod("172.100.0.210"), node(&["172.100.0.2"])))
        .unwrap_err();
    assert!(matches!(err, PlanError::PolicyRouteGatewayUnreachable { .. }), "{err}");
}

fn dual_pod() -> NetnsView {
    let mut pod = single_nic_pod("172.100.0.210");
    pod.addresses.push(a("eth0", "fd00:100::210/64"));
    pod.addresses.push(a("eth0", "fe80::1:2/64"));
    pod.routes.push(r("fd00:100::/64 dev eth0 proto kernel scope link"));
    pod.routes.push(r("fe80::/64 dev eth0 proto kernel scope link"));
    pod.routes.push(r("default via fd00:100::1 dev eth0"));
    pod.rules.extend(default_rules(V6));
    pod
}

#[test]
fn dual_stack_underlay_first_nic() {
    let mut c = underlay_cfg();
    c.service_cidr.push(net("fd00:233::/112"));
    c.pod_mac_prefix = Some(crate::coordinator::MacPrefix([0x0a, 0x1b]));
    let (plan, pod, host) =
        run(&input(c, "eth0", dual_pod(), node(&["172.100.0.2", "fd00:100::2", "172.100.0.2"])));
    assert_eq!(route_lines(&pod, 100, V6), ["default via fd00:100::2 dev veth0"]);
    assert!(
        route_lines(&pod, 254, V6).contains(&"fd00:233::/112 via fd00:100::2 dev veth0".to_owned())
    );
    assert!(route_lines(&pod, 254, V6).contains(&"fd00:100::2 dev veth0 scope link".to_owned()));
    assert_eq!(rule_lines(&pod.rules, V6)[1], "1000:\tfrom all fwmark 0x1 lookup 100");
    assert_eq!(host_rules(&host, V6), ["1000:\tfrom all lookup 500"]);
    assert_eq!(
        host_table(&host, 500, V6),
        [format!("fd00:100::210 dev {} scope link", host_veth_name(CID))]
    );
    // MAC prefix + the first address; all addresses announced; IPv6 enabled.
    let mac = plan
        .ops
        .iter()
        .find_map(|o| match &o.item {
            Item::Mac(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(mac.address, "0a:1b:ac:64:00:d2");
    assert_eq!(mac.announce, [ip("172.100.0.210"), ip("fd00:100::210")]);
    assert!(
        plan.ops.iter().any(
            |o| matches!(&o.item, Item::Sysctl(s) if s.key == "net.ipv6.conf.all.disable_ipv6")
        )
    );
    // Two host IPs of the same family were given once: one neighbour each.
    let pod_neigh =
        plan.ops.iter().filter(|o| o.side == Side::Pod && matches!(o.item, Item::Neigh(_))).count();
    assert_eq!(pod_neigh, 2);
}

#[test]
fn ipv6_only_underlay_has_no_link_address_and_no_v4_src() {
    let mut pod = dual_pod();
    pod.addresses.retain(|x| x.address.addr().is_ipv6());
    pod.routes.retain(|x| x.dst.addr().is_ipv6());
    let mut c = underlay_cfg();
    c.veth_link_address = Some(ip("169.254.100.1"));
    c.policy_routes = vec![policy("fd00:10::/64", "fd00:100::1")];
    let (plan, pod, _) = run(&input(c, "eth0", pod, node(&["172.100.0.2", "fd00:100::2"])));
    assert_eq!(pod.addresses_of("veth0").count(), 0);
    assert!(main4(&pod).is_empty(), "no IPv4 routes: {:?}", main4(&pod));
    assert_eq!(
        route_lines(&pod, 254, V6),
        [
            "default via fd00:100::1 dev eth0",
            "fd00:10::/64 via fd00:100::1 dev eth0",
            "fd00:100::/64 dev eth0 proto kernel scope link",
            "fd00:100::2 dev veth0 scope link",
            "fe80::/64 dev eth0 proto kernel scope link",
        ]
    );
    assert!(gateway_reachable(&pod, "veth0", &ip("fd00:100::2")));
    assert_eq!(plan.table, 101);
}
