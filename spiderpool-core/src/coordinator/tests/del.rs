//! The DEL plan and host veth ownership (issue 9 item 8): container IDs that
//! share their first 11 characters share the host veth name, and one
//! container's DEL must never delete the other's veth.

use super::*;
use crate::coordinator::mac::{host_veth_name, veth_mac};
use crate::coordinator::plan::{Action, Item, LinkOp, Op, Side};
use crate::coordinator::plan_del;

/// Another container whose ID shares [`CID`]'s first 11 characters.
const OTHER: &str = "0123456789aZZZZZZZZZ";

fn underlay_pod(with_veth0: bool) -> NetnsView {
    let mut links = vec![lo(), link(2, "eth0", "02:00:00:00:00:02")];
    if with_veth0 {
        links.push(link(3, "veth0", "02:00:00:00:00:03"));
    }
    NetnsView { links, addresses: vec![a("eth0", "10.6.1.2/16")], ..NetnsView::default() }
}

fn host_with(veth: LinkView) -> HostView {
    HostView { links: vec![veth], ..HostView::default() }
}

fn deletes_host_veth(plan: &RoutePlan) -> bool {
    plan.ops.iter().any(|op| {
        op.side == Side::Host
            && op.action == Action::Del
            && matches!(&op.item, Item::Link(l) if l.ifname == host_veth_name(CID))
    })
}

#[test]
fn del_of_a_container_sharing_the_first_11_characters_spares_the_other_containers_veth() {
    assert_eq!(host_veth_name(OTHER), host_veth_name(CID), "the names collide");
    // The veth was made by OTHER (its MAC is derived from OTHER's full ID).
    let veth = link(9, &host_veth_name(CID), &veth_mac(OTHER, Side::Host));
    for with_veth0 in [false, true] {
        let plan = plan_del(&input(
            cfg(ModeSetting::Underlay),
            "eth0",
            underlay_pod(with_veth0),
            host_with(veth.clone()),
        ));
        assert!(!deletes_host_veth(&plan), "veth0 in the pod: {with_veth0}: {:?}", plan.ops);
    }
    // A MAC that is nobody's derived MAC (Go Spiderpool's random MACs): not
    // provably ours either.
    let random = link(9, &host_veth_name(CID), "ae:01:02:03:04:05");
    let plan =
        plan_del(&input(cfg(ModeSetting::Underlay), "eth0", underlay_pod(true), host_with(random)));
    assert!(!deletes_host_veth(&plan), "{:?}", plan.ops);
}

#[test]
fn del_removes_a_host_veth_with_this_containers_derived_mac() {
    let veth = link(9, &host_veth_name(CID), &veth_mac(CID, Side::Host));
    let plan =
        plan_del(&input(cfg(ModeSetting::Underlay), "eth0", underlay_pod(false), host_with(veth)));
    assert_eq!(
        plan.ops.first(),
        Some(&Op {
            side: Side::Host,
            action: Action::Del,
            item: Item::Link(LinkOp { ifname: host_veth_name(CID), ..LinkOp::default() }),
        })
    );
}

#[test]
fn del_trusts_the_alias_over_the_mac() {
    // OTHER's alias on a link that happens to carry CID's MAC: not ours.
    let mut veth = link(9, &host_veth_name(CID), &veth_mac(CID, Side::Host));
    veth.ifalias = Some(crate::coordinator::veth_alias(OTHER));
    let plan = plan_del(&input(
        cfg(ModeSetting::Underlay),
        "eth0",
        underlay_pod(false),
        host_with(veth.clone()),
    ));
    assert!(!deletes_host_veth(&plan), "{:?}", plan.ops);
    // CID's alias on a link whose MAC someone changed: ours.
    veth.mac = Some("02:00:00:00:00:09".into());
    veth.ifalias = Some(crate::coordinator::veth_alias(CID));
    let plan =
        plan_del(&input(cfg(ModeSetting::Underlay), "eth0", underlay_pod(false), host_with(veth)));
    assert!(deletes_host_veth(&plan), "{:?}", plan.ops);
}

/// An underlay pod before the coordinator ran: macvlan `eth0` only.
fn fresh_underlay() -> PlanInput {
    let pod = NetnsView {
        links: vec![lo(), link(2, "eth0", "02:00:00:00:00:02")],
        addresses: vec![a("eth0", "10.6.1.2/16")],
        routes: vec![
            r("default via 10.6.0.1 dev eth0"),
            r("10.6.0.0/16 dev eth0 proto kernel scope link src 10.6.1.2"),
        ],
        rules: default_rules(V4),
    };
    let host = HostView { pod_host_ips: vec![ip("10.6.0.100")], ..HostView::default() };
    input(cfg(ModeSetting::Underlay), "eth0", pod, host)
}

