//! KubeVirt fixed addresses: a VM's launcher pods share the endpoint and the
//! pool records of its VirtualMachineInstance (reference §4.1 steps 3 and 5,
//! §4.7 step 4, §4.10).
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use super::*;
use crate::model::parse_allocated_ips;
use crate::pod::{KUBEVIRT_VMI_KIND, KubevirtFacts, OwnerFacts, PodContext};
use crate::store::MemoryStore;
use crate::store::contract::pool;

fn block<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A virt-launcher pod of VMI `vm1` (its VM live or not).
fn launcher(name: &str, uid: &str, vmi_live: bool, vm_live: bool) -> AllocateRequest {
    AllocateRequest {
        pod: PodFacts {
            namespace: "vms".into(),
            name: name.into(),
            uid: uid.into(),
            node: "node1".into(),
            owner: Some(OwnerFacts {
                kind: KUBEVIRT_VMI_KIND.into(),
                name: "vm1".into(),
                uid: Some("vmi-uid".into()),
                api_version: Some("kubevirt.io/v1".into()),
                statefulset: None,
                kubevirt: Some(KubevirtFacts { vmi_live, vm_live }),
            }),
            ..Default::default()
        },
        node: NodeFacts { name: "node1".into(), ..Default::default() },
        container_id: format!("ctr-{uid}"),
        nic: "net1".into(),
        settings: IpamSettings { default_ipv4_ippool: vec!["p".into()], ..Default::default() },
        ..Default::default()
    }
}

fn del(r: &AllocateRequest) -> ReleaseRequest {
    let ctx = PodContext { pod: r.pod.clone(), ..Default::default() };
    match release_decision(&ctx, ReleaseTrigger::CniDel, &r.container_id, None) {
        ReleaseDecision::Release(req) => *req,
        other => panic!("expected a release, got {other:?}"),
    }
}

fn records(a: &Allocator<MemoryStore>) -> crate::model::PoolIpAllocations {
    let pool = a.store().get_pool("p").unwrap().value;
    parse_allocated_ips(pool.status.unwrap().allocated_ips.as_deref()).unwrap()
}

#[test]
fn a_vms_launcher_pods_share_the_vmis_address_until_the_vm_is_gone() {
    let s = MemoryStore::new();
    s.put_pool(pool("p", "10.6.0.0/16", &["10.6.0.10-10.6.0.20"])).unwrap();
    let a = Allocator::new(s);
    block(a.allocate(&AllocateRequest {
        pod: PodFacts {
            namespace: "vms".into(),
            name: "x".into(),
            uid: "ux".into(),
            ..Default::default()
        },
        ..launcher("x", "ux", true, true)
    }))
    .unwrap();

    // First launcher pod: the endpoint and the record go by the VMI's name,
    // and the endpoint has no owner reference (it outlives the pod).
    let first = launcher("virt-launcher-vm1-aaaaa", "u1", true, true);
    let got = block(a.allocate(&first)).unwrap();
    let addr = got.ips[0].address.addr();
    assert_eq!(addr, ip("10.6.0.11"));
    let ep = block(a.store().get_endpoint("vms", "vm1")).unwrap().unwrap().value;
    assert_eq!(ep.status.current.uid, "u1");
    assert_eq!(ep.status.owner_controller_type, KUBEVIRT_VMI_KIND);
    assert!(ep.metadata.owner_references.is_none());
    assert!(block(a.store().get_endpoint("vms", "virt-launcher-vm1-aaaaa")).unwrap().is_none());
    assert_eq!(records(&a)["10.6.0.11"].pod, "vms/vm1");

    // The launcher pod goes (VM restart, migration): its DEL keeps the address.
    let out = block(a.release(&del(&first))).unwrap();
    assert!(out.released.is_empty(), "{out:?}");
    assert!(out.kept.unwrap().contains("VirtualMachineInstance vm1"));

    // The filler's lower address is freed: a fresh allocation would take it.
    block(a.release(&ReleaseRequest {
        namespace: "vms".into(),
        name: "x".into(),
        uid: Some("ux".into()),
        ..Default::default()
    }))
    .unwrap();

    // The next launcher pod (new name, new UID) gets the same address back.
    let second = launcher("virt-launcher-vm1-bbbbb", "u2", true, true);
    let again = block(a.allocate(&second)).unwrap();
    assert_eq!(again.ips[0].address.addr(), addr);
    assert_eq!(records(&a)["10.6.0.11"].pod_uid, "u2");
    let ep = block(a.store().get_endpoint("vms", "vm1")).unwrap().unwrap().value;
    assert_eq!(ep.status.current.uid, "u2");

    // A late DEL of the first launcher pod frees nothing (another UID holds it).
    let late = block(a.release(&del(&launcher("virt-launcher-vm1-aaaaa", "u1", false, false))));
    assert!(late.unwrap().released.is_empty());

    // VM stopped (VMI gone, VM kept): still kept.
    let stopped = block(a.release(&del(&launcher("virt-launcher-vm1-bbbbb", "u2", false, true))));
    assert!(stopped.unwrap().released.is_empty());

    // VM deleted: the DEL frees the address and the endpoint.
    let gone = block(a.release(&del(&launcher("virt-launcher-vm1-bbbbb", "u2", false, false))));
    assert_eq!(gone.unwrap().released, [("p".to_string(), addr)]);
    assert!(block(a.store().get_endpoint("vms", "vm1")).unwrap().is_none());
    assert!(!records(&a).contains_key("10.6.0.11"));
}

#[test]
fn a_batch_release_of_a_vms_conflicting_address_is_refused_and_a_plain_one_frees_it() {
    let s = MemoryStore::new();
    s.put_pool(pool("p", "10.6.0.0/16", &["10.6.0.10-10.6.0.20"])).unwrap();
    let a = Allocator::new(s);
    let r = launcher("virt-launcher-vm1-aaaaa", "u1", true, true);
    block(a.allocate(&r)).unwrap();
    let ctx = PodContext { pod: r.pod.clone(), registered: true, ..Default::default() };
    let refused = release_decision(&ctx, ReleaseTrigger::Batch { conflict_ips: true }, "", None);
    let ReleaseDecision::Refuse(why) = refused else { panic!("{refused:?}") };
    assert!(why.to_string().contains("VirtualMachineInstance vm1"), "{why}");
    // Without the flag (the plugin's own conflict path) the VM's addresses go,
    // read from the VMI's endpoint although the VMI lives.
    let ReleaseDecision::Release(req) =
        release_decision(&ctx, ReleaseTrigger::Batch { conflict_ips: false }, "", None)
    else {
        panic!()
    };
    assert_eq!(req.endpoint_name(), "vm1");
    let out = block(a.release(&req)).unwrap();
    assert_eq!(out.released, [("p".to_string(), ip("10.6.0.10"))]);
}
