//! Table tests, one per rule of reference §2.1: accepted and rejected cases,
//! asserting the status reason and each field error's exact path and type.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;
use crate::admission::common::{
    LABEL_IPPOOL_CIDR, LABEL_OWNER_APPLICATION_NAME, LABEL_OWNER_SPIDER_SUBNET, infer_ip_version,
};
use crate::admission::{
    ClusterSettings, Context, Existing, FieldErrorType as T, Operation, Rejection, StatusReason,
};
use crate::model::{
    FINALIZER, IPPoolSpec, IPPoolStatus, LabelSelector, LabelSelectorRequirement, OwnerReference,
    PoolIpAllocation, PoolIpAllocations, PoolIpPreAllocation, PoolIpPreAllocations, Route,
    SpiderIPPool, SpiderSubnet, SubnetSpec, SubnetStatus, render_controlled_ip_pools,
};

// ------------------------------------------------------------------ fixtures --

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A pool named `p` as mutation would leave it (ipVersion set).
fn pool(subnet: &str, ips: &[&str]) -> SpiderIPPool {
    named("p", subnet, ips)
}

fn named(name: &str, subnet: &str, ips: &[&str]) -> SpiderIPPool {
    SpiderIPPool::new(
        name,
        IPPoolSpec {
            ip_version: infer_ip_version(subnet),
            subnet: subnet.into(),
            ips: strs(ips),
            ..IPPoolSpec::default()
        },
    )
}

fn with(mut p: SpiderIPPool, f: impl FnOnce(&mut SpiderIPPool)) -> SpiderIPPool {
    f(&mut p);
    p
}

fn subnet_obj(name: &str, cidr: &str, ips: &[&str]) -> SpiderSubnet {
    SpiderSubnet::new(
        name,
        SubnetSpec {
            ip_version: infer_ip_version(cidr),
            subnet: cidr.into(),
            ips: strs(ips),
            ..SubnetSpec::default()
        },
    )
}

fn owned_by(p: &mut SpiderIPPool, subnet: &str) {
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: crate::model::API_VERSION.into(),
        kind: "SpiderSubnet".into(),
        name: subnet.into(),
        uid: "u".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
}

fn allocated(p: &mut SpiderIPPool, ips: &[&str]) {
    let mut m = PoolIpAllocations::new();
    for ip in ips {
        m.insert((*ip).into(), PoolIpAllocation::new(format!("default/pod-{ip}"), "uid"));
    }
    let mut status = IPPoolStatus::default();
    status.set_allocations(&m);
    p.status = Some(status);
}

fn sel(labels: &[(&str, &str)], exprs: &[(&str, &str, &[&str])]) -> LabelSelector {
    LabelSelector {
        match_labels: (!labels.is_empty())
            .then(|| labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        match_expressions: (!exprs.is_empty()).then(|| {
            exprs
                .iter()
                .map(|(k, op, vals)| LabelSelectorRequirement {
                    key: (*k).into(),
                    operator: (*op).into(),
                    values: (!vals.is_empty()).then(|| strs(vals)),
                })
                .collect()
        }),
    }
}

fn on() -> ClusterSettings {
    ClusterSettings::default()
}

fn subnet_on() -> ClusterSettings {
    ClusterSettings { enable_spider_subnet: true, ..ClusterSettings::default() }
}

fn run(
    op: Operation,
    new: Option<&SpiderIPPool>,
    old: Option<&SpiderIPPool>,
    settings: &ClusterSettings,
    existing: &Existing,
) -> Result<(), Rejection> {
    validate(op, new, old, &Context { settings, existing })
}

fn create(
    new: &SpiderIPPool,
    settings: &ClusterSettings,
    existing: &Existing,
) -> Result<(), Rejection> {
    run(Operation::Create, Some(new), None, settings, existing)
}

/// What a case expects.
#[derive(Debug)]
enum Want {
    Ok,
    /// `Invalid` with exactly these (field, type) pairs, in order.
    Invalid(&'static [(&'static str, T)]),
    Reason(StatusReason),
}

