//! [`Tables`] methods for endpoints: reads, staged writes, and installing
//! what the watch and the API server's answers say.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use spiderpool_core::model::SpiderEndpoint;
use spiderpool_core::store::{StoreError, Version, Versioned};

use super::Tables;
use crate::store::endpoints::{EndpointKey, StagedEndpoint, conflict};
use crate::store::pools::Failure;
use crate::store::tracker::Answer;
use crate::store::units::UnitId;

/// What an endpoint write must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Precondition {
    /// No endpoint (a create).
    Absent,
    /// The endpoint at this version (an update or a delete).
    At(Version),
}

impl Tables {
    /// The view of one endpoint.
    pub(in crate::store) fn get_endpoint(
        &self,
        key: &EndpointKey,
    ) -> Option<Versioned<SpiderEndpoint>> {
        self.endpoints.get(key).and_then(|slot| slot.get())
    }

    /// `unit` read `key`: its outcome depends on the units whose staged
    /// writes make up the view.
    pub(in crate::store) fn depend_on_staged_endpoint(&mut self, unit: UnitId, key: &EndpointKey) {
        let writers: Vec<UnitId> = self
            .endpoints
            .get(key)
            .map(|s| s.pending.iter().map(|p| p.unit).collect())
            .unwrap_or_default();
        for writer in writers {
            self.units.depend(unit, writer);
        }
    }

    /// Checks a write of `key` against the view.
    pub(in crate::store) fn check_endpoint(
        &self,
        key: &EndpointKey,
        pre: Precondition,
    ) -> Result<(), StoreError> {
        match (self.endpoints.get(key), pre) {
            (None, Precondition::Absent) => Ok(()),
            (None, Precondition::At(expected)) => Err(conflict(key, expected, None)),
            (Some(slot), Precondition::Absent) => slot.check_create(key),
            (Some(slot), Precondition::At(expected)) => slot.check_version(key, expected),
        }
    }

    /// Stages a write of `key` for unit `unit`: the view becomes `after`
    /// (`None`: deleted) at once; the write is committed later.
    pub(in crate::store) fn stage_endpoint(
        &mut self,
        key: &EndpointKey,
        pre: Precondition,
        after: Option<SpiderEndpoint>,
        unit: UnitId,
    ) -> Result<Version, StoreError> {
        self.check_endpoint(key, pre)?;
        let seq = self.next_seq();
        let version = self.bump();
        let expected = match pre {
            Precondition::Absent => 0,
            Precondition::At(v) => v,
        };
        let after = after.map(Arc::new);
        let slot = self.endpoints.entry(key.clone()).or_default();
        slot.pending.push(StagedEndpoint { seq, unit, expected, after: after.clone() });
        slot.view = after;
        slot.version = version;
        self.units.add_pending(unit);
        Ok(version)
    }

    /// The base of `key` (what the API server holds, as far as the store knows).
    pub(in crate::store) fn endpoint_base(&self, key: &EndpointKey) -> Option<Arc<SpiderEndpoint>> {
        self.endpoints.get(key).and_then(|slot| slot.base.clone())
    }

    /// The staged writes of a commit that stand: those before the first
    /// write of a failed unit. The endpoint after them (`None`: deleted).
    pub(in crate::store) fn surviving(
        &self,
        staged: &[StagedEndpoint],
    ) -> (Vec<UnitId>, Option<Option<Arc<SpiderEndpoint>>>) {
        let mut units = Vec::new();
        let mut after = None;
        for s in staged {
            if self.units.is_failed(s.unit) {
                break;
            }
            units.push(s.unit);
            after = Some(s.after.clone());
        }
        (units, after)
    }

    /// A write of `key` is about to be sent: watch events for it are held
    /// until [`Tables::endpoint_answered`] or [`Tables::endpoint_write_failed`].
    pub(in crate::store) fn endpoint_write_begins(&mut self, key: &EndpointKey) {
        self.endpoints.entry(key.clone()).or_default().writing = true;
    }

    /// The write of `key` failed (no answer, or refused): the held watch
    /// events are replayed.
    pub(in crate::store) fn endpoint_write_failed(&mut self, key: &EndpointKey, now: Instant) {
        self.release_held(key, now);
    }

