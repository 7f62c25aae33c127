//! `spiderpool-k8s` is the Kubernetes adapter of spiderpool-rs.
//!
//! It carries the core's `spiderpool.spidernet.io/v2beta1` model to and from a
//! Kubernetes API server:
//!
//! - [`crd`]: the six CustomResourceDefinitions, generated from the core model's
//!   types (their `schemars::JsonSchema`, behind spiderpool-core's `schema`
//!   feature) plus Spiderpool's names, printer columns and validation, and the
//!   Multus `NetworkAttachmentDefinition` CRD for test clusters;
//! - [`KubeObject`]: a core kind as a `kube::Resource` (k8s-openapi metadata
//!   around the core's spec and status), with lossless conversion to and from
//!   the core type, for `kube::Api`, watchers and reflectors;
//! - [`meta`]: conversion between the core's `ObjectMeta` and k8s-openapi's;
//! - [`store`]: the Kubernetes store — the core's `PoolStore` and
//!   `EndpointStore` over the API server, with caches from watches,
//!   compare-and-swap writes and group commit ([`KubeStore`]);
//! - [`facts`]: the pod facts — the core's `PodSource` and
//!   `CoordinatorSource` over watch caches of this node's pods, namespaces,
//!   nodes, the pods' controllers and SpiderCoordinators ([`KubeFacts`]);
//! - [`backend`]: the agent's backend on a cluster, store and facts in one
//!   ([`KubeBackend`]), and the agent's client ([`connect`]);
//! - [`reconcile`]: the controller's reconcilers (pool and subnet status and
//!   finalizers, SpiderMultusConfig → NetworkAttachmentDefinition,
//!   SpiderCoordinator status) and the init step, run on the leader;
//! - [`webhook`]: the controller's admission webhooks (the core's rules as
//!   AdmissionReview v1) and their certificates; [`leader`]: leader election
//!   on a Lease with the leader's work started and stopped with it;
//!   [`events`]: Kubernetes events for decisions users must see;
//! - [`gc`]: IP garbage collection on the leader (pods deleted, finished,
//!   terminating past their grace period or on a node that is gone; two
//!   observations and a fresh read before a release; the core's `gc` decides);
//! - `testing` (feature `testing`): a harness for tests against a real API
//!   server.
//!
//! What it deliberately does not do: decide anything. Which pool a pod gets,
//! which address is freed, what admission answers — all of that stays in
//! `spiderpool-core`; this crate gathers facts and writes.
//!
//! Kubernetes versions: the types come from k8s-openapi's `v1_33` API, but only
//! objects and fields that also exist in Kubernetes 1.20 are used (the CRDs are
//! `apiextensions.k8s.io/v1` without CEL rules or selectable fields), so
//! everything here works on a 1.20 API server as well as a current one.

pub mod backend;
pub mod crd;
pub mod dynamic;
pub mod events;
pub mod facts;
pub mod gc;
mod kind;
pub mod leader;
pub mod meta;
mod object;
pub mod reconcile;
pub mod store;
mod subnet_store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

pub use backend::{ConnectError, KubeBackend, connect};
pub use facts::{FactsOptions, FactsStats, KubeFacts};
pub use kind::{Absent, Kind};
pub use object::{
    CoordinatorObject, EndpointObject, IPPoolObject, KubeObject, MultusConfigObject,
    ReservedIPObject, SubnetObject,
};
pub use store::{CommitMode, KubeStore, KubeStoreOptions, RejectedObject, StoreStats};

/// Errors of the Kubernetes adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metadata timestamp of a core object is not an RFC 3339 time.
    #[error("{field}: {value:?} is not an RFC 3339 time: {message}")]
    Timestamp {
        /// The field, e.g. `metadata.creationTimestamp`.
        field: &'static str,
        /// The value found.
        value: String,
        /// Why it does not parse.
        message: String,
    },
    /// A generated CRD schema could not be built (a bug in the generator or in
    /// the core model's schema attributes; the tests catch it).
    #[error("CRD schema for {kind}: {message}")]
    Schema {
        /// The kind whose schema failed.
        kind: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A request to the API server failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
