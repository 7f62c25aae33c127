//! One table per `spec` rule: accepted and rejected cases, with the exact field
//! path and error type.

use serde_json::json;

use super::*;
use FieldErrorType as T;

#[test]
fn cni_type_is_supported() {
    table(&[
        ("macvlan", smc(macvlan()), &[]),
        ("absent means custom", smc(json!({})), &[]),
        ("custom", smc(json!({"cniType": "custom"})), &[]),
        ("unknown", smc(json!({"cniType": "calico"})), &[("spec.cniType", T::NotSupported)]),
        ("wrong case", smc(json!({"cniType": "Macvlan"})), &[("spec.cniType", T::NotSupported)]),
    ]);
}

#[test]
fn only_the_section_of_the_cni_type() {
    table(&[
        ("missing section", smc(json!({"cniType": "macvlan"})), &[("spec.macvlan", T::Required)]),
        ("missing ibsriov", smc(json!({"cniType": "ib-sriov"})), &[("spec.ibsriov", T::Required)]),
        (
            "other section too",
            smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}, "sriov": {}})),
            &[("spec.sriov", T::Forbidden)],
        ),
        (
            "custom with a section",
            smc(json!({"cniType": "custom", "ipvlan": {"master": ["a"]}})),
            &[("spec.ipvlan", T::Forbidden)],
        ),
        (
            "customCNI on macvlan",
            smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}, "customCNI": "{}"})),
            &[("spec.customCNI", T::Forbidden)],
        ),
        (
            "empty customCNI on macvlan",
            smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"]}, "customCNI": ""})),
            &[],
        ),
    ]);
}

#[test]
fn vlan_id_in_range() {
    let mac =
        |id: i64| smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"], "vlanID": id}}));
    let ipv =
        |id: i64| smc(json!({"cniType": "ipvlan", "ipvlan": {"master": ["a"], "vlanID": id}}));
    let vl = |id: i64| smc(json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanID": id}}));
    let sr =
        |id: i64| smc(json!({"cniType": "sriov", "sriov": {"resourceName": "r", "vlanID": id}}));
    let ovs = |id: i64| smc(json!({"cniType": "ovs", "ovs": {"bridge": "br1", "vlan": id}}));
    table(&[
        ("macvlan 0", mac(0), &[]),
        ("macvlan 4094", mac(4094), &[]),
        ("macvlan 4095", mac(4095), &[("spec.macvlan.vlanID", T::Invalid)]),
        ("macvlan -1", mac(-1), &[("spec.macvlan.vlanID", T::Invalid)]),
        ("ipvlan 100", ipv(100), &[]),
        ("ipvlan 5000", ipv(5000), &[("spec.ipvlan.vlanID", T::Invalid)]),
        ("vlan 4094", vl(4094), &[]),
        ("vlan 4095", vl(4095), &[("spec.vlan.vlanID", T::Invalid)]),
        ("sriov 7", sr(7), &[]),
        ("sriov -2", sr(-2), &[("spec.sriov.vlanID", T::Invalid)]),
        ("ovs 10", ovs(10), &[]),
        ("ovs 4096", ovs(4096), &[("spec.ovs.vlan", T::Invalid)]),
    ]);
}

#[test]
fn mtu_not_negative() {
    table(&[
        (
            "macvlan 0",
            smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"], "mtu": 0}})),
            &[],
        ),
        (
            "macvlan -1",
            smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"], "mtu": -1}})),
            &[("spec.macvlan.mtu", T::Invalid)],
        ),
        (
            "ipvlan -5",
            smc(json!({"cniType": "ipvlan", "ipvlan": {"master": ["a"], "mtu": -5}})),
            &[("spec.ipvlan.mtu", T::Invalid)],
        ),
        (
            "vlan -1",
            smc(json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanID": 1, "mtu": -1}})),
            &[("spec.vlan.mtu", T::Invalid)],
        ),
        (
            "sriov 9000",
            smc(json!({"cniType": "sriov", "sriov": {"resourceName": "r", "mtu": 9000}})),
            &[],
        ),
        (
            "sriov -1",
            smc(json!({"cniType": "sriov", "sriov": {"resourceName": "r", "mtu": -1}})),
            &[("spec.sriov.mtu", T::Invalid)],
        ),
    ]);
}

#[test]
fn match_master_subnet_only_for_sriov() {
    let pools = json!({"matchMasterSubnet": true, "ipv4": ["v4"]});
    table(&[
        (
            "sriov",
            smc(json!({"cniType": "sriov", "sriov": {"resourceName": "r", "ippools": pools}})),
            &[],
        ),
        (
            "macvlan false",
            smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"],
                "ippools": {"matchMasterSubnet": false}}})),
            &[],
        ),
        (
            "macvlan",
            smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"], "ippools": pools}})),
            &[("spec.macvlan.ippools.matchMasterSubnet", T::Invalid)],
        ),
        (
            "ipvlan",
            smc(json!({"cniType": "ipvlan", "ipvlan": {"master": ["a"], "ippools": pools}})),
            &[("spec.ipvlan.ippools.matchMasterSubnet", T::Invalid)],
        ),
        (
            "vlan",
            smc(
                json!({"cniType": "vlan", "vlan": {"master": ["a"], "vlanID": 1, "ippools": pools}}),
            ),
            &[("spec.vlan.ippools.matchMasterSubnet", T::Invalid)],
        ),
        (
            "ovs",
            smc(json!({"cniType": "ovs", "ovs": {"bridge": "b", "ippools": pools}})),
            &[("spec.ovs.ippools.matchMasterSubnet", T::Invalid)],
        ),
    ]);
}

