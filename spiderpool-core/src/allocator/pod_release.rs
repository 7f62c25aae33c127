//! Which release a pod event asks for ([`release_decision`]): the agent
//! gathers the pod's [`PodContext`], this decides whether its addresses go,
//! and the [`ReleaseRequest`] the allocator then carries out (which keeps
//! the addresses of a StatefulSet member that is still in its set).

use std::fmt;

use super::ReleaseRequest;
use crate::pod::{OwnerFacts, PodContext};

/// What asks for a pod's addresses to be released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseTrigger {
    /// A CNI DEL (`DELETE /v1/ipam/ip`, or its line of the release journal).
    CniDel,
    /// The pod's `Pod` object was deleted.
    PodDeleted,
    /// `DELETE /v1/ipam/ips` (after an IP conflict); `conflict_ips` is its
    /// `isReleaseConflictIPs`.
    Batch {
        /// `isReleaseConflictIPs`.
        conflict_ips: bool,
    },
}

/// What to do with a pod's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseDecision {
    /// Release with this request (boxed: the other answers are small).
    Release(Box<ReleaseRequest>),
    /// Keep every address: nothing is released, and the request succeeds.
    Keep(KeepReason),
    /// Refuse the request.
    Refuse(RefuseReason),
}

/// Why a release keeps every address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepReason {
    /// A CNI DEL for a pod whose `Pod` object exists (same UID) and is
    /// alive: Spiderpool's rule, so the DEL of a sandbox restart does not free
    /// what the new sandbox gets back.
    LivePod,
    /// A deleted `Pod` object without a UID: nothing identifies what it held.
    NoUid,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeepReason::LivePod => {
                "the registered pod is still alive (delete the Pod object or mark it terminating to free its addresses)"
            }
            KeepReason::NoUid => "the deleted Pod object has no UID",
        })
    }
}

/// Why a release is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefuseReason {
    /// Releasing the conflicting IPs of a pod whose top controller is a
    /// StatefulSet (Spiderpool's 522): its addresses are its identity.
    StatefulPod {
        /// The StatefulSet.
        statefulset: String,
    },
    /// The same for a KubeVirt virt-launcher pod (Spiderpool's 522): the VM's
    /// addresses are its identity.
    KubevirtPod {
        /// The VirtualMachineInstance.
        vmi: String,
    },
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefuseReason::StatefulPod { statefulset } => write!(
                f,
                "releasing the IPs of a stateful pod (StatefulSet {statefulset}) is forbidden"
            ),
            RefuseReason::KubevirtPod { vmi } => write!(
                f,
                "releasing the IPs of a KubeVirt VM pod (VirtualMachineInstance {vmi}) is forbidden"
            ),
        }
    }
}

