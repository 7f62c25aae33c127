//! [`EndpointStore`] for [`EmbeddedStore`]: SpiderEndpoints by namespace and
//! name, compare-and-swap on their version.

use spiderpool_core::model::SpiderEndpoint;
use spiderpool_core::store::{EndpointStore, StoreError, Version, Versioned};

use super::embedded::{ENDPOINTS, EmbeddedStore, Shared, encode};

const ENDPOINT: &str = "SpiderEndpoint";

fn endpoint_key(ep: &SpiderEndpoint) -> (String, String) {
    (
        ep.metadata.namespace.clone().unwrap_or_default(),
        ep.metadata.name.clone().unwrap_or_default(),
    )
}

impl Shared {
    /// Writes an endpoint if the stored version is `expected` (`None`: must
    /// not exist); returns the new version.
    pub(super) fn put_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let key = endpoint_key(endpoint);
        let full = format!("{}/{}", key.0, key.1);
        let _writer = self.writer();
        let next = {
            let cache = self.read_cache();
            let actual = cache.endpoints.get(&key).map(|e| e.version);
            match (expected, actual) {
                (None, Some(_)) => {
                    return Err(StoreError::AlreadyExists { kind: ENDPOINT, name: full });
                }
                (Some(expected), actual) if actual != Some(expected) => {
                    return Err(StoreError::Conflict {
                        kind: ENDPOINT,
                        name: full,
                        expected,
                        actual,
                    });
                }
                _ => cache.version + 1,
            }
        };
        let bytes = encode(ENDPOINT, &full, endpoint)?;
        self.transact("write endpoint", next, |txn| {
            txn.open_table(ENDPOINTS)?
                .insert((key.0.as_str(), key.1.as_str()), (next, bytes.as_slice()))?;
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        cache.endpoints.insert(key, Versioned { version: next, value: endpoint.clone() });
        Ok(next)
    }

    /// [`EndpointStore::delete_endpoint`], blocking on the commit.
    pub(super) fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        let key = (namespace.to_string(), name.to_string());
        let _writer = self.writer();
        let next = {
            let cache = self.read_cache();
            let actual = cache.endpoints.get(&key).map(|e| e.version);
            if actual != Some(expected) {
                return Err(StoreError::Conflict {
                    kind: ENDPOINT,
                    name: format!("{namespace}/{name}"),
                    expected,
                    actual,
                });
            }
            cache.version + 1
        };
        self.transact("delete endpoint", next, |txn| {
            txn.open_table(ENDPOINTS)?.remove((namespace, name))?;
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        cache.endpoints.remove(&key);
        Ok(())
    }
}

impl EndpointStore for EmbeddedStore {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        Ok(self
            .shared
            .read_cache()
            .endpoints
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        let endpoint = endpoint.clone();
        self.blocking(move |s| s.put_endpoint(&endpoint, None)).await
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        let endpoint = endpoint.clone();
        self.blocking(move |s| s.put_endpoint(&endpoint, Some(expected))).await
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        let (namespace, name) = (namespace.to_string(), name.to_string());
        self.blocking(move |s| s.delete_endpoint(&namespace, &name, expected)).await
    }
}
