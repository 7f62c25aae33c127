//! The DEL plan (reference §5.5).

use super::build::{PlanInput, nic_addresses};
use super::config::ModeSetting;
use super::mac::{POD_VETH, host_veth_name};
use super::owner::{VethOwner, veth_owner};
use super::plan::{Action, Item, LinkOp, Op, ResolvedMode, RoutePlan, Side};
use super::route::Rule;
use super::simulate::host_net;
use crate::ip::family_of_cidr;

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
