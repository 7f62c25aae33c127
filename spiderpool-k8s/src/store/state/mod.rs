//! [`Tables`]: everything the store holds in memory — pools, endpoints,
//! reserved IPs, units of work — behind the store's one lock.
//!
//! Nothing here does I/O: the watch tasks and the commit code gather answers
//! from the API server and hand them in; the methods decide what to install
//! and keep the views, versions and units consistent. Pool methods are in
//! [`pool_ops`](self), endpoint methods in `endpoint_ops`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use spiderpool_core::model::SpiderReservedIP;
use spiderpool_core::store::{PoolState, StoreError, Version};

use super::endpoints::{EndpointKey, EndpointSlot, StagedEndpoint, conflict as endpoint_conflict};
use super::pools::{Failure, PoolSlot, Staged, conflict as pool_conflict};
use super::units::{UnitId, Units};

mod endpoint_ops;
mod pool_ops;

pub(super) use endpoint_ops::Precondition;
pub(super) use pool_ops::Relisted;

/// The store's in-memory state (see the module doc).
#[derive(Debug, Default)]
pub(super) struct Tables {
    /// Pools by name.
    pub(super) pools: BTreeMap<String, PoolSlot>,
    /// Endpoints by namespace and name.
    pub(super) endpoints: HashMap<EndpointKey, EndpointSlot>,
    /// Reserved IPs by name.
    pub(super) reserved: BTreeMap<String, Arc<SpiderReservedIP>>,
    /// Units of work with staged writes or an outcome to take.
    pub(super) units: Units,
    /// Objects skipped because they do not decode or parse: kind and name →
    /// why (with the field).
    pub(super) rejected: BTreeMap<(&'static str, String), String>,
    /// Staged writes with a sequence number up to this are being committed.
    inflight_upto: Option<u64>,
    last_seq: u64,
    last_version: Version,
}

/// The staged writes one commit takes (see [`Tables::take_batch`]).
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// The last sequence number in the batch.
    pub(super) upto: u64,
    /// Per pool.
    pub(super) pools: Vec<PoolBatch>,
    /// Per endpoint.
    pub(super) endpoints: Vec<EndpointBatch>,
}

impl Batch {
    /// True when there is nothing to commit.
    pub(super) fn is_empty(&self) -> bool {
        self.pools.is_empty() && self.endpoints.is_empty()
    }
}

/// The staged changes of one pool in a commit.
#[derive(Debug)]
pub(super) struct PoolBatch {
    /// Pool name.
    pub(super) name: String,
    /// The changes, oldest first.
    pub(super) staged: Vec<Staged>,
    /// `resourceVersion` of the base they were staged on.
    pub(super) base_rv: Option<String>,
    /// The view when the batch was taken: exactly `base` with `staged` applied.
    pub(super) snapshot: Arc<PoolState>,
    /// The slot's generation when the batch was taken.
    pub(super) generation: u64,
}

/// The staged writes of one endpoint in a commit.
#[derive(Debug)]
pub(super) struct EndpointBatch {
    /// Namespace and name.
    pub(super) key: EndpointKey,
    /// The writes, oldest first.
    pub(super) staged: Vec<StagedEndpoint>,
}

impl Tables {
    /// A new version, larger than every earlier one (store-wide, so an object
    /// deleted and created again never repeats a version).
    pub(super) fn bump(&mut self) -> Version {
        self.last_version += 1;
        self.last_version
    }

    fn next_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    /// Marks units failed with `error(expected)`; true when one was not
    /// failed before. The reasons go to the debug log.
    pub(super) fn fail_units(
        &mut self,
        failures: Vec<Failure>,
        error: impl Fn(Version) -> StoreError,
    ) -> bool {
        let mut changed = false;
        for Failure { unit, expected, reason } in failures {
            if self.units.fail(unit, error(expected)) {
                tracing::debug!(unit = ?unit, %reason, "unit of work failed");
                changed = true;
            }
        }
        changed
    }

