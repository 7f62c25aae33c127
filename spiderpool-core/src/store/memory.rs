//! The in-memory store: for unit tests, property tests and embedding.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::deletion::{self, Deletion};
use super::{
    AdminError, AdminStore, AllocationChange, EndpointStore, ObjectKey, PoolState, PoolStateError,
    PoolStore, StoreError, Version, Versioned,
};
use crate::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP, SpiderSubnet};

/// A thread-safe store held in memory. Every write bumps one global version
/// counter, the way Kubernetes bumps `resourceVersion`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_version: Version,
    pools: BTreeMap<String, (Version, PoolState)>,
    reserved: BTreeMap<String, Arc<SpiderReservedIP>>,
    endpoints: BTreeMap<(String, String), Versioned<SpiderEndpoint>>,
    objects: BTreeMap<ObjectKey, Versioned<serde_json::Value>>,
}

impl Inner {
    fn bump(&mut self) -> Version {
        self.next_version += 1;
        self.next_version
    }

    /// Removes a pool; then its terminating owner subnet when that was its
    /// last controlled pool.
    fn remove_pool(&mut self, name: &str) {
        let Some((_, state)) = self.pools.remove(name) else { return };
        self.bump();
        if let Some(subnet) = deletion::owner_subnet(&state.pool) {
            self.finalize_subnet(subnet);
        }
    }

    /// Names of the pools `subnet` controls.
    fn controlled_pools(&self, subnet: &str) -> Vec<String> {
        self.pools
            .iter()
            .filter(|(_, (_, s))| deletion::owner_subnet(&s.pool) == Some(subnet))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Removes the subnet when it is terminating and controls no pool.
    fn finalize_subnet(&mut self, subnet: &str) {
        let key = ObjectKey::new(SpiderSubnet::KIND, "", subnet);
        let terminating =
            self.objects.get(&key).is_some_and(|v| deletion::is_terminating_json(&v.value));
        if terminating && self.controlled_pools(subnet).is_empty() {
            self.objects.remove(&key);
            self.bump();
        }
    }

    /// [`AdminStore::delete_pool`].
    fn delete_pool(&mut self, name: &str, at: &str) -> Deletion {
        let Some((_, state)) = self.pools.get(name) else { return Deletion::NotFound };
        let holding = state.allocated_count();
        if holding == 0 {
            self.remove_pool(name);
            return Deletion::Removed;
        }
        if !state.is_terminating() {
            let v = self.bump();
            if let Some((version, state)) = self.pools.get_mut(name) {
                state.mark_terminating(at);
                *version = v;
            }
        }
        Deletion::Terminating { holding }
    }
}

const POOL: &str = "SpiderIPPool";
const ENDPOINT: &str = "SpiderEndpoint";

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change:
        // every mutation is checked before it is applied.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates or replaces a pool. When the object carries
    /// `status.allocatedIPs` those records are taken; otherwise the records of a
    /// pool of the same name are kept. Replacing a terminating pool keeps it
    /// terminating; a terminating pool left without records is removed.
    pub fn put_pool(&self, mut pool: SpiderIPPool) -> Result<Version, PoolStateError> {
        let carries_records = pool.status.as_ref().is_some_and(|s| s.allocated_ips.is_some());
        let name = pool.metadata.name_str().to_string();
        let mut inner = self.lock();
        if let Some((_, old)) = inner.pools.get(&name) {
            deletion::keep_deletion(&mut pool.metadata, &old.pool.metadata);
        }
        let mut state = PoolState::from_pool(pool)?;
        if !carries_records
            && let Some((_, old)) = inner.pools.get(&name)
            && old.family == state.family
        {
            state.records = old.records.clone();
            state.used = old.used.clone();
            state.by_uid = old.by_uid.clone();
            state.refresh_counts();
        }
        if state.is_terminating() && state.allocated_count() == 0 {
            inner.remove_pool(&name);
            return Ok(inner.next_version);
        }
        let v = inner.bump();
        inner.pools.insert(name, (v, state));
        Ok(v)
    }

    /// A pool as Kubernetes would store it (`status.allocatedIPs` rendered).
    pub fn get_pool(&self, name: &str) -> Option<Versioned<SpiderIPPool>> {
        let inner = self.lock();
        inner.pools.get(name).map(|(v, s)| Versioned { version: *v, value: s.to_pool() })
    }

