//! The ARP/NDP probes against the real kernel. Each test builds two
//! namespaces of its own ("pod" and "peer", pid + counter in the names) joined
//! by a veth pair, sends only between them, and deletes both in `Drop` (also
//! on panic). The pod end starts down: the prober brings it up. Skipped with a
//! printed reason when not root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

mod common;

use common::{TestNs, ip, root};

use spiderpool_netlink::probe::{
    Conflict, Gateway, Timing, announce, probe_conflict, probe_gateway, with_prober,
};
use spiderpool_netlink::{Error, format_mac};

const POD_MAC: &str = "02:00:00:00:00:aa";
const PEER_MAC: &str = "02:00:00:00:00:bb";
const STALE_MAC: &str = "02:00:00:00:00:99";
const POD_IF: &str = "pp";
const PEER_IF: &str = "pq";

/// Pod and peer joined by a veth: the pod end (`pp`, down, MAC `POD_MAC`),
/// the peer end (`pq`, up, MAC `PEER_MAC`, holding `peer_addrs`).
struct Pair {
    pod: TestNs,
    peer: TestNs,
}

impl Pair {
    fn new(peer_addrs: &[&str]) -> Pair {
        let pod = TestNs::new("sppr", "pod");
        let peer = TestNs::new("sppr", "peer");
        pod.ip(&[
            "link", "add", POD_IF, "type", "veth", "peer", "name", PEER_IF, "netns", &peer.name,
        ]);
        pod.ip(&["link", "set", POD_IF, "address", POD_MAC]);
        peer.ip(&["link", "set", PEER_IF, "address", PEER_MAC]);
        peer.ip(&["link", "set", PEER_IF, "up"]);
        for a in peer_addrs {
            if a.contains(':') {
                peer.ip(&["-6", "addr", "add", a, "dev", PEER_IF, "nodad"]);
            } else {
                peer.ip(&["addr", "add", a, "dev", PEER_IF]);
            }
        }
        let pair = Pair { pod, peer };
        if peer_addrs.iter().any(|a| a.contains(':')) {
            pair.wait_not_tentative();
        }
        pair
    }

    fn wait_not_tentative(&self) {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            let t = self.peer.ip(&["-6", "addr", "show", "dev", PEER_IF, "tentative"]);
            if t.trim().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("peer addresses stay tentative");
    }

