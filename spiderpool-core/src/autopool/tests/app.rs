use std::collections::BTreeMap;

use crate::admission::common::{
    AUTO_POOL_POD_AFFINITY_KEYS, LABEL_IPPOOL_CIDR, LABEL_OWNER_APPLICATION_NAME,
    LABEL_OWNER_SPIDER_SUBNET,
};
use crate::autopool::*;
use crate::ip::{IpFamily, IpSet};
use crate::model::{FINALIZER, LabelSelector, ObjectMeta, Route, SpiderIPPool, SpiderSubnet};

fn deploy(name: &str, uid: &str) -> AppRef {
    AppRef::native("Deployment", "ns1", name, uid).unwrap()
}

#[test]
fn native_and_third_party_applications() {
    for (kind, api) in NATIVE_CONTROLLERS {
        let app = AppRef::native(kind, "ns", "n", "u").unwrap();
        assert_eq!(app.api_version, api);
        assert!(!app.is_third_party() && !app.is_orphan_pod(), "{kind}");
    }
    assert_eq!(AppRef::native("CloneSet", "ns", "n", "u"), None);
    let kruise = AppRef {
        api_version: "apps.kruise.io/v1alpha1".into(),
        kind: "CloneSet".into(),
        namespace: "ns".into(),
        name: "n".into(),
        uid: "u".into(),
    };
    assert!(kruise.is_third_party());
    // a native kind under another group is third-party; kind and version go as a pair
    let odd =
        AppRef { api_version: "batch/v1".into(), kind: "Deployment".into(), ..kruise.clone() };
    assert!(odd.is_third_party());
    let pod = AppRef { api_version: "v1".into(), kind: "Pod".into(), ..kruise.clone() };
    assert!(pod.is_orphan_pod() && !pod.is_third_party());
    assert_eq!(kruise.group_version(), ("apps.kruise.io", "v1alpha1"));
    assert_eq!(pod.group_version(), ("", "v1"));
}

/// Go `ApplicationLabelGV` and `ApplicationNamespacedName` examples.
#[test]
fn label_gv_and_application_key() {
    let app = AppRef {
        api_version: "apps/v1".into(),
        kind: "test-kind".into(),
        namespace: "test-ns".into(),
        name: "test-name".into(),
        uid: String::new(),
    };
    assert_eq!(app.group_version_label(), "apps_v1");
    assert_eq!(app.application_key(), "apps_v1_test-kind_test-ns_test-name");
    let core = AppRef { api_version: "v1".into(), ..app.clone() };
    assert_eq!(core.group_version_label(), "v1");
    assert_eq!(core.application_key(), "v1_test-kind_test-ns_test-name");
    assert_eq!(app.describe(), "test-kind test-ns/test-name");
}

/// Go `AutoPoolName` examples, then Kubernetes-style UIDs and the length limit.
#[test]
fn pool_names() {
    let v4 = IpFamily::V4;
    assert_eq!(
        auto_pool_name("test-name", v4, "test-nic", "a-b-c-d").unwrap(),
        "auto4-test-name-test-nic-d"
    );
    assert_eq!(
        auto_pool_name("test-name", v4, "test-nic", "a-b-c-defghi").unwrap(),
        "auto4-test-name-test-nic-defgh"
    );
    let uid = "c7b9e1a4-3f2d-4e8b-9a6c-5D3A1C6F7E21";
    assert_eq!(auto_pool_name("Demo", IpFamily::V6, "net1", uid).unwrap(), "auto6-demo-net1-5d3a1");
    // a UID without '-' is its own last segment
    assert_eq!(auto_pool_name("web", v4, "eth0", "abc").unwrap(), "auto4-web-eth0-abc");
}

#[test]
fn pool_name_length_limit() {
    let uid = "00000000-0000-0000-0000-abcdef012345";
    // 8 + 5 + 4 = 17 fixed characters: an app name of 236 fits exactly
    let fits = "a".repeat(236);
    let name = auto_pool_name(&fits, IpFamily::V4, "eth0", uid).unwrap();
    assert_eq!(name.len(), 253);
    assert_eq!(name, format!("auto4-{fits}-eth0-abcde"));
    // longer names are cut to fit (Go's arithmetic would give 254 here)
    let long = "b".repeat(300);
    let name = auto_pool_name(&long, IpFamily::V4, "eth0", uid).unwrap();
    assert_eq!(name.len(), 253);
    assert!(name.starts_with(&format!("auto4-{}-eth0", "b".repeat(236))), "{name}");
    // a cut ending in '.' drops the dot, so the name stays a DNS name
    let dotted = format!("{}.{}", "c".repeat(235), "d".repeat(20));
    let name = auto_pool_name(&dotted, IpFamily::V4, "eth0", uid).unwrap();
    assert_eq!(name, format!("auto4-{}-eth0-abcde", "c".repeat(235)));
    // a cut in the middle of a multi-byte character never panics
    let wide = "é".repeat(200);
    assert!(auto_pool_name(&wide, IpFamily::V4, "eth0", uid).is_err());
}

