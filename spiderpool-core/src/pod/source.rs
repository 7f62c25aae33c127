//! [`PodSource`]: where the agent's backend finds the Kubernetes objects the
//! pod rules read.
//!
//! The embedded and memory stores answer from the administrative objects
//! they keep (`spiderpoolctl apply -f pod.yaml`; see [`super::stored`]); a
//! Kubernetes backend answers from its watch caches, asking the API server
//! for a pod its cache has not seen yet. Every method is async and may fail
//! with a [`StoreError`]; an object that does not exist is `Ok(None)`.

use std::fmt;
use std::future::Future;

use super::view::{ControllerView, NamespaceView, NodeView, PodView};
use crate::store::StoreError;

/// The controllers the pod rules read while resolving a pod's top
/// controller. The others on an owner chain (Deployment, CronJob,
/// DaemonSet) are only named by the owner reference below them, never read.
/// The KubeVirt kinds exist only where KubeVirt is installed; a source
/// without them answers `Ok(None)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ControllerKind {
    /// `apps/v1` ReplicaSet: read for the Deployment that owns it.
    ReplicaSet,
    /// `batch/v1` Job: read for the CronJob that owns it.
    Job,
    /// `apps/v1` StatefulSet: read for `spec.replicas` and
    /// `spec.ordinals.start`.
    StatefulSet,
    /// `kubevirt.io/v1` VirtualMachineInstance: the owner of a
    /// virt-launcher pod, read for whether it still exists and is not being
    /// deleted, and for the VirtualMachine that owns it.
    VirtualMachineInstance,
    /// `kubevirt.io/v1` VirtualMachine: read for whether it still exists and
    /// is not being deleted (a stopped VM keeps its addresses).
    VirtualMachine,
}

impl ControllerKind {
    /// Every kind, for a backend that watches them.
    pub const ALL: [ControllerKind; 5] = [
        ControllerKind::ReplicaSet,
        ControllerKind::Job,
        ControllerKind::StatefulSet,
        ControllerKind::VirtualMachineInstance,
        ControllerKind::VirtualMachine,
    ];

    /// The Kubernetes `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerKind::ReplicaSet => "ReplicaSet",
            ControllerKind::Job => "Job",
            ControllerKind::StatefulSet => "StatefulSet",
            ControllerKind::VirtualMachineInstance => "VirtualMachineInstance",
            ControllerKind::VirtualMachine => "VirtualMachine",
        }
    }

    /// The kind named `kind`, when the rules read it.
    pub fn from_kind(kind: &str) -> Option<ControllerKind> {
        ControllerKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl fmt::Display for ControllerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Kubernetes objects the agent reads about a pod, from whatever backs
/// it. Implementations only fetch; [`super::gather_pod`] decides.
pub trait PodSource: Send + Sync {
    /// The pod `namespace/name`.
    fn pod(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<PodView>, StoreError>> + Send;

    /// The pod `namespace/name` as it is now, bypassing any cache: a release
    /// decision reads the pod this way (Spiderpool reads it from the API
    /// server before it releases, reference §4.7), since a cache that lags
    /// could show a deleted pod still alive. The default is
    /// [`PodSource::pod`], for sources without a cache.
    fn fresh_pod(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<PodView>, StoreError>> + Send {
        self.pod(namespace, name)
    }

    /// The namespace `name`.
    fn namespace(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<NamespaceView>, StoreError>> + Send;

    /// The node `name`.
    fn node(&self, name: &str)
    -> impl Future<Output = Result<Option<NodeView>, StoreError>> + Send;

    /// The controller `namespace/name` of `kind`.
    fn controller(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ControllerView>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_kinds_round_trip_their_names() {
        for k in ControllerKind::ALL {
            assert_eq!(ControllerKind::from_kind(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(ControllerKind::from_kind("Deployment"), None);
        assert_eq!(ControllerKind::from_kind("replicaset"), None);
    }
}
