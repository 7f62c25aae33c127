//! Small typed views of the Kubernetes objects the pod rules read: a Pod, its
//! Namespace and Node, and the controllers its owner chain passes through.
//! Each deserializes from the Kubernetes JSON of its object and keeps only
//! what a rule reads (metadata name, namespace, UID, labels, annotations,
//! owner references, deletion timestamp; the pod's node, restart policy,
//! phase and reason; a StatefulSet's replicas and first ordinal).
//!
//! Reading is lenient, field by field, as the agent always read these
//! objects: a field of the wrong shape counts as absent (a label whose value
//! is not a string is dropped, an owner reference that is not an object has
//! no kind), and an empty string counts as unset. Objects from an API server
//! are always well-formed; objects registered by hand in the embedded store
//! may not be, and must not stop allocation.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `metadata` of any object, as far as the rules read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMetaView {
    /// `name`.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// `namespace`.
    #[serde(default, deserialize_with = "text")]
    pub namespace: Option<String>,
    /// `uid`.
    #[serde(default, deserialize_with = "text")]
    pub uid: Option<String>,
    /// `labels` (entries whose value is not a string are dropped).
    #[serde(default, deserialize_with = "string_map")]
    pub labels: BTreeMap<String, String>,
    /// `annotations` (entries whose value is not a string are dropped).
    #[serde(default, deserialize_with = "string_map")]
    pub annotations: BTreeMap<String, String>,
    /// `ownerReferences`, in order.
    #[serde(default, deserialize_with = "each")]
    pub owner_references: Vec<OwnerReferenceView>,
    /// `deletionTimestamp`: set when the object is being deleted.
    #[serde(default, deserialize_with = "text")]
    pub deletion_timestamp: Option<String>,
}

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OwnerReferenceView {
    /// `kind`.
    #[serde(default, deserialize_with = "text")]
    pub kind: Option<String>,
    /// `name`.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// `uid`.
    #[serde(default, deserialize_with = "text")]
    pub uid: Option<String>,
    /// `apiVersion`.
    #[serde(default, rename = "apiVersion", deserialize_with = "text")]
    pub api_version: Option<String>,
    /// `controller`.
    #[serde(default, deserialize_with = "lenient")]
    pub controller: Option<bool>,
}

/// An owner named by an owner reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// UID, when the reference carries one.
    pub uid: Option<String>,
    /// `apiVersion`, when the reference carries one.
    pub api_version: Option<String>,
}

impl ObjectMetaView {
    /// The controller of the object: the owner reference with
    /// `controller: true`, else the first one; `None` when there is none or
    /// the one picked lacks a kind or a name.
    pub fn controller(&self) -> Option<OwnerRef> {
        let refs = &self.owner_references;
        let pick = refs.iter().find(|r| r.controller == Some(true)).or_else(|| refs.first())?;
        Some(OwnerRef {
            kind: pick.kind.clone()?,
            name: pick.name.clone()?,
            uid: pick.uid.clone(),
            api_version: pick.api_version.clone(),
        })
    }
}

/// A Pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PodView {
    /// `metadata`.
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: ObjectMetaView,
    /// `spec`.
    #[serde(default, deserialize_with = "lenient")]
    pub spec: PodSpecView,
    /// `status`.
    #[serde(default, deserialize_with = "lenient")]
    pub status: PodStatusView,
}

/// `spec` of a Pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecView {
    /// `nodeName`: the node the pod is scheduled on.
    #[serde(default, deserialize_with = "text")]
    pub node_name: Option<String>,
    /// `restartPolicy` (Kubernetes' default is `Always`).
    #[serde(default, deserialize_with = "text")]
    pub restart_policy: Option<String>,
}

/// `status` of a Pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PodStatusView {
    /// `phase`.
    #[serde(default, deserialize_with = "text")]
    pub phase: Option<String>,
    /// `reason` (`Evicted`, ...).
    #[serde(default, deserialize_with = "text")]
    pub reason: Option<String>,
}

/// A Namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NamespaceView {
    /// `metadata`.
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: ObjectMetaView,
}

/// A Node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NodeView {
    /// `metadata`.
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: ObjectMetaView,
}

/// A controller on a pod's owner chain (see [`super::ControllerKind`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ControllerView {
    /// `metadata` (its owner references lead up the chain).
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: ObjectMetaView,
    /// `spec`.
    #[serde(default, deserialize_with = "lenient")]
    pub spec: ControllerSpecView,
    /// `status`.
    #[serde(default, deserialize_with = "lenient")]
    pub status: ControllerStatusView,
}

/// `status` of a controller: what the auto-pool size reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatusView {
    /// `desiredNumberScheduled` (DaemonSet).
    #[serde(default, deserialize_with = "lenient")]
    pub desired_number_scheduled: Option<i64>,
}

/// `spec.jobTemplate` of a CronJob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JobTemplateView {
    /// `spec`: the Job's `parallelism` and `completions`.
    #[serde(default, deserialize_with = "lenient")]
    pub spec: ControllerSpecView,
}

