//! Candidate pools per NIC and family, in Spiderpool's precedence, then filtered
//! and sorted.
//!
//! Precedence (first level present wins, reference §4.2): pod
//! `ipam.spidernet.io/ippools` > pod `ipam.spidernet.io/ippool` > namespace
//! `default-ipv4-ippool` / `default-ipv6-ippool` > CNI config
//! `default_ipv4_ippool` / `default_ipv6_ippool` > cluster default pools
//! (`spec.default: true`). Globs (`*`, `?`, `[...]`) expand against the pools of
//! the family, by name order. SpiderSubnet auto-pools are not handled here yet.
//!
//! Filters (reference §4.4): terminating, disabled, family, `nodeName` (else
//! `nodeAffinity`), `namespaceName` (else `namespaceAffinity`), `podAffinity`,
//! and `multusName` only for pools that set it. The sort is Spiderpool's
//! priority (podAffinity > nodeName > nodeAffinity > namespaceName >
//! namespaceAffinity > multusName, higher first) and, unlike Spiderpool, stable:
//! among equals the user's order is kept.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use crate::annotation::{self, AnnotationError, NadRef};
use crate::ip::IpFamily;
use crate::model::SpiderIPPool;
use crate::pod::{NamespaceFacts, NodeFacts, PodFacts};
use crate::selector;
use crate::store::pool_family;

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

/// Why a pool was ruled out for a NIC and family.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuledOutReason {
    /// No pool of that name exists.
    NotFound,
    /// The pool is being deleted.
    Terminating,
    /// `spec.disable: true`.
    Disabled,
    /// The pool overlaps a pool admitted before it (its `Overlapping`
    /// condition, set by the controller; Spiderpool #746): the message.
    Overlapping(String),
    /// The pool is of the other family, or its family cannot be told.
    WrongFamily(String),
    /// The pod's node is not in `spec.nodeName`.
    NodeName(String),
    /// The node's labels do not match `spec.nodeAffinity`.
    NodeAffinity(String),
    /// The pod's namespace is not in `spec.namespaceName`.
    NamespaceName(String),
    /// The namespace's labels do not match `spec.namespaceAffinity`.
    NamespaceAffinity(String),
    /// The pod's labels do not match `spec.podAffinity`.
    PodAffinity,
    /// The NIC's NetworkAttachmentDefinition is not in `spec.multusName`.
    MultusName(Option<String>),
    /// A selector of the pool is invalid.
    InvalidSelector(String),
}

impl fmt::Display for RuledOutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuledOutReason::NotFound => f.write_str("no such SpiderIPPool"),
            RuledOutReason::Terminating => f.write_str("pool is terminating"),
            RuledOutReason::Disabled => f.write_str("pool is disabled (spec.disable)"),
            RuledOutReason::Overlapping(why) => {
                write!(f, "pool overlaps an earlier pool (status.conditions Overlapping): {why}")
            }
            RuledOutReason::WrongFamily(why) => write!(f, "wrong IP family: {why}"),
            RuledOutReason::NodeName(node) => write!(f, "node {node} is not in spec.nodeName"),
            RuledOutReason::NodeAffinity(node) => {
                write!(f, "node {node} does not match spec.nodeAffinity")
            }
            RuledOutReason::NamespaceName(ns) => {
                write!(f, "namespace {ns} is not in spec.namespaceName")
            }
            RuledOutReason::NamespaceAffinity(ns) => {
                write!(f, "namespace {ns} does not match spec.namespaceAffinity")
            }
            RuledOutReason::PodAffinity => f.write_str("pod labels do not match spec.podAffinity"),
            RuledOutReason::MultusName(Some(nad)) => {
                write!(f, "NetworkAttachmentDefinition {nad} is not in spec.multusName")
            }
            RuledOutReason::MultusName(None) => {
                f.write_str("spec.multusName is set but the NIC has no NetworkAttachmentDefinition")
            }
            RuledOutReason::InvalidSelector(why) => write!(f, "invalid selector: {why}"),
        }
    }
}

/// One pool that was ruled out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuledOut {
    /// Pool name.
    pub pool: String,
    /// Why.
    pub reason: RuledOutReason,
}

