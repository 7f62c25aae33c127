//! Gathering a pod's facts over any [`PodSource`] ([`gather_pod`]): its
//! labels and annotations, node, top controller (owner resolution), its
//! namespace and node, and whether it is alive ([`not_alive`]). A pod the
//! source does not know is a pod with no labels and no annotations on this
//! node (DESIGN §6).

use std::fmt;

use super::source::{ControllerKind, PodSource};
use super::view::{ControllerView, PodView};
use super::{
    KUBEVIRT_VMI_KIND, KubevirtFacts, NamespaceFacts, NodeFacts, OwnerFacts, PodFacts,
    StatefulSetFacts,
};
use crate::store::StoreError;

/// Everything the allocation and release rules need to know about a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodContext {
    /// The pod.
    pub pod: PodFacts,
    /// Its namespace.
    pub namespace: NamespaceFacts,
    /// Its node.
    pub node: NodeFacts,
    /// True when the source knows the pod (a `Pod` object exists).
    pub registered: bool,
    /// The `Pod` object's `metadata.uid`, when it has one.
    pub stored_uid: Option<String>,
    /// Why the pod is not alive, when it is not; allocation refuses such
    /// pods as Spiderpool does.
    pub not_alive: Option<NotAlive>,
}

/// Why a pod is not alive (Spiderpool's rule, reference §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotAlive {
    /// `metadata.deletionTimestamp` is set.
    Terminating {
        /// The timestamp.
        since: String,
    },
    /// `status.phase` is `Succeeded` and the pod is not restarted.
    Succeeded {
        /// `spec.restartPolicy` (not `Always`).
        restart_policy: String,
    },
    /// `status.phase` is `Failed` and `spec.restartPolicy` is `Never`.
    FailedNeverRestarted,
    /// `status.phase` is `Failed` with reason `Evicted`.
    Evicted,
}

impl fmt::Display for NotAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotAlive::Terminating { since } => {
                write!(f, "metadata.deletionTimestamp is set ({since}): the pod is terminating")
            }
            NotAlive::Succeeded { restart_policy } => {
                write!(f, "status.phase is Succeeded and spec.restartPolicy is {restart_policy}")
            }
            NotAlive::FailedNeverRestarted => {
                f.write_str("status.phase is Failed and spec.restartPolicy is Never")
            }
            NotAlive::Evicted => f.write_str("status.phase is Failed with reason Evicted"),
        }
    }
}

/// Spiderpool's liveness rule: a pod is not alive when it has a
/// `deletionTimestamp`, or is `Succeeded` with `restartPolicy` other than
/// `Always`, or `Failed` with `restartPolicy: Never`, or `Failed` with
/// reason `Evicted`.
pub fn not_alive(pod: &PodView) -> Option<NotAlive> {
    if let Some(since) = &pod.metadata.deletion_timestamp {
        return Some(NotAlive::Terminating { since: since.clone() });
    }
    let phase = pod.status.phase.as_deref().unwrap_or("");
    let policy = pod.spec.restart_policy.as_deref().unwrap_or("Always");
    match phase {
        "Succeeded" if policy != "Always" => {
            Some(NotAlive::Succeeded { restart_policy: policy.to_string() })
        }
        "Failed" if policy == "Never" => Some(NotAlive::FailedNeverRestarted),
        "Failed" if pod.status.reason.as_deref() == Some("Evicted") => Some(NotAlive::Evicted),
        _ => None,
    }
}

/// What the StatefulSet rule reads from a StatefulSet: `spec.replicas`
/// (default 1; beyond `i32`, `i32::MAX`) and `spec.ordinals.start`.
pub fn statefulset_facts(set: &ControllerView) -> StatefulSetFacts {
    StatefulSetFacts {
        replicas: set.spec.replicas.map_or(1, |r| i32::try_from(r).unwrap_or(i32::MAX)),
        ordinal_start: set
            .spec
            .ordinals
            .as_ref()
            .and_then(|o| o.start)
            .and_then(|s| i32::try_from(s).ok()),
    }
}

