//! A store wrapper that counts write conflicts for the metrics, attributed to
//! the allocation or the release in progress (a task-local set around each).

use std::future::Future;
use std::sync::Arc;

use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::store::{
    AllocationChange, EndpointStore, PoolState, PoolStore, StoreError, Version, Versioned,
};

use super::metrics::Metrics;

tokio::task_local! {
    static IN_RELEASE: bool;
}

/// Runs `fut` as a release: conflicts it meets count as release conflicts.
pub(super) async fn as_release<F: Future>(fut: F) -> F::Output {
    IN_RELEASE.scope(true, fut).await
}

/// Counts a conflict met outside the store wrapper (a group commit's), as
/// a release conflict inside [`as_release`].
pub(super) fn count_conflict(metrics: &Metrics) {
    metrics.conflict(IN_RELEASE.try_with(|r| *r).unwrap_or(false));
}

/// The agent's store as the allocator sees it: `S` plus conflict counting.
#[derive(Debug)]
pub struct Metered<S> {
    pub(super) inner: S,
    pub(super) metrics: Arc<Metrics>,
}

impl<S> Metered<S> {
    fn count<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r
            && e.is_conflict()
        {
            self.metrics.conflict(IN_RELEASE.try_with(|r| *r).unwrap_or(false));
        }
        r
    }
}

impl<S: PoolStore> PoolStore for Metered<S> {
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
        self.count(self.inner.update_allocations(name, expected, change).await)
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        self.inner.list_reserved_ips().await
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync().await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }

    fn unit_of_work<F>(&self, work: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        self.inner.unit_of_work(work)
    }
}

impl<S: EndpointStore> EndpointStore for Metered<S> {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        self.inner.get_endpoint(namespace, name).await
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        self.count(self.inner.create_endpoint(endpoint).await)
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        self.count(self.inner.update_endpoint(endpoint, expected).await)
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        self.count(self.inner.delete_endpoint(namespace, name, expected).await)
    }
}
