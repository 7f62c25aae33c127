//! UPDATE and DELETE rules of reference §2.1.

#![allow(clippy::unwrap_used)]

use super::*;

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
