//! CREATE rules of reference §2.1, one table test per rule.

#![allow(clippy::unwrap_used)]

use super::*;

// ---------------------------------------------------------------- validation --

#[test]
fn rule_ip_version_set_valid_and_enabled() {
    let none = Existing::default();
    table(
        vec![
            ("v4", pool("10.6.0.0/16", &[]), Want::Ok),
            ("v6", pool("fd00::/64", &[]), Want::Ok),
            (
                "unset",
                with(pool("10.6.0.0/16", &[]), |p| p.spec.ip_version = None),
                Want::Invalid(&[("spec.ipVersion", T::Invalid)]),
            ),
            (
                "unset, subnet not a CIDR",
                with(pool("10.6.0.0/16", &[]), |p| {
                    p.spec.ip_version = None;
                    p.spec.subnet = "10.6.0.0".into();
                }),
                Want::Invalid(&[("spec.ipVersion", T::Invalid), ("spec.subnet", T::Invalid)]),
            ),
            (
                "5",
                with(pool("10.6.0.0/16", &[]), |p| p.spec.ip_version = Some(5)),
                Want::Invalid(&[("spec.ipVersion", T::NotSupported)]),
            ),
        ],
        &on(),
        &none,
    );
    let v4_off = ClusterSettings { enable_ipv4: false, ..on() };
    let v6_off = ClusterSettings { enable_ipv6: false, ..on() };
    let forbidden = Want::Invalid(&[("spec.ipVersion", T::Forbidden)]);
    check("v4 off", create(&pool("10.6.0.0/16", &[]), &v4_off, &none), &forbidden);
    check("v6 off", create(&pool("fd00::/64", &[]), &v6_off, &none), &forbidden);
    check("v6 with v4 off", create(&pool("fd00::/64", &[]), &v4_off, &none), &Want::Ok);
}