fn check(case: &str, got: Result<(), Rejection>, want: &Want) {
    match (want, got) {
        (Want::Ok, Ok(())) => {}
        (Want::Invalid(fields), Err(r)) => {
            assert_eq!(r.reason, StatusReason::Invalid, "{case}: {r}");
            let got: Vec<_> = r.causes.iter().map(|c| (c.field.as_str(), c.kind)).collect();
            assert_eq!(got, fields.to_vec(), "{case}: {r}");
            assert_eq!(r.kind, "SpiderIPPool");
        }
        (Want::Reason(reason), Err(r)) => assert_eq!(r.reason, *reason, "{case}: {r}"),
        (want, got) => panic!("{case}: want {want:?}, got {got:?}"),
    }
}

fn table(cases: Vec<(&str, SpiderIPPool, Want)>, settings: &ClusterSettings, existing: &Existing) {
    for (name, p, want) in cases {
        check(name, create(&p, settings, existing), &want);
    }
}

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

// -------------------------------------------------------------------- update --

#[test]
fn rule_update_immutable_fields() {
    let old = pool("10.6.0.0/16", &["10.6.0.1"]);
    let cases = vec![
        ("unchanged", old.clone(), Want::Ok),
        ("more ips", pool("10.6.0.0/16", &["10.6.0.1-10.6.0.9"]), Want::Ok),
        (
            "ipVersion",
            with(old.clone(), |p| p.spec.ip_version = Some(6)),
            Want::Invalid(&[("spec.ipVersion", T::Forbidden), ("spec.subnet", T::Invalid)]),
        ),
        ("subnet", pool("10.7.0.0/16", &[]), Want::Invalid(&[("spec.subnet", T::Forbidden)])),
    ];
    let existing = Existing { ippools: vec![old.clone()], ..Existing::default() };
    for (name, new, want) in cases {
        check(name, run(Operation::Update, Some(&new), Some(&old), &on(), &existing), &want);
    }
}

#[test]
fn rule_update_cannot_remove_allocated_ips() {
    let mut old = pool("10.6.0.0/16", &["10.6.0.1-10.6.0.10"]);
    allocated(&mut old, &["10.6.0.2", "10.6.0.9"]);
    let cases = vec![
        ("keeps them", pool("10.6.0.0/16", &["10.6.0.2-10.6.0.9"]), Want::Ok),
        (
            "removes one",
            pool("10.6.0.0/16", &["10.6.0.1-10.6.0.5"]),
            Want::Invalid(&[("spec.ips", T::Forbidden)]),
        ),
        (
            "excludes both",
            with(old.clone(), |p| p.spec.exclude_ips = strs(&["10.6.0.2", "10.6.0.9"])),
            Want::Invalid(&[("spec.ips", T::Forbidden), ("spec.ips", T::Forbidden)]),
        ),
    ];
    for (name, new, want) in cases {
        check(
            name,
            run(Operation::Update, Some(&new), Some(&old), &on(), &Existing::default()),
            &want,
        );
    }
    let e = run(
        Operation::Update,
        Some(&pool("10.6.0.0/16", &["10.6.0.1"])),
        Some(&old),
        &on(),
        &Existing::default(),
    )
    .unwrap_err();
    assert!(e.causes[0].message.starts_with(
        "remove an IP address 10.6.0.2 that is being used by Pod default/pod-10.6.0.2"
    ));
}

#[test]
fn rule_update_in_use_list_is_capped() {
    let mut old = pool("10.6.0.0/16", &["10.6.0.1-10.6.0.100"]);
    let ips: Vec<String> = (1..=50).map(|i| format!("10.6.0.{i}")).collect();
    allocated(&mut old, &ips.iter().map(String::as_str).collect::<Vec<_>>());
    let new = pool("10.6.0.0/16", &["10.6.0.200"]);
    let e =
        run(Operation::Update, Some(&new), Some(&old), &on(), &Existing::default()).unwrap_err();
    assert_eq!(e.causes.len(), crate::admission::common::MAX_LISTED_IPS_IN_USE + 1);
    assert!(e.causes.last().unwrap().message.starts_with("and 30 more"));
}

