//! The named steps of `plan_add`, one at a time, on a small underlay pod
//! (`eth0` 172.100.0.210/16, first invoke) or its overlay twin.

use super::*;
use crate::coordinator::PlanError;
use crate::coordinator::add::{
    Run, add_hijack_routes, add_host_routes_in_pod, add_host_rules, add_neighbours,
    add_pod_routes_on_host, add_policy_routes, add_reply_via_veth, bring_nic_up, configure_nic,
    route_source,
};
use crate::coordinator::build::Builder;
use crate::coordinator::config::MacPrefix;
use crate::coordinator::mac::host_veth_name;
use crate::coordinator::mode::resolve;
use crate::coordinator::plan::Op;
use crate::coordinator::render::op_lines;
use crate::coordinator::veth::{Veth, create_veth_pair, find_veth_pair, overlay_peer};

fn pod() -> NetnsView {
    NetnsView {
        links: vec![lo(), link(2, "eth0", "02:00:00:00:00:02")],
        addresses: vec![a("eth0", "172.100.0.210/16"), a("eth0", "fe80::1/64")],
        routes: vec![
            r("default via 172.100.0.1 dev eth0"),
            r("172.100.0.0/16 dev eth0 proto kernel scope link src 172.100.0.210"),
        ],
        rules: default_rules(V4),
    }
}

fn underlay(config: EffectiveConfig) -> PlanInput {
    let host = HostView {
        pod_host_ips: vec![ip("172.100.0.2"), ip("fd00::2"), ip("172.100.0.2"), ip("10.0.0.1")],
        ..HostView::default()
    };
    input(config, "eth0", pod(), host)
}

fn with_run<T>(inp: &PlanInput, f: impl FnOnce(&mut Builder, &Run<'_>) -> T) -> (T, Vec<String>) {
    let res = resolve(&inp.config, &inp.ifname, &inp.pod).unwrap();
    let run = Run::new(inp, res).unwrap();
    let mut b = Builder::new(inp);
    let out = f(&mut b, &run);
    (out, lines(&b.ops))
}

fn lines(ops: &[Op]) -> Vec<String> {
    ops.iter().flat_map(op_lines).collect()
}

fn veth() -> Veth {
    Veth {
        pod_name: "veth0".into(),
        pod_mac: "0a:00:00:00:00:01".into(),
        host_name: "veth0123456789a".into(),
        host_mac: "0a:00:00:00:00:02".into(),
    }
}

#[test]
fn run_keeps_host_ips_of_the_nics_families_once() {
    let inp = underlay(cfg(ModeSetting::Auto));
    with_run(&inp, |_, run| {
        let nic: IpNet = "172.100.0.210/16".parse().unwrap();
        assert_eq!(run.addrs, [nic], "link-local left out");
        assert_eq!(run.host_ips, [ip("172.100.0.2"), ip("10.0.0.1")]);
    });
    let mut bare = inp.clone();
    bare.pod.addresses.retain(|x| x.address.addr().is_ipv6());
    let res = resolve(&bare.config, "eth0", &bare.pod).unwrap();
    assert!(matches!(Run::new(&bare, res), Err(PlanError::NoAddress { .. })));
}

#[test]
fn bring_nic_up_only_when_down() {
    let mut inp = underlay(cfg(ModeSetting::Auto));
    assert!(with_run(&inp, bring_nic_up).1.is_empty());
    inp.pod.links[1].flags.up = false;
    assert_eq!(with_run(&inp, bring_nic_up).1, ["ip -n pod link set eth0 up"]);
}

#[test]
fn configure_nic_sets_mac_txqueuelen_and_sysctls() {
    let config = EffectiveConfig {
        pod_mac_prefix: Some(MacPrefix([0x0a, 0x1b])),
        tx_queue_len: 1000,
        pod_rp_filter: -1,
        ..cfg(ModeSetting::Auto)
    };
    let (_, out) = with_run(&underlay(config), configure_nic);
    assert_eq!(
        out,
        [
            "ip -n pod link set eth0 address 0a:1b:ac:64:00:d2  # then announce 172.100.0.210",
            "ip -n pod link set eth0 txqueuelen 1000",
        ]
    );
    let (_, out) = with_run(&underlay(cfg(ModeSetting::Auto)), configure_nic);
    assert_eq!(out, ["ip netns exec pod sysctl -w net.ipv4.conf.all.rp_filter=0"]);
}

#[test]
fn neighbours_pod_addresses_on_the_host_and_host_ips_in_the_pod() {
    let (_, out) = with_run(&underlay(cfg(ModeSetting::Auto)), |b, run| {
        add_neighbours(b, run, &veth());
    });
    assert_eq!(
        out,
        [
            "ip neigh replace 172.100.0.210 lladdr 0a:00:00:00:00:01 dev veth0123456789a nud permanent",
            "ip -n pod neigh replace 172.100.0.2 lladdr 0a:00:00:00:00:02 dev veth0 nud permanent",
            "ip -n pod neigh replace 10.0.0.1 lladdr 0a:00:00:00:00:02 dev veth0 nud permanent",
        ]
    );
}

#[test]
fn host_routes_in_the_pod_use_the_first_nics_ipv4_source() {
    let inp = underlay(cfg(ModeSetting::Auto));
    assert_eq!(route_source(&inp.pod, &inp.config), Some(ip("172.100.0.210")));
    let (_, out) = with_run(&inp, |b, run| {
        add_host_routes_in_pod(b, run, &veth(), Some(ip("172.100.0.210")));
    });
    assert_eq!(
        out,
        [
            "ip -n pod route add 172.100.0.2 dev veth0 scope link src 172.100.0.210 table 101",
            "ip -n pod route add 172.100.0.2 dev veth0 scope link src 172.100.0.210",
            "ip -n pod route add 10.0.0.1 dev veth0 scope link src 172.100.0.210 table 101",
            "ip -n pod route add 10.0.0.1 dev veth0 scope link src 172.100.0.210",
        ]
    );
}

#[test]
fn host_rule_once_and_stale_host_routes_replaced() {
    let mut inp = underlay(cfg(ModeSetting::Auto));
    assert_eq!(with_run(&inp, add_host_rules).1, ["ip rule add from all lookup 500 priority 1000"]);
    inp.host.rules.push(Rule { priority: Some(1000), ..Rule::lookup(V4, 500) });
    assert!(with_run(&inp, add_host_rules).1.is_empty());
    inp.host.routes.push(r("172.100.0.210 dev vethold scope link table 500"));
    inp.host.routes.push(r("172.100.0.210 dev veth0123456789a scope link table 500"));
    let (_, out) = with_run(&inp, |b, run| add_pod_routes_on_host(b, run, &veth()));
    assert_eq!(
        out,
        [
            "ip route del 172.100.0.210 dev vethold scope link table 500",
            "ip route add 172.100.0.210 dev veth0123456789a scope link table 500",
        ]
    );
}

#[test]
fn hijack_routes_need_a_host_ip_of_their_family() {
    let config = EffectiveConfig {
        service_cidr: vec![net("10.233.0.0/18"), net("fd00:233::/112")],
        overlay_pod_cidr: vec![],
        ..cfg(ModeSetting::Auto)
    };
    let (_, out) = with_run(&underlay(config), |b, run| {
        add_hijack_routes(b, run, &veth(), Some(ip("172.100.0.210")));
    });
    assert_eq!(
        out,
        ["ip -n pod route add 10.233.0.0/18 via 172.100.0.2 dev veth0 src 172.100.0.210"]
    );
}

#[test]
fn reply_via_veth_marks_and_routes_per_family() {
    let (_, out) = with_run(&underlay(cfg(ModeSetting::Auto)), |b, run| {
        add_reply_via_veth(b, run, Some(ip("172.100.0.210")));
    });
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].starts_with("# pod: add mark 0x1 on new connections arriving on veth0"));
    assert_eq!(out[1], "ip -n pod rule add from all fwmark 0x1 lookup 100 priority 1000");
    assert_eq!(
        out[2],
        "ip -n pod route add default via 172.100.0.2 dev veth0 src 172.100.0.210 table 100"
    );
}

