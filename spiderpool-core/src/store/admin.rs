//! Administrative storage: the objects a store keeps besides allocation state,
//! written by `spiderpoolctl apply` through the agent (after admission) and read
//! by the agent to gather pod facts. Pools and reserved IPs go to the
//! allocation side of the store ([`AdminStore::apply_pool`],
//! [`AdminStore::apply_reserved_ip`]); every other kind — SpiderSubnet,
//! SpiderMultusConfig, SpiderCoordinator, NetworkAttachmentDefinition, and the
//! Kubernetes `Pod`, `Namespace` and `Node` objects an embedded store holds in
//! place of a cluster — is kept as JSON by [`ObjectKey`].

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::{Deletion, PoolStateError, StoreError, Version, Versioned};
use crate::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP};

/// Identifies a stored object: kind, namespace (empty for cluster-scoped kinds)
/// and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// `kind` (`Pod`, `Namespace`, `Node`, `SpiderSubnet`, ...).
    pub kind: String,
    /// Namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), namespace: namespace.to_owned(), name: name.to_owned() }
    }
}

/// Writes and reads of whole objects, for the agent's administrative API.
pub trait AdminStore: Send + Sync {
    /// Creates or replaces a SpiderIPPool (records of a pool of the same name are
    /// kept unless the object carries `status.allocatedIPs`). Replacing a
    /// terminating pool keeps it terminating ([`super::deletion::keep_deletion`]).
    fn apply_pool(
        &self,
        pool: SpiderIPPool,
    ) -> impl Future<Output = Result<Version, AdminError>> + Send;

    /// A SpiderIPPool as Kubernetes would store it (`status.allocatedIPs`
    /// rendered).
    fn get_pool(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Versioned<SpiderIPPool>>, StoreError>> + Send;

    /// Deletes a SpiderIPPool at time `at` (RFC 3339): removed at once when it
    /// holds no record, else terminating until its last record is released
    /// (see [`super::deletion`]). Deleting a terminating pool changes nothing.
    fn delete_pool(
        &self,
        name: &str,
        at: &str,
    ) -> impl Future<Output = Result<Deletion, StoreError>> + Send;

    /// Deletes the SpiderSubnet `name` (kept with [`AdminStore::put_object`])
    /// at time `at`, with foreground propagation: every pool it controls is
    /// deleted as [`AdminStore::delete_pool`] does, and the subnet stays
    /// terminating while any of them is left (see [`super::deletion`]).
    fn delete_subnet(
        &self,
        name: &str,
        at: &str,
    ) -> impl Future<Output = Result<Deletion, StoreError>> + Send;

    /// Creates or replaces a SpiderReservedIP.
    fn apply_reserved_ip(
        &self,
        reserved: SpiderReservedIP,
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// Deletes a SpiderReservedIP; whether it existed.
    fn delete_reserved_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every SpiderEndpoint.
    fn list_endpoints(
        &self,
    ) -> impl Future<Output = Result<Vec<Versioned<SpiderEndpoint>>, StoreError>> + Send;

    /// Creates or replaces any other object. Replacing a terminating object
    /// keeps it terminating ([`super::deletion::keep_pending_deletion_json`]).
    fn put_object(
        &self,
        key: &ObjectKey,
        value: serde_json::Value,
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// One object.
    fn get_object(
        &self,
        key: &ObjectKey,
    ) -> impl Future<Output = Result<Option<Versioned<serde_json::Value>>, StoreError>> + Send;

    /// Every object of a kind, by namespace and name.
    fn list_objects(
        &self,
        kind: &str,
    ) -> impl Future<Output = Result<Vec<(ObjectKey, Versioned<serde_json::Value>)>, StoreError>> + Send;

    /// Deletes an object; whether it existed.
    fn delete_object(
        &self,
        key: &ObjectKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Why an administrative write failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The pool object cannot be used (a range does not parse, ...).
    #[error(transparent)]
    Pool(#[from] PoolStateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