#[test]
fn rule_update_terminating_pool() {
    let old = pool("10.6.0.0/16", &["10.6.0.1"]);
    let terminating = |finalizer: bool| {
        with(pool("10.7.0.0/16", &["x"]), |p| {
            p.metadata.deletion_timestamp = Some("2024-01-01T00:00:00Z".into());
            if finalizer {
                p.metadata.finalizers = Some(vec![FINALIZER.into()]);
            }
        })
    };
    let cases = vec![
        ("with finalizer", terminating(true), Want::Reason(StatusReason::Forbidden)),
        ("finalizer removed", terminating(false), Want::Ok),
    ];
    for (name, new, want) in cases {
        check(
            name,
            run(Operation::Update, Some(&new), Some(&old), &on(), &Existing::default()),
            &want,
        );
    }
}

#[test]
fn rule_update_skips_itself_in_overlap_checks() {
    let old = pool("10.6.0.0/16", &["10.6.0.1-10.6.0.10"]);
    let existing = Existing { ippools: vec![old.clone()], ..Existing::default() };
    let new = pool("10.6.0.0/16", &["10.6.0.1-10.6.0.20"]);
    check("self", run(Operation::Update, Some(&new), Some(&old), &on(), &existing), &Want::Ok);
    check(
        "no old",
        run(Operation::Update, Some(&new), None, &on(), &existing),
        &Want::Reason(StatusReason::BadRequest),
    );
}

// -------------------------------------------------------------------- delete --

#[test]
fn rule_delete_protection() {
    let idle = pool("10.6.0.0/16", &["10.6.0.1"]);
    let busy = with(idle.clone(), |p| allocated(p, &["10.6.0.1"]));
    let count_only = with(idle.clone(), |p| {
        p.status = Some(IPPoolStatus { allocated_ip_count: Some(3), ..IPPoolStatus::default() });
    });
    let protect = ClusterSettings { enable_delete_webhook: true, ..on() };
    let none = Existing::default();
    check("webhook off", run(Operation::Delete, None, Some(&busy), &on(), &none), &Want::Ok);
    check("idle", run(Operation::Delete, None, Some(&idle), &protect, &none), &Want::Ok);
    check(
        "allocated",
        run(Operation::Delete, None, Some(&busy), &protect, &none),
        &Want::Reason(StatusReason::Forbidden),
    );
    check(
        "count only",
        run(Operation::Delete, None, Some(&count_only), &protect, &none),
        &Want::Reason(StatusReason::Forbidden),
    );
    let e = run(Operation::Delete, None, Some(&count_only), &protect, &none).unwrap_err();
    assert_eq!(e.message, "cannot delete an IPPool with allocated IPs(3)");
}

// -------------------------------------------------------------------- mutate --

fn mutated(p: SpiderIPPool, settings: &ClusterSettings, existing: &Existing) -> SpiderIPPool {
    let mut p = p;
    mutate(&mut p, Operation::Create, &Context { settings, existing }).unwrap();
    p
}