/// Selection failures.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// An annotation does not parse.
    #[error(transparent)]
    Annotation(#[from] AnnotationError),
    /// Nothing names any pool.
    #[error(
        "no pool selection rules of any type are specified for NIC {nic}: no ipam.spidernet.io/ippool(s) annotation, no namespace default pools, no default_ipv4_ippool/default_ipv6_ippool in the CNI config and no SpiderIPPool with spec.default: true"
    )]
    NoSelectionRule {
        /// The NIC.
        nic: String,
    },
    /// The `ippools` annotation does not cover the NIC being added.
    #[error("{origin}: interface {nic} is not listed")]
    NicNotListed {
        /// The NIC.
        nic: String,
        /// Where the list came from.
        origin: CandidateSource,
    },
    /// Every family the NIC asks for is disabled in the cluster.
    #[error("NIC {nic}: {origin} names no pool of an enabled IP family")]
    NoEnabledFamily {
        /// The NIC.
        nic: String,
        /// Where the names came from.
        origin: CandidateSource,
    },
    /// A pool name is listed twice.
    #[error("{origin}: NIC {nic}: {family} pool {pool} is listed twice")]
    DuplicatePool {
        /// The NIC.
        nic: String,
        /// The family.
        family: IpFamily,
        /// The pool.
        pool: String,
        /// Where the names came from.
        origin: CandidateSource,
    },
    /// A glob in a pool list is malformed.
    #[error("{origin}: NIC {nic}: bad pool name pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The NIC.
        nic: String,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
        /// Where the names came from.
        origin: CandidateSource,
    },
    /// The names of a family were all globs, and none matches a pool of the
    /// family: the NIC asked for that family and would get nothing.
    #[error("{origin}: NIC {nic}: no {family} SpiderIPPool matches {}", format_patterns(.patterns))]
    NoPoolMatches {
        /// The NIC.
        nic: String,
        /// The family.
        family: IpFamily,
        /// The patterns, as listed.
        patterns: Vec<String>,
        /// Where the names came from.
        origin: CandidateSource,
    },
    /// Every candidate pool was ruled out.
    #[error("no available {family} pool for NIC {nic} ({origin}): {}", format_ruled_out(.ruled_out))]
    NoAvailablePool {
        /// The NIC.
        nic: String,
        /// The family.
        family: IpFamily,
        /// Where the names came from.
        origin: CandidateSource,
        /// Every pool and why it was ruled out.
        ruled_out: Vec<RuledOut>,
    },
}

fn format_patterns(patterns: &[String]) -> String {
    match patterns {
        [one] => format!("the pattern {one:?}"),
        _ => {
            let quoted: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
            format!("none of the patterns {}", quoted.join(", "))
        }
    }
}

fn format_ruled_out(list: &[RuledOut]) -> String {
    if list.is_empty() {
        return "no pool matches".to_string();
    }
    list.iter().map(|r| format!("{}: {}", r.pool, r.reason)).collect::<Vec<_>>().join("; ")
}

/// Step 1: the pool names each NIC asks for. With the `ippools` annotation this is
/// every NIC the annotation lists (Spiderpool allocates all of them in the first
/// ADD); otherwise only `nic`. Families disabled in `settings` are dropped.
pub fn requested_pools(
    pod: &PodFacts,
    namespace: &NamespaceFacts,
    settings: &IpamSettings,
    nic: &str,
    pools: &[Arc<SpiderIPPool>],
) -> Result<Vec<NicRequest>, SelectionError> {
    let mut requests = raw_requests(pod, namespace, settings, nic, pools)?;
    for r in &mut requests {
        if !settings.enable_ipv4 {
            r.ipv4.clear();
        }
        if !settings.enable_ipv6 {
            r.ipv6.clear();
        }
    }
    // An `ippools` item without pools (for example the overlay's eth0 in the
    // positional form) asks nothing for its NIC; only the NIC being added must
    // get something.
    requests.retain(|r| r.nic == nic || !r.ipv4.is_empty() || !r.ipv6.is_empty());
    for r in &mut requests {
        if r.ipv4.is_empty() && r.ipv6.is_empty() {
            return Err(SelectionError::NoEnabledFamily { nic: r.nic.clone(), origin: r.origin });
        }
        r.ipv4 = expand(&r.ipv4, IpFamily::V4, pools, &r.nic, r.origin)?;
        r.ipv6 = expand(&r.ipv6, IpFamily::V6, pools, &r.nic, r.origin)?;
    }
    Ok(requests)
}