/// `spec` of a controller: what the StatefulSet rule and the auto-pool size
/// read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ControllerSpecView {
    /// `replicas` (Kubernetes' default is 1).
    #[serde(default, deserialize_with = "lenient")]
    pub replicas: Option<i64>,
    /// `ordinals` (StatefulSet).
    #[serde(default, deserialize_with = "lenient")]
    pub ordinals: Option<OrdinalsView>,
    /// `parallelism` (Job).
    #[serde(default, deserialize_with = "lenient")]
    pub parallelism: Option<i64>,
    /// `completions` (Job).
    #[serde(default, deserialize_with = "lenient")]
    pub completions: Option<i64>,
    /// `jobTemplate` (CronJob; boxed, it holds a spec of this type).
    #[serde(default, rename = "jobTemplate", deserialize_with = "lenient")]
    pub job_template: Option<Box<JobTemplateView>>,
}

/// `spec.ordinals` of a StatefulSet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OrdinalsView {
    /// `start`: the first ordinal.
    #[serde(default, deserialize_with = "lenient")]
    pub start: Option<i64>,
}

/// Any value; what does not fit `T` is `T::default()`.
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = Value::deserialize(d)?;
    Ok(T::deserialize(value).unwrap_or_default())
}

/// A non-empty string; anything else is unset.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// The string entries of an object; anything else is empty.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// An array, each element read leniently; anything else is empty.
fn each<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => {
            items.into_iter().map(|v| T::deserialize(v).unwrap_or_default()).collect()
        }
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn a_pod_reads_what_the_rules_need() {
        let pod: PodView = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "ns", "uid": "u1",
                "labels": {"app": "web"}, "annotations": {"a": "b"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5f", "uid": "r1",
                                     "controller": true, "apiVersion": "apps/v1"}],
                "deletionTimestamp": "2026-01-01T00:00:00Z", "resourceVersion": "7"},
            "spec": {"nodeName": "n1", "restartPolicy": "Never", "containers": []},
            "status": {"phase": "Failed", "reason": "Evicted", "podIP": "10.0.0.1"}
        }))
        .unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
        assert_eq!(pod.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(pod.metadata.labels["app"], "web");
        assert_eq!(pod.metadata.annotations["a"], "b");
        assert_eq!(
            pod.metadata.controller(),
            Some(OwnerRef {
                kind: "ReplicaSet".into(),
                name: "web-5f".into(),
                uid: Some("r1".into()),
                api_version: Some("apps/v1".into()),
            })
        );
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert_eq!(pod.spec.node_name.as_deref(), Some("n1"));
        assert_eq!(pod.spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.status.phase.as_deref(), Some("Failed"));
        assert_eq!(pod.status.reason.as_deref(), Some("Evicted"));
    }

    #[test]
    fn fields_of_the_wrong_shape_count_as_absent() {
        let pod: PodView = serde_json::from_value(json!({
            "metadata": {"name": "", "uid": 5, "labels": {"a": "1", "b": 2, "c": null},
                         "annotations": "x", "ownerReferences": ["junk", {"kind": "Job"}]},
            "spec": "nope",
            "status": null
        }))
        .unwrap();
        assert_eq!(pod.metadata.name, None);
        assert_eq!(pod.metadata.uid, None);
        assert_eq!(pod.metadata.labels, BTreeMap::from([("a".into(), "1".into())]));
        assert!(pod.metadata.annotations.is_empty());
        assert_eq!(pod.metadata.owner_references.len(), 2);
        assert_eq!(pod.metadata.controller(), None, "the first reference has no kind");
        assert_eq!(pod.spec, PodSpecView::default());
        assert_eq!(pod.status, PodStatusView::default());
        let empty: PodView = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty, PodView::default());
    }

    #[test]
    fn the_controller_reference_wins_over_the_first() {
        let meta: ObjectMetaView = serde_json::from_value(json!({"ownerReferences": [
            {"kind": "A", "name": "a"}, {"kind": "B", "name": "b", "controller": true}]}))
        .unwrap();
        assert_eq!(meta.controller().map(|o| o.kind), Some("B".into()));
        let first: ObjectMetaView = serde_json::from_value(json!({"ownerReferences": [
            {"kind": "A", "name": "a", "controller": "yes"}, {"kind": "B", "name": "b"}]}))
        .unwrap();
        assert_eq!(first.controller().map(|o| o.kind), Some("A".into()));
    }

    #[test]
    fn a_statefulset_reads_replicas_and_ordinals() {
        let set: ControllerView = serde_json::from_value(json!({
            "spec": {"replicas": 3, "ordinals": {"start": 5}, "selector": {}}}))
        .unwrap();
        assert_eq!(set.spec.replicas, Some(3));
        assert_eq!(set.spec.ordinals.and_then(|o| o.start), Some(5));
        let odd: ControllerView =
            serde_json::from_value(json!({"spec": {"replicas": 2.5, "ordinals": 1}})).unwrap();
        assert_eq!((odd.spec.replicas, odd.spec.ordinals), (None, None));
    }
}
