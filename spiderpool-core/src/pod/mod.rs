//! Facts about a pod, its namespace and its node that allocation and release
//! decisions need, where they come from, and the rules that read them.
//!
//! - [`PodSource`] ([`source`]): the trait an agent backend implements to
//!   fetch a pod, a namespace, a node or a controller, as the typed views of
//!   [`view`]; every [`crate::store::AdminStore`] is one ([`stored`]).
//! - [`gather_pod`] ([`context`]): one pod's [`PodContext`] over any source:
//!   owner resolution (ReplicaSet → Deployment, Job → CronJob, StatefulSet
//!   replicas and ordinals) and liveness ([`not_alive`]).
//! - [`statefulset_keeps_addresses`]: the pure StatefulSet membership rule;
//!   [`kubevirt_keeps_addresses`] the KubeVirt one, and
//!   [`PodFacts::endpoint_name`] the name a KubeVirt VM's addresses go by.
//!
//! What a release keeps is decided in [`crate::allocator::release_decision`].

use std::collections::BTreeMap;

pub mod context;
pub mod source;
pub mod stored;
pub mod view;

pub use context::{
    NotAlive, PodContext, gather_pod, kubevirt_facts, not_alive, owner_recorded_in,
    statefulset_facts, top_controller,
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
        // Sized once: `format!` guesses the capacity and grows it here.
        let mut out = String::with_capacity(self.namespace.len() + 1 + self.name.len());
        out.push_str(&self.namespace);
        out.push('/');
        out.push_str(&self.name);
        out
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

    /// True when the pod is a KubeVirt virt-launcher pod: its controller is a
    /// `VirtualMachineInstance`.
    pub fn is_kubevirt_pod(&self) -> bool {
        self.owner.as_ref().is_some_and(OwnerFacts::is_kubevirt)
    }

    /// The name of the pod's SpiderEndpoint, which is also the name its pool
    /// records carry (`namespace/<name>`): the VirtualMachineInstance's for a
    /// virt-launcher pod, so that the VM's addresses survive its launcher
    /// pods (reference §4.1 step 3, §4.10); the pod's own otherwise.
    pub fn endpoint_name(&self) -> &str {
        match &self.owner {
            Some(o) if o.is_kubevirt() => o.name.as_str(),
            _ => self.name.as_str(),
        }
    }

    /// `namespace/<endpoint name>`: the key of the pod's pool records
    /// ([`PodFacts::namespaced_name`] unless the pod is a KubeVirt one).
    pub fn record_key(&self) -> String {
        let name = self.endpoint_name();
        let mut out = String::with_capacity(self.namespace.len() + 1 + name.len());
        out.push_str(&self.namespace);
        out.push('/');
        out.push_str(name);
        out
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
    /// For KubeVirt `VirtualMachineInstance` owners: whether the VMI and its
    /// VM are still wanted (`None` when not read).
    pub kubevirt: Option<KubevirtFacts>,
}

impl OwnerFacts {
    /// True for a KubeVirt `VirtualMachineInstance` owner.
    pub fn is_kubevirt(&self) -> bool {
        self.kind == KUBEVIRT_VMI_KIND
    }
}

/// The kind of a virt-launcher pod's owner.
pub const KUBEVIRT_VMI_KIND: &str = "VirtualMachineInstance";

/// What decides whether a KubeVirt VM keeps its addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KubevirtFacts {
    /// The VirtualMachineInstance exists and is not being deleted.
    pub vmi_live: bool,
    /// The VirtualMachine that owns the VMI (its controller reference, else
    /// the VM of the VMI's name) exists and is not being deleted (a stopped
    /// VM keeps its VMI's addresses for its next start).
    pub vm_live: bool,
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

/// Whether a KubeVirt VM keeps its addresses (Spiderpool, reference §4.7
/// step 4, §4.10): while its VirtualMachineInstance exists and is not being
/// deleted, or its VirtualMachine does. Unknown (`None`) keeps nothing.
pub fn kubevirt_keeps_addresses(facts: Option<&KubevirtFacts>) -> bool {
    facts.is_some_and(|f| f.vmi_live || f.vm_live)
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

    #[test]
    fn kubevirt_pods_go_by_their_vmi_while_it_or_its_vm_lives() {
        let vmi = |vmi_live, vm_live| KubevirtFacts { vmi_live, vm_live };
        assert!(kubevirt_keeps_addresses(Some(&vmi(true, false))), "running VMI");
        assert!(kubevirt_keeps_addresses(Some(&vmi(false, true))), "stopped VM");
        assert!(!kubevirt_keeps_addresses(Some(&vmi(false, false))), "both gone");
        assert!(!kubevirt_keeps_addresses(None), "unknown");

        let mut pod = PodFacts {
            namespace: "ns".into(),
            name: "virt-launcher-vm1-x7k2p".into(),
            ..PodFacts::default()
        };
        assert_eq!(
            (pod.endpoint_name(), pod.record_key().as_str()),
            (pod.name.as_str(), "ns/virt-launcher-vm1-x7k2p")
        );
        pod.owner = Some(OwnerFacts {
            kind: KUBEVIRT_VMI_KIND.into(),
            name: "vm1".into(),
            ..OwnerFacts::default()
        });
        assert!(pod.is_kubevirt_pod());
        assert_eq!(pod.endpoint_name(), "vm1");
        assert_eq!(pod.record_key(), "ns/vm1");
        assert_eq!(pod.namespaced_name(), "ns/virt-launcher-vm1-x7k2p");
    }
}
