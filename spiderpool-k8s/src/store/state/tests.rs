//! The store's in-memory logic, fed with what the watch and the API server
//! would say (no API server here; the tests against a real one are in
//! `tests/store_*.rs`).
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Instant;

use spiderpool_core::model::{PoolIpAllocation, SpiderEndpoint};
use spiderpool_core::store::contract::pool;
use spiderpool_core::store::{AllocationChange, PoolState, StoreError};

use super::*;
use crate::KubeObject;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn add(addr: &str, uid: &str) -> AllocationChange {
    AllocationChange {
        add: vec![(ip(addr), PoolIpAllocation::new(format!("ns/{uid}"), uid))],
        ..Default::default()
    }
}

/// Pool `name` (10.6.0.1-10.6.0.10) as the watch delivers it at `rv`, with
/// `records` already allocated.
fn watched(tables: &mut Tables, name: &str, rv: &str, records: &[(&str, &str)]) {
    let mut state =
        PoolState::from_pool(pool(name, "10.6.0.0/16", &["10.6.0.1-10.6.0.10"])).unwrap();
    for (addr, uid) in records {
        state.apply(&add(addr, uid)).unwrap();
    }
    let now = Instant::now();
    let object = KubeObject::from_core(state.to_pool()).unwrap();
    if let Some(ticket) = tables.pool_watch_ticket(name, rv, Some(&object), now) {
        tables.install_watched_pool(name, ticket, Ok(state), rv, now);
    }
}

fn holder(tables: &Tables, pool: &str, addr: &str) -> Option<String> {
    tables
        .read_pool(pool, |s| s.record(&ip(addr)).map(|r| r.pod_uid.clone()))
        .unwrap()
        .unwrap()
        .value
}

fn version(tables: &Tables, pool: &str) -> u64 {
    tables.read_pool(pool, |_| ()).unwrap().unwrap().version
}

/// Commits the batch of pool `name` as the API server accepting it at `rv`
/// would; `echo_first`: the watch shows the write before its answer arrives.
fn commit_pool(tables: &mut Tables, name: &str, rv: &str, echo_first: bool) {
    let batch = tables.take_batch();
    let p = batch.pools.iter().find(|p| p.name == name).unwrap();
    let mut sent = p.snapshot.to_pool();
    sent.metadata.resource_version = p.base_rv.clone();
    tables.pool_write_begins(name, &sent, p.snapshot.clone(), Some(p.generation));
    let now = Instant::now();
    if echo_first {
        let echo = KubeObject::from_core(sent).unwrap();
        assert!(tables.pool_watch_ticket(name, rv, Some(&echo), now).is_none(), "the echo lands");
    }
    tables.pool_write_answered(name, rv, now);
    tables.finish_batch(batch.upto, now);
}

#[test]
fn a_group_commit_lands_the_written_state_and_keeps_the_version() {
    for echo_first in [false, true] {
        let mut t = Tables::default();
        watched(&mut t, "a", "10", &[]);
        let u = t.units.allocate();
        let v = t.stage_pool("a", version(&t, "a"), &add("10.6.0.1", "u1"), u).unwrap();
        assert_eq!(t.units.take_outcome(u), None, "pending until committed");
        commit_pool(&mut t, "a", "11", echo_first);
        assert_eq!(t.units.take_outcome(u), Some(Ok(())));
        assert_eq!(version(&t, "a"), v, "the view did not change (echo first: {echo_first})");
        assert_eq!(t.pools["a"].base_rv.as_deref(), Some("11"));
        assert_eq!(holder(&t, "a", "10.6.0.1").as_deref(), Some("u1"));
        // The watch's echo after the answer changes nothing either.
        watched(&mut t, "a", "11", &[("10.6.0.1", "u1")]);
        assert_eq!(version(&t, "a"), v);
    }
}

