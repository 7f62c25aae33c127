//! Pool status writes: one made at once, and a pool's part of a group commit.

use std::sync::Arc;
use std::time::Instant;

use spiderpool_core::store::{AllocationChange, PoolState, StoreError, Version};

use super::{backoff, fail};
use crate::store::Shared;
use crate::store::api::RequestError;
use crate::store::pools::{
    Failure, conflict, expected_of, only_removes, parse_pool, releases_only, replay,
};
use crate::store::state::PoolBatch;
use crate::store::stats::inc;
use crate::store::units::UnitId;

/// One `update_allocations` written at once: the view with `change`, written
/// against the view's `resourceVersion`. A 409 reads the pool afresh and is a
/// [`StoreError::Conflict`] (the allocator reads again and retries).
pub(super) async fn write_through(
    shared: &Arc<Shared>,
    name: &str,
    expected: Version,
    change: &AllocationChange,
) -> Result<Version, StoreError> {
    let (state, rv) = shared.lock().plan_pool_write(name, expected, change)?;
    let mut pool = state.to_pool();
    pool.metadata.resource_version = rv;
    shared.lock().pool_write_begins(name, &pool, Arc::new(state), None);
    inc(&shared.counters.status_writes);
    let written = shared.requests.write_pool_status(pool).await;
    if written.is_err() {
        shared.lock().pool_write_refused(name);
    }
    // A release on a pool that went away (deleted right after the write, or
    // before it) is done: a pool that is gone holds no record.
    let gone_ok = |shared: &Shared| {
        if only_removes(change) {
            Ok(shared.lock().bump())
        } else {
            Err(conflict(name, expected, None))
        }
    };
    match written {
        Ok(new_rv) => {
            let landed = shared.lock().pool_write_answered(name, &new_rv, Instant::now());
            landed.map_or_else(|| gone_ok(shared), Ok)
        }
        Err(RequestError::Conflict(_)) => {
            inc(&shared.counters.status_conflicts);
            if let Err(message) = refetch(shared, name).await {
                tracing::warn!(pool = name, %message, "reading the pool after a conflict failed");
            }
            let actual = shared.lock().pools.get(name).map(|slot| slot.version);
            Err(conflict(name, expected, actual))
        }
        Err(RequestError::NotFound(_)) => gone_ok(shared),
        Err(RequestError::Failed(message)) => Err(StoreError::Backend(message)),
    }
}

/// Reads pool `name` from the API server (not the cache) and installs it
/// unless the store already holds something newer.
pub(super) async fn refetch(shared: &Arc<Shared>, name: &str) -> Result<(), String> {
    inc(&shared.counters.pool_refetches);
    match shared.requests.get_pool(name).await {
        Ok(read) => {
            let (_, rv, parsed) = parse_pool(read);
            shared.lock().pool_fetched(name, parsed, &rv, Instant::now());
            Ok(())
        }
        // Gone: the watch reports the deletion.
        Err(RequestError::NotFound(_) | RequestError::Conflict(_)) => Ok(()),
        Err(RequestError::Failed(message)) => Err(message),
    }
}

/// What one write attempt of a commit sends.
struct Plan {
    state: Arc<PoolState>,
    rv: Option<String>,
    /// `state` is the batch's snapshot (no replay).
    clean: bool,
    /// The units whose changes it carries.
    units: Vec<UnitId>,
}

