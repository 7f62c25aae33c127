//! Table tests of SpiderCoordinator admission, one per rule, and properties.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::admission::{ClusterSettings, Existing, FieldErrorType, StatusReason};
use crate::model::Route;

type T = FieldErrorType;

/// A spec that is valid on a SpiderCoordinator.
fn base() -> CoordinatorSpec {
    CoordinatorSpec {
        pod_cidr_type: Some("calico".into()),
        pod_rp_filter: Some(0),
        ..Default::default()
    }
}

/// `(field, type)` of every error of `spec` validated at `spec`.
fn errors(spec: &CoordinatorSpec, required: bool) -> Vec<(String, FieldErrorType)> {
    validate_coordinator_spec(spec, "spec", required)
        .into_iter()
        .map(|e| (e.field, e.kind))
        .collect()
}

/// Runs one table: each case edits [`base`]; `want` is `None` for accepted or
/// the single expected `(field, type)`.
fn table(cases: Vec<(CoordinatorSpec, Option<(&str, FieldErrorType)>)>) {
    for (spec, want) in cases {
        let got = errors(&spec, true);
        let want: Vec<_> = want.iter().map(|(f, t)| (f.to_string(), *t)).collect();
        assert_eq!(got, want, "{spec:?}");
    }
}

#[test]
fn pod_cidr_type_rule() {
    let with = |t: Option<&str>| CoordinatorSpec { pod_cidr_type: t.map(Into::into), ..base() };
    let mut cases: Vec<_> = ["auto", "cluster", "calico", "cilium", "none"]
        .iter()
        .map(|t| (with(Some(t)), None))
        .collect();
    cases.push((with(None), Some(("spec.podCIDRType", T::Required))));
    cases.push((with(Some("flannel")), Some(("spec.podCIDRType", T::NotSupported))));
    cases.push((with(Some("")), Some(("spec.podCIDRType", T::NotSupported))));
    cases.push((with(Some("Calico")), Some(("spec.podCIDRType", T::NotSupported))));
    table(cases);
    // Optional in a SpiderMultusConfig's coordinator block.
    assert!(
        validate_coordinator_spec(&CoordinatorSpec::default(), "spec.coordinator", false)
            .is_empty()
    );
    let e = &validate_coordinator_spec(&with(Some("flannel")), "spec.coordinator", false)[0];
    assert_eq!(
        e.to_string(),
        r#"spec.coordinator.podCIDRType: Unsupported value: "flannel": supported values: "auto", "cluster", "calico", "cilium", "none""#
    );
}

#[test]
fn mode_rule() {
    let with = |m: &str| CoordinatorSpec { mode: Some(m.into()), ..base() };
    let mut cases: Vec<_> = ["auto", "underlay", "overlay", "disabled", "disable"]
        .iter()
        .map(|m| (with(m), None))
        .collect();
    for bad in ["", "Auto", "off", "underlay "] {
        cases.push((with(bad), Some(("spec.mode", T::NotSupported))));
    }
    table(cases);
}

#[test]
fn hijack_cidr_rule() {
    let with = |l: &[&str]| CoordinatorSpec {
        hijack_cidr: l.iter().map(|s| s.to_string()).collect(),
        ..base()
    };
    table(vec![
        (with(&["169.254.0.0/16", "10.0.0.1", "fd00::/64", "fd00::1", "10.1.2.3/8"]), None),
        (with(&["10.0.0.0/33"]), Some(("spec.hijackCIDR[0]", T::Invalid))),
        (with(&["10.0.0.0/8", "nonsense"]), Some(("spec.hijackCIDR[1]", T::Invalid))),
        (with(&["10.0.0.0/8", ""]), Some(("spec.hijackCIDR[1]", T::Invalid))),
        (with(&["fd00::/129"]), Some(("spec.hijackCIDR[0]", T::Invalid))),
    ]);
}