#[test]
fn masters_and_bond() {
    let mac = |section: serde_json::Value| smc(json!({"cniType": "macvlan", "macvlan": section}));
    let bond = |name: &str, mode: i64| json!({"name": name, "mode": mode});
    table(&[
        ("one master", mac(json!({"master": ["ens192"]})), &[]),
        ("no master", mac(json!({"master": []})), &[("spec.macvlan.master", T::Required)]),
        ("master absent", mac(json!({})), &[("spec.macvlan.master", T::Required)]),
        (
            "empty name",
            mac(json!({"master": ["a", ""], "bond": bond("bond0", 1)})),
            &[("spec.macvlan.master[1]", T::Invalid)],
        ),
        (
            "16 characters",
            mac(json!({"master": ["abcdefghijklmnop"]})),
            &[("spec.macvlan.master[0]", T::Invalid)],
        ),
        ("slash", mac(json!({"master": ["a/b"]})), &[("spec.macvlan.master[0]", T::Invalid)]),
        ("15 characters", mac(json!({"master": ["abcdefghijklmno"]})), &[]),
        (
            "duplicate",
            mac(json!({"master": ["a", "b", "a"], "bond": bond("bond0", 1)})),
            &[("spec.macvlan.master[2]", T::Duplicate)],
        ),
        (
            "two without bond",
            mac(json!({"master": ["a", "b"]})),
            &[("spec.macvlan.bond", T::Required)],
        ),
        ("two with bond", mac(json!({"master": ["a", "b"], "bond": bond("bond0", 1)})), &[]),
        (
            "bond without name",
            mac(json!({"master": ["a", "b"], "bond": bond("", 1)})),
            &[("spec.macvlan.bond.name", T::Required)],
        ),
        (
            "bond mode 7",
            mac(json!({"master": ["a", "b"], "bond": bond("bond0", 7)})),
            &[("spec.macvlan.bond.mode", T::Invalid)],
        ),
        (
            "bond mode -1",
            mac(json!({"master": ["a", "b"], "bond": bond("bond0", -1)})),
            &[("spec.macvlan.bond.mode", T::Invalid)],
        ),
        ("bond mode 6", mac(json!({"master": ["a", "b"], "bond": bond("bond0", 6)})), &[]),
        (
            "ipvlan two without bond",
            smc(json!({"cniType": "ipvlan", "ipvlan": {"master": ["a", "b"]}})),
            &[("spec.ipvlan.bond", T::Required)],
        ),
        (
            "vlan without master",
            smc(json!({"cniType": "vlan", "vlan": {"master": [], "vlanID": 1}})),
            &[("spec.vlan.master", T::Required)],
        ),
    ]);
}

