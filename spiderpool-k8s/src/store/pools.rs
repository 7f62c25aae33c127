//! One SpiderIPPool in the store: what the API server holds (the *base*), the
//! changes staged on top of it (group commit), and the *view* reads see.
//!
//! The base is parsed once per `resourceVersion` ([`PoolState::from_pool`]):
//! a read or a staged change costs a look-up and an index update, never a
//! parse of `status.allocatedIPs`. The view is the base with the staged
//! changes applied; when the base changes under staged changes (another node
//! wrote the pool), they are *replayed* on the new base ([`replay`]): a change
//! that no longer fits fails its unit of work.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use spiderpool_core::model::SpiderIPPool;
use spiderpool_core::store::{AllocationChange, PoolState, StoreError, Version, Versioned};

use super::decode::Decoded;
use super::tracker::RvTracker;
use super::units::UnitId;
use crate::KubeObject;

/// The kind name in errors.
pub(super) const POOL: &str = "SpiderIPPool";

/// A change staged by a unit of work, not yet committed.
#[derive(Debug, Clone)]
pub(super) struct Staged {
    /// Order of staging, store-wide.
    pub(super) seq: u64,
    /// The unit of work that made it.
    pub(super) unit: UnitId,
    /// The version of the view the change was made against.
    pub(super) expected: Version,
    /// The change.
    pub(super) change: AllocationChange,
}

/// A unit of work whose staged write no longer fits.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    /// The unit.
    pub(super) unit: UnitId,
    /// The version its write was made against.
    pub(super) expected: Version,
    /// Why it fails.
    pub(super) reason: String,
}

/// A status write of the pool on its way to the API server. Its outcome
/// arrives as the write's answer or as the watch's event (whichever comes
/// first): either *lands* it — the state becomes the base, unparsed.
#[derive(Debug)]
pub(super) struct InFlight {
    /// What was sent (metadata labels, spec, status with the records).
    pub(super) sent: SpiderIPPool,
    /// The state written.
    pub(super) state: Arc<PoolState>,
    /// `Some(generation)`: a group commit without replay; the view already
    /// shows `state` (plus later changes) while the slot is at this generation.
    pub(super) clean: Option<u64>,
}

impl InFlight {
    /// True when the watched `object` is this write's result: same status
    /// (records and counts), spec, labels and deletion state. A later write
    /// by someone else that changed none of those has the same content.
    pub(super) fn is_echo(&self, object: &KubeObject<SpiderIPPool>) -> bool {
        let sent = &self.sent;
        object.status == sent.status
            && object.spec == sent.spec
            && object.metadata.labels == sent.metadata.labels
            && object.metadata.deletion_timestamp.is_some()
                == sent.metadata.deletion_timestamp.is_some()
    }
}

/// One pool (see the module doc).
#[derive(Debug)]
pub(super) struct PoolSlot {
    /// `resourceVersion` bookkeeping of the base.
    pub(super) tracker: RvTracker,
    /// The pool as the API server holds it, or why it does not parse.
    pub(super) base: Result<Arc<PoolState>, String>,
    /// Staged changes, oldest first.
    pub(super) pending: Vec<Staged>,
    /// The base with the staged changes of live units applied (`None` while
    /// the base does not parse).
    pub(super) view: Option<Arc<PoolState>>,
    /// The store's version of the view: changes whenever the view does.
    pub(super) version: Version,
    /// The `resourceVersion` of the base: what a status write names.
    pub(super) base_rv: Option<String>,
    /// Changes whenever the base is replaced or the view recomputed, so a
    /// commit can tell whether the view is still the one it took.
    pub(super) generation: u64,
    /// Changes whenever the base is replaced, so an install split around a
    /// parse can tell whether something else was installed meanwhile.
    pub(super) base_serial: u64,
    /// The status write on its way, if any.
    pub(super) inflight: Option<InFlight>,
}