#[test]
fn policy_routes_rule() {
    let with = |dst: &str, gw: &str| CoordinatorSpec {
        policy_routes: vec![Route::new("10.9.0.0/16", "10.6.0.1"), Route::new(dst, gw)],
        ..base()
    };
    table(vec![
        (with("10.10.0.0/16", "10.6.0.254"), None),
        (with("10.10.0.1", "10.6.0.254"), None),
        (with("fd00::/64", "fd00::1"), None),
        (with("0.0.0.0/0", "10.6.0.1"), None),
        (with("10.10.0.0/16", "fd00::1"), Some(("spec.policyRoutes[1].gw", T::Invalid))),
        (with("fd00::/64", "10.6.0.1"), Some(("spec.policyRoutes[1].gw", T::Invalid))),
        (with("10.10.0.0/40", "10.6.0.1"), Some(("spec.policyRoutes[1].dst", T::Invalid))),
        (with("10.10.0.0/16", "10.6.0.1/24"), Some(("spec.policyRoutes[1].gw", T::Invalid))),
        (with("", "10.6.0.1"), Some(("spec.policyRoutes[1].dst", T::Required))),
        (with("10.10.0.0/16", ""), Some(("spec.policyRoutes[1].gw", T::Required))),
    ]);
    let e = &validate_coordinator_spec(&with("10.10.0.0/16", "fd00::1"), "spec", true)[0];
    assert_eq!(
        e.to_string(),
        r#"spec.policyRoutes[1].gw: Invalid value: "fd00::1": is IPv6 but dst 10.10.0.0/16 is IPv4"#
    );
}

#[test]
fn pod_mac_prefix_rule() {
    let with = |p: &str| CoordinatorSpec { pod_mac_prefix: Some(p.into()), ..base() };
    let mut cases: Vec<_> =
        ["", "0a:1b", "00:00", "FE:ff", "02:00", "ee:01"].iter().map(|p| (with(p), None)).collect();
    for bad in
        ["0a1b", "0a:1b:2c", "a:1b", "0a:1", "0g:1b", "0a-1b", "+a:1b", "0a:+b", " 0a:1b", "0a:"]
    {
        cases.push((with(bad), Some(("spec.podMACPrefix", T::Invalid))));
    }
    for multicast in ["01:00", "0b:1b", "ff:ff", "13:00"] {
        cases.push((with(multicast), Some(("spec.podMACPrefix", T::Invalid))));
    }
    table(cases);
    let e = &validate_coordinator_spec(&with("01:00"), "spec", true)[0];
    assert_eq!(
        e.to_string(),
        r#"spec.podMACPrefix: Invalid value: "01:00": not a unicast MAC: the lowest bit of the first byte must be 0"#
    );
}

#[test]
fn pod_default_route_nic_rule() {
    let with = |n: &str| CoordinatorSpec { pod_default_route_nic: Some(n.into()), ..base() };
    let mut cases: Vec<_> = ["", "eth0", "net1", "a.b-c_d", "123456789012345"]
        .iter()
        .map(|n| (with(n), None))
        .collect();
    for bad in ["1234567890123456", ".", "..", "a/b", "a:b", "a b", "eth0\n"] {
        cases.push((with(bad), Some(("spec.podDefaultRouteNIC", T::Invalid))));
    }
    table(cases);
}

#[test]
fn host_rule_table_rule() {
    let with = |t: i64| CoordinatorSpec { host_rule_table: Some(t), ..base() };
    let mut cases: Vec<_> =
        [1, 100, 252, 256, 500, 4_294_967_295].iter().map(|t| (with(*t), None)).collect();
    for bad in [0, -1, 253, 254, 255, 4_294_967_296, i64::MAX, i64::MIN] {
        cases.push((with(bad), Some(("spec.hostRuleTable", T::Invalid))));
    }
    table(cases);
}

#[test]
fn pod_rp_filter_rule() {
    let with = |f: Option<i64>| CoordinatorSpec { pod_rp_filter: f, ..base() };
    let mut cases: Vec<_> =
        [0, 1, 2, -1, -100, i64::MIN].iter().map(|f| (with(Some(*f)), None)).collect();
    for bad in [3, 100, i64::MAX] {
        cases.push((with(Some(bad)), Some(("spec.podRPFilter", T::NotSupported))));
    }
    // Absent after mutation never happens; without mutation it is required on a
    // SpiderCoordinator (Go's requireOptionalType) but not in an SMC.
    let mut spec = with(None);
    spec.pod_cidr_type = Some("auto".into());
    assert_eq!(errors(&spec, true), vec![("spec.podRPFilter".to_string(), T::Required)]);
    assert!(errors(&CoordinatorSpec::default(), false).is_empty());
    table(cases);
}

#[test]
fn tx_queue_len_rule() {
    let with = |n: i64| CoordinatorSpec { tx_queue_len: Some(n), ..base() };
    let mut cases: Vec<_> = [0, 1, 1000, 4_294_967_295].iter().map(|n| (with(*n), None)).collect();
    for bad in [-1, i64::MIN, 4_294_967_296] {
        cases.push((with(bad), Some(("spec.txQueueLen", T::Invalid))));
    }
    table(cases);
}

