//! [`KubeFacts::workload`]: the whole top controller of a pod that asks for
//! a SpiderSubnet auto-pool, read from the API server (the caches hold
//! ReplicaSets and Jobs as metadata only, and no Deployments, DaemonSets or
//! CronJobs: only pods with subnet annotations need them, so a GET per
//! check costs less than three more watches on every node).
//!
//! RBAC: `get` on `deployments`, `replicasets`, `statefulsets`,
//! `daemonsets` (`apps`), `jobs` and `cronjobs` (`batch`). CronJobs are read
//! as `batch/v1`, which Kubernetes serves from 1.21 on.

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::Api;
use serde::de::DeserializeOwned;
use spiderpool_core::pod::{ControllerKind, ControllerView};
use spiderpool_core::store::StoreError;

use super::{CronJob, DaemonSet, Deployment, Job, KubeFacts, ReplicaSet, StatefulSet, view};

impl KubeFacts {
    /// The whole controller `namespace/name` of `kind` from the API server
    /// (see the module doc); `None` when it does not exist.
    pub async fn workload(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ControllerView>, StoreError> {
        match kind {
            ControllerKind::Deployment => self.whole::<Deployment>(namespace, name).await,
            ControllerKind::ReplicaSet => self.whole::<ReplicaSet>(namespace, name).await,
            ControllerKind::StatefulSet => self.whole::<StatefulSet>(namespace, name).await,
            ControllerKind::DaemonSet => self.whole::<DaemonSet>(namespace, name).await,
            ControllerKind::Job => self.whole::<Job>(namespace, name).await,
            ControllerKind::CronJob => self.whole::<CronJob>(namespace, name).await,
            other => Err(StoreError::Backend(format!(
                "{other} {namespace}/{name}: not a controller whose replicas size an auto-pool"
            ))),
        }
    }

    async fn whole<K>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ControllerView>, StoreError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
        K: Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug + Send + Sync + 'static,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let what = || format!("get {} {namespace}/{name}", K::kind(&()));
        Ok(self.read(what, api.get_opt(name)).await?.as_ref().map(view))
    }
}
