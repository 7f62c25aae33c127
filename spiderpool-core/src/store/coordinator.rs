//! [`CoordinatorSource`]: where the agent's backend finds a
//! SpiderCoordinator (`GET /v1/coordinator/config` reads `default`). Every
//! [`AdminStore`] is one, from the object applied to it; a Kubernetes
//! backend answers from its watch cache.

use std::future::Future;

use super::{AdminStore, ObjectKey, StoreError};
use crate::model::SpiderCoordinator;

/// Reads SpiderCoordinators.
pub trait CoordinatorSource: Send + Sync {
    /// The SpiderCoordinator `name`; `Ok(None)` when there is none. A stored
    /// object that does not decode is [`StoreError::Invalid`].
    fn coordinator(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<SpiderCoordinator>, StoreError>> + Send;
}

impl<A: AdminStore> CoordinatorSource for A {
    async fn coordinator(&self, name: &str) -> Result<Option<SpiderCoordinator>, StoreError> {
        let key = ObjectKey::new(SpiderCoordinator::KIND, "", name);
        let Some(stored) = self.get_object(&key).await? else {
            return Ok(None);
        };
        serde_json::from_value(stored.value).map(Some).map_err(|e| StoreError::Invalid {
            kind: SpiderCoordinator::KIND,
            name: name.to_string(),
            message: format!("stored object: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_store_reads_the_applied_coordinator_and_names_a_broken_one() {
        let store = MemoryStore::new();
        let put = |name: &str, v| {
            let key = ObjectKey::new(SpiderCoordinator::KIND, "", name);
            pollster::block_on(store.put_object(&key, v)).unwrap();
        };
        put("default", json!({"metadata": {"name": "default"}, "spec": {"mode": "auto"}}));
        put("broken", json!({"metadata": {"name": "broken"}, "spec": {"mode": 7}}));
        let got = pollster::block_on(store.coordinator("default")).unwrap().unwrap();
        assert_eq!(got.spec.mode.as_deref(), Some("auto"));
        assert_eq!(pollster::block_on(store.coordinator("none")).unwrap(), None);
        let e = pollster::block_on(store.coordinator("broken")).unwrap_err();
        assert!(e.to_string().starts_with("SpiderCoordinator broken: stored object: "), "{e}");
    }
}
