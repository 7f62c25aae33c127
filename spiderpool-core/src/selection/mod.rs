//! Candidate pools per NIC and family, in Spiderpool's precedence, then filtered
//! and sorted.
//!
//! Precedence (first level present wins, reference §4.2): with
//! `enableSpiderSubnet`, pod `ipam.spidernet.io/subnets` / `…/subnet`
//! (the application's auto-pools, see [`crate::autopool::plan_auto_pools`];
//! the agent resolves them beforehand into [`IpamSettings::auto_pools`]) >
//! pod `ipam.spidernet.io/ippools` > pod `ipam.spidernet.io/ippool` > namespace
//! `default-ipv4-ippool` / `default-ipv6-ippool` > CNI config
//! `default_ipv4_ippool` / `default_ipv6_ippool` > cluster default pools
//! (`spec.default: true`). Globs (`*`, `?`, `[...]`) expand against the pools of
//! the family, by name order (not in subnet annotations).
//!
//! Filters (reference §4.4): terminating, disabled, family, `nodeName` (else
//! `nodeAffinity`), `namespaceName` (else `namespaceAffinity`), `podAffinity`,
//! and `multusName` only for pools that set it. The sort is Spiderpool's
//! priority (podAffinity > nodeName > nodeAffinity > namespaceName >
//! namespaceAffinity > multusName, higher first) and, unlike Spiderpool, stable:
//! among equals the user's order is kept.
//!
//! Sub-modules, re-exported here: `request` (step 1, [`requested_pools`]: one
//! function per precedence level, then glob expansion), `filter` (step 2,
//! [`candidates`]: [`rule_out`] and [`priority`]) and `error` (what selection
//! reports).

mod error;
mod filter;
mod request;

use std::fmt;

use crate::autopool::SubnetFeature;
use crate::ip::IpFamily;

pub use error::{RuledOut, RuledOutReason, SelectionError};
pub use filter::{FilterContext, candidates, families, priority, rule_out};
pub use request::requested_pools;

/// Cluster and CNI-config settings that change selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamSettings {
    /// IPv4 allocation enabled (cluster setting).
    pub enable_ipv4: bool,
    /// IPv6 allocation enabled (cluster setting).
    pub enable_ipv6: bool,
    /// CNI config `default_ipv4_ippool`.
    pub default_ipv4_ippool: Vec<String>,
    /// CNI config `default_ipv6_ippool`.
    pub default_ipv6_ippool: Vec<String>,
    /// CNI config `clean_gateway`.
    pub clean_gateway: bool,
    /// Namespace Spiderpool runs in: bare NAD names in `multusName` and Multus
    /// annotations resolve here.
    pub agent_namespace: String,
    /// `MULTUS_CLUSTER_NETWORK`: the NAD of the first NIC when the pod has no
    /// `v1.multus-cni.io/default-network`.
    pub multus_cluster_network: Option<String>,
    /// SpiderSubnet settings: whether subnet annotations come first.
    pub subnet: SubnetFeature,
    /// The NIC's auto-pools, found or made by the agent for a pod whose
    /// subnet annotations apply ([`crate::autopool::plan_auto_pools`]);
    /// selection refuses such a pod without them.
    pub auto_pools: Option<NicRequest>,
}

impl Default for IpamSettings {
    fn default() -> Self {
        Self {
            enable_ipv4: true,
            enable_ipv6: true,
            default_ipv4_ippool: Vec::new(),
            default_ipv6_ippool: Vec::new(),
            clean_gateway: false,
            agent_namespace: "kube-system".to_string(),
            multus_cluster_network: None,
            subnet: SubnetFeature::default(),
            auto_pools: None,
        }
    }
}

impl IpamSettings {
    fn enabled(&self, family: IpFamily) -> bool {
        match family {
            IpFamily::V4 => self.enable_ipv4,
            IpFamily::V6 => self.enable_ipv6,
        }
    }
}

/// Where a NIC's pool names came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateSource {
    /// Pod annotation `ipam.spidernet.io/subnets` or `…/subnet`: the
    /// application's SpiderSubnet auto-pools.
    SubnetAutoPool,
    /// Pod annotation `ipam.spidernet.io/ippools`.
    PodIpPools,
    /// Pod annotation `ipam.spidernet.io/ippool`.
    PodIpPool,
    /// Namespace annotations `ipam.spidernet.io/default-ipv4-ippool` / `-ipv6-`.
    NamespaceDefault,
    /// CNI config `default_ipv4_ippool` / `default_ipv6_ippool`.
    CniConfig,
    /// Pools with `spec.default: true`.
    ClusterDefault,
}

impl fmt::Display for CandidateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CandidateSource::SubnetAutoPool => {
                "SpiderSubnet auto-pools (pod annotation ipam.spidernet.io/subnet(s))"
            }
            CandidateSource::PodIpPools => "pod annotation ipam.spidernet.io/ippools",
            CandidateSource::PodIpPool => "pod annotation ipam.spidernet.io/ippool",
            CandidateSource::NamespaceDefault => "namespace default pools",
            CandidateSource::CniConfig => "CNI config default pools",
            CandidateSource::ClusterDefault => "cluster default pools",
        })
    }
}

/// The pool names one NIC should try, per family, after glob expansion, in the
/// user's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicRequest {
    /// Interface name in the pod.
    pub nic: String,
    /// Suppress the default route through the pool gateway.
    pub clean_gateway: bool,
    /// IPv4 pool names (empty: no IPv4 for this NIC).
    pub ipv4: Vec<String>,
    /// IPv6 pool names (empty: no IPv6 for this NIC).
    pub ipv6: Vec<String>,
    /// Where the names came from.
    pub origin: CandidateSource,
}

impl NicRequest {
    /// The names of one family.
    pub fn names(&self, family: IpFamily) -> &[String] {
        match family {
            IpFamily::V4 => &self.ipv4,
            IpFamily::V6 => &self.ipv6,
        }
    }
}

#[cfg(test)]
mod tests;
