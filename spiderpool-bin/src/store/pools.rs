//! [`PoolStore`] for [`EmbeddedStore`]: pools read from the cache, allocation
//! changes committed record by record.

use std::sync::Arc;

use spiderpool_core::ip::{IpFamily, ip_to_u128};
use spiderpool_core::model::{SpiderIPPool, SpiderReservedIP};
use spiderpool_core::store::{
    AllocationChange, PoolState, PoolStore, StoreError, TERMINATING_ADD, Version, Versioned,
};

use super::deletion::Removal;
use super::embedded::{EmbeddedStore, POOL, POOL_RECORDS, POOL_VERSIONS, Shared, encode};

/// Checks `change` against `state` the way [`PoolState::apply`] does, without
/// applying it: the database is written only with changes the cache will take.
fn check(state: &PoolState, change: &AllocationChange) -> Result<(), StoreError> {
    let invalid =
        |message: String| StoreError::Invalid { kind: POOL, name: state.name().into(), message };
    if state.is_terminating() && !change.add.is_empty() {
        return Err(invalid(TERMINATING_ADD.to_string()));
    }
    let mut removed = Vec::new();
    for (ip, uid) in &change.remove {
        if IpFamily::of(ip) != state.family {
            return Err(invalid(format!("release of {ip}: wrong address family")));
        }
        match state.record(ip) {
            Some(r) if &r.pod_uid == uid => removed.push(*ip),
            Some(r) => {
                return Err(invalid(format!(
                    "release of {ip}: held by pod UID {}, not {uid}",
                    r.pod_uid
                )));
            }
            None => return Err(invalid(format!("release of {ip}: not allocated"))),
        }
    }
    for (ip, _) in &change.update {
        if state.record(ip).is_none() {
            return Err(invalid(format!("update of {ip}: not allocated")));
        }
    }
    for (ip, _) in &change.add {
        if IpFamily::of(ip) != state.family {
            return Err(invalid(format!("allocation of {ip}: wrong address family")));
        }
        if state.record(ip).is_some() && !removed.contains(ip) {
            return Err(invalid(format!("allocation of {ip}: already allocated")));
        }
    }
    Ok(())
}

/// True when `change` releases the last record of a terminating pool: the
/// pool goes in the same commit.
fn finalizes(state: &PoolState, change: &AllocationChange) -> bool {
    let removed: std::collections::BTreeSet<_> = change.remove.iter().map(|(ip, _)| ip).collect();
    state.is_terminating() && change.add.is_empty() && removed.len() == state.allocated_count()
}

impl Shared {
    /// [`PoolStore::update_allocations`], blocking on the commit.
    pub(super) fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<Version, StoreError> {
        let _writer = self.writer();
        let (next, finalize) = {
            let cache = self.read_cache();
            let conflict = |actual| StoreError::Conflict {
                kind: POOL,
                name: name.to_string(),
                expected,
                actual,
            };
            let Some((version, state)) = cache.pools.get(name) else {
                return Err(conflict(None));
            };
            if *version != expected {
                return Err(conflict(Some(*version)));
            }
            check(state, change)?;
            (
                cache.version + 1,
                finalizes(state, change).then(|| Removal::pool(&cache, name, Vec::new())),
            )
        };
        let mut put = Vec::with_capacity(change.add.len() + change.update.len());
        for (ip, record) in change
            .remove
            .iter()
            .map(|(ip, _)| (ip, None))
            .chain(change.update.iter().chain(&change.add).map(|(ip, r)| (ip, Some(r))))
        {
            let bytes = record.map(|r| encode(POOL, name, r)).transpose()?;
            put.push((ip_to_u128(*ip), bytes));
        }
        self.transact("update_allocations", next, |txn| {
            let mut records = txn.open_table(POOL_RECORDS)?;
            // Removals first: a change may release and re-add one address.
            for (ip, bytes) in &put {
                match bytes {
                    None => records.remove((name, *ip)).map(drop)?,
                    Some(b) => records.insert((name, *ip), b.as_slice()).map(drop)?,
                }
            }
            drop(records);
            txn.open_table(POOL_VERSIONS)?.insert(name, next)?;
            // The last release of a terminating pool removes it (and maybe
            // its terminating subnet) in the same commit.
            if let Some(removal) = &finalize {
                removal.write(txn, next)?;
            }
            Ok(())
        })?;
        let mut cache = self.write_cache();
        cache.version = next;
        if let Some(removal) = finalize {
            removal.apply(&mut cache, next);
            return Ok(next);
        }
        let applied = match cache.pools.get_mut(name) {
            Some((version, state)) => {
                *version = next;
                state.apply(change).is_ok()
            }
            None => false,
        };
        if !applied {
            self.reload_pool(&mut cache, name)?;
        }
        Ok(next)
    }
}

impl PoolStore for EmbeddedStore {
    async fn list_pools(&self) -> Result<Vec<Arc<SpiderIPPool>>, StoreError> {
        Ok(self.shared.read_cache().pools.values().map(|(_, s)| Arc::clone(&s.pool)).collect())
    }

    async fn read_pool<R: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R + Send,
    ) -> Result<Option<Versioned<R>>, StoreError> {
        let cache = self.shared.read_cache();
        Ok(cache.pools.get(name).map(|(v, s)| Versioned { version: *v, value: f(s) }))
    }

    async fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<Version, StoreError> {
        let (name, change) = (name.to_string(), change.clone());
        self.blocking(move |s| s.update_allocations(&name, expected, &change)).await
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        Ok(self.shared.read_cache().reserved.values().map(|v| Arc::clone(&v.value)).collect())
    }

    async fn sync(&self) -> Result<(), StoreError> {
        EmbeddedStore::sync(self).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        EmbeddedStore::health(self).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;
    use spiderpool_core::model::PoolIpAllocation;
    use spiderpool_core::store::contract::pool;

    use super::*;

    fn addr(i: u8) -> IpAddr {
        // 0..16 are IPv4 in the pool; 16 and up are IPv6 (the wrong family).
        if i < 16 { IpAddr::from([10, 6, 0, i + 1]) } else { format!("fd00::{i}").parse().unwrap() }
    }

    fn entries() -> impl Strategy<Value = Vec<(u8, u8)>> {
        proptest::collection::vec((0u8..18, 0u8..3), 0..4)
    }

    proptest! {
        /// `check` accepts exactly the changes `PoolState::apply` accepts, so
        /// the database never takes a change the cache refuses.
        #[test]
        fn check_agrees_with_apply(
            held in proptest::collection::btree_map(0u8..16, 0u8..3, 0..10),
            add in entries(),
            update in entries(),
            remove in entries(),
        ) {
            let mut state = PoolState::from_pool(pool("a", "10.6.0.0/16", &["10.6.0.1-10.6.0.16"])).unwrap();
            let rec = |uid: u8| PoolIpAllocation::new(format!("ns/p{uid}"), format!("u{uid}"));
            let seed = AllocationChange {
                add: held.iter().map(|(i, u)| (addr(*i), rec(*u))).collect(),
                ..Default::default()
            };
            state.apply(&seed).unwrap();
            let change = AllocationChange {
                add: add.iter().map(|(i, u)| (addr(*i), rec(*u))).collect(),
                update: update.iter().map(|(i, u)| (addr(*i), rec(*u))).collect(),
                remove: remove.iter().map(|(i, u)| (addr(*i), format!("u{u}"))).collect(),
            };
            let checked = check(&state, &change);
            let applied = state.clone().apply(&change);
            prop_assert_eq!(checked.is_ok(), applied.is_ok(), "check {:?}, apply {:?}", checked, applied);
        }
    }
}
