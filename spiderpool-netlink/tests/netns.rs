//! Namespace tests against the real kernel. Every test builds its own network
//! namespaces (unique names: pid + counter), uses a second test namespace as
//! the "host", never touches the root namespace, and removes everything in
//! `Drop` (also on panic). Skipped with a printed reason when not root.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TestNs, ip, root, unique};

use spiderpool_core::coordinator::check::check;
use spiderpool_core::coordinator::{
    Action, AddrOp, Item, LinkOp, MacOp, MarkOp, NeighOp, Op, ResolvedMode, Route, RoutePlan, Rule,
    Scope, Side, SysctlOp,
};
use spiderpool_core::ip::IpFamily;
use spiderpool_netlink::{Netns, apply, nft, observe, read_neighbours, read_view, with_netns};

fn op(side: Side, action: Action, item: Item) -> Op {
    Op { side, action, item }
}

fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}

#[test]
fn read_view_sees_veth_addresses_routes_of_all_tables_and_rules() {
    if !root() {
        return;
    }
    let a = TestNs::new("spnl", "a");
    let b = TestNs::new("spnl", "b");
    a.ip(&[
        "link", "add", "va", "mtu", "1450", "type", "veth", "peer", "name", "vb", "netns", &b.name,
    ]);
    a.ip(&["addr", "add", "192.168.50.1/24", "dev", "va"]);
    a.ip(&["link", "set", "va", "up"]);
    a.ip(&["route", "add", "10.9.0.0/16", "via", "192.168.50.2", "dev", "va"]);
    a.ip(&["route", "add", "default", "via", "192.168.50.2", "dev", "va", "table", "101"]);
    a.ip(&["rule", "add", "from", "192.168.50.1", "lookup", "101", "priority", "999"]);
    a.ip(&["rule", "add", "fwmark", "0x1", "lookup", "100", "priority", "1000"]);

    let v = read_view(&a.netns()).unwrap();
    let va = v.link("va").expect("va read");
    assert_eq!(va.kind.as_deref(), Some("veth"));
    assert_eq!(va.mtu, Some(1450));
    assert!(va.flags.up && va.flags.broadcast && va.flags.multicast && va.counts_as_nic());
    assert!(va.peer_index.is_some() && va.mac.as_deref().is_some_and(|m| m.len() == 17));
    assert!(v.link("lo").unwrap().flags.loopback);
    assert!(v.addresses_of("va").any(|a| *a == net("192.168.50.1/24")));
    let main = v
        .routes
        .iter()
        .find(|r| r.table == 254 && r.dst == net("10.9.0.0/16"))
        .expect("main route");
    assert_eq!(main.gateway, Some(ip("192.168.50.2")));
    assert_eq!(main.dev.as_deref(), Some("va"));
    let t101 = v.routes.iter().find(|r| r.table == 101).expect("table 101 route");
    assert!(t101.is_default() && t101.uses_dev("va"));
    let kernel = v
        .routes
        .iter()
        .find(|r| r.table == 254 && r.dst == net("192.168.50.0/24"))
        .expect("connected route");
    assert_eq!(kernel.scope, Scope::Link);
    assert_eq!(kernel.protocol.as_deref(), Some("kernel"));
    assert_eq!(kernel.prefsrc, Some(ip("192.168.50.1")));
    assert!(v.routes.iter().all(|r| r.table != 255), "local table is left out");
    let from = v.rules.iter().find(|r| r.table == 101).expect("from rule");
    assert_eq!(
        (from.priority, from.src, from.family),
        (Some(999), Some(net("192.168.50.1/32")), IpFamily::V4)
    );
    let mark = v.rules.iter().find(|r| r.table == 100).expect("fwmark rule");
    assert_eq!((mark.priority, mark.fwmark), (Some(1000), Some(1)));
    // The kernel keeps a mark given without mask with the full mask, and says so.
    assert_eq!(mark.fwmask, Some(u32::MAX));
    assert!(v.rules.iter().any(|r| r.table == 254 && r.priority == Some(32766)));

    // A multipath route reads back with its next hops.
    a.ip(&["link", "add", "va2", "type", "veth", "peer", "name", "vb2", "netns", &b.name]);
    a.ip(&["addr", "add", "192.168.51.1/24", "dev", "va2"]);
    a.ip(&["link", "set", "va2", "up"]);
    a.ip(&[
        "route",
        "add",
        "10.10.0.0/16",
        "table",
        "102",
        "nexthop",
        "via",
        "192.168.50.2",
        "dev",
        "va",
        "nexthop",
        "via",
        "192.168.51.2",
        "dev",
        "va2",
    ]);
    let v = read_view(&a.netns()).unwrap();
    let mp = v.routes.iter().find(|r| r.table == 102).expect("multipath route");
    assert_eq!(mp.nexthops.len(), 2);
    assert!(mp.uses_dev("va") && mp.uses_dev("va2"));
}

