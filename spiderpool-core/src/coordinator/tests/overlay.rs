//! Overlay examples: reference §5.6 (d), (e), (f), second and third extra
//! NICs, dual stack, errors, and the DEL plan.

use super::*;
use crate::coordinator::plan::{Action, Item, LinkOp, Op, ResolvedMode, Side};
use crate::coordinator::route::Rule;
use crate::coordinator::{PlanError, plan_del};

/// Calico-style `eth0` (/32, default via 169.254.1.1) peered with host
/// `cali12345` (ifindex 7), plus macvlan `net1`.
fn calico_pod(eth0_ip: &str, net1: &str, prefix: &str, gw: &str) -> (NetnsView, HostView) {
    let mut eth0 = link(3, "eth0", "ee:ee:ee:ee:ee:01");
    eth0.peer_index = Some(7);
    let pod = NetnsView {
        links: vec![lo(), eth0, link(4, "net1", "02:00:00:00:01:01")],
        addresses: vec![
            a("eth0", &format!("{eth0_ip}/32")),
            a("net1", &format!("{net1}/{prefix}")),
        ],
        routes: vec![
            r("default via 169.254.1.1 dev eth0"),
            r("169.254.1.1 dev eth0 scope link"),
            r(&format!("{gw}/{prefix} dev net1 proto kernel scope link src {net1}")),
        ],
        rules: default_rules(V4),
    };
    let mut cali = link(7, "cali12345", "ee:ee:ee:ee:ee:ee");
    cali.peer_index = Some(3);
    (pod, HostView { links: vec![cali], ..HostView::default() })
}

/// Adds net1's default route (macvlan IPAM with a gateway).
fn with_net1_default(mut pod: NetnsView, gw: &str) -> NetnsView {
    pod.routes.push(r(&format!("default via {gw} dev net1")));
    pod
}

#[test]
fn example_d_overlay_default_route_stays_on_eth0() {
    let (pod, mut host) = calico_pod("10.233.73.210", "10.6.212.145", "16", "10.6.0.0");
    let pod = with_net1_default(pod, "10.6.0.1");
    host.pod_host_ips = vec![ip("10.6.212.132")];
    let (plan, pod, host) = run(&input(cfg(ModeSetting::Auto), "net1", pod, host));
    assert_eq!((plan.mode, plan.first_invoke, plan.table), (ResolvedMode::Overlay, true, 101));
    assert_eq!(
        rules4(&pod),
        [
            "0:\tfrom all lookup local",
            "32764:\tfrom 10.233.73.210 lookup 100",
            "32765:\tfrom 10.6.212.145 lookup 101",
            "32766:\tfrom all lookup main",
            "32767:\tfrom all lookup default",
        ]
    );
    assert_eq!(
        main4(&pod),
        [
            "default via 169.254.1.1 dev eth0",
            "10.6.0.0/16 dev net1 proto kernel scope link src 10.6.212.145",
            "10.6.212.132 dev eth0 scope link src 10.233.73.210",
            "10.233.0.0/18 via 10.6.212.132 dev eth0 src 10.233.73.210",
            "10.233.64.0/18 via 10.6.212.132 dev eth0 src 10.233.73.210",
            "169.254.1.1 dev eth0 scope link",
        ]
    );
    assert_eq!(table4(&pod, 100), ["default via 169.254.1.1 dev eth0"]);
    assert_eq!(
        table4(&pod, 101),
        [
            "default via 10.6.0.1 dev net1",
            "10.6.0.0/16 dev net1 scope link src 10.6.212.145",
            "10.6.212.132 dev eth0 scope link src 10.233.73.210",
        ]
    );
    assert_eq!(host_table(&host, 500, V4), ["10.6.212.145 dev cali12345 scope link"]);
    // No veth pair and no reply mark in overlay mode.
    assert!(pod.link("veth0").is_none());
    assert!(!plan.ops.iter().any(|o| matches!(o.item, Item::Mark(_))));
}

#[test]
fn example_e_default_route_nic_net1_moves_eth0_routes() {
    let (pod, mut host) = calico_pod("10.233.105.154", "10.6.212.227", "16", "10.6.0.0");
    let pod = with_net1_default(pod, "10.6.0.1");
    host.pod_host_ips = vec![ip("10.6.212.102")];
    let mut c = cfg(ModeSetting::Overlay);
    c.pod_default_route_nic = Some("net1".into());
    let (_, pod, _) = run(&input(c, "net1", pod, host));
    assert_eq!(rules4(&pod)[1], "32765:\tfrom 10.233.105.154 lookup 101");
    assert_eq!(rules4(&pod).len(), 4, "no table 100 in case B");
    assert_eq!(
        main4(&pod),
        [
            "default via 10.6.0.1 dev net1",
            "10.6.0.0/16 dev net1 proto kernel scope link src 10.6.212.227",
            "10.6.212.102 dev eth0 scope link src 10.233.105.154",
            "10.233.0.0/18 via 10.6.212.102 dev eth0 src 10.233.105.154",
            "10.233.64.0/18 via 10.6.212.102 dev eth0 src 10.233.105.154",
            "169.254.1.1 dev eth0 scope link",
        ]
    );
    assert_eq!(
        table4(&pod, 101),
        [
            "default via 169.254.1.1 dev eth0",
            "10.6.212.102 dev eth0 scope link src 10.233.105.154",
            "10.233.0.0/18 via 10.6.212.102 dev eth0 src 10.233.105.154",
            "10.233.64.0/18 via 10.6.212.102 dev eth0 src 10.233.105.154",
            "169.254.1.1 dev eth0 scope link",
        ]
    );
}