#[test]
fn veth_link_address_rule() {
    let with = |a: &str| CoordinatorSpec { veth_link_address: Some(a.into()), ..base() };
    let mut cases: Vec<_> = ["", "169.254.100.1", "169.254.0.0", "169.254.255.255"]
        .iter()
        .map(|a| (with(a), None))
        .collect();
    for bad in ["10.0.0.1", "169.255.0.1", "fe80::1", "not-an-ip", "169.254.100.1/32"] {
        cases.push((with(bad), Some(("spec.vethLinkAddress", T::Invalid))));
    }
    table(cases);
}

#[test]
fn veth_mtu_rule() {
    let with = |m: i64| CoordinatorSpec { veth_mtu: Some(m), ..base() };
    let mut cases: Vec<_> =
        [68, 1280, 1500, 9000, 65535].iter().map(|m| (with(*m), None)).collect();
    for bad in [0, -1, 1, 67, 65536, i64::MAX] {
        cases.push((with(bad), Some(("spec.vethMTU", T::Invalid))));
    }
    table(cases);
    assert_eq!(
        validate_coordinator_spec(&with(0), "spec", true)[0].to_string(),
        "spec.vethMTU: Invalid value: 0: must be greater than 0"
    );
}

#[test]
fn every_error_is_reported() {
    let spec = CoordinatorSpec {
        mode: Some("fast".into()),
        pod_cidr_type: None,
        hijack_cidr: vec!["x".into()],
        policy_routes: vec![Route::new("y", "z")],
        pod_mac_prefix: Some("01:00".into()),
        tune_pod_routes: None,
        pod_default_route_nic: Some("a/b".into()),
        host_rule_table: Some(254),
        pod_rp_filter: Some(7),
        tx_queue_len: Some(-1),
        veth_link_address: Some("10.0.0.1".into()),
        veth_mtu: Some(0),
    };
    let fields: Vec<_> = validate_coordinator_spec(&spec, "spec.coordinator", true)
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "spec.coordinator.mode",
            "spec.coordinator.podCIDRType",
            "spec.coordinator.hijackCIDR[0]",
            "spec.coordinator.policyRoutes[0].dst",
            "spec.coordinator.policyRoutes[0].gw",
            "spec.coordinator.podMACPrefix",
            "spec.coordinator.podDefaultRouteNIC",
            "spec.coordinator.hostRuleTable",
            "spec.coordinator.podRPFilter",
            "spec.coordinator.txQueueLen",
            "spec.coordinator.vethLinkAddress",
            "spec.coordinator.vethMTU",
        ]
    );
}

#[test]
fn defaults_fill_absent_fields_only() {
    let mut spec = CoordinatorSpec::default();
    default_coordinator_spec(&mut spec);
    assert_eq!(
        serde_json::to_value(&spec).unwrap(),
        serde_json::json!({
            "mode": "auto", "tunePodRoutes": true, "hostRuleTable": 500, "podRPFilter": 0,
            "txQueueLen": 0, "vethMTU": 1500, "podDefaultRouteNIC": "", "podMACPrefix": "",
            "vethLinkAddress": ""
        })
    );
    let mut spec = CoordinatorSpec {
        mode: Some("disable".into()),
        tune_pod_routes: Some(false),
        host_rule_table: Some(600),
        pod_rp_filter: Some(-1),
        tx_queue_len: Some(1000),
        veth_mtu: Some(9000),
        pod_default_route_nic: Some("net1".into()),
        pod_mac_prefix: Some("0a:1b".into()),
        veth_link_address: Some("169.254.100.1".into()),
        ..base()
    };
    let before = spec.clone();
    default_coordinator_spec(&mut spec);
    assert_eq!(spec, before);
}

