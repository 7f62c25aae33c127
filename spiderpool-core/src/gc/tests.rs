use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::pod::StatefulSetFacts;

fn holder(name: &str, uid: &str) -> Holder {
    Holder { namespace: "ns".into(), name: name.into(), uid: uid.into() }
}

fn pod(v: serde_json::Value) -> PodView {
    serde_json::from_value(v).unwrap_or_default()
}

fn running(uid: &str) -> PodView {
    pod(json!({"metadata":{"uid":uid},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}}))
}

fn set(replicas: i32) -> OwnerFacts {
    OwnerFacts {
        kind: "StatefulSet".into(),
        name: "db".into(),
        uid: None,
        api_version: None,
        statefulset: Some(StatefulSetFacts { replicas, ordinal_start: None }),
        kubevirt: None,
    }
}

fn facts<'a>(h: &'a Holder, pod: Option<&'a PodView>, owner: Option<&'a OwnerFacts>) -> Facts<'a> {
    Facts {
        holder: h,
        pod,
        owner,
        deletion_deadline: None,
        node_exists: Some(true),
        now: 1000,
        terminating_delay: 0,
    }
}

#[test]
fn an_alive_pod_of_the_same_uid_keeps() {
    let h = holder("web", "u1");
    let p = running("u1");
    assert_eq!(judge(&facts(&h, Some(&p), None)), Verdict::Keep(KeepReason::Alive));
    assert!(!needs_owner(&h, Some(&p), Some(true)));
}

#[test]
fn a_deleted_pod_releases_unless_it_is_a_wanted_statefulset_member() {
    let h = holder("db-1", "u1");
    assert_eq!(judge(&facts(&h, None, None)), Verdict::Release(ReleaseReason::PodDeleted));
    assert!(needs_owner(&h, None, None));
    let wanted = set(2);
    assert_eq!(
        judge(&facts(&h, None, Some(&wanted))),
        Verdict::Keep(KeepReason::StatefulSetMember { statefulset: "db".into() })
    );
    let scaled_down = set(1);
    assert_eq!(
        judge(&facts(&h, None, Some(&scaled_down))),
        Verdict::Release(ReleaseReason::PodDeleted)
    );
}

/// Spiderpool #1187: a same-name pod re-created with a new UID.
#[test]
fn issue_1187_a_same_name_pod_with_a_new_uid_releases_the_old_records() {
    let h = holder("web", "old");
    let p = running("new");
    assert!(needs_owner(&h, Some(&p), Some(true)));
    assert_eq!(
        judge(&facts(&h, Some(&p), None)),
        Verdict::Release(ReleaseReason::UidChanged { current: "new".into() })
    );
}

/// Spiderpool #2442: a StatefulSet pod restarted with a new UID keeps its IP.
#[test]
fn issue_2442_a_restarted_statefulset_member_keeps_under_its_old_uid() {
    let h = holder("db-0", "old");
    let p = pod(json!({"metadata":{"uid":"new"},"status":{"phase":"Pending"}}));
    let owner = set(1);
    assert!(matches!(
        judge(&facts(&h, Some(&p), Some(&owner))),
        Verdict::Keep(KeepReason::StatefulSetMember { .. })
    ));
}

/// Spiderpool #4864: a terminating pod inside its grace period keeps its IP.
#[test]
fn issue_4864_terminating_pods_keep_until_their_grace_period_ends() {
    let h = holder("web", "u1");
    let p =
        pod(json!({"metadata":{"uid":"u1","deletionTimestamp":"t"},"status":{"phase":"Running"}}));
    let mut f = facts(&h, Some(&p), None);
    f.deletion_deadline = Some(1030);
    f.terminating_delay = 5;
    assert_eq!(judge(&f), Verdict::Keep(KeepReason::InGracePeriod { until: 1035 }));
    f.now = 1035;
    assert_eq!(judge(&f), Verdict::Release(ReleaseReason::TerminatingOverdue));
    f.deletion_deadline = None;
    assert!(matches!(judge(&f), Verdict::Keep(KeepReason::InGracePeriod { .. })), "unparsed: keep");
}

