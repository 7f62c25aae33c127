//! Deletion with the `spiderpool.spidernet.io` finalizer for [`EmbeddedStore`]
//! (the rules are `spiderpool_core::store::deletion`'s): pools that hold
//! records and subnets that control pools become terminating; a pool goes in
//! the commit that releases its last record, its terminating subnet in the
//! commit that removes its last pool.

use spiderpool_core::model::{SpiderIPPool, SpiderSubnet};
use spiderpool_core::store::deletion::{self, Deletion};
use spiderpool_core::store::{ObjectKey, StoreError, Version, Versioned};

use super::embedded::{
    Cache, EmbeddedStore, OBJECTS, POOL, POOL_RECORDS, POOL_VERSIONS, POOLS, Shared, encode,
};

/// What one commit removes and marks terminating, written in the transaction
/// ([`Removal::write`]) and then mirrored in the cache ([`Removal::apply`]).
#[derive(Debug, Default)]
pub(super) struct Removal {
    /// Pools removed, with the record keys still to delete.
    pools: Vec<(String, Vec<u128>)>,
    /// Pools marked terminating: the object to store.
    marked: Vec<(String, SpiderIPPool, Vec<u8>)>,
    /// The subnet removed.
    subnet: Option<String>,
    /// The subnet marked terminating: the object to store.
    marked_subnet: Option<(String, serde_json::Value, Vec<u8>)>,
}

fn subnet_key(name: &str) -> ObjectKey {
    ObjectKey::new(SpiderSubnet::KIND, "", name)
}

impl Removal {
    /// Removes `pool` (its remaining records `ips`), and its terminating
    /// subnet when no other pool of the subnet is left in `cache`.
    pub(super) fn pool(cache: &Cache, name: &str, ips: Vec<u128>) -> Self {
        let mut r = Removal { pools: vec![(name.to_string(), ips)], ..Default::default() };
        r.subnet = cache
            .pools
            .get(name)
            .and_then(|(_, s)| deletion::owner_subnet(&s.pool))
            .filter(|subnet| r.subnet_is_done(cache, subnet))
            .map(str::to_string);
        r
    }

    /// True when `subnet` is terminating and no pool it controls stays.
    fn subnet_is_done(&self, cache: &Cache, subnet: &str) -> bool {
        let terminating = cache
            .objects
            .get(&subnet_key(subnet))
            .is_some_and(|v| deletion::is_terminating_json(&v.value));
        terminating
            && !cache.pools.iter().any(|(n, (_, s))| {
                deletion::owner_subnet(&s.pool) == Some(subnet)
                    && !self.pools.iter().any(|(p, _)| p == n)
            })
    }

    /// Writes the removal at version `next`.
    pub(super) fn write(
        &self,
        txn: &redb::WriteTransaction,
        next: Version,
    ) -> Result<(), redb::Error> {
        let mut records = txn.open_table(POOL_RECORDS)?;
        let mut pools = txn.open_table(POOLS)?;
        let mut versions = txn.open_table(POOL_VERSIONS)?;
        for (name, ips) in &self.pools {
            for ip in ips {
                records.remove((name.as_str(), *ip))?;
            }
            pools.remove(name.as_str())?;
            versions.remove(name.as_str())?;
        }
        for (name, _, bytes) in &self.marked {
            pools.insert(name.as_str(), bytes.as_slice())?;
            versions.insert(name.as_str(), next)?;
        }
        let mut objects = txn.open_table(OBJECTS)?;
        if let Some(name) = &self.subnet {
            objects.remove((SpiderSubnet::KIND, "", name.as_str()))?;
        }
        if let Some((name, _, bytes)) = &self.marked_subnet {
            objects.insert((SpiderSubnet::KIND, "", name.as_str()), (next, bytes.as_slice()))?;
        }
        Ok(())
    }

    /// Mirrors a committed removal in the cache.
    pub(super) fn apply(self, cache: &mut Cache, next: Version) {
        for (name, _) in &self.pools {
            cache.pools.remove(name);
        }
        for (name, object, _) in self.marked {
            if let Some((version, state)) = cache.pools.get_mut(&name) {
                if let Some(at) = object.metadata.deletion_timestamp.as_deref() {
                    state.mark_terminating(at);
                }
                *version = next;
            }
        }
        if let Some(name) = &self.subnet {
            cache.objects.remove(&subnet_key(name));
        }
        if let Some((name, value, _)) = self.marked_subnet {
            cache.objects.insert(subnet_key(&name), Versioned { version: next, value });
        }
    }