#[test]
fn normalisation_table() {
    // (hijackCIDR or dst in, out)
    let cases = [
        ("10.0.0.1", "10.0.0.1/32"),
        ("fd00::1", "fd00::1/128"),
        ("FD00::1", "fd00::1/128"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("169.254.0.0/16", "169.254.0.0/16"),
        ("FD00:0::/64", "fd00::/64"),
        ("nonsense", "nonsense"),
    ];
    for (input, want) in cases {
        let mut spec = CoordinatorSpec {
            hijack_cidr: vec![input.into()],
            policy_routes: vec![Route::new(input, "10.6.0.1")],
            ..Default::default()
        };
        normalize_coordinator_spec(&mut spec);
        assert_eq!(spec.hijack_cidr, [want], "{input}");
        assert_eq!(spec.policy_routes[0].dst, want, "{input}");
        assert_eq!(spec.policy_routes[0].gw, "10.6.0.1");
    }
}

fn ctx_run<R>(f: impl FnOnce(&Context<'_>) -> R) -> R {
    let (s, existing) = (ClusterSettings::default(), Existing::default());
    f(&Context { settings: &s, existing: &existing })
}

#[test]
fn mutate_adds_defaults_and_finalizer() {
    let mut scc = SpiderCoordinator::new(
        "default",
        CoordinatorSpec { hijack_cidr: vec!["169.254.25.10".into()], ..base() },
    );
    ctx_run(|c| mutate(&mut scc, Operation::Create, c)).unwrap();
    assert_eq!(scc.metadata.finalizers, Some(vec![FINALIZER.to_string()]));
    assert_eq!(scc.spec.mode.as_deref(), Some("auto"));
    assert_eq!(scc.spec.hijack_cidr, ["169.254.25.10/32"]);
    // Idempotent: the finalizer is not added twice.
    let once = scc.clone();
    ctx_run(|c| mutate(&mut scc, Operation::Update, c)).unwrap();
    assert_eq!(scc, once);
    // podCIDRType is not defaulted.
    let mut scc = SpiderCoordinator::new("default", CoordinatorSpec::default());
    ctx_run(|c| mutate(&mut scc, Operation::Create, c)).unwrap();
    assert_eq!(scc.spec.pod_cidr_type, None);
}

#[test]
fn mutate_leaves_terminating_and_deleted_objects() {
    let mut scc = SpiderCoordinator::new("default", CoordinatorSpec::default());
    scc.metadata.deletion_timestamp = Some("2025-01-01T00:00:00Z".into());
    let before = scc.clone();
    ctx_run(|c| mutate(&mut scc, Operation::Update, c)).unwrap();
    assert_eq!(scc, before);
    let mut scc = SpiderCoordinator::new("default", CoordinatorSpec::default());
    ctx_run(|c| mutate(&mut scc, Operation::Delete, c)).unwrap();
    assert_eq!(scc, SpiderCoordinator::new("default", CoordinatorSpec::default()));
}

#[test]
fn validate_by_operation() {
    let good = SpiderCoordinator::new("default", base());
    let bad = SpiderCoordinator::new(
        "default",
        CoordinatorSpec { veth_mtu: Some(0), pod_rp_filter: Some(0), ..Default::default() },
    );
    for op in [Operation::Create, Operation::Update] {
        ctx_run(|c| validate(op, Some(&good), Some(&bad), c)).unwrap();
        let err = ctx_run(|c| validate(op, Some(&bad), Some(&good), c)).unwrap_err();
        assert_eq!(err.reason, StatusReason::Invalid);
        assert_eq!(err.kind, "SpiderCoordinator");
        let fields: Vec<_> = err.causes.iter().map(|e| (e.field.as_str(), e.kind)).collect();
        assert_eq!(fields, [("spec.podCIDRType", T::Required), ("spec.vethMTU", T::Invalid)]);
    }
    // No delete rule.
    ctx_run(|c| validate(Operation::Delete, None, Some(&bad), c)).unwrap();
}

fn cidr_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 4]>(), 0u8..=32)
            .prop_map(|(a, p)| format!("{}/{p}", std::net::Ipv4Addr::from(a))),
        any::<[u8; 4]>().prop_map(|a| std::net::Ipv4Addr::from(a).to_string()),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, p)| format!("{}/{p}", std::net::Ipv6Addr::from(a))),
        "[0-9a-fA-F:./]{0,20}",
    ]
}

