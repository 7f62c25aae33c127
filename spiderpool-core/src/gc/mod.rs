//! IP garbage collection decisions: given what is known about a holder of
//! addresses (a pod named in pool records or in a SpiderEndpoint) and the
//! `Pod` object of that name, release or keep, and why ([`judge`]); and the
//! two-observation rule that a release must pass before it is carried out
//! ([`Suspects`]).
//!
//! The liveness rule is [`crate::pod::not_alive`], the StatefulSet rule
//! [`crate::pod::statefulset_keeps_addresses`]; nothing here restates them.
//! The release itself is the allocator's ([`crate::allocator::Allocator::release`]
//! for a holder whose SpiderEndpoint carries its UID, and the allocator's
//! compare-and-swap record removal by UID for a record without one), so a
//! record that another pod holds by the time of the write is never freed.
//!
//! KubeVirt: a VM's addresses are recorded under its VirtualMachineInstance's
//! name (the holder), and kept while the VMI or its VM lives
//! ([`crate::pod::kubevirt_keeps_addresses`]), whatever its launcher pods do.

use std::collections::BTreeMap;
use std::fmt;

use crate::pod::{
    NotAlive, OwnerFacts, PodView, kubevirt_keeps_addresses, not_alive, statefulset_keeps_addresses,
};

mod release;
mod suspects;

pub use release::{release_holder, release_record};

pub use suspects::{Observed, Suspects};

/// Who holds addresses: the pod a pool record or a SpiderEndpoint names,
/// with the UID it recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Holder {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// The pod UID the record or endpoint carries.
    pub uid: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} (uid {})", self.namespace, self.name, self.uid)
    }
}

/// What the collector knows about a holder at one observation.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The holder.
    pub holder: &'a Holder,
    /// The `Pod` object of the holder's namespace and name, if one exists
    /// (whatever its UID).
    pub pod: Option<&'a PodView>,
    /// The top controller: the existing pod's, else the one the holder's
    /// SpiderEndpoint records ([`crate::pod::owner_recorded_in`]).
    pub owner: Option<&'a OwnerFacts>,
    /// The pod's `metadata.deletionTimestamp` in Unix seconds, when set
    /// (Kubernetes sets it to the time the grace period ends).
    pub deletion_deadline: Option<i64>,
    /// Whether the pod's node (`spec.nodeName`) exists; `None` when the pod
    /// has no node or it is not known.
    pub node_exists: Option<bool>,
    /// Now, in Unix seconds.
    pub now: i64,
    /// Extra seconds after the end of a terminating pod's grace period.
    pub terminating_delay: i64,
}

/// What to do with a holder's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep them.
    Keep(KeepReason),
    /// Release them (after the second observation).
    Release(ReleaseReason),
}

/// Why addresses are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepReason {
    /// The pod exists with the holder's UID and is alive.
    Alive,
    /// A StatefulSet still counts the pod (its ordinal is below the replica
    /// count): the addresses are the member's, whichever UID holds them.
    StatefulSetMember {
        /// The StatefulSet.
        statefulset: String,
    },
    /// A KubeVirt VM's addresses (recorded under its VirtualMachineInstance)
    /// while the VMI or its VirtualMachine still exists.
    KubevirtMember {
        /// The VirtualMachineInstance.
        vmi: String,
    },
    /// The pod is terminating and its grace period (plus the delay) has
    /// not ended.
    InGracePeriod {
        /// When it ends, Unix seconds.
        until: i64,
    },
    /// The holder recorded no UID: nothing identifies what it held.
    NoUid,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::Alive => f.write_str("the pod is alive"),
            KeepReason::StatefulSetMember { statefulset } => {
                write!(f, "StatefulSet {statefulset} still counts the pod as a member")
            }
            KeepReason::KubevirtMember { vmi } => {
                write!(
                    f,
                    "KubeVirt VirtualMachineInstance {vmi} or its VirtualMachine still exists"
                )
            }
            KeepReason::InGracePeriod { until } => {
                write!(f, "the pod is terminating inside its grace period (ends at {until})")
            }
            KeepReason::NoUid => f.write_str("the record carries no pod UID"),
        }
    }
}

/// Why addresses are released; also the metric label.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseReason {
    /// No `Pod` object of that name exists.
    PodDeleted,
    /// A `Pod` of that name exists with another UID (a same-name successor).
    UidChanged {
        /// The UID of the existing pod.
        current: String,
    },
    /// The pod is terminating past its grace period.
    TerminatingOverdue,
    /// The pod finished (Succeeded/Failed) and will not run again.
    Finished(NotAlive),
    /// The pod's node no longer exists.
    NodeGone {
        /// The node.
        node: String,
    },
}

