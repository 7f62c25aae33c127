//! Table tests of SpiderReservedIP admission, one per rule, and properties.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::admission::{ClusterSettings, Existing, FieldErrorType, StatusReason};
use crate::ip::IpSet;
use crate::model::ReservedIPSpec;

fn rip(version: Option<i64>, ips: &[&str]) -> SpiderReservedIP {
    SpiderReservedIP::new(
        "r",
        ReservedIPSpec { ip_version: version, ips: ips.iter().map(|s| s.to_string()).collect() },
    )
}

fn settings(v4: bool, v6: bool) -> ClusterSettings {
    ClusterSettings { enable_ipv4: v4, enable_ipv6: v6, ..ClusterSettings::default() }
}

fn run_validate(
    op: Operation,
    new: Option<&SpiderReservedIP>,
    old: Option<&SpiderReservedIP>,
    s: &ClusterSettings,
) -> Result<(), Rejection> {
    let existing = Existing::default();
    validate(op, new, old, &Context { settings: s, existing: &existing })
}

fn run_mutate(obj: &mut SpiderReservedIP, op: Operation) -> Result<(), Rejection> {
    let (s, existing) = (ClusterSettings::default(), Existing::default());
    mutate(obj, op, &Context { settings: &s, existing: &existing })
}

/// The (field, type) pairs of a rejection.
fn causes(r: &Rejection) -> Vec<(String, FieldErrorType)> {
    r.causes.iter().map(|c| (c.field.clone(), c.kind)).collect()
}

#[test]
fn mutate_infers_version_and_merges() {
    // (input version, input ips, expected version, expected ips)
    type Case<'a> = (Option<i64>, &'a [&'a str], Option<i64>, &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (None, &["10.0.0.5", "10.0.0.1-10.0.0.4"], Some(4), &["10.0.0.1-10.0.0.5"]),
        (None, &["10.0.0.9", "10.0.0.1", "10.0.0.1"], Some(4), &["10.0.0.1", "10.0.0.9"]),
        (None, &["FD00::1-FD00::3", "fd00::2"], Some(6), &["fd00::1-fd00::3"]),
        (Some(4), &["10.0.0.2", "10.0.0.1"], Some(4), &["10.0.0.1-10.0.0.2"]),
        // A bad first entry: no version, nothing merged (validation reports it).
        (None, &["nonsense", "10.0.0.1"], None, &["nonsense", "10.0.0.1"]),
        // A bad later entry: version inferred, nothing merged.
        (None, &["10.0.0.2", "10.0.0.1-"], Some(4), &["10.0.0.2", "10.0.0.1-"]),
        // Family mismatch with the given version: left for validation.
        (Some(6), &["10.0.0.1"], Some(6), &["10.0.0.1"]),
        // Unsupported version: left alone.
        (Some(5), &["10.0.0.2", "10.0.0.1"], Some(5), &["10.0.0.2", "10.0.0.1"]),
    ];
    for (version, ips, want_version, want_ips) in cases {
        let mut r = rip(*version, ips);
        run_mutate(&mut r, Operation::Create).unwrap();
        assert_eq!(r.spec.ip_version, *want_version, "{ips:?}");
        assert_eq!(r.spec.ips, *want_ips, "{ips:?}");
    }
}

#[test]
fn mutate_rejects_empty_ips() {
    let mut r = rip(None, &[]);
    let err = run_mutate(&mut r, Operation::Create).unwrap_err();
    assert_eq!(err.reason, StatusReason::Invalid);
    assert_eq!(causes(&err), vec![("spec.ips".to_string(), FieldErrorType::Required)]);
    assert_eq!(
        err.to_string(),
        r#"SpiderReservedIP "r" is invalid: spec.ips: Required value: requires at least one item"#
    );
}

#[test]
fn mutate_leaves_terminating_and_deleted_objects() {
    let mut r = rip(None, &["10.0.0.2", "10.0.0.1"]);
    r.metadata.deletion_timestamp = Some("2025-01-01T00:00:00Z".into());
    let before = r.clone();
    run_mutate(&mut r, Operation::Update).unwrap();
    assert_eq!(r, before);
    let mut r = rip(None, &[]);
    run_mutate(&mut r, Operation::Delete).unwrap();
    assert_eq!(r, rip(None, &[]));
}