#[test]
fn finished_pods_and_pods_on_gone_nodes_release() {
    let h = holder("job", "u1");
    let done = pod(
        json!({"metadata":{"uid":"u1"},"spec":{"restartPolicy":"Never"},"status":{"phase":"Succeeded"}}),
    );
    assert!(matches!(
        judge(&facts(&h, Some(&done), None)),
        Verdict::Release(ReleaseReason::Finished(NotAlive::Succeeded { .. }))
    ));
    let p = running("u1");
    let mut f = facts(&h, Some(&p), None);
    f.node_exists = Some(false);
    assert!(needs_owner(&h, Some(&p), Some(false)));
    assert_eq!(judge(&f), Verdict::Release(ReleaseReason::NodeGone { node: "n1".into() }));
    let member = set(3);
    let h0 = holder("db-0", "u1");
    let mut f = facts(&h0, Some(&p), Some(&member));
    f.node_exists = Some(false);
    assert!(matches!(judge(&f), Verdict::Keep(KeepReason::StatefulSetMember { .. })));
}

#[test]
fn a_holder_without_uid_keeps() {
    let h = holder("web", "");
    assert_eq!(judge(&facts(&h, None, None)), Verdict::Keep(KeepReason::NoUid));
}

#[test]
fn reasons_have_stable_labels_and_readable_text() {
    for r in [
        ReleaseReason::PodDeleted,
        ReleaseReason::UidChanged { current: "x".into() },
        ReleaseReason::TerminatingOverdue,
        ReleaseReason::Finished(NotAlive::Evicted),
        ReleaseReason::NodeGone { node: "n".into() },
    ] {
        assert!(ReleaseReason::LABELS.contains(&r.label()));
        assert!(!r.to_string().is_empty());
    }
    assert_eq!(
        KeepReason::StatefulSetMember { statefulset: "db".into() }.to_string(),
        "StatefulSet db still counts the pod as a member"
    );
}

#[test]
fn a_release_needs_two_observations_a_grace_period_apart() {
    let mut s = Suspects::new();
    let h = holder("web", "u1");
    assert_eq!(s.observe(&h, true, 0, 100), Observed::First);
    assert_eq!(s.observe(&h, true, 50, 100), Observed::Waiting { since_ms: 50 });
    assert_eq!(s.observe(&h, true, 100, 100), Observed::Confirmed);
    // A keep in between starts over.
    assert_eq!(s.observe(&h, false, 120, 100), Observed::Cleared);
    assert_eq!(s.observe(&h, true, 130, 100), Observed::First);
    assert_eq!(s.observe(&h, true, 200, 100), Observed::Waiting { since_ms: 70 });
    // Another UID of the same pod is another holder.
    let other = holder("web", "u2");
    assert_eq!(s.observe(&other, true, 300, 100), Observed::First);
    s.retain_seen(&BTreeSet::from([other.clone()]));
    assert_eq!(s.len(), 1);
    s.forget(&other);
    assert!(s.is_empty());
}

mod release {
    use std::net::IpAddr;

    use crate::allocator::{AllocateRequest, Allocator};
    use crate::gc::{Holder, release_holder, release_record};
    use crate::pod::{NamespaceFacts, NodeFacts, PodFacts};
    use crate::selection::IpamSettings;
    use crate::store::contract::pool;
    use crate::store::{EndpointStore, MemoryStore, PoolStore};

    fn block<F: std::future::Future>(f: F) -> F::Output {
        pollster::block_on(f)
    }