fn raw_requests(
    pod: &PodFacts,
    namespace: &NamespaceFacts,
    settings: &IpamSettings,
    nic: &str,
    pools: &[Arc<SpiderIPPool>],
) -> Result<Vec<NicRequest>, SelectionError> {
    if let Some(value) = pod.annotation(annotation::ANNO_POD_IPPOOLS) {
        let items = annotation::parse_pod_ippools(value)?;
        let networks = match pod.annotation(annotation::ANNO_MULTUS_NETWORKS) {
            Some(v) => annotation::parse_multus_networks(v).unwrap_or_default(),
            None => Vec::new(),
        };
        let positional = annotation::multus_interface_names(&networks);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let name = match &item.interface {
                Some(n) => n.clone(),
                None if i == 0 => annotation::default_nic_name(0),
                None => positional
                    .get(i - 1)
                    .cloned()
                    .unwrap_or_else(|| annotation::default_nic_name(i)),
            };
            out.push(NicRequest {
                nic: name,
                clean_gateway: item.clean_gateway,
                ipv4: item.ipv4.clone(),
                ipv6: item.ipv6.clone(),
                origin: CandidateSource::PodIpPools,
            });
        }
        if !out.iter().any(|r| r.nic == nic) {
            return Err(SelectionError::NicNotListed {
                nic: nic.to_string(),
                origin: CandidateSource::PodIpPools,
            });
        }
        return Ok(out);
    }
    let single = |ipv4: Vec<String>, ipv6: Vec<String>, origin| {
        Ok(vec![NicRequest {
            nic: nic.to_string(),
            clean_gateway: settings.clean_gateway,
            ipv4,
            ipv6,
            origin,
        }])
    };
    if let Some(value) = pod.annotation(annotation::ANNO_POD_IPPOOL) {
        let names = annotation::parse_pod_ippool(value)?;
        return single(names.ipv4, names.ipv6, CandidateSource::PodIpPool);
    }
    let ns_v4 = namespace.annotations.get(annotation::ANNO_NS_DEFAULT_IPV4_IPPOOL);
    let ns_v6 = namespace.annotations.get(annotation::ANNO_NS_DEFAULT_IPV6_IPPOOL);
    if ns_v4.is_some() || ns_v6.is_some() {
        let parse = |key: &str, v: Option<&String>| match v {
            Some(v) => annotation::parse_namespace_default_pools(key, v),
            None => Ok(Vec::new()),
        };
        let v4 = parse(annotation::ANNO_NS_DEFAULT_IPV4_IPPOOL, ns_v4)?;
        let v6 = parse(annotation::ANNO_NS_DEFAULT_IPV6_IPPOOL, ns_v6)?;
        if !v4.is_empty() || !v6.is_empty() {
            return single(v4, v6, CandidateSource::NamespaceDefault);
        }
    }
    if !settings.default_ipv4_ippool.is_empty() || !settings.default_ipv6_ippool.is_empty() {
        return single(
            settings.default_ipv4_ippool.clone(),
            settings.default_ipv6_ippool.clone(),
            CandidateSource::CniConfig,
        );
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut defaults: Vec<&Arc<SpiderIPPool>> =
        pools.iter().filter(|p| p.spec.default == Some(true)).collect();
    defaults.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for p in defaults {
        match pool_family(p) {
            Ok(IpFamily::V4) => v4.push(p.metadata.name_str().to_string()),
            Ok(IpFamily::V6) => v6.push(p.metadata.name_str().to_string()),
            Err(_) => {}
        }
    }
    if v4.is_empty() && v6.is_empty() {
        return Err(SelectionError::NoSelectionRule { nic: nic.to_string() });
    }
    single(v4, v6, CandidateSource::ClusterDefault)
}

