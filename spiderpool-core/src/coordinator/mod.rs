//! Coordinator route planning: a pure function from what the pod and host
//! network namespaces hold ([`view`]) and the coordinator configuration to an
//! ordered list of operations ([`plan::RoutePlan`]) that `spiderpool-netlink`
//! applies. No I/O happens here (DESIGN.md §7).

pub mod plan;
pub mod view;

pub use plan::{Action, Item, Op, RoutePlan, Side};
pub use plan::{AddrOp, LinkOp, MacOp, MarkOp, NeighOp, ResolvedMode, RouteOp, RuleOp, SysctlOp};
pub use view::{
    AddrView, HostView, LinkFlags, LinkView, NetnsView, NextHop, RouteView, RuleView, Scope,
};