fn alias_ops(plan: &RoutePlan) -> Vec<&LinkOp> {
    plan.ops
        .iter()
        .filter_map(|op| match &op.item {
            Item::Link(l) if l.alias.is_some() => {
                assert_eq!((op.side, op.action), (Side::Host, Action::Set));
                Some(l)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn add_marks_the_host_veth_it_creates_with_the_full_container_id() {
    let (plan, pod, host) = run(&fresh_underlay());
    let marks = alias_ops(&plan);
    assert_eq!(marks.len(), 1, "{:?}", plan.ops);
    assert_eq!(marks[0].ifname, host_veth_name(CID));
    assert_eq!(marks[0].alias.as_deref(), Some("spiderpool-coordinator:0123456789abcdef0123"));
    // Right after the pair is created.
    let create =
        plan.ops.iter().position(|op| matches!(&op.item, Item::Link(l) if l.peer.is_some()));
    let mark =
        plan.ops.iter().position(|op| matches!(&op.item, Item::Link(l) if l.alias.is_some()));
    assert_eq!(mark, create.map(|i| i + 1));
    // Re-planning (CHECK, a repeated ADD) on the result does not mark again,
    // so veths made before the alias existed still pass CHECK.
    let again = PlanInput { pod, host, ..fresh_underlay() };
    assert!(alias_ops(&plan_add(&again).unwrap()).is_empty());
}

#[test]
fn add_refuses_a_host_veth_name_another_container_holds() {
    let mut taken = fresh_underlay();
    let mut veth = link(9, &host_veth_name(CID), &veth_mac(OTHER, Side::Host));
    veth.ifalias = Some(crate::coordinator::veth_alias(OTHER));
    taken.host.links.push(veth);
    assert_eq!(
        plan_add(&taken).unwrap_err().to_string(),
        format!(
            "host veth \"{}\" already exists and belongs to container {OTHER} (container IDs \
             that share their first 11 characters get the same host veth name)",
            host_veth_name(CID)
        )
    );
}

/// The partial input a DEL reads ([`DelView`]: pod links and addresses, the
/// one host link by name) plans exactly what the full views plan, in every
/// mode, whoever holds the host veth and whether `veth0` is still in the pod.
#[test]
fn del_over_the_partial_del_view_plans_what_the_full_views_plan() {
    use crate::coordinator::{DelView, Rule, veth_alias};
    let ours = link(9, &host_veth_name(CID), &veth_mac(CID, Side::Host));
    let mut others = link(9, &host_veth_name(CID), &veth_mac(OTHER, Side::Host));
    others.ifalias = Some(veth_alias(OTHER));
    let unrelated = link(7, "veth99999999999", "02:00:00:00:00:07");
    let modes =
        [ModeSetting::Underlay, ModeSetting::Overlay, ModeSetting::Auto, ModeSetting::Disabled];
    let mut deleted_veth = 0;
    for mode in modes {
        for host_veth in [None, Some(ours.clone()), Some(others.clone())] {
            for (ifname, with_veth0) in [("eth0", true), ("eth0", false), ("net1", false)] {
                let mut pod = fresh_underlay().pod;
                if with_veth0 {
                    pod.links.push(link(3, "veth0", "02:00:00:00:00:03"));
                }
                pod.links.push(link(4, "net1", "02:00:00:00:00:04"));
                pod.addresses.push(a("net1", "10.7.1.2/16"));
                pod.addresses.push(a("net1", "fd00::2/64"));
                pod.addresses.push(a("net1", "fe80::4/64"));
                let host = HostView {
                    pod_host_ips: vec![ip("10.6.0.100")],
                    links: [Some(unrelated.clone()), host_veth.clone()]
                        .into_iter()
                        .flatten()
                        .collect(),
                    rules: vec![Rule::lookup(V4, 500)],
                    routes: vec![r("10.6.1.2/32 dev eth0 table 500")],
                };
                let full = input(cfg(mode), ifname, pod.clone(), host);
                let partial = PlanInput::for_del(
                    cfg(mode),
                    CID.to_owned(),
                    ifname.to_owned(),
                    DelView {
                        pod_links: pod.links.clone(),
                        pod_addresses: pod.addresses.clone(),
                        host_veth: host_veth.clone(),
                    },
                );
                let plan = plan_del(&full);
                assert_eq!(plan_del(&partial), plan, "{mode:?} {ifname} {host_veth:?}");
                deleted_veth += usize::from(deletes_host_veth(&plan));
            }
        }
    }
    // Not vacuous: our veth is deleted in the three enabled modes, three
    // pod shapes each.
    assert_eq!(deleted_veth, 9);
    // A link of another name is not taken for the host veth.
    let partial = PlanInput::for_del(
        cfg(ModeSetting::Underlay),
        CID.to_owned(),
        "eth0".to_owned(),
        DelView { host_veth: Some(unrelated), ..DelView::default() },
    );
    assert!(partial.host.links.is_empty());
}
