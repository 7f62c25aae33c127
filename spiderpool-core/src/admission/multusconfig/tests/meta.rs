//! Tables for the metadata rules: annotations, cr-name immutability, resource
//! injection and NAD ownership.

use serde_json::json;

use super::*;
use crate::model::{ObjectMeta, OwnerReference};
use crate::multus::NetworkAttachmentDefinition;
use FieldErrorType as T;

const CR: &str = "metadata.annotations[multus.spidernet.io/cr-name]";
const VERSION: &str = "metadata.annotations[multus.spidernet.io/cni-version]";
const RDMA: &str = "metadata.annotations[cni.spidernet.io/rdma-resource-inject]";
const NETWORK: &str = "metadata.annotations[cni.spidernet.io/network-resource-inject]";

#[test]
fn cr_name_is_a_dns_subdomain() {
    let cr = |name: &str| annotated(json!({"multus.spidernet.io/cr-name": name}), macvlan());
    table(&[
        ("subdomain", cr("macvlan.vlan-100"), &[]),
        ("empty", cr(""), &[(CR, T::Invalid)]),
        ("upper case", cr("Macvlan"), &[(CR, T::Invalid)]),
        ("underscore", cr("mac_vlan"), &[(CR, T::Invalid)]),
        ("254 characters", cr(&"a".repeat(254)), &[(CR, T::Invalid)]),
        ("253 characters", cr(&"a".repeat(253)), &[]),
    ]);
}

#[test]
fn cni_version_is_supported() {
    let v =
        |version: &str| annotated(json!({"multus.spidernet.io/cni-version": version}), macvlan());
    table(&[
        ("0.3.0", v("0.3.0"), &[]),
        ("0.3.1", v("0.3.1"), &[]),
        ("0.4.0", v("0.4.0"), &[]),
        ("1.0.0", v("1.0.0"), &[]),
        ("1.1.0 (ours)", v("1.1.0"), &[]),
        ("0.2.0", v("0.2.0"), &[(VERSION, T::NotSupported)]),
        ("empty", v(""), &[(VERSION, T::NotSupported)]),
    ]);
}

#[test]
fn cr_name_cannot_change_after_creation() {
    let with = |name: Option<&str>| match name {
        Some(n) => annotated(json!({"multus.spidernet.io/cr-name": n}), macvlan()),
        None => smc(macvlan()),
    };
    let cases: &[(&str, Option<&str>, Option<&str>, Want)] = &[
        ("unchanged", Some("a"), Some("a"), &[]),
        ("never set", None, None, &[]),
        ("changed", Some("a"), Some("b"), &[(CR, T::Invalid)]),
        ("added", None, Some("b"), &[(CR, T::Invalid)]),
        ("removed (Go allows)", Some("a"), None, &[(CR, T::Forbidden)]),
    ];
    for (case, old, new, want) in cases {
        let (old, new) = (with(*old), with(*new));
        let existing = Existing { multus_configs: vec![old.clone()], ..Existing::default() };
        expect(case, validate_with(Operation::Update, &new, Some(&old), &existing), want);
        // CREATE has nothing to compare with.
        if !want.is_empty() {
            expect(case, validate_with(Operation::Create, &new, None, &Existing::default()), &[]);
        }
    }
}

#[test]
fn resource_inject_annotations() {
    let rdma = |spec: serde_json::Value| {
        annotated(json!({"cni.spidernet.io/rdma-resource-inject": "roce"}), spec)
    };
    let net = |value: &str, spec: serde_json::Value| {
        annotated(json!({"cni.spidernet.io/network-resource-inject": value}), spec)
    };
    let mac = |rdma: &str, pools: serde_json::Value| {
        json!({"cniType": "macvlan",
               "macvlan": {"master": ["a"], "rdmaResourceName": rdma, "ippools": pools}})
    };
    let v4 = json!({"ipv4": ["v4"]});
    table(&[
        ("macvlan rdma", rdma(mac("spidernet.io/roce", v4.clone())), &[]),
        ("macvlan v6 only", rdma(mac("r", json!({"ipv6": ["v6"]}))), &[]),
        (
            "no rdma resource",
            rdma(mac("", v4.clone())),
            &[("spec.macvlan.rdmaResourceName", T::Required)],
        ),
        ("no pools", rdma(mac("r", json!({}))), &[("spec.macvlan.ippools", T::Required)]),
        (
            "ipvlan neither",
            rdma(json!({"cniType": "ipvlan", "ipvlan": {"master": ["a"]}})),
            &[("spec.ipvlan.rdmaResourceName", T::Required), ("spec.ipvlan.ippools", T::Required)],
        ),
        (
            "sriov rdma",
            rdma(json!({"cniType": "sriov", "sriov": {"resourceName": "r", "ippools": v4}})),
            &[],
        ),
        (
            "ib-sriov no pools",
            rdma(json!({"cniType": "ib-sriov", "ibsriov": {"resourceName": "r"}})),
            &[("spec.ibsriov.ippools", T::Required)],
        ),
        ("network on macvlan without rdma", net("g1", mac("", v4.clone())), &[]),
        (
            "network on ipoib without pools",
            net("g1", json!({"cniType": "ipoib", "ipoib": {"master": "ib0"}})),
            &[("spec.ipoib.ippools", T::Required)],
        ),
        (
            "network on ovs",
            net("g1", json!({"cniType": "ovs", "ovs": {"bridge": "br1", "ippools": v4}})),
            &[(NETWORK, T::Forbidden)],
        ),
        ("rdma on custom", rdma(json!({"cniType": "custom"})), &[(RDMA, T::Forbidden)]),
        ("empty group", net("", mac("", v4.clone())), &[(NETWORK, T::Invalid)]),
        ("not a label value", net("a b", mac("", v4)), &[(NETWORK, T::Invalid)]),
    ]);
}