impl PoolSlot {
    /// A pool first seen with this base.
    pub(super) fn new(version: Version) -> Self {
        Self {
            tracker: RvTracker::default(),
            base: Err("not read yet".to_owned()),
            pending: Vec::new(),
            view: None,
            version,
            base_rv: None,
            generation: 0,
            base_serial: 0,
            inflight: None,
        }
    }

    /// Runs `f` on the view.
    pub(super) fn read<R>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R,
    ) -> Result<Versioned<R>, StoreError> {
        match (&self.view, &self.base) {
            (Some(view), _) => Ok(Versioned { version: self.version, value: f(view) }),
            (None, Err(reason)) => Err(invalid(name, reason)),
            (None, Ok(_)) => Err(StoreError::Backend(format!("{POOL} {name}: no view"))),
        }
    }

    /// Checks `expected` and applies `change` to the view (nothing changes
    /// when it does not fit). The caller records the staged change and bumps
    /// the version.
    pub(super) fn apply_to_view(
        &mut self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<(), StoreError> {
        if let Err(reason) = &self.base {
            return Err(invalid(name, reason));
        }
        if self.version != expected {
            return Err(conflict(name, expected, Some(self.version)));
        }
        let Some(view) = self.view.as_mut() else {
            return Err(StoreError::Backend(format!("{POOL} {name}: no view")));
        };
        // Strict, as every store: an add of an allocated address or a release
        // by another UID is `Invalid`, and nothing of the change is applied.
        Arc::make_mut(view).apply(change)
    }

    /// Recomputes the view: the base with the pending changes of units not
    /// in `failed` replayed. Returns the units whose change no longer fits,
    /// with the version it was made against and why.
    pub(super) fn recompute(&mut self, failed: &HashSet<UnitId>) -> Vec<Failure> {
        let newly = match &self.base {
            Err(reason) => {
                self.view = None;
                let reason = format!("the pool does not parse: {reason}");
                self.pending.iter().map(|s| (s.unit, reason.clone())).collect()
            }
            Ok(base) if self.pending.iter().all(|s| failed.contains(&s.unit)) => {
                self.view = Some(base.clone());
                Vec::new()
            }
            Ok(base) => {
                let replayed = replay(base, &self.pending, failed);
                self.view = Some(Arc::new(replayed.state));
                replayed.failed
            }
        };
        newly
            .into_iter()
            .map(|(unit, reason)| Failure {
                unit,
                expected: expected_of(&self.pending, unit),
                reason,
            })
            .collect()
    }
}

/// What [`replay`] made of staged changes on a base.
#[derive(Debug)]
pub(super) struct Replayed {
    /// The base with the changes that fit.
    pub(super) state: PoolState,
    /// The units whose change did not fit, with why.
    pub(super) failed: Vec<(UnitId, String)>,
    /// False when every change that fit was already in the base (nothing to
    /// write).
    pub(super) changed: bool,
}

/// `base` with the staged changes of units not in `failed` applied in order,
/// each first fitted to the state ([`fit`]). A change that does not fit fails
/// its unit: the replay starts over without any change of that unit.
pub(super) fn replay(base: &PoolState, staged: &[Staged], failed: &HashSet<UnitId>) -> Replayed {
    let mut newly: Vec<(UnitId, String)> = Vec::new();
    'again: loop {
        let mut state = base.clone();
        let mut changed = false;
        for item in staged {
            if failed.contains(&item.unit) || newly.iter().any(|(u, _)| *u == item.unit) {
                continue;
            }
            let applied = fit(&state, &item.change).and_then(|change| {
                changed |= !change.is_empty();
                state.apply(&change).map_err(|e| e.to_string())
            });
            if let Err(reason) = applied {
                newly.push((item.unit, reason));
                continue 'again;
            }
        }
        return Replayed { state, failed: newly, changed };
    }
}

