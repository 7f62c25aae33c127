//! What admission leaves alone while an object is being deleted (Spiderpool
//! #1203): a terminating object must be able to lose its finalizers, or it is
//! never removed.
//!
//! - [`skip_mutation`]: no defaulting on a terminating object. Defaulting
//!   re-adds the `spiderpool.spidernet.io` finalizer, and the API server
//!   refuses new finalizers on a terminating object, so a mutation there would
//!   make the very update that removes a finalizer fail.
//! - [`metadata_only_teardown`]: an UPDATE of a terminating object that
//!   changes nothing but `metadata` (finalizers removed, labels, annotations,
//!   owner references) is allowed without validation. Everything else of a
//!   terminating object still goes through [`super::validate`], which refuses
//!   changes to a terminating pool or subnet.

use serde_json::Value;

use crate::model::Resource;

use super::Operation;

/// True when defaulting must not touch `obj`: it is terminating.
pub fn skip_mutation(obj: &Resource) -> bool {
    obj.metadata().is_terminating()
}

/// True when `op` is an UPDATE of a terminating object (`new` carries a
/// deletion timestamp) that changes only its `metadata` (and the `status`,
/// which a main-resource update cannot change when the kind has a status
/// subresource). Such an update is admitted as it is.
pub fn metadata_only_teardown(
    op: Operation,
    new: Option<&Resource>,
    old: Option<&Resource>,
) -> bool {
    let (Operation::Update, Some(new), Some(old)) = (op, new, old) else {
        return false;
    };
    if !new.metadata().is_terminating() || new.kind() != old.kind() {
        return false;
    }
    match (body(new), body(old)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The object without `metadata` and `status`.
fn body(obj: &Resource) -> Option<Value> {
    let mut v = obj.to_value().ok()?;
    let map = v.as_object_mut()?;
    map.remove("metadata");
    map.remove("status");
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IPPoolSpec, SpiderIPPool};

    fn pool(finalizers: &[&str], terminating: bool, subnet: &str) -> Resource {
        let mut p =
            SpiderIPPool::new("p", IPPoolSpec { subnet: subnet.into(), ..Default::default() });
        p.metadata.finalizers = Some(finalizers.iter().map(|s| s.to_string()).collect());
        if terminating {
            p.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        }
        Resource::IPPool(p)
    }

    #[test]
    fn finalizer_removal_on_a_terminating_object_is_a_teardown() {
        let old = pool(&["spiderpool.spidernet.io", "example.com/x"], true, "10.6.0.0/16");
        let new = pool(&["spiderpool.spidernet.io"], true, "10.6.0.0/16");
        assert!(metadata_only_teardown(Operation::Update, Some(&new), Some(&old)));
        let new = pool(&[], true, "10.6.0.0/16");
        assert!(metadata_only_teardown(Operation::Update, Some(&new), Some(&old)));
        assert!(skip_mutation(&new));
    }

    #[test]
    fn spec_changes_and_live_objects_are_not_teardowns() {
        let old = pool(&["spiderpool.spidernet.io"], true, "10.6.0.0/16");
        let new = pool(&["spiderpool.spidernet.io"], true, "10.7.0.0/16");
        assert!(!metadata_only_teardown(Operation::Update, Some(&new), Some(&old)));
        let old = pool(&["spiderpool.spidernet.io"], false, "10.6.0.0/16");
        let new = pool(&[], false, "10.6.0.0/16");
        assert!(!metadata_only_teardown(Operation::Update, Some(&new), Some(&old)));
        assert!(!skip_mutation(&new));
        assert!(!metadata_only_teardown(Operation::Create, Some(&new), None));
    }
}
