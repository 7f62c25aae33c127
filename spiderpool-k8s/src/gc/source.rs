//! What the collector reads about pods: a watch cache of every pod (the
//! first observation, and the trace of pod events that wakes a scan), and
//! [`ApiSource`], the core's `PodSource` straight from the API server (the
//! re-read before a release, controllers, nodes).

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use spiderpool_core::pod::{
    ControllerKind, ControllerView, NamespaceView, NodeView, PodSource, PodView,
};
use spiderpool_core::store::StoreError;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

/// One pod as the decisions read it.
#[derive(Debug, Clone, Default)]
pub(super) struct PodSnapshot {
    /// The core's view of it.
    pub view: PodView,
    /// `metadata.deletionTimestamp`, Unix seconds.
    pub deletion_deadline: Option<i64>,
}

impl PodSnapshot {
    pub(super) fn of(pod: &Pod) -> Self {
        Self {
            view: view(pod),
            deletion_deadline: pod.metadata.deletion_timestamp.as_ref().map(|t| t.0.as_second()),
        }
    }

    /// What must not change between the cached observation and the re-read:
    /// UID, phase, node, and whether it is terminating.
    pub(super) fn identity(&self) -> (Option<&str>, Option<&str>, Option<&str>, bool) {
        let v = &self.view;
        (
            v.metadata.uid.as_deref(),
            v.status.phase.as_deref(),
            v.spec.node_name.as_deref(),
            v.metadata.deletion_timestamp.is_some(),
        )
    }
}

/// The JSON of a Kubernetes object as one of the core's lenient views.
pub(super) fn view<T: Serialize, V: DeserializeOwned + Default>(object: &T) -> V {
    serde_json::to_value(object)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// A watch cache of every pod; pod events that may free addresses (deleted,
/// terminating, finished) wake `trace`.
pub(super) struct PodCache {
    reader: reflector::Store<Pod>,
    listed: watch::Receiver<bool>,
    task: AbortHandle,
}

impl PodCache {
    pub(super) fn spawn(client: Client, trace: Arc<Notify>) -> Self {
        let (reader, writer) = reflector::store();
        let (tx, listed) = watch::channel(false);
        let api: Api<Pod> = Api::all(client);
        let task = tokio::spawn(async move {
            let stream = watcher::watcher(api, watcher::Config::default());
            let mut events = pin!(stream.default_backoff().reflect(writer));
            while let Some(event) = events.next().await {
                match event {
                    Ok(Event::InitDone) => {
                        tx.send_replace(true);
                        trace.notify_one();
                    }
                    Ok(Event::Delete(pod)) => {
                        tracing::debug!(pod = %pod_key(&pod), "gc trace: pod deleted");
                        trace.notify_one();
                    }
                    Ok(Event::Apply(pod)) if may_free(&pod) => {
                        tracing::debug!(pod = %pod_key(&pod), "gc trace: pod terminating or finished");
                        trace.notify_one();
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "gc: pod watch failed; retrying"),
                }
            }
        });
        Self { reader, listed, task: task.abort_handle() }
    }

    /// Waits (at most `limit`) for the first list.
    pub(super) async fn wait(&self, limit: Duration) -> Result<(), StoreError> {
        let mut listed = self.listed.clone();
        match tokio::time::timeout(limit, listed.wait_for(|l| *l)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(StoreError::Backend(format!(
                "gc: pods not listed within {limit:?} (is `list`/`watch` on pods allowed?)"
            ))),
        }
    }

    /// The cached pod `namespace/name`.
    pub(super) fn get(&self, namespace: &str, name: &str) -> Option<PodSnapshot> {
        let key = ObjectRef::new(name).within(namespace);
        self.reader.get(&key).map(|p| PodSnapshot::of(&p))
    }
}

impl Drop for PodCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// A pod event after which addresses may be free: terminating or finished.
fn may_free(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_some() || matches!(phase, Some("Succeeded" | "Failed"))
}

/// The core's `PodSource` read straight from the API server, each read
/// bounded by `timeout`; 404 is `None`.
#[derive(Clone)]
pub(super) struct ApiSource {
    pub client: Client,
    pub timeout: Duration,
}

impl ApiSource {
    async fn get<K>(&self, api: Api<K>, what: &str, name: &str) -> Result<Option<K>, StoreError>
    where
        K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    {
        match tokio::time::timeout(self.timeout, api.get_opt(name)).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(StoreError::Backend(format!("gc: get {what} {name}: {e}"))),
            Err(_) => Err(StoreError::Backend(format!(
                "gc: get {what} {name}: no answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// The pod `namespace/name` from the API server.
    pub(super) async fn pod_snapshot(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PodSnapshot>, StoreError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = self.get(api, &format!("pod {namespace}/"), name).await?;
        Ok(pod.as_ref().map(PodSnapshot::of))
    }

    /// Whether node `name` exists.
    pub(super) async fn node_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.node(name).await?.is_some())
    }
}

impl PodSource for ApiSource {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        Ok(self.pod_snapshot(namespace, name).await?.map(|s| s.view))
    }

    async fn namespace(&self, _name: &str) -> Result<Option<NamespaceView>, StoreError> {
        // The collector's rules read no namespace.
        Ok(None)
    }

    async fn node(&self, name: &str) -> Result<Option<NodeView>, StoreError> {
        let api: Api<Node> = Api::all(self.client.clone());
        match tokio::time::timeout(self.timeout, api.get_metadata_opt(name)).await {
            Ok(Ok(found)) => Ok(found.as_ref().map(view)),
            Ok(Err(e)) => Err(StoreError::Backend(format!("gc: get node {name}: {e}"))),
            Err(_) => Err(StoreError::Backend(format!("gc: get node {name}: timed out"))),
        }
    }

    async fn controller(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ControllerView>, StoreError> {
        let c = self.client.clone();
        let what = format!("{kind} {namespace}/");
        Ok(match kind {
            ControllerKind::ReplicaSet => {
                let api: Api<ReplicaSet> = Api::namespaced(c, namespace);
                self.get(api, &what, name).await?.as_ref().map(view)
            }
            ControllerKind::Job => {
                let api: Api<Job> = Api::namespaced(c, namespace);
                self.get(api, &what, name).await?.as_ref().map(view)
            }
            ControllerKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(c, namespace);
                self.get(api, &what, name).await?.as_ref().map(view)
            }
            ControllerKind::VirtualMachineInstance | ControllerKind::VirtualMachine => {
                let Some(api) = crate::dynamic::kubevirt_api(c, kind, namespace) else {
                    return Ok(None);
                };
                self.get(api, &what, name).await?.as_ref().map(view)
            }
            other => {
                return Err(StoreError::Backend(format!(
                    "gc: {other} {namespace}/{name}: the collector does not read {other}s"
                )));
            }
        })
    }
}
