//! `with_session` against the real kernel: one thread reads both namespaces
//! and applies a plan through the same sockets, with the same results as the
//! one-thread-per-call functions. Builds its own namespaces (pid + counter in
//! the names), deletes them on drop (also on panic), never touches the root
//! namespace. Skipped with a printed reason when not root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;

mod common;

use common::{TestNs, ip, root};

use spiderpool_core::coordinator::{
    Action, Item, Op, ResolvedMode, Route, RoutePlan, Rule, Scope, Side,
};
use spiderpool_core::ip::IpFamily;
use spiderpool_netlink::{Netns, read_view, with_session};

#[test]
fn one_session_reads_both_sides_and_applies_like_the_separate_calls() {
    if !root() {
        return;
    }
    let pod = TestNs::new("spss", "p");
    let host = TestNs::new("spss", "h");
    // host "ens9" (10.6.0.10/16) <-> pod "net1" (10.6.0.20/16); a host route in
    // table 500 and a rule, which the host view must carry.
    host.ip(&["link", "add", "ens9", "type", "veth", "peer", "name", "net1", "netns", &pod.name]);
    host.ip(&["addr", "add", "10.6.0.10/16", "dev", "ens9"]);
    host.ip(&["link", "set", "ens9", "up"]);
    host.ip(&["route", "add", "10.6.0.20/32", "dev", "ens9", "table", "500"]);
    host.ip(&["route", "add", "10.9.0.0/16", "via", "10.6.0.1", "dev", "ens9", "table", "501"]);
    host.ip(&["rule", "add", "from", "all", "lookup", "500", "priority", "1000"]);
    pod.ip(&["addr", "add", "10.6.0.20/16", "dev", "net1"]);
    pod.ip(&["link", "set", "net1", "up"]);

    let expected_pod = read_view(&pod.netns()).unwrap();
    let expected_host =
        spiderpool_netlink::host::read_host_view(&host.netns(), &[ip("10.6.0.20")], 500).unwrap();

    let plan = RoutePlan {
        mode: ResolvedMode::Overlay,
        first_invoke: false,
        table: 101,
        ops: vec![
            Op {
                side: Side::Pod,
                action: Action::Add,
                item: Item::Route(Route {
                    table: 101,
                    dst: "0.0.0.0/0".parse().unwrap(),
                    gateway: Some(ip("10.6.0.10")),
                    dev: Some("net1".into()),
                    scope: Scope::Global,
                    prefsrc: None,
                    ..Route::default()
                }),
            },
            Op {
                side: Side::Pod,
                action: Action::Add,
                item: Item::Rule(Rule {
                    family: IpFamily::V4,
                    priority: None,
                    src: Some("10.6.0.20/32".parse().unwrap()),
                    dst: None,
                    fwmark: None,
                    fwmask: None,
                    table: 101,
                }),
            },
            Op {
                side: Side::Host,
                action: Action::Del,
                item: Item::Route(Route {
                    table: 500,
                    dst: "10.6.0.20/32".parse().unwrap(),
                    gateway: None,
                    dev: Some("ens9".into()),
                    scope: Scope::Link,
                    prefsrc: None,
                    ..Route::default()
                }),
            },
        ],
    };

    let (pod_view, host_view) = with_session(&pod.netns(), &host.netns(), |mut s| {
        let plan = &plan;
        async move {
            let pod_view = s.pod_view().await?;
            let host_view = s.host_view(&[ip("10.6.0.20")], 500).await?;
            s.apply(plan).await?;
            Ok((pod_view, host_view))
        }
    })
    .unwrap();

    assert_eq!(pod_view, expected_pod, "the session's pod view is read_view's");
    assert_eq!(host_view, expected_host, "the session's host view is read_host_view's");
    assert_eq!(host_view.pod_host_ips, vec![ip("10.6.0.10")], "route src to the pod IP");
    assert!(host_view.routes.iter().all(|r| r.table == 500), "only the host rule table");
    assert_eq!(host_view.routes.len(), 1, "{:?}", host_view.routes);
    assert!(host_view.rules.iter().any(|r| r.table == 500 && r.priority == Some(1000)));

    // The plan went to the right sides.
    let routes = pod.ip(&["route", "show", "table", "101"]);
    assert!(routes.contains("default via 10.6.0.10 dev net1"), "{routes}");
    let rules = pod.ip(&["rule"]);
    assert!(rules.contains("from 10.6.0.20 lookup 101"), "{rules}");
    let host_500 = host.ip(&["route", "show", "table", "500"]);
    assert!(host_500.trim().is_empty(), "host route deleted: {host_500}");
    assert!(host.ip(&["rule"]).contains("lookup 500"), "host rule untouched");
    assert!(!host.ip(&["rule"]).contains("lookup 101"), "pod rule not on the host");
}

