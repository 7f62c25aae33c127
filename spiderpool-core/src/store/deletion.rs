//! Deletion with Spiderpool's `spiderpool.spidernet.io` finalizer, as every
//! store keeps it (reference §2.1, §2.2, §4.9):
//!
//! - a SpiderIPPool that holds allocation records is not removed by a delete:
//!   it becomes *terminating* (`metadata.deletionTimestamp` set, the finalizer
//!   kept), allocates no new address, keeps its records, and is removed when
//!   its last record is released;
//! - a SpiderSubnet that controls pools (their controller `ownerReference` or
//!   `ipam.spidernet.io/owner-spider-subnet` label names it) is deleted as
//!   Spiderpool deletes it, with foreground propagation: its pools are deleted
//!   (each removed at once or terminating, as above) and the subnet stays
//!   terminating until the last of them is gone;
//! - an update never clears a deletion (the API server copies
//!   `deletionTimestamp` from the stored object), so re-applying a terminating
//!   object leaves it terminating; admission refuses such updates outright.
//!
//! The stores call these helpers; the rules live here once.

use serde_json::Value;

use crate::admission::common::LABEL_OWNER_SPIDER_SUBNET;
use crate::model::{FINALIZER, ObjectMeta, SpiderIPPool, SpiderSubnet};

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// There was no such object.
    NotFound,
    /// The object is gone.
    Removed,
    /// The object is terminating: it waits for `holding` allocation records
    /// (pools) or controlled pools (subnets) to go away.
    Terminating {
        /// Records (pool) or controlled pools (subnet) still there.
        holding: usize,
    },
}

impl Deletion {
    /// True unless the object did not exist.
    pub fn existed(self) -> bool {
        self != Deletion::NotFound
    }
}

/// Marks `meta` terminating at `at` (RFC 3339): sets `deletionTimestamp`
/// unless a deletion is already pending (the first one stands) and keeps the
/// `spiderpool.spidernet.io` finalizer, adding it when a pool was stored
/// without admission.
pub fn mark_terminating(meta: &mut ObjectMeta, at: &str) {
    if meta.deletion_timestamp.is_none() {
        meta.deletion_timestamp = Some(at.to_string());
    }
    let finalizers = meta.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == FINALIZER) {
        finalizers.push(FINALIZER.to_string());
    }
}

/// The API server's rule for an update of a stored object: the deletion
/// state (`deletionTimestamp`, `deletionGracePeriodSeconds`) is the stored
/// one, whatever the new object says; a terminating object keeps its
/// finalizer (only its owner, the store, removes it).
pub fn keep_deletion(new: &mut ObjectMeta, stored: &ObjectMeta) {
    new.deletion_timestamp.clone_from(&stored.deletion_timestamp);
    new.deletion_grace_period_seconds = stored.deletion_grace_period_seconds;
    if let Some(at) = &stored.deletion_timestamp {
        mark_terminating(new, at);
    }
}

/// The update rule for objects kept as JSON (subnets, and the Pods,
/// Namespaces, ... of an embedded store): a pending deletion stays (the new
/// object gets the stored `deletionTimestamp`, grace period and finalizer).
/// Unlike [`keep_deletion`], a deletion the new object sets is kept: on one
/// machine without a kubelet, applying a Pod with a `deletionTimestamp` is how
/// it is marked terminating.
pub fn keep_pending_deletion_json(new: &mut Value, stored: &Value) {
    let Some(at) = stored.pointer("/metadata/deletionTimestamp").and_then(Value::as_str) else {
        return;
    };
    let grace = stored.pointer("/metadata/deletionGracePeriodSeconds").cloned();
    let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    meta.insert("deletionTimestamp".into(), Value::String(at.to_string()));
    match grace {
        Some(g) if !g.is_null() => meta.insert("deletionGracePeriodSeconds".into(), g),
        _ => meta.remove("deletionGracePeriodSeconds"),
    };
    mark_terminating_json(new, at);
}

