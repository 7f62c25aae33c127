//! The plan: an ordered list of operations on the pod side and the host side.
//! Serialized as the JSON `spiderpoolctl plan -o json` prints: each operation has
//! `side` (`pod` or `host`), `action` (`add`, `del`, `set`), `kind` (`link`,
//! `addr`, `route`, `rule`, `neigh`, `sysctl`, `mac`, `mark`) and the field names
//! `ip -j` uses.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::route::{Route, Rule};

/// Which namespace an operation acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The pod's network namespace.
    Pod,
    /// The host (node) network namespace.
    Host,
}

/// What to do with the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create it (an existing identical item is not an error).
    Add,
    /// Remove it (a missing item is not an error).
    Del,
    /// Change an existing item (link state, MAC, MTU, txqueuelen, sysctl).
    Set,
}

impl Action {
    /// `add`, `del` or `set`, as in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Del => "del",
            Action::Set => "set",
        }
    }
}

/// A link operation. `add` of a link with `peer` creates a veth pair whose peer
/// lives in the other namespace; `set` changes the named fields of an existing
/// link; `del` removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkOp {
    /// `ifname`.
    pub ifname: String,
    /// Link kind for `add` (`veth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// veth peer name, created in the other side's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// MAC of the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_address: Option<String>,
    /// MAC (`address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `mtu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// `txqlen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txqlen: Option<u32>,
    /// Bring the link (and a new veth's peer) up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    /// `alias` (`IFLA_IFALIAS`) for `set`: the coordinator's ownership mark
    /// on a host veth (see [`owner`](super::owner)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// An address on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrOp {
    /// Link.
    pub dev: String,
    /// Address with prefix length.
    pub local: IpNet,
}

/// A neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighOp {
    /// Link.
    pub dev: String,
    /// Neighbour address.
    pub dst: IpAddr,
    /// Its MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lladdr: Option<String>,
    /// `true`: `nud permanent`.
    #[serde(default)]
    pub permanent: bool,
}

/// A sysctl inside the side's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlOp {
    /// Dotted key, e.g. `net.ipv4.conf.all.rp_filter`.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A MAC change, announced afterwards (gratuitous ARP / unsolicited NA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacOp {
    /// Link.
    pub dev: String,
    /// New MAC.
    pub address: String,
    /// Addresses to announce after the change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announce: Vec<IpAddr>,
}

/// Packet-mark rules for the reply-via-veth path: connections that arrive
/// through `iif` get `mark` on their connection, and packets of those
/// connections carry it again on the way out (the nftables equivalent of
/// Spiderpool's mangle MARK / CONNMARK rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkOp {
    /// Incoming interface (`veth0`).
    pub iif: String,
    /// The mark (`0x1`).
    pub fwmark: u32,
}

/// One item of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Item {
    /// A link.
    Link(LinkOp),
    /// An address.
    Addr(AddrOp),
    /// A route.
    Route(Route),
    /// A policy rule.
    Rule(Rule),
    /// A neighbour entry.
    Neigh(NeighOp),
    /// A sysctl.
    Sysctl(SysctlOp),
    /// A MAC change.
    Mac(MacOp),
    /// Packet-mark rules.
    Mark(MarkOp),
}

impl Item {
    /// `link`, `addr`, `route`, `rule`, `neigh`, `sysctl`, `mac` or `mark`, as
    /// in the JSON.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Item::Link(_) => "link",
            Item::Addr(_) => "addr",
            Item::Route(_) => "route",
            Item::Rule(_) => "rule",
            Item::Neigh(_) => "neigh",
            Item::Sysctl(_) => "sysctl",
            Item::Mac(_) => "mac",
            Item::Mark(_) => "mark",
        }
    }
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Where.
    pub side: Side,
    /// What.
    pub action: Action,
    /// On what.
    #[serde(flatten)]
    pub item: Item,
}

/// The resolved coordinator mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolvedMode {
    /// veth0 pair to the host; the underlay NIC carries the default route.
    Underlay,
    /// The overlay `eth0` reaches the host; extra NICs get policy tables.
    Overlay,
    /// Nothing to do.
    Disabled,
}

/// A complete plan for one ADD or DEL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutePlan {
    /// The mode after `auto` was resolved.
    pub mode: ResolvedMode,
    /// True on the pod's first coordinator invocation (veth pair, hijack
    /// routes in main, reply-via-veth).
    pub first_invoke: bool,
    /// The policy table of the current NIC.
    pub table: u32,
    /// The operations, in order.
    pub ops: Vec<Op>,
}
