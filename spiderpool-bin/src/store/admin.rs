//! [`AdminStore`] for [`EmbeddedStore`]: whole-object writes for the agent's
//! administrative API, each one durable transaction.

use std::sync::Arc;

use spiderpool_core::ip::ip_to_u128;
use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::store::deletion::{self, Deletion};
use spiderpool_core::store::{
    AdminError, AdminStore, ObjectKey, PoolState, StoreError, Version, Versioned,
};

use super::deletion::Removal;
use super::embedded::{
    EmbeddedStore, OBJECTS, POOL, POOL_RECORDS, POOL_VERSIONS, POOLS, RESERVED, Shared, encode,
};

const RESERVED_KIND: &str = "SpiderReservedIP";
const OBJECT_KIND: &str = "object";

impl Shared {
    /// [`AdminStore::apply_pool`], blocking on the commit.
    pub(super) fn apply_pool(&self, mut pool: SpiderIPPool) -> Result<Version, AdminError> {
        let carries_records = pool.status.as_ref().is_some_and(|s| s.allocated_ips.is_some());
        let name = pool.metadata.name_str().to_string();
        let _writer = self.writer();
        if let Some((_, old)) = self.read_cache().pools.get(&name) {
            deletion::keep_deletion(&mut pool.metadata, &old.pool.metadata);
        }
        let mut state = PoolState::from_pool(pool)?;
        // Records to delete from and to write to the database.
        let (drop_old, write_new, next) = {
            let cache = self.read_cache();
            let old = cache.pools.get(&name).map(|(_, s)| s);
            let old_ips: Vec<u128> = old
                .map(|s| s.records().map(|(ip, _)| ip_to_u128(ip)).collect())
                .unwrap_or_default();
            match old {
                Some(old) if !carries_records && old.family == state.family => {
                    state.restore(old.records().map(|(ip, r)| (ip, r.clone())).collect())?;
                    (Vec::new(), false, cache.version + 1)
                }
                _ => (old_ips, true, cache.version + 1),
            }
        };
        if state.is_terminating() && state.allocated_count() == 0 {
            // Nothing left to wait for: the pool is finalized.
            let removal = Removal::pool(&self.read_cache(), &name, drop_old);
            self.transact("apply pool", next, |txn| removal.write(txn, next))?;
            let mut cache = self.write_cache();
            cache.version = next;
            removal.apply(&mut cache, next);
            return Ok(next);
        }
        let mut records = Vec::new();
        if write_new {
            for (ip, r) in state.records() {
                records.push((ip_to_u128(ip), encode(POOL, &name, r)?));
            }
        }
        let object = encode(POOL, &name, &*state.pool)?;
        self.transact("apply pool", next, |txn| {
            let mut table = txn.open_table(POOL_RECORDS)?;
            for ip in &drop_old {
                table.remove((name.as_str(), *ip))?;
            }
            for (ip, bytes) in &records {
                table.insert((name.as_str(), *ip), bytes.as_slice())?;
            }
            txn.open_table(POOLS)?.insert(name.as_str(), object.as_slice())?;
            txn.open_table(POOL_VERSIONS)?.insert(name.as_str(), next)?;
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        cache.pools.insert(name, (next, state));
        Ok(next)
    }

    /// [`AdminStore::apply_reserved_ip`], blocking on the commit.
    pub(super) fn apply_reserved_ip(
        &self,
        reserved: SpiderReservedIP,
    ) -> Result<Version, StoreError> {
        let name = reserved.metadata.name_str().to_string();
        let bytes = encode(RESERVED_KIND, &name, &reserved)?;
        let _writer = self.writer();
        let next = self.read_cache().version + 1;
        self.transact("apply reserved IP", next, |txn| {
            txn.open_table(RESERVED)?.insert(name.as_str(), (next, bytes.as_slice()))?;
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        cache.reserved.insert(name, Versioned { version: next, value: Arc::new(reserved) });
        Ok(next)
    }

    /// [`AdminStore::delete_reserved_ip`], blocking on the commit.
    pub(super) fn delete_reserved_ip(&self, name: &str) -> Result<bool, StoreError> {
        let _writer = self.writer();
        let next = {
            let cache = self.read_cache();
            if !cache.reserved.contains_key(name) {
                return Ok(false);
            }
            cache.version + 1
        };
        self.transact("delete reserved IP", next, |txn| {
            txn.open_table(RESERVED)?.remove(name)?;
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        cache.reserved.remove(name);
        Ok(true)
    }

    /// [`AdminStore::put_object`], blocking on the commit.
    pub(super) fn put_object(
        &self,
        key: &ObjectKey,
        mut value: serde_json::Value,
    ) -> Result<Version, StoreError> {
        let full = format!("{}/{}/{}", key.kind, key.namespace, key.name);
        let _writer = self.writer();
        if let Some(old) = self.read_cache().objects.get(key) {
            deletion::keep_pending_deletion_json(&mut value, &old.value);
        }
        let bytes = encode(OBJECT_KIND, &full, &value)?;
        let next = self.read_cache().version + 1;
        self.transact("put object", next, |txn| {
            txn.open_table(OBJECTS)?.insert(
                (key.kind.as_str(), key.namespace.as_str(), key.name.as_str()),
                (next, bytes.as_slice()),
            )?;
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        cache.objects.insert(key.clone(), Versioned { version: next, value });
        Ok(next)
    }

    /// [`AdminStore::delete_object`], blocking on the commit.
    pub(super) fn delete_object(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let _writer = self.writer();
        let next = {
            let cache = self.read_cache();
            if !cache.objects.contains_key(key) {
                return Ok(false);
            }
            cache.version + 1
        };
        self.transact("delete object", next, |txn| {
            txn.open_table(OBJECTS)?.remove((
                key.kind.as_str(),
                key.namespace.as_str(),
                key.name.as_str(),
            ))?;
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        cache.objects.remove(key);
        Ok(true)
    }
}

impl AdminStore for EmbeddedStore {
    async fn get_pool(&self, name: &str) -> Result<Option<Versioned<SpiderIPPool>>, StoreError> {
        let cache = self.shared.read_cache();
        Ok(cache.pools.get(name).map(|(v, s)| Versioned { version: *v, value: s.to_pool() }))
    }

    async fn list_endpoints(&self) -> Result<Vec<Versioned<SpiderEndpoint>>, StoreError> {
        Ok(self.shared.read_cache().endpoints.values().cloned().collect())
    }

    async fn get_object(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<Versioned<serde_json::Value>>, StoreError> {
        Ok(self.shared.read_cache().objects.get(key).cloned())
    }

    async fn list_objects(
        &self,
        kind: &str,
    ) -> Result<Vec<(ObjectKey, Versioned<serde_json::Value>)>, StoreError> {
        Ok(self
            .shared
            .read_cache()
            .objects
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn apply_pool(&self, pool: SpiderIPPool) -> Result<Version, AdminError> {
        self.blocking(move |s| s.apply_pool(pool)).await
    }

    async fn delete_pool(&self, name: &str, at: &str) -> Result<Deletion, StoreError> {
        self.delete_pool_at(name, at).await
    }

    async fn delete_subnet(&self, name: &str, at: &str) -> Result<Deletion, StoreError> {
        self.delete_subnet_at(name, at).await
    }

    async fn apply_reserved_ip(&self, reserved: SpiderReservedIP) -> Result<Version, StoreError> {
        self.blocking(move |s| s.apply_reserved_ip(reserved)).await
    }

    async fn delete_reserved_ip(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.blocking(move |s| s.delete_reserved_ip(&name)).await
    }

    async fn put_object(
        &self,
        key: &ObjectKey,
        value: serde_json::Value,
    ) -> Result<Version, StoreError> {
        let key = key.clone();
        self.blocking(move |s| s.put_object(&key, value)).await
    }

    async fn delete_object(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.blocking(move |s| s.delete_object(&key)).await
    }
}