    /// Marks the pool `name` of `cache` terminating at `at`.
    fn mark_pool(&mut self, cache: &Cache, name: &str, at: &str) -> Result<(), StoreError> {
        let Some((_, state)) = cache.pools.get(name) else { return Ok(()) };
        let mut object = (*state.pool).clone();
        deletion::mark_terminating(&mut object.metadata, at);
        let bytes = encode(POOL, name, &object)?;
        self.marked.push((name.to_string(), object, bytes));
        Ok(())
    }
}

impl Shared {
    /// Commits `removal` at the next version and mirrors it in the cache;
    /// the caller holds the writer lock.
    fn commit_removal(&self, op: &str, removal: Removal) -> Result<(), StoreError> {
        let next = self.read_cache().version + 1;
        self.transact(op, next, |txn| removal.write(txn, next))?;
        let mut cache = self.write_cache();
        cache.version = next;
        removal.apply(&mut cache, next);
        Ok(())
    }

    /// [`spiderpool_core::store::AdminStore::delete_pool`], blocking on the commit.
    pub(super) fn delete_pool(&self, name: &str, at: &str) -> Result<Deletion, StoreError> {
        let _writer = self.writer();
        let (removal, outcome) = {
            let cache = self.read_cache();
            let Some((_, state)) = cache.pools.get(name) else { return Ok(Deletion::NotFound) };
            let holding = state.allocated_count();
            if holding == 0 {
                (Removal::pool(&cache, name, Vec::new()), Deletion::Removed)
            } else if state.is_terminating() {
                return Ok(Deletion::Terminating { holding });
            } else {
                let mut r = Removal::default();
                r.mark_pool(&cache, name, at)?;
                (r, Deletion::Terminating { holding })
            }
        };
        self.commit_removal("delete pool", removal)?;
        Ok(outcome)
    }

    /// [`spiderpool_core::store::AdminStore::delete_subnet`], blocking on the commit.
    pub(super) fn delete_subnet(&self, name: &str, at: &str) -> Result<Deletion, StoreError> {
        let _writer = self.writer();
        let (removal, outcome) = {
            let cache = self.read_cache();
            let Some(stored) = cache.objects.get(&subnet_key(name)) else {
                return Ok(Deletion::NotFound);
            };
            let mut r = Removal::default();
            let mut holding = 0;
            for (pool, (_, state)) in &cache.pools {
                if deletion::owner_subnet(&state.pool) != Some(name) {
                    continue;
                }
                if state.allocated_count() == 0 {
                    r.pools.push((pool.clone(), Vec::new()));
                } else {
                    holding += 1;
                    if !state.is_terminating() {
                        r.mark_pool(&cache, pool, at)?;
                    }
                }
            }
            if holding == 0 {
                r.subnet = Some(name.to_string());
                (r, Deletion::Removed)
            } else {
                let mut value = stored.value.clone();
                deletion::mark_terminating_json(&mut value, at);
                let bytes = encode("SpiderSubnet", name, &value)?;
                r.marked_subnet = Some((name.to_string(), value, bytes));
                (r, Deletion::Terminating { holding })
            }
        };
        self.commit_removal("delete subnet", removal)?;
        Ok(outcome)
    }
}

impl EmbeddedStore {
    /// [`spiderpool_core::store::AdminStore::delete_pool`].
    pub(super) async fn delete_pool_at(
        &self,
        name: &str,
        at: &str,
    ) -> Result<Deletion, StoreError> {
        let (name, at) = (name.to_string(), at.to_string());
        self.blocking(move |s| s.delete_pool(&name, &at)).await
    }

    /// [`spiderpool_core::store::AdminStore::delete_subnet`].
    pub(super) async fn delete_subnet_at(
        &self,
        name: &str,
        at: &str,
    ) -> Result<Deletion, StoreError> {
        let (name, at) = (name.to_string(), at.to_string());
        self.blocking(move |s| s.delete_subnet(&name, &at)).await
    }
}