    /// Deletes a pool at `at` (RFC 3339), as [`AdminStore::delete_pool`]
    /// does: removed when it holds no record, else terminating.
    pub fn delete_pool(&self, name: &str, at: &str) -> Deletion {
        self.lock().delete_pool(name, at)
    }

    /// Creates or replaces a SpiderReservedIP.
    pub fn put_reserved_ip(&self, reserved: SpiderReservedIP) {
        let name = reserved.metadata.name_str().to_string();
        let mut inner = self.lock();
        inner.bump();
        inner.reserved.insert(name, Arc::new(reserved));
    }

    /// Deletes a SpiderReservedIP; returns whether it existed.
    pub fn delete_reserved_ip(&self, name: &str) -> bool {
        self.lock().reserved.remove(name).is_some()
    }

    /// Every endpoint.
    pub fn list_endpoints(&self) -> Vec<Versioned<SpiderEndpoint>> {
        self.lock().endpoints.values().cloned().collect()
    }
}

fn endpoint_key(ep: &SpiderEndpoint) -> (String, String) {
    (
        ep.metadata.namespace.clone().unwrap_or_default(),
        ep.metadata.name.clone().unwrap_or_default(),
    )
}

impl AdminStore for MemoryStore {
    async fn apply_pool(&self, pool: SpiderIPPool) -> Result<Version, AdminError> {
        Ok(self.put_pool(pool)?)
    }

    async fn get_pool(&self, name: &str) -> Result<Option<Versioned<SpiderIPPool>>, StoreError> {
        Ok(MemoryStore::get_pool(self, name))
    }

    async fn delete_pool(&self, name: &str, at: &str) -> Result<Deletion, StoreError> {
        Ok(MemoryStore::delete_pool(self, name, at))
    }

    async fn delete_subnet(&self, name: &str, at: &str) -> Result<Deletion, StoreError> {
        let mut inner = self.lock();
        let key = ObjectKey::new(SpiderSubnet::KIND, "", name);
        if !inner.objects.contains_key(&key) {
            return Ok(Deletion::NotFound);
        }
        let pools = inner.controlled_pools(name);
        if pools.is_empty() {
            inner.objects.remove(&key);
            inner.bump();
            return Ok(Deletion::Removed);
        }
        let v = inner.bump();
        if let Some(subnet) = inner.objects.get_mut(&key) {
            deletion::mark_terminating_json(&mut subnet.value, at);
            subnet.version = v;
        }
        for pool in &pools {
            inner.delete_pool(pool, at);
        }
        let holding = inner.controlled_pools(name).len();
        Ok(if inner.objects.contains_key(&key) {
            Deletion::Terminating { holding }
        } else {
            Deletion::Removed
        })
    }

    async fn apply_reserved_ip(&self, reserved: SpiderReservedIP) -> Result<Version, StoreError> {
        self.put_reserved_ip(reserved);
        Ok(self.lock().next_version)
    }

    async fn delete_reserved_ip(&self, name: &str) -> Result<bool, StoreError> {
        Ok(MemoryStore::delete_reserved_ip(self, name))
    }

    async fn list_endpoints(&self) -> Result<Vec<Versioned<SpiderEndpoint>>, StoreError> {
        Ok(MemoryStore::list_endpoints(self))
    }

    async fn put_object(
        &self,
        key: &ObjectKey,
        mut value: serde_json::Value,
    ) -> Result<Version, StoreError> {
        let mut inner = self.lock();
        if let Some(old) = inner.objects.get(key) {
            deletion::keep_pending_deletion_json(&mut value, &old.value);
        }
        let v = inner.bump();
        inner.objects.insert(key.clone(), Versioned { version: v, value });
        Ok(v)
    }

