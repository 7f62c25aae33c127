use std::sync::Arc;

use super::*;
use crate::model::{IPPoolSpec, IPPoolStatus, ReservedIPSpec};

fn pool(name: &str, at: &str, subnet: &str, ips: &[&str]) -> SpiderIPPool {
    let mut p = SpiderIPPool::new(
        name,
        IPPoolSpec {
            ip_version: Some(if subnet.contains(':') { 6 } else { 4 }),
            subnet: subnet.into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    );
    p.metadata.creation_timestamp = Some(at.into());
    p.metadata.finalizers = Some(vec![FINALIZER.into()]);
    p
}

fn with_records(mut p: SpiderIPPool, json: &str) -> SpiderIPPool {
    p.status = Some(IPPoolStatus { allocated_ips: Some(json.into()), ..Default::default() });
    p
}

#[test]
fn counts_come_from_spec_and_records() {
    let mut p = pool("a", "2025-01-01T00:00:00Z", "10.6.0.0/24", &["10.6.0.10-10.6.0.29"]);
    p.spec.exclude_ips = vec!["10.6.0.10-10.6.0.14".into()];
    let p = with_records(
        p,
        r#"{"10.6.0.20":{"pod":"ns/a","podUid":"u1"},"10.6.0.21":{"pod":"ns/b","podUid":"u2"}}"#,
    );
    let plan = plan_pool(&p).unwrap();
    assert_eq!((plan.total, plan.allocated, plan.finalizer), (15, 2, FinalizerAction::Keep));
    assert!(plan.counts_differ(&p));
    let mut fixed = p.clone();
    let status = fixed.status.get_or_insert_with(Default::default);
    status.total_ip_count = Some(15);
    status.allocated_ip_count = Some(2);
    assert!(!plan.counts_differ(&fixed));
}

#[test]
fn a_stale_count_is_corrected_from_the_records() {
    let mut p = with_records(
        pool("a", "2025-01-01T00:00:00Z", "10.6.0.0/24", &["10.6.0.10-10.6.0.29"]),
        r#"{"10.6.0.20":{"pod":"ns/a","podUid":"u1"}}"#,
    );
    p.status.as_mut().unwrap().allocated_ip_count = Some(7);
    assert_eq!(plan_pool(&p).unwrap().allocated, 1);
}

#[test]
fn finalizer_table() {
    let mut live = ObjectMeta::named("p");
    assert_eq!(finalizer_action(&live, 0), FinalizerAction::Add);
    live.finalizers = Some(vec![FINALIZER.into()]);
    assert_eq!(finalizer_action(&live, 0), FinalizerAction::Keep);
    let mut gone = live.clone();
    gone.deletion_timestamp = Some("2025-01-01T00:00:00Z".into());
    assert_eq!(finalizer_action(&gone, 1), FinalizerAction::Keep, "records still held");
    assert_eq!(finalizer_action(&gone, 0), FinalizerAction::Remove);
    gone.finalizers = Some(vec!["other".into()]);
    assert_eq!(finalizer_action(&gone, 0), FinalizerAction::Keep, "not ours to remove");
}

#[test]
fn a_pool_whose_records_do_not_parse_is_not_planned() {
    let mut p = with_records(pool("a", "t", "10.6.0.0/24", &[]), "{broken");
    p.metadata.deletion_timestamp = Some("2025-01-01T00:00:00Z".into());
    let err = plan_pool(&p).unwrap_err().to_string();
    assert!(err.contains("SpiderIPPool a") && err.contains("status.allocatedIPs"), "{err}");
}

/// Spiderpool #746: the later of two overlapping pools loses, whoever is
/// checked; pools that do not overlap, or of the other family, are fine.
#[test]
fn overlap_race_marks_the_later_pool() {
    let a = pool("a", "2025-01-01T00:00:00Z", "10.6.0.0/24", &["10.6.0.10-10.6.0.20"]);
    let b = pool("b", "2025-01-01T00:00:01Z", "10.6.0.0/24", &["10.6.0.20-10.6.0.30"]);
    let c = pool("c", "2025-01-01T00:00:00Z", "10.6.0.0/16", &["10.6.1.1"]);
    let d = pool("d", "2025-01-01T00:00:00Z", "10.7.0.0/24", &["10.7.0.1"]);
    let v6 = pool("e", "2024-01-01T00:00:00Z", "fd00::/64", &["fd00::1"]);
    let all = [&a, &b, &c, &d, &v6];
    // a and c: same time, different but overlapping subnets: c sorts after a.
    assert_eq!(earlier_overlap(&a, &all), None);
    let oc = earlier_overlap(&c, &all).unwrap();
    assert_eq!(oc.earlier, "a");
    assert!(
        oc.detail.contains("spec.subnet 10.6.0.0/16 overlaps spec.subnet 10.6.0.0/24"),
        "{}",
        oc.detail
    );
    let ob = earlier_overlap(&b, &all).unwrap();
    assert_eq!(ob.earlier, "a");
    assert!(ob.detail.contains("10.6.0.20"), "{}", ob.detail);
    assert_eq!(earlier_overlap(&d, &all), None);
    assert_eq!(earlier_overlap(&v6, &all), None);
    // Same subnet, disjoint IPs: fine.
    let f = pool("f", "2026-01-01T00:00:00Z", "10.6.0.0/24", &["10.6.0.100"]);
    assert_eq!(earlier_overlap(&f, &[&a, &f]), None);
    // A pool whose subnet does not parse overlaps nothing.
    let g = pool("g", "2026-01-01T00:00:00Z", "10.6.0.0/33", &[]);
    assert_eq!(earlier_overlap(&g, &[&a, &g]), None);
}

#[test]
fn reserved_addresses_in_use_are_reported() {
    let p = with_records(
        pool("a", "t", "10.6.0.0/24", &["10.6.0.10-10.6.0.29"]),
        r#"{"10.6.0.20":{"pod":"ns/a","podUid":"u1"},"10.6.0.21":{"pod":"ns/b","podUid":"u2"}}"#,
    );
    let r = Arc::new(crate::model::SpiderReservedIP::new(
        "r",
        ReservedIPSpec { ip_version: Some(4), ips: vec!["10.6.0.21-10.6.0.25".into()] },
    ));
    assert_eq!(reserved_in_use(&p, &[r]).to_strings(), vec!["10.6.0.21".to_string()]);
    assert!(reserved_in_use(&p, &[]).is_empty());
}

#[test]
fn overlap_condition_is_set_kept_and_removed() {
    let a = pool("a", "2025-01-01T00:00:00Z", "10.6.0.0/24", &["10.6.0.10-10.6.0.20"]);
    let mut b = pool("b", "2025-01-01T00:00:01Z", "10.6.0.0/24", &["10.6.0.20-10.6.0.30"]);
    let overlap = earlier_overlap(&b, &[&a, &b]).unwrap();
    let set = overlap_conditions(&b, Some(&overlap), "2025-02-01T00:00:00Z").unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!((set[0].type_.as_str(), set[0].status.as_str()), ("Overlapping", "True"));
    assert!(
        set[0].message.starts_with("overlaps SpiderIPPool a, admitted before it: IPs [10.6.0.20]"),
        "{}",
        set[0].message
    );
    b.status.get_or_insert_with(Default::default).conditions = set.clone();
    assert!(b.status.as_ref().unwrap().overlapping().is_some());
    // Unchanged: no write; another condition is kept when it goes.
    assert_eq!(overlap_conditions(&b, Some(&overlap), "2025-03-01T00:00:00Z"), None);
    let other = crate::model::Condition {
        type_: "Other".into(),
        status: "True".into(),
        ..Default::default()
    };
    b.status.as_mut().unwrap().conditions.push(other.clone());
    assert_eq!(overlap_conditions(&b, None, "2025-03-01T00:00:00Z"), Some(vec![other]));
    // Never marked: nothing to remove.
    assert_eq!(overlap_conditions(&a, None, "2025-03-01T00:00:00Z"), None);
}