fn nad(
    name: &str,
    namespace: &str,
    owner: Option<(&str, &str, &str)>,
) -> NetworkAttachmentDefinition {
    NetworkAttachmentDefinition {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            owner_references: owner.map(|(kind, name, uid)| {
                vec![OwnerReference {
                    api_version: "spiderpool.spidernet.io/v2beta1".into(),
                    kind: kind.into(),
                    name: name.into(),
                    uid: uid.into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]
            }),
            ..ObjectMeta::default()
        },
        ..NetworkAttachmentDefinition::default()
    }
}

#[test]
fn nad_of_another_smc_is_refused() {
    let plain = smc(macvlan());
    let custom_name = annotated(json!({"multus.spidernet.io/cr-name": "shared"}), macvlan());
    let smc_owner = |name, uid| Some(("SpiderMultusConfig", name, uid));
    let cases: &[(&str, &SpiderMultusConfig, Vec<NetworkAttachmentDefinition>, Want)] = &[
        ("no NAD", &plain, vec![], &[]),
        ("unowned NAD is taken over", &plain, vec![nad("net", "default", None)], &[]),
        (
            "owned by a Deployment",
            &plain,
            vec![nad("net", "default", Some(("Deployment", "x", "u")))],
            &[],
        ),
        ("owned by itself", &plain, vec![nad("net", "default", smc_owner("net", "uid-net"))], &[]),
        (
            "owned by another SMC",
            &plain,
            vec![nad("net", "default", smc_owner("other", "uid-other"))],
            &[("metadata.name", T::Invalid)],
        ),
        (
            "owned by an earlier SMC of the same name",
            &plain,
            vec![nad("net", "default", smc_owner("net", "uid-old"))],
            &[("metadata.name", T::Invalid)],
        ),
        (
            "another namespace",
            &plain,
            vec![nad("net", "kube-system", smc_owner("other", "uid-other"))],
            &[],
        ),
        (
            "cr-name names it",
            &custom_name,
            vec![nad("shared", "default", smc_owner("other", "uid-other"))],
            &[(CR, T::Invalid)],
        ),
    ];
    for (case, obj, nads, want) in cases {
        let existing = Existing { nads: nads.clone(), ..Existing::default() };
        expect(case, validate_with(Operation::Create, obj, None, &existing), want);
    }

    // A new object has no UID yet: only the owner's name counts.
    let mut fresh = plain.clone();
    fresh.metadata.uid = None;
    let existing = Existing {
        nads: vec![nad("net", "default", smc_owner("net", "uid-old"))],
        ..Existing::default()
    };
    expect("no uid", validate_with(Operation::Create, &fresh, None, &existing), &[]);
}

#[test]
fn two_smcs_cannot_render_one_nad() {
    let other = named("other", json!({"multus.spidernet.io/cr-name": "net"}), macvlan());
    let other_ns = {
        let mut o = other.clone();
        o.metadata.namespace = Some("kube-system".into());
        o
    };
    let me = smc(macvlan());
    let cases: &[(&str, Vec<SpiderMultusConfig>, Want)] = &[
        ("other renders net", vec![other], &[("metadata.name", T::Invalid)]),
        ("other namespace", vec![other_ns], &[]),
        ("itself (update)", vec![me.clone()], &[]),
    ];
    for (case, smcs, want) in cases {
        let existing = Existing { multus_configs: smcs.clone(), ..Existing::default() };
        expect(case, validate_with(Operation::Update, &me, Some(&me), &existing), want);
    }
}