impl ReleaseReason {
    /// A short label, for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ReleaseReason::PodDeleted => "pod_deleted",
            ReleaseReason::UidChanged { .. } => "uid_changed",
            ReleaseReason::TerminatingOverdue => "terminating_overdue",
            ReleaseReason::Finished(_) => "pod_finished",
            ReleaseReason::NodeGone { .. } => "node_gone",
        }
    }

    /// Every label, for metrics.
    pub const LABELS: [&'static str; 5] =
        ["pod_deleted", "uid_changed", "terminating_overdue", "pod_finished", "node_gone"];
}

impl fmt::Display for ReleaseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseReason::PodDeleted => f.write_str("the Pod object is gone"),
            ReleaseReason::UidChanged { current } => {
                write!(f, "a Pod of the same name now has UID {current}")
            }
            ReleaseReason::TerminatingOverdue => {
                f.write_str("the pod is terminating past its grace period")
            }
            ReleaseReason::Finished(why) => write!(f, "the pod finished: {why}"),
            ReleaseReason::NodeGone { node } => write!(f, "node {node} no longer exists"),
        }
    }
}

/// Whether deciding for this pod needs its top controller: only when the
/// holder's addresses could go (pod gone, another UID, not alive, node gone).
/// An alive pod of the holder's UID on a node that exists keeps its
/// addresses whoever owns it, so the collector need not read its controller.
pub fn needs_owner(holder: &Holder, pod: Option<&PodView>, node_exists: Option<bool>) -> bool {
    match pod {
        None => true,
        Some(p) => {
            p.metadata.uid.as_deref() != Some(holder.uid.as_str())
                || not_alive(p).is_some()
                || node_exists == Some(false)
        }
    }
}

/// Release or keep the addresses of `facts.holder`:
///
/// 1. a holder without a UID keeps;
/// 2. a StatefulSet member that is still wanted keeps, whatever the state
///    of its pod (the agent's ADD of its successor rebinds the addresses),
///    and so does a KubeVirt VM whose VMI or VM lives;
/// 3. no pod → release ([`ReleaseReason::PodDeleted`]); a pod of another
///    UID → release ([`ReleaseReason::UidChanged`]);
/// 4. a terminating pod keeps until its deletion deadline plus the delay,
///    then releases; a finished pod ([`not_alive`]) releases;
/// 5. a pod on a node that no longer exists releases;
/// 6. otherwise the pod is alive and keeps.
pub fn judge(facts: &Facts<'_>) -> Verdict {
    let holder = facts.holder;
    if holder.uid.is_empty() {
        return Verdict::Keep(KeepReason::NoUid);
    }
    if let Some(owner) = facts.owner
        && owner.kind == "StatefulSet"
        && statefulset_keeps_addresses(&holder.name, owner.statefulset.as_ref())
    {
        return Verdict::Keep(KeepReason::StatefulSetMember { statefulset: owner.name.clone() });
    }
    if let Some(owner) = facts.owner
        && owner.is_kubevirt()
        && kubevirt_keeps_addresses(owner.kubevirt.as_ref())
    {
        return Verdict::Keep(KeepReason::KubevirtMember { vmi: owner.name.clone() });
    }
    let Some(pod) = facts.pod else {
        return Verdict::Release(ReleaseReason::PodDeleted);
    };
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    if uid != holder.uid {
        return Verdict::Release(ReleaseReason::UidChanged { current: uid.to_string() });
    }
    match not_alive(pod) {
        Some(NotAlive::Terminating { .. }) => {
            // A deletionTimestamp that does not parse: the pod is gone soon,
            // and the second observation catches it; keep now.
            let until =
                facts.deletion_deadline.unwrap_or(i64::MAX).saturating_add(facts.terminating_delay);
            if facts.now < until {
                return Verdict::Keep(KeepReason::InGracePeriod { until });
            }
            return Verdict::Release(ReleaseReason::TerminatingOverdue);
        }
        Some(finished) => return Verdict::Release(ReleaseReason::Finished(finished)),
        None => {}
    }
    if facts.node_exists == Some(false) {
        let node = pod.spec.node_name.clone().unwrap_or_default();
        return Verdict::Release(ReleaseReason::NodeGone { node });
    }
    Verdict::Keep(KeepReason::Alive)
}

/// Counts of decisions of one scan, by reason label (for metrics and logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Releases carried out, by [`ReleaseReason::label`].
    pub released: BTreeMap<&'static str, u64>,
    /// Holders suspected (first observation), waiting for the second.
    pub suspected: u64,
    /// Holders kept.
    pub kept: u64,
    /// Releases the fresh re-read of the pod cancelled.
    pub cancelled: u64,
}

#[cfg(test)]
mod tests;