#[test]
fn validate_ip_version_rule() {
    // (version, ips, v4 enabled, v6 enabled, expected causes)
    type Case<'a> = (Option<i64>, &'a [&'a str], bool, bool, &'a [(&'a str, FieldErrorType)]);
    let cases: &[Case<'_>] = &[
        (Some(4), &["10.0.0.1"], true, true, &[]),
        (Some(6), &["fd00::1"], true, true, &[]),
        (Some(4), &["10.0.0.1"], true, false, &[]),
        (Some(6), &["fd00::1"], false, true, &[]),
        (None, &["10.0.0.1"], true, true, &[("spec.ipVersion", FieldErrorType::Required)]),
        (Some(5), &["10.0.0.1"], true, true, &[("spec.ipVersion", FieldErrorType::NotSupported)]),
        (Some(0), &["10.0.0.1"], true, true, &[("spec.ipVersion", FieldErrorType::NotSupported)]),
        (Some(4), &["10.0.0.1"], false, true, &[("spec.ipVersion", FieldErrorType::Forbidden)]),
        (Some(6), &["fd00::1"], true, false, &[("spec.ipVersion", FieldErrorType::Forbidden)]),
    ];
    for (version, ips, v4, v6, want) in cases {
        let r = rip(*version, ips);
        let got = run_validate(Operation::Create, Some(&r), None, &settings(*v4, *v6));
        match (got, want.is_empty()) {
            (Ok(()), true) => {}
            (Err(e), false) => {
                assert_eq!(e.reason, StatusReason::Invalid);
                let want: Vec<_> = want.iter().map(|(f, t)| (f.to_string(), *t)).collect();
                assert_eq!(causes(&e), want, "{version:?} {ips:?}");
            }
            (got, _) => panic!("{version:?} {ips:?} v4={v4} v6={v6}: {got:?}"),
        }
    }
    let err = run_validate(
        Operation::Create,
        Some(&rip(Some(4), &["10.0.0.1"])),
        None,
        &settings(false, true),
    )
    .unwrap_err();
    assert_eq!(err.causes[0].to_string(), "spec.ipVersion: Forbidden: IPv4 is disabled");
}

#[test]
fn validate_ips_rule() {
    // (version, ips, expected failing indexes)
    type Case<'a> = (Option<i64>, &'a [&'a str], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (Some(4), &["10.0.0.1", "10.0.0.3-10.0.0.9"], &[]),
        (Some(6), &["fd00::1-fd00::ff", "fd00::1:1"], &[]),
        (Some(4), &[], &["spec.ips"]),
        (Some(4), &["10.0.0.1", "fd00::1"], &["spec.ips[1]"]),
        (Some(6), &["10.0.0.1"], &["spec.ips[0]"]),
        (Some(4), &["10.0.0.9-10.0.0.1"], &["spec.ips[0]"]),
        (
            Some(4),
            &["10.0.0.1 - 10.0.0.9", "x", "10.0.0.1-fd00::1"],
            &["spec.ips[0]", "spec.ips[1]", "spec.ips[2]"],
        ),
        (Some(4), &["10.0.0.0/24"], &["spec.ips[0]"]),
        (Some(4), &["010.0.0.1"], &["spec.ips[0]"]),
        (Some(4), &[""], &["spec.ips[0]"]),
    ];
    for (version, ips, want) in cases {
        let r = rip(*version, ips);
        match run_validate(Operation::Create, Some(&r), None, &ClusterSettings::default()) {
            Ok(()) => assert!(want.is_empty(), "{ips:?} accepted"),
            Err(e) => {
                let fields: Vec<_> = e.causes.iter().map(|c| c.field.as_str()).collect();
                assert_eq!(fields, *want, "{ips:?}: {e}");
                for c in &e.causes {
                    let want_type = if c.field == "spec.ips" {
                        FieldErrorType::Required
                    } else {
                        FieldErrorType::Invalid
                    };
                    assert_eq!(c.kind, want_type, "{c}");
                }
            }
        }
    }
    let r = rip(Some(6), &["10.0.0.1"]);
    let err =
        run_validate(Operation::Create, Some(&r), None, &ClusterSettings::default()).unwrap_err();
    assert_eq!(
        err.causes[0].to_string(),
        r#"spec.ips[0]: Invalid value: "10.0.0.1": "10.0.0.1" is not IPv6"#
    );
}

#[test]
fn validate_without_version_still_reports_bad_entries() {
    let r = rip(None, &["bad"]);
    let err =
        run_validate(Operation::Create, Some(&r), None, &ClusterSettings::default()).unwrap_err();
    assert_eq!(
        causes(&err),
        vec![
            ("spec.ipVersion".to_string(), FieldErrorType::Required),
            ("spec.ips[0]".to_string(), FieldErrorType::Invalid),
        ]
    );
}

#[test]
fn validate_update_rules() {
    let s = ClusterSettings::default();
    let old = rip(Some(4), &["10.0.0.1"]);
    // Changing the IPs is fine.
    run_validate(Operation::Update, Some(&rip(Some(4), &["10.0.0.2"])), Some(&old), &s).unwrap();
    // Changing ipVersion is not, and the spec errors come too.
    let err = run_validate(Operation::Update, Some(&rip(Some(6), &["10.0.0.1"])), Some(&old), &s)
        .unwrap_err();
    assert_eq!(err.reason, StatusReason::Invalid);
    assert_eq!(
        causes(&err),
        vec![
            ("spec.ipVersion".to_string(), FieldErrorType::Forbidden),
            ("spec.ips[0]".to_string(), FieldErrorType::Invalid),
        ]
    );
    assert_eq!(err.causes[0].to_string(), "spec.ipVersion: Forbidden: field is immutable");

    // Starting the deletion is allowed; changing a terminating object is not.
    let mut terminating = rip(Some(4), &["10.0.0.9"]);
    terminating.metadata.deletion_timestamp = Some("2025-01-01T00:00:00Z".into());
    run_validate(Operation::Update, Some(&terminating), Some(&old), &s).unwrap();
    let err =
        run_validate(Operation::Update, Some(&terminating), Some(&terminating), &s).unwrap_err();
    assert_eq!(err.reason, StatusReason::Forbidden);
    assert!(err.to_string().contains("cannot update a terminating SpiderReservedIP"), "{err}");
}

#[test]
fn delete_is_always_allowed() {
    let s = settings(false, false);
    let bad = rip(None, &[]);
    run_validate(Operation::Delete, None, Some(&bad), &s).unwrap();
    run_validate(Operation::Delete, Some(&bad), Some(&bad), &s).unwrap();
}

fn v4_item() -> impl Strategy<Value = String> {
    (0u32..64, 0u32..8).prop_map(|(start, len)| {
        let a = std::net::Ipv4Addr::from(0x0a00_0000 + start);
        let b = std::net::Ipv4Addr::from(0x0a00_0000 + start + len);
        if len == 0 { a.to_string() } else { format!("{a}-{b}") }
    })
}

fn v6_item() -> impl Strategy<Value = String> {
    (0u128..64, 0u128..8).prop_map(|(start, len)| {
        let base = 0xfd00_u128 << 112;
        let a = std::net::Ipv6Addr::from(base + start);
        let b = std::net::Ipv6Addr::from(base + start + len);
        if len == 0 { a.to_string() } else { format!("{a}-{b}") }
    })
}

proptest! {
    /// Mutation is idempotent, its output passes validation, and the merged
    /// ranges are canonical and cover exactly the input set.
    #[test]
    fn mutate_is_idempotent_and_valid(
        ips in prop_oneof![
            proptest::collection::vec(v4_item(), 1..8),
            proptest::collection::vec(v6_item(), 1..8),
        ],
    ) {
        let mut r = rip(None, &ips.iter().map(String::as_str).collect::<Vec<_>>());
        run_mutate(&mut r, Operation::Create).unwrap();
        let once = r.clone();
        run_mutate(&mut r, Operation::Update).unwrap();
        prop_assert_eq!(&r, &once);
        prop_assert!(run_validate(Operation::Create, Some(&r), None, &ClusterSettings::default()).is_ok());
        let family = IpFamily::from_version(r.spec.ip_version.unwrap()).unwrap();
        let input = IpSet::parse_ranges(family, &ips).unwrap();
        let output = IpSet::parse_ranges(family, &r.spec.ips).unwrap();
        prop_assert_eq!(input.to_strings(), output.to_strings());
        prop_assert_eq!(output.to_strings(), r.spec.ips.clone());
    }

    /// Arbitrary text never panics mutate or validate.
    #[test]
    fn arbitrary_input_never_panics(
        version in proptest::option::of(-8i64..16),
        ips in proptest::collection::vec("[0-9a-f:.\\-/ ]{0,24}", 0..4),
    ) {
        let mut r = rip(version, &ips.iter().map(String::as_str).collect::<Vec<_>>());
        let _ = run_mutate(&mut r, Operation::Create);
        let _ = run_validate(Operation::Create, Some(&r), None, &ClusterSettings::default());
        let _ = run_validate(Operation::Update, Some(&r), Some(&rip(Some(4), &["10.0.0.1"])), &settings(false, false));
    }
}
