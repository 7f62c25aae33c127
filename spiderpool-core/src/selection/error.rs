//! Why selection fails: the pools ruled out for a NIC and family, and the
//! errors that name the NIC, the family and where the pool names came from.

use std::fmt;

use super::CandidateSource;
use crate::annotation::AnnotationError;
use crate::autopool::AutoPoolRequestError;
use crate::ip::IpFamily;

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
    /// The pool is another application's auto-pool: `Kind ns/name` of the
    /// pod's application.
    AutoPoolAffinity(String),
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
            RuledOutReason::AutoPoolAffinity(app) => {
                write!(f, "auto-pool of another application (spec.podAffinity), not of {app}")
            }
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
    /// The pod's SpiderSubnet annotations cannot be served.
    #[error(transparent)]
    AutoPool(Box<AutoPoolRequestError>),
    /// The pod's pools come from its subnet annotation, but the caller did
    /// not resolve its auto-pools ([`super::IpamSettings::auto_pools`]).
    #[error("{annotation}: NIC {nic}: the application's auto-pools were not resolved")]
    AutoPoolUnresolved {
        /// The NIC.
        nic: String,
        /// The annotation.
        annotation: &'static str,
    },
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

impl From<AutoPoolRequestError> for SelectionError {
    fn from(e: AutoPoolRequestError) -> Self {
        SelectionError::AutoPool(Box::new(e))
    }
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