/// Expands globs against the pools of `family` (by name order), keeps plain
/// names as they are, and rejects a plain name listed twice. A pool a glob
/// yields again is kept only at its first place. A non-empty list that expands
/// to nothing (only globs, none matching) is [`SelectionError::NoPoolMatches`]:
/// the family was asked for, so it must not silently drop out.
fn expand(
    names: &[String],
    family: IpFamily,
    pools: &[Arc<SpiderIPPool>],
    nic: &str,
    origin: CandidateSource,
) -> Result<Vec<String>, SelectionError> {
    let mut plain = HashSet::new();
    for n in names.iter().filter(|n| !annotation::is_glob(n)) {
        if !plain.insert(n.as_str()) {
            return Err(SelectionError::DuplicatePool {
                nic: nic.to_string(),
                family,
                pool: n.clone(),
                origin,
            });
        }
    }
    if !names.iter().any(|n| annotation::is_glob(n)) {
        return Ok(names.to_vec());
    }
    let mut of_family: Vec<&str> = pools
        .iter()
        .filter(|p| pool_family(p).ok() == Some(family))
        .map(|p| p.metadata.name_str())
        .collect();
    of_family.sort_unstable();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for n in names {
        if annotation::is_glob(n) {
            for candidate in &of_family {
                let hit = annotation::glob_match(n, candidate).map_err(|e| {
                    SelectionError::BadPattern {
                        nic: nic.to_string(),
                        pattern: n.clone(),
                        reason: e.to_string(),
                        origin,
                    }
                })?;
                if hit && !plain.contains(candidate) && seen.insert(candidate.to_string()) {
                    out.push(candidate.to_string());
                }
            }
        } else if seen.insert(n.clone()) {
            out.push(n.clone());
        }
    }
    if out.is_empty() {
        return Err(SelectionError::NoPoolMatches {
            nic: nic.to_string(),
            family,
            patterns: names.to_vec(),
            origin,
        });
    }
    Ok(out)
}

/// What the filters look at besides the pool.
#[derive(Debug, Clone, Copy)]
pub struct FilterContext<'a> {
    /// The pod.
    pub pod: &'a PodFacts,
    /// Its namespace.
    pub namespace: &'a NamespaceFacts,
    /// Its node.
    pub node: &'a NodeFacts,
    /// Cluster settings.
    pub settings: &'a IpamSettings,
}

impl FilterContext<'_> {
    /// The NetworkAttachmentDefinition that made `nic`, when the pod's Multus
    /// annotations (or `MULTUS_CLUSTER_NETWORK` for the first NIC) tell it.
    /// A malformed reference tells nothing.
    pub fn nad_of(&self, nic: &str) -> Option<NadRef> {
        let networks = self
            .pod
            .annotation(annotation::ANNO_MULTUS_NETWORKS)
            .and_then(|v| annotation::parse_multus_networks(v).ok())
            .unwrap_or_default();
        annotation::nad_for_nic(
            self.pod.annotation(annotation::ANNO_MULTUS_DEFAULT_NETWORK),
            self.settings.multus_cluster_network.as_deref(),
            &networks,
            nic,
            &self.pod.namespace,
            &self.settings.agent_namespace,
        )
        .ok()
        .flatten()
    }
}

