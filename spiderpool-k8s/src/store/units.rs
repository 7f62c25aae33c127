//! Units of work: which request a staged write belongs to.
//!
//! With group commit, a write returns before it reaches the API server, and
//! one status write carries the staged changes of many requests. When one of
//! those changes cannot be committed (another node took the address), only the
//! request that made it must fail, and all of its other staged writes must be
//! withdrawn. A unit of work is that request: [`crate::KubeStore::unit_of_work`]
//! runs its future with a task-local [`UnitId`], every staged write records the
//! id, and `sync` inside the scope reports the unit's outcome. A write made
//! outside any scope is a unit of its own (and is committed before it returns).
//!
//! A unit can also *depend* on another: when it reads an endpoint that another
//! unit's staged write made (a second ADD of a pod while the first one's
//! commit is under way), its answer rests on that write, so its outcome waits
//! for the other unit's and fails with it.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use spiderpool_core::store::StoreError;

tokio::task_local! {
    static UNIT: UnitId;
}

/// Identifies one unit of work of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct UnitId(u64);

/// The unit of work the calling task runs in, if any.
pub(super) fn current() -> Option<UnitId> {
    UNIT.try_with(|u| *u).ok()
}

/// Runs `work` as unit `id`.
pub(super) async fn scoped<F: Future>(id: UnitId, work: F) -> F::Output {
    UNIT.scope(id, work).await
}

/// The state of every unit with staged writes or an outcome not yet taken.
#[derive(Debug, Default)]
pub(super) struct Units {
    next: u64,
    states: HashMap<UnitId, UnitState>,
    /// Whether recently finished units failed (for units that depend on
    /// them), oldest first, at most [`FINISHED`].
    finished: HashMap<UnitId, bool>,
    finished_order: std::collections::VecDeque<UnitId>,
}

/// How many finished units are remembered for dependants.
const FINISHED: usize = 4096;

#[derive(Debug, Default)]
struct UnitState {
    /// Staged writes not resolved yet (committed, or withdrawn).
    pending: usize,
    /// Why the unit failed (the first reason).
    failed: Option<StoreError>,
    /// The unit's scope ended: nobody will take its outcome.
    abandoned: bool,
    /// Units whose staged writes this unit's answer rests on.
    deps: HashSet<UnitId>,
}

impl Units {
    /// A new unit id.
    pub(super) fn allocate(&mut self) -> UnitId {
        self.next += 1;
        UnitId(self.next)
    }

    /// The unit staged one more write.
    pub(super) fn add_pending(&mut self, unit: UnitId) {
        self.states.entry(unit).or_default().pending += 1;
    }

    /// One staged write of the unit is resolved (committed or withdrawn).
    pub(super) fn resolve(&mut self, unit: UnitId) {
        let Some(state) = self.states.get_mut(&unit) else { return };
        state.pending = state.pending.saturating_sub(1);
        if state.pending == 0 && state.abandoned {
            self.forget(unit);
        }
    }

    /// `unit`'s answer rests on staged writes of `on`.
    pub(super) fn depend(&mut self, unit: UnitId, on: UnitId) {
        if unit != on {
            self.states.entry(unit).or_default().deps.insert(on);
        }
    }

    /// Drops a finished unit, remembering whether it failed.
    fn forget(&mut self, unit: UnitId) {
        let Some(state) = self.states.remove(&unit) else { return };
        if self.finished_order.len() == FINISHED
            && let Some(oldest) = self.finished_order.pop_front()
        {
            self.finished.remove(&oldest);
        }
        self.finished.insert(unit, state.failed.is_some());
        self.finished_order.push_back(unit);
    }

    /// `Some(failed)` once `unit` has no staged write pending.
    fn settled(&self, unit: UnitId) -> Option<bool> {
        match self.states.get(&unit) {
            Some(s) if s.pending > 0 => None,
            Some(s) => Some(s.failed.is_some()),
            // Forgotten long ago counts as committed: its writes were resolved.
            None => Some(self.finished.get(&unit).copied().unwrap_or(false)),
        }
    }

    /// Marks the unit failed; true when it was not failed before.
    pub(super) fn fail(&mut self, unit: UnitId, error: StoreError) -> bool {
        let state = self.states.entry(unit).or_default();
        if state.failed.is_some() {
            return false;
        }
        state.failed = Some(error);
        true
    }