    /// An answer of the API server about `key`: the object at its
    /// `resourceVersion`, or gone. A write's answer leaves the view as it is
    /// (it shows the write already); a fresh read's answer (`replaces_view`)
    /// replaces the base and recomputes the view. Held watch events are
    /// replayed after it. Returns the view's version.
    pub(in crate::store) fn endpoint_answered(
        &mut self,
        key: &EndpointKey,
        answer: Option<(SpiderEndpoint, String)>,
        replaces_view: bool,
        now: Instant,
    ) -> Version {
        let slot = self.endpoints.entry(key.clone()).or_default();
        let install = match answer {
            Some((ep, rv)) => {
                let new = slot.tracker.on_answer(&rv, now) == Answer::New;
                if new {
                    slot.base = Some(Arc::new(ep));
                }
                new
            }
            None => {
                slot.tracker.on_answer_gone(now);
                slot.base = None;
                true
            }
        };
        if install && replaces_view {
            self.endpoint_base_changed(key);
        } else if install
            && let Some(slot) = self.endpoints.get_mut(key)
            && slot.pending.is_empty()
        {
            // The view showed this write already; take the server's metadata.
            slot.view = slot.base.clone();
        }
        self.release_held(key, now);
        self.endpoints.get(key).map_or(0, |s| s.version)
    }

    /// Ends a write of `key`: replays the watch events held meanwhile.
    fn release_held(&mut self, key: &EndpointKey, now: Instant) {
        let held = match self.endpoints.get_mut(key) {
            Some(slot) => {
                slot.writing = false;
                std::mem::take(&mut slot.held)
            }
            None => return,
        };
        for (object, rv) in held {
            self.endpoint_watched(key, object, &rv, now);
        }
    }

    /// The watch delivered `key` at `rv` (`None`: deleted).
    pub(in crate::store) fn endpoint_watched(
        &mut self,
        key: &EndpointKey,
        object: Option<SpiderEndpoint>,
        rv: &str,
        now: Instant,
    ) {
        let slot = match (self.endpoints.get_mut(key), &object) {
            (Some(slot), _) => slot,
            (None, Some(_)) => self.endpoints.entry(key.clone()).or_default(),
            (None, None) => return,
        };
        if slot.writing {
            slot.held.push((object, rv.to_owned()));
            return;
        }
        let install = match &object {
            Some(_) => slot.tracker.on_watch_apply(rv, now),
            None => slot.tracker.on_watch_delete(rv, now),
        };
        // The deletion the store itself made (the base is gone already)
        // changes nothing.
        if install && !(object.is_none() && slot.base.is_none()) {
            slot.base = object.map(Arc::new);
            self.endpoint_base_changed(key);
        }
        if self.endpoints.get(key).is_some_and(|s| s.is_idle() && !s.tracker.waiting(now)) {
            self.endpoints.remove(key);
        }
    }

    /// A relist of every endpoint.
    pub(in crate::store) fn endpoints_relisted(
        &mut self,
        listed: Vec<(EndpointKey, SpiderEndpoint, String)>,
        now: Instant,
    ) {
        let keys: HashSet<EndpointKey> = listed.iter().map(|(k, _, _)| k.clone()).collect();
        for (key, ep, rv) in listed {
            let slot = self.endpoints.entry(key.clone()).or_default();
            if slot.writing {
                slot.held.push((Some(ep), rv));
                continue;
            }
            if slot.tracker.on_relist(&rv) {
                slot.base = Some(Arc::new(ep));
                self.endpoint_base_changed(&key);
            }
        }
        let gone: Vec<EndpointKey> = self
            .endpoints
            .iter_mut()
            .filter(|(key, slot)| !keys.contains(*key) && slot.base.is_some() && !slot.writing)
            .filter_map(|(key, slot)| slot.tracker.on_relist_absent(now).then(|| key.clone()))
            .collect();
        for key in gone {
            if let Some(slot) = self.endpoints.get_mut(&key) {
                slot.base = None;
            }
            self.endpoint_base_changed(&key);
        }
        self.endpoints.retain(|_, slot| !slot.is_idle() || slot.tracker.waiting(now));
    }

    /// The base of `key` changed (someone else's write, or a fresh read after
    /// a failed write): the staged writes were built on the old object and
    /// fail.
    fn endpoint_base_changed(&mut self, key: &EndpointKey) {
        let version = self.bump();
        let failed = self.units.failed();
        let Some(slot) = self.endpoints.get_mut(key) else { return };
        if slot.pending.is_empty() {
            slot.view = slot.base.clone();
            slot.version = version;
            return;
        }
        let failures: Vec<Failure> = slot
            .pending
            .iter()
            .map(|s| Failure {
                unit: s.unit,
                expected: s.expected,
                reason: "the endpoint was changed by someone else".into(),
            })
            .collect();
        slot.version = version;
        let actual = slot.base.as_ref().map(|_| version);
        self.fail_units(failures, |expected| conflict(key, expected, actual));
        let failed: HashSet<UnitId> = failed.union(&self.units.failed()).copied().collect();
        if let Some(slot) = self.endpoints.get_mut(key) {
            slot.recompute(&failed);
        }
    }
}