const POD_MAC: &str = "0a:1b:0a:4d:00:02";
const VETH0_MAC: &str = "02:00:00:00:00:01";
const PEER_MAC: &str = "02:00:00:00:00:02";

fn full_plan(host_veth: &str) -> RoutePlan {
    use Action::*;
    use Side::*;
    let ops = vec![
        op(
            Pod,
            Add,
            Item::Link(LinkOp {
                ifname: "veth0".into(),
                kind: Some("veth".into()),
                peer: Some(host_veth.into()),
                peer_address: Some(PEER_MAC.into()),
                address: Some(VETH0_MAC.into()),
                mtu: Some(1400),
                txqlen: None,
                up: Some(true),
                alias: None,
            }),
        ),
        op(Pod, Add, Item::Addr(AddrOp { dev: "veth0".into(), local: net("10.77.0.2/24") })),
        op(Host, Add, Item::Addr(AddrOp { dev: host_veth.into(), local: net("10.77.0.1/24") })),
        op(
            Pod,
            Set,
            Item::Link(LinkOp { ifname: "veth0".into(), txqlen: Some(2000), ..Default::default() }),
        ),
        op(
            Pod,
            Add,
            Item::Route(Route {
                table: 254,
                dst: net("10.88.0.0/16"),
                gateway: Some(ip("10.77.0.1")),
                dev: Some("veth0".into()),
                scope: Scope::Global,
                prefsrc: Some(ip("10.77.0.2")),
                ..Route::default()
            }),
        ),
        op(
            Pod,
            Add,
            Item::Route(Route {
                table: 101,
                dst: net("10.77.0.1/32"),
                gateway: None,
                dev: Some("veth0".into()),
                scope: Scope::Link,
                prefsrc: None,
                ..Route::default()
            }),
        ),
        op(
            Pod,
            Add,
            Item::Route(Route {
                table: 100,
                dst: net("0.0.0.0/0"),
                gateway: Some(ip("10.77.0.1")),
                dev: Some("veth0".into()),
                scope: Scope::Global,
                prefsrc: None,
                ..Route::default()
            }),
        ),
        op(
            Pod,
            Add,
            Item::Rule(Rule {
                family: IpFamily::V4,
                priority: Some(1000),
                src: None,
                dst: None,
                fwmark: Some(1),
                fwmask: None,
                table: 100,
            }),
        ),
        op(
            Pod,
            Add,
            Item::Rule(Rule {
                family: IpFamily::V4,
                priority: None,
                src: Some(net("10.77.0.2/32")),
                dst: None,
                fwmark: None,
                fwmask: None,
                table: 101,
            }),
        ),
        op(
            Host,
            Add,
            Item::Rule(Rule {
                family: IpFamily::V4,
                priority: Some(1000),
                src: None,
                dst: None,
                fwmark: None,
                fwmask: None,
                table: 500,
            }),
        ),
        op(
            Host,
            Add,
            Item::Route(Route {
                table: 500,
                dst: net("10.77.0.2/32"),
                gateway: None,
                dev: Some(host_veth.into()),
                scope: Scope::Link,
                prefsrc: None,
                ..Route::default()
            }),
        ),
        op(
            Pod,
            Set,
            Item::Sysctl(SysctlOp { key: "net.ipv4.conf.all.rp_filter".into(), value: "2".into() }),
        ),
        op(
            Pod,
            Set,
            Item::Mac(MacOp {
                dev: "veth0".into(),
                address: POD_MAC.into(),
                announce: vec![ip("10.77.0.2")],
            }),
        ),
        op(
            Pod,
            Add,
            Item::Neigh(NeighOp {
                dev: "veth0".into(),
                dst: ip("10.77.0.1"),
                lladdr: Some(PEER_MAC.into()),
                permanent: true,
            }),
        ),
        op(
            Host,
            Add,
            Item::Neigh(NeighOp {
                dev: host_veth.into(),
                dst: ip("10.77.0.2"),
                lladdr: Some(POD_MAC.into()),
                permanent: true,
            }),
        ),
        op(Pod, Add, Item::Mark(MarkOp { iif: "veth0".into(), fwmark: 1 })),
    ];
    RoutePlan { mode: ResolvedMode::Underlay, first_invoke: true, table: 101, ops }
}