#[test]
fn a_staged_add_another_node_took_fails_its_unit_and_withdraws_its_other_writes() {
    let mut t = Tables::default();
    watched(&mut t, "a", "10", &[]);
    watched(&mut t, "b", "20", &[]);
    let (u, w) = (t.units.allocate(), t.units.allocate());
    t.stage_pool("a", version(&t, "a"), &add("10.6.0.1", "u"), u).unwrap();
    t.stage_pool("b", version(&t, "b"), &add("10.6.0.1", "u"), u).unwrap();
    t.stage_pool("a", version(&t, "a"), &add("10.6.0.2", "w"), w).unwrap();
    // Another node's write of pool a took 10.6.0.1.
    watched(&mut t, "a", "11", &[("10.6.0.1", "other")]);
    assert!(t.units.is_failed(u));
    assert_eq!(holder(&t, "a", "10.6.0.1").as_deref(), Some("other"));
    assert_eq!(holder(&t, "a", "10.6.0.2").as_deref(), Some("w"), "w's change still stands");
    let batch = t.take_batch();
    assert_eq!(holder(&t, "b", "10.6.0.1"), None, "u's write to pool b is withdrawn");
    assert_eq!(batch.pools.len(), 1, "only pool a has something to commit");
    assert_eq!(batch.pools[0].staged.len(), 1);
    let outcome = t.units.take_outcome(u).unwrap();
    assert!(matches!(outcome, Err(StoreError::Conflict { .. })), "{outcome:?}");
    assert_eq!(t.units.take_outcome(w), None, "w waits for its commit");
}

#[test]
fn a_unit_whose_scope_ended_before_sync_is_withdrawn() {
    let mut t = Tables::default();
    watched(&mut t, "a", "10", &[]);
    let u = t.units.allocate();
    t.stage_pool("a", version(&t, "a"), &add("10.6.0.1", "u"), u).unwrap();
    assert!(t.units.abandon(u));
    t.withdraw_failed();
    assert_eq!(holder(&t, "a", "10.6.0.1"), None);
    assert!(t.nothing_staged());
    assert!(t.units.failed().is_empty(), "forgotten once withdrawn");
}

#[test]
fn a_relist_without_a_pool_drops_it_and_fails_what_was_staged_on_it() {
    let mut t = Tables::default();
    watched(&mut t, "a", "10", &[]);
    watched(&mut t, "b", "20", &[]);
    let u = t.units.allocate();
    t.stage_pool("a", version(&t, "a"), &add("10.6.0.1", "u"), u).unwrap();
    let now = Instant::now();
    t.pools_relisted(vec![("b".into(), "20".into(), None)], now);
    assert!(t.read_pool("a", |_| ()).unwrap().is_none());
    assert_eq!(t.list_pools().len(), 1);
    let outcome = t.units.take_outcome(u).unwrap();
    assert!(matches!(outcome, Err(StoreError::Conflict { actual: None, .. })), "{outcome:?}");
}

#[test]
fn a_pool_that_stops_parsing_is_rejected_and_others_stay() {
    let mut t = Tables::default();
    watched(&mut t, "a", "10", &[]);
    watched(&mut t, "b", "20", &[]);
    let now = Instant::now();
    let ticket = t.pool_watch_ticket("a", "11", None, now).unwrap();
    t.install_watched_pool("a", ticket, Err("SpiderIPPool a: spec.ips[0]: bad".into()), "11", now);
    assert!(matches!(t.read_pool("a", |_| ()), Err(StoreError::Invalid { .. })));
    assert_eq!(
        t.rejected.get(&("SpiderIPPool", "a".to_owned())).map(String::as_str),
        Some("SpiderIPPool a: spec.ips[0]: bad")
    );
    assert_eq!(t.list_pools().len(), 1, "pool b is still listed");
    watched(&mut t, "a", "12", &[]);
    assert!(t.rejected.is_empty(), "fixed: no longer rejected");
}

fn endpoint(uid: &str) -> SpiderEndpoint {
    let mut ep = SpiderEndpoint::default();
    ep.metadata.name = Some("p".into());
    ep.metadata.namespace = Some("ns".into());
    ep.status.current.uid = uid.into();
    ep
}

#[test]
fn endpoint_writes_built_on_a_failed_one_fail_with_it() {
    let mut t = Tables::default();
    let key: EndpointKey = ("ns".into(), "p".into());
    let (a, b) = (t.units.allocate(), t.units.allocate());
    let v = t.stage_endpoint(&key, Precondition::Absent, Some(endpoint("1")), a).unwrap();
    t.stage_endpoint(&key, Precondition::At(v), Some(endpoint("2")), b).unwrap();
    t.units.fail(a, StoreError::Backend("lost".into()));
    t.withdraw_failed();
    assert!(t.units.is_failed(b), "b's update was built on a's create");
    assert!(t.get_endpoint(&key).is_none());
    assert!(t.nothing_staged());
}