/// [`mark_terminating`] for objects kept as JSON (a value without a
/// `metadata` object gets one).
pub fn mark_terminating_json(obj: &mut Value, at: &str) {
    let Some(o) = obj.as_object_mut() else { return };
    let meta = o.entry("metadata").or_insert_with(|| Value::Object(Default::default()));
    let Some(meta) = meta.as_object_mut() else { return };
    if meta.get("deletionTimestamp").is_none_or(Value::is_null) {
        meta.insert("deletionTimestamp".into(), Value::String(at.to_string()));
    }
    let finalizers = meta.entry("finalizers").or_insert_with(|| Value::Array(Vec::new()));
    if !finalizers.is_array() {
        *finalizers = Value::Array(Vec::new());
    }
    if let Some(list) = finalizers.as_array_mut()
        && !list.iter().any(|f| f.as_str() == Some(FINALIZER))
    {
        list.push(Value::String(FINALIZER.to_string()));
    }
}

/// True when a JSON object has a `metadata.deletionTimestamp`.
pub fn is_terminating_json(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// The SpiderSubnet that controls `pool`: its controller `ownerReference` of
/// kind SpiderSubnet, else its `ipam.spidernet.io/owner-spider-subnet` label.
pub fn owner_subnet(pool: &SpiderIPPool) -> Option<&str> {
    pool.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true) && r.kind == SpiderSubnet::KIND)
        .map(|r| r.name.as_str())
        .or_else(|| pool.metadata.label(LABEL_OWNER_SPIDER_SUBNET))
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::OwnerReference;

    #[test]
    fn marking_keeps_the_first_deletion_and_one_finalizer() {
        let mut meta = ObjectMeta::named("p");
        mark_terminating(&mut meta, "2025-01-01T00:00:00Z");
        mark_terminating(&mut meta, "2025-06-01T00:00:00Z");
        assert_eq!(meta.deletion_timestamp.as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(meta.finalizers, Some(vec![FINALIZER.to_string()]));
    }

    #[test]
    fn an_update_neither_sets_nor_clears_a_deletion() {
        let mut stored = ObjectMeta::named("p");
        let mut new = ObjectMeta::named("p");
        new.deletion_timestamp = Some("2030-01-01T00:00:00Z".into());
        keep_deletion(&mut new, &stored);
        assert_eq!(new.deletion_timestamp, None, "an update cannot start a deletion");
        mark_terminating(&mut stored, "2025-01-01T00:00:00Z");
        let mut fresh = ObjectMeta::named("p");
        keep_deletion(&mut fresh, &stored);
        assert_eq!(fresh.deletion_timestamp.as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(fresh.finalizers, Some(vec![FINALIZER.to_string()]));

        let stored =
            json!({"metadata": {"name": "s", "deletionTimestamp": "2025-01-01T00:00:00Z"}});
        let mut new = json!({"metadata": {"name": "s"}, "spec": {}});
        keep_pending_deletion_json(&mut new, &stored);
        assert!(is_terminating_json(&new));
        assert_eq!(new["metadata"]["deletionTimestamp"], "2025-01-01T00:00:00Z");
        assert_eq!(new["metadata"]["finalizers"], json!([FINALIZER]));
        // A Pod marked terminating by applying it with a deletion time.
        let mut new = json!({"metadata": {"name": "s", "deletionTimestamp": "x"}});
        keep_pending_deletion_json(&mut new, &json!({"metadata": {"name": "s"}}));
        assert_eq!(new["metadata"]["deletionTimestamp"], "x");
    }

    #[test]
    fn owner_subnet_from_owner_reference_or_label() {
        let mut pool = SpiderIPPool::default();
        assert_eq!(owner_subnet(&pool), None);
        pool.metadata.labels =
            Some([(LABEL_OWNER_SPIDER_SUBNET.to_string(), "s1".to_string())].into());
        assert_eq!(owner_subnet(&pool), Some("s1"));
        pool.metadata.owner_references = Some(vec![OwnerReference {
            kind: SpiderSubnet::KIND.into(),
            name: "s2".into(),
            controller: Some(true),
            ..Default::default()
        }]);
        assert_eq!(owner_subnet(&pool), Some("s2"));
    }
}