#[test]
fn example_f_overlay_policy_route_goes_to_the_nic_table() {
    let (pod, mut host) = calico_pod("10.233.106.166", "172.100.0.212", "16", "172.100.0.0");
    let pod = with_net1_default(pod, "172.100.0.1");
    host.pod_host_ips = vec![ip("10.6.212.132")];
    let mut c = cfg(ModeSetting::Auto);
    c.policy_routes = vec![policy("10.10.0.0/16", "172.100.0.1"), policy("fd00::/8", "fd00::1")];
    let (_, pod, _) = run(&input(c, "net1", pod, host));
    assert_eq!(
        rules4(&pod)[1..3],
        ["32764:\tfrom 10.233.106.166 lookup 100", "32765:\tfrom 172.100.0.212 lookup 101"]
    );
    assert_eq!(
        table4(&pod, 101),
        [
            "default via 172.100.0.1 dev net1",
            "10.6.212.132 dev eth0 scope link src 10.233.106.166",
            "10.10.0.0/16 via 172.100.0.1 dev net1",
            "172.100.0.0/16 dev net1 scope link src 172.100.0.212",
        ]
    );
    assert!(
        main4(&pod).contains(
            &"172.100.0.0/16 dev net1 proto kernel scope link src 172.100.0.212".to_owned()
        )
    );
    assert!(route_lines(&pod, 101, V6).is_empty(), "IPv6 policy route skipped on a v4 NIC");
}

/// Overlay pod after net1's ADD, with net2 (and optionally net3) added.
fn three_nic_pod() -> (NetnsView, HostView) {
    let (pod, mut host) = calico_pod("10.233.73.210", "10.6.212.145", "16", "10.6.0.0");
    host.pod_host_ips = vec![ip("10.6.212.132")];
    let (_, mut pod, host) =
        run(&input(cfg(ModeSetting::Auto), "net1", with_net1_default(pod, "10.6.0.1"), host));
    pod.links.push(link(5, "net2", "02:00:00:00:02:01"));
    pod.addresses.push(a("net2", "10.7.0.9/24"));
    pod.routes.push(r("10.7.0.0/24 dev net2 proto kernel scope link src 10.7.0.9"));
    (pod, host)
}

#[test]
fn second_and_third_extra_nics_get_tables_102_and_103() {
    let (pod, host) = three_nic_pod();
    let (plan, mut pod, host) = run(&input(cfg(ModeSetting::Auto), "net2", pod, host));
    assert_eq!((plan.mode, plan.first_invoke, plan.table), (ResolvedMode::Overlay, false, 102));
    assert!(rules4(&pod).contains(&"32763:\tfrom 10.7.0.9 lookup 102".to_owned()));
    // Not first invoke: host and hijack routes go to the NIC table only.
    assert_eq!(
        table4(&pod, 102),
        [
            "10.6.212.132 dev eth0 scope link src 10.233.73.210",
            "10.7.0.0/24 dev net2 scope link src 10.7.0.9",
            "10.233.0.0/18 via 10.6.212.132 dev eth0 src 10.233.73.210",
            "10.233.64.0/18 via 10.6.212.132 dev eth0 src 10.233.73.210",
        ]
    );
    pod.links.push(link(6, "net3", "02:00:00:00:03:01"));
    pod.addresses.push(a("net3", "10.8.0.9/24"));
    pod.routes.push(r("10.8.0.0/24 dev net3 proto kernel scope link src 10.8.0.9"));
    let (plan, pod, _) = run(&input(cfg(ModeSetting::Auto), "net3", pod, host));
    assert_eq!(plan.table, 103);
    assert!(rules4(&pod).contains(&"32762:\tfrom 10.8.0.9 lookup 103".to_owned()));
}

#[test]
fn default_route_nic_must_exist() {
    let (pod, host) = three_nic_pod();
    let mut c = cfg(ModeSetting::Auto);
    c.pod_default_route_nic = Some("net5".into());
    assert_eq!(
        plan_add(&input(c, "net2", pod, host)).unwrap_err(),
        PlanError::DefaultRouteNicNotFound { nic: "net5".into() }
    );
}

