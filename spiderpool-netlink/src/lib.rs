//! Linux adapter of spiderpool-rs: reads what a network namespace holds and
//! applies coordinator [`RoutePlan`](spiderpool_core::coordinator::RoutePlan)s.
//!
//! What it does:
//! - [`Netns`] names a namespace (a path such as `CNI_NETNS`, or the caller's own);
//!   every netlink socket for a namespace is opened on a dedicated OS thread that
//!   `setns`'d into it ([`with_netns`]), never on a tokio worker.
//! - [`read_view`] reads a [`NetnsView`](spiderpool_core::coordinator::NetnsView)
//!   (links, addresses, routes of all tables, rules); [`host`] discovers the host
//!   IPs of a pod and reads a [`HostView`](spiderpool_core::coordinator::HostView).
//! - [`apply`] runs a plan in order over netlink (links, veth pairs created
//!   straight into the other namespace, addresses, routes, rules, neighbours,
//!   sysctls through `/proc/sys` inside the namespace, MAC changes announced by
//!   the kernel, nftables packet marks over `NETLINK_NETFILTER`). Re-applying a
//!   plan is not an error; deleting what is already gone is not an error.
//! - [`with_session`] does the reads and the apply of one CNI command on a
//!   single dedicated thread (one thread start instead of three).
//! - [`probe`] runs the IPAM plugin's ARP/NDP probes inside a pod namespace:
//!   IP-conflict detection, gateway reachability, gratuitous ARP / unsolicited
//!   NA (an `AF_PACKET` socket through `pnet_datalink`, frames built here).
//! - [`observe`] reads back what a plan can be checked against (CNI CHECK);
//!   the core's [`check`](spiderpool_core::coordinator::check::check) lists
//!   the operations whose effect is not present.
//!
//! Layers, bottom up (no module imports one above it): `error`, `mac`,
//! `netns`, `sysctl`, [`nft`] → `read` (the kernel into the core's view
//! types) and `context` (the two namespaces of one command on one thread) →
//! `apply`, `observe`, [`host`] → `session`.
//!
//! What it does not do: decide anything (the planner in `spiderpool-core` does),
//! shell out to `ip`, `sysctl`, `nft` or `iptables`, or use `unsafe`.

mod apply;
mod context;
mod error;
pub mod host;
mod mac;
mod netns;
pub mod nft;
mod observe;
pub mod probe;
mod read;
mod session;
mod sysctl;

pub use apply::apply;
pub use error::{Error, Result};
pub use mac::{format_mac, parse_mac};
pub use netns::{Netns, NetnsId, with_netns};
pub use observe::observe;
pub use read::{read_neighbours, read_view, read_view_with};
pub use session::{Session, with_session};
pub use sysctl::{read_sysctl, sysctl_path};