/// Resolves the top controller as Spiderpool does: a ReplicaSet owned by a
/// Deployment is the Deployment, a Job owned by a CronJob is the CronJob (when
/// the source knows the intermediate object); a StatefulSet carries its
/// replicas and first ordinal when the source knows it.
pub async fn top_controller<P: PodSource>(
    source: &P,
    namespace: &str,
    pod: &PodView,
) -> Result<Option<OwnerFacts>, StoreError> {
    let Some(mut owner) = pod.metadata.controller() else {
        return Ok(None);
    };
    let above = match ControllerKind::from_kind(&owner.kind) {
        Some(kind @ ControllerKind::ReplicaSet) => Some((kind, "Deployment")),
        Some(kind @ ControllerKind::Job) => Some((kind, "CronJob")),
        _ => None,
    };
    if let Some((kind, top_kind)) = above
        && let Some(mid) = source.controller(kind, namespace, &owner.name).await?
        && let Some(top) = mid.metadata.controller()
        && top.kind == top_kind
    {
        owner = top;
    }
    let (statefulset, kubevirt) = member_facts(source, namespace, &owner.kind, &owner.name).await?;
    Ok(Some(OwnerFacts {
        kind: owner.kind,
        name: owner.name,
        uid: owner.uid,
        api_version: owner.api_version,
        statefulset,
        kubevirt,
    }))
}