#[test]
fn mutate_defaults() {
    let raw = SpiderIPPool::new(
        "p",
        IPPoolSpec {
            subnet: "10.6.0.0/16".into(),
            ips: strs(&["10.6.0.9", "10.6.0.1-10.6.0.5", "10.6.0.6", "10.6.0.1"]),
            exclude_ips: strs(&["10.6.0.3", "10.6.0.2"]),
            ..IPPoolSpec::default()
        },
    );
    let p = mutated(raw, &on(), &Existing::default());
    assert_eq!(p.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    assert_eq!(p.spec.ip_version, Some(4));
    assert_eq!(p.metadata.label(LABEL_IPPOOL_CIDR), Some("10-6-0-0-16"));
    assert_eq!(p.spec.ips, strs(&["10.6.0.1-10.6.0.6", "10.6.0.9"]));
    assert_eq!(p.spec.exclude_ips, strs(&["10.6.0.2-10.6.0.3"]));
    let v6 = mutated(pool("fd00::/64", &[]), &on(), &Existing::default());
    assert_eq!(v6.metadata.label(LABEL_IPPOOL_CIDR), Some("fd00---64"));
}

#[test]
fn mutate_leaves_bad_and_terminating_objects() {
    let bad =
        with(pool("10.6.0.0/16", &["10.6.0.2", "oops", "10.6.0.1"]), |p| p.spec.ip_version = None);
    let bad = with(bad, |p| p.spec.subnet = "nonsense".into());
    let m = mutated(bad.clone(), &on(), &Existing::default());
    assert_eq!(m.spec.ip_version, None);
    assert_eq!(m.spec.ips, bad.spec.ips);
    assert_eq!(m.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    // A bad item keeps the list as written, so validation can name it.
    let m = mutated(pool("10.6.0.0/16", &["10.6.0.2", "oops"]), &on(), &Existing::default());
    assert_eq!(m.spec.ips, strs(&["10.6.0.2", "oops"]));
    let term = with(pool("10.6.0.0/16", &["10.6.0.2", "10.6.0.1"]), |p| {
        p.metadata.deletion_timestamp = Some("t".into());
    });
    assert_eq!(mutated(term.clone(), &on(), &Existing::default()), term);
}

#[test]
fn mutate_adopts_and_inherits_from_subnet() {
    let mut s = subnet_obj("s", "10.6.0.0/16", &["10.6.0.1-10.6.0.100"]);
    s.metadata.uid = Some("sub-uid".into());
    s.spec.gateway = Some("10.6.0.254".into());
    s.spec.routes = vec![Route::new("10.7.0.0/16", "10.6.0.254")];
    let existing =
        Existing { subnets: vec![s, subnet_obj("t", "10.8.0.0/16", &[])], ..Existing::default() };

    let p = mutated(pool("10.6.0.0/16", &["10.6.0.1"]), &subnet_on(), &existing);
    assert_eq!(p.metadata.label(LABEL_OWNER_SPIDER_SUBNET), Some("s"));
    assert_eq!(controller_subnet_name(&p), Some("s"));
    assert_eq!(p.metadata.owner_references.as_ref().unwrap()[0].uid, "sub-uid");
    assert_eq!(p.spec.gateway.as_deref(), Some("10.6.0.254"));
    assert_eq!(p.spec.routes, Some(vec![Route::new("10.7.0.0/16", "10.6.0.254")]));
    assert!(
        validate(
            Operation::Create,
            Some(&p),
            None,
            &Context { settings: &subnet_on(), existing: &existing }
        )
        .is_ok()
    );

    // Explicit gateway and an explicit empty route list are kept.
    let own = with(pool("10.6.0.0/16", &[]), |p| {
        p.spec.gateway = Some("10.6.0.1".into());
        p.spec.routes = Some(vec![]);
    });
    let p = mutated(own, &subnet_on(), &existing);
    assert_eq!(p.spec.gateway.as_deref(), Some("10.6.0.1"));
    assert_eq!(p.spec.routes, Some(vec![]));

    // Feature off: no adoption.
    let p = mutated(pool("10.6.0.0/16", &[]), &on(), &existing);
    assert_eq!(p.metadata.owner_references, None);
    assert_eq!(p.spec.gateway, None);

    // No subnet with that CIDR: nothing to adopt.
    let p = mutated(pool("10.9.0.0/16", &[]), &subnet_on(), &existing);
    assert_eq!(p.metadata.owner_references, None);

    // Controlled by something else: left alone, the rest still defaulted.
    let other = with(pool("10.6.0.0/16", &["10.6.0.2", "10.6.0.1"]), |p| {
        p.metadata.owner_references = Some(vec![OwnerReference {
            kind: "Deployment".into(),
            name: "d".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
    });
    let p = mutated(other, &subnet_on(), &existing);
    assert_eq!(p.metadata.owner_references.as_ref().unwrap().len(), 1);
    assert_eq!(p.metadata.label(LABEL_OWNER_SPIDER_SUBNET), None);
    assert_eq!(p.spec.ips, strs(&["10.6.0.1-10.6.0.2"]));

    // Already adopted and labelled: not touched again (gateway stays removed).
    let adopted = with(pool("10.6.0.0/16", &[]), |p| {
        owned_by(p, "s");
        p.metadata.labels = Some(BTreeMap::from([(LABEL_OWNER_SPIDER_SUBNET.into(), "s".into())]));
    });
    let p = mutated(adopted, &subnet_on(), &existing);
    assert_eq!(p.spec.gateway, None);
}
