//! Coordinator route planning: a pure function from what the pod and host
//! network namespaces hold ([`view`]) and the coordinator configuration
//! ([`config`]) to an ordered list of operations ([`plan::RoutePlan`]) that
//! `spiderpool-netlink` applies.
//!
//! - [`config`]: parse and validate the netconf (serde, through the keys of
//!   `wire` and the value rules of `setting`); [`cluster`]: the agent's
//!   answer, built from the SpiderCoordinator and read back with the same
//!   rules; [`defaults`]: the one defaults table; [`merge`]: the one
//!   precedence rule (netconf > pod annotation > SpiderCoordinator >
//!   defaults);
//! - [`plan_add`] / [`plan_del`]: the ADD and DEL plans of Spiderpool's
//!   `coordinator` (reference §5), including mode resolution, first-invoke
//!   detection, policy-table numbering and route tuning;
//! - [`apply_to_view`]: a pure simulator of the resulting kernel state, for
//!   tests and for offline inspection (`spiderpoolctl plan`);
//! - [`route`]: the one [`Route`] and [`Rule`] type of plans and views;
//! - [`presence`]: whether a view holds what an operation asks for, the one
//!   matcher of the planner, the simulator and [`check`] (CNI CHECK over the
//!   views `spiderpool-netlink` reads).
//!
//! What it does not do: any I/O (no netlink, sysctl, files; DESIGN.md §7),
//! talking to the agent, or announcing addresses. Neighbour entries, sysctls
//! and packet marks are planned but not simulated.

mod add;
mod build;
pub mod check;
pub mod cluster;
pub mod config;
pub mod defaults;
mod del;
pub mod error;
pub mod mac;
mod merge;
pub mod mode;
pub mod owner;
pub mod plan;
pub mod presence;
pub mod render;
pub mod route;
mod setting;
mod simulate;
mod tune;
mod veth;
pub mod view;
mod wire;

#[cfg(test)]
mod tests;

pub use add::{REPLY_MARK, RULE_PRIORITY, gateway_reachable, plan_add};
pub use build::PlanInput;
pub use cluster::{ClusterConfigError, ClusterCoordinatorConfig, PolicyRouteWire};
pub use config::{
    ConfigError, CoordinatorNetConf, EffectiveConfig, IGNORED_KEYS, LogOptions, MacPrefix,
    ModeSetting, PolicyRoute,
};
pub use del::{DelView, plan_del};
pub use error::PlanError;
pub use merge::merge;
pub use owner::{VethOwner, host_veth_conflict, veth_alias, veth_owner};
pub use plan::{Action, Item, Op, RoutePlan, Side};
pub use plan::{AddrOp, LinkOp, MacOp, MarkOp, NeighOp, ResolvedMode, SysctlOp};
pub use presence::{is_present, route_holds, rule_holds};
pub use route::{NextHop, Route, Rule, Scope};
pub use simulate::apply_to_view;
pub use view::{AddrView, HostView, LinkFlags, LinkView, NetnsView};
