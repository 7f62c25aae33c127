//! One SpiderEndpoint in the store: the API server's object (the *base*), the
//! writes staged on it (group commit) and the *view* reads see.
//!
//! Endpoint writes are whole objects, each made against the view before it,
//! so the staged writes of one endpoint form a chain: when one fails, every
//! later one (built on it) fails too. A change of the base by someone else
//! while writes are staged fails them all (they were built on the old object).
//!
//! While a write of the endpoint is on its way, watch events for it are
//! held back and replayed after the answer: the answer says whether the
//! write went in, and the [`RvTracker`] then recognises the write's echo and
//! anything older. (Comparing contents cannot tell the echo: the API server
//! fills in schema defaults the written object did not carry.)

use std::collections::HashSet;
use std::sync::Arc;

use spiderpool_core::model::SpiderEndpoint;
use spiderpool_core::store::{StoreError, Version, Versioned};

use super::pools::Failure;
use super::tracker::RvTracker;
use super::units::UnitId;

/// The kind name in errors.
pub(super) const ENDPOINT: &str = "SpiderEndpoint";

/// `(namespace, name)`.
pub(super) type EndpointKey = (String, String);

/// A staged endpoint write.
#[derive(Debug, Clone)]
pub(super) struct StagedEndpoint {
    /// Order of staging, store-wide.
    pub(super) seq: u64,
    /// The unit of work that made it.
    pub(super) unit: UnitId,
    /// The version of the view the write was made against (0 for a create).
    pub(super) expected: Version,
    /// The endpoint after the write (`None`: deleted).
    pub(super) after: Option<Arc<SpiderEndpoint>>,
}

/// One endpoint (see the module doc).
#[derive(Debug, Default)]
pub(super) struct EndpointSlot {
    /// `resourceVersion` bookkeeping of the base.
    pub(super) tracker: RvTracker,
    /// The object as the API server holds it (`None`: absent).
    pub(super) base: Option<Arc<SpiderEndpoint>>,
    /// Staged writes, oldest first.
    pub(super) pending: Vec<StagedEndpoint>,
    /// The base after the staged writes.
    pub(super) view: Option<Arc<SpiderEndpoint>>,
    /// The store's version of the view.
    pub(super) version: Version,
    /// A write of the endpoint is on its way to the API server.
    pub(super) writing: bool,
    /// Watch events that arrived while writing (`None`: a deletion), with
    /// their `resourceVersion`.
    pub(super) held: Vec<(Option<SpiderEndpoint>, String)>,
}

impl EndpointSlot {
    /// The view.
    pub(super) fn get(&self) -> Option<Versioned<SpiderEndpoint>> {
        self.view.as_ref().map(|ep| Versioned { version: self.version, value: (**ep).clone() })
    }

    /// A create is possible: no endpoint in the view.
    pub(super) fn check_create(&self, key: &EndpointKey) -> Result<(), StoreError> {
        match self.view {
            Some(_) => Err(StoreError::AlreadyExists { kind: ENDPOINT, name: endpoint_name(key) }),
            None => Ok(()),
        }
    }

    /// An update or delete at `expected` is possible.
    pub(super) fn check_version(
        &self,
        key: &EndpointKey,
        expected: Version,
    ) -> Result<(), StoreError> {
        match self.view {
            Some(_) if self.version == expected => Ok(()),
            Some(_) => Err(conflict(key, expected, Some(self.version))),
            None => Err(conflict(key, expected, None)),
        }
    }

    /// Recomputes the view from the base and the staged writes: the chain
    /// ends at the first write of a unit in `failed`; it and every later write
    /// are dropped from the view, and the units of the later ones fail too
    /// (returned).
    pub(super) fn recompute(&mut self, failed: &HashSet<UnitId>) -> Vec<Failure> {
        let mut view = self.base.clone();
        let mut broken = false;
        let mut newly = Vec::new();
        for staged in &self.pending {
            if broken || failed.contains(&staged.unit) {
                if !broken {
                    broken = true;
                } else if !failed.contains(&staged.unit) {
                    newly.push(Failure {
                        unit: staged.unit,
                        expected: staged.expected,
                        reason: "an earlier write of the endpoint failed".into(),
                    });
                }
                continue;
            }
            view = staged.after.clone();
        }
        self.view = view;
        newly
    }

    /// True when the slot holds nothing worth keeping.
    pub(super) fn is_idle(&self) -> bool {
        self.base.is_none() && self.pending.is_empty() && self.view.is_none() && !self.writing
    }
}

/// True when two endpoints (or absences) carry the same content: status,
/// labels, annotations, finalizers and owner references.
pub(super) fn same_endpoint(a: Option<&SpiderEndpoint>, b: Option<&SpiderEndpoint>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let (m, n) = (&a.metadata, &b.metadata);
            a.status == b.status
                && m.labels == n.labels
                && m.annotations == n.annotations
                && m.finalizers == n.finalizers
                && m.owner_references == n.owner_references
        }
        _ => false,
    }
}

/// `namespace/name`.
pub(super) fn endpoint_name(key: &EndpointKey) -> String {
    format!("{}/{}", key.0, key.1)
}

/// [`StoreError::Conflict`] on an endpoint.
pub(super) fn conflict(
    key: &EndpointKey,
    expected: Version,
    actual: Option<Version>,
) -> StoreError {
    StoreError::Conflict { kind: ENDPOINT, name: endpoint_name(key), expected, actual }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::units::Units;

    fn ep(uid: &str) -> Arc<SpiderEndpoint> {
        let mut e = SpiderEndpoint::default();
        e.metadata.name = Some("p".into());
        e.metadata.namespace = Some("ns".into());
        e.status.current.uid = uid.into();
        Arc::new(e)
    }

    fn key() -> EndpointKey {
        ("ns".into(), "p".into())
    }

    #[test]
    fn a_failed_write_ends_the_chain_and_fails_the_writes_built_on_it() {
        let mut units = Units::default();
        let (a, b, c) = (units.allocate(), units.allocate(), units.allocate());
        let mut slot = EndpointSlot { base: Some(ep("base")), ..Default::default() };
        slot.pending = vec![
            StagedEndpoint { seq: 1, unit: a, expected: 1, after: Some(ep("a")) },
            StagedEndpoint { seq: 2, unit: b, expected: 2, after: Some(ep("b")) },
            StagedEndpoint { seq: 3, unit: c, expected: 3, after: None },
        ];
        assert!(slot.recompute(&HashSet::new()).is_empty());
        assert_eq!(slot.view, None, "the last write deletes");
        let newly = slot.recompute(&HashSet::from([b]));
        assert_eq!(newly.iter().map(|f| f.unit).collect::<Vec<_>>(), [c]);
        assert_eq!(slot.view, Some(ep("a")), "the view ends before b's write");
    }

    #[test]
    fn create_and_compare_and_swap_checks() {
        let mut slot = EndpointSlot::default();
        assert!(slot.check_create(&key()).is_ok());
        assert!(matches!(
            slot.check_version(&key(), 0),
            Err(StoreError::Conflict { actual: None, .. })
        ));
        slot.view = Some(ep("u"));
        slot.version = 4;
        assert!(matches!(slot.check_create(&key()), Err(StoreError::AlreadyExists { .. })));
        assert!(slot.check_version(&key(), 4).is_ok());
        assert!(slot.check_version(&key(), 3).unwrap_err().is_conflict());
        assert_eq!(slot.get().map(|v| v.version), Some(4));
    }
}