#[test]
fn policy_routes_need_a_reachable_gateway() {
    let config = EffectiveConfig {
        policy_routes: vec![policy("10.10.0.0/16", "172.100.0.1"), policy("fd10::/64", "fd00::1")],
        ..cfg(ModeSetting::Auto)
    };
    let (res, out) = with_run(&underlay(config.clone()), add_policy_routes);
    assert_eq!(res, Ok(()));
    assert_eq!(out, ["ip -n pod route add 10.10.0.0/16 via 172.100.0.1 dev eth0"], "main, v4 only");
    let far = EffectiveConfig { policy_routes: vec![policy("10.10.0.0/16", "10.9.0.1")], ..config };
    let (res, _) = with_run(&underlay(far), add_policy_routes);
    assert!(matches!(res, Err(PlanError::PolicyRouteGatewayUnreachable { .. })), "{res:?}");
}

#[test]
fn veth_pair_created_marked_and_found_again() {
    let inp = underlay(EffectiveConfig {
        veth_link_address: Some(ip("169.254.100.1")),
        ..cfg(ModeSetting::Auto)
    });
    let host_name = host_veth_name(CID);
    let (made, out) = with_run(&inp, |b, run| {
        let made = create_veth_pair(b, inp_of(run), run.fam).unwrap();
        (made, find_veth_pair(b, inp_of(run)).unwrap())
    });
    assert_eq!(made.0, made.1, "a later NIC finds what the first created");
    assert_eq!(made.0.host_name, host_name);
    assert_eq!(out.len(), 5, "{out:?}");
    assert!(out[3].contains(&format!("link set {host_name} alias ")), "{out:?}");
    assert_eq!(out[4], "ip -n pod addr add 169.254.100.1/32 dev veth0");
    let missing = Builder::new(&inp);
    assert!(matches!(find_veth_pair(&missing, &inp), Err(PlanError::NoMac { .. })));
    let no_id = PlanInput { container_id: String::new(), ..inp };
    assert_eq!(find_veth_pair(&Builder::new(&no_id), &no_id), Err(PlanError::EmptyContainerId));
}

fn inp_of<'a>(run: &Run<'a>) -> &'a PlanInput {
    run.input
}

#[test]
fn overlay_peer_is_found_by_peer_index() {
    let mut pod = pod();
    pod.links[1].peer_index = Some(17);
    let mut host = HostView::default();
    let inp = input(cfg(ModeSetting::Overlay), "net1", pod.clone(), host.clone());
    assert!(matches!(
        overlay_peer(&Builder::new(&inp), &inp),
        Err(PlanError::HostVethNotFound { .. })
    ));
    host.links.push(link(17, "cali1", "ee:ee:ee:ee:ee:ee"));
    let inp = input(cfg(ModeSetting::Overlay), "net1", pod, host);
    let found = overlay_peer(&Builder::new(&inp), &inp).unwrap();
    assert_eq!((found.pod_name.as_str(), found.host_name.as_str()), ("eth0", "cali1"));
    assert_eq!(found.host_mac, "ee:ee:ee:ee:ee:ee");
}