    /// Withdraws the staged writes of failed units that are not being
    /// committed, and recomputes the views they were in; units whose writes
    /// were built on withdrawn ones fail too (until nothing changes).
    pub(super) fn withdraw_failed(&mut self) {
        let mut failed = self.units.failed();
        if failed.is_empty() {
            return;
        }
        let pools: Vec<String> = self
            .pools
            .iter()
            .filter(|(_, slot)| slot.pending.iter().any(|s| failed.contains(&s.unit)))
            .map(|(name, _)| name.clone())
            .collect();
        let endpoints: Vec<EndpointKey> = self
            .endpoints
            .iter()
            .filter(|(_, slot)| slot.pending.iter().any(|s| failed.contains(&s.unit)))
            .map(|(key, _)| key.clone())
            .collect();
        // Views without the failed units' writes; a unit whose write no
        // longer fits without them fails too, and the views are recomputed
        // until no unit fails any more.
        loop {
            let mut changed = false;
            for name in &pools {
                let version = self.bump();
                let Some(slot) = self.pools.get_mut(name) else { continue };
                slot.generation += 1;
                slot.version = version;
                let newly = slot.recompute(&failed);
                changed |= self.fail_units(newly, |e| pool_conflict(name, e, Some(version)));
            }
            for key in &endpoints {
                let version = self.bump();
                let Some(slot) = self.endpoints.get_mut(key) else { continue };
                slot.version = version;
                let newly = slot.recompute(&failed);
                let actual = slot.view.as_ref().map(|_| version);
                changed |= self.fail_units(newly, |e| endpoint_conflict(key, e, actual));
            }
            if !changed {
                break;
            }
            failed = self.units.failed();
        }
        // Out of the staged lists (those being committed stay until the
        // commit ends).
        let inflight = self.inflight_upto;
        let withdraw = |seq: u64, unit: &UnitId| {
            failed.contains(unit) && inflight.is_none_or(|upto| seq > upto)
        };
        let mut resolved = Vec::new();
        for slot in self.pools.values_mut() {
            resolved
                .extend(slot.pending.extract_if(.., |s| withdraw(s.seq, &s.unit)).map(|s| s.unit));
        }
        for slot in self.endpoints.values_mut() {
            resolved
                .extend(slot.pending.extract_if(.., |s| withdraw(s.seq, &s.unit)).map(|s| s.unit));
        }
        for unit in resolved {
            self.units.resolve(unit);
        }
    }

    /// Takes every staged write for one commit: withdraws those of failed
    /// units first, then marks the rest in flight.
    pub(super) fn take_batch(&mut self) -> Batch {
        self.withdraw_failed();
        let upto = self.last_seq;
        let mut batch = Batch { upto, ..Batch::default() };
        for (name, slot) in &self.pools {
            if slot.pending.is_empty() {
                continue;
            }
            let (Ok(_), Some(view)) = (&slot.base, &slot.view) else { continue };
            batch.pools.push(PoolBatch {
                name: name.clone(),
                staged: slot.pending.clone(),
                base_rv: slot.base_rv.clone(),
                snapshot: view.clone(),
                generation: slot.generation,
            });
        }
        for (key, slot) in &self.endpoints {
            if !slot.pending.is_empty() {
                batch
                    .endpoints
                    .push(EndpointBatch { key: key.clone(), staged: slot.pending.clone() });
            }
        }
        self.inflight_upto = Some(upto);
        batch
    }

    /// Ends a commit: the writes it carried are resolved (their units learn
    /// the outcome from [`Units`]); failed units' other writes are withdrawn.
    pub(super) fn finish_batch(&mut self, upto: u64, now: std::time::Instant) {
        // A write that did not go in (its unit failed) is still in the view:
        // those views are recomputed from the base.
        let failed = self.units.failed();
        let lost = |staged: &[(u64, UnitId)]| {
            staged.iter().any(|(seq, unit)| *seq <= upto && failed.contains(unit))
        };
        let mut resolved = Vec::new();
        let mut pools = Vec::new();
        for (name, slot) in &mut self.pools {
            let items: Vec<(u64, UnitId)> = slot.pending.iter().map(|s| (s.seq, s.unit)).collect();
            if lost(&items) {
                pools.push(name.clone());
            }
            resolved.extend(slot.pending.extract_if(.., |s| s.seq <= upto).map(|s| s.unit));
        }
        let mut endpoints = Vec::new();
        for (key, slot) in &mut self.endpoints {
            let items: Vec<(u64, UnitId)> = slot.pending.iter().map(|s| (s.seq, s.unit)).collect();
            if lost(&items) {
                endpoints.push(key.clone());
            }
            resolved.extend(slot.pending.extract_if(.., |s| s.seq <= upto).map(|s| s.unit));
        }
        for unit in resolved {
            self.units.resolve(unit);
        }
        self.inflight_upto = None;
        for name in pools {
            let version = self.bump();
            let Some(slot) = self.pools.get_mut(&name) else { continue };
            slot.generation += 1;
            slot.version = version;
            let newly = slot.recompute(&failed);
            self.fail_units(newly, |e| pool_conflict(&name, e, Some(version)));
        }
        for key in endpoints {
            let version = self.bump();
            let Some(slot) = self.endpoints.get_mut(&key) else { continue };
            slot.version = version;
            let newly = slot.recompute(&failed);
            let actual = slot.view.as_ref().map(|_| version);
            self.fail_units(newly, |e| endpoint_conflict(&key, e, actual));
        }
        self.withdraw_failed();
        for slot in self.endpoints.values_mut() {
            // Committed: the view is the server's object now (its metadata,
            // and the schema defaults the API server filled in; same content
            // otherwise, so the version stays).
            if slot.pending.is_empty() {
                slot.view = slot.base.clone();
            }
        }
        self.endpoints.retain(|_, slot| !slot.is_idle() || slot.tracker.waiting(now));
    }

    /// True when no write is staged.
    pub(super) fn nothing_staged(&self) -> bool {
        self.pools.values().all(|s| s.pending.is_empty())
            && self.endpoints.values().all(|s| s.pending.is_empty())
    }
}

#[cfg(test)]
mod tests;
