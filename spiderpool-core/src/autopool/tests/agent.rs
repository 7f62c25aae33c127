//! The agent's rules: precedence of the subnet annotations, the pod's
//! application, the bad inputs, the wait check and third-party pools.

use std::sync::Arc;

use crate::annotation::{ANNO_IPPOOL_IP_NUMBER, ANNO_POD_IPPOOL, ANNO_SUBNET, ANNO_SUBNETS};
use crate::autopool::*;
use crate::ip::{IpFamily, IpSet};
use crate::model::{ObjectMeta, SpiderIPPool, SpiderSubnet};
use crate::pod::NamespaceFacts;
use crate::pod::{ControllerKind, ControllerView, OwnerFacts, PodFacts};
use crate::selection::{CandidateSource, IpamSettings, SelectionError, requested_pools};

const UID: &str = "2b4f0c8e-1d7a-4c55-9e0b-5d3a1c6f7e21";

fn pod(owner: Option<(&str, Option<&str>)>, annotations: &[(&str, &str)]) -> PodFacts {
    PodFacts {
        namespace: "ns".into(),
        name: "web-1".into(),
        uid: "pod-uid".into(),
        annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        owner: owner.map(|(kind, api_version)| OwnerFacts {
            kind: kind.into(),
            name: "web".into(),
            uid: Some(UID.into()),
            api_version: api_version.map(Into::into),
            statefulset: None,
            kubevirt: None,
        }),
        ..PodFacts::default()
    }
}

fn on(v6: bool) -> IpamSettings {
    IpamSettings {
        enable_ipv6: v6,
        subnet: SubnetFeature {
            enable_spider_subnet: true,
            enable_auto_pool: true,
            default_redundant: 1,
        },
        ..IpamSettings::default()
    }
}