    /// True when the unit failed and its outcome has not been taken.
    pub(super) fn is_failed(&self, unit: UnitId) -> bool {
        self.states.get(&unit).is_some_and(|s| s.failed.is_some())
    }

    /// Every failed unit.
    pub(super) fn failed(&self) -> HashSet<UnitId> {
        self.states.iter().filter(|(_, s)| s.failed.is_some()).map(|(u, _)| *u).collect()
    }

    /// The unit's outcome once none of its writes is pending; taking it
    /// forgets the unit (work after it starts afresh). `None` while writes are
    /// pending.
    pub(super) fn take_outcome(&mut self, unit: UnitId) -> Option<Result<(), StoreError>> {
        let Some(state) = self.states.get(&unit) else { return Some(Ok(())) };
        if state.pending > 0 {
            return None;
        }
        let mut lost = None;
        for dep in &state.deps {
            match self.settled(*dep) {
                None => return None,
                Some(true) => lost = Some(*dep),
                Some(false) => {}
            }
        }
        let outcome = match (&state.failed, lost) {
            (Some(error), _) => Err(error.clone()),
            (None, Some(dep)) => Err(StoreError::Conflict {
                kind: "SpiderEndpoint",
                name: format!("(written by unit {}, whose commit failed)", dep.0),
                expected: 0,
                actual: None,
            }),
            (None, None) => Ok(()),
        };
        self.forget(unit);
        Some(outcome)
    }

    /// The unit's scope ended. Its writes still pending are withdrawn (marked
    /// failed) unless already being committed; returns true when some are.
    pub(super) fn abandon(&mut self, unit: UnitId) -> bool {
        let Some(state) = self.states.get_mut(&unit) else { return false };
        if state.pending == 0 {
            self.forget(unit);
            return false;
        }
        state.abandoned = true;
        if state.failed.is_none() {
            state.failed = Some(StoreError::Backend(
                "the unit of work ended before its writes were committed".into(),
            ));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict() -> StoreError {
        StoreError::Conflict { kind: "SpiderIPPool", name: "p".into(), expected: 1, actual: None }
    }

    #[test]
    fn outcome_waits_for_pending_writes_and_is_taken_once() {
        let mut units = Units::default();
        let u = units.allocate();
        assert_eq!(units.take_outcome(u), Some(Ok(())), "no write: nothing to wait for");
        units.add_pending(u);
        units.add_pending(u);
        assert_eq!(units.take_outcome(u), None);
        units.resolve(u);
        assert!(units.fail(u, conflict()));
        assert!(!units.fail(u, StoreError::Backend("later".into())), "the first reason stays");
        assert!(units.is_failed(u));
        assert_eq!(units.take_outcome(u), None);
        units.resolve(u);
        assert_eq!(units.take_outcome(u), Some(Err(conflict())));
        assert_eq!(units.take_outcome(u), Some(Ok(())), "taken: the unit starts afresh");
        assert!(!units.is_failed(u));
    }

    #[test]
    fn an_abandoned_unit_is_failed_and_forgotten_when_resolved() {
        let mut units = Units::default();
        let u = units.allocate();
        assert!(!units.abandon(u), "nothing staged");
        units.add_pending(u);
        assert!(units.abandon(u));
        assert!(units.failed().contains(&u), "its staged writes are withdrawn");
        units.resolve(u);
        assert!(units.failed().is_empty(), "forgotten");
    }

    #[test]
    fn a_unit_that_read_another_units_write_waits_for_it_and_fails_with_it() {
        let mut units = Units::default();
        let (first, second) = (units.allocate(), units.allocate());
        units.add_pending(first);
        units.depend(second, first);
        assert_eq!(units.take_outcome(second), None, "waits for the first unit's commit");
        units.fail(first, conflict());
        units.resolve(first);
        assert!(units.take_outcome(second).unwrap().unwrap_err().is_conflict());
        assert!(units.take_outcome(first).unwrap().is_err());
        // A dependency that committed and was forgotten counts as committed.
        let third = units.allocate();
        let fourth = units.allocate();
        units.add_pending(third);
        units.resolve(third);
        assert_eq!(units.take_outcome(third), Some(Ok(())));
        units.depend(fourth, third);
        assert_eq!(units.take_outcome(fourth), Some(Ok(())));
    }

    #[tokio::test]
    async fn the_scope_sets_the_current_unit() {
        let mut units = Units::default();
        let u = units.allocate();
        assert_eq!(current(), None);
        assert_eq!(scoped(u, async { current() }).await, Some(u));
    }
}