#[test]
fn overlay_sanity_errors() {
    let (pod, host) = calico_pod("10.233.73.210", "10.6.212.145", "16", "10.6.0.0");
    let err =
        plan_add(&input(cfg(ModeSetting::Overlay), "eth0", pod.clone(), host.clone())).unwrap_err();
    assert_eq!(err, PlanError::OverlayOnFirstNic { ifname: "eth0".into() });
    let mut with_veth = pod.clone();
    with_veth.links.push(link(9, "veth0", "02:00:00:00:09:09"));
    let err = plan_add(&input(cfg(ModeSetting::Overlay), "net1", with_veth, host)).unwrap_err();
    assert_eq!(err, PlanError::OverlayWithVeth0 { ifname: "net1".into() });
    let err =
        plan_add(&input(cfg(ModeSetting::Auto), "net1", pod, HostView::default())).unwrap_err();
    assert_eq!(
        err,
        PlanError::HostVethNotFound { name: "ifindex 7".into(), pod_side: "eth0".into() }
    );
}

#[test]
fn disabled_mode_plans_nothing() {
    let (pod, host) = calico_pod("10.233.73.210", "10.6.212.145", "16", "10.6.0.0");
    let plan =
        plan_add(&input(cfg(ModeSetting::Disabled), "net1", pod.clone(), host.clone())).unwrap();
    assert_eq!((plan.mode, plan.ops.len()), (ResolvedMode::Disabled, 0));
    assert!(plan_del(&input(cfg(ModeSetting::Disabled), "net1", pod, host)).ops.is_empty());
}

#[test]
fn dual_stack_overlay_keeps_each_family_in_its_tables() {
    let (mut pod, mut host) = calico_pod("10.233.73.210", "10.6.212.145", "16", "10.6.0.0");
    pod.addresses.push(a("eth0", "fd00:233::5/128"));
    pod.routes.push(r("default via fe80::ecee:eeff:feee:eeee dev eth0"));
    pod.addresses.push(a("net1", "fd00:6::145/64"));
    pod.routes.push(r("fd00:6::/64 dev net1 proto kernel scope link"));
    pod.rules.extend(default_rules(V6));
    host.pod_host_ips = vec![ip("10.6.212.132"), ip("fd00:6::132")];
    let mut c = cfg(ModeSetting::Auto);
    c.service_cidr.push(net("fd00:10:233::/112"));
    let (_, pod, host) = run(&input(c, "net1", pod, host));
    assert_eq!(
        rule_lines(&pod.rules, V6)[1..3],
        ["32764:\tfrom fd00:233::5 lookup 100", "32765:\tfrom fd00:6::145 lookup 101"]
    );
    assert_eq!(route_lines(&pod, 100, V6), ["default via fe80::ecee:eeff:feee:eeee dev eth0"]);
    assert_eq!(
        route_lines(&pod, 101, V6),
        ["fd00:6::/64 dev net1 scope link", "fd00:6::132 dev eth0 scope link"]
    );
    assert!(
        route_lines(&pod, 254, V6)
            .contains(&"fd00:10:233::/112 via fd00:6::132 dev eth0".to_owned())
    );
    assert_eq!(host_rules(&host, V6), ["1000:\tfrom all lookup 500"]);
    assert_eq!(host_table(&host, 500, V6), ["fd00:6::145 dev cali12345 scope link"]);
}

#[test]
fn del_removes_host_veth_and_legacy_rules() {
    let host_veth = crate::coordinator::mac::host_veth_name(CID);
    let pod = NetnsView {
        links: vec![
            lo(),
            link(2, "eth0", "02:00:00:00:00:02"),
            link(3, "veth0", "02:00:00:00:00:03"),
        ],
        addresses: vec![a("eth0", "10.6.1.2/16"), a("eth0", "fe80::2/64")],
        ..NetnsView::default()
    };
    // The host veth carries this container's derived MAC (its ownership mark).
    let mac = crate::coordinator::mac::veth_mac(CID, Side::Host);
    let host = HostView { links: vec![link(9, &host_veth, &mac)], ..HostView::default() };
    let plan = plan_del(&input(cfg(ModeSetting::Auto), "eth0", pod.clone(), host.clone()));
    assert_eq!(plan.mode, ResolvedMode::Underlay);
    assert_eq!(
        plan.ops,
        [
            Op {
                side: Side::Host,
                action: Action::Del,
                item: Item::Link(LinkOp { ifname: host_veth, ..LinkOp::default() })
            },
            Op {
                side: Side::Host,
                action: Action::Del,
                item: Item::Rule(Rule {
                    family: V4,
                    priority: None,
                    src: None,
                    dst: Some(net("10.6.1.2/32")),
                    fwmark: None,
                    fwmask: None,
                    table: 500
                })
            },
        ]
    );
    // Namespace gone, nothing on the host: nothing to do, no error.
    let plan =
        plan_del(&input(cfg(ModeSetting::Auto), "net1", NetnsView::default(), HostView::default()));
    assert!(plan.ops.is_empty());
}
