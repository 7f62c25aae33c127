//! What a network namespace holds, as the planner sees it: links, addresses,
//! routes of every table and policy rules (the [`Route`] and [`Rule`] types
//! plans use too). `spiderpool-netlink` reads it from the
//! kernel; `spiderpoolctl plan` reads it from a scenario file. Field names follow
//! `ip -j` where one exists.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::route::{Route, Rule};
pub use super::route::{TABLE_LOCAL, TABLE_MAIN};

/// Interface flags the planner looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFlags {
    /// `IFF_UP`.
    #[serde(default)]
    pub up: bool,
    /// `IFF_BROADCAST`.
    #[serde(default)]
    pub broadcast: bool,
    /// `IFF_MULTICAST`.
    #[serde(default)]
    pub multicast: bool,
    /// `IFF_LOOPBACK`.
    #[serde(default)]
    pub loopback: bool,
}

/// One link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    /// `ifindex`.
    #[serde(default)]
    pub index: u32,
    /// `ifname`.
    pub name: String,
    /// Flags.
    #[serde(default)]
    pub flags: LinkFlags,
    /// `address` (MAC), lower-case `aa:bb:cc:dd:ee:ff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// `mtu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Link kind (`veth`, `macvlan`, `ipvlan`, ...), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// For a veth: the peer's ifindex in the other namespace (`link_index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_index: Option<u32>,
    /// `ifalias` (`IFLA_IFALIAS`), when the link has one. The coordinator
    /// marks the host end of a pod's veth pair with its container ID (see
    /// [`owner`](super::owner)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifalias: Option<String>,
}

impl LinkView {
    /// UP, BROADCAST and MULTICAST: the links Spiderpool counts as pod NICs
    /// (excludes `lo`, `tunl0`, ...).
    pub fn counts_as_nic(&self) -> bool {
        self.flags.up && self.flags.broadcast && self.flags.multicast && !self.flags.loopback
    }
}

/// One address on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrView {
    /// Link name.
    pub dev: String,
    /// Address with prefix length (`local/prefixlen`).
    pub address: IpNet,
}

/// Everything one namespace holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsView {
    /// Links, in index order.
    #[serde(default)]
    pub links: Vec<LinkView>,
    /// Addresses.
    #[serde(default)]
    pub addresses: Vec<AddrView>,
    /// Routes of all tables.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Policy rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl NetnsView {
    /// A link by name.
    pub fn link(&self, name: &str) -> Option<&LinkView> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The addresses of a link.
    pub fn addresses_of<'a>(&'a self, dev: &'a str) -> impl Iterator<Item = &'a IpNet> + 'a {
        self.addresses.iter().filter(move |a| a.dev == dev).map(|a| &a.address)
    }
}

/// What the planner needs from the host namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostView {
    /// The host addresses the plugin discovered for this pod (reference §5.3
    /// step 2: the `src` of the host's route to each pod IP, then the addresses
    /// of host interfaces other than container/overlay ones), de-duplicated.
    /// JSON name `podHostIPs` (`podHostIps` is accepted too).
    #[serde(default, rename = "podHostIPs", alias = "podHostIps")]
    pub pod_host_ips: Vec<IpAddr>,
    /// Host links the plan refers to (the overlay veth peer of `eth0`, the host
    /// side of `veth0` when it exists), with their MACs.
    #[serde(default)]
    pub links: Vec<LinkView>,
    /// Host policy rules (to avoid adding `from all lookup <hostRuleTable>` twice).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Host routes in the host rule table (stale `/32` pod routes are replaced).
    #[serde(default)]
    pub routes: Vec<Route>,
}
