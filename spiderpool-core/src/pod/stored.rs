//! [`PodSource`] for every store that keeps administrative objects
//! ([`AdminStore`]: the memory and embedded stores): the `Pod`, `Namespace`,
//! `Node` and controller objects registered there in place of a cluster
//! (`spiderpoolctl apply -f pod.yaml`), read by [`ObjectKey`].
//!
//! A backend without administrative objects (Kubernetes) implements
//! [`PodSource`] itself.

use serde::de::DeserializeOwned;

use super::source::{ControllerKind, PodSource};
use super::view::{ControllerView, NamespaceView, NodeView, PodView};
use crate::store::{AdminStore, ObjectKey, StoreError};

impl<A: AdminStore> PodSource for A {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        stored(self, "Pod", namespace, name).await
    }

    async fn namespace(&self, name: &str) -> Result<Option<NamespaceView>, StoreError> {
        stored(self, "Namespace", "", name).await
    }

    async fn node(&self, name: &str) -> Result<Option<NodeView>, StoreError> {
        stored(self, "Node", "", name).await
    }

    async fn controller(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ControllerView>, StoreError> {
        stored(self, kind.as_str(), namespace, name).await
    }
}

/// The stored object `kind namespace/name` as a view. Views read leniently
/// (see [`super::view`]); a stored value that is not even an object reads as
/// an empty view, as the agent always read it.
async fn stored<A: AdminStore, T: DeserializeOwned + Default>(
    store: &A,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<T>, StoreError> {
    let object = store.get_object(&ObjectKey::new(kind, namespace, name)).await?;
    Ok(object.map(|o| serde_json::from_value(o.value).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::store::MemoryStore;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        pollster::block_on(f)
    }

    #[test]
    fn a_store_serves_the_objects_registered_in_it() {
        let store = MemoryStore::new();
        let put = |kind: &str, ns: &str, name: &str, v: serde_json::Value| {
            block(store.put_object(&ObjectKey::new(kind, ns, name), v)).unwrap();
        };
        put("Pod", "ns", "p", json!({"metadata": {"name": "p", "uid": "u1"}}));
        put("Namespace", "", "ns", json!({"metadata": {"labels": {"team": "a"}}}));
        put("Node", "", "n1", json!({"metadata": {"labels": {"zone": "z"}}}));
        put("StatefulSet", "ns", "db", json!({"spec": {"replicas": 2}}));
        put("Pod", "ns", "broken", json!("not an object"));

        let pod = block(store.pod("ns", "p")).unwrap().unwrap();
        assert_eq!(pod.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(block(store.pod("other", "p")).unwrap(), None);
        assert_eq!(block(store.namespace("ns")).unwrap().unwrap().metadata.labels["team"], "a");
        assert_eq!(block(store.node("n1")).unwrap().unwrap().metadata.labels["zone"], "z");
        let set = block(store.controller(ControllerKind::StatefulSet, "ns", "db")).unwrap();
        assert_eq!(set.unwrap().spec.replicas, Some(2));
        assert_eq!(block(store.controller(ControllerKind::Job, "ns", "db")).unwrap(), None);
        let broken = block(store.pod("ns", "broken")).unwrap();
        assert_eq!(broken, Some(PodView::default()), "registered, with nothing to read");
    }
}