    async fn get_object(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<Versioned<serde_json::Value>>, StoreError> {
        Ok(self.lock().objects.get(key).cloned())
    }

    async fn list_objects(
        &self,
        kind: &str,
    ) -> Result<Vec<(ObjectKey, Versioned<serde_json::Value>)>, StoreError> {
        Ok(self
            .lock()
            .objects
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn delete_object(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let existed = inner.objects.remove(key).is_some();
        if existed {
            inner.bump();
        }
        Ok(existed)
    }
}

impl PoolStore for MemoryStore {
    async fn list_pools(&self) -> Result<Vec<Arc<SpiderIPPool>>, StoreError> {
        Ok(self.lock().pools.values().map(|(_, s)| Arc::clone(&s.pool)).collect())
    }

    async fn read_pool<R: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R + Send,
    ) -> Result<Option<Versioned<R>>, StoreError> {
        let inner = self.lock();
        Ok(inner.pools.get(name).map(|(v, s)| Versioned { version: *v, value: f(s) }))
    }

    async fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<Version, StoreError> {
        let mut inner = self.lock();
        let next = inner.next_version + 1;
        let Some((version, state)) = inner.pools.get_mut(name) else {
            return Err(StoreError::Conflict {
                kind: POOL,
                name: name.to_string(),
                expected,
                actual: None,
            });
        };
        if *version != expected {
            return Err(StoreError::Conflict {
                kind: POOL,
                name: name.to_string(),
                expected,
                actual: Some(*version),
            });
        }
        state.apply(change)?;
        *version = next;
        let finalized = state.is_terminating() && state.allocated_count() == 0;
        inner.next_version = next;
        if finalized {
            inner.remove_pool(name);
        }
        Ok(next)
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        Ok(self.lock().reserved.values().cloned().collect())
    }
}

impl EndpointStore for MemoryStore {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        Ok(self.lock().endpoints.get(&(namespace.to_string(), name.to_string())).cloned())
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        let key = endpoint_key(endpoint);
        let mut inner = self.lock();
        if inner.endpoints.contains_key(&key) {
            return Err(StoreError::AlreadyExists {
                kind: ENDPOINT,
                name: format!("{}/{}", key.0, key.1),
            });
        }
        let v = inner.bump();
        inner.endpoints.insert(key, Versioned { version: v, value: endpoint.clone() });
        Ok(v)
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        let key = endpoint_key(endpoint);
        let mut inner = self.lock();
        let actual = inner.endpoints.get(&key).map(|e| e.version);
        if actual != Some(expected) {
            return Err(StoreError::Conflict {
                kind: ENDPOINT,
                name: format!("{}/{}", key.0, key.1),
                expected,
                actual,
            });
        }
        let v = inner.bump();
        inner.endpoints.insert(key, Versioned { version: v, value: endpoint.clone() });
        Ok(v)
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        let key = (namespace.to_string(), name.to_string());
        let mut inner = self.lock();
        let actual = inner.endpoints.get(&key).map(|e| e.version);
        if actual != Some(expected) {
            return Err(StoreError::Conflict {
                kind: ENDPOINT,
                name: format!("{namespace}/{name}"),
                expected,
                actual,
            });
        }
        inner.endpoints.remove(&key);
        inner.bump();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::contract::{self, StoreFactory};

    struct Memory;

    impl StoreFactory for Memory {
        type Store = MemoryStore;
        fn create(&self, pools: Vec<SpiderIPPool>, reserved: Vec<SpiderReservedIP>) -> MemoryStore {
            let s = MemoryStore::new();
            for p in pools {
                s.put_pool(p).unwrap();
            }
            for r in reserved {
                s.put_reserved_ip(r);
            }
            s
        }
    }

    #[test]
    fn memory_store_keeps_the_store_contract() {
        pollster::block_on(contract::run(&Memory));
        pollster::block_on(contract::run_admin(&Memory));
    }

    #[test]
    fn put_pool_keeps_records_across_spec_updates() {
        let s =
            Memory.create(vec![contract::pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.9"])], vec![]);
        let v = pollster::block_on(s.read_pool("a", |_| ())).unwrap().unwrap().version;
        let record = crate::model::PoolIpAllocation::new("ns/p", "u");
        let change = AllocationChange {
            add: vec![("10.6.0.1".parse().unwrap(), record)],
            ..Default::default()
        };
        pollster::block_on(s.update_allocations("a", v, &change)).unwrap();
        let mut updated = contract::pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.20"]);
        updated.spec.gateway = Some("10.6.0.254".into());
        s.put_pool(updated).unwrap();
        let status = s.get_pool("a").unwrap().value.status.unwrap();
        assert_eq!(status.allocated_ip_count, Some(1));
        assert_eq!(status.total_ip_count, Some(20));
        assert!(status.allocated_ips.unwrap().contains("10.6.0.1"));
    }

    #[test]
    fn put_pool_rejects_a_pool_that_does_not_parse() {
        let s = MemoryStore::new();
        let err =
            s.put_pool(contract::pool("bad", "10.6.0.0/16", &["10.6.0.9-10.6.0.1"])).unwrap_err();
        assert!(err.to_string().contains("spec.ips[0]"), "{err}");
    }
}
