//! [`Tables`] methods for pools: reads, staged changes, and installing what
//! the watch and the API server's answers say.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use spiderpool_core::model::SpiderIPPool;
use spiderpool_core::store::{AllocationChange, PoolState, StoreError, Version, Versioned};

use super::Tables;
use crate::KubeObject;
use crate::store::pools::{InFlight, POOL, PoolSlot, Staged, conflict, only_removes};
use crate::store::tracker::Answer;
use crate::store::units::UnitId;

/// A parsed pool object, or why it does not parse (with the field).
pub(in crate::store) type Parsed = Result<PoolState, String>;

/// What phase one of installing a watched pool decided (the parse runs
/// between the phases, outside the lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Ticket {
    /// The pool is new to the store.
    New,
    /// Install over the slot if it is still at this generation.
    Existing(u64),
}

/// One pool of a relist: name, `resourceVersion`, and the parsed object
/// (`None` when it was not parsed because the store held that version).
pub(in crate::store) type Relisted = (String, String, Option<Parsed>);

impl Tables {
    /// Runs `f` on the view of pool `name`.
    pub(in crate::store) fn read_pool<R>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R,
    ) -> Result<Option<Versioned<R>>, StoreError> {
        self.pools.get(name).map(|slot| slot.read(name, f)).transpose()
    }

    /// Every pool that parses, as the view shows it.
    pub(in crate::store) fn list_pools(&self) -> Vec<Arc<SpiderIPPool>> {
        self.pools.values().filter_map(|s| s.view.as_ref().map(|v| v.pool.clone())).collect()
    }

    /// Stages `change` of pool `name` for unit `unit`, made against version
    /// `expected` of the view: applied to the view at once, committed later.
    pub(in crate::store) fn stage_pool(
        &mut self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
        unit: UnitId,
    ) -> Result<Version, StoreError> {
        let slot = self.pools.get_mut(name).ok_or_else(|| conflict(name, expected, None))?;
        slot.apply_to_view(name, expected, change)?;
        let seq = self.next_seq();
        let version = self.bump();
        if let Some(slot) = self.pools.get_mut(name) {
            slot.pending.push(Staged { seq, unit, expected, change: change.clone() });
            slot.version = version;
        }
        self.units.add_pending(unit);
        Ok(version)
    }

    /// The view of pool `name` with `change` applied, for a write made at
    /// once (no group commit): the state to write, the `resourceVersion` to
    /// write against.
    pub(in crate::store) fn plan_pool_write(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<(PoolState, Option<String>), StoreError> {
        let slot = self.pools.get(name).ok_or_else(|| conflict(name, expected, None))?;
        let view = slot.read(name, |view| view.clone())?;
        if view.version != expected {
            return Err(conflict(name, expected, Some(view.version)));
        }
        let mut state = view.value;
        state.apply(change)?;
        Ok((state, slot.base_rv.clone()))
    }

    /// The base of pool `name`, its `resourceVersion` and the slot's generation.
    pub(in crate::store) fn pool_base(
        &self,
        name: &str,
    ) -> Option<(Arc<PoolState>, Option<String>, u64)> {
        let slot = self.pools.get(name)?;
        let base = slot.base.as_ref().ok()?;
        Some((base.clone(), slot.base_rv.clone(), slot.generation))
    }

    /// Phase one of installing a pool the watch delivered at `rv`: whether to
    /// parse and install it. The echo of the store's own write in flight is
    /// landed here, without a parse.
    pub(in crate::store) fn pool_watch_ticket(
        &mut self,
        name: &str,
        rv: &str,
        object: Option<&KubeObject<SpiderIPPool>>,
        now: Instant,
    ) -> Option<Ticket> {
        let Some(slot) = self.pools.get_mut(name) else { return Some(Ticket::New) };
        if !slot.tracker.on_watch_apply(rv, now) {
            return None;
        }
        let echo = match (&slot.inflight, object) {
            (Some(write), Some(object)) => write.is_echo(object),
            _ => false,
        };
        if echo {
            self.land_pool_write(name, rv);
            return None;
        }
        // Someone else's write: a write of ours still in flight cannot land
        // (it will be refused) — or it landed before this event.
        slot.inflight = None;
        Some(Ticket::Existing(slot.base_serial))
    }

    /// Phase two: installs the parsed pool unless something newer was
    /// installed since phase one.
    pub(in crate::store) fn install_watched_pool(
        &mut self,
        name: &str,
        ticket: Ticket,
        parsed: Parsed,
        rv: &str,
        now: Instant,
    ) {
        match (ticket, self.pools.get_mut(name)) {
            (Ticket::Existing(serial), Some(slot)) if slot.base_serial == serial => {}
            (Ticket::New, None) => {
                let mut slot = PoolSlot::new(0);
                slot.tracker.on_watch_apply(rv, now);
                self.pools.insert(name.to_owned(), slot);
            }
            _ => return,
        }
        self.set_pool_base(name, parsed, rv);
    }

    /// True when the store holds pool `name` at `rv` (a relist need not parse it).
    pub(in crate::store) fn pool_at(&self, name: &str, rv: &str) -> bool {
        self.pools.get(name).is_some_and(|s| s.base_rv.as_deref() == Some(rv))
    }

    /// A relist of every pool: installs what changed, drops what is gone.
    pub(in crate::store) fn pools_relisted(&mut self, listed: Vec<Relisted>, now: Instant) {
        let names: HashSet<String> = listed.iter().map(|(n, _, _)| n.clone()).collect();
        for (name, rv, parsed) in listed {
            let install = match self.pools.get_mut(&name) {
                Some(slot) => slot.tracker.on_relist(&rv),
                None => {
                    let mut slot = PoolSlot::new(0);
                    slot.tracker.on_relist(&rv);
                    self.pools.insert(name.clone(), slot);
                    true
                }
            };
            match parsed {
                Some(parsed) if install => {
                    if let Some(slot) = self.pools.get_mut(&name) {
                        slot.inflight = None;
                    }
                    self.set_pool_base(&name, parsed, &rv);
                }
                // Held at this version when the relist was read; an answer
                // installed meanwhile is not older than the list.
                _ => {}
            }
        }
        let gone: Vec<String> = self
            .pools
            .iter_mut()
            .filter(|(name, _)| !names.contains(*name))
            .filter_map(|(name, slot)| slot.tracker.on_relist_absent(now).then(|| name.clone()))
            .collect();
        for name in gone {
            self.drop_pool(&name);
        }
    }

    /// The watch delivered the deletion of pool `name` at `rv`.
    pub(in crate::store) fn pool_deleted(&mut self, name: &str, rv: &str, now: Instant) {
        if self.pools.get_mut(name).is_some_and(|slot| slot.tracker.on_watch_delete(rv, now)) {
            self.drop_pool(name);
        }
    }

    /// Removes pool `name`: its staged changes fail (the pool is gone),
    /// except releases: a pool that is gone holds no record, so a release
    /// staged on it — typically the one that emptied a terminating pool,
    /// whose deletion the watch delivered before the write's answer — has
    /// done what it was for.
    fn drop_pool(&mut self, name: &str) {
        let Some(slot) = self.pools.remove(name) else { return };
        self.rejected.remove(&(POOL, name.to_owned()));
        for staged in slot.pending {
            if !only_removes(&staged.change) {
                self.units.fail(staged.unit, conflict(name, staged.expected, None));
            }
            self.units.resolve(staged.unit);
        }
    }

    /// A status write of pool `name` is about to be sent: `sent` is the
    /// body, `state` what it writes; `clean` as in [`InFlight::clean`].
    pub(in crate::store) fn pool_write_begins(
        &mut self,
        name: &str,
        sent: &SpiderIPPool,
        state: Arc<PoolState>,
        clean: Option<u64>,
    ) {
        if let Some(slot) = self.pools.get_mut(name) {
            slot.inflight = Some(InFlight { sent: sent.clone(), state, clean });
        }
    }

    /// The status write of pool `name` was refused (409, 404): it did not land.
    pub(in crate::store) fn pool_write_refused(&mut self, name: &str) {
        if let Some(slot) = self.pools.get_mut(name) {
            slot.inflight = None;
        }
    }

    /// The status write of pool `name` succeeded at `rv`: lands it unless
    /// its echo did already, or the watch delivered something newer. Returns
    /// the version of the view after it.
    pub(in crate::store) fn pool_write_answered(
        &mut self,
        name: &str,
        rv: &str,
        now: Instant,
    ) -> Option<Version> {
        let slot = self.pools.get_mut(name)?;
        match slot.tracker.on_answer(rv, now) {
            Answer::New => self.land_pool_write(name, rv),
            Answer::Held if slot.base_rv.as_deref() != Some(rv) => self.land_pool_write(name, rv),
            // Installed from the watch already, or overtaken by a newer event
            // (which holds this write).
            Answer::Held | Answer::Older => slot.inflight = None,
        }
        self.pools.get(name).map(|slot| slot.version)
    }

    /// The write in flight on pool `name` is at `rv` now: its state becomes
    /// the base without a parse. A clean group commit leaves the view as it
    /// is (it shows the write already); otherwise the view is recomputed.
    fn land_pool_write(&mut self, name: &str, rv: &str) {
        let Some(slot) = self.pools.get_mut(name) else { return };
        let Some(write) = slot.inflight.take() else { return };
        if write.clean == Some(slot.generation) {
            slot.base = Ok(write.state);
            slot.base_rv = Some(rv.to_owned());
            slot.generation += 1;
            slot.base_serial += 1;
            self.rejected.remove(&(POOL, name.to_owned()));
            return;
        }
        self.set_pool_base(name, Ok::<_, String>(write.state), rv);
    }

    /// A fresh GET of pool `name` (after a 409) answered this.
    pub(in crate::store) fn pool_fetched(
        &mut self,
        name: &str,
        parsed: Parsed,
        rv: &str,
        now: Instant,
    ) {
        let Some(slot) = self.pools.get_mut(name) else { return };
        let install = match slot.tracker.on_answer(rv, now) {
            Answer::New => true,
            // Delivered by the watch; not installed when a newer answer won
            // the race against its parse.
            Answer::Held => slot.base_rv.as_deref() != Some(rv),
            Answer::Older => false,
        };
        if install {
            slot.inflight = None;
            self.set_pool_base(name, parsed, rv);
        }
    }

    /// Replaces the base of pool `name` (the slot exists), recomputes the
    /// view and the version, and fails the units whose changes no longer fit.
    fn set_pool_base(
        &mut self,
        name: &str,
        parsed: Result<impl Into<Arc<PoolState>>, String>,
        rv: &str,
    ) {
        let version = self.bump();
        let failed = self.units.failed();
        let key = (POOL, name.to_owned());
        match &parsed {
            Ok(_) => {
                self.rejected.remove(&key);
            }
            Err(reason) => {
                tracing::warn!(kind = POOL, name, rv, %reason, "skipping a pool that does not parse");
                self.rejected.insert(key, reason.clone());
            }
        }
        let Some(slot) = self.pools.get_mut(name) else { return };
        slot.base = parsed.map(Into::into);
        slot.base_rv = Some(rv.to_owned());
        slot.generation += 1;
        slot.base_serial += 1;
        slot.version = version;
        let newly = if slot.pending.is_empty() {
            slot.view = slot.base.as_ref().ok().cloned();
            Vec::new()
        } else {
            slot.recompute(&failed)
        };
        self.fail_units(newly, |expected| conflict(name, expected, Some(version)));
    }
}
