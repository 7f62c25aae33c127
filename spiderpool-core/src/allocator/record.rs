//! The pool record (`status.allocatedIPs` entry) a pod's NIC gets, shared by
//! a fresh allocation and a rebind.

use super::AllocateRequest;
use crate::model::PoolIpAllocation;

/// The record of `nic` for the pod of `req`: pod (`namespace/<endpoint
/// name>`, the VMI's name for a KubeVirt pod), UID, container, node, and
/// the ADD's network on its own NIC ([`network_of`]).
pub(super) fn pod_record(req: &AllocateRequest, nic: &str) -> PoolIpAllocation {
    PoolIpAllocation {
        pod: req.pod.record_key(),
        pod_uid: req.pod.uid.clone(),
        container_id: Some(req.container_id.clone()).filter(|c| !c.is_empty()),
        interface: Some(nic.to_string()),
        node: Some(req.node.name.clone()).filter(|n| !n.is_empty()),
        network: network_of(req, nic),
    }
}

/// The network to record for `nic`: the ADD's own network on its own NIC,
/// nothing on the other NICs it allocates or rebinds.
pub(super) fn network_of(req: &AllocateRequest, nic: &str) -> Option<String> {
    req.network.clone().filter(|n| !n.is_empty() && nic == req.nic)
}

/// `record`, with the network `held` records when `record` names none (an ADD
/// of another NIC, or a caller that does not know the network, keeps it).
pub(super) fn keeping_network(
    mut want: PoolIpAllocation,
    held: &PoolIpAllocation,
) -> PoolIpAllocation {
    if want.network.is_none() {
        want.network = held.network.clone();
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::{NodeFacts, PodFacts};

    fn req(network: Option<&str>) -> AllocateRequest {
        AllocateRequest {
            pod: PodFacts {
                namespace: "ns".into(),
                name: "p".into(),
                uid: "u1".into(),
                ..Default::default()
            },
            node: NodeFacts { name: "n1".into(), ..Default::default() },
            container_id: "c1".into(),
            nic: "net1".into(),
            network: network.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn a_record_names_the_pod_and_the_network_only_on_the_adds_own_nic() {
        let r = req(Some("macvlan-a"));
        let own = pod_record(&r, "net1");
        assert_eq!(own.pod, "ns/p");
        assert_eq!(own.pod_uid, "u1");
        assert_eq!(own.container_id.as_deref(), Some("c1"));
        assert_eq!(own.interface.as_deref(), Some("net1"));
        assert_eq!(own.node.as_deref(), Some("n1"));
        assert_eq!(own.network.as_deref(), Some("macvlan-a"));
        assert_eq!(pod_record(&r, "net2").network, None);
        assert_eq!(pod_record(&req(Some("")), "net1").network, None);
        let mut bare = req(None);
        bare.container_id.clear();
        bare.node.name.clear();
        let rec = pod_record(&bare, "net1");
        assert_eq!((rec.container_id, rec.node), (None, None));
    }

    #[test]
    fn a_record_without_a_network_keeps_the_held_one() {
        let held = pod_record(&req(Some("old")), "net1");
        assert_eq!(keeping_network(pod_record(&req(None), "net1"), &held).network, held.network);
        let new = pod_record(&req(Some("new")), "net1");
        assert_eq!(keeping_network(new, &held).network.as_deref(), Some("new"));
    }
}