/// The part of `change` still to be done on `state`, or why it cannot be.
///
/// Fitting makes a replay idempotent and tells a lost race from a finished
/// one: a release of a record that is gone or held by another pod is already
/// done (dropped); an add or update whose record the pod already holds is done
/// (dropped, or an update when owner facts differ); an add of an address
/// another pod holds, outside `spec.ips`, excluded, or on a terminating pool,
/// and an update of a record that is gone or another pod's, cannot be.
pub(super) fn fit(
    state: &PoolState,
    change: &AllocationChange,
) -> Result<AllocationChange, String> {
    let mut out = AllocationChange::default();
    let mut freed: Vec<IpAddr> = Vec::new();
    for (ip, uid) in &change.remove {
        if state.record(ip).is_some_and(|r| &r.pod_uid == uid) {
            out.remove.push((*ip, uid.clone()));
            freed.push(*ip);
        }
    }
    for (ip, want) in &change.update {
        match state.record(ip) {
            Some(r) if r == want => {}
            Some(r) if r.pod_uid == want.pod_uid || r.pod == want.pod => {
                out.update.push((*ip, want.clone()));
            }
            Some(r) => {
                return Err(format!("update of {ip}: now held by pod {} ({})", r.pod, r.pod_uid));
            }
            None => return Err(format!("update of {ip}: the record is gone")),
        }
    }
    for (ip, want) in &change.add {
        match state.record(ip).filter(|_| !freed.contains(ip)) {
            Some(r) if r == want => {}
            Some(r) if r.pod_uid == want.pod_uid => out.update.push((*ip, want.clone())),
            Some(r) => {
                return Err(format!(
                    "allocation of {ip}: taken by pod {} ({}) meanwhile",
                    r.pod, r.pod_uid
                ));
            }
            None => {
                if state.is_terminating() {
                    return Err(spiderpool_core::store::TERMINATING_ADD.to_owned());
                }
                if !state.ips().iter().any(|r| r.contains(ip)) || state.excluded().contains(ip) {
                    return Err(format!("allocation of {ip}: no longer in spec.ips"));
                }
                out.add.push((*ip, want.clone()));
            }
        }
    }
    Ok(out)
}

/// A pool read from the API server: name, `resourceVersion`, and the parsed
/// state or why it does not parse (`SpiderIPPool NAME: FIELD: why`).
pub(super) fn parse_pool(
    read: Decoded<SpiderIPPool>,
) -> (String, String, Result<PoolState, String>) {
    let name = read.name().to_owned();
    let rv = read.resource_version().to_owned();
    let parsed = match read.object {
        Ok(object) => PoolState::from_pool(object.into_core()).map_err(|e| e.to_string()),
        Err(reason) => Err(format!("{POOL} {name}: {reason}")),
    };
    (name, rv, parsed)
}

/// Whether `change` only removes records (a release): on a pool that is
/// gone it has nothing left to do, and succeeds.
pub(super) fn only_removes(change: &AllocationChange) -> bool {
    change.add.is_empty() && change.update.is_empty()
}

/// Whether every change `unit` staged in `staged` only removes records.
pub(super) fn releases_only(staged: &[Staged], unit: UnitId) -> bool {
    staged.iter().filter(|s| s.unit == unit).all(|s| only_removes(&s.change))
}

/// The version the first staged change of `unit` was made against.
pub(super) fn expected_of(staged: &[Staged], unit: UnitId) -> Version {
    staged.iter().find(|s| s.unit == unit).map_or(0, |s| s.expected)
}

/// [`StoreError::Invalid`] for a pool that does not parse.
pub(super) fn invalid(name: &str, reason: &str) -> StoreError {
    StoreError::Invalid { kind: POOL, name: name.to_owned(), message: reason.to_owned() }
}

/// [`StoreError::Conflict`] on a pool.
pub(super) fn conflict(name: &str, expected: Version, actual: Option<Version>) -> StoreError {
    StoreError::Conflict { kind: POOL, name: name.to_owned(), expected, actual }
}

#[cfg(test)]
mod tests;
