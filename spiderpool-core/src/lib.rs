//! `spiderpool-core` is the pure heart of spiderpool-rs.
//!
//! It computes and decides; it never performs I/O. It holds:
//!
//! - [`ip`]: addresses, CIDRs, Spiderpool range strings and an interval set over
//!   `u128` that never expands a range into an address list;
//! - [`model`]: the `spiderpool.spidernet.io/v2beta1` resources as plain serde types
//!   with Spiderpool's exact JSON shapes;
//! - [`annotation`]: the pod and namespace annotations Spiderpool reads;
//! - [`selector`]: Kubernetes label selectors;
//! - [`name`]: one validator per name rule (Kubernetes object names and
//!   namespaces, Linux interface names, CNI container IDs, pod UIDs), used by
//!   every parser;
//! - [`pod`]: pod, namespace and node facts, the [`pod::PodSource`] trait a
//!   backend implements, and gathering a pod's context (owner, liveness);
//! - [`kind`]: every kind known by name (Spiderpool's, the
//!   NetworkAttachmentDefinition, the Kubernetes kinds pod facts come from):
//!   names, `apiVersion`, scope and name rule;
//! - [`agent_api`]: the agent API's routes and request/answer types, for the
//!   agent, its clients and other CNIs;
//! - [`selection`]: candidate pools per NIC and family, in Spiderpool's precedence;
//! - [`reconcile`]: the controller's decisions (pool and subnet status,
//!   finalizers, overlap races, NAD ownership, coordinator CIDR detection);
//! - [`allocator`] and [`store`]: allocation and release over a compare-and-swap
//!   store contract, with an in-memory store, the release decision and the
//!   finalizer semantics of deletion;
//! - [`autopool`]: SpiderSubnet auto-pools: the `subnet(s)`, `ippool-ip-number`
//!   and `ippool-reclaim` annotations, pool names, labels and affinity, sizes
//!   from replicas, and which subnet addresses a pool takes or gives back;
//! - [`admission`]: defaulting and validation of every kind for CREATE, UPDATE
//!   and DELETE, with Kubernetes-style rejections;
//! - [`multus`]: SpiderMultusConfig → Multus NetworkAttachmentDefinition;
//! - [`cni`]: CNI spec types (netconf, results 0.3.0–1.1.0, errors, `CNI_ARGS`);
//! - [`coordinator`]: the coordinator's config, defaults and precedence, its
//!   route plans for ADD and DEL, the present/missing matcher of CHECK and the
//!   simulator;
//! - [`gc`]: IP garbage collection's decisions (release or keep a record, and
//!   why; the two-observation rule);
//! - [`error`]: the crate-wide error enum wrapping each module's typed error.
//!
//! What it deliberately does not do: talk to Kubernetes, netlink, files, sockets or
//! clocks. There is no tokio, kube, rtnetlink or nix in its dependency tree. Time,
//! randomness and storage are injected through traits ([`store::PoolStore`],
//! [`store::EndpointStore`], [`pod::PodSource`], [`allocator::Clock`],
//! [`allocator::Jitter`]).

pub mod admission;
pub mod agent_api;
pub mod allocator;
pub mod annotation;
pub mod autopool;
pub mod cni;
pub mod coordinator;
pub mod error;
pub mod gc;
pub mod ip;
pub mod kind;
pub mod model;
pub mod multus;
pub mod name;
pub mod pod;
pub mod reconcile;
pub mod selection;
pub mod selector;
pub mod store;

pub use error::{Error, Result};
