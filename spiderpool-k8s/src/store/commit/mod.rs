//! Writes: made at once ([`CommitMode::PerWrite`], and a write outside a unit
//! of work), or staged and committed together by `sync` ([`CommitMode::Group`]).
//!
//! A group commit takes every staged write ([`Tables::take_batch`]), writes
//! each pool once with all the changes staged on it (pools side by side),
//! then the endpoint writes of the units whose pool changes all went in, then
//! resolves the units. One commit runs at a time; requests that call `sync`
//! while one runs wait for it and then commit together whatever was staged
//! meanwhile — under load each commit carries many requests. The commit runs
//! in a task of its own, so a caller that gives up waiting (a cancelled
//! request) cannot leave it half done.
//!
//! [`CommitMode::PerWrite`]: super::CommitMode::PerWrite
//! [`CommitMode::Group`]: super::CommitMode::Group
//! [`Tables::take_batch`]: super::state::Tables::take_batch

use std::sync::Arc;
use std::time::{Duration, Instant};

use spiderpool_core::model::SpiderEndpoint;
use spiderpool_core::store::{AllocationChange, StoreError, Version};

use super::endpoints::EndpointKey;
use super::state::Precondition;
use super::stats::inc;
use super::units::{self, UnitId};
use super::{CommitMode, Shared};

mod endpoint;
mod pool;

/// `PoolStore::update_allocations`.
pub(super) async fn update_allocations(
    shared: &Arc<Shared>,
    name: &str,
    expected: Version,
    change: &AllocationChange,
) -> Result<Version, StoreError> {
    if shared.options.commit == CommitMode::PerWrite {
        return pool::write_through(shared, name, expected, change).await;
    }
    let scoped = units::current();
    let unit = scoped.unwrap_or_else(|| shared.lock().units.allocate());
    let version = shared.lock().stage_pool(name, expected, change, unit)?;
    inc(&shared.counters.staged);
    if scoped.is_some() {
        return Ok(version);
    }
    // A write outside any unit of work is a unit of its own, committed before
    // it returns.
    sync_unit(shared, unit).await?;
    Ok(shared.lock().pools.get(name).map_or(version, |slot| slot.version))
}

/// `EndpointStore::create_endpoint`, `update_endpoint` (`after` is the new
/// object) and `delete_endpoint` (`after` is `None`).
pub(super) async fn write_endpoint(
    shared: &Arc<Shared>,
    key: &EndpointKey,
    pre: Precondition,
    after: Option<SpiderEndpoint>,
) -> Result<Version, StoreError> {
    // The scope label goes on at once, so the view shows what the API
    // server will hold (and the watch's echo compares equal).
    let after = after.map(|ep| labelled(ep, shared.options.scope_label.as_ref()));
    if shared.options.commit == CommitMode::PerWrite {
        return endpoint::write_through(shared, key, pre, after).await;
    }
    let scoped = units::current();
    let unit = scoped.unwrap_or_else(|| shared.lock().units.allocate());
    let version = shared.lock().stage_endpoint(key, pre, after, unit)?;
    inc(&shared.counters.staged);
    if scoped.is_some() {
        return Ok(version);
    }
    sync_unit(shared, unit).await?;
    Ok(shared.lock().endpoints.get(key).map_or(version, |slot| slot.version))
}

/// `PoolStore::sync`: inside a unit of work, commits (or waits for the
/// commit of) the unit's staged writes and returns its outcome; outside,
/// commits whatever is staged.
pub(super) async fn sync(shared: &Arc<Shared>) -> Result<(), StoreError> {
    if let Some(unit) = units::current() {
        return sync_unit(shared, unit).await;
    }
    if shared.lock().nothing_staged() {
        return Ok(());
    }
    let guard = shared.commit_lock.clone().lock_owned().await;
    run_commit(shared, guard).await.map(|_| ())
}

/// Waits until every staged write of `unit` is resolved, leading commits as
/// needed, and takes the unit's outcome.
async fn sync_unit(shared: &Arc<Shared>, unit: UnitId) -> Result<(), StoreError> {
    let outcome = wait_unit(shared, unit).await;
    if outcome.is_err() {
        inc(&shared.counters.units_failed);
    }
    outcome
}

async fn wait_unit(shared: &Arc<Shared>, unit: UnitId) -> Result<(), StoreError> {
    loop {
        if let Some(outcome) = shared.lock().units.take_outcome(unit) {
            return outcome;
        }
        let guard = shared.commit_lock.clone().lock_owned().await;
        if let Some(outcome) = shared.lock().units.take_outcome(unit) {
            return outcome;
        }
        if !run_commit(shared, guard).await? {
            // Nothing was staged, yet the unit waits: its writes were lost
            // (cannot happen; do not spin).
            shared.lock().units.fail(unit, StoreError::Backend("staged writes lost".into()));
            return shared.lock().units.take_outcome(unit).unwrap_or(Ok(()));
        }
    }
}

/// Runs one commit in a task of its own (holding `guard`); true when it
/// carried something.
async fn run_commit(
    shared: &Arc<Shared>,
    guard: tokio::sync::OwnedMutexGuard<()>,
) -> Result<bool, StoreError> {
    let shared = shared.clone();
    let task = tokio::spawn(async move {
        let _turn = guard;
        commit(&shared).await
    });
    task.await.map_err(|e| StoreError::Backend(format!("commit task: {e}")))
}

/// One group commit (see the module doc); true when it carried something.
async fn commit(shared: &Arc<Shared>) -> bool {
    let batch = shared.lock().take_batch();
    if batch.is_empty() {
        shared.lock().finish_batch(batch.upto, Instant::now());
        return false;
    }
    inc(&shared.counters.commits);
    futures::future::join_all(batch.pools.iter().map(|p| pool::commit(shared, p))).await;
    futures::future::join_all(batch.endpoints.iter().map(|e| endpoint::commit(shared, e))).await;
    shared.lock().finish_batch(batch.upto, Instant::now());
    true
}

/// `endpoint` with the store's scope label, when it has one.
fn labelled(mut endpoint: SpiderEndpoint, scope: Option<&(String, String)>) -> SpiderEndpoint {
    if let Some((key, value)) = scope {
        endpoint
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(key.clone(), value.clone());
    }
    endpoint
}

/// Marks `units` failed with `error`.
fn fail(shared: &Shared, units: &[UnitId], error: &StoreError) {
    let mut tables = shared.lock();
    for unit in units {
        tables.units.fail(*unit, error.clone());
    }
}

/// A short random wait before write attempt `attempt` (1-based) of a commit
/// that met a 409: up to 2^attempt ms, at most 50 ms.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let cap = (1u64 << attempt.min(6)).min(50);
    Duration::from_micros(h.finish() % (cap * 1000 + 1))
}
