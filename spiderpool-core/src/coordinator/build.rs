//! What the ADD and DEL planners and route tuning share: the input of a plan
//! ([`PlanInput`]), the IP families of a run, the addresses of a NIC, and the
//! [`Builder`] that collects operations and applies each to its views so
//! later steps see earlier ones. It imports no planner step.

use std::net::IpAddr;

use ipnet::IpNet;

use super::config::EffectiveConfig;
use super::plan::{Action, Item, Op, Side};
use super::route::{Route, Rule};
use super::simulate::apply_op;
use super::view::{HostView, NetnsView};
use crate::ip::{IpFamily, family_of_cidr};

/// Everything one ADD (or DEL) plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    /// The merged configuration.
    pub config: EffectiveConfig,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`: the NIC the previous plugin just set up.
    pub ifname: String,
    /// What the pod's netns holds now.
    pub pod: NetnsView,
    /// What the planner needs from the host netns.
    pub host: HostView,
}

/// The IP families of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    /// The families of `addrs`.
    pub(crate) fn of(addrs: &[IpNet]) -> Families {
        Families {
            v4: addrs.iter().any(|a| a.addr().is_ipv4()),
            v6: addrs.iter().any(|a| a.addr().is_ipv6()),
        }
    }

    pub(crate) fn has(self, family: IpFamily) -> bool {
        match family {
            IpFamily::V4 => self.v4,
            IpFamily::V6 => self.v6,
        }
    }

    pub(crate) fn list(self) -> Vec<IpFamily> {
        [(IpFamily::V4, self.v4), (IpFamily::V6, self.v6)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| f)
            .collect()
    }
}

/// Link-local addresses (169.254.0.0/16, fe80::/10) do not count.
pub(crate) fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The non-link-local addresses of `dev` in the run's families, view order.
pub(crate) fn nic_addresses(pod: &NetnsView, dev: &str, fam: Option<Families>) -> Vec<IpNet> {
    pod.addresses_of(dev)
        .filter(|a| !is_link_local(&a.addr()))
        .filter(|a| fam.is_none_or(|f| f.has(family_of_cidr(a))))
        .copied()
        .collect()
}

/// Ops plus the views they produce, so later steps see earlier ones.
pub(crate) struct Builder {
    pub ops: Vec<Op>,
    pub pod: NetnsView,
    pub host: HostView,
}

impl Builder {
    /// No operations yet, the input's views.
    pub(crate) fn new(input: &PlanInput) -> Builder {
        Builder { ops: Vec::new(), pod: input.pod.clone(), host: input.host.clone() }
    }

    pub(crate) fn push(&mut self, side: Side, action: Action, item: Item) {
        let op = Op { side, action, item };
        apply_op(&mut self.pod, &mut self.host, &op);
        self.ops.push(op);
    }

    pub(crate) fn route(&mut self, side: Side, action: Action, r: Route) {
        self.push(side, action, Item::Route(r));
    }

    pub(crate) fn rule(&mut self, side: Side, action: Action, r: Rule) {
        self.push(side, action, Item::Rule(r));
    }
}
