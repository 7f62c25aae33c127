//! The `coordinator` binary with IPv6: dual-stack overlay pods and IPv6-only
//! and dual-stack underlay pods, against real kernel objects in namespaces
//! the tests build (`netns/mod.rs`, with [`Lan::add_ipv6`] on top of the IPv4
//! network). Checked by read-back (`ip -6 rule`, `ip -6 route`) and by real
//! IPv6 traffic between the test's own namespaces.
//!
//! IPv6 pitfalls handled here: DAD is off in every namespace before links get
//! addresses (a tentative address cannot be used), forwarding is on in the
//! router and the node, and positive reachability is polled for at most 3 s
//! (neighbour discovery on fresh links); negative checks are single pings
//! made only after the path around them has been shown to work.
//!
//! Deliberate Spiderpool behaviour (reference §5.3 step 10, §10.8): host and
//! hijack routes of IPv6 carry no `src` — the Go code leaves the IPv6 source
//! empty on purpose because of a kernel issue — so the kernel picks the source
//! (the address on the outgoing link, `eth0`'s or, for `veth0`, which has only
//! a link-local address, the pod's underlay address). The tests assert that
//! no IPv6 route the coordinator adds has a `src`.

mod netns;

use netns::*;
use serde_json::{Value, json};

/// The dual-stack overlay pod: ptp `eth0`, macvlan `net1`.
const POD4: &str = "10.244.1.5";
const POD6: &str = "fd00:244:1::5";
const POD_GW4: &str = "10.244.1.1";
const POD_GW6: &str = "fd00:244:1::1";
const NET1_4: &str = "10.6.212.200";
const NET1_6: &str = "fd00:6::c8";

struct Pod<'a> {
    lan: &'a Lan,
    ns: Netns,
    cid: String,
    log: std::path::PathBuf,
}