#[test]
fn apply_plan_reads_back_reapplies_checks_and_carries_traffic() {
    if !root() {
        return;
    }
    let pod = TestNs::new("spnl", "p");
    let host = TestNs::new("spnl", "h");
    let host_veth = format!("vethT{}", unique());
    let plan = full_plan(&host_veth);
    let host_rp_before = host.sysctl("net.ipv4.conf.all.rp_filter");

    apply(&plan, &pod.netns(), &host.netns()).unwrap();

    let obs = observe(&plan, &pod.netns(), &host.netns()).unwrap();
    assert_eq!(check(&plan, &obs), vec![], "nothing missing after apply");
    // The veth pair spans the two namespaces with the requested settings.
    let v0 = obs.pod.view.link("veth0").expect("veth0 in pod");
    assert_eq!((v0.mtu, v0.mac.as_deref(), v0.flags.up), (Some(1400), Some(POD_MAC), true));
    let peer = obs.host.view.link(&host_veth).expect("peer in host ns");
    assert_eq!((peer.mtu, peer.mac.as_deref(), peer.flags.up), (Some(1400), Some(PEER_MAC), true));
    assert!(obs.pod.view.link(&host_veth).is_none() && obs.host.view.link("veth0").is_none());
    assert!(pod.ip(&["link", "show", "veth0"]).contains("qlen 2000"));
    // Sysctl landed in the pod namespace only.
    assert_eq!(obs.pod.sysctls.get("net.ipv4.conf.all.rp_filter").map(String::as_str), Some("2"));
    assert_eq!(pod.sysctl("net.ipv4.conf.all.rp_filter"), "2");
    assert_eq!(host.sysctl("net.ipv4.conf.all.rp_filter"), host_rp_before);
    // The announcement knob was turned on for the MAC change.
    assert_eq!(pod.sysctl("net.ipv4.conf.veth0.arp_notify"), "1");
    // Rules and routes as `ip` shows them.
    let rules = pod.ip(&["rule"]);
    assert!(rules.contains("1000:\tfrom all fwmark 0x1 lookup 100"), "{rules}");
    assert!(rules.contains("from 10.77.0.2 lookup 101"), "{rules}");
    let t100 = pod.ip(&["route", "show", "table", "100"]);
    assert!(t100.contains("default via 10.77.0.1 dev veth0"), "{t100}");
    assert!(host.ip(&["rule"]).contains("1000:\tfrom all lookup 500"));
    assert!(host.ip(&["neigh", "show", "dev", &host_veth]).contains(POD_MAC));
    // The nftables marks, cross-checked with nft when it is installed.
    let reply_mark = MarkOp { iif: "veth0".into(), fwmark: 1 };
    assert_eq!(obs.pod.marks, [reply_mark]);
    let nft = pod.exec(&["nft", "list", "table", "inet", "spiderpool"]);
    let out = String::from_utf8_lossy(&nft.stdout);
    if nft.status.success() {
        assert!(out.contains("iifname \"veth0\" ct state new meta mark set 0x00000001"), "{out}");
        assert!(out.contains("meta mark 0x00000001 ct mark set meta mark"), "{out}");
        assert!(out.contains("meta mark set ct mark"), "{out}");
    } else {
        eprintln!("nft not installed: mark table checked through netlink only");
    }

    // Traffic between the two test namespaces over the created veth.
    let ping = pod.exec(&["ping", "-c", "1", "-W", "2", "10.77.0.1"]);
    assert!(ping.status.success(), "ping: {}", String::from_utf8_lossy(&ping.stdout));

    // Re-applying is a no-op without errors: no duplicate rules or marks.
    let before = read_view(&pod.netns()).unwrap();
    apply(&plan, &pod.netns(), &host.netns()).unwrap();
    let after = read_view(&pod.netns()).unwrap();
    assert_eq!(before.rules, after.rules);
    assert_eq!(before.routes.len(), after.routes.len());
    let marks = with_netns(&pod.netns(), |_| async { nft::read_marks() }).unwrap();
    assert_eq!(marks.rules.len(), 3, "one copy of the mark rules");
    let obs = observe(&plan, &pod.netns(), &host.netns()).unwrap();
    assert_eq!(check(&plan, &obs), vec![]);

    // CHECK reports a deleted rule, and only that.
    pod.ip(&["rule", "del", "from", "10.77.0.2", "lookup", "101"]);
    let obs = observe(&plan, &pod.netns(), &host.netns()).unwrap();
    let missing = check(&plan, &obs);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!((missing[0].index, missing[0].kind, missing[0].side), (8, "rule", Side::Pod));
    assert!(missing[0].what.contains("10.77.0.2/32"), "{}", missing[0].what);

    // A DEL plan removes the pair, the marks and the rules; twice is fine.
    let del = RoutePlan {
        ops: vec![
            op(
                Side::Host,
                Action::Del,
                Item::Link(LinkOp { ifname: host_veth.clone(), ..Default::default() }),
            ),
            op(Side::Pod, Action::Del, Item::Mark(MarkOp { iif: "veth0".into(), fwmark: 1 })),
            plan.ops[7].clone().with_action(Action::Del),
            plan.ops[9].clone().with_action(Action::Del),
            op(
                Side::Host,
                Action::Del,
                Item::Route(match &plan.ops[10].item {
                    Item::Route(r) => r.clone(),
                    _ => unreachable!(),
                }),
            ),
        ],
        ..plan.clone()
    };
    apply(&del, &pod.netns(), &host.netns()).unwrap();
    apply(&del, &pod.netns(), &host.netns()).unwrap();
    let obs = observe(&del, &pod.netns(), &host.netns()).unwrap();
    assert_eq!(check(&del, &obs), vec![]);
    assert!(obs.pod.view.link("veth0").is_none(), "deleting the host end removes the pair");
    assert!(obs.pod.marks.is_empty());
    let marks = with_netns(&pod.netns(), |_| async { nft::read_marks() }).unwrap();
    assert!(marks.rules.is_empty());
}