/// Decides what `trigger` does to the addresses of the pod of `ctx`, for the
/// records of `container_id` (empty: every container) and, with `network`,
/// of that CNI network only:
///
/// - a CNI DEL keeps everything while the pod is registered with the same
///   UID and alive ([`KeepReason::LivePod`]);
/// - a deleted `Pod` object without a UID keeps everything
///   ([`KeepReason::NoUid`]);
/// - a batch release of conflicting IPs of a StatefulSet or KubeVirt pod is
///   refused;
/// - otherwise the pod's records go, matched by UID (and container), except
///   a StatefulSet member's while it is in its set, and a KubeVirt VM's while
///   its VMI or VM lives (the request carries the owner; a batch release
///   carries no membership facts, and frees those too).
pub fn release_decision(
    ctx: &PodContext,
    trigger: ReleaseTrigger,
    container_id: &str,
    network: Option<&str>,
) -> ReleaseDecision {
    let pod = &ctx.pod;
    match trigger {
        ReleaseTrigger::CniDel
            if ctx.registered
                && ctx.not_alive.is_none()
                && ctx.stored_uid.as_deref().is_none_or(|s| s == pod.uid) =>
        {
            return ReleaseDecision::Keep(KeepReason::LivePod);
        }
        ReleaseTrigger::PodDeleted if pod.uid.is_empty() => {
            return ReleaseDecision::Keep(KeepReason::NoUid);
        }
        ReleaseTrigger::Batch { conflict_ips: true } if pod.is_statefulset_pod() => {
            return ReleaseDecision::Refuse(RefuseReason::StatefulPod {
                statefulset: pod.owner_name().to_string(),
            });
        }
        ReleaseTrigger::Batch { conflict_ips: true } if pod.is_kubevirt_pod() => {
            return ReleaseDecision::Refuse(RefuseReason::KubevirtPod {
                vmi: pod.owner_name().to_string(),
            });
        }
        _ => {}
    }
    let batch = matches!(trigger, ReleaseTrigger::Batch { .. });
    // A batch release frees a StatefulSet member's or a VM's addresses too,
    // so it carries no membership facts; a KubeVirt owner still names the
    // endpoint the addresses are recorded under.
    let owner = match &pod.owner {
        Some(o) if batch && o.is_kubevirt() => Some(OwnerFacts { kubevirt: None, ..o.clone() }),
        _ if batch => None,
        other => other.clone(),
    };
    ReleaseDecision::Release(Box::new(ReleaseRequest {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        uid: Some(pod.uid.clone()).filter(|u| !u.is_empty()),
        container_id: Some(container_id.to_string()).filter(|c| !c.is_empty()),
        owner,
        network: network.filter(|n| !n.is_empty()).map(str::to_string),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::{NotAlive, OwnerFacts, PodFacts, StatefulSetFacts};

    fn ctx(registered: bool, stored_uid: Option<&str>, uid: &str) -> PodContext {
        PodContext {
            pod: PodFacts {
                namespace: "ns".into(),
                name: "db-0".into(),
                uid: uid.into(),
                ..Default::default()
            },
            registered,
            stored_uid: stored_uid.map(str::to_string),
            ..Default::default()
        }
    }

    fn statefulset(mut c: PodContext) -> PodContext {
        c.pod.owner = Some(OwnerFacts {
            kind: "StatefulSet".into(),
            name: "db".into(),
            uid: None,
            api_version: None,
            statefulset: Some(StatefulSetFacts { replicas: 1, ordinal_start: None }),
            kubevirt: None,
        });
        c
    }

    fn released(d: ReleaseDecision) -> ReleaseRequest {
        match d {
            ReleaseDecision::Release(r) => *r,
            other => panic!("expected a release, got {other:?}"),
        }
    }

    #[test]
    fn a_cni_del_keeps_the_addresses_of_a_live_registered_pod() {
        let keep = ReleaseDecision::Keep(KeepReason::LivePod);
        let del = |c: &PodContext| release_decision(c, ReleaseTrigger::CniDel, "c1", None);
        assert_eq!(del(&ctx(true, Some("u1"), "u1")), keep);
        assert_eq!(del(&ctx(true, None, "u1")), keep, "stored without a UID");
        // The caller gave no UID: gathering took the stored one.
        assert_eq!(del(&ctx(true, Some("u1"), "u1")), keep);
        // Another pod of the same name, not registered, or not alive: released.
        assert!(matches!(del(&ctx(true, Some("u2"), "u1")), ReleaseDecision::Release(_)));
        assert!(matches!(del(&ctx(false, None, "u1")), ReleaseDecision::Release(_)));
        let mut gone = ctx(true, Some("u1"), "u1");
        gone.not_alive = Some(NotAlive::Evicted);
        let r = released(del(&gone));
        assert_eq!(r.uid.as_deref(), Some("u1"));
        assert_eq!(r.container_id.as_deref(), Some("c1"));
    }

    #[test]
    fn a_deleted_pod_releases_by_uid_and_keeps_the_statefulset_owner() {
        let none = ctx(true, None, "");
        assert_eq!(
            release_decision(&none, ReleaseTrigger::PodDeleted, "", None),
            ReleaseDecision::Keep(KeepReason::NoUid)
        );
        let member = statefulset(ctx(true, Some("u1"), "u1"));
        let r = released(release_decision(&member, ReleaseTrigger::PodDeleted, "", None));
        assert_eq!(r.uid.as_deref(), Some("u1"));
        assert_eq!(r.container_id, None);
        assert_eq!(r.owner.map(|o| o.kind).as_deref(), Some("StatefulSet"));
    }

    #[test]
    fn a_batch_release_drops_the_owner_and_refuses_stateful_conflicts() {
        let member = statefulset(ctx(true, Some("u1"), "u1"));
        let batch = |conflict_ips| ReleaseTrigger::Batch { conflict_ips };
        assert_eq!(
            release_decision(&member, batch(true), "c1", None),
            ReleaseDecision::Refuse(RefuseReason::StatefulPod { statefulset: "db".into() })
        );
        let r = released(release_decision(&member, batch(false), "c1", None));
        assert_eq!(r.owner, None, "a batch release frees a member's addresses too");
        let plain = ctx(true, Some("u1"), "u1");
        assert!(matches!(
            release_decision(&plain, batch(true), "", None),
            ReleaseDecision::Release(_)
        ));
    }

    #[test]
    fn empty_container_and_network_mean_any() {
        let c = ctx(false, None, "");
        let r = released(release_decision(&c, ReleaseTrigger::CniDel, "", Some("")));
        assert_eq!((r.uid, r.container_id, r.network), (None, None, None));
        let r = released(release_decision(&c, ReleaseTrigger::CniDel, "", Some("net-a")));
        assert_eq!(r.network.as_deref(), Some("net-a"));
    }

    #[test]
    fn reasons_read_as_the_agent_reports_them() {
        assert!(KeepReason::LivePod.to_string().starts_with("the registered pod is still alive"));
        assert_eq!(
            RefuseReason::StatefulPod { statefulset: "db".into() }.to_string(),
            "releasing the IPs of a stateful pod (StatefulSet db) is forbidden"
        );
    }
}
