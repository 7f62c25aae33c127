//! The DEL plan (reference §5.5).

use super::add::{PlanInput, nic_addresses};
use super::config::ModeSetting;
use super::mac::{POD_VETH, host_veth_name};
use super::plan::{Action, Item, LinkOp, Op, ResolvedMode, RoutePlan, RuleOp, Side};
use super::simulate::{host_net, net_family};

/// Plans a DEL: remove the host end of the underlay veth pair
/// (`veth<containerID[:11]>`, when the host view or the pod's `veth0` shows
/// it exists; the kernel then drops its routes and neighbours) and, for each
/// address of the NIC, the legacy host rule `to <ip>/32 lookup
/// <hostRuleTable>`. Never fails: DEL must succeed when things are gone. A
/// `disable`d mode gives an empty plan. `table` is 0, `firstInvoke` false.
pub fn plan_del(input: &PlanInput) -> RoutePlan {
    let cfg = &input.config;
    let host_name = host_veth_name(&input.container_id);
    let veth_exists = !input.container_id.is_empty()
        && (input.host.links.iter().any(|l| l.name == host_name)
            || input.pod.link(POD_VETH).is_some());
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
    if veth_exists {
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
            item: Item::Rule(RuleOp {
                family: net_family(&dst),
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