impl<'a> Pod<'a> {
    fn new(lan: &'a Lan, n: u32) -> Pod<'a> {
        let ns = lan.pod_v6(n);
        let cid = format!("{:0>12}{}", lan.tag, n);
        let log = std::env::temp_dir().join(format!("sp-coord6-{}-{n}.log", lan.tag));
        Pod { lan, ns, cid, log }
    }

    /// The coordinator netconf with both families' service and pod CIDRs.
    fn netconf(&self, mode: &str, prev: &Value) -> Value {
        self.netconf_with(mode, json!({}), prev)
    }

    /// [`Pod::netconf`] plus the keys of `extra`.
    fn netconf_with(&self, mode: &str, extra: Value, prev: &Value) -> Value {
        let conf = json!({
            "cniVersion": "1.0.0",
            "name": "macvlan-underlay",
            "type": "coordinator",
            "mode": mode,
            "serviceCIDR": [SERVICE_CIDR, SERVICE_CIDR6],
            "overlayPodCIDR": [POD_CIDR, POD_CIDR6],
            "hijackCIDR": [],
            "logOptions": {"logFile": self.log.display().to_string()},
            "prevResult": prev,
        });
        with_keys(conf, &extra)
    }

    fn coordinator(&self, command: &str, ifname: &str, conf: &Value) -> (bool, Value, String) {
        run_coordinator(self.lan, &self.ns, &self.cid, command, ifname, conf)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn rules6(&self) -> String {
        self.ns.show(&["-6", "rule"])
    }

    fn routes6(&self) -> String {
        self.ns.show(&["-6", "route", "show", "table", "all"])
    }

    fn table6(&self, table: &str) -> String {
        self.ns.show(&["-6", "route", "show", "table", table])
    }

    /// Everything a failing assertion should show.
    fn state(&self) -> String {
        format!(
            "pod ip -6 rule:\n{}\npod ip -6 route (all tables):\n{}\npod ip -4 rule:\n{}\nnode ip -6 rule:\n{}\nnode table 500:\n{}\ncoordinator log:\n{}",
            self.rules6(),
            self.routes6(),
            self.ns.show(&["rule"]),
            self.lan.node.show(&["-6", "rule"]),
            self.lan.node.show(&["-6", "route", "show", "table", "500"]),
            self.log_text()
        )
    }
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

macro_rules! need_netns {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Lines of `ip -6 route` output that start with `prefix` (the route's dst).
fn lines_starting<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// A dual-stack overlay pod with ptp's `eth0` (v4 + v6, default routes of
/// both families through the host-side veth); `net1` comes from
/// [`add_dual_net1`].
fn dual_stack_overlay_pod(lan: &Lan, n: u32) -> Pod<'_> {
    let pod = Pod::new(lan, n);
    lan.add_ptp_eth0_with(
        &pod.ns,
        &pod.cid,
        &[(&format!("{POD4}/24"), POD_GW4), (&format!("{POD6}/64"), POD_GW6)],
    );
    pod
}

/// macvlan `net1` with static v4 + v6; with `default_route` each family also
/// gets a default route through the LAN router (as Spiderpool's IPAM returns
/// for a pool with a gateway). Returns the macvlan result (the prevResult).
fn add_dual_net1(lan: &Lan, pod: &Pod<'_>, default_route: bool) -> Value {
    let conf = lan.macvlan_conf_with(
        &[(&format!("{NET1_4}/16"), LAN_GW), (&format!("{NET1_6}/64"), LAN_GW6)],
        default_route,
    );
    let prev = lan.cni_add(&pod.ns, &pod.cid, "macvlan", "net1", &conf);
    assert!(pod.ns.wait_ipv6_settled(), "pod IPv6 addresses stay tentative");
    prev
}

/// The control: without the coordinator, a v6 client behind the router does
/// not reach `net1`, because the reply leaves by `eth0` and the node's IPv6
/// anti-spoofing drops it — so the dual-stack test below proves the
/// coordinator's rules, not a permissive test network.
#[test]
fn dual_stack_overlay_pod_without_coordinator_loses_v6_replies() {
    need_netns!();
    let lan = Lan::new();
    lan.add_ipv6();
    let pod = dual_stack_overlay_pod(&lan, 1);
    add_dual_net1(&lan, &pod, false);

    // The path around the failure works.
    assert!(pod.ns.ping_soon(POD_GW6), "pod reaches its ptp gateway over v6\n{}", pod.state());
    assert!(lan.client.ping_soon(CLIENT_GW6), "client reaches the router over v6");
    assert!(lan.lan.ping_soon(NET1_6), "router reaches net1 on its own subnet over v6");
    assert!(lan.node.ping_soon(POD6), "node reaches the pod's eth0 over v6 (ptp host route)");

    let before = lan.spoof6_drops();
    assert!(
        !lan.client.ping(NET1_6),
        "client behind the router must NOT reach net1 over v6 without the coordinator\n{}",
        pod.state()
    );
    assert!(
        lan.spoof6_drops() > before,
        "the lost reply is the one the node's IPv6 anti-spoofing dropped (it left by eth0)"
    );
}

#[test]
fn dual_stack_overlay_v6_replies_leave_by_net1_and_node_traffic_by_eth0() {
    need_netns!();
    let lan = Lan::new();
    lan.add_ipv6();
    let pod = dual_stack_overlay_pod(&lan, 2);
    let prev = add_dual_net1(&lan, &pod, true);
    // Two IPv6 gateway routes of the same metric make one multipath route:
    // main's v6 default now has a nexthop on eth0 and one on net1.
    let main6 = pod.table6("main");
    let multipath = main6.split("default").nth(1).unwrap_or("");
    assert!(
        multipath.contains(&format!("nexthop via {POD_GW6} dev eth0"))
            && multipath.contains(&format!("nexthop via {LAN_GW6} dev net1")),
        "expected a multipath v6 default before the coordinator:\n{main6}"
    );
    let conf = pod.netconf("overlay", &prev);
    let (ok, out, text) = pod.coordinator("ADD", "net1", &conf);
    assert!(ok, "coordinator ADD failed: {text}\n{}", pod.state());
    assert_eq!(out["ips"], prev["ips"], "prevResult passes through");

    // Rules and tables, IPv6.
    let rules6 = pod.rules6();
    assert!(rules6.contains(&format!("from {NET1_6} lookup 101")), "{}", pod.state());
    assert!(rules6.contains(&format!("from {POD6} lookup 100")), "{}", pod.state());
    let rules4 = pod.ns.show(&["rule"]);
    assert!(rules4.contains(&format!("from {NET1_4} lookup 101")), "{rules4}");
    assert!(!rules4.contains(NET1_6) && !rules6.contains(NET1_4), "rules keep their family");
    let t101 = pod.table6("101");
    assert!(t101.contains(&format!("default via {LAN_GW6} dev net1")), "{}", pod.state());
    assert!(t101.contains("fd00:6::/64 dev net1"), "net1's subnet route copied:\n{t101}");
    assert!(!t101.contains("fe80::/64"), "fe80::/64 is never moved:\n{t101}");
    let t100 = pod.table6("100");
    assert!(t100.contains(&format!("default via {POD_GW6} dev eth0")), "{}", pod.state());
    let main6 = pod.table6("main");
    let defaults: Vec<&str> = lines_starting(&main6, "default");
    assert!(
        !defaults.is_empty() && defaults.iter().all(|l| !l.contains("net1")),
        "net1's v6 default left main, eth0's stays:\n{main6}"
    );
    assert!(
        !main6.contains(&format!("via {LAN_GW6} ")),
        "no nexthop through net1's gateway left in main:\n{main6}"
    );
    // Host and hijack routes through eth0, without an IPv6 src (on purpose,
    // reference §5.3 step 10).
    assert!(main6.contains(&format!("{NODE_IP6} dev eth0")), "{main6}");
    let hijack = lines_starting(&main6, SERVICE_CIDR6);
    assert_eq!(hijack.len(), 1, "{main6}");
    assert!(hijack[0].contains(&format!("via {NODE_IP6} dev eth0")), "{main6}");
    let all6 = pod.routes6();
    assert!(
        !all6.lines().any(|l| l.contains("proto static") && l.contains(" src ")),
        "no IPv6 route the coordinator adds carries a src:\n{all6}"
    );
    // The IPv4 half is still tuned.
    let routes4 = pod.ns.show(&["route", "show", "table", "all"]);
    assert!(routes4.contains("default via 10.6.0.1 dev net1 table 101"), "{routes4}");

    // Host side, IPv6: rule 1000 and the /128 to net1's address.
    let host_rules6 = lan.node.show(&["-6", "rule"]);
    assert!(host_rules6.contains("1000:\tfrom all lookup 500"), "{host_rules6}");
    let host_500 = lan.node.show(&["-6", "route", "show", "table", "500"]);
    assert!(host_500.contains(&format!("{NET1_6} dev veth")), "{host_500}");

    // Traffic, IPv6.
    let before = lan.spoof6_drops();
    assert!(
        lan.client.ping_soon(NET1_6),
        "client behind the router reaches net1 over v6 and the reply returns through net1\n{}",
        pod.state()
    );
    assert_eq!(lan.spoof6_drops(), before, "no v6 reply left by eth0");
    // No src on the host route: the kernel takes eth0's own address, which
    // the node answers through ptp's host route.
    let get = pod.ns.show(&["-6", "route", "get", NODE_IP6]);
    assert!(get.contains("dev eth0") && get.contains(&format!("src {POD6}")), "{get}");
    assert!(pod.ns.ping_soon(NODE_IP6), "pod reaches the node's v6 address through eth0");
    assert!(pod.ns.ping_soon(SERVICE_IP6), "pod reaches a v6 service address through eth0");
    assert!(
        lan.node.ping_from_soon(NODE_IP6, NET1_6),
        "node reaches the pod's v6 underlay address through table 500"
    );
    // ... and IPv4 still works beside it.
    assert!(lan.client.ping_soon(NET1_4), "client reaches net1 over v4");
    assert!(pod.ns.ping_soon(NODE_IP), "pod reaches the node over v4");
    assert_eq!(lan.spoof6_drops(), before, "still no v6 reply dropped");

    // CHECK passes after ADD and fails once the v6 rule is gone.
    let (ok, _, text) = pod.coordinator("CHECK", "net1", &conf);
    assert!(ok, "CHECK after ADD: {text}\n{}", pod.state());
    pod.ns.ip(&["-6", "rule", "del", "from", NET1_6, "lookup", "101"]);
    let (ok, out, text) = pod.coordinator("CHECK", "net1", &conf);
    assert!(!ok, "CHECK must fail after the v6 rule is deleted: {text}");
    assert_eq!(out["code"], 103, "{text}");
    let details = out["details"].as_str().unwrap_or("");
    assert!(details.contains(NET1_6) && details.contains("lookup 101"), "{text}");
    assert!(!lan.client.ping(NET1_6), "without the v6 rule the reply is lost again");

    for round in 0..2 {
        let (ok, _, text) = pod.coordinator("DEL", "net1", &conf);
        assert!(ok, "DEL #{round}: {text}");
    }
}

/// An underlay pod whose only NIC is a macvlan `eth0` with `addrs`.
fn underlay_pod<'a>(lan: &'a Lan, n: u32, addrs: &[(&str, &str)]) -> (Pod<'a>, Value) {
    let pod = Pod::new(lan, n);
    let conf = lan.macvlan_conf_with(addrs, true);
    let prev = lan.cni_add(&pod.ns, &pod.cid, "macvlan", "eth0", &conf);
    assert!(pod.ns.wait_ipv6_settled(), "pod IPv6 addresses stay tentative");
    (pod, prev)
}

#[test]
fn ipv6_only_underlay_pod_reaches_the_node_through_veth0() {
    need_netns!();
    let lan = Lan::new();
    lan.add_ipv6();
    let ip6 = "fd00:6::c9";
    let (pod, prev) = underlay_pod(&lan, 3, &[("fd00:6::c9/64", LAN_GW6)]);
    assert!(lan.lan.ping_soon(ip6), "router reaches the pod over v6");
    // Without the coordinator a macvlan child cannot reach its parent.
    assert!(!pod.ns.ping(NODE_IP6), "macvlan pod must not reach the node directly over v6");

    let old_mac = pod.ns.ip_json(&["link", "show", "dev", "eth0"])[0]["address"].clone();
    assert!(
        lan.lan.show(&["-6", "neigh", "show", ip6]).contains(old_mac.as_str().unwrap_or("?")),
        "the router has learnt the pod's original MAC"
    );

    // A MAC prefix (the last 4 bytes of an IPv6 address follow it) and a veth
    // link address (IPv4: not added to an IPv6-only pod, reference §5.3 step 3).
    let conf = pod.netconf_with(
        "underlay",
        json!({"podMACPrefix": "0a:1b", "vethLinkAddress": "169.254.100.1"}),
        &prev,
    );
    let (ok, _, text) = pod.coordinator("ADD", "eth0", &conf);
    assert!(ok, "coordinator ADD failed: {text}\n{}", pod.state());
    let host_veth = format!("veth{}", &pod.cid[..11]);
    assert!(pod.ns.show(&["link"]).contains("veth0@"), "veth0 in the pod");
    assert!(lan.node.show(&["link"]).contains(&host_veth), "host side {host_veth}");
    // IPv6-only: no IPv4 anywhere in the plan.
    assert!(
        !pod.ns.show(&["-4", "addr", "show", "dev", "veth0"]).contains("inet "),
        "veth0 gets no IPv4 link address in an IPv6-only pod"
    );
    let mac = pod.ns.ip_json(&["link", "show", "dev", "eth0"])[0]["address"].clone();
    assert_eq!(mac, "0a:1b:00:00:00:c9", "prefix + last 4 bytes of fd00:6::c9");
    // The change was announced (unsolicited neighbour advertisement): the
    // router's entry, learnt with the old MAC a moment ago and still
    // reachable, now holds the new one.
    assert!(
        poll_until(V6_WAIT, || lan
            .lan
            .show(&["-6", "neigh", "show", ip6])
            .contains("0a:1b:00:00:00:c9")),
        "router's neighbour entry for {ip6}: {}",
        lan.lan.show(&["-6", "neigh", "show", ip6])
    );
    assert!(!pod.ns.show(&["rule"]).contains("lookup 100"), "no IPv4 fwmark rule");

    let rules6 = pod.rules6();
    assert!(rules6.contains("1000:\tfrom all fwmark 0x1 lookup 100"), "{}", pod.state());
    let t100 = pod.table6("100");
    assert!(t100.contains(&format!("default via {NODE_IP6} dev veth0")), "{}", pod.state());
    let main6 = pod.table6("main");
    assert!(main6.contains(&format!("{NODE_IP6} dev veth0")), "{main6}");
    assert!(main6.contains(&format!("{SERVICE_CIDR6} via {NODE_IP6} dev veth0")), "{main6}");
    assert!(main6.contains(&format!("default via {LAN_GW6} dev eth0")), "{main6}");
    let all6 = pod.routes6();
    assert!(
        !all6.lines().any(|l| l.contains("proto static") && l.contains(" src ")),
        "no IPv6 route the coordinator adds carries a src:\n{all6}"
    );
    let neigh = pod.ns.show(&["-6", "neigh", "show", "dev", "veth0"]);
    assert!(neigh.contains(NODE_IP6) && neigh.contains("PERMANENT"), "{neigh}");
    let host_rules6 = lan.node.show(&["-6", "rule"]);
    assert!(host_rules6.contains("1000:\tfrom all lookup 500"), "{host_rules6}");
    let host_500 = lan.node.show(&["-6", "route", "show", "table", "500"]);
    assert!(host_500.contains(&format!("{ip6} dev {host_veth}")), "{host_500}");
    assert_eq!(
        pod.ns
            .show(&["-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"])
            .lines()
            .count(),
        1,
        "eth0 keeps its one global address"
    );

    // veth0 has only a link-local address, so the kernel takes eth0's.
    let get = pod.ns.show(&["-6", "route", "get", NODE_IP6]);
    assert!(get.contains("dev veth0") && get.contains(&format!("src {ip6}")), "{get}");
    assert!(
        pod.ns.ping_soon(NODE_IP6),
        "pod reaches the node over v6 through veth0\n{}",
        pod.state()
    );
    assert!(pod.ns.ping_soon(SERVICE_IP6), "pod reaches a v6 service through veth0");
    assert!(lan.node.ping_soon(ip6), "node reaches the pod over v6 through its veth");
    assert!(lan.client.ping_soon(ip6), "client behind the router reaches the pod over v6");

    let (ok, _, text) = pod.coordinator("CHECK", "eth0", &conf);
    assert!(ok, "CHECK after ADD: {text}\n{}", pod.state());
    for round in 0..2 {
        let (ok, _, text) = pod.coordinator("DEL", "eth0", &conf);
        assert!(ok, "DEL #{round}: {text}");
    }
    assert!(!lan.node.show(&["link"]).contains(&host_veth), "DEL removes the host veth");
}

#[test]
fn dual_stack_underlay_pod_reaches_the_node_over_both_families() {
    need_netns!();
    let lan = Lan::new();
    lan.add_ipv6();
    let (ip4, ip6) = ("10.6.212.202", "fd00:6::ca");
    let (pod, prev) =
        underlay_pod(&lan, 4, &[("10.6.212.202/16", LAN_GW), ("fd00:6::ca/64", LAN_GW6)]);
    let conf = pod.netconf_with("underlay", json!({"vethLinkAddress": "169.254.100.1"}), &prev);
    let (ok, _, text) = pod.coordinator("ADD", "eth0", &conf);
    assert!(ok, "coordinator ADD failed: {text}\n{}", pod.state());
    let veth0 = pod.ns.show(&["-4", "addr", "show", "dev", "veth0"]);
    assert!(veth0.contains("inet 169.254.100.1/32"), "dual stack gets the link address: {veth0}");

    let rules4 = pod.ns.show(&["rule"]);
    assert!(rules4.contains("1000:\tfrom all fwmark 0x1 lookup 100"), "{rules4}");
    assert!(pod.rules6().contains("1000:\tfrom all fwmark 0x1 lookup 100"), "{}", pod.state());
    let t100_4 = pod.ns.show(&["route", "show", "table", "100"]);
    assert!(t100_4.contains(&format!("default via {NODE_IP} dev veth0")), "{t100_4}");
    assert!(t100_4.contains(&format!("src {ip4}")), "IPv4 routes carry eth0's src: {t100_4}");
    let t100_6 = pod.table6("100");
    assert!(t100_6.contains(&format!("default via {NODE_IP6} dev veth0")), "{}", pod.state());
    assert!(!t100_6.contains(" src "), "IPv6 routes carry no src: {t100_6}");

    assert!(pod.ns.ping_soon(NODE_IP6), "pod reaches the node over v6\n{}", pod.state());
    assert!(pod.ns.ping_soon(NODE_IP), "pod reaches the node over v4");
    assert!(pod.ns.ping_soon(SERVICE_IP6), "pod reaches a v6 service");
    assert!(pod.ns.ping_soon(SERVICE_IP), "pod reaches a v4 service");
    assert!(lan.client.ping_soon(ip6), "client reaches the pod over v6");
    assert!(lan.client.ping_soon(ip4), "client reaches the pod over v4");

    let (ok, _, text) = pod.coordinator("CHECK", "eth0", &conf);
    assert!(ok, "CHECK after ADD: {text}\n{}", pod.state());
    let (ok, _, text) = pod.coordinator("DEL", "eth0", &conf);
    assert!(ok, "DEL: {text}");
}

/// `podDefaultRouteNic: net1` with IPv6: main's multipath v6 default (one
/// nexthop per NIC) loses its `eth0` nexthop and keeps `net1`'s, and `eth0`'s
/// default moves into table 101 for traffic from `eth0`'s address.
#[test]
fn dual_stack_default_route_nic_net1_moves_the_v6_default() {
    need_netns!();
    let lan = Lan::new();
    lan.add_ipv6();
    let pod = dual_stack_overlay_pod(&lan, 5);
    let prev = add_dual_net1(&lan, &pod, true);
    let conf = pod.netconf_with("overlay", json!({"podDefaultRouteNic": "net1"}), &prev);
    let (ok, _, text) = pod.coordinator("ADD", "net1", &conf);
    assert!(ok, "coordinator ADD failed: {text}\n{}", pod.state());

    let main6 = pod.table6("main");
    let defaults = lines_starting(&main6, "default");
    assert_eq!(defaults.len(), 1, "{}", pod.state());
    assert!(
        defaults[0].starts_with(&format!("default via {LAN_GW6} dev net1 ")),
        "main's v6 default is net1's alone:\n{}",
        pod.state()
    );
    assert!(!main6.contains("nexthop"), "no multipath left:\n{main6}");
    assert!(pod.rules6().contains(&format!("from {POD6} lookup 101")), "{}", pod.state());
    let t101 = pod.table6("101");
    assert!(t101.contains(&format!("default via {POD_GW6} dev eth0")), "{}", pod.state());
    // Cluster routes stay on eth0 in main (first invoke).
    assert!(main6.contains(&format!("{SERVICE_CIDR6} via {NODE_IP6} dev eth0")), "{main6}");

    let before = lan.spoof6_drops();
    assert!(lan.client.ping_soon(NET1_6), "client reaches net1 (main v6 default via net1)");
    assert!(pod.ns.ping_soon(SERVICE_IP6), "v6 service traffic still leaves by eth0");
    assert!(pod.ns.ping_soon(NODE_IP6), "pod reaches the node's v6 address through eth0");
    assert_eq!(lan.spoof6_drops(), before, "nothing left eth0 with a foreign source");
    let (ok, _, text) = pod.coordinator("CHECK", "net1", &conf);
    assert!(ok, "CHECK after ADD: {text}\n{}", pod.state());
}

/// A second extra NIC (`net2`) in a dual-stack overlay pod gets table 102
/// (eth0, net1, net2 ⇒ 3 + 99) for both families, and the client reaches both
/// underlay NICs over IPv6 with each reply leaving by its own NIC.
#[test]
fn dual_stack_second_extra_nic_gets_table_102() {
    need_netns!();
    let lan = Lan::new();
    lan.add_ipv6();
    let pod = dual_stack_overlay_pod(&lan, 6);
    let prev1 = add_dual_net1(&lan, &pod, true);
    let (ok, _, text) = pod.coordinator("ADD", "net1", &pod.netconf("overlay", &prev1));
    assert!(ok, "coordinator ADD net1 failed: {text}\n{}", pod.state());

    let (net2_4, net2_6) = ("10.6.212.210", "fd00:6::d2");
    let conf2 = lan.macvlan_conf_with(
        &[(&format!("{net2_4}/16"), LAN_GW), (&format!("{net2_6}/64"), LAN_GW6)],
        true,
    );
    let prev2 = lan.cni_add(&pod.ns, &pod.cid, "macvlan", "net2", &conf2);
    assert!(pod.ns.wait_ipv6_settled(), "pod IPv6 addresses stay tentative");
    let conf = pod.netconf("overlay", &prev2);
    let (ok, _, text) = pod.coordinator("ADD", "net2", &conf);
    assert!(ok, "coordinator ADD net2 failed: {text}\n{}", pod.state());

    let rules6 = pod.rules6();
    assert!(rules6.contains(&format!("from {NET1_6} lookup 101")), "{}", pod.state());
    assert!(rules6.contains(&format!("from {net2_6} lookup 102")), "{}", pod.state());
    assert!(pod.ns.show(&["rule"]).contains(&format!("from {net2_4} lookup 102")));
    let t102 = pod.table6("102");
    assert!(t102.contains(&format!("default via {LAN_GW6} dev net2")), "{}", pod.state());
    // Not the first invoke: host and hijack routes of the NIC go to its table.
    assert!(t102.contains(&format!("{SERVICE_CIDR6} via {NODE_IP6} dev eth0")), "{t102}");
    let main6 = pod.table6("main");
    let defaults = lines_starting(&main6, "default");
    assert!(
        defaults.len() == 1 && defaults[0].contains("dev eth0") && !main6.contains("nexthop"),
        "main's v6 default is eth0's alone:\n{main6}"
    );

    let before = lan.spoof6_drops();
    assert!(lan.client.ping_soon(NET1_6), "client reaches net1 over v6\n{}", pod.state());
    assert!(lan.client.ping_soon(net2_6), "client reaches net2 over v6\n{}", pod.state());
    assert!(lan.client.ping_soon(net2_4), "client reaches net2 over v4");
    assert_eq!(lan.spoof6_drops(), before, "no v6 reply left by eth0");
    let (ok, _, text) = pod.coordinator("CHECK", "net2", &conf);
    assert!(ok, "CHECK net2 after ADD: {text}\n{}", pod.state());
}
