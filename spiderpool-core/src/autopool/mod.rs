//! SpiderSubnet auto-pools: the pure rules that give each application its
//! own SpiderIPPool carved out of a SpiderSubnet (reference §2.2, §3.1,
//! §3.3, §4.2 step 1, §10.2).
//!
//! - [`config`]: the pod-template annotations `ipam.spidernet.io/subnet`,
//!   `ipam.spidernet.io/subnets`, `ipam.spidernet.io/ippool-ip-number`
//!   (`N` fixed or `+N` flexible) and `ipam.spidernet.io/ippool-reclaim`
//!   ([`parse_auto_pool_config`]); errors are [`AnnotationError`]s naming
//!   the annotation, the item and the value;
//! - [`app`]: the application ([`AppRef`]), the pool name
//!   `auto<4|6>-<app>-<interface>-<uid suffix>` ([`auto_pool_name`]) and the
//!   pool's pod affinity ([`auto_pool_pod_affinity`]);
//! - [`pool`]: the pool's labels and annotation, a new pool object
//!   ([`new_auto_pool`]) and which listed pool an application reuses
//!   ([`pick_existing_pool`]);
//! - [`size`]: the desired size from replicas (Jobs and CronJobs by
//!   completions/parallelism, DaemonSets by `desiredNumberScheduled`) and
//!   the annotation ([`desired_pool_size`]);
//! - [`carve`]: which subnet addresses a new or growing pool takes and which
//!   a shrinking pool gives back ([`resize_pool`]).
//!
//! Nothing here reads or writes objects: the controller and the agent gather
//! the application, the subnet, the other pools and the reserved IPs, call
//! these rules and write what they return. The SpiderSubnet status counts
//! are not computed here.
//!
//! # Example
//!
//! A Deployment of 2 replicas whose pod template asks for one spare address
//! (the worked example of `docs/subnet.md`):
//!
//! ```
//! use std::collections::BTreeMap;
//! use spiderpool_core::autopool::*;
//! use spiderpool_core::ip::{IpFamily, IpSet};
//!
//! let template_annotations = BTreeMap::from([
//!     ("ipam.spidernet.io/subnet".to_string(), r#"{"ipv4":["subnet-demo-v4"]}"#.to_string()),
//!     ("ipam.spidernet.io/ippool-ip-number".to_string(), "+1".to_string()),
//! ]);
//! let config = parse_auto_pool_config(&template_annotations, 0)?.ok_or("no subnet annotation")?;
//! let nic = config.for_nic("eth0")?;
//! // IPv4 enabled, IPv6 disabled
//! assert_eq!(nic.subnets_for(config.source, true, false)?, [(IpFamily::V4, "subnet-demo-v4")]);
//!
//! let uid = "2b4f0c8e-1d7a-4c55-9e0b-5d3a1c6f7e21";
//! let app = AppRef::native("Deployment", "default", "demo", uid).ok_or("not native")?;
//! let replicas = app_replicas(Workload::Replicas(Some(2)));
//! let size = desired_pool_size(&app, replicas, config.ip_number)?;
//! assert_eq!(size, 3);
//! assert_eq!(auto_pool_name(&app.name, IpFamily::V4, "eth0", &app.uid)?, "auto4-demo-eth0-5d3a1");
//!
//! // The subnet offers 10.6.0.100-10.6.0.120; another application's pool
//! // holds .100-.101 and 10.6.0.102 is a SpiderReservedIP.
//! let v4 = |r: &[&str]| IpSet::parse_ranges(IpFamily::V4, r);
//! let (subnet, others, reserved) =
//!     (v4(&["10.6.0.100-10.6.0.120"])?, v4(&["10.6.0.100-10.6.0.101"])?, v4(&["10.6.0.102"])?);
//! let empty = IpSet::new(IpFamily::V4);
//! let base = ResizeInput {
//!     pool: "auto4-demo-eth0-5d3a1",
//!     subnet: "subnet-demo-v4",
//!     subnet_ips: &subnet,
//!     current: &empty,
//!     others: &others,
//!     reserved: &reserved,
//!     held: &empty,
//!     desired: size,
//! };
//! let created = resize_pool(&base)?;
//! assert_eq!(created.ips.to_strings(), ["10.6.0.103-10.6.0.105"]);
//!
//! // Scaled to 1 replica (size 2) while pods hold .103 and .105: .104 goes back.
//! let held = v4(&["10.6.0.103", "10.6.0.105"])?;
//! let desired = desired_pool_size(&app, 1, config.ip_number)?;
//! let shrunk = resize_pool(&ResizeInput { current: &created.ips, held: &held, desired, ..base })?;
//! assert_eq!(shrunk.removed.to_strings(), ["10.6.0.104"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`AnnotationError`]: crate::annotation::AnnotationError

pub mod app;
pub mod carve;
pub mod config;
pub mod pool;
pub mod request;
pub mod scale;
pub mod size;
pub mod third_party;
pub mod wait;