/// A pool's part of a group commit: one status write with every staged change
/// of live units; on 409, a fresh read, a replay, and another write — at most
/// the options' `commit_attempts` writes.
pub(super) async fn commit(shared: &Arc<Shared>, batch: &PoolBatch) {
    let attempts = shared.options.commit_attempts.max(1);
    let mut last_units = Vec::new();
    for attempt in 0..attempts {
        let Some(plan) = plan(shared, batch, attempt) else { return };
        let mut pool = plan.state.to_pool();
        pool.metadata.resource_version = plan.rv;
        let clean = plan.clean.then_some(batch.generation);
        shared.lock().pool_write_begins(&batch.name, &pool, plan.state, clean);
        inc(&shared.counters.status_writes);
        let written = shared.requests.write_pool_status(pool).await;
        if matches!(written, Err(RequestError::Conflict(_) | RequestError::NotFound(_))) {
            shared.lock().pool_write_refused(&batch.name);
        }
        match written {
            Ok(rv) => {
                shared.lock().pool_write_answered(&batch.name, &rv, Instant::now());
                return;
            }
            Err(RequestError::Conflict(message)) => {
                tracing::debug!(%message, "status write refused");
                inc(&shared.counters.status_conflicts);
                if let Err(message) = refetch(shared, &batch.name).await {
                    fail(shared, &plan.units, &StoreError::Backend(message));
                    return;
                }
                last_units = plan.units;
                tokio::time::sleep(backoff(attempt + 1)).await;
            }
            Err(RequestError::NotFound(_)) => {
                fail_each(shared, batch, &plan.units, None);
                return;
            }
            Err(RequestError::Failed(message)) => {
                fail(shared, &plan.units, &StoreError::Backend(message));
                return;
            }
        }
    }
    let actual = shared.lock().pools.get(&batch.name).map(|slot| slot.version);
    fail_each(shared, batch, &last_units, actual);
}

/// The write of attempt `attempt`: the batch's snapshot when nothing of it
/// failed and nothing was read since; otherwise the staged changes of live
/// units replayed on the newest base (those that no longer fit fail their
/// units). `None`: nothing left to write.
fn plan(shared: &Arc<Shared>, batch: &PoolBatch, attempt: u32) -> Option<Plan> {
    let (failed, current) = {
        let tables = shared.lock();
        (tables.units.failed(), tables.pool_base(&batch.name))
    };
    let mut units: Vec<UnitId> = Vec::new();
    for s in &batch.staged {
        if !failed.contains(&s.unit) && !units.contains(&s.unit) {
            units.push(s.unit);
        }
    }
    if units.is_empty() {
        return None;
    }
    let untouched = batch.staged.iter().all(|s| !failed.contains(&s.unit));
    if attempt == 0 && untouched {
        let (state, rv) = (batch.snapshot.clone(), batch.base_rv.clone());
        return Some(Plan { state, rv, clean: true, units });
    }
    let Some((base, rv, _)) = current else {
        fail_each(shared, batch, &units, None);
        return None;
    };
    let replayed = replay(&base, &batch.staged, &failed);
    if !replayed.failed.is_empty() {
        let version = shared.lock().pools.get(&batch.name).map(|slot| slot.version);
        let failures: Vec<Failure> = replayed
            .failed
            .iter()
            .map(|(unit, reason)| Failure {
                unit: *unit,
                expected: expected_of(&batch.staged, *unit),
                reason: reason.clone(),
            })
            .collect();
        units.retain(|u| !replayed.failed.iter().any(|(f, _)| f == u));
        shared.lock().fail_units(failures, |expected| conflict(&batch.name, expected, version));
    }
    if units.is_empty() || !replayed.changed {
        // Nothing left, or everything already in the pool (a write whose
        // answer was lost went through): the units are done.
        return None;
    }
    Some(Plan { state: Arc::new(replayed.state), rv, clean: false, units })
}

/// Fails each of `units` with a conflict on the batch's pool (`actual`: the
/// store's version of it, `None` when it is gone). On a pool that is gone a
/// unit that only released records does not fail: nothing holds them.
fn fail_each(shared: &Shared, batch: &PoolBatch, units: &[UnitId], actual: Option<Version>) {
    let mut tables = shared.lock();
    for unit in units {
        if actual.is_none() && releases_only(&batch.staged, *unit) {
            continue;
        }
        let expected = expected_of(&batch.staged, *unit);
        tables.units.fail(*unit, conflict(&batch.name, expected, actual));
    }
}
