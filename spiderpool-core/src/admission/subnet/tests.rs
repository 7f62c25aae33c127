//! Table tests, one per rule of reference §2.2: accepted and rejected cases,
//! asserting the status reason and each field error's exact path and type.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::*;
use crate::admission::common::{LABEL_SUBNET_CIDR, infer_ip_version};
use crate::admission::{ClusterSettings, Existing, FieldErrorType as T, StatusReason};
use crate::model::{
    FINALIZER, IPPoolSpec, PoolIpPreAllocation, PoolIpPreAllocations, Route, SpiderIPPool,
    SubnetSpec, SubnetStatus, render_controlled_ip_pools,
};

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn named(name: &str, cidr: &str, ips: &[&str]) -> SpiderSubnet {
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

fn subnet(cidr: &str, ips: &[&str]) -> SpiderSubnet {
    named("s", cidr, ips)
}

fn with(mut s: SpiderSubnet, f: impl FnOnce(&mut SpiderSubnet)) -> SpiderSubnet {
    f(&mut s);
    s
}

fn ippool(name: &str, cidr: &str, ips: &[&str]) -> SpiderIPPool {
    SpiderIPPool::new(
        name,
        IPPoolSpec {
            ip_version: infer_ip_version(cidr),
            subnet: cidr.into(),
            ips: strs(ips),
            ..IPPoolSpec::default()
        },
    )
}

fn controlling(mut s: SpiderSubnet, pools: &[(&str, &[&str])]) -> SpiderSubnet {
    let mut m = PoolIpPreAllocations::new();
    for (name, ips) in pools {
        m.insert((*name).into(), PoolIpPreAllocation { ips: strs(ips), application: None });
    }
    s.status = Some(SubnetStatus {
        controlled_ip_pools: render_controlled_ip_pools(&m),
        ..SubnetStatus::default()
    });
    s
}

fn feature_on() -> ClusterSettings {
    ClusterSettings { enable_spider_subnet: true, ..ClusterSettings::default() }
}

fn run(
    op: Operation,
    new: Option<&SpiderSubnet>,
    old: Option<&SpiderSubnet>,
    settings: &ClusterSettings,
    existing: &Existing,
) -> Result<(), Rejection> {
    validate(op, new, old, &Context { settings, existing })
}

#[derive(Debug)]
enum Want {
    Ok,
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
            assert_eq!(r.kind, "SpiderSubnet");
        }
        (Want::Reason(reason), Err(r)) => assert_eq!(r.reason, *reason, "{case}: {r}"),
        (want, got) => panic!("{case}: want {want:?}, got {got:?}"),
    }
}

fn table(cases: Vec<(&str, SpiderSubnet, Want)>, existing: &Existing) {
    for (name, s, want) in cases {
        check(name, run(Operation::Create, Some(&s), None, &feature_on(), existing), &want);
    }
}

#[test]
fn rule_feature_gate() {
    let none = Existing::default();
    let off = ClusterSettings::default();
    let s = subnet("10.6.0.0/16", &[]);
    let forbidden = Want::Reason(StatusReason::Forbidden);
    check("create off", run(Operation::Create, Some(&s), None, &off, &none), &forbidden);
    check("update off", run(Operation::Update, Some(&s), Some(&s), &off, &none), &forbidden);
    let dropping = with(s.clone(), |s| s.metadata.deletion_timestamp = Some("t".into()));
    check(
        "finalizer drop off",
        run(Operation::Update, Some(&dropping), Some(&s), &off, &none),
        &Want::Ok,
    );
    check("create on", run(Operation::Create, Some(&s), None, &feature_on(), &none), &Want::Ok);
    // Feature off: nothing is mutated either (Spiderpool serves no webhook).
    let mut m = subnet("10.6.0.0/16", &["10.6.0.2", "10.6.0.1"]);
    let before = m.clone();
    mutate(&mut m, Operation::Create, &Context { settings: &off, existing: &none }).unwrap();
    assert_eq!(m, before);
}