#[test]
fn vlan_mode_and_vlan_id() {
    let vl = |section: serde_json::Value| smc(json!({"cniType": "vlan", "vlan": section}));
    table(&[
        ("manual with id", vl(json!({"master": ["a"], "vlanMode": "manual", "vlanID": 100})), &[]),
        ("default mode with id", vl(json!({"master": ["a"], "vlanID": 100})), &[]),
        ("auto without id", vl(json!({"master": ["a"], "vlanMode": "auto"})), &[]),
        (
            "manual without id",
            vl(json!({"master": ["a"], "vlanMode": "manual"})),
            &[("spec.vlan.vlanID", T::Required)],
        ),
        (
            "auto with id",
            vl(json!({"master": ["a"], "vlanMode": "auto", "vlanID": 5})),
            &[("spec.vlan.vlanID", T::Forbidden)],
        ),
        (
            "unknown mode",
            vl(json!({"master": ["a"], "vlanMode": "dynamic", "vlanID": 5})),
            &[("spec.vlan.vlanMode", T::NotSupported)],
        ),
    ]);
}

#[test]
fn sriov_resource_name_and_rates() {
    let sr = |section: serde_json::Value| smc(json!({"cniType": "sriov", "sriov": section}));
    table(&[
        ("resource", sr(json!({"resourceName": "spidernet.io/sriov"})), &[]),
        ("no resource", sr(json!({})), &[("spec.sriov.resourceName", T::Required)]),
        (
            "empty resource",
            sr(json!({"resourceName": ""})),
            &[("spec.sriov.resourceName", T::Required)],
        ),
        (
            "min <= max",
            sr(json!({"resourceName": "r", "minTxRateMbps": 100, "maxTxRateMbps": 100})),
            &[],
        ),
        (
            "min > max",
            sr(json!({"resourceName": "r", "minTxRateMbps": 200, "maxTxRateMbps": 100})),
            &[("spec.sriov.minTxRateMbps", T::Invalid)],
        ),
        (
            "max 0 is no limit",
            sr(json!({"resourceName": "r", "minTxRateMbps": 200, "maxTxRateMbps": 0})),
            &[],
        ),
        (
            "negative max",
            sr(json!({"resourceName": "r", "maxTxRateMbps": -1})),
            &[("spec.sriov.maxTxRateMbps", T::Invalid)],
        ),
    ]);
}

#[test]
fn ibsriov_resource_name_and_link_state() {
    let ib = |section: serde_json::Value| smc(json!({"cniType": "ib-sriov", "ibsriov": section}));
    table(&[
        ("resource", ib(json!({"resourceName": "r"})), &[]),
        ("link disable", ib(json!({"resourceName": "r", "linkState": "disable"})), &[]),
        (
            "no resource",
            ib(json!({"linkState": "auto"})),
            &[("spec.ibsriov.resourceName", T::Required)],
        ),
        (
            "link up",
            ib(json!({"resourceName": "r", "linkState": "up"})),
            &[("spec.ibsriov.linkState", T::NotSupported)],
        ),
    ]);
}

#[test]
fn ipoib_master() {
    let ib = |section: serde_json::Value| smc(json!({"cniType": "ipoib", "ipoib": section}));
    table(&[
        ("master", ib(json!({"master": "ib0"})), &[]),
        ("no master", ib(json!({})), &[("spec.ipoib.master", T::Required)]),
        ("bad master", ib(json!({"master": "ib 0"})), &[("spec.ipoib.master", T::Invalid)]),
    ]);
}

#[test]
fn ovs_bridge_and_trunks() {
    let ovs = |trunk: serde_json::Value| {
        smc(json!({"cniType": "ovs", "ovs": {"bridge": "br1", "trunk": trunk}}))
    };
    table(&[
        ("range and id", ovs(json!([{"minID": 10, "maxID": 20}, {"id": 4094}])), &[]),
        (
            "no bridge",
            smc(json!({"cniType": "ovs", "ovs": {}})),
            &[("spec.ovs.bridge", T::Required)],
        ),
        (
            "4095",
            ovs(json!([{"minID": 4095, "maxID": 4095}])),
            &[("spec.ovs.trunk[0].minID", T::Invalid), ("spec.ovs.trunk[0].maxID", T::Invalid)],
        ),
        (
            "maxID 5000",
            ovs(json!([{"minID": 1, "maxID": 5000}])),
            &[("spec.ovs.trunk[0].maxID", T::Invalid)],
        ),
        (
            "max < min",
            ovs(json!([{"id": 1}, {"minID": 20, "maxID": 10}])),
            &[("spec.ovs.trunk[1].maxID", T::Invalid)],
        ),
        ("id 4095", ovs(json!([{"id": 4095}])), &[("spec.ovs.trunk[0].id", T::Invalid)]),
        (
            "id 4096 (Go allows)",
            ovs(json!([{"id": 4096}])),
            &[("spec.ovs.trunk[0].id", T::Invalid)],
        ),
        ("min only", ovs(json!([{"minID": 3}])), &[("spec.ovs.trunk[0].maxID", T::Required)]),
        ("max only", ovs(json!([{"maxID": 3}])), &[("spec.ovs.trunk[0].minID", T::Required)]),
        ("empty entry", ovs(json!([{}])), &[("spec.ovs.trunk[0].id", T::Required)]),
    ]);
}

