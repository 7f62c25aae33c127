//! The DEL plan (reference §5.5).

use super::build::{PlanInput, nic_addresses};
use super::config::{EffectiveConfig, ModeSetting};
use super::mac::{POD_VETH, host_veth_name};
use super::owner::{VethOwner, veth_owner};
use super::plan::{Action, Item, LinkOp, Op, ResolvedMode, RoutePlan, Side};
use super::route::Rule;
use super::simulate::host_net;
use super::view::{AddrView, HostView, LinkView, NetnsView};
use crate::ip::family_of_cidr;

/// Everything [`plan_del`] reads from the two namespaces, and nothing more:
/// what a DEL has to fetch (a pod's links and addresses, one host link by
/// name) instead of the full views an ADD needs (routes of every table,
/// rules, host addresses and host IP discovery).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelView {
    /// The pod's links (for [`POD_VETH`]); empty when the pod side is gone.
    pub pod_links: Vec<LinkView>,
    /// The pod's addresses (those of `CNI_IFNAME` name the legacy host
    /// rules); empty when the pod side is gone.
    pub pod_addresses: Vec<AddrView>,
    /// The host link named [`host_veth_name`]`(container_id)`, with its alias
    /// and MAC (the ownership marks); `None` when the host has none.
    pub host_veth: Option<LinkView>,
}

impl PlanInput {
    /// The input of [`plan_del`] from a [`DelView`]. The views it holds are
    /// partial (no pod routes or rules; on the host only the link named
    /// [`host_veth_name`]`(container_id)`, no host IPs, rules or routes), so
    /// the result is only valid for [`plan_del`]: [`plan_add`](super::plan_add)
    /// or CHECK over it would plan against a host that seems empty. A
    /// `host_veth` whose name is not the container's host veth name is
    /// dropped (it cannot be the one DEL looks for).
    pub fn for_del(
        config: EffectiveConfig,
        container_id: String,
        ifname: String,
        view: DelView,
    ) -> PlanInput {
        let name = host_veth_name(&container_id);
        let links = view.host_veth.into_iter().filter(|l| l.name == name).collect();
        PlanInput {
            config,
            container_id,
            ifname,
            pod: NetnsView {
                links: view.pod_links,
                addresses: view.pod_addresses,
                ..NetnsView::default()
            },
            host: HostView { links, ..HostView::default() },
        }
    }
}

/// Plans a DEL: remove the host end of the underlay veth pair
/// (`veth<containerID[:11]>`) when the host view holds it and it is provably
/// this container's (its ownership alias, or its derived MAC, see
/// [`owner`](super::owner); the kernel then drops its routes and neighbours),
/// and, for each address of the NIC, the legacy host rule `to <ip>/32 lookup
/// <hostRuleTable>`. A host veth of that name that another container holds
/// (IDs sharing their first 11 characters) is left alone. Never fails: DEL
/// must succeed when things are gone. A `disable`d mode gives an empty plan.
/// `table` is 0, `firstInvoke` false.
pub fn plan_del(input: &PlanInput) -> RoutePlan {
    let cfg = &input.config;
    let host_name = host_veth_name(&input.container_id);
    let host_veth = input.host.links.iter().find(|l| l.name == host_name);
    let veth_exists = !input.container_id.is_empty()
        && (host_veth.is_some() || input.pod.link(POD_VETH).is_some());
    let veth_ours = !input.container_id.is_empty()
        && host_veth.is_some_and(|l| veth_owner(l, &input.container_id) == VethOwner::This);
    let mode = match cfg.mode {
        ModeSetting::Disabled => {
            return RoutePlan {
                mode: ResolvedMode::Disabled,
                first_invoke: false,
                table: 0,
                ops: Vec::new(),
            };
        }
        ModeSetting::Underlay => ResolvedMode::Underlay,
        ModeSetting::Overlay => ResolvedMode::Overlay,
        ModeSetting::Auto if veth_exists || input.ifname == cfg.pod_default_cni_nic => {
            ResolvedMode::Underlay
        }
        ModeSetting::Auto => ResolvedMode::Overlay,
    };
    let mut ops = Vec::new();
    if veth_ours {
        ops.push(Op {
            side: Side::Host,
            action: Action::Del,
            item: Item::Link(LinkOp { ifname: host_name, ..LinkOp::default() }),
        });
    }
    for ip in nic_addresses(&input.pod, &input.ifname, None) {
        let dst = host_net(ip.addr());
        ops.push(Op {
            side: Side::Host,
            action: Action::Del,
            item: Item::Rule(Rule {
                family: family_of_cidr(&dst),
                priority: None,
                src: None,
                dst: Some(dst),
                fwmark: None,
                fwmask: None,
                table: cfg.host_rule_table,
            }),
        });
    }
    RoutePlan { mode, first_invoke: false, table: 0, ops }
}
