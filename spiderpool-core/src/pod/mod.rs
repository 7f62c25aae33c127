//! Facts about a pod, its namespace and its node that allocation and release
//! decisions need, where they come from, and the rules that read them.
//!
//! - [`PodSource`] ([`source`]): the trait an agent backend implements to
//!   fetch a pod, a namespace, a node or a controller, as the typed views of
//!   [`view`]; every [`crate::store::AdminStore`] is one ([`stored`]).
//! - [`gather_pod`] ([`context`]): one pod's [`PodContext`] over any source:
//!   owner resolution (ReplicaSet → Deployment, Job → CronJob, StatefulSet
//!   replicas and ordinals) and liveness ([`not_alive`]).
//! - [`statefulset_keeps_addresses`]: the pure StatefulSet membership rule.
//!
//! What a release keeps is decided in [`crate::allocator::release_decision`].

use std::collections::BTreeMap;

pub mod context;
pub mod source;
pub mod stored;
pub mod view;

pub use context::{
    NotAlive, PodContext, gather_pod, not_alive, owner_recorded_in, statefulset_facts,
    top_controller,
};
pub use source::{ControllerKind, PodSource};
pub use view::{
    ControllerSpecView, ControllerStatusView, ControllerView, JobTemplateView, NamespaceView,
    NodeView, ObjectMetaView, OrdinalsView, OwnerRef, OwnerReferenceView, PodSpecView,
    PodStatusView, PodView,
};

/// The pod being served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (`K8S_POD_UID`, or the pod object's UID).
    pub uid: String,
    /// Labels (for `podAffinity`).
    pub labels: BTreeMap<String, String>,
    /// Annotations (`ipam.spidernet.io/*`, Multus).
    pub annotations: BTreeMap<String, String>,
    /// The node the pod runs on.
    pub node: String,
    /// The pod's top controller, when it has one.
    pub owner: Option<OwnerFacts>,
}

impl PodFacts {
    /// One annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// `ns/name`, the key Spiderpool records in pool status.
    pub fn namespaced_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The controller kind recorded in the SpiderEndpoint (`Pod` when none).
    pub fn owner_kind(&self) -> &str {
        self.owner.as_ref().map_or("Pod", |o| o.kind.as_str())
    }

    /// The controller name recorded in the SpiderEndpoint (the pod name when none).
    pub fn owner_name(&self) -> &str {
        self.owner.as_ref().map_or(self.name.as_str(), |o| o.name.as_str())
    }

    /// True when the top controller is a StatefulSet.
    pub fn is_statefulset_pod(&self) -> bool {
        self.owner.as_ref().is_some_and(|o| o.kind == "StatefulSet")
    }
}

/// The top controller of a pod (ReplicaSet resolved to Deployment, Job to
/// CronJob), with what the StatefulSet decision needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerFacts {
    /// Kind (`Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, ...).
    pub kind: String,
    /// Name.
    pub name: String,
    /// UID, when known.
    pub uid: Option<String>,
    /// `apiVersion` of the owner reference, when it carries one.
    pub api_version: Option<String>,
    /// For StatefulSets: the current state of the set (`None` when the set is gone
    /// or not known).
    pub statefulset: Option<StatefulSetFacts>,
}

/// What decides whether a StatefulSet pod keeps its addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatefulSetFacts {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `spec.ordinals.start`, when set.
    pub ordinal_start: Option<i32>,
}

/// The namespace of the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceFacts {
    /// Name.
    pub name: String,
    /// Labels (for `namespaceAffinity`).
    pub labels: BTreeMap<String, String>,
    /// Annotations (default pools).
    pub annotations: BTreeMap<String, String>,
}

/// The node the pod runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Name.
    pub name: String,
    /// Labels (for `nodeAffinity`).
    pub labels: BTreeMap<String, String>,
}

/// The ordinal of a StatefulSet pod: the number after the last `-` of its name.
pub fn statefulset_ordinal(pod_name: &str) -> Option<i32> {
    let (_, n) = pod_name.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

/// Whether a StatefulSet pod is still a member of its set, so its addresses are
/// kept across pod re-creation: the ordinal lies in
/// `[start, start + replicas - 1]` (start 0 unless `spec.ordinals.start` is set).
/// A set that is gone (`None`) keeps nothing.
pub fn statefulset_keeps_addresses(pod_name: &str, set: Option<&StatefulSetFacts>) -> bool {
    let (Some(set), Some(ordinal)) = (set, statefulset_ordinal(pod_name)) else {
        return false;
    };
    let start = i64::from(set.ordinal_start.unwrap_or(0));
    let ordinal = i64::from(ordinal);
    ordinal >= start && ordinal < start + i64::from(set.replicas.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_parse_from_the_name_suffix() {
        assert_eq!(statefulset_ordinal("web-0"), Some(0));
        assert_eq!(statefulset_ordinal("web-12"), Some(12));
        assert_eq!(statefulset_ordinal("my-db-3"), Some(3));
        assert_eq!(statefulset_ordinal("web"), None);
        assert_eq!(statefulset_ordinal("web-"), None);
        assert_eq!(statefulset_ordinal("web-01"), None);
        assert_eq!(statefulset_ordinal("web-x1"), None);
        assert_eq!(statefulset_ordinal("web-99999999999"), None);
    }

    #[test]
    fn statefulset_members_keep_addresses_until_scale_down() {
        let set = StatefulSetFacts { replicas: 3, ordinal_start: None };
        assert!(statefulset_keeps_addresses("web-0", Some(&set)));
        assert!(statefulset_keeps_addresses("web-2", Some(&set)));
        assert!(!statefulset_keeps_addresses("web-3", Some(&set)));
        assert!(!statefulset_keeps_addresses("web-0", None), "set gone");
        let zero = StatefulSetFacts { replicas: 0, ordinal_start: None };
        assert!(!statefulset_keeps_addresses("web-0", Some(&zero)));
        let shifted = StatefulSetFacts { replicas: 2, ordinal_start: Some(5) };
        assert!(!statefulset_keeps_addresses("web-4", Some(&shifted)));
        assert!(statefulset_keeps_addresses("web-5", Some(&shifted)));
        assert!(statefulset_keeps_addresses("web-6", Some(&shifted)));
        assert!(!statefulset_keeps_addresses("web-7", Some(&shifted)));
        let negative = StatefulSetFacts { replicas: -1, ordinal_start: None };
        assert!(!statefulset_keeps_addresses("web-0", Some(&negative)));
    }
}
