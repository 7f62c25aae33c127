//! The pod–host link of an ADD (reference §5.3 step 3): the `veth0` pair an
//! underlay pod gets on its first NIC (or finds on a later one), or the
//! overlay CNI's `eth0` and its host peer.

use super::build::{Builder, Families, PlanInput};
use super::error::PlanError;
use super::mac::{POD_VETH, host_veth_name, veth_mac};
use super::mode::Resolution;
use super::owner::{host_veth_conflict, veth_alias};
use super::plan::{Action, AddrOp, Item, LinkOp, ResolvedMode, Side};
use super::simulate::host_net;

/// The pod and host ends the plan wires up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Veth {
    /// The pod end (`veth0`, or the overlay `eth0`).
    pub pod_name: String,
    /// Its MAC.
    pub pod_mac: String,
    /// The host end.
    pub host_name: String,
    /// Its MAC.
    pub host_mac: String,
}

/// The pod–host link for this run: created (underlay, first invoke), found
/// (underlay on a later NIC) or the overlay `eth0` with its host peer.
pub(crate) fn setup_veth(
    b: &mut Builder,
    input: &PlanInput,
    res: &Resolution,
    fam: Families,
) -> Result<Veth, PlanError> {
    match (res.mode, res.first_invoke) {
        (ResolvedMode::Underlay, true) => create_veth_pair(b, input, fam),
        (ResolvedMode::Underlay, false) => find_veth_pair(b, input),
        _ => overlay_peer(b, input),
    }
}

/// Underlay, first invoke: `veth0` with its peer `veth<id>` on the host, the
/// ownership alias on a host end this plan creates, and `vethLinkAddress`.
/// A `veth0` that already exists keeps its MACs (re-planning).
pub(crate) fn create_veth_pair(
    b: &mut Builder,
    input: &PlanInput,
    fam: Families,
) -> Result<Veth, PlanError> {
    let cfg = &input.config;
    let host_name = underlay_host_name(input)?;
    if let Some(taken) = host_veth_conflict(&b.host, &b.pod, &input.container_id) {
        return Err(taken);
    }
    let creates = !b.host.links.iter().any(|l| l.name == host_name);
    let pod_mac = veth_mac(&input.container_id, Side::Pod);
    let host_mac = veth_mac(&input.container_id, Side::Host);
    b.push(
        Side::Pod,
        Action::Add,
        Item::Link(LinkOp {
            ifname: POD_VETH.to_owned(),
            kind: Some("veth".to_owned()),
            peer: Some(host_name.clone()),
            peer_address: Some(host_mac.clone()),
            address: Some(pod_mac.clone()),
            mtu: Some(cfg.veth_mtu),
            txqlen: None,
            up: Some(true),
            alias: None,
        }),
    );
    // The ownership mark DEL checks (the kernel takes no alias in the
    // request that creates the pair; the MAC covers the gap).
    if creates {
        b.push(
            Side::Host,
            Action::Set,
            Item::Link(LinkOp {
                ifname: host_name.clone(),
                alias: Some(veth_alias(&input.container_id)),
                ..LinkOp::default()
            }),
        );
    }
    if let Some(addr) = cfg.veth_link_address
        && fam.v4
    {
        b.push(
            Side::Pod,
            Action::Add,
            Item::Addr(AddrOp { dev: POD_VETH.to_owned(), local: host_net(addr) }),
        );
    }
    let pod_mac = b.pod.link(POD_VETH).and_then(|l| l.mac.clone()).unwrap_or(pod_mac);
    let host_mac = b
        .host
        .links
        .iter()
        .find(|l| l.name == host_name)
        .and_then(|l| l.mac.clone())
        .unwrap_or(host_mac);
    Ok(Veth { pod_name: POD_VETH.to_owned(), pod_mac, host_name, host_mac })
}

/// Underlay on a later NIC: the `veth0` pair the first NIC's run created,
/// with both MACs.
pub(crate) fn find_veth_pair(b: &Builder, input: &PlanInput) -> Result<Veth, PlanError> {
    let host_name = underlay_host_name(input)?;
    let pod_mac = b
        .pod
        .link(POD_VETH)
        .and_then(|l| l.mac.clone())
        .ok_or_else(|| PlanError::NoMac { side: "pod", name: POD_VETH.to_owned() })?;
    let host = b.host.links.iter().find(|l| l.name == host_name).ok_or_else(|| {
        PlanError::HostVethNotFound { name: host_name.clone(), pod_side: POD_VETH.to_owned() }
    })?;
    let host_mac = host
        .mac
        .clone()
        .ok_or_else(|| PlanError::NoMac { side: "host", name: host_name.clone() })?;
    Ok(Veth { pod_name: POD_VETH.to_owned(), pod_mac, host_name, host_mac })
}

/// `veth<containerID[:11]>`; an empty container ID is an error.
fn underlay_host_name(input: &PlanInput) -> Result<String, PlanError> {
    if input.container_id.is_empty() {
        return Err(PlanError::EmptyContainerId);
    }
    Ok(host_veth_name(&input.container_id))
}

/// Overlay: the first NIC (`podDefaultCniNic`) and the host link its peer
/// index points at, with both MACs.
pub(crate) fn overlay_peer(b: &Builder, input: &PlanInput) -> Result<Veth, PlanError> {
    let first = input.config.pod_default_cni_nic.clone();
    let eth0 = b.pod.link(&first).ok_or_else(|| PlanError::FirstNicNotFound {
        ifname: input.ifname.clone(),
        first: first.clone(),
    })?;
    let pod_mac =
        eth0.mac.clone().ok_or_else(|| PlanError::NoMac { side: "pod", name: first.clone() })?;
    let peer = eth0.peer_index.and_then(|i| b.host.links.iter().find(|l| l.index == i));
    let host = peer.ok_or_else(|| PlanError::HostVethNotFound {
        name: eth0
            .peer_index
            .map_or_else(|| "unknown (no peer index)".to_owned(), |i| format!("ifindex {i}")),
        pod_side: first.clone(),
    })?;
    let host_mac = host
        .mac
        .clone()
        .ok_or_else(|| PlanError::NoMac { side: "host", name: host.name.clone() })?;
    Ok(Veth { pod_name: first, pod_mac, host_name: host.name.clone(), host_mac })
}