#[test]
fn pool_name_errors_name_the_value() {
    let err = auto_pool_name("web", IpFamily::V4, "eth0", "").unwrap_err();
    assert!(matches!(&err, AutoPoolError::PoolName { value, .. } if value.is_empty()), "{err}");
    assert!(err.to_string().contains("has no last segment"), "{err}");
    let err = auto_pool_name("web", IpFamily::V4, "eth0", "a-b-").unwrap_err();
    assert!(err.to_string().contains("\"a-b-\""), "{err}");
    let err = auto_pool_name("web", IpFamily::V4, "my_nic", "a-b").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("auto4-web-my_nic-b") && msg.contains("my_nic"), "{msg}");
}

#[test]
fn pod_affinity() {
    let app = deploy("web", "u1");
    let sel = auto_pool_pod_affinity(&app);
    let labels = sel.match_labels.clone().unwrap();
    let want: BTreeMap<String, String> = [
        ("ipam.spidernet.io/app-api-group", "apps"),
        ("ipam.spidernet.io/app-api-version", "v1"),
        ("ipam.spidernet.io/app-kind", "Deployment"),
        ("ipam.spidernet.io/app-namespace", "ns1"),
        ("ipam.spidernet.io/app-name", "web"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, want);
    assert!(sel.match_expressions.is_none());
    // exactly the keys admission allows on auto-created pools
    let mut keys: Vec<&str> = labels.keys().map(String::as_str).collect();
    let mut allowed = AUTO_POOL_POD_AFFINITY_KEYS.to_vec();
    keys.sort_unstable();
    allowed.sort_unstable();
    assert_eq!(keys, allowed);
    assert!(crate::selector::validate(&sel, "spec.podAffinity").is_ok());

    assert!(matches_auto_pool_affinity(Some(&sel), &app));
    // the UID is not part of the affinity: a same-named app reuses a kept pool
    assert!(matches_auto_pool_affinity(Some(&sel), &deploy("web", "u2")));
    assert!(!matches_auto_pool_affinity(Some(&sel), &deploy("api", "u1")));
    let sts = AppRef::native("StatefulSet", "ns1", "web", "u1").unwrap();
    assert!(!matches_auto_pool_affinity(Some(&sel), &sts));
    assert!(!matches_auto_pool_affinity(None, &app));
    assert!(!matches_auto_pool_affinity(Some(&LabelSelector::default()), &app));
}

fn subnet() -> SpiderSubnet {
    let mut s = SpiderSubnet {
        metadata: ObjectMeta { uid: Some("sub-uid".into()), ..ObjectMeta::named("subnet-demo-v4") },
        ..SpiderSubnet::default()
    };
    s.spec.subnet = "10.6.0.0/16".into();
    s.spec.gateway = Some("10.6.0.1".into());
    s.spec.routes = vec![Route { dst: "10.7.0.0/16".into(), gw: "10.6.0.254".into() }];
    s
}

#[test]
fn labels_and_new_pool() {
    let app = deploy("web", "c7b9e1a4-3f2d-4e8b-9a6c-5d3a1c6f7e21");
    let key = AutoPoolKey {
        app: &app,
        interface: "eth0",
        family: IpFamily::V4,
        subnet: "subnet-demo-v4",
    };
    let sel = auto_pool_selector_labels(&key);
    assert_eq!(sel.get(LABEL_OWNER_SPIDER_SUBNET).map(String::as_str), Some("subnet-demo-v4"));
    assert_eq!(sel.get(LABEL_OWNER_APPLICATION_GV).map(String::as_str), Some("apps_v1"));
    assert_eq!(sel.get(LABEL_OWNER_APPLICATION_KIND).map(String::as_str), Some("Deployment"));
    assert_eq!(sel.get(LABEL_OWNER_APPLICATION_NAMESPACE).map(String::as_str), Some("ns1"));
    assert_eq!(sel.get(LABEL_OWNER_APPLICATION_NAME).map(String::as_str), Some("web"));
    assert_eq!(sel.get(LABEL_IP_VERSION).map(String::as_str), Some("IPv4"));
    assert_eq!(sel.get(LABEL_INTERFACE).map(String::as_str), Some("eth0"));
    assert_eq!(sel.len(), 7);

    let ips = IpSet::parse_ranges(IpFamily::V4, &["10.6.0.10-10.6.0.12"]).unwrap();
    let pool = new_auto_pool(&key, &subnet(), IpNumber::Flexible(1), false, &ips).unwrap();
    let m = &pool.metadata;
    assert_eq!(m.name_str(), "auto4-web-eth0-5d3a1");
    assert_eq!(m.label(LABEL_OWNER_APPLICATION_UID), Some(app.uid.as_str()));
    assert_eq!(m.label(LABEL_IPPOOL_RECLAIM), Some("false"));
    assert_eq!(m.label(LABEL_IPPOOL_CIDR), Some("10-6-0-0-16"));
    assert_eq!(m.annotation("ipam.spidernet.io/ippool-ip-number"), Some("+1"));
    assert_eq!(m.finalizers, Some(vec![FINALIZER.to_string()]));
    let owner = &m.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("SpiderSubnet", "subnet-demo-v4"));
    assert_eq!((owner.uid.as_str(), owner.controller), ("sub-uid", Some(true)));
    assert_eq!(pool.spec.ip_version, Some(4));
    assert_eq!(pool.spec.subnet, "10.6.0.0/16");
    assert_eq!(pool.spec.ips, vec!["10.6.0.10-10.6.0.12"]);
    assert_eq!(pool.spec.gateway.as_deref(), Some("10.6.0.1"));
    assert_eq!(pool.spec.routes.as_ref().map(Vec::len), Some(1));
    assert!(matches_auto_pool_affinity(pool.spec.pod_affinity.as_ref(), &app));
    // no routes on the subnet: none on the pool
    let mut bare = subnet();
    bare.spec.routes.clear();
    let pool = new_auto_pool(&key, &bare, IpNumber::Fixed(3), true, &ips).unwrap();
    assert_eq!(pool.spec.routes, None);
    assert_eq!(pool.metadata.label(LABEL_IPPOOL_RECLAIM), Some("true"));
    assert_eq!(pool.metadata.annotation("ipam.spidernet.io/ippool-ip-number"), Some("3"));
    // the subnet must be of the key's family and usable
    let v6 = AutoPoolKey { family: IpFamily::V6, ..key.clone() };
    let err = new_auto_pool(&v6, &subnet(), IpNumber::Fixed(3), true, &ips).unwrap_err();
    assert_eq!(err.to_string(), "SpiderSubnet subnet-demo-v4: it is an IPv4 subnet, not IPv6");
    let mut broken = subnet();
    broken.spec.subnet = "10.6.0.0/33".into();
    let err = new_auto_pool(&key, &broken, IpNumber::Fixed(3), true, &ips).unwrap_err();
    assert!(err.to_string().contains(r#"spec.subnet "10.6.0.0/33""#), "{err}");
    // a subnet without a UID (embedded store) owns its pools by label only
    let mut no_uid = subnet();
    no_uid.metadata.uid = None;
    let pool = new_auto_pool(&key, &no_uid, IpNumber::Fixed(3), true, &ips).unwrap();
    assert_eq!(pool.metadata.owner_references, None);
    assert_eq!(pool.metadata.label(LABEL_OWNER_SPIDER_SUBNET), Some("subnet-demo-v4"));
}

#[test]
fn label_values_must_fit() {
    let long = "w".repeat(64);
    let app = deploy(&long, "a-b");
    let key = AutoPoolKey { app: &app, interface: "eth0", family: IpFamily::V6, subnet: "s" };
    let err = auto_pool_labels(&key, "fd00::/64", true).unwrap_err();
    match &err {
        AutoPoolError::LabelValue { label, value, .. } => {
            assert_eq!(
                (label.as_str(), value.as_str()),
                (LABEL_OWNER_APPLICATION_NAME, long.as_str())
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("no more than 63 characters"), "{err}");
    let ok = deploy(&"w".repeat(63), "a-b");
    let key = AutoPoolKey { app: &ok, ..key };
    let labels = auto_pool_labels(&key, "fd00::/64", true).unwrap();
    assert_eq!(labels.get(LABEL_IPPOOL_CIDR).map(String::as_str), Some("fd00---64"));
}

fn listed(uid: &str, reclaim: &str) -> SpiderIPPool {
    let mut p = SpiderIPPool::default();
    p.metadata.name = Some(format!("pool-{uid}-{reclaim}"));
    p.metadata.labels = Some(
        [
            (LABEL_OWNER_APPLICATION_UID.to_string(), uid.to_string()),
            (LABEL_IPPOOL_RECLAIM.to_string(), reclaim.to_string()),
        ]
        .into(),
    );
    p
}

#[test]
fn which_pool_is_reused() {
    // the application's own pool
    let pools = [listed("u1", "true")];
    assert_eq!(
        pick_existing_pool(&pools, "u1").map(|p| p.metadata.name_str()),
        Some("pool-u1-true")
    );
    // an earlier same-named application's reclaimable pool is being deleted: skip it
    assert!(pick_existing_pool(&pools, "u2").is_none());
    // a kept pool of an earlier application is reused
    let pools = [listed("old", "true"), listed("older", "false")];
    let got = pick_existing_pool(&pools, "new").unwrap();
    assert_eq!(got.metadata.name_str(), "pool-older-false");
    let mut reused = got.clone();
    relabel_reused_pool(&mut reused, "new", true);
    assert_eq!(reused.metadata.label(LABEL_OWNER_APPLICATION_UID), Some("new"));
    assert_eq!(reused.metadata.label(LABEL_IPPOOL_RECLAIM), Some("true"));
    assert!(pick_existing_pool(&[], "x").is_none());
}