#[test]
fn custom_cni_is_a_json_object() {
    let custom = |raw: &str| smc(json!({"cniType": "custom", "customCNI": raw}));
    table(&[
        ("object", custom(r#"{"cniVersion":"0.3.1","type":"bridge"}"#), &[]),
        ("empty", custom(""), &[]),
        ("broken", custom(r#"{"type":"#), &[("spec.customCNI", T::Invalid)]),
        ("array", custom("[1]"), &[("spec.customCNI", T::Invalid)]),
    ]);
}

#[test]
fn chain_entries_are_cni_plugins() {
    let chain = |entries: &[&str]| {
        let mut spec = macvlan();
        spec["chainCNIJsonData"] = json!(entries);
        smc(spec)
    };
    table(&[
        (
            "plugins",
            chain(&[r#"{"type":"bandwidth","ingressRate":1}"#, r#"{"type":"tuning"}"#]),
            &[],
        ),
        ("none", chain(&[]), &[]),
        (
            "broken",
            chain(&[r#"{"type":"tuning"}"#, "{"]),
            &[("spec.chainCNIJsonData[1]", T::Invalid)],
        ),
        ("no type", chain(&[r#"{"mtu":1}"#]), &[("spec.chainCNIJsonData[0]", T::Invalid)]),
        ("empty type", chain(&[r#"{"type":""}"#]), &[("spec.chainCNIJsonData[0]", T::Invalid)]),
        ("number type", chain(&[r#"{"type":1}"#]), &[("spec.chainCNIJsonData[0]", T::Invalid)]),
        ("array", chain(&["[]"]), &[("spec.chainCNIJsonData[0]", T::Invalid)]),
    ]);
}

#[test]
fn all_errors_are_collected() {
    let obj = annotated(
        json!({"multus.spidernet.io/cni-version": "0.2.0"}),
        json!({
            "cniType": "macvlan",
            "macvlan": {"master": ["a", "b"], "vlanID": 5000, "mtu": -1},
            "ovs": {"bridge": "br"},
            "chainCNIJsonData": ["x"],
        }),
    );
    expect(
        "many",
        validate_with(Operation::Create, &obj, None, &Existing::default()),
        &[
            ("metadata.annotations[multus.spidernet.io/cni-version]", T::NotSupported),
            ("spec.ovs", T::Forbidden),
            ("spec.macvlan.bond", T::Required),
            ("spec.macvlan.vlanID", T::Invalid),
            ("spec.macvlan.mtu", T::Invalid),
            ("spec.chainCNIJsonData[0]", T::Invalid),
        ],
    );
}

#[test]
fn errors_name_field_and_value() {
    let obj = smc(json!({"cniType": "macvlan", "macvlan": {"master": ["a"], "vlanID": 4095}}));
    let err = validate_with(Operation::Create, &obj, None, &Existing::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SpiderMultusConfig \"net\" is invalid: spec.macvlan.vlanID: Invalid value: 4095: \
         must be in the range 0-4094"
    );
}

#[test]
fn delete_is_always_allowed_and_create_needs_an_object() {
    let settings = ClusterSettings::default();
    let existing = Existing::default();
    let ctx = Context { settings: &settings, existing: &existing };
    let bad = smc(json!({"cniType": "nope"}));
    assert_eq!(validate(Operation::Delete, None, Some(&bad), &ctx), Ok(()));
    let err = validate(Operation::Create, None, None, &ctx).unwrap_err();
    assert_eq!(err.reason, StatusReason::BadRequest);
}
