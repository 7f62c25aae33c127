//! [`SubnetStore`]: what the agent reads and writes to make and resize the
//! auto-pool of a third-party controller (reference §4.2 step 1,
//! [`crate::autopool::third_party`]): the SpiderSubnet and its status, and
//! the pool. Every write is compare-and-swap, so two agents never hand out
//! one address twice: the subnet's status on its [`Version`], a pool
//! create fails with [`StoreError::AlreadyExists`], a pool's `spec.ips` is
//! rewritten only if it still holds what was read.
//!
//! Every [`AdminStore`] (the embedded and memory stores) is one, keeping
//! subnets as objects of kind `SpiderSubnet`; a Kubernetes backend
//! implements it over the API server.

use std::future::Future;

use super::admin::{AdminError, AdminStore, ObjectKey};
use super::{StoreError, Version, Versioned};
use crate::model::{SpiderIPPool, SpiderSubnet, SubnetStatus};

/// SpiderSubnets and auto-pool writes.
pub trait SubnetStore: Send + Sync {
    /// The SpiderSubnet `name`, with its version.
    fn get_subnet(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Versioned<SpiderSubnet>>, StoreError>> + Send;

    /// Replaces the status of SpiderSubnet `name` if it is still at
    /// `expected` ([`StoreError::Conflict`] otherwise).
    fn update_subnet_status(
        &self,
        name: &str,
        expected: Version,
        status: &SubnetStatus,
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// Creates `pool` ([`StoreError::AlreadyExists`] when a pool of its name
    /// exists).
    fn create_pool(
        &self,
        pool: &SpiderIPPool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the `spec.ips` of pool `name` to `ips` if they are still
    /// `expected` ([`StoreError::Conflict`] otherwise).
    fn update_pool_ips(
        &self,
        name: &str,
        expected: &[String],
        ips: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The kind the administrative stores keep subnets under.
const SUBNET_KIND: &str = "SpiderSubnet";

fn subnet_key(name: &str) -> ObjectKey {
    ObjectKey::new(SUBNET_KIND, "", name)
}

fn admin_error(e: AdminError) -> StoreError {
    match e {
        AdminError::Store(e) => e,
        other => StoreError::Invalid {
            kind: SpiderIPPool::KIND,
            name: String::new(),
            message: other.to_string(),
        },
    }
}

/// Subnets as stored objects, pools through [`AdminStore::apply_pool`]. The
/// checks and the writes are two steps; the agent runs its auto-pool writes
/// one at a time, and it is the only writer of an embedded store.
impl<A: AdminStore> SubnetStore for A {
    async fn get_subnet(&self, name: &str) -> Result<Option<Versioned<SpiderSubnet>>, StoreError> {
        let Some(found) = self.get_object(&subnet_key(name)).await? else { return Ok(None) };
        let subnet = serde_json::from_value(found.value).map_err(|e| StoreError::Invalid {
            kind: SUBNET_KIND,
            name: name.to_string(),
            message: format!("stored object does not decode: {e}"),
        })?;
        Ok(Some(Versioned { version: found.version, value: subnet }))
    }

    async fn update_subnet_status(
        &self,
        name: &str,
        expected: Version,
        status: &SubnetStatus,
    ) -> Result<Version, StoreError> {
        let key = subnet_key(name);
        let found = match self.get_object(&key).await? {
            Some(found) if found.version == expected => found,
            other => {
                return Err(StoreError::Conflict {
                    kind: SUBNET_KIND,
                    name: name.into(),
                    expected,
                    actual: other.map(|f| f.version),
                });
            }
        };
        let mut value = found.value;
        let status =
            serde_json::to_value(status).map_err(|e| StoreError::Backend(e.to_string()))?;
        match value.as_object_mut() {
            Some(object) => {
                object.insert("status".to_string(), status);
            }
            None => {
                return Err(StoreError::Invalid {
                    kind: SUBNET_KIND,
                    name: name.into(),
                    message: "stored object is not a JSON object".into(),
                });
            }
        }
        self.put_object(&key, value).await
    }

    async fn create_pool(&self, pool: &SpiderIPPool) -> Result<(), StoreError> {
        let name = pool.metadata.name_str();
        if self.get_pool(name).await?.is_some() {
            return Err(StoreError::AlreadyExists { kind: SpiderIPPool::KIND, name: name.into() });
        }
        self.apply_pool(pool.clone()).await.map(|_| ()).map_err(admin_error)
    }

    async fn update_pool_ips(
        &self,
        name: &str,
        expected: &[String],
        ips: &[String],
    ) -> Result<(), StoreError> {
        let Some(found) = self.get_pool(name).await? else {
            return Err(StoreError::NotFound { kind: SpiderIPPool::KIND, name: name.into() });
        };
        let mut pool = found.value;
        if pool.spec.ips != expected {
            return Err(StoreError::Conflict {
                kind: SpiderIPPool::KIND,
                name: name.into(),
                expected: found.version,
                actual: Some(found.version),
            });
        }
        pool.spec.ips = ips.to_vec();
        // Without status.allocatedIPs the records of the pool are kept.
        pool.status = None;
        self.apply_pool(pool).await.map(|_| ()).map_err(admin_error)
    }
}