/// Why `pool` cannot serve `family` on `nic`, or `None` when it can.
pub fn rule_out(
    pool: &SpiderIPPool,
    family: IpFamily,
    nic: &str,
    ctx: &FilterContext<'_>,
) -> Option<RuledOutReason> {
    let spec = &pool.spec;
    if pool.metadata.is_terminating() {
        return Some(RuledOutReason::Terminating);
    }
    if spec.disable == Some(true) {
        return Some(RuledOutReason::Disabled);
    }
    if let Some(c) = pool.status.as_ref().and_then(|s| s.overlapping()) {
        return Some(RuledOutReason::Overlapping(c.message.clone()));
    }
    match pool_family(pool) {
        Ok(f) if f == family => {}
        Ok(f) => return Some(RuledOutReason::WrongFamily(format!("pool is {f}, want {family}"))),
        Err(e) => return Some(RuledOutReason::WrongFamily(e.to_string())),
    }
    if !spec.node_name.is_empty() {
        if !spec.node_name.iter().any(|n| n == &ctx.node.name) {
            return Some(RuledOutReason::NodeName(ctx.node.name.clone()));
        }
    } else if let Some(sel) = &spec.node_affinity {
        match selector::matches(sel, &ctx.node.labels) {
            Ok(true) => {}
            Ok(false) => return Some(RuledOutReason::NodeAffinity(ctx.node.name.clone())),
            Err(e) => return Some(RuledOutReason::InvalidSelector(e.to_string())),
        }
    }
    if !spec.namespace_name.is_empty() {
        if !spec.namespace_name.iter().any(|n| n == &ctx.pod.namespace) {
            return Some(RuledOutReason::NamespaceName(ctx.pod.namespace.clone()));
        }
    } else if let Some(sel) = &spec.namespace_affinity {
        match selector::matches(sel, &ctx.namespace.labels) {
            Ok(true) => {}
            Ok(false) => {
                return Some(RuledOutReason::NamespaceAffinity(ctx.pod.namespace.clone()));
            }
            Err(e) => return Some(RuledOutReason::InvalidSelector(e.to_string())),
        }
    }
    if let Some(sel) = &spec.pod_affinity {
        match selector::matches(sel, &ctx.pod.labels) {
            Ok(true) => {}
            Ok(false) => return Some(RuledOutReason::PodAffinity),
            Err(e) => return Some(RuledOutReason::InvalidSelector(e.to_string())),
        }
    }
    if !spec.multus_name.is_empty() {
        let nad = ctx.nad_of(nic);
        let allowed = nad.as_ref().is_some_and(|nad| {
            spec.multus_name
                .iter()
                .any(|m| nad.matches_multus_name(m, &ctx.settings.agent_namespace))
        });
        if !allowed {
            return Some(RuledOutReason::MultusName(
                nad.map(|n| format!("{}/{}", n.namespace, n.name)),
            ));
        }
    }
    None
}

/// Spiderpool's pool priority: presence of podAffinity, nodeName, nodeAffinity,
/// namespaceName, namespaceAffinity, multusName, compared in that order.
pub fn priority(pool: &SpiderIPPool) -> [bool; 6] {
    let s = &pool.spec;
    [
        s.pod_affinity.is_some(),
        !s.node_name.is_empty(),
        s.node_affinity.is_some(),
        !s.namespace_name.is_empty(),
        s.namespace_affinity.is_some(),
        !s.multus_name.is_empty(),
    ]
}

/// Step 2: the pools one family of one NIC tries, in order, or one error listing
/// every pool and why it was ruled out.
pub fn candidates(
    request: &NicRequest,
    family: IpFamily,
    pools: &BTreeMap<&str, &Arc<SpiderIPPool>>,
    ctx: &FilterContext<'_>,
) -> Result<Vec<Arc<SpiderIPPool>>, SelectionError> {
    let mut kept = Vec::new();
    let mut ruled_out = Vec::new();
    for name in request.names(family) {
        let Some(pool) = pools.get(name.as_str()) else {
            ruled_out.push(RuledOut { pool: name.clone(), reason: RuledOutReason::NotFound });
            continue;
        };
        match rule_out(pool, family, &request.nic, ctx) {
            None => kept.push(Arc::clone(pool)),
            Some(reason) => ruled_out.push(RuledOut { pool: name.clone(), reason }),
        }
    }
    if kept.is_empty() {
        return Err(SelectionError::NoAvailablePool {
            nic: request.nic.clone(),
            family,
            origin: request.origin,
            ruled_out,
        });
    }
    // Stable: equal priorities keep the user's order.
    kept.sort_by_key(|p| std::cmp::Reverse(priority(p)));
    Ok(kept)
}

/// Families a NIC request allocates, IPv4 first.
pub fn families(request: &NicRequest, settings: &IpamSettings) -> Vec<IpFamily> {
    [IpFamily::V4, IpFamily::V6]
        .into_iter()
        .filter(|f| settings.enabled(*f) && !request.names(*f).is_empty())
        .collect()
}

#[cfg(test)]
mod tests;