    fn neigh(&self, ip: &str) -> String {
        self.peer.ip(&["neigh", "show", ip, "dev", PEER_IF])
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn assert_conflict(found: Option<Conflict>, want_ip: &str, via: &str) {
    let c = found.expect("a conflict");
    assert_eq!(c.ip, ip(want_ip));
    assert_eq!(format_mac(&c.mac), PEER_MAC);
    assert_eq!(c.via, via);
    let text = c.to_string();
    assert_eq!(text, format!("{want_ip} is already in use by {PEER_MAC} ({via})"));
}

#[test]
fn ipv4_conflict_reports_the_peers_mac_and_a_free_ip_is_free_within_1s() {
    if !root() {
        return;
    }
    let p = Pair::new(&["10.9.0.2/24"]);
    let ns = p.pod.netns();
    let (found, took) = timed(|| probe_conflict(&ns, POD_IF, ip("10.9.0.2"), Timing::default()));
    eprintln!("IPv4 conflicting IP: answered in {took:?} (link brought up first)");
    assert_conflict(found.unwrap(), "10.9.0.2", "ARP reply");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The link is up now: the answer comes within the first read deadline.
    let (found, took) = timed(|| probe_conflict(&ns, POD_IF, ip("10.9.0.2"), Timing::default()));
    eprintln!("IPv4 conflicting IP, link already up: {took:?}");
    assert_conflict(found.unwrap(), "10.9.0.2", "ARP reply");
    assert!(took < Duration::from_millis(280), "before three silent deadlines: {took:?}");

    let (found, took) = timed(|| probe_conflict(&ns, POD_IF, ip("10.9.0.3"), Timing::default()));
    eprintln!("IPv4 free IP: no conflict after {took:?}");
    assert_eq!(found.unwrap(), None);
    assert!(took >= Duration::from_millis(290), "3 tries of 100 ms: {took:?}");
    assert!(took <= Duration::from_millis(1100), "1 s cap: {took:?}");
    let up = p.pod.ip(&["-br", "link", "show", POD_IF]);
    assert!(up.contains("UP"), "the prober brought the link up: {up}");
}

#[test]
fn ipv4_gateway_held_by_the_peer_is_reachable_an_absent_one_is_not() {
    if !root() {
        return;
    }
    let p = Pair::new(&["10.9.0.1/24"]);
    let ns = p.pod.netns();
    let (r, took) =
        timed(|| probe_gateway(&ns, POD_IF, ip("10.9.0.5"), ip("10.9.0.1"), Timing::default()));
    eprintln!("IPv4 gateway reachable: {took:?}");
    match r.unwrap() {
        Gateway::Reachable { mac } => assert_eq!(format_mac(&mac), PEER_MAC),
        other => panic!("{other:?}"),
    }
    let (r, took) =
        timed(|| probe_gateway(&ns, POD_IF, ip("10.9.0.5"), ip("10.9.0.254"), Timing::default()));
    eprintln!("IPv4 gateway absent: unreachable after {took:?}");
    assert_eq!(r.unwrap(), Gateway::Unreachable);
    assert!(took <= Duration::from_millis(600), "500 ms cap: {took:?}");
    let e = probe_gateway(&ns, POD_IF, ip("10.9.0.5"), ip("2001:db8::1"), Timing::default())
        .unwrap_err();
    assert!(matches!(e, Error::Invalid { field: "gateway", .. }), "{e}");
}

#[test]
fn ipv6_conflict_reports_the_peers_mac_and_a_free_ip_is_free_within_1s() {
    if !root() {
        return;
    }
    let p = Pair::new(&["2001:db8:9::2/64"]);
    let ns = p.pod.netns();
    let (found, took) =
        timed(|| probe_conflict(&ns, POD_IF, ip("2001:db8:9::2"), Timing::default()));
    eprintln!("IPv6 conflicting IP: answered in {took:?} (link brought up first)");
    assert_conflict(found.unwrap(), "2001:db8:9::2", "NDP neighbor advertisement");
    let (found, took) =
        timed(|| probe_conflict(&ns, POD_IF, ip("2001:db8:9::2"), Timing::default()));
    eprintln!("IPv6 conflicting IP, link already up: {took:?}");
    assert_conflict(found.unwrap(), "2001:db8:9::2", "NDP neighbor advertisement");
    assert!(took < Duration::from_millis(280), "before three silent deadlines: {took:?}");
    let (found, took) =
        timed(|| probe_conflict(&ns, POD_IF, ip("2001:db8:9::3"), Timing::default()));
    eprintln!("IPv6 free IP: no conflict after {took:?}");
    assert_eq!(found.unwrap(), None);
    assert!(took <= Duration::from_millis(1100), "1 s cap: {took:?}");
    // The peer still holds its address: a DAD probe from us never takes it away.
    let held = p.peer.ip(&["-6", "addr", "show", "dev", PEER_IF, "dadfailed"]);
    assert!(held.trim().is_empty(), "{held}");
}

#[test]
fn ipv6_gateway_held_by_the_peer_is_reachable_an_absent_one_is_not() {
    if !root() {
        return;
    }
    let p = Pair::new(&["2001:db8:9::1/64"]);
    let ns = p.pod.netns();
    let (r, took) = timed(|| {
        probe_gateway(&ns, POD_IF, ip("2001:db8:9::5"), ip("2001:db8:9::1"), Timing::default())
    });
    eprintln!("IPv6 gateway reachable: {took:?}");
    match r.unwrap() {
        Gateway::Reachable { mac } => assert_eq!(format_mac(&mac), PEER_MAC),
        other => panic!("{other:?}"),
    }
    let (r, took) = timed(|| {
        probe_gateway(&ns, POD_IF, ip("2001:db8:9::5"), ip("2001:db8:9::fe"), Timing::default())
    });
    eprintln!("IPv6 gateway absent: unreachable after {took:?}");
    assert_eq!(r.unwrap(), Gateway::Unreachable);
    assert!(took <= Duration::from_millis(600), "{took:?}");
}

fn wait_for_mac(p: &Pair, addr: &str) -> String {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let n = p.neigh(addr);
        if n.contains(POD_MAC) || Instant::now() > end {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn announcement_replaces_a_stale_neighbour_entry_on_the_peer_v4_and_v6() {
    if !root() {
        return;
    }
    let p = Pair::new(&["10.9.0.2/24", "2001:db8:9::2/64"]);
    for addr in ["10.9.0.7", "2001:db8:9::7"] {
        p.peer.ip(&["neigh", "replace", addr, "lladdr", STALE_MAC, "dev", PEER_IF, "nud", "stale"]);
        assert!(p.neigh(addr).contains(STALE_MAC));
    }
    let ((), took) =
        timed(|| announce(&p.pod.netns(), POD_IF, &[ip("10.9.0.7"), ip("2001:db8:9::7")]).unwrap());
    eprintln!("announcing two addresses (link brought up first): {took:?}");
    let ((), took) = timed(|| announce(&p.pod.netns(), POD_IF, &[ip("10.9.0.7")]).unwrap());
    eprintln!("announcing one address, link already up: {took:?}");
    for addr in ["10.9.0.7", "2001:db8:9::7"] {
        let n = wait_for_mac(&p, addr);
        assert!(n.contains(POD_MAC), "{addr}: {n}");
    }
}

#[test]
fn a_missing_link_is_link_not_found() {
    if !root() {
        return;
    }
    let p = Pair::new(&[]);
    let e = with_prober(&p.pod.netns(), "nosuch0", Timing::default(), |_| ()).unwrap_err();
    assert!(matches!(e, Error::LinkNotFound { .. }), "{e}");
}
