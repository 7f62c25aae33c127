//! The coordinator defaults, in one place: what a setting is when neither the
//! netconf, nor the pod annotation, nor the SpiderCoordinator sets it
//! ([`EffectiveConfig::default`](super::EffectiveConfig)), what the agent
//! answers for a SpiderCoordinator field left out
//! ([`ClusterCoordinatorConfig::from_spider_coordinator`](super::ClusterCoordinatorConfig::from_spider_coordinator)),
//! and the CRD defaults admission writes
//! ([`CoordinatorSpec::DEFAULT_HOST_RULE_TABLE`](crate::model::CoordinatorSpec::DEFAULT_HOST_RULE_TABLE), ...).
//! A leaf module: it imports nothing.

/// `mode`: decide from the pod's links.
pub const MODE: &str = "auto";
/// `tunePodRoutes`.
pub const TUNE_POD_ROUTES: bool = true;
/// `podDefaultCniNic` (netconf only): the pod's first NIC.
pub const POD_DEFAULT_CNI_NIC: &str = "eth0";
/// `hostRuleTable`.
pub const HOST_RULE_TABLE: u32 = 500;
/// `podRPFilter`.
pub const POD_RP_FILTER: i32 = 0;
/// `txQueueLen` (0: leave it).
pub const TX_QUEUE_LEN: u32 = 0;
/// `vethMTU`.
pub const VETH_MTU: u32 = 1500;
