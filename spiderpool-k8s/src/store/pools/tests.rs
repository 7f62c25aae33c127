#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use spiderpool_core::model::PoolIpAllocation;
use spiderpool_core::store::contract::pool;
use spiderpool_core::store::{AllocationChange, PoolState, StoreError};

use super::*;
use crate::store::units::Units;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rec(uid: &str) -> PoolIpAllocation {
    PoolIpAllocation::new(format!("ns/{uid}"), uid)
}

fn state() -> PoolState {
    PoolState::from_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])).unwrap()
}

fn add(addr: &str, uid: &str) -> AllocationChange {
    AllocationChange { add: vec![(ip(addr), rec(uid))], ..Default::default() }
}

fn remove(addr: &str, uid: &str) -> AllocationChange {
    AllocationChange { remove: vec![(ip(addr), uid.into())], ..Default::default() }
}

#[test]
fn fit_keeps_what_is_still_to_do_and_drops_what_is_done() {
    let mut s = state();
    s.apply(&add("10.6.0.1", "u1")).unwrap();
    // Already done: the same record, a release of a record that is gone or
    // held by another pod.
    assert!(fit(&s, &add("10.6.0.1", "u1")).unwrap().is_empty());
    assert!(fit(&s, &remove("10.6.0.2", "u1")).unwrap().is_empty());
    assert!(fit(&s, &remove("10.6.0.1", "u9")).unwrap().is_empty());
    // Still to do.
    assert_eq!(fit(&s, &add("10.6.0.2", "u2")).unwrap(), add("10.6.0.2", "u2"));
    assert_eq!(fit(&s, &remove("10.6.0.1", "u1")).unwrap(), remove("10.6.0.1", "u1"));
    // The same pod with other owner facts: an update.
    let mut newer = rec("u1");
    newer.container_id = Some("c2".into());
    let change =
        AllocationChange { add: vec![(ip("10.6.0.1"), newer.clone())], ..Default::default() };
    assert_eq!(fit(&s, &change).unwrap().update, vec![(ip("10.6.0.1"), newer)]);
}

#[test]
fn fit_refuses_a_lost_race_and_addresses_the_pool_no_longer_has() {
    let mut s = state();
    s.apply(&add("10.6.0.1", "u1")).unwrap();
    let taken = fit(&s, &add("10.6.0.1", "u2")).unwrap_err();
    assert!(taken.contains("taken by pod ns/u1 (u1)"), "{taken}");
    let outside = fit(&s, &add("10.6.0.99", "u2")).unwrap_err();
    assert!(outside.contains("no longer in spec.ips"), "{outside}");
    let gone = AllocationChange { update: vec![(ip("10.6.0.5"), rec("u5"))], ..Default::default() };
    assert!(fit(&s, &gone).unwrap_err().contains("the record is gone"));
    // A release and an add of the same address in one change (a stale
    // same-name pod's record handed on).
    let swap = AllocationChange {
        add: vec![(ip("10.6.0.1"), rec("u2"))],
        remove: vec![(ip("10.6.0.1"), "u1".into())],
        ..Default::default()
    };
    assert_eq!(fit(&s, &swap).unwrap(), swap);
}

#[test]
fn replay_fails_only_the_unit_that_lost_and_drops_all_its_changes() {
    let mut units = Units::default();
    let (a, b) = (units.allocate(), units.allocate());
    let staged = vec![
        Staged { seq: 1, unit: a, expected: 1, change: add("10.6.0.2", "ua") },
        Staged { seq: 2, unit: b, expected: 2, change: add("10.6.0.3", "ub") },
        Staged { seq: 3, unit: a, expected: 3, change: add("10.6.0.4", "ua") },
    ];
    // Another node took 10.6.0.4 meanwhile.
    let mut fresh = state();
    fresh.apply(&add("10.6.0.4", "other")).unwrap();
    let out = replay(&fresh, &staged, &HashSet::new());
    assert_eq!(out.failed.iter().map(|(u, _)| *u).collect::<Vec<_>>(), [a]);
    assert!(out.changed);
    assert!(out.state.record(&ip("10.6.0.2")).is_none(), "a's first change is withdrawn too");
    assert_eq!(out.state.record(&ip("10.6.0.3")).map(|r| r.pod_uid.as_str()), Some("ub"));
    assert_eq!(out.state.record(&ip("10.6.0.4")).map(|r| r.pod_uid.as_str()), Some("other"));
    // Replaying on a base that holds everything already changes nothing.
    let again = replay(&out.state, &staged[1..2], &HashSet::new());
    assert!(!again.changed && again.failed.is_empty());
}

#[test]
fn staging_is_strict_and_recompute_replays_on_a_new_base() {
    let mut units = Units::default();
    let u = units.allocate();
    let mut slot = PoolSlot::new(1);
    slot.base = Ok(Arc::new(state()));
    slot.view = slot.base.as_ref().ok().cloned();
    assert!(slot.apply_to_view("a", 0, &add("10.6.0.1", "u1")).unwrap_err().is_conflict());
    slot.apply_to_view("a", 1, &add("10.6.0.1", "u1")).unwrap();
    let twice = slot.apply_to_view("a", 1, &add("10.6.0.1", "u2")).unwrap_err();
    assert!(matches!(twice, StoreError::Invalid { .. }), "{twice:?}");
    assert!(matches!(
        slot.apply_to_view("a", 1, &remove("10.6.0.1", "u9")),
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(slot.base.as_ref().unwrap().allocated_count(), 0, "the base is untouched");
    slot.pending.push(Staged { seq: 1, unit: u, expected: 1, change: add("10.6.0.1", "u1") });
    // Another node took 10.6.0.1: the base changes under the staged change.
    let mut fresh = state();
    fresh.apply(&add("10.6.0.1", "other")).unwrap();
    slot.base = Ok(Arc::new(fresh));
    let failures = slot.recompute(&HashSet::new());
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].unit, failures[0].expected), (u, 1));
    let view = slot.view.as_ref().unwrap();
    assert_eq!(view.record(&ip("10.6.0.1")).unwrap().pod_uid, "other");
}

#[test]
fn a_pool_that_does_not_parse_reads_as_invalid() {
    let mut slot = PoolSlot::new(1);
    slot.base = Err("SpiderIPPool a: spec.ips[0]: bad".into());
    let err = slot.read("a", |_| ()).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("spec.ips[0]"), "{err}");
}

#[test]
fn parse_pool_names_the_field_that_does_not_parse() {
    let read: Decoded<SpiderIPPool> = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bad", "resourceVersion": "3"},
        "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.9-10.6.0.1"]}
    }))
    .unwrap();
    let (name, rv, parsed) = parse_pool(read);
    assert_eq!((name.as_str(), rv.as_str()), ("bad", "3"));
    let reason = parsed.unwrap_err();
    assert!(reason.starts_with("SpiderIPPool bad: spec.ips[0]"), "{reason}");
    let read: Decoded<SpiderIPPool> = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bad", "resourceVersion": "4"},
        "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.1"]},
        "status": {"allocatedIPs": "{not json"}
    }))
    .unwrap();
    let reason = parse_pool(read).2.unwrap_err();
    assert!(reason.contains("status.allocatedIPs"), "{reason}");
}