/// What the fixed-address rules read about a StatefulSet or a KubeVirt VMI
/// owner `kind namespace/name`; nothing for other kinds.
async fn member_facts<P: PodSource>(
    source: &P,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<(Option<StatefulSetFacts>, Option<KubevirtFacts>), StoreError> {
    if kind == ControllerKind::StatefulSet.as_str() {
        let set = source.controller(ControllerKind::StatefulSet, namespace, name).await?;
        return Ok((set.as_ref().map(statefulset_facts), None));
    }
    if kind == KUBEVIRT_VMI_KIND {
        return Ok((None, Some(kubevirt_facts(source, namespace, name).await?)));
    }
    Ok((None, None))
}

/// Whether the VirtualMachineInstance `namespace/vmi` and its VirtualMachine
/// still exist and are not being deleted. The VM is the VMI's controller
/// reference of kind `VirtualMachine`; a VMI that is gone is looked up as the
/// VM of the same name (KubeVirt names a VM's VMI after the VM).
pub async fn kubevirt_facts<P: PodSource>(
    source: &P,
    namespace: &str,
    vmi: &str,
) -> Result<KubevirtFacts, StoreError> {
    let live = |v: &ControllerView| v.metadata.deletion_timestamp.is_none();
    let found = source.controller(ControllerKind::VirtualMachineInstance, namespace, vmi).await?;
    let vm_name = match &found {
        Some(v) => v
            .metadata
            .controller()
            .filter(|o| o.kind == ControllerKind::VirtualMachine.as_str())
            .map(|o| o.name),
        None => Some(vmi.to_string()),
    };
    let vm = match &vm_name {
        Some(name) => source.controller(ControllerKind::VirtualMachine, namespace, name).await?,
        None => None,
    };
    Ok(KubevirtFacts {
        vmi_live: found.as_ref().is_some_and(live),
        vm_live: vm.as_ref().is_some_and(live),
    })
}

/// The top controller a pod's SpiderEndpoint records, read again from
/// `source`: for a release of a pod the source no longer has (deleted before
/// its CNI DEL arrived). Spiderpool decides StatefulSet membership on release
/// from the endpoint (reference §4.7 step 4), so a StatefulSet member keeps
/// its addresses for its successor also when the DEL comes after the pod
/// object is gone. `None` when the endpoint records no controller (`Pod`).
pub async fn owner_recorded_in<P: PodSource>(
    source: &P,
    endpoint: &crate::model::SpiderEndpoint,
) -> Result<Option<OwnerFacts>, StoreError> {
    let status = &endpoint.status;
    let (kind, name) = (&status.owner_controller_type, &status.owner_controller_name);
    if kind.is_empty() || kind == "Pod" || name.is_empty() {
        return Ok(None);
    }
    let namespace = endpoint.metadata.namespace.as_deref().unwrap_or_default();
    let (statefulset, kubevirt) = member_facts(source, namespace, kind, name).await?;
    Ok(Some(OwnerFacts {
        kind: kind.clone(),
        name: name.clone(),
        uid: None,
        api_version: None,
        statefulset,
        kubevirt,
    }))
}

/// Gathers the facts of pod `namespace/name` from `source`. `uid` is the
/// caller's (`K8S_POD_UID`); when empty, the pod object's UID is used. A pod
/// without `spec.nodeName`, and a pod the source does not know, is on
/// `this_node`.
pub async fn gather_pod<P: PodSource>(
    source: &P,
    namespace: &str,
    name: &str,
    uid: &str,
    this_node: &str,
) -> Result<PodContext, StoreError> {
    let view = source.pod(namespace, name).await?;
    let mut pod = PodFacts {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        node: this_node.to_string(),
        ..PodFacts::default()
    };
    if let Some(view) = &view {
        pod.labels = view.metadata.labels.clone();
        pod.annotations = view.metadata.annotations.clone();
        if pod.uid.is_empty()
            && let Some(stored) = &view.metadata.uid
        {
            pod.uid = stored.clone();
        }
        if let Some(node) = &view.spec.node_name {
            pod.node = node.clone();
        }
        pod.owner = top_controller(source, namespace, view).await?;
    }
    let ns = source.namespace(namespace).await?.map(|n| n.metadata).unwrap_or_default();
    let node = match pod.node.as_str() {
        "" => None,
        node => source.node(node).await?,
    };
    Ok(PodContext {
        namespace: NamespaceFacts {
            name: namespace.to_string(),
            labels: ns.labels,
            annotations: ns.annotations,
        },
        node: NodeFacts {
            name: pod.node.clone(),
            labels: node.map(|n| n.metadata.labels).unwrap_or_default(),
        },
        registered: view.is_some(),
        stored_uid: view.as_ref().and_then(|v| v.metadata.uid.clone()),
        not_alive: view.as_ref().and_then(not_alive),
        pod,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::pod::view::{NamespaceView, NodeView};
    use crate::store::{AdminStore, MemoryStore, ObjectKey};

    fn block<F: std::future::Future>(f: F) -> F::Output {
        pollster::block_on(f)
    }

    fn put(store: &MemoryStore, kind: &str, ns: &str, name: &str, v: Value) {
        block(store.put_object(&ObjectKey::new(kind, ns, name), v)).unwrap();
    }

    #[test]
    fn replicaset_resolves_to_its_deployment_and_statefulsets_carry_replicas() {
        let store = MemoryStore::new();
        put(
            &store,
            "Pod",
            "ns",
            "web-abc",
            json!({"metadata":{"name":"web-abc","uid":"u1","labels":{"app":"web"},
                "ownerReferences":[{"kind":"ReplicaSet","name":"web-5f","controller":true}]},
                "spec":{"nodeName":"n2"}}),
        );
        put(
            &store,
            "ReplicaSet",
            "ns",
            "web-5f",
            json!({"metadata":{"name":"web-5f","ownerReferences":[{"kind":"Deployment","name":"web"}]}}),
        );
        put(&store, "Node", "", "n2", json!({"metadata":{"name":"n2","labels":{"zone":"a"}}}));
        put(
            &store,
            "Pod",
            "ns",
            "db-1",
            json!({"metadata":{"name":"db-1","ownerReferences":[{"kind":"StatefulSet","name":"db"}]}}),
        );
        put(&store, "StatefulSet", "ns", "db", json!({"spec":{"replicas":3}}));

        let got = block(gather_pod(&store, "ns", "web-abc", "", "n1")).unwrap();
        assert!(got.registered);
        assert_eq!(got.pod.uid, "u1");
        assert_eq!(got.pod.node, "n2");
        assert_eq!(got.node.labels.get("zone").map(String::as_str), Some("a"));
        assert_eq!(got.pod.owner_kind(), "Deployment");
        assert_eq!(got.pod.owner_name(), "web");

        let db = block(gather_pod(&store, "ns", "db-1", "u9", "n1")).unwrap();
        assert_eq!(db.pod.uid, "u9");
        let set = db.pod.owner.unwrap().statefulset.unwrap();
        assert_eq!(set.replicas, 3);

        let unknown = block(gather_pod(&store, "ns", "ghost", "u", "n1")).unwrap();
        assert!(!unknown.registered);
        assert!(unknown.pod.annotations.is_empty());
        assert_eq!(unknown.pod.node, "n1");
        assert_eq!(unknown.pod.owner_kind(), "Pod");
    }

    #[test]
    fn liveness_follows_spiderpool() {
        let view = |v: Value| serde_json::from_value::<PodView>(v).unwrap();
        assert_eq!(not_alive(&view(json!({"metadata": {}}))), None);
        assert!(
            not_alive(&view(json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})))
                .unwrap()
                .to_string()
                .contains("terminating")
        );
        let p = |phase: &str, policy: &str, reason: &str| {
            not_alive(&view(json!({"spec": {"restartPolicy": policy},
                "status": {"phase": phase, "reason": reason}})))
            .is_some()
        };
        assert!(p("Succeeded", "OnFailure", ""));
        assert!(!p("Succeeded", "Always", ""));
        assert!(p("Failed", "Never", ""));
        assert!(!p("Failed", "OnFailure", ""));
        assert!(p("Failed", "OnFailure", "Evicted"));
        assert!(!p("Running", "Never", ""));
        // No restartPolicy is Kubernetes' default, Always.
        assert!(!p("Succeeded", "", ""));
    }

    #[test]
    fn not_alive_reasons_read_as_the_agent_reports_them() {
        let cases = [
            (
                NotAlive::Terminating { since: "t".into() },
                "metadata.deletionTimestamp is set (t): the pod is terminating",
            ),
            (
                NotAlive::Succeeded { restart_policy: "Never".into() },
                "status.phase is Succeeded and spec.restartPolicy is Never",
            ),
            (
                NotAlive::FailedNeverRestarted,
                "status.phase is Failed and spec.restartPolicy is Never",
            ),
            (NotAlive::Evicted, "status.phase is Failed with reason Evicted"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn jobs_resolve_to_their_cronjob_and_unknown_middles_stay() {
        let store = MemoryStore::new();
        let owned = |kind: &str, name: &str| json!({"metadata": {"ownerReferences": [{"kind": kind, "name": name, "uid": "x"}]}});
        put(&store, "Pod", "ns", "nightly-1", owned("Job", "nightly-28"));
        put(&store, "Job", "ns", "nightly-28", owned("CronJob", "nightly"));
        put(&store, "Pod", "ns", "orphan-rs", owned("ReplicaSet", "gone"));
        put(&store, "Pod", "ns", "rs-of-other", owned("ReplicaSet", "rs1"));
        put(&store, "ReplicaSet", "ns", "rs1", owned("Something", "else"));

        let owner = |pod: &str| {
            let ctx = block(gather_pod(&store, "ns", pod, "u", "n1")).unwrap();
            ctx.pod.owner.map(|o| (o.kind, o.name, o.uid))
        };
        assert_eq!(
            owner("nightly-1"),
            Some(("CronJob".into(), "nightly".into(), Some("x".into())))
        );
        assert_eq!(
            owner("orphan-rs"),
            Some(("ReplicaSet".into(), "gone".into(), Some("x".into())))
        );
        assert_eq!(owner("rs-of-other").unwrap().0, "ReplicaSet");
    }

    #[test]
    fn a_launcher_pods_owner_carries_whether_its_vmi_and_vm_live() {
        let store = MemoryStore::new();
        let vmi_ref =
            json!([{"kind":"VirtualMachineInstance","name":"vm1","uid":"i1","controller":true}]);
        put(
            &store,
            "Pod",
            "vms",
            "virt-launcher-vm1-a",
            json!({"metadata":{"name":"virt-launcher-vm1-a","uid":"p1","ownerReferences":vmi_ref}}),
        );
        put(
            &store,
            "VirtualMachineInstance",
            "vms",
            "vm1",
            json!({"metadata":{"name":"vm1","ownerReferences":[{"kind":"VirtualMachine","name":"vm1","controller":true}]}}),
        );
        put(&store, "VirtualMachine", "vms", "vm1", json!({"metadata":{"name":"vm1"}}));
        let facts = || {
            let ctx = block(gather_pod(&store, "vms", "virt-launcher-vm1-a", "", "n1")).unwrap();
            let owner = ctx.pod.owner.clone().unwrap();
            assert_eq!(
                (owner.kind.as_str(), ctx.pod.endpoint_name()),
                ("VirtualMachineInstance", "vm1")
            );
            owner.kubevirt.unwrap()
        };
        assert_eq!(facts(), KubevirtFacts { vmi_live: true, vm_live: true });
        // VMI being deleted, VM stays (a restart or a stop): the VM keeps it.
        put(
            &store,
            "VirtualMachineInstance",
            "vms",
            "vm1",
            json!({"metadata":{"name":"vm1","deletionTimestamp":"2026-01-01T00:00:00Z",
                "ownerReferences":[{"kind":"VirtualMachine","name":"vm1","controller":true}]}}),
        );
        assert_eq!(facts(), KubevirtFacts { vmi_live: false, vm_live: true });
        // VMI gone: the VM of the same name is looked up; then that goes too.
        block(store.delete_object(&ObjectKey::new("VirtualMachineInstance", "vms", "vm1")))
            .unwrap();
        assert!(facts().vm_live);
        block(store.delete_object(&ObjectKey::new("VirtualMachine", "vms", "vm1"))).unwrap();
        assert_eq!(facts(), KubevirtFacts { vmi_live: false, vm_live: false });
        // A standalone VMI (no VM): lives as long as it does.
        put(&store, "VirtualMachineInstance", "vms", "vm1", json!({"metadata":{"name":"vm1"}}));
        assert_eq!(facts(), KubevirtFacts { vmi_live: true, vm_live: false });
    }

    #[test]
    fn the_owner_recorded_in_an_endpoint_is_read_again() {
        use crate::model::{SpiderEndpoint, WorkloadEndpointStatus};
        let store = MemoryStore::new();
        put(&store, "StatefulSet", "ns", "db", json!({"spec": {"replicas": 2}}));
        let ep = |kind: &str, name: &str| {
            let status = WorkloadEndpointStatus {
                owner_controller_type: kind.into(),
                owner_controller_name: name.into(),
                ..Default::default()
            };
            SpiderEndpoint::new("ns", "db-1", status)
        };
        let owner = block(owner_recorded_in(&store, &ep("StatefulSet", "db"))).unwrap().unwrap();
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("StatefulSet", "db"));
        assert_eq!(owner.statefulset.map(|s| s.replicas), Some(2));
        let gone = block(owner_recorded_in(&store, &ep("StatefulSet", "gone"))).unwrap().unwrap();
        assert_eq!(gone.statefulset, None, "a set that is gone keeps nothing");
        let deploy = block(owner_recorded_in(&store, &ep("Deployment", "web"))).unwrap().unwrap();
        assert_eq!((deploy.kind.as_str(), deploy.statefulset), ("Deployment", None));
        assert_eq!(block(owner_recorded_in(&store, &ep("Pod", "db-1"))).unwrap(), None);
        assert_eq!(block(owner_recorded_in(&store, &ep("", ""))).unwrap(), None);
    }

    #[test]
    fn statefulset_facts_default_and_clamp() {
        let set = |v: Value| statefulset_facts(&serde_json::from_value(v).unwrap());
        assert_eq!(set(json!({})), StatefulSetFacts { replicas: 1, ordinal_start: None });
        assert_eq!(
            set(json!({"spec": {"replicas": 5_000_000_000_i64, "ordinals": {"start": 2}}})),
            StatefulSetFacts { replicas: i32::MAX, ordinal_start: Some(2) }
        );
        assert_eq!(
            set(json!({"spec": {"replicas": 0, "ordinals": {"start": 5_000_000_000_i64}}})),
            StatefulSetFacts { replicas: 0, ordinal_start: None }
        );
    }

    /// A source that is not a store, as a Kubernetes backend is: views in
    /// maps, and a count of the calls.
    #[derive(Default)]
    struct Cache {
        pods: BTreeMap<(String, String), PodView>,
        namespaces: BTreeMap<String, NamespaceView>,
        nodes: BTreeMap<String, NodeView>,
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl PodSource for Cache {
        async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
            self.calls.lock().unwrap().push(format!("pod {namespace}/{name}"));
            Ok(self.pods.get(&(namespace.to_string(), name.to_string())).cloned())
        }

        async fn namespace(&self, name: &str) -> Result<Option<NamespaceView>, StoreError> {
            self.calls.lock().unwrap().push(format!("namespace {name}"));
            Ok(self.namespaces.get(name).cloned())
        }

        async fn node(&self, name: &str) -> Result<Option<NodeView>, StoreError> {
            self.calls.lock().unwrap().push(format!("node {name}"));
            Ok(self.nodes.get(name).cloned())
        }

        async fn controller(
            &self,
            kind: ControllerKind,
            namespace: &str,
            name: &str,
        ) -> Result<Option<ControllerView>, StoreError> {
            self.calls.lock().unwrap().push(format!("{kind} {namespace}/{name}"));
            Err(StoreError::Backend("controllers are not cached".into()))
        }
    }

    #[test]
    fn any_pod_source_serves_the_rules_and_its_failures_surface() {
        let mut cache = Cache::default();
        let mut pod: PodView = serde_json::from_value(json!({
            "metadata": {"uid": "u1", "annotations": {"ipam.spidernet.io/ippool": "{}"}},
            "status": {"phase": "Succeeded"}, "spec": {"restartPolicy": "Never"}
        }))
        .unwrap();
        cache.pods.insert(("ns".into(), "p".into()), pod.clone());
        let mut ns = NamespaceView::default();
        ns.metadata.labels.insert("team".into(), "a".into());
        cache.namespaces.insert("ns".into(), ns);
        let ctx = block(gather_pod(&cache, "ns", "p", "", "n1")).unwrap();
        assert_eq!(ctx.pod.uid, "u1");
        assert_eq!(ctx.stored_uid.as_deref(), Some("u1"));
        assert_eq!(ctx.namespace.labels["team"], "a");
        assert_eq!(ctx.node.name, "n1");
        assert!(ctx.pod.annotation("ipam.spidernet.io/ippool").is_some());
        assert_eq!(ctx.not_alive, Some(NotAlive::Succeeded { restart_policy: "Never".into() }));
        assert_eq!(*cache.calls.lock().unwrap(), ["pod ns/p", "namespace ns", "node n1"]);

        pod.metadata.owner_references =
            serde_json::from_value(json!([{"kind": "StatefulSet", "name": "db"}])).unwrap();
        cache.pods.insert(("ns".into(), "p".into()), pod);
        let e = block(gather_pod(&cache, "ns", "p", "", "n1")).unwrap_err();
        assert_eq!(e, StoreError::Backend("controllers are not cached".into()));
    }
}
