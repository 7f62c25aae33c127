use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::model::{LabelSelector, SpiderIPPool};
use crate::pod::{NamespaceFacts, NodeFacts, PodFacts};
use crate::store::contract::pool;

fn pools() -> Vec<Arc<SpiderIPPool>> {
    let mut out = Vec::new();
    for (name, subnet) in [
        ("v4-a", "10.1.0.0/24"),
        ("v4-b", "10.2.0.0/24"),
        ("v4-c", "10.3.0.0/24"),
        ("v6-a", "fd00:1::/64"),
        ("v6-b", "fd00:2::/64"),
    ] {
        out.push(Arc::new(pool(name, subnet, &[])));
    }
    out
}

fn pod(annotations: &[(&str, &str)]) -> PodFacts {
    PodFacts {
        namespace: "ns".into(),
        name: "p".into(),
        uid: "u".into(),
        annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        node: "n1".into(),
        ..Default::default()
    }
}

fn ns(annotations: &[(&str, &str)]) -> NamespaceFacts {
    NamespaceFacts {
        name: "ns".into(),
        annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

fn cni(v4: &[&str]) -> IpamSettings {
    IpamSettings {
        default_ipv4_ippool: v4.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn precedence_is_ippools_then_ippool_then_namespace_then_cni_then_cluster_default() {
    let mut all = pools();
    let mut d = pool("v4-default", "10.9.0.0/24", &[]);
    d.spec.default = Some(true);
    all.push(Arc::new(d));
    let ippools = ("ipam.spidernet.io/ippools", r#"[{"interface":"net1","ipv4":["v4-a"]}]"#);
    let ippool = ("ipam.spidernet.io/ippool", r#"{"ipv4":["v4-b"]}"#);
    let nsd = ("ipam.spidernet.io/default-ipv4-ippool", r#"["v4-c"]"#);
    let pick = |p: &PodFacts, n: &NamespaceFacts, s: &IpamSettings| {
        let r = requested_pools(p, n, s, "net1", &all).unwrap();
        (r[0].ipv4.clone(), r[0].origin)
    };
    assert_eq!(
        pick(&pod(&[ippools, ippool]), &ns(&[nsd]), &cni(&["v4-b"])),
        (vec!["v4-a".to_string()], CandidateSource::PodIpPools)
    );
    assert_eq!(
        pick(&pod(&[ippool]), &ns(&[nsd]), &cni(&["v4-a"])),
        (vec!["v4-b".to_string()], CandidateSource::PodIpPool)
    );
    assert_eq!(
        pick(&pod(&[]), &ns(&[nsd]), &cni(&["v4-a"])),
        (vec!["v4-c".to_string()], CandidateSource::NamespaceDefault)
    );
    assert_eq!(
        pick(&pod(&[]), &ns(&[]), &cni(&["v4-a"])),
        (vec!["v4-a".to_string()], CandidateSource::CniConfig)
    );
    assert_eq!(
        pick(&pod(&[]), &ns(&[]), &cni(&[])),
        (vec!["v4-default".to_string()], CandidateSource::ClusterDefault)
    );
    let none = requested_pools(&pod(&[]), &ns(&[]), &cni(&[]), "net1", &pools()).unwrap_err();
    assert!(matches!(none, SelectionError::NoSelectionRule { .. }), "{none}");
    assert!(none.to_string().contains("no pool selection rules"), "{none}");
}

#[test]
fn globs_expand_per_family_in_name_order_and_keep_position() {
    let p = pod(&[("ipam.spidernet.io/ippool", r#"{"ipv4":["v4-c","v4-*"],"ipv6":["v6-?"]}"#)]);
    let r = requested_pools(&p, &ns(&[]), &cni(&[]), "eth0", &pools()).unwrap();
    assert_eq!(r[0].ipv4, ["v4-c", "v4-a", "v4-b"], "literal first, glob adds the rest once");
    assert_eq!(r[0].ipv6, ["v6-a", "v6-b"]);
    let dup = pod(&[("ipam.spidernet.io/ippool", r#"{"ipv4":["v4-a","v4-a"]}"#)]);
    let err = requested_pools(&dup, &ns(&[]), &cni(&[]), "eth0", &pools()).unwrap_err();
    assert!(err.to_string().contains("v4-a is listed twice"), "{err}");
    let bad = pod(&[("ipam.spidernet.io/ippool", r#"{"ipv4":["v4-[a"]}"#)]);
    let err = requested_pools(&bad, &ns(&[]), &cni(&[]), "eth0", &pools()).unwrap_err();
    assert!(matches!(err, SelectionError::BadPattern { .. }), "{err}");
}

#[test]
fn disabled_families_are_dropped() {
    let p = pod(&[("ipam.spidernet.io/ippool", r#"{"ipv4":["v4-a"],"ipv6":["v6-a"]}"#)]);
    let s = IpamSettings { enable_ipv6: false, ..Default::default() };
    let r = requested_pools(&p, &ns(&[]), &s, "eth0", &pools()).unwrap();
    assert_eq!((r[0].ipv4.len(), r[0].ipv6.len()), (1, 0));
    assert_eq!(families(&r[0], &s), [IpFamily::V4]);
    let only6 = pod(&[("ipam.spidernet.io/ippool", r#"{"ipv6":["v6-a"]}"#)]);
    let err = requested_pools(&only6, &ns(&[]), &s, "eth0", &pools()).unwrap_err();
    assert!(matches!(err, SelectionError::NoEnabledFamily { .. }), "{err}");
}

#[test]
fn unnamed_ippools_items_map_to_positional_nics() {
    let p = pod(&[
        (
            "ipam.spidernet.io/ippools",
            r#"[{"ipv4":["v4-a"]},{"ipv4":["v4-b"],"cleangateway":true}]"#,
        ),
        ("k8s.v1.cni.cncf.io/networks", "kube-system/macvlan"),
    ]);
    let r = requested_pools(&p, &ns(&[]), &cni(&[]), "net1", &pools()).unwrap();
    let got: Vec<_> =
        r.iter().map(|r| (r.nic.as_str(), r.ipv4[0].as_str(), r.clean_gateway)).collect();
    assert_eq!(got, [("eth0", "v4-a", false), ("net1", "v4-b", true)]);
    let err = requested_pools(&p, &ns(&[]), &cni(&[]), "net7", &pools()).unwrap_err();
    assert!(matches!(err, SelectionError::NicNotListed { .. }), "{err}");
}

#[test]
fn ippools_items_without_pools_are_skipped_unless_they_are_this_nic() {
    let p = pod(&[(
        "ipam.spidernet.io/ippools",
        r#"[{"interface":"eth0"},{"interface":"net1","ipv4":["v4-b"]}]"#,
    )]);
    let r = requested_pools(&p, &ns(&[]), &cni(&[]), "net1", &pools()).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].nic, "net1");
    let err = requested_pools(&p, &ns(&[]), &cni(&[]), "eth0", &pools()).unwrap_err();
    assert!(matches!(err, SelectionError::NoEnabledFamily { .. }), "{err}");
}

fn selector(k: &str, v: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(k.to_string(), v.to_string())])),
        ..Default::default()
    }
}

#[test]
fn filters_rule_out_with_reasons_and_name_lists_win_over_affinity() {
    let p = pod(&[]);
    let n = NamespaceFacts {
        name: "ns".into(),
        labels: BTreeMap::from([("team".to_string(), "a".to_string())]),
        ..Default::default()
    };
    let node = NodeFacts {
        name: "n1".into(),
        labels: BTreeMap::from([("zone".to_string(), "z1".to_string())]),
    };
    let s = IpamSettings::default();
    let ctx = FilterContext { pod: &p, namespace: &n, node: &node, settings: &s };
    let check = |f: &dyn Fn(&mut SpiderIPPool)| {
        let mut x = pool("x", "10.1.0.0/24", &[]);
        f(&mut x);
        rule_out(&x, IpFamily::V4, "net1", &ctx)
    };
    assert_eq!(check(&|_| {}), None);
    assert_eq!(
        check(&|x| x.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into())),
        Some(RuledOutReason::Terminating)
    );
    assert_eq!(check(&|x| x.spec.disable = Some(true)), Some(RuledOutReason::Disabled));
    // Spiderpool #746: the later of two overlapping pools is marked by the
    // controller and allocates nothing; a condition that is not True does not count.
    let mark = |status: &'static str| {
        move |x: &mut SpiderIPPool| {
            x.status.get_or_insert_with(Default::default).conditions =
                vec![crate::model::Condition {
                    type_: crate::model::CONDITION_OVERLAPPING.into(),
                    status: status.into(),
                    message: "overlaps SpiderIPPool a".into(),
                    ..Default::default()
                }];
        }
    };
    assert_eq!(
        check(&mark("True")),
        Some(RuledOutReason::Overlapping("overlaps SpiderIPPool a".into()))
    );
    assert_eq!(check(&mark("False")), None);
    assert!(matches!(
        check(&|x| x.spec.ip_version = Some(6)),
        Some(RuledOutReason::WrongFamily(_))
    ));
    // nodeName set: nodeAffinity is ignored.
    assert_eq!(
        check(&|x| {
            x.spec.node_name = vec!["n1".into()];
            x.spec.node_affinity = Some(selector("zone", "other"));
        }),
        None
    );
    assert_eq!(
        check(&|x| x.spec.node_affinity = Some(selector("zone", "other"))),
        Some(RuledOutReason::NodeAffinity("n1".into()))
    );
    assert_eq!(
        check(&|x| x.spec.node_name = vec!["n2".into()]),
        Some(RuledOutReason::NodeName("n1".into()))
    );
    assert_eq!(
        check(&|x| {
            x.spec.namespace_name = vec!["ns".into()];
            x.spec.namespace_affinity = Some(selector("team", "b"));
        }),
        None
    );
    assert_eq!(
        check(&|x| x.spec.namespace_affinity = Some(selector("team", "b"))),
        Some(RuledOutReason::NamespaceAffinity("ns".into()))
    );
    assert_eq!(
        check(&|x| x.spec.namespace_name = vec!["other".into()]),
        Some(RuledOutReason::NamespaceName("ns".into()))
    );
    assert_eq!(
        check(&|x| x.spec.pod_affinity = Some(selector("app", "web"))),
        Some(RuledOutReason::PodAffinity)
    );
    // multusName only filters pools that set it; the NIC has no NAD here.
    assert_eq!(
        check(&|x| x.spec.multus_name = vec!["macvlan".into()]),
        Some(RuledOutReason::MultusName(None))
    );
}

#[test]
fn multus_name_matches_the_nics_nad() {
    let p = pod(&[("k8s.v1.cni.cncf.io/networks", "kube-system/macvlan-ens192")]);
    let (n, node, s) = (ns(&[]), NodeFacts::default(), IpamSettings::default());
    let ctx = FilterContext { pod: &p, namespace: &n, node: &node, settings: &s };
    let mut x = pool("x", "10.1.0.0/24", &[]);
    x.spec.multus_name = vec!["macvlan-ens192".into()];
    assert_eq!(
        rule_out(&x, IpFamily::V4, "net1", &ctx),
        None,
        "bare name is in the agent namespace"
    );
    x.spec.multus_name = vec!["default/macvlan-ens192".into()];
    assert_eq!(
        rule_out(&x, IpFamily::V4, "net1", &ctx),
        Some(RuledOutReason::MultusName(Some("kube-system/macvlan-ens192".into())))
    );
    // The first NIC without default-network or MULTUS_CLUSTER_NETWORK still
    // serves pools without multusName (no Go July-2025 regression).
    let plain = pool("y", "10.1.0.0/24", &[]);
    assert_eq!(rule_out(&plain, IpFamily::V4, "eth0", &ctx), None);
}

#[test]
fn priority_sort_is_stable_among_equals() {
    let mut all = Vec::new();
    for name in ["z", "m", "a"] {
        all.push(Arc::new(pool(name, "10.1.0.0/24", &[])));
    }
    let mut pinned = pool("pinned", "10.1.0.0/24", &[]);
    pinned.spec.node_name = vec!["n1".into()];
    all.push(Arc::new(pinned));
    let by_name: BTreeMap<&str, &Arc<SpiderIPPool>> =
        all.iter().map(|p| (p.metadata.name_str(), p)).collect();
    let (p, n, node, s) = (
        pod(&[]),
        ns(&[]),
        NodeFacts { name: "n1".into(), ..Default::default() },
        IpamSettings::default(),
    );
    let ctx = FilterContext { pod: &p, namespace: &n, node: &node, settings: &s };
    let req = NicRequest {
        nic: "net1".into(),
        clean_gateway: false,
        ipv4: vec!["z".into(), "m".into(), "pinned".into(), "a".into()],
        ipv6: vec![],
        origin: CandidateSource::CniConfig,
    };
    for _ in 0..10 {
        let got: Vec<String> = candidates(&req, IpFamily::V4, &by_name, &ctx)
            .unwrap()
            .iter()
            .map(|p| p.metadata.name_str().to_string())
            .collect();
        assert_eq!(got, ["pinned", "z", "m", "a"]);
    }
}

/// Issue 9 item 3: `{"ipv4":["zzz*"]}` expanded to no pool, the NIC then asked
/// for no family at all and the ADD "succeeded" with no address. A family whose
/// names all come from globs that match nothing is an error naming the
/// annotation, the NIC and the patterns.
#[test]
fn annotation_glob_matching_no_pool_is_an_error() {
    let ippool = ("ipam.spidernet.io/ippool", r#"{"ipv4":["zzz*"]}"#);
    let err = requested_pools(&pod(&[ippool]), &ns(&[]), &cni(&[]), "net1", &pools()).unwrap_err();
    assert!(matches!(err, SelectionError::NoPoolMatches { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "pod annotation ipam.spidernet.io/ippool: NIC net1: no IPv4 SpiderIPPool matches \
         the pattern \"zzz*\""
    );

    // Dual stack: the IPv6 list still names a pool, the IPv4 one nothing.
    let both = ("ipam.spidernet.io/ippool", r#"{"ipv4":["zzz*","y?"],"ipv6":["v6-a"]}"#);
    let err = requested_pools(&pod(&[both]), &ns(&[]), &cni(&[]), "net1", &pools()).unwrap_err();
    assert!(err.to_string().contains("matches none of the patterns \"zzz*\", \"y?\""), "{err}");

    // ippools, namespace defaults and the CNI config: the same, naming their source.
    let ippools = ("ipam.spidernet.io/ippools", r#"[{"interface":"net1","ipv6":["nope-*"]}]"#);
    let err = requested_pools(&pod(&[ippools]), &ns(&[]), &cni(&[]), "net1", &pools()).unwrap_err();
    assert!(err.to_string().starts_with("pod annotation ipam.spidernet.io/ippools: NIC net1:"));
    let nsd = ("ipam.spidernet.io/default-ipv4-ippool", r#"["nope-*"]"#);
    let err = requested_pools(&pod(&[]), &ns(&[nsd]), &cni(&[]), "net1", &pools()).unwrap_err();
    assert!(err.to_string().starts_with("namespace default pools: NIC net1:"), "{err}");
    let err = requested_pools(&pod(&[]), &ns(&[]), &cni(&["v6-*"]), "net1", &pools()).unwrap_err();
    assert!(err.to_string().contains("no IPv4 SpiderIPPool matches"), "{err}");

    // A glob beside a name that exists, or one that matches: no error.
    let mixed = ("ipam.spidernet.io/ippool", r#"{"ipv4":["zzz*","v4-b"]}"#);
    let r = requested_pools(&pod(&[mixed]), &ns(&[]), &cni(&[]), "net1", &pools()).unwrap();
    assert_eq!(r[0].ipv4, ["v4-b"]);
    // A plain name that does not exist is still left to candidates() (ruled out
    // as "no such SpiderIPPool", with the 404 the agent answers for it).
    let plain = ("ipam.spidernet.io/ippool", r#"{"ipv4":["gone"]}"#);
    let r = requested_pools(&pod(&[plain]), &ns(&[]), &cni(&[]), "net1", &pools()).unwrap();
    assert_eq!(r[0].ipv4, ["gone"]);
}
