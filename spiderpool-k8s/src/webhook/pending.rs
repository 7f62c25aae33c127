//! Objects this replica admitted that the API server may not show yet.
//!
//! Two overlapping pools created at the same moment (Spiderpool #746) are
//! both judged against a list that holds neither, and both pass. Within one
//! replica the validating webhook closes that window: reviews of kinds with
//! cross-object rules (pools, subnets) run one at a time ([`Pending::lock`]),
//! and each object it admitted is remembered for [`PENDING_TTL`] and added
//! to the objects the next reviews compare with, until a list shows it
//! stored. Reviews that reach two different replicas at the same moment can
//! still both pass; the reconciler's re-check is the backstop for those (see
//! docs/controller.md).
//!
//! An admitted object that never gets stored (a later admission step refused
//! it) is compared with for at most [`PENDING_TTL`]; dry runs are never
//! remembered.

use std::time::{Duration, Instant};

use spiderpool_core::admission::Existing;
use spiderpool_core::model::Resource;
use tokio::sync::{Mutex, MutexGuard};

/// How long an admitted object counts while no list shows it.
pub const PENDING_TTL: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Entry {
    object: Resource,
    /// The `resourceVersion` the admitted update replaces (`None`: a create).
    replaces: Option<String>,
    at: Instant,
}

/// Admitted objects not yet seen in a list, behind the review lock.
#[derive(Debug, Default)]
pub struct Pending {
    entries: Mutex<Vec<Entry>>,
}

/// The lock held for one review: list, judge, remember.
pub struct PendingGuard<'a>(MutexGuard<'a, Vec<Entry>>);

impl Pending {
    /// Takes the review lock.
    pub async fn lock(&self) -> PendingGuard<'_> {
        PendingGuard(self.entries.lock().await)
    }
}

fn same(a: &Resource, b: &Resource) -> bool {
    a.kind() == b.kind() && a.name() == b.name() && a.namespace() == b.namespace()
}

fn remove_named(existing: &mut Existing, obj: &Resource) {
    let name = obj.name();
    match obj {
        Resource::IPPool(_) => existing.ippools.retain(|p| p.metadata.name_str() != name),
        Resource::Subnet(_) => existing.subnets.retain(|s| s.metadata.name_str() != name),
        _ => {}
    }
}

fn find(existing: &Existing, obj: &Resource) -> Option<Option<String>> {
    let name = obj.name();
    match obj {
        Resource::IPPool(_) => existing
            .ippools
            .iter()
            .find(|p| p.metadata.name_str() == name)
            .map(|p| p.metadata.resource_version.clone()),
        Resource::Subnet(_) => existing
            .subnets
            .iter()
            .find(|s| s.metadata.name_str() == name)
            .map(|s| s.metadata.resource_version.clone()),
        _ => None,
    }
}

impl PendingGuard<'_> {
    /// Adds to `existing` (just listed) the admitted objects it does not show
    /// yet, and forgets those it shows and those older than [`PENDING_TTL`].
    pub fn merge_into(&mut self, existing: &mut Existing) {
        self.0.retain(|e| {
            if e.at.elapsed() > PENDING_TTL {
                return false;
            }
            match (find(existing, &e.object), &e.replaces) {
                // A create that a list shows: stored.
                (Some(_), None) => false,
                // An update: stored once the version it replaced is gone.
                (Some(listed), Some(replaced)) => listed.as_ref() == Some(replaced),
                (None, None) => true,
                // The object was deleted meanwhile.
                (None, Some(_)) => false,
            }
        });
        for e in self.0.iter() {
            remove_named(existing, &e.object);
            existing.push(e.object.clone());
        }
    }

    /// Remembers an admitted object (`replaces`: the `resourceVersion` of
    /// the object an update replaces).
    pub fn admitted(&mut self, object: Resource, replaces: Option<String>) {
        self.0.retain(|e| !same(&e.object, &object));
        self.0.push(Entry { object, replaces, at: Instant::now() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spiderpool_core::model::{IPPoolSpec, SpiderIPPool};

    fn pool(name: &str, rv: Option<&str>, ips: &str) -> SpiderIPPool {
        let mut p = SpiderIPPool::new(
            name,
            IPPoolSpec {
                subnet: "10.6.0.0/16".into(),
                ips: vec![ips.into()],
                ..Default::default()
            },
        );
        p.metadata.resource_version = rv.map(str::to_owned);
        p
    }

    #[tokio::test]
    async fn admitted_objects_count_until_a_list_shows_them() {
        let pending = Pending::default();
        let mut guard = pending.lock().await;
        guard.admitted(Resource::IPPool(pool("a", None, "10.6.0.1")), None);
        let mut listed = Existing::default();
        guard.merge_into(&mut listed);
        assert_eq!(listed.ippools.len(), 1, "a create not listed yet counts");
        let mut listed =
            Existing { ippools: vec![pool("a", Some("5"), "10.6.0.1")], ..Default::default() };
        guard.merge_into(&mut listed);
        assert_eq!(listed.ippools[0].metadata.resource_version.as_deref(), Some("5"));
        // An update of "a" replacing version 5: counts while 5 is listed.
        guard.admitted(Resource::IPPool(pool("a", Some("5"), "10.6.0.9")), Some("5".into()));
        let mut listed =
            Existing { ippools: vec![pool("a", Some("5"), "10.6.0.1")], ..Default::default() };
        guard.merge_into(&mut listed);
        assert_eq!(listed.ippools.len(), 1);
        assert_eq!(listed.ippools[0].spec.ips, ["10.6.0.9"]);
        let mut listed =
            Existing { ippools: vec![pool("a", Some("6"), "10.6.0.9")], ..Default::default() };
        guard.merge_into(&mut listed);
        assert_eq!(listed.ippools[0].metadata.resource_version.as_deref(), Some("6"));
        let mut empty = Existing::default();
        guard.merge_into(&mut empty);
        assert!(empty.ippools.is_empty(), "everything stored was forgotten");
    }
}
