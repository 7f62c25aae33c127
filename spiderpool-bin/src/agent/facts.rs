//! Pod, namespace and node facts gathered from the store's objects (the
//! embedded store keeps `Pod`, `Namespace`, `Node` and controller objects in
//! place of a cluster). A pod that is not registered is a pod with no labels
//! and no annotations on this node (DESIGN §6).

use std::collections::BTreeMap;

use serde_json::Value;
use spiderpool_core::pod::{NamespaceFacts, NodeFacts, OwnerFacts, PodFacts, StatefulSetFacts};
use spiderpool_core::store::{AdminStore, ObjectKey, StoreError};

use super::AgentConfig;

/// Everything the allocator needs to know about a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodContext {
    /// The pod.
    pub pod: PodFacts,
    /// Its namespace.
    pub namespace: NamespaceFacts,
    /// Its node.
    pub node: NodeFacts,
    /// True when a `Pod` object is stored for it.
    pub registered: bool,
    /// The stored `Pod` object's `metadata.uid`, when it has one.
    pub stored_uid: Option<String>,
    /// Why the stored pod is not alive (terminating or finished), when it is
    /// not; allocation refuses such pods as Spiderpool does.
    pub not_alive: Option<String>,
}

/// Spiderpool's liveness rule (reference §4.1): a pod is not alive when it has
/// a `deletionTimestamp`, or `Succeeded` with `restartPolicy` other than
/// `Always`, or `Failed` with `restartPolicy: Never`, or `Failed` with reason
/// `Evicted`.
pub fn not_alive_reason(pod: &Value) -> Option<String> {
    if let Some(ts) = str_at(pod, "/metadata/deletionTimestamp") {
        return Some(format!("metadata.deletionTimestamp is set ({ts}): the pod is terminating"));
    }
    let phase = str_at(pod, "/status/phase").unwrap_or("");
    let policy = str_at(pod, "/spec/restartPolicy").unwrap_or("Always");
    match phase {
        "Succeeded" if policy != "Always" => {
            Some(format!("status.phase is Succeeded and spec.restartPolicy is {policy}"))
        }
        "Failed" if policy == "Never" => {
            Some("status.phase is Failed and spec.restartPolicy is Never".to_string())
        }
        "Failed" if str_at(pod, "/status/reason") == Some("Evicted") => {
            Some("status.phase is Failed with reason Evicted".to_string())
        }
        _ => None,
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()
        })
        .unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The controller owner reference of an object (`controller: true`, else the
/// first one): kind, name, uid.
fn controller_of(obj: &Value) -> Option<(String, String, Option<String>)> {
    let refs = obj.pointer("/metadata/ownerReferences")?.as_array()?;
    let pick = refs
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .or_else(|| refs.first())?;
    let kind = str_at(pick, "/kind")?.to_string();
    let name = str_at(pick, "/name")?.to_string();
    Some((kind, name, str_at(pick, "/uid").map(str::to_string)))
}

async fn object<S: AdminStore>(
    store: &S,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, StoreError> {
    Ok(store.get_object(&ObjectKey::new(kind, namespace, name)).await?.map(|v| v.value))
}

/// Resolves the top controller as Spiderpool does: a ReplicaSet owned by a
/// Deployment is the Deployment, a Job owned by a CronJob is the CronJob (when
/// the intermediate object is stored); a StatefulSet carries its replicas and
/// `spec.ordinals.start` when the StatefulSet object is stored.
async fn top_controller<S: AdminStore>(
    store: &S,
    namespace: &str,
    pod: &Value,
) -> Result<Option<OwnerFacts>, StoreError> {
    let Some((mut kind, mut name, mut uid)) = controller_of(pod) else {
        return Ok(None);
    };
    if matches!(kind.as_str(), "ReplicaSet" | "Job")
        && let Some(mid) = object(store, &kind, namespace, &name).await?
        && let Some((k, n, u)) = controller_of(&mid)
        && matches!((kind.as_str(), k.as_str()), ("ReplicaSet", "Deployment") | ("Job", "CronJob"))
    {
        (kind, name, uid) = (k, n, u);
    }
    let statefulset = if kind == "StatefulSet" {
        object(store, "StatefulSet", namespace, &name).await?.map(|set| StatefulSetFacts {
            replicas: set
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .map_or(1, |r| i32::try_from(r).unwrap_or(i32::MAX)),
            ordinal_start: set
                .pointer("/spec/ordinals/start")
                .and_then(Value::as_i64)
                .and_then(|s| i32::try_from(s).ok()),
        })
    } else {
        None
    };
    Ok(Some(OwnerFacts { kind, name, uid, statefulset }))
}

/// Gathers the facts of pod `namespace/name`. `uid` is the caller's
/// (`K8S_POD_UID`); when empty, the stored pod's UID is used.
pub async fn gather_pod<S: AdminStore>(
    store: &S,
    config: &AgentConfig,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<PodContext, StoreError> {
    let pod_obj = object(store, "Pod", namespace, name).await?;
    let mut pod = PodFacts {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        node: config.node_name.clone(),
        ..PodFacts::default()
    };
    if let Some(obj) = &pod_obj {
        pod.labels = string_map(obj.pointer("/metadata/labels"));
        pod.annotations = string_map(obj.pointer("/metadata/annotations"));
        if pod.uid.is_empty()
            && let Some(u) = str_at(obj, "/metadata/uid")
        {
            pod.uid = u.to_string();
        }
        if let Some(n) = str_at(obj, "/spec/nodeName") {
            pod.node = n.to_string();
        }
        pod.owner = top_controller(store, namespace, obj).await?;
    }
    let ns_obj = object(store, "Namespace", "", namespace).await?;
    let ns = NamespaceFacts {
        name: namespace.to_string(),
        labels: string_map(ns_obj.as_ref().and_then(|o| o.pointer("/metadata/labels"))),
        annotations: string_map(ns_obj.as_ref().and_then(|o| o.pointer("/metadata/annotations"))),
    };
    let node_obj = object(store, "Node", "", &pod.node).await?;
    let node = NodeFacts {
        name: pod.node.clone(),
        labels: string_map(node_obj.as_ref().and_then(|o| o.pointer("/metadata/labels"))),
    };
    Ok(PodContext {
        pod,
        namespace: ns,
        node,
        registered: pod_obj.is_some(),
        stored_uid: pod_obj.as_ref().and_then(|o| str_at(o, "/metadata/uid")).map(str::to_string),
        not_alive: pod_obj.as_ref().and_then(not_alive_reason),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use spiderpool_core::store::MemoryStore;

    use super::*;

    #[test]
    fn replicaset_resolves_to_its_deployment_and_statefulsets_carry_replicas() {
        let store = MemoryStore::new();
        let put = |kind: &str, ns: &str, name: &str, v: Value| {
            pollster_block(store.put_object(&ObjectKey::new(kind, ns, name), v)).unwrap();
        };
        put(
            "Pod",
            "ns",
            "web-abc",
            json!({"metadata":{"name":"web-abc","uid":"u1","labels":{"app":"web"},
                "ownerReferences":[{"kind":"ReplicaSet","name":"web-5f","controller":true}]},
                "spec":{"nodeName":"n2"}}),
        );
        put(
            "ReplicaSet",
            "ns",
            "web-5f",
            json!({"metadata":{"name":"web-5f","ownerReferences":[{"kind":"Deployment","name":"web"}]}}),
        );
        put("Node", "", "n2", json!({"metadata":{"name":"n2","labels":{"zone":"a"}}}));
        put(
            "Pod",
            "ns",
            "db-1",
            json!({"metadata":{"name":"db-1","ownerReferences":[{"kind":"StatefulSet","name":"db"}]}}),
        );
        put("StatefulSet", "ns", "db", json!({"spec":{"replicas":3}}));
        let config = AgentConfig { node_name: "n1".into(), ..AgentConfig::default() };

        let got = pollster_block(gather_pod(&store, &config, "ns", "web-abc", "")).unwrap();
        assert!(got.registered);
        assert_eq!(got.pod.uid, "u1");
        assert_eq!(got.pod.node, "n2");
        assert_eq!(got.node.labels.get("zone").map(String::as_str), Some("a"));
        assert_eq!(got.pod.owner_kind(), "Deployment");
        assert_eq!(got.pod.owner_name(), "web");

        let db = pollster_block(gather_pod(&store, &config, "ns", "db-1", "u9")).unwrap();
        assert_eq!(db.pod.uid, "u9");
        let set = db.pod.owner.unwrap().statefulset.unwrap();
        assert_eq!(set.replicas, 3);

        let unknown = pollster_block(gather_pod(&store, &config, "ns", "ghost", "u")).unwrap();
        assert!(!unknown.registered);
        assert!(unknown.pod.annotations.is_empty());
        assert_eq!(unknown.pod.node, "n1");
        assert_eq!(unknown.pod.owner_kind(), "Pod");
    }

    #[test]
    fn liveness_follows_spiderpool() {
        assert_eq!(not_alive_reason(&json!({"metadata": {}})), None);
        assert!(
            not_alive_reason(&json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}))
                .unwrap()
                .contains("terminating")
        );
        let p = |phase: &str, policy: &str, reason: &str| {
            not_alive_reason(&json!({"spec": {"restartPolicy": policy},
                "status": {"phase": phase, "reason": reason}}))
            .is_some()
        };
        assert!(p("Succeeded", "OnFailure", ""));
        assert!(!p("Succeeded", "Always", ""));
        assert!(p("Failed", "Never", ""));
        assert!(!p("Failed", "OnFailure", ""));
        assert!(p("Failed", "OnFailure", "Evicted"));
        assert!(!p("Running", "Never", ""));
    }

    fn pollster_block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }
}
