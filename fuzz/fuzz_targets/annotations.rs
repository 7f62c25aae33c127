//! Every annotation parser (`spiderpool_core::annotation`).
//!
//! Input: UTF-8 text, used whole as the value of each annotation. For
//! `glob_match` it is split at the first `'\n'` into pattern and name.
//!
//! Run with: cargo fuzz run -s none --fuzz-dir fuzz annotations fuzz/seeds/annotations

#![no_main]

use spiderpool_core::annotation::{
    ANNO_NS_DEFAULT_IPV4_IPPOOL, ANNO_NS_DEFAULT_IPV6_IPPOOL, default_nic_name, glob_match,
    ippools_item_for_nic, ippools_nic_names, is_glob, multus_interface_names, nad_for_nic,
    nic_index_from_name, parse_default_network, parse_default_route_nic, parse_multus_networks,
    parse_namespace_default_pools, parse_pod_ippool, parse_pod_ippools, parse_routes,
    validate_ifname,
};
use spiderpool_core::ip::{cidr_contains, normalize_ip_or_cidr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };

    let _ = parse_pod_ippool(s);

    if let Ok(items) = parse_pod_ippools(s) {
        assert!(!items.is_empty(), "ippools: at least one item");
        let names = ippools_nic_names(&items);
        assert_eq!(names.len(), items.len());
        for (i, nic) in names.iter().enumerate() {
            let item = ippools_item_for_nic(&items, nic, None).expect("a listed NIC has an item");
            assert!(std::ptr::eq(item, &items[i]), "{nic} is item {i}");
            let _ = ippools_item_for_nic(&items, nic, Some(i));
        }
        for nic in ["eth0", "net1", "net99", ""] {
            let _ = ippools_item_for_nic(&items, nic, None);
            let _ = ippools_item_for_nic(&items, nic, Some(usize::MAX));
        }
    }

    if let Ok(routes) = parse_routes(s) {
        for r in routes {
            assert_eq!(r.dst, r.dst.trunc(), "route dst is canonical");
            assert_eq!(r.dst.addr().is_ipv4(), r.gw.is_ipv4(), "route families agree");
            assert_eq!(normalize_ip_or_cidr(&r.dst.to_string()), Ok(r.dst));
            let _ = cidr_contains(&r.dst, &r.gw);
        }
    }

    match parse_default_route_nic(s) {
        Ok(nic) => {
            assert_eq!(nic, s, "default-route-nic is taken verbatim");
            assert!(validate_ifname(s).is_ok());
        }
        Err(_) => assert!(validate_ifname(s).is_err()),
    }

    for key in [ANNO_NS_DEFAULT_IPV4_IPPOOL, ANNO_NS_DEFAULT_IPV6_IPPOOL] {
        let _ = parse_namespace_default_pools(key, s);
    }

    let default_network = parse_default_network(s);
    if let Ok((ns, name)) = &default_network {
        assert!(!name.is_empty(), "default network has a name");
        assert!(ns.as_deref() != Some(""), "a given namespace is not empty");
    }

    if let Ok(nets) = parse_multus_networks(s) {
        let names = multus_interface_names(&nets);
        assert_eq!(names.len(), nets.len());
        for (i, net) in nets.iter().enumerate() {
            assert!(!net.name.is_empty(), "network {i} has a name");
            if net.interface.is_none() {
                assert_eq!(names[i], format!("net{}", i + 1));
            }
        }
        for nic in names.iter().map(String::as_str).chain(["eth0", "0", "1", "net1", "net2"]) {
            let _ = nad_for_nic(Some(s), Some(s), &nets, nic, "pod-ns", "kube-system");
            let _ = nad_for_nic(None, Some(s), &nets, nic, "pod-ns", "kube-system");
            let found = nad_for_nic(None, None, &nets, nic, "pod-ns", "kube-system");
            if nic != "eth0" && nic != "0" {
                let found = found.expect("no default network to parse");
                if names.iter().any(|n| n == nic) {
                    assert!(found.is_some(), "{nic} is one of {names:?}");
                }
            }
        }
    }

    // The first NIC resolves through the default network exactly when it parses.
    let eth0 = nad_for_nic(Some(s), None, &[], "eth0", "pod-ns", "kube-system");
    if s.trim().is_empty() {
        assert_eq!(eth0, Ok(None));
    } else {
        assert_eq!(eth0.is_ok(), default_network.is_ok(), "{s:?}");
        if let (Ok(Some(nad)), Ok((ns, name))) = (&eth0, &default_network) {
            assert_eq!(&nad.name, name);
            assert_eq!(nad.namespace, ns.clone().unwrap_or_else(|| "kube-system".to_owned()));
        }
    }

    if let Some(i) = nic_index_from_name(s) {
        assert_eq!(default_nic_name(i), s, "nic index round trip");
    }

    let (pattern, name) = s.split_once('\n').unwrap_or((s, ""));
    let matched = glob_match(pattern, name);
    let _ = glob_match(name, pattern);
    let _ = is_glob(pattern);
    if !pattern.contains(['*', '?', '[', '\\']) {
        assert_eq!(matched, Ok(pattern == name), "a literal pattern {pattern:?} vs {name:?}");
    }
});
