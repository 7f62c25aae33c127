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

/// The controllers the pod rules read: while resolving a pod's top
/// controller ([`ControllerKind::ALL`]; the KubeVirt kinds exist only where
/// KubeVirt is installed, and a source without them answers `Ok(None)`),
/// and, for a pod that asks for a SpiderSubnet auto-pool, the top controller
/// itself for its replicas ([`ControllerKind::WORKLOADS`], read with
/// [`PodSource::workload`]).
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
    /// `apps/v1` Deployment: read for `spec.replicas` (auto-pool size only).
    Deployment,
    /// `apps/v1` DaemonSet: read for `status.desiredNumberScheduled`
    /// (auto-pool size only).
    DaemonSet,
    /// `batch/v1` CronJob: read for `spec.jobTemplate.spec` (auto-pool size
    /// only).
    CronJob,
}

impl ControllerKind {
    /// The kinds owner resolution and the fixed-address rules read.
    pub const ALL: [ControllerKind; 5] = [
        ControllerKind::ReplicaSet,
        ControllerKind::Job,
        ControllerKind::StatefulSet,
        ControllerKind::VirtualMachineInstance,
        ControllerKind::VirtualMachine,
    ];

    /// The top controllers whose replicas size an auto-pool (the
    /// Kubernetes controllers of [`crate::autopool::NATIVE_CONTROLLERS`]).
    pub const WORKLOADS: [ControllerKind; 6] = [
        ControllerKind::Deployment,
        ControllerKind::ReplicaSet,
        ControllerKind::StatefulSet,
        ControllerKind::DaemonSet,
        ControllerKind::Job,
        ControllerKind::CronJob,
    ];

    /// The Kubernetes `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerKind::ReplicaSet => "ReplicaSet",
            ControllerKind::Job => "Job",
            ControllerKind::StatefulSet => "StatefulSet",
            ControllerKind::VirtualMachineInstance => "VirtualMachineInstance",
            ControllerKind::VirtualMachine => "VirtualMachine",
            ControllerKind::Deployment => "Deployment",
            ControllerKind::DaemonSet => "DaemonSet",
            ControllerKind::CronJob => "CronJob",
        }
    }

    /// The kind named `kind`, when owner resolution reads it
    /// ([`ControllerKind::ALL`]).
    pub fn from_kind(kind: &str) -> Option<ControllerKind> {
        ControllerKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The kind named `kind` among [`ControllerKind::WORKLOADS`].
    pub fn from_workload_kind(kind: &str) -> Option<ControllerKind> {
        ControllerKind::WORKLOADS.into_iter().find(|k| k.as_str() == kind)
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

    /// The whole controller `namespace/name` of `kind` (spec and status), as
    /// it is now: the auto-pool size reads its replicas
    /// (`spec.replicas`, `status.desiredNumberScheduled`, a Job's
    /// `parallelism`/`completions`, a CronJob's `spec.jobTemplate.spec`).
    /// The default is [`PodSource::controller`], right for sources that
    /// keep whole objects; a source whose caches hold metadata only reads
    /// the object itself.
    fn workload(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ControllerView>, StoreError>> + Send {
        self.controller(kind, namespace, name)
    }
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
        for k in ControllerKind::WORKLOADS {
            assert_eq!(ControllerKind::from_workload_kind(k.as_str()), Some(k));
        }
        assert_eq!(ControllerKind::from_workload_kind("Pod"), None);
    }
}