trait WithAction {
    fn with_action(self, a: Action) -> Self;
}
impl WithAction for Op {
    fn with_action(mut self, a: Action) -> Self {
        self.action = a;
        self
    }
}

#[test]
fn failing_op_is_named_by_index_and_kind() {
    if !root() {
        return;
    }
    let pod = TestNs::new("spnl", "e");
    let host = TestNs::new("spnl", "f");
    let plan = RoutePlan {
        mode: ResolvedMode::Overlay,
        first_invoke: false,
        table: 101,
        ops: vec![
            op(
                Side::Pod,
                Action::Set,
                Item::Sysctl(SysctlOp {
                    key: "net.ipv4.conf.all.rp_filter".into(),
                    value: "0".into(),
                }),
            ),
            op(
                Side::Pod,
                Action::Add,
                Item::Addr(AddrOp { dev: "nosuch0".into(), local: net("10.1.0.1/24") }),
            ),
        ],
    };
    let e = apply(&plan, &pod.netns(), &host.netns()).unwrap_err().to_string();
    assert!(e.contains("#1") && e.contains("addr") && e.contains("nosuch0"), "{e}");
    let e = apply(&plan, &Netns::path("/var/run/netns/does-not-exist-spnl"), &host.netns())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does-not-exist-spnl"), "{e}");
}

#[test]
fn mac_change_is_announced_to_the_peer() {
    if !root() {
        return;
    }
    let a = TestNs::new("spnl", "m");
    let b = TestNs::new("spnl", "n");
    a.ip(&["link", "add", "name", "gma", "type", "veth", "peer", "name", "gmb", "netns", &b.name]);
    a.ip(&["addr", "add", "10.66.0.1/24", "dev", "gma"]);
    b.ip(&["addr", "add", "10.66.0.2/24", "dev", "gmb"]);
    a.ip(&["link", "set", "gma", "up"]);
    b.ip(&["link", "set", "gmb", "up"]);
    // b learns a's current MAC.
    let ping = b.exec(&["ping", "-c", "1", "-W", "2", "10.66.0.1"]);
    assert!(ping.status.success());
    let new_mac = "0a:1b:0a:42:00:01";
    let plan = RoutePlan {
        mode: ResolvedMode::Overlay,
        first_invoke: false,
        table: 101,
        ops: vec![op(
            Side::Pod,
            Action::Set,
            Item::Mac(MacOp {
                dev: "gma".into(),
                address: new_mac.into(),
                announce: vec![ip("10.66.0.1")],
            }),
        )],
    };
    apply(&plan, &a.netns(), &b.netns()).unwrap();
    let mut seen = None;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let n = with_netns(&b.netns(), |h| async move { read_neighbours(&h).await }).unwrap();
        seen = n.into_iter().find(|n| n.dst == ip("10.66.0.1")).and_then(|n| n.lladdr);
        if seen.as_deref() == Some(new_mac) {
            break;
        }
    }
    assert_eq!(seen.as_deref(), Some(new_mac), "peer's neighbour entry follows the gratuitous ARP");
}