fn spec_strategy() -> impl Strategy<Value = CoordinatorSpec> {
    let mode = proptest::option::of(proptest::sample::select(vec![
        "auto", "underlay", "overlay", "disabled", "disable", "bogus",
    ]));
    let cidr_type = proptest::option::of(proptest::sample::select(vec![
        "auto", "cluster", "calico", "cilium", "none", "x",
    ]));
    let small = || proptest::option::of(-3i64..2000);
    (
        (mode, cidr_type, proptest::collection::vec(cidr_text(), 0..3)),
        proptest::collection::vec((cidr_text(), "[0-9a-f:.]{0,16}"), 0..3),
        (proptest::option::of("[0-9a-fA-F:+ ]{0,6}"), proptest::option::of(any::<bool>())),
        (proptest::option::of("[a-z0-9./: ]{0,17}"), small(), small(), small(), small()),
        proptest::option::of(prop_oneof![Just("169.254.100.1".to_string()), "[0-9a-f:.]{0,16}"]),
    )
        .prop_map(
            |((mode, cidr_type, hijack), routes, (mac, tune), (nic, table, rp, txq, mtu), veth)| {
                CoordinatorSpec {
                    mode: mode.map(Into::into),
                    pod_cidr_type: cidr_type.map(Into::into),
                    hijack_cidr: hijack,
                    policy_routes: routes.into_iter().map(|(d, g)| Route::new(d, g)).collect(),
                    pod_mac_prefix: mac,
                    tune_pod_routes: tune,
                    pod_default_route_nic: nic,
                    host_rule_table: table,
                    pod_rp_filter: rp,
                    tx_queue_len: txq,
                    veth_link_address: veth,
                    veth_mtu: mtu,
                }
            },
        )
}

proptest! {
    /// Defaulting is idempotent, never adds an error, and removes the
    /// "required" ones except podCIDRType; nothing panics.
    #[test]
    fn defaulting_is_idempotent_and_only_helps(spec in spec_strategy()) {
        let before = validate_coordinator_spec(&spec, "spec", true);
        let mut once = spec.clone();
        default_coordinator_spec(&mut once);
        let mut twice = once.clone();
        default_coordinator_spec(&mut twice);
        prop_assert_eq!(&once, &twice);
        let after = validate_coordinator_spec(&once, "spec", true);
        for e in &after {
            prop_assert!(
                before.iter().any(|b| b.field == e.field),
                "defaulting introduced {}", e
            );
        }
        // A well-formed spec (no errors apart from what defaulting fills in)
        // passes after defaulting.
        if before.iter().all(|e| e.kind == FieldErrorType::Required && e.field == "spec.podRPFilter") {
            prop_assert!(after.is_empty(), "{:?}", after);
        }
    }
}

/// Each field check on its own: an absent value is never an error (except the
/// two required ones), and the error names the field under the given path.
#[test]
fn field_checks_name_their_field_under_the_path() {
    let at = "spec.coordinator";
    assert_eq!(mode_error(at, None), None);
    assert_eq!(host_rule_table_error(at, None), None);
    assert_eq!(tx_queue_len_error(at, None), None);
    assert_eq!(veth_mtu_error(at, None), None);
    assert_eq!(mac_prefix_error(at, Some("")), None);
    assert_eq!(default_route_nic_error(at, Some("")), None);
    assert_eq!(veth_link_address_error(at, Some("")), None);
    assert_eq!(pod_cidr_type_error(at, None, false), None);
    assert_eq!(pod_rp_filter_error(at, None, false), None);
    let field = |e: Option<FieldError>| e.map(|e| (e.field, e.kind));
    let f = |name: &str| format!("{at}.{name}");
    assert_eq!(field(mode_error(at, Some("fast"))), Some((f("mode"), T::NotSupported)));
    assert_eq!(field(pod_cidr_type_error(at, None, true)), Some((f("podCIDRType"), T::Required)));
    assert_eq!(field(pod_rp_filter_error(at, None, true)), Some((f("podRPFilter"), T::Required)));
    assert_eq!(field(host_rule_table_error(at, Some(254))), Some((f("hostRuleTable"), T::Invalid)));
    assert_eq!(field(tx_queue_len_error(at, Some(-1))), Some((f("txQueueLen"), T::Invalid)));
    assert_eq!(field(veth_mtu_error(at, Some(67))), Some((f("vethMTU"), T::Invalid)));
    assert_eq!(field(mac_prefix_error(at, Some("01:00"))), Some((f("podMACPrefix"), T::Invalid)));
    let nic = default_route_nic_error(at, Some("a/b"));
    assert_eq!(field(nic), Some((f("podDefaultRouteNIC"), T::Invalid)));
    let link = veth_link_address_error(at, Some("10.0.0.1"));
    assert_eq!(field(link), Some((f("vethLinkAddress"), T::Invalid)));
    let hijack = hijack_cidr_errors(at, &["10.0.0.0/8".into(), "x".into(), "fd00::1".into()]);
    let fields: Vec<_> = hijack.into_iter().map(|e| e.field).collect();
    assert_eq!(fields, [f("hijackCIDR[1]")]);
}
