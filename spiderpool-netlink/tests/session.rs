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
