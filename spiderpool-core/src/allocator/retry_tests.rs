//! Retries over a store that reports conflicts: the waits come from the
//! injected clock and jitter, so two runs with the same seed wait the same.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use crate::store::contract::pool;
use crate::store::{MemoryStore, Version};

/// A memory store whose first `conflicts` pool writes fail with a conflict.
struct Contended {
    inner: MemoryStore,
    conflicts: Mutex<u32>,
}

impl PoolStore for Contended {
    async fn list_pools(&self) -> Result<Vec<Arc<SpiderIPPool>>, StoreError> {
        self.inner.list_pools().await
    }

    async fn read_pool<R: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R + Send,
    ) -> Result<Option<Versioned<R>>, StoreError> {
        self.inner.read_pool(name, f).await
    }

    async fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<Version, StoreError> {
        {
            let mut left = self.conflicts.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Conflict {
                    kind: "SpiderIPPool",
                    name: name.to_string(),
                    expected,
                    actual: Some(expected + 1),
                });
            }
        }
        self.inner.update_allocations(name, expected, change).await
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        self.inner.list_reserved_ips().await
    }
}

impl EndpointStore for Contended {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        self.inner.get_endpoint(namespace, name).await
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        self.inner.create_endpoint(endpoint).await
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        self.inner.update_endpoint(endpoint, expected).await
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        self.inner.delete_endpoint(namespace, name, expected).await
    }
}

/// A clock that records every wait instead of waiting.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Duration>>>);

impl Clock for Recorder {
    async fn sleep(&self, d: Duration) {
        self.0.lock().unwrap().push(d);
    }
}

/// One ADD against a pool whose first 5 writes conflict; the waits it made.
fn waits_of_a_contended_add(seed: u64) -> Vec<Duration> {
    let inner = MemoryStore::new();
    inner.put_pool(pool("p", "10.6.0.0/16", &["10.6.0.10-10.6.0.20"])).unwrap();
    let store = Contended { inner, conflicts: Mutex::new(5) };
    let clock = Recorder::default();
    let alloc = Allocator::with_clock(store, clock.clone(), RetryPolicy::default())
        .with_jitter(SeededJitter::new(seed));
    let req = AllocateRequest {
        pod: PodFacts {
            namespace: "default".into(),
            name: "p1".into(),
            uid: "u1".into(),
            ..Default::default()
        },
        nic: "net1".into(),
        settings: IpamSettings { default_ipv4_ippool: vec!["p".into()], ..Default::default() },
        ..Default::default()
    };
    pollster::block_on(alloc.allocate(&req)).unwrap();
    clock.0.lock().unwrap().clone()
}

#[test]
fn two_runs_with_the_same_seed_wait_the_same() {
    let first = waits_of_a_contended_add(42);
    assert_eq!(first.len(), 5, "one wait per conflict: {first:?}");
    assert_eq!(first, waits_of_a_contended_add(42));
    assert_ne!(first, waits_of_a_contended_add(43), "the seed drives the jitter");
    // Each wait lies between the policy's base and base + 50 %.
    let policy = RetryPolicy::default();
    for (attempt, w) in first.iter().enumerate() {
        let attempt = u32::try_from(attempt).unwrap();
        assert!(*w >= policy.wait(attempt, 0.0) && *w <= policy.wait(attempt, 1.0), "{w:?}");
    }
}