#[test]
fn watch_events_during_an_endpoint_write_wait_for_its_answer() {
    let mut t = Tables::default();
    let key: EndpointKey = ("ns".into(), "p".into());
    let a = t.units.allocate();
    let v = t.stage_endpoint(&key, Precondition::Absent, Some(endpoint("1")), a).unwrap();
    let batch = t.take_batch();
    t.endpoint_write_begins(&key);
    // The echo of the create arrives before the answer (with a default the
    // API server filled in: contents differ).
    let mut stored = endpoint("1");
    stored.metadata.resource_version = Some("5".into());
    stored.status.owner_controller_type = "Pod".into();
    let now = Instant::now();
    t.endpoint_watched(&key, Some(stored.clone()), "5", now);
    t.endpoint_answered(&key, Some((stored, "5".into())), false, now);
    t.finish_batch(batch.upto, now);
    assert_eq!(t.units.take_outcome(a), Some(Ok(())));
    let got = t.get_endpoint(&key).unwrap();
    assert_eq!(got.version, v, "no change seen: the event was the write's echo");
    assert_eq!(got.value.metadata.resource_version.as_deref(), Some("5"));
    // Someone else's change afterwards is seen.
    let mut changed = endpoint("1");
    changed.status.current.node = "n2".into();
    t.endpoint_watched(&key, Some(changed), "6", now);
    let got = t.get_endpoint(&key).unwrap();
    assert!(got.version > v);
    assert_eq!(got.value.status.current.node, "n2");
}

/// Regression: a status write that failed (API server restarting) left its
/// records in the view; the retried ADD of the same pod found "its" record
/// there, wrote nothing, and two nodes handed out the same addresses.
#[test]
fn a_failed_commit_leaves_no_record_in_the_view_for_a_retry_to_reuse() {
    let mut t = Tables::default();
    watched(&mut t, "a", "10", &[]);
    let (u, later) = (t.units.allocate(), t.units.allocate());
    t.stage_pool("a", version(&t, "a"), &add("10.6.0.1", "u"), u).unwrap();
    let batch = t.take_batch();
    // Staged while the commit runs: stays.
    t.stage_pool("a", version(&t, "a"), &add("10.6.0.2", "later"), later).unwrap();
    t.units.fail(u, StoreError::Backend("connection refused".into()));
    t.finish_batch(batch.upto, Instant::now());
    assert_eq!(holder(&t, "a", "10.6.0.1"), None, "not written, not in the view");
    assert_eq!(holder(&t, "a", "10.6.0.2").as_deref(), Some("later"));
    assert!(t.units.take_outcome(u).unwrap().is_err());
    assert_eq!(t.units.take_outcome(later), None, "still to be committed");
}

fn remove(addr: &str, uid: &str) -> AllocationChange {
    AllocationChange { remove: vec![(ip(addr), uid.to_owned())], ..Default::default() }
}

/// The release that empties a terminating pool lets the controller remove
/// the pool: the watch may deliver the deletion before the commit's answer.
/// The release went through (and a pool that is gone holds nothing): its
/// unit succeeds. An allocation on a pool deleted under it still fails.
#[test]
fn a_release_on_a_pool_deleted_during_its_commit_succeeds() {
    for echo_first in [false, true] {
        let mut t = Tables::default();
        watched(&mut t, "a", "10", &[("10.6.0.1", "u1")]);
        let u = t.units.allocate();
        t.stage_pool("a", version(&t, "a"), &remove("10.6.0.1", "u1"), u).unwrap();
        let batch = t.take_batch();
        let p = &batch.pools[0];
        let mut sent = p.snapshot.to_pool();
        sent.metadata.resource_version = p.base_rv.clone();
        t.pool_write_begins("a", &sent, p.snapshot.clone(), Some(p.generation));
        let now = Instant::now();
        if echo_first {
            let echo = KubeObject::from_core(sent).unwrap();
            let _ = t.pool_watch_ticket("a", "11", Some(&echo), now);
        }
        t.pool_deleted("a", "12", now);
        t.pool_write_answered("a", "11", now);
        t.finish_batch(batch.upto, now);
        assert_eq!(t.units.take_outcome(u), Some(Ok(())), "echo first: {echo_first}");
        assert!(t.read_pool("a", |_| ()).unwrap().is_none());
    }
    // A staged allocation on a pool that goes away fails.
    let mut t = Tables::default();
    watched(&mut t, "a", "10", &[]);
    let u = t.units.allocate();
    t.stage_pool("a", version(&t, "a"), &add("10.6.0.1", "u1"), u).unwrap();
    t.pool_deleted("a", "12", Instant::now());
    assert!(matches!(t.units.take_outcome(u), Some(Err(StoreError::Conflict { .. }))));
}