#[test]
fn a_missing_pod_namespace_fails_before_the_closure_runs() {
    if !root() {
        return;
    }
    let host = TestNs::new("spss", "h");
    let gone = Netns::path(format!("/var/run/netns/spss-missing-{}", std::process::id()));
    let ran = std::sync::atomic::AtomicBool::new(false);
    let res = with_session(&gone, &host.netns(), |_s| {
        let ran = &ran;
        async move {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        }
    });
    let err = res.expect_err("opening a missing namespace fails").to_string();
    assert!(err.contains("spss-missing"), "the error names the namespace: {err}");
    assert!(!ran.load(Ordering::SeqCst), "the closure never ran");
}

/// The session's host socket asks the kernel for the host rule table's
/// routes only (`NETLINK_GET_STRICT_CHK` + `RTA_TABLE`); the result is the
/// same as a complete dump filtered in user space, for IPv4 and IPv6, and a
/// table that does not exist (the kernel's `ENOENT`) is no routes, not an
/// error. DEL's reads: the pod's links and addresses only, and one host link
/// by name (absent = `None`).
#[test]
fn host_view_reads_only_the_host_rule_table_and_del_reads_one_host_link() {
    if !root() {
        return;
    }
    let pod = TestNs::new("spst", "p");
    let host = TestNs::new("spst", "h");
    host.ip(&["link", "add", "ens9", "type", "veth", "peer", "name", "net1", "netns", &pod.name]);
    host.ip(&["addr", "add", "10.6.0.10/16", "dev", "ens9"]);
    host.ip(&["addr", "add", "fd00:6::10/64", "dev", "ens9", "nodad"]);
    host.ip(&["link", "set", "ens9", "up"]);
    host.ip(&["link", "set", "ens9", "alias", "marked"]);
    for n in 0..50 {
        host.ip(&["route", "add", &format!("10.9.{n}.0/24"), "dev", "ens9", "table", "501"]);
    }
    host.ip(&["route", "add", "10.6.0.20/32", "dev", "ens9", "table", "500"]);
    host.ip(&["-6", "route", "add", "fd00:9::/64", "dev", "ens9", "table", "501"]);
    host.ip(&["-6", "route", "add", "fd00:6::20/128", "dev", "ens9", "table", "500"]);
    pod.ip(&["addr", "add", "10.6.0.20/16", "dev", "net1"]);
    pod.ip(&["link", "set", "net1", "up"]);
    pod.ip(&["route", "add", "10.8.0.0/16", "dev", "net1", "table", "100"]);

    let pod_ips = [ip("10.6.0.20")];
    let expected = |table: u32| {
        spiderpool_netlink::host::read_host_view(&host.netns(), &pod_ips, table).unwrap()
    };
    let (v500, v501, v777, pod_part, link, none) =
        with_session(&pod.netns(), &host.netns(), |s| async move {
            Ok((
                s.host_view(&pod_ips, 500).await?,
                s.host_view(&pod_ips, 501).await?,
                s.host_view(&pod_ips, 777).await?,
                s.pod_links_and_addresses().await?,
                s.host_link("ens9").await?,
                s.host_link("veth0123456789a").await?,
            ))
        })
        .unwrap();
    for (view, table, routes) in [(&v500, 500, 2), (&v501, 501, 51), (&v777, 777, 0)] {
        assert_eq!(
            view,
            &expected(table),
            "table {table}: the session's view is the filtered dump"
        );
        assert_eq!(view.routes.len(), routes, "table {table}: {:?}", view.routes);
        assert!(view.routes.iter().all(|r| r.table == table), "table {table}");
        assert!(view.links.iter().any(|l| l.name == "ens9"), "table {table}: links are whole");
    }
    assert!(v500.routes.iter().any(|r| r.dst == "fd00:6::20/128".parse().unwrap()), "IPv6 too");

    let full_pod = read_view(&pod.netns()).unwrap();
    assert_eq!(pod_part.links, full_pod.links);
    assert_eq!(pod_part.addresses, full_pod.addresses);
    assert!(pod_part.routes.is_empty() && pod_part.rules.is_empty(), "{pod_part:?}");
    assert!(full_pod.routes.iter().any(|r| r.table == 100), "the full view has the route");

    let link = link.expect("ens9 exists");
    assert_eq!(link.ifalias.as_deref(), Some("marked"), "{link:?}");
    assert!(link.mac.is_some() && link.index > 0, "{link:?}");
    assert_eq!(none, None, "a missing link is absent, not an error");
}