pub use app::{
    AFFINITY_APP_API_GROUP, AFFINITY_APP_API_VERSION, AFFINITY_APP_KIND, AFFINITY_APP_NAME,
    AFFINITY_APP_NAMESPACE, AppRef, NATIVE_CONTROLLERS, auto_pool_name, auto_pool_pod_affinity,
    matches_auto_pool_affinity,
};
pub use carve::{
    Resize, ResizeInput, free_addresses, lowest, releasable_addresses, resize_pool,
    split_controlled, subnet_usable_ips,
};
pub use config::{
    AutoPoolConfig, DEFAULT_INTERFACE, IpNumber, SubnetChoice, parse_auto_pool_config,
    parse_ip_number, parse_reclaim, parse_subnet, parse_subnets,
};
pub use pool::{
    AutoPoolKey, LABEL_INTERFACE, LABEL_IP_VERSION, LABEL_IPPOOL_RECLAIM,
    LABEL_OWNER_APPLICATION_GV, LABEL_OWNER_APPLICATION_KIND, LABEL_OWNER_APPLICATION_NAMESPACE,
    LABEL_OWNER_APPLICATION_UID, auto_pool_annotations, auto_pool_labels,
    auto_pool_selector_labels, new_auto_pool, pick_existing_pool, relabel_reused_pool,
};
pub use request::{
    AutoPoolPlan, AutoPoolRequestError, PlannedPool, SubnetFeature, WaitReport, plan_auto_pools,
    pod_app, workload_of,
};
pub use scale::{
    CarveFacts, CarvePlan, Reap, WriteOrder, adoptable, ledger_count, ledger_entry_stale,
    orphan_ledger_entries, parse_application_key, plan_carve, reap_auto_pool,
};
pub use size::{Workload, app_replicas, desired_pool_size};
pub use third_party::{
    ThirdPartyAction, ThirdPartyInput, plan_third_party_pool, status_without_pool,
};
pub use wait::{PoolCheck, app_pools, check_auto_pool, is_auto_pool, pool_size};

use crate::ip::IpFamily;

/// An auto-pool rule cannot be applied. Each variant names the application,
/// pool or subnet and the numbers involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AutoPoolError {
    /// The pool name built from the application is not a valid object name.
    #[error("auto-pool name {value:?}: {reason}")]
    PoolName {
        /// The offending value (the name, or the UID it was built from).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A label value of the pool is not a valid Kubernetes label value.
    #[error("auto-pool label {label}: value {value:?} {reason}")]
    LabelValue {
        /// The label key.
        label: String,
        /// The offending value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A pod without a controller cannot have an auto-pool.
    #[error(
        "pod {pod} has no controller: SpiderSubnet auto-pools are only for applications \
         (Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet or a third-party \
         controller); give the pod an ipam.spidernet.io/ippool annotation instead"
    )]
    OrphanPod {
        /// `namespace/name` of the pod.
        pod: String,
    },
    /// A fixed size below the application's replicas.
    #[error(
        "{annotation}: fixed size {fixed} of {app} is smaller than its {replicas} replicas; use \
         at least {replicas}, or \"+N\" for replicas plus N"
    )]
    FixedBelowReplicas {
        /// `Kind namespace/name`.
        app: String,
        /// The annotation ([`crate::annotation::ANNO_IPPOOL_IP_NUMBER`]).
        annotation: &'static str,
        /// The fixed size.
        fixed: u64,
        /// The replicas.
        replicas: u64,
    },
    /// A third-party controller asked for a flexible size (or has no
    /// annotation, so the cluster's flexible default applies).
    #[error(
        "{annotation}: {app} is a third-party controller whose replicas are unknown; it needs a \
         fixed number of IPs (\"N\")"
    )]
    ThirdPartyNeedsFixed {
        /// `Kind namespace/name (apiVersion)`.
        app: String,
        /// The annotation ([`crate::annotation::ANNO_IPPOOL_IP_NUMBER`]).
        annotation: &'static str,
    },
    /// Replicas plus the flexible number overflow.
    #[error("pool size of {app}: {replicas} replicas plus {flexible} overflows")]
    SizeOverflow {
        /// `Kind namespace/name`.
        app: String,
        /// The replicas.
        replicas: u64,
        /// The flexible number.
        flexible: u64,
    },
    /// The sets of a resize are not all of the subnet's family.
    #[error(
        "auto-pool {pool} of SpiderSubnet {subnet}: {other} addresses given for the {subnet_family} subnet"
    )]
    FamilyMismatch {
        /// The SpiderSubnet.
        subnet: String,
        /// The pool.
        pool: String,
        /// The subnet's family.
        subnet_family: IpFamily,
        /// The family of the odd set.
        other: IpFamily,
    },
    /// The SpiderSubnet cannot give a pool of the asked family.
    #[error("SpiderSubnet {subnet}: {reason}")]
    SubnetSpec {
        /// The SpiderSubnet.
        subnet: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry of the subnet's `status.controlledIPPools` does not parse.
    #[error(
        "SpiderSubnet {subnet}: status.controlledIPPools entry {pool} has ips {value}: {reason}"
    )]
    ControlledEntry {
        /// The SpiderSubnet.
        subnet: String,
        /// The pool the entry is for.
        pool: String,
        /// The entry's `ips`.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The subnet has too few free addresses for the pool to grow.
    #[error(
        "SpiderSubnet {subnet} has {free} free IPs (not reserved, not held by other pools) but \
         auto-pool {pool} needs {needed} more to grow from {current} to {desired}"
    )]
    SubnetExhausted {
        /// The SpiderSubnet.
        subnet: String,
        /// The pool.
        pool: String,
        /// The size asked for.
        desired: u64,
        /// The pool's size now.
        current: u128,
        /// Addresses the pool must take.
        needed: u128,
        /// Free addresses of the subnet.
        free: u128,
    },
    /// Pods hold too many of the pool's addresses for it to shrink now
    /// (Go `ErrFreeIPsNotEnough`); retry once pods have gone.
    #[error(
        "auto-pool {pool} cannot shrink from {current} to {desired} IPs: pods hold {in_use} of \
         them, and an IP in use is never given back"
    )]
    FreeIpsNotEnough {
        /// The pool.
        pool: String,
        /// The size asked for.
        desired: u64,
        /// The pool's size now.
        current: u128,
        /// Addresses of the pool held by pods.
        in_use: u128,
    },
}

#[cfg(test)]
mod tests;