    fn req(name: &str, uid: &str) -> AllocateRequest {
        AllocateRequest {
            pod: PodFacts {
                namespace: "ns".into(),
                name: name.into(),
                uid: uid.into(),
                ..Default::default()
            },
            namespace: NamespaceFacts { name: "ns".into(), ..Default::default() },
            node: NodeFacts { name: "n1".into(), ..Default::default() },
            container_id: format!("ctr-{uid}"),
            nic: "eth0".into(),
            settings: IpamSettings { default_ipv4_ippool: vec!["p".into()], ..Default::default() },
            network: None,
        }
    }

    fn allocator() -> Allocator<MemoryStore> {
        let s = MemoryStore::new();
        s.put_pool(pool("p", "10.0.0.0/24", &["10.0.0.1-10.0.0.9"])).unwrap();
        Allocator::new(s)
    }

    fn holder_uid(a: &Allocator<MemoryStore>, ip: IpAddr) -> Option<String> {
        block(a.store().read_pool("p", |s| s.record(&ip).map(|r| r.pod_uid.clone())))
            .unwrap()
            .and_then(|v| v.value)
    }

    #[test]
    fn a_holder_with_its_endpoint_loses_records_and_endpoint() {
        let a = allocator();
        let ip = block(a.allocate(&req("web", "u1"))).unwrap().ips[0].address.addr();
        let h = Holder { namespace: "ns".into(), name: "web".into(), uid: "u1".into() };
        let out = block(release_holder(&a, &h, true, None, &[("p".into(), ip)])).unwrap();
        assert_eq!(out.released, vec![("p".to_string(), ip)]);
        assert_eq!(holder_uid(&a, ip), None);
        assert!(block(a.store().get_endpoint("ns", "web")).unwrap().is_none());
    }

    #[test]
    fn a_record_another_uid_holds_is_never_freed() {
        let a = allocator();
        let ip = block(a.allocate(&req("web", "u2"))).unwrap().ips[0].address.addr();
        let stale = Holder { namespace: "ns".into(), name: "web".into(), uid: "u1".into() };
        let out = block(release_holder(&a, &stale, true, None, &[("p".into(), ip)])).unwrap();
        assert!(out.released.is_empty(), "{out:?}");
        assert!(out.kept.is_some(), "the endpoint is u2's");
        let out = block(release_holder(&a, &stale, false, None, &[("p".into(), ip)])).unwrap();
        assert!(out.released.is_empty());
        assert!(!block(release_record(&a, "p", ip, "u1")).unwrap());
        assert_eq!(holder_uid(&a, ip).as_deref(), Some("u2"));
        assert!(block(a.store().get_endpoint("ns", "web")).unwrap().is_some());
    }
}

#[test]
fn a_vms_addresses_stay_while_its_vmi_or_vm_lives() {
    use crate::pod::{KUBEVIRT_VMI_KIND, KubevirtFacts};
    // The holder is the VMI (records say `ns/vm1`); no Pod has that name.
    let h = holder("vm1", "launcher-uid");
    let vmi = |vmi_live, vm_live| OwnerFacts {
        kind: KUBEVIRT_VMI_KIND.into(),
        name: "vm1".into(),
        kubevirt: Some(KubevirtFacts { vmi_live, vm_live }),
        ..OwnerFacts::default()
    };
    let keep = Verdict::Keep(KeepReason::KubevirtMember { vmi: "vm1".into() });
    assert_eq!(judge(&facts(&h, None, Some(&vmi(true, true)))), keep);
    assert_eq!(judge(&facts(&h, None, Some(&vmi(false, true)))), keep, "stopped VM");
    assert_eq!(
        judge(&facts(&h, None, Some(&vmi(false, false)))),
        Verdict::Release(ReleaseReason::PodDeleted)
    );
    assert!(keep_reason_text(&keep).contains("VirtualMachineInstance vm1"));
}

fn keep_reason_text(v: &Verdict) -> String {
    match v {
        Verdict::Keep(k) => k.to_string(),
        Verdict::Release(r) => r.to_string(),
    }
}