#[test]
fn rule_subnet_canonical_cidr_of_the_family() {
    let bad = Want::Invalid(&[("spec.subnet", T::Invalid)]);
    table(
        vec![
            ("canonical", pool("172.18.40.0/24", &[]), Want::Ok),
            ("host bits", pool("172.18.40.1/24", &[]), bad),
            (
                "upper-case v6",
                pool("FD00::/64", &[]),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            (
                "wrong family",
                with(pool("fd00::/64", &[]), |p| p.spec.ip_version = Some(4)),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            (
                "not a cidr",
                with(pool("10.6.0.0/16", &[]), |p| p.spec.subnet = "10.6.0.0".into()),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            (
                "empty",
                with(pool("10.6.0.0/16", &[]), |p| p.spec.subnet.clear()),
                Want::Invalid(&[("spec.subnet", T::Required)]),
            ),
        ],
        &on(),
        &Existing::default(),
    );
}

#[test]
fn rule_same_name_already_exists() {
    let existing = Existing { ippools: vec![pool("fd00::/64", &[])], ..Existing::default() };
    table(
        vec![
            (
                "same name, other family",
                pool("10.6.0.0/16", &[]),
                Want::Reason(StatusReason::AlreadyExists),
            ),
            ("other name", named("q", "10.6.0.0/16", &[]), Want::Ok),
        ],
        &on(),
        &existing,
    );
}

#[test]
fn rule_different_overlapping_subnet_of_same_family() {
    let existing = Existing {
        ippools: vec![named("a", "10.6.0.0/24", &[]), named("b", "fd00::/64", &[])],
        ..Existing::default()
    };
    table(
        vec![
            (
                "contains other",
                pool("10.6.0.0/16", &[]),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            (
                "inside other",
                pool("10.6.0.128/25", &[]),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            ("identical subnet allowed", pool("10.6.0.0/24", &[]), Want::Ok),
            ("disjoint", pool("10.7.0.0/16", &[]), Want::Ok),
            ("v6 inside v6", pool("fd00::/96", &[]), Want::Invalid(&[("spec.subnet", T::Invalid)])),
        ],
        &on(),
        &existing,
    );
    let err = create(&pool("10.6.0.0/16", &[]), &on(), &existing).unwrap_err();
    assert_eq!(err.causes[0].message, "overlap with IPPool a which 'spec.subnet' is 10.6.0.0/24");
}

#[test]
fn rule_ips_and_exclude_ips_inside_subnet() {
    table(
        vec![
            ("inside", pool("10.6.0.0/16", &["10.6.0.1-10.6.0.9", "10.6.1.1"]), Want::Ok),
            (
                "ip outside",
                pool("10.6.0.0/16", &["10.6.0.1", "10.7.0.1"]),
                Want::Invalid(&[("spec.ips[1]", T::Invalid)]),
            ),
            (
                "range crossing the edge",
                pool("10.6.0.0/24", &["10.6.0.250-10.6.1.5"]),
                Want::Invalid(&[("spec.ips[0]", T::Invalid)]),
            ),
            (
                "reversed range",
                pool("10.6.0.0/16", &["10.6.0.9-10.6.0.1"]),
                Want::Invalid(&[("spec.ips[0]", T::Invalid)]),
            ),
            (
                "other family",
                pool("10.6.0.0/16", &["fd00::1"]),
                Want::Invalid(&[("spec.ips[0]", T::Invalid)]),
            ),
            (
                "exclude outside",
                with(pool("10.6.0.0/16", &["10.6.0.1"]), |p| {
                    p.spec.exclude_ips = strs(&["10.6.0.1", "192.168.0.1"]);
                }),
                Want::Invalid(&[("spec.excludeIPs[1]", T::Invalid)]),
            ),
        ],
        &on(),
        &Existing::default(),
    );
    let err = create(&pool("10.6.0.0/16", &["10.7.0.1"]), &on(), &Existing::default()).unwrap_err();
    assert_eq!(
        err.causes[0].to_string(),
        r#"spec.ips[0]: Invalid value: "10.7.0.1": not in subnet 10.6.0.0/16"#
    );
}

#[test]
fn rule_ranges_inside_ips_must_not_overlap() {
    table(
        vec![
            ("adjacent", pool("10.6.0.0/16", &["10.6.0.1-10.6.0.5", "10.6.0.6"]), Want::Ok),
            (
                "overlap",
                pool("10.6.0.0/16", &["10.6.0.1-10.6.0.5", "10.6.0.5-10.6.0.9"]),
                Want::Invalid(&[("spec.ips[1]", T::Invalid)]),
            ),
            (
                "duplicate single",
                pool("10.6.0.0/16", &["10.6.0.7", "10.6.0.1", "10.6.0.7"]),
                Want::Invalid(&[("spec.ips[2]", T::Invalid)]),
            ),
        ],
        &on(),
        &Existing::default(),
    );
}

#[test]
fn rule_usable_ips_overlap_pool_with_same_subnet() {
    let existing = Existing {
        ippools: vec![with(named("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"]), |p| {
            p.spec.exclude_ips = strs(&["10.6.0.5"]);
        })],
        ..Existing::default()
    };
    table(
        vec![
            ("disjoint", pool("10.6.0.0/16", &["10.6.0.11-10.6.0.20"]), Want::Ok),
            ("on their excluded IP", pool("10.6.0.0/16", &["10.6.0.5"]), Want::Ok),
            (
                "overlap",
                pool("10.6.0.0/16", &["10.6.0.9-10.6.0.20"]),
                Want::Invalid(&[("spec.ips", T::Forbidden)]),
            ),
            (
                "overlap excluded by us",
                with(pool("10.6.0.0/16", &["10.6.0.9-10.6.0.20"]), |p| {
                    p.spec.exclude_ips = strs(&["10.6.0.9-10.6.0.10"]);
                }),
                Want::Ok,
            ),
        ],
        &on(),
        &existing,
    );
    let err = create(&pool("10.6.0.0/16", &["10.6.0.4-10.6.0.6"]), &on(), &existing).unwrap_err();
    assert!(
        err.causes[0].message.starts_with("overlap with IPPool a in IP ranges [10.6.0.4 10.6.0.6]")
    );
}

#[test]
fn rule_gateway_inside_subnet_and_excluded_from_ips() {
    let gw = |ips: &[&str], exclude: &[&str], gw: &str| {
        with(pool("10.6.0.0/16", ips), |p| {
            p.spec.exclude_ips = strs(exclude);
            p.spec.gateway = Some(gw.into());
        })
    };
    table(
        vec![
            ("outside ips", gw(&["10.6.0.10-10.6.0.20"], &[], "10.6.0.1"), Want::Ok),
            (
                "in ips and excluded",
                gw(&["10.6.0.1-10.6.0.20"], &["10.6.0.1"], "10.6.0.1"),
                Want::Ok,
            ),
            (
                "in ips not excluded",
                gw(&["10.6.0.30", "10.6.0.1-10.6.0.20"], &[], "10.6.0.1"),
                Want::Invalid(&[("spec.ips[1]", T::Invalid)]),
            ),
            (
                "outside subnet",
                gw(&[], &[], "10.7.0.1"),
                Want::Invalid(&[("spec.gateway", T::Invalid)]),
            ),
            ("not an IP", gw(&[], &[], "10.6.0.x"), Want::Invalid(&[("spec.gateway", T::Invalid)])),
            (
                "other family",
                gw(&[], &[], "fd00::1"),
                Want::Invalid(&[("spec.gateway", T::Invalid)]),
            ),
        ],
        &on(),
        &Existing::default(),
    );
}

#[test]
fn rule_routes() {
    let routes = |r: &[(&str, &str)]| {
        with(pool("10.6.0.0/16", &[]), |p| {
            p.spec.routes = Some(r.iter().map(|(d, g)| Route::new(*d, *g)).collect());
        })
    };
    table(
        vec![
            ("good", routes(&[("10.7.0.0/16", "10.6.0.1"), ("10.8.0.0/16", "10.6.0.1")]), Want::Ok),
            ("empty list", routes(&[]), Want::Ok),
            (
                "default route",
                routes(&[("0.0.0.0/0", "10.6.0.1")]),
                Want::Invalid(&[("spec.routes[0].dst", T::Invalid)]),
            ),
            (
                "duplicate dst",
                routes(&[("10.7.0.0/16", "10.6.0.1"), ("10.7.0.0/16", "10.6.0.2")]),
                Want::Invalid(&[("spec.routes[1].dst", T::Duplicate)]),
            ),
            (
                "duplicate network written differently",
                routes(&[("10.7.0.0/16", "10.6.0.1"), ("10.7.0.1/16", "10.6.0.2")]),
                Want::Invalid(&[("spec.routes[1].dst", T::Duplicate)]),
            ),
            (
                "dst of other family",
                routes(&[("fd00::/64", "10.6.0.1")]),
                Want::Invalid(&[("spec.routes[0].dst", T::Invalid)]),
            ),
            (
                "dst not a CIDR",
                routes(&[("10.7.0.1", "10.6.0.1")]),
                Want::Invalid(&[("spec.routes[0].dst", T::Invalid)]),
            ),
            (
                "gw outside subnet",
                routes(&[("10.7.0.0/16", "10.7.0.1")]),
                Want::Invalid(&[("spec.routes[0].gw", T::Invalid)]),
            ),
            (
                "both fields bad",
                routes(&[("x", "y")]),
                Want::Invalid(&[
                    ("spec.routes[0].dst", T::Invalid),
                    ("spec.routes[0].gw", T::Invalid),
                ]),
            ),
        ],
        &on(),
        &Existing::default(),
    );
    let v6 =
        with(pool("fd00::/64", &[]), |p| p.spec.routes = Some(vec![Route::new("::/0", "fd00::1")]));
    check(
        "v6 default route",
        create(&v6, &on(), &Existing::default()),
        &Want::Invalid(&[("spec.routes[0].dst", T::Invalid)]),
    );
}

#[test]
fn rule_affinity_selectors() {
    let aff = |f: fn(&mut SpiderIPPool)| with(pool("10.6.0.0/16", &[]), f);
    table(
        vec![
            (
                "pod affinity",
                aff(|p| p.spec.pod_affinity = Some(sel(&[("app", "web")], &[]))),
                Want::Ok,
            ),
            (
                "empty pod affinity",
                aff(|p| p.spec.pod_affinity = Some(LabelSelector::default())),
                Want::Invalid(&[("spec.podAffinity", T::Invalid)]),
            ),
            (
                "bad operator",
                aff(|p| p.spec.pod_affinity = Some(sel(&[], &[("app", "Is", &["x"])]))),
                Want::Invalid(&[("spec.podAffinity.matchExpressions[0].operator", T::Invalid)]),
            ),
            (
                "bad node label key",
                aff(|p| p.spec.node_affinity = Some(sel(&[("-bad", "x")], &[]))),
                Want::Invalid(&[("spec.nodeAffinity.matchLabels", T::Invalid)]),
            ),
            (
                "bad namespace label value",
                aff(|p| p.spec.namespace_affinity = Some(sel(&[("team", "a b")], &[]))),
                Want::Invalid(&[("spec.namespaceAffinity.matchLabels[team]", T::Invalid)]),
            ),
            (
                "empty node affinity is fine",
                aff(|p| p.spec.node_affinity = Some(LabelSelector::default())),
                Want::Ok,
            ),
        ],
        &on(),
        &Existing::default(),
    );
}

#[test]
fn rule_auto_created_pool_pod_affinity() {
    let auto = |s: LabelSelector| {
        with(pool("10.6.0.0/16", &[]), |p| {
            p.metadata.labels =
                Some(BTreeMap::from([(LABEL_OWNER_APPLICATION_NAME.into(), "web".into())]));
            p.spec.pod_affinity = Some(s);
        })
    };
    table(
        vec![
            ("app labels", auto(sel(&[("ipam.spidernet.io/app-name", "web")], &[])), Want::Ok),
            (
                "extra label",
                auto(sel(&[("ipam.spidernet.io/app-name", "web"), ("x", "y")], &[])),
                Want::Invalid(&[("spec.podAffinity.matchLabels", T::Invalid)]),
            ),
            (
                "expressions",
                auto(sel(&[], &[("x", "Exists", &[])])),
                Want::Invalid(&[("spec.podAffinity.matchExpressions", T::Invalid)]),
            ),
        ],
        &on(),
        &Existing::default(),
    );
}

#[test]
fn rule_ips_within_controller_subnet() {
    let existing = Existing {
        subnets: vec![with_subnet_record(
            subnet_obj("s", "10.6.0.0/16", &["10.6.0.1-10.6.0.100"]),
            "auto",
            &["10.6.0.1-10.6.0.5"],
        )],
        ..Existing::default()
    };
    let owned = |name: &str, ips: &[&str], owner: &str| {
        with(named(name, "10.6.0.0/16", ips), |p| owned_by(p, owner))
    };
    let auto = |ips: &[&str]| {
        with(owned("auto", ips, "s"), |p| {
            p.metadata.labels =
                Some(BTreeMap::from([(LABEL_OWNER_APPLICATION_NAME.into(), "web".into())]));
        })
    };
    table(
        vec![
            ("inside", owned("p", &["10.6.0.1-10.6.0.100"], "s"), Want::Ok),
            ("empty pool", owned("p", &[], "s"), Want::Ok),
            ("orphan", named("p", "10.6.0.0/16", &["10.6.0.200"]), Want::Ok),
            (
                "outside",
                owned("p", &["10.6.0.90-10.6.0.110"], "s"),
                Want::Invalid(&[("spec.ips", T::Forbidden)]),
            ),
            (
                "missing subnet",
                owned("p", &["10.6.0.1"], "gone"),
                Want::Invalid(&[("metadata.ownerReferences", T::Invalid)]),
            ),
            ("auto pool as recorded", auto(&["10.6.0.1-10.6.0.5"]), Want::Ok),
            (
                "auto pool differs",
                auto(&["10.6.0.1-10.6.0.6"]),
                Want::Invalid(&[("spec.ips", T::Forbidden)]),
            ),
        ],
        &subnet_on(),
        &existing,
    );
    // With the feature off the subnet is not consulted.
    check("feature off", create(&owned("p", &["10.6.0.200"], "s"), &on(), &existing), &Want::Ok);
}

fn with_subnet_record(mut s: SpiderSubnet, pool: &str, ips: &[&str]) -> SpiderSubnet {
    let mut m = PoolIpPreAllocations::new();
    m.insert(pool.into(), PoolIpPreAllocation { ips: strs(ips), application: None });
    s.status = Some(SubnetStatus {
        controlled_ip_pools: render_controlled_ip_pools(&m),
        ..SubnetStatus::default()
    });
    s
}

#[test]
fn rule_all_field_errors_are_collected() {
    let p = with(pool("10.6.0.0/16", &["10.7.0.1", "10.6.0.1"]), |p| {
        p.spec.exclude_ips = strs(&["10.8.0.1"]);
        p.spec.gateway = Some("10.9.0.1".into());
        p.spec.routes = Some(vec![Route::new("0.0.0.0/0", "10.6.0.1")]);
        p.spec.pod_affinity = Some(LabelSelector::default());
    });
    check(
        "many",
        create(&p, &on(), &Existing::default()),
        &Want::Invalid(&[
            ("spec.podAffinity", T::Invalid),
            ("spec.ips[0]", T::Invalid),
            ("spec.excludeIPs[0]", T::Invalid),
            ("spec.gateway", T::Invalid),
            ("spec.routes[0].dst", T::Invalid),
        ]),
    );
}

#[test]
fn huge_ranges_validate_instantly() {
    let start = Instant::now();
    let v4 = with(pool("10.0.0.0/8", &["10.0.0.1-10.255.255.254"]), |p| {
        p.spec.exclude_ips = strs(&["10.0.0.1-10.0.0.9"]);
        p.spec.gateway = Some("10.0.0.1".into());
    });
    let v6 = pool("fd00::/64", &["fd00::1-fd00::ffff:ffff:ffff:ffff"]);
    let existing = Existing {
        ippools: vec![
            named("big4", "10.0.0.0/8", &["10.128.0.0-10.200.0.0"]),
            named("big6", "fd00::/64", &["fd00::8000:0:0:0-fd00::ffff:0:0:0"]),
        ],
        ..Existing::default()
    };
    assert!(create(&v4, &on(), &existing).is_err());
    assert!(create(&v6, &on(), &existing).is_err());
    let mut old = v6.clone();
    allocated(&mut old, &["fd00::5", "fd00::ffff:ffff:ffff:fffe"]);
    let new = with(v6.clone(), |p| p.spec.ips = strs(&["fd00::1-fd00::7fff:ffff:ffff:ffff"]));
    let e =
        run(Operation::Update, Some(&new), Some(&old), &on(), &Existing::default()).unwrap_err();
    assert_eq!(e.causes.len(), 1);
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}