const SUBNET_V4: (&str, &str) = (ANNO_SUBNET, r#"{"ipv4":["sub4"]}"#);

#[test]
fn subnet_annotations_come_first_when_the_features_are_on() {
    let p = pod(
        Some(("Deployment", Some("apps/v1"))),
        &[SUBNET_V4, (ANNO_POD_IPPOOL, r#"{"ipv4":["manual"]}"#)],
    );
    let ns = NamespaceFacts::default();
    // Features off: the subnet annotation is ignored, ippool wins.
    let off = IpamSettings { enable_ipv6: false, ..IpamSettings::default() };
    let got = requested_pools(&p, &ns, &off, "eth0", &[]).unwrap();
    assert_eq!(
        (got[0].origin, got[0].ipv4.clone()),
        (CandidateSource::PodIpPool, vec!["manual".to_string()])
    );
    // On: the auto-pool must be resolved first, and then it is the only candidate.
    let settings = on(false);
    let e = requested_pools(&p, &ns, &settings, "eth0", &[]).unwrap_err();
    assert!(matches!(e, SelectionError::AutoPoolUnresolved { .. }), "{e}");
    assert!(e.to_string().starts_with("ipam.spidernet.io/subnet: NIC eth0"), "{e}");
    let plan = plan_auto_pools(&p, &settings, "eth0").unwrap().unwrap();
    assert_eq!(
        plan.pools,
        [PlannedPool {
            family: IpFamily::V4,
            subnet: "sub4".into(),
            name: "auto4-web-eth0-5d3a1".into()
        }]
    );
    let resolved = IpamSettings { auto_pools: Some(plan.request(false)), ..settings.clone() };
    let got = requested_pools(&p, &ns, &resolved, "eth0", &[]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].origin, got[0].ipv4.clone()),
        (CandidateSource::SubnetAutoPool, vec!["auto4-web-eth0-5d3a1".to_string()])
    );
    // Without a subnet annotation the usual levels apply.
    let plain = pod(Some(("Deployment", None)), &[(ANNO_POD_IPPOOL, r#"{"ipv4":["manual"]}"#)]);
    assert_eq!(plan_auto_pools(&plain, &settings, "eth0").unwrap(), None);
    assert_eq!(
        requested_pools(&plain, &ns, &settings, "eth0", &[]).unwrap()[0].origin,
        CandidateSource::PodIpPool
    );
}

#[test]
fn subnets_wins_over_subnet_and_serves_each_listed_nic() {
    let p = pod(
        Some(("StatefulSet", None)),
        &[
            SUBNET_V4,
            (
                ANNO_SUBNETS,
                r#"[{"interface":"eth0","ipv4":["a4"],"ipv6":["a6"]},{"interface":"net1","ipv4":["b4"],"ipv6":["b6"]}]"#,
            ),
        ],
    );
    let plan = plan_auto_pools(&p, &on(true), "net1").unwrap().unwrap();
    assert_eq!(plan.annotation, ANNO_SUBNETS);
    let names: Vec<_> = plan.pools.iter().map(|p| (p.subnet.as_str(), p.name.as_str())).collect();
    assert_eq!(names, [("b4", "auto4-web-net1-5d3a1"), ("b6", "auto6-web-net1-5d3a1")]);
    assert_eq!(plan.workload_kind(), Some(ControllerKind::StatefulSet));
    let e = plan_auto_pools(&p, &on(true), "net2").unwrap_err().to_string();
    assert!(e.contains("ipam.spidernet.io/subnets") && e.contains("\"net2\" is not listed"), "{e}");
}

#[test]
fn bad_inputs_are_refused_naming_annotation_subnet_and_numbers() {
    let settings = on(false);
    // An orphan pod.
    let e = plan_auto_pools(&pod(None, &[SUBNET_V4]), &settings, "eth0").unwrap_err().to_string();
    assert!(e.starts_with("ipam.spidernet.io/subnet: pod ns/web-1 has no controller"), "{e}");
    // Auto-pools disabled.
    let off = IpamSettings {
        subnet: SubnetFeature { enable_auto_pool: false, ..settings.subnet },
        ..settings.clone()
    };
    let e =
        plan_auto_pools(&pod(Some(("Deployment", None)), &[SUBNET_V4]), &off, "eth0").unwrap_err();
    assert!(e.to_string().contains("enableAutoPoolForApplication=false"), "{e}");
    // Two NICs on one subnet.
    let two = [(
        ANNO_SUBNETS,
        r#"[{"interface":"eth0","ipv4":["s"]},{"interface":"net1","ipv4":["s"]}]"#,
    )];
    let e = plan_auto_pools(&pod(Some(("Deployment", None)), &two), &settings, "eth0")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ipam.spidernet.io/subnets")
            && e.contains("\"s\"")
            && e.contains("two interfaces"),
        "{e}"
    );
    // A third-party controller with a flexible size.
    let crd = pod(Some(("CloneSet", Some("apps.kruise.io/v1alpha1"))), &[SUBNET_V4]);
    let e = plan_auto_pools(&crd, &settings, "eth0").unwrap_err().to_string();
    assert!(
        e.contains("ippool-ip-number") && e.contains("CloneSet ns/web") && e.contains("fixed"),
        "{e}"
    );
    // A fixed size below the replicas.
    let fixed = pod(Some(("Deployment", None)), &[SUBNET_V4, (ANNO_IPPOOL_IP_NUMBER, "2")]);
    let plan = plan_auto_pools(&fixed, &settings, "eth0").unwrap().unwrap();
    let e = plan.desired_size(Workload::Replicas(Some(3))).unwrap_err().to_string();
    assert!(e.contains("fixed size 2 of Deployment ns/web is smaller than its 3 replicas"), "{e}");
    assert!(e.starts_with("ipam.spidernet.io/subnet: "), "{e}");
}

#[test]
fn the_application_of_a_pod() {
    let app = pod_app(&pod(Some(("Deployment", None)), &[]));
    assert_eq!((app.api_version.as_str(), app.is_third_party()), ("apps/v1", false));
    let app = pod_app(&pod(Some(("CloneSet", Some("apps.kruise.io/v1alpha1"))), &[]));
    assert!(app.is_third_party());
    let app = pod_app(&pod(Some(("Deployment", Some("batch/v1"))), &[]));
    assert!(app.is_third_party(), "kind and apiVersion match as a pair");
    assert!(pod_app(&pod(None, &[])).is_orphan_pod());
}

#[test]
fn workloads_size_as_spiderpool_counts_them() {
    let view = |v: serde_json::Value| serde_json::from_value::<ControllerView>(v).unwrap();
    let deploy = view(serde_json::json!({"spec": {"replicas": 3}}));
    assert_eq!(workload_of(ControllerKind::Deployment, &deploy), Workload::Replicas(Some(3)));
    let ds = view(serde_json::json!({"status": {"desiredNumberScheduled": 4}}));
    assert_eq!(
        workload_of(ControllerKind::DaemonSet, &ds),
        Workload::DaemonSet { desired_number_scheduled: 4 }
    );
    let cron = view(
        serde_json::json!({"spec": {"jobTemplate": {"spec": {"completions": 5, "parallelism": 2}}}}),
    );
    assert_eq!(app_replicas(workload_of(ControllerKind::CronJob, &cron)), 5);
    let job = view(serde_json::json!({"spec": {"parallelism": 2}}));
    assert_eq!(app_replicas(workload_of(ControllerKind::Job, &job)), 2);
}

fn v4(items: &[&str]) -> IpSet {
    IpSet::parse_ranges(IpFamily::V4, items).unwrap()
}

fn subnet(ips: &[&str]) -> SpiderSubnet {
    let mut s = SpiderSubnet { metadata: ObjectMeta::named("sub4"), ..SpiderSubnet::default() };
    s.spec.subnet = "10.6.0.0/16".into();
    s.spec.ip_version = Some(4);
    s.spec.ips = ips.iter().map(|s| s.to_string()).collect();
    s
}

fn deploy_plan(number: &str) -> AutoPoolPlan {
    let p = pod(Some(("Deployment", None)), &[SUBNET_V4, (ANNO_IPPOOL_IP_NUMBER, number)]);
    plan_auto_pools(&p, &on(false), "eth0").unwrap().unwrap()
}

#[test]
fn the_wait_check_wants_one_pool_of_the_right_size() {
    let plan = deploy_plan("+1");
    let planned = &plan.pools[0];
    let e = check_auto_pool(&[], &plan, planned, 3).unwrap();
    assert!(
        matches!(&e, PoolCheck::Wait(s) if s.contains("no SpiderIPPool has the labels of Deployment ns/web")),
        "{e:?}"
    );
    let key =
        AutoPoolKey { app: &plan.app, interface: "eth0", family: IpFamily::V4, subnet: "sub4" };
    let make = |ips: &[&str]| {
        Arc::new(
            new_auto_pool(&key, &subnet(&["10.6.0.10-10.6.0.20"]), plan.ip_number, true, &v4(ips))
                .unwrap(),
        )
    };
    let small = make(&["10.6.0.10-10.6.0.11"]);
    let e = check_auto_pool(&[small], &plan, planned, 3).unwrap();
    assert_eq!(
        e,
        PoolCheck::Wait(
            "pool auto4-web-eth0-5d3a1 has 2 IPs, not 3 (the controller has not resized it yet)"
                .into()
        )
    );
    let right = make(&["10.6.0.10-10.6.0.12"]);
    assert_eq!(
        check_auto_pool(std::slice::from_ref(&right), &plan, planned, 3).unwrap(),
        PoolCheck::Ready("auto4-web-eth0-5d3a1".into())
    );
    let mut other: SpiderIPPool = (*right).clone();
    other.metadata.name = Some("copy".into());
    let e = check_auto_pool(&[right, Arc::new(other)], &plan, planned, 3).unwrap_err().to_string();
    assert!(e.contains("has 2 IPv4 auto-pools") && e.contains("auto4-web-eth0-5d3a1, copy"), "{e}");
}

#[test]
fn an_auto_pool_serves_only_its_application() {
    use crate::pod::NodeFacts;
    use crate::selection::{FilterContext, RuledOutReason, rule_out};
    let plan = deploy_plan("+1");
    let key =
        AutoPoolKey { app: &plan.app, interface: "eth0", family: IpFamily::V4, subnet: "sub4" };
    let pool = new_auto_pool(
        &key,
        &subnet(&["10.6.0.10-10.6.0.20"]),
        plan.ip_number,
        true,
        &v4(&["10.6.0.10"]),
    )
    .unwrap();
    let settings = on(false);
    let (ns, node) = (NamespaceFacts::default(), NodeFacts::default());
    let mine = pod(Some(("Deployment", None)), &[]);
    let ctx = FilterContext { pod: &mine, namespace: &ns, node: &node, settings: &settings };
    assert_eq!(rule_out(&pool, IpFamily::V4, "eth0", &ctx), None);
    let mut theirs = mine.clone();
    theirs.owner.as_mut().unwrap().name = "other".into();
    let ctx = FilterContext { pod: &theirs, ..ctx };
    let why = rule_out(&pool, IpFamily::V4, "eth0", &ctx).unwrap();
    assert_eq!(why, RuledOutReason::AutoPoolAffinity("Deployment ns/other".into()));
}

fn third_party_plan(number: &str) -> AutoPoolPlan {
    let p = pod(
        Some(("CloneSet", Some("apps.kruise.io/v1alpha1"))),
        &[SUBNET_V4, (ANNO_IPPOOL_IP_NUMBER, number)],
    );
    plan_auto_pools(&p, &on(false), "eth0").unwrap().unwrap()
}

#[test]
fn third_party_pools_are_recorded_in_the_subnet_then_created() {
    let plan = third_party_plan("3");
    let desired = plan.desired_size(Workload::ThirdParty).unwrap();
    let sub = subnet(&["10.6.0.10-10.6.0.20"]);
    let empty = IpSet::new(IpFamily::V4);
    let reserved = v4(&["10.6.0.10"]);
    let input = ThirdPartyInput {
        plan: &plan,
        planned: &plan.pools[0],
        desired,
        subnet: &sub,
        existing: None,
        held: &empty,
        reserved: &reserved,
        other_pools: &empty,
    };
    let ThirdPartyAction::Write { status, pool, create: true } =
        plan_third_party_pool(&input).unwrap()
    else {
        panic!()
    };
    assert_eq!(pool.spec.ips, ["10.6.0.11-10.6.0.13"]);
    let status = status.unwrap();
    assert_eq!(status.allocated_ip_count, Some(3));
    assert_eq!(
        status.controlled_ip_pools.as_deref(),
        Some(
            r#"{"auto4-web-eth0-5d3a1":{"ips":["10.6.0.11-10.6.0.13"],"application":"apps.kruise.io_v1alpha1_CloneSet_ns_web"}}"#
        )
    );
    // A second agent that reads the subnet after the first recorded the
    // entry plans the same pool and writes no status.
    let mut recorded = sub.clone();
    recorded.status = Some(*status);
    let again = ThirdPartyInput { subnet: &recorded, ..input };
    let ThirdPartyAction::Write { status: None, pool: same, create: true } =
        plan_third_party_pool(&again).unwrap()
    else {
        panic!()
    };
    assert_eq!(same.spec.ips, pool.spec.ips);
    // Once the pool exists it is used as it is.
    let existing = ThirdPartyInput { existing: Some(&pool), ..again };
    assert_eq!(
        plan_third_party_pool(&existing).unwrap(),
        ThirdPartyAction::Use("auto4-web-eth0-5d3a1".into())
    );
    // A new fixed size grows it from the subnet.
    let bigger = third_party_plan("5");
    let grow = ThirdPartyInput { plan: &bigger, planned: &bigger.pools[0], desired: 5, ..existing };
    let ThirdPartyAction::Write { status: Some(st), pool: grown, create: false } =
        plan_third_party_pool(&grow).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (grown.spec.ips.clone(), st.allocated_ip_count),
        (vec!["10.6.0.11-10.6.0.15".to_string()], Some(5))
    );
    // Undoing the entry of a pool that could not be created.
    let undone = status_without_pool(&recorded, "auto4-web-eth0-5d3a1").unwrap();
    assert_eq!((undone.controlled_ip_pools, undone.allocated_ip_count), (None, Some(0)));
    assert_eq!(status_without_pool(&recorded, "other"), None);
}

#[test]
fn a_full_subnet_is_refused_with_the_numbers_and_nothing_planned() {
    let plan = third_party_plan("20");
    let sub = subnet(&["10.6.0.10-10.6.0.20"]);
    let empty = IpSet::new(IpFamily::V4);
    let input = ThirdPartyInput {
        plan: &plan,
        planned: &plan.pools[0],
        desired: 20,
        subnet: &sub,
        existing: None,
        held: &empty,
        reserved: &empty,
        other_pools: &empty,
    };
    let e = plan_third_party_pool(&input).unwrap_err().to_string();
    assert_eq!(
        e,
        "ipam.spidernet.io/subnet: SpiderSubnet sub4 has 11 free IPs (not reserved, not held by other pools) but auto-pool auto4-web-eth0-5d3a1 needs 20 more to grow from 0 to 20"
    );
    let mut v6 = sub.clone();
    v6.spec.subnet = "fd00::/64".into();
    v6.spec.ip_version = Some(6);
    v6.spec.ips = vec!["fd00::10-fd00::20".into()];
    let e = plan_third_party_pool(&ThirdPartyInput { subnet: &v6, desired: 1, ..input })
        .unwrap_err()
        .to_string();
    assert!(e.contains("SpiderSubnet sub4: it is an IPv6 subnet, not IPv4"), "{e}");
}

#[test]
fn pools_the_subnet_does_not_record_yet_are_not_carved_again() {
    let plan = third_party_plan("2");
    let sub = subnet(&["10.6.0.10-10.6.0.20"]);
    let empty = IpSet::new(IpFamily::V4);
    let manual = v4(&["10.6.0.10-10.6.0.12"]);
    let input = ThirdPartyInput {
        plan: &plan,
        planned: &plan.pools[0],
        desired: 2,
        subnet: &sub,
        existing: None,
        held: &empty,
        reserved: &empty,
        other_pools: &manual,
    };
    let ThirdPartyAction::Write { pool, .. } = plan_third_party_pool(&input).unwrap() else {
        panic!()
    };
    assert_eq!(pool.spec.ips, ["10.6.0.13-10.6.0.14"]);
}