#[test]
fn rule_ip_version_and_subnet() {
    table(
        vec![
            ("v4", subnet("10.6.0.0/16", &[]), Want::Ok),
            ("v6", subnet("fd00::/64", &[]), Want::Ok),
            (
                "unset",
                with(subnet("10.6.0.0/16", &[]), |s| s.spec.ip_version = None),
                Want::Invalid(&[("spec.ipVersion", T::Invalid)]),
            ),
            (
                "7",
                with(subnet("10.6.0.0/16", &[]), |s| s.spec.ip_version = Some(7)),
                Want::Invalid(&[("spec.ipVersion", T::NotSupported)]),
            ),
            (
                "not canonical",
                subnet("10.6.0.1/16", &[]),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            (
                "wrong family",
                with(subnet("fd00::/64", &[]), |s| s.spec.ip_version = Some(4)),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
        ],
        &Existing::default(),
    );
    let v6_off = ClusterSettings { enable_ipv6: false, ..feature_on() };
    check(
        "v6 off",
        run(
            Operation::Create,
            Some(&subnet("fd00::/64", &[])),
            None,
            &v6_off,
            &Existing::default(),
        ),
        &Want::Invalid(&[("spec.ipVersion", T::Forbidden)]),
    );
}

#[test]
fn rule_unique_name_and_no_overlapping_subnets() {
    let existing =
        Existing { subnets: vec![named("a", "10.6.0.0/24", &[])], ..Existing::default() };
    table(
        vec![
            (
                "same name",
                named("a", "10.9.0.0/16", &[]),
                Want::Reason(StatusReason::AlreadyExists),
            ),
            (
                "identical cidr",
                subnet("10.6.0.0/24", &[]),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            (
                "containing",
                subnet("10.6.0.0/16", &[]),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            ("disjoint", subnet("10.7.0.0/16", &[]), Want::Ok),
            ("other family", subnet("fd00::/64", &[]), Want::Ok),
        ],
        &existing,
    );
}

#[test]
fn rule_existing_ippools() {
    let existing = Existing {
        ippools: vec![
            ippool("narrow", "10.6.0.0/24", &[]),
            ippool("same", "10.7.0.0/16", &["10.7.0.10-10.7.0.20"]),
        ],
        ..Existing::default()
    };
    table(
        vec![
            (
                "pool inside a different cidr",
                subnet("10.6.0.0/16", &[]),
                Want::Invalid(&[("spec.subnet", T::Invalid)]),
            ),
            ("same cidr, covers pool", subnet("10.7.0.0/16", &["10.7.0.1-10.7.0.100"]), Want::Ok),
            (
                "same cidr, misses pool IPs",
                subnet("10.7.0.0/16", &["10.7.0.1-10.7.0.15"]),
                Want::Invalid(&[("spec.ips", T::Invalid)]),
            ),
            (
                "same cidr, excludes pool IPs",
                with(subnet("10.7.0.0/16", &["10.7.0.1-10.7.0.100"]), |s| {
                    s.spec.exclude_ips = strs(&["10.7.0.12"]);
                }),
                Want::Invalid(&[("spec.ips", T::Invalid)]),
            ),
            ("unrelated", subnet("10.8.0.0/16", &[]), Want::Ok),
        ],
        &existing,
    );
}

#[test]
fn rule_ranges_gateway_and_routes() {
    table(
        vec![
            (
                "ips outside",
                subnet("10.6.0.0/16", &["10.6.0.1", "10.7.0.1"]),
                Want::Invalid(&[("spec.ips[1]", T::Invalid)]),
            ),
            (
                "exclude outside",
                with(subnet("10.6.0.0/16", &[]), |s| s.spec.exclude_ips = strs(&["10.7.0.1"])),
                Want::Invalid(&[("spec.excludeIPs[0]", T::Invalid)]),
            ),
            (
                "gateway in ips",
                with(subnet("10.6.0.0/16", &["10.6.0.1-10.6.0.9"]), |s| {
                    s.spec.gateway = Some("10.6.0.1".into());
                }),
                Want::Invalid(&[("spec.ips[0]", T::Invalid)]),
            ),
            (
                "gateway excluded",
                with(subnet("10.6.0.0/16", &["10.6.0.1-10.6.0.9"]), |s| {
                    s.spec.gateway = Some("10.6.0.1".into());
                    s.spec.exclude_ips = strs(&["10.6.0.1"]);
                }),
                Want::Ok,
            ),
            (
                "gateway outside",
                with(subnet("10.6.0.0/16", &[]), |s| s.spec.gateway = Some("10.7.0.1".into())),
                Want::Invalid(&[("spec.gateway", T::Invalid)]),
            ),
            (
                "routes",
                with(subnet("10.6.0.0/16", &[]), |s| {
                    s.spec.routes = vec![
                        Route::new("0.0.0.0/0", "10.6.0.1"),
                        Route::new("10.8.0.0/16", "10.6.0.1"),
                        Route::new("10.8.0.0/16", "10.9.0.1"),
                    ];
                }),
                Want::Invalid(&[
                    ("spec.routes[0].dst", T::Invalid),
                    ("spec.routes[2].dst", T::Duplicate),
                    ("spec.routes[2].gw", T::Invalid),
                ]),
            ),
        ],
        &Existing::default(),
    );
}

#[test]
fn rule_update() {
    let old = controlling(
        subnet("10.6.0.0/16", &["10.6.0.1-10.6.0.100"]),
        &[("p1", &["10.6.0.1-10.6.0.10"]), ("p2", &["10.6.0.50"])],
    );
    let existing = Existing { subnets: vec![old.clone()], ..Existing::default() };
    let cases = vec![
        ("unchanged (itself is skipped)", old.clone(), Want::Ok),
        ("grow", subnet("10.6.0.0/16", &["10.6.0.1-10.6.0.200"]), Want::Ok),
        (
            "subnet changed",
            subnet("10.7.0.0/16", &[]),
            // Its (empty) IPs no longer cover what the pools hold, either.
            Want::Invalid(&[
                ("spec.subnet", T::Forbidden),
                ("spec.ips", T::Forbidden),
                ("spec.ips", T::Forbidden),
            ]),
        ),
        (
            "ipVersion changed",
            with(old.clone(), |s| s.spec.ip_version = Some(6)),
            Want::Invalid(&[("spec.ipVersion", T::Forbidden), ("spec.subnet", T::Invalid)]),
        ),
        (
            "drops pre-allocated IPs",
            subnet("10.6.0.0/16", &["10.6.0.5-10.6.0.100"]),
            Want::Invalid(&[("spec.ips", T::Forbidden)]),
        ),
        (
            "excludes pre-allocated IPs of both pools",
            with(old.clone(), |s| s.spec.exclude_ips = strs(&["10.6.0.1", "10.6.0.50"])),
            Want::Invalid(&[("spec.ips", T::Forbidden), ("spec.ips", T::Forbidden)]),
        ),
        (
            "terminating with finalizer",
            with(old.clone(), |s| {
                s.metadata.deletion_timestamp = Some("t".into());
                s.metadata.finalizers = Some(vec![FINALIZER.into()]);
            }),
            Want::Reason(StatusReason::Forbidden),
        ),
        (
            "terminating without finalizer",
            with(old.clone(), |s| s.metadata.deletion_timestamp = Some("t".into())),
            Want::Ok,
        ),
    ];
    for (name, new, want) in cases {
        check(
            name,
            run(Operation::Update, Some(&new), Some(&old), &feature_on(), &existing),
            &want,
        );
    }
    let e = run(
        Operation::Update,
        Some(&subnet("10.6.0.0/16", &["10.6.0.5-10.6.0.100"])),
        Some(&old),
        &feature_on(),
        &existing,
    )
    .unwrap_err();
    assert!(
        e.causes[0].message.starts_with(
            "remove some IP ranges [10.6.0.1-10.6.0.4] that is being used by IPPool p1"
        )
    );
}

#[test]
fn rule_delete_protection() {
    let idle = subnet("10.6.0.0/16", &[]);
    let busy = with(idle.clone(), |s| {
        s.status = Some(SubnetStatus { allocated_ip_count: Some(2), ..SubnetStatus::default() });
    });
    let none = Existing::default();
    let protect = ClusterSettings { enable_delete_webhook: true, ..ClusterSettings::default() };
    check("off", run(Operation::Delete, None, Some(&busy), &feature_on(), &none), &Want::Ok);
    check("idle", run(Operation::Delete, None, Some(&idle), &protect, &none), &Want::Ok);
    check(
        "busy",
        run(Operation::Delete, None, Some(&busy), &protect, &none),
        &Want::Reason(StatusReason::Forbidden),
    );
    let e = run(Operation::Delete, None, Some(&busy), &protect, &none).unwrap_err();
    assert_eq!(e.message, "cannot delete a Subnet with allocated IPs(2)");
}

#[test]
fn mutate_defaults() {
    let mut s = SpiderSubnet::new(
        "s",
        SubnetSpec {
            subnet: "fd00::/64".into(),
            ips: strs(&["fd00::9", "fd00::1-fd00::8"]),
            exclude_ips: strs(&["fd00::3", "fd00::2"]),
            ..SubnetSpec::default()
        },
    );
    let none = Existing::default();
    let ctx = Context { settings: &feature_on(), existing: &none };
    mutate(&mut s, Operation::Create, &ctx).unwrap();
    assert_eq!(s.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    assert_eq!(s.spec.ip_version, Some(6));
    assert_eq!(s.metadata.label(LABEL_SUBNET_CIDR), Some("fd00---64"));
    assert_eq!(s.spec.ips, strs(&["fd00::1-fd00::9"]));
    assert_eq!(s.spec.exclude_ips, strs(&["fd00::2-fd00::3"]));
    let term = with(subnet("10.6.0.0/16", &["10.6.0.2", "10.6.0.1"]), |s| {
        s.metadata.deletion_timestamp = Some("t".into());
    });
    let mut m = term.clone();
    mutate(&mut m, Operation::Update, &ctx).unwrap();
    assert_eq!(m, term);
}

#[test]
fn huge_subnets_validate_instantly() {
    let start = Instant::now();
    let old = controlling(
        subnet("fd00::/64", &["fd00::-fd00::ffff:ffff:ffff:ffff"]),
        &[("p", &["fd00::1-fd00::ffff:ffff:ffff"])],
    );
    let new = subnet("fd00::/64", &["fd00::1:0:0:0-fd00::ffff:ffff:ffff:ffff"]);
    let existing = Existing {
        ippools: vec![ippool("p", "fd00::/64", &["fd00::1-fd00::ffff:ffff:ffff"])],
        ..Existing::default()
    };
    assert!(run(Operation::Update, Some(&new), Some(&old), &feature_on(), &existing).is_err());
    assert!(
        run(
            Operation::Create,
            Some(&named("n", "10.0.0.0/8", &["10.0.0.0-10.255.255.255"])),
            None,
            &feature_on(),
            &Existing::default()
        )
        .is_ok()
    );
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}