#[test]
fn sysctl_follows_thread_netns() {
    if !root() {
        return;
    }
    let a = TestNs::new("spnl", "s");
    let b = TestNs::new("spnl", "t");
    let key = "net.ipv4.conf.all.rp_filter";
    let set = |ns: &TestNs, v: &'static str| {
        let plan = RoutePlan {
            mode: ResolvedMode::Overlay,
            first_invoke: false,
            table: 101,
            ops: vec![op(
                Side::Pod,
                Action::Set,
                Item::Sysctl(SysctlOp { key: key.into(), value: v.into() }),
            )],
        };
        apply(&plan, &ns.netns(), &b.netns()).unwrap();
    };
    set(&a, "2");
    set(&b, "1");
    assert_eq!(a.sysctl(key), "2");
    assert_eq!(b.sysctl(key), "1");
    let read = |ns: &TestNs| {
        with_netns(&ns.netns(), |_h| async move { spiderpool_netlink::read_sysctl(key) }).unwrap()
    };
    assert_eq!((read(&a), read(&b)), ("2".to_string(), "1".to_string()));
}

#[test]
fn host_ips_come_from_route_src_then_non_container_links() {
    if !root() {
        return;
    }
    let host = TestNs::new("spnl", "x");
    let other = TestNs::new("spnl", "y");
    host.ip(&["link", "add", "ens9", "type", "veth", "peer", "name", "o1", "netns", &other.name]);
    host.ip(&[
        "link",
        "add",
        "vethabc",
        "type",
        "veth",
        "peer",
        "name",
        "o2",
        "netns",
        &other.name,
    ]);
    host.ip(&["addr", "add", "10.6.0.10/16", "dev", "ens9"]);
    host.ip(&["addr", "add", "172.30.0.1/24", "dev", "vethabc"]);
    host.ip(&["link", "set", "ens9", "up"]);
    host.ip(&["link", "set", "vethabc", "up"]);
    host.ip(&["route", "add", "172.30.0.5/32", "dev", "vethabc", "src", "172.30.0.1"]);
    let ips = spiderpool_netlink::host::discover_pod_host_ips(
        &host.netns(),
        &[ip("172.30.0.5"), ip("192.0.2.77")],
    )
    .unwrap();
    // route src first — unless it sits on an excluded link (here vethabc), as
    // happens once the coordinator routes a pod through its own host veth;
    // 127.0.0.1 (lo) excluded; the unroutable pod IP is skipped.
    assert_eq!(ips, vec![ip("10.6.0.10")]);
    host.ip(&["addr", "add", "10.6.0.11/16", "dev", "ens9"]);
    host.ip(&["route", "add", "10.6.9.9/32", "dev", "ens9", "src", "10.6.0.11"]);
    let ips =
        spiderpool_netlink::host::discover_pod_host_ips(&host.netns(), &[ip("10.6.9.9")]).unwrap();
    assert_eq!(ips, vec![ip("10.6.0.11"), ip("10.6.0.10")], "a usable route src comes first");
}

#[test]
fn netns_ids_tell_namespaces_apart_and_the_current_one_by_any_path() {
    if !root() {
        return;
    }
    let a = TestNs::new("spid", "a");
    let b = TestNs::new("spid", "b");
    let id_a = a.netns().id().unwrap();
    assert_ne!(id_a, b.netns().id().unwrap());
    assert_eq!(id_a, a.netns().id().unwrap());
    // A thread inside `a` sees `a` as its current namespace.
    let current = with_netns(&a.netns(), |_| async { Netns::Current.id() }).unwrap();
    assert_eq!(current, id_a);
    assert_eq!(id_a.to_string(), format!("net:[{}]", id_a.ino));
    let missing = Netns::path("/var/run/netns/sp-no-such-ns").id().unwrap_err();
    assert!(missing.to_string().contains("sp-no-such-ns"), "{missing}");
}
