//! The ADD result, held in one current-version shape ([`Result`]) and
//! converted to and from the JSON of each supported version:
//!
//! - 0.3.0, 0.3.1, 0.4.0: `ips[]` carry `"version": "4" | "6"`;
//! - 1.0.0: `ips[].version` is gone;
//! - 1.1.0: adds route `mtu`, `advmss`, `priority`, `table`, `scope` and
//!   interface `mtu`, `socketPath`, `pciID` (dropped when writing older versions).
//!
//! Reading is lenient about fields a version does not define (they are kept)
//! and strict about values: every address, gateway and index is checked and a
//! failure names the JSON path and the value (code 6).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::CniError;
use super::version::Version;

/// An ADD result in the current (1.1.0) shape. An IPAM plugin's abbreviated
/// result is the same type with no `interfaces` and no `ips[].interface`
/// (see [`Result::abbreviated`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Result {
    /// `interfaces`.
    pub interfaces: Vec<Interface>,
    /// `ips`.
    pub ips: Vec<IpConfig>,
    /// `routes`.
    pub routes: Vec<Route>,
    /// `dns`.
    pub dns: Dns,
}

/// One entry of `interfaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// `name`.
    pub name: String,
    /// `mac` (hardware address text, as the plugin printed it).
    pub mac: Option<String>,
    /// `mtu` (1.1.0).
    pub mtu: Option<u32>,
    /// `sandbox`: the netns path for container interfaces, absent for host ones.
    pub sandbox: Option<String>,
    /// `socketPath` (1.1.0).
    pub socket_path: Option<String>,
    /// `pciID` (1.1.0).
    pub pci_id: Option<String>,
}

/// One entry of `ips`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    /// `address` with its prefix length (host bits kept: `10.1.0.5/16`).
    pub address: IpNet,
    /// `gateway`.
    pub gateway: Option<IpAddr>,
    /// `interface`: index into [`Result::interfaces`].
    pub interface: Option<usize>,
}

/// One entry of `routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `dst`.
    pub dst: IpNet,
    /// `gw`.
    pub gw: Option<IpAddr>,
    /// `mtu` (1.1.0).
    pub mtu: Option<u32>,
    /// `advmss` (1.1.0).
    pub advmss: Option<u32>,
    /// `priority` (1.1.0).
    pub priority: Option<u32>,
    /// `table` (1.1.0).
    pub table: Option<u32>,
    /// `scope` (1.1.0).
    pub scope: Option<u8>,
}

impl Route {
    /// A route with only `dst` and `gw`.
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Self {
        Route { dst, gw, mtu: None, advmss: None, priority: None, table: None, scope: None }
    }
}

/// `dns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// `nameservers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `search`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// `options`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

// ---- wire shapes (a superset of every version; strings checked by hand) ----

#[derive(Debug, Default, Serialize, Deserialize)]
struct WireResult {
    #[serde(rename = "cniVersion", default, skip_serializing_if = "Option::is_none")]
    cni_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<WireInterface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ips: Vec<WireIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<WireRoute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<Dns>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WireInterface {
    #[serde(default)]
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sandbox: Option<String>,
    #[serde(rename = "socketPath", default, skip_serializing_if = "Option::is_none")]
    socket_path: Option<String>,
    #[serde(rename = "pciID", default, skip_serializing_if = "Option::is_none")]
    pci_id: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WireIp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface: Option<usize>,
    #[serde(default)]
    address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WireRoute {
    #[serde(default)]
    dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<u8>,
}

fn parse_net(what: &str, text: &str) -> std::result::Result<IpNet, CniError> {
    text.parse::<IpNet>().map_err(|_| {
        CniError::decode(what, format!("{text:?} is not an address with a prefix length"))
    })
}

fn parse_addr(what: &str, text: &str) -> std::result::Result<IpAddr, CniError> {
    text.parse::<IpAddr>()
        .map_err(|_| CniError::decode(what, format!("{text:?} is not an IP address")))
}

fn family_tag(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "4",
        IpNet::V6(_) => "6",
    }
}

impl Result {
    /// Reads a result written in `version`'s shape. `what` names the JSON in
    /// errors (`prevResult`, `result of macvlan`). Versions before 0.3.0 are
    /// code 1; malformed content is code 6 naming the path and value.
    pub fn from_json(
        value: &Value,
        version: Version,
        what: &str,
    ) -> std::result::Result<Self, CniError> {
        if version < Version::V0_3_0 {
            return Err(CniError::IncompatibleVersion {
                field: format!("{what} cniVersion"),
                version: version.to_string(),
                reason: "results before 0.3.0 are not supported".into(),
            });
        }
        let wire: WireResult = serde_json::from_value(value.clone())
            .map_err(|e| CniError::decode(what, e.to_string()))?;
        let interfaces: Vec<Interface> = wire
            .interfaces
            .into_iter()
            .map(|i| Interface {
                name: i.name,
                mac: i.mac,
                mtu: i.mtu,
                sandbox: i.sandbox,
                socket_path: i.socket_path,
                pci_id: i.pci_id,
            })
            .collect();
        let mut ips = Vec::with_capacity(wire.ips.len());
        for (n, ip) in wire.ips.into_iter().enumerate() {
            let address = parse_net(&format!("{what}.ips[{n}].address"), &ip.address)?;
            let gateway = ip
                .gateway
                .as_deref()
                .map(|g| parse_addr(&format!("{what}.ips[{n}].gateway"), g))
                .transpose()?;
            if let Some(tag) = ip.version.as_deref().filter(|_| version.has_ip_version_field())
                && tag != family_tag(&address)
            {
                return Err(CniError::decode(
                    format!("{what}.ips[{n}].version"),
                    format!("{tag:?} does not match address {address}"),
                ));
            }
            if let Some(idx) = ip.interface
                && idx >= interfaces.len()
            {
                return Err(CniError::decode(
                    format!("{what}.ips[{n}].interface"),
                    format!("index {idx} but only {} interfaces", interfaces.len()),
                ));
            }
            ips.push(IpConfig { address, gateway, interface: ip.interface });
        }
        let mut routes = Vec::with_capacity(wire.routes.len());
        for (n, r) in wire.routes.into_iter().enumerate() {
            routes.push(Route {
                dst: parse_net(&format!("{what}.routes[{n}].dst"), &r.dst)?,
                gw: r
                    .gw
                    .as_deref()
                    .map(|g| parse_addr(&format!("{what}.routes[{n}].gw"), g))
                    .transpose()?,
                mtu: r.mtu,
                advmss: r.advmss,
                priority: r.priority,
                table: r.table,
                scope: r.scope,
            });
        }
        Ok(Result { interfaces, ips, routes, dns: wire.dns.unwrap_or_default() })
    }

    /// The result as `version`'s JSON, with `cniVersion` set: `ips[].version`
    /// for versions before 1.0.0, 1.1.0-only fields only for 1.1.0 and later.
    pub fn to_json(&self, version: Version) -> Value {
        let new = version.has_1_1_fields();
        let wire = WireResult {
            cni_version: Some(version.to_string()),
            interfaces: self
                .interfaces
                .iter()
                .map(|i| WireInterface {
                    name: i.name.clone(),
                    mac: i.mac.clone(),
                    mtu: i.mtu.filter(|_| new),
                    sandbox: i.sandbox.clone(),
                    socket_path: i.socket_path.clone().filter(|_| new),
                    pci_id: i.pci_id.clone().filter(|_| new),
                })
                .collect(),
            ips: self
                .ips
                .iter()
                .map(|ip| WireIp {
                    version: version
                        .has_ip_version_field()
                        .then(|| family_tag(&ip.address).to_string()),
                    interface: ip.interface,
                    address: ip.address.to_string(),
                    gateway: ip.gateway.map(|g| g.to_string()),
                })
                .collect(),
            routes: self
                .routes
                .iter()
                .map(|r| WireRoute {
                    dst: r.dst.to_string(),
                    gw: r.gw.map(|g| g.to_string()),
                    mtu: r.mtu.filter(|_| new),
                    advmss: r.advmss.filter(|_| new),
                    priority: r.priority.filter(|_| new),
                    table: r.table.filter(|_| new),
                    scope: r.scope.filter(|_| new),
                })
                .collect(),
            dns: (!self.dns.is_empty()).then(|| self.dns.clone()),
        };
        // Serializing plain strings, numbers and lists cannot fail.
        serde_json::to_value(wire).unwrap_or(Value::Null)
    }

    /// The IPAM plugin's abbreviated form: no `interfaces`, no `ips[].interface`.
    pub fn abbreviated(&self) -> Result {
        Result {
            interfaces: Vec::new(),
            ips: self.ips.iter().map(|ip| IpConfig { interface: None, ..ip.clone() }).collect(),
            routes: self.routes.clone(),
            dns: self.dns.clone(),
        }
    }

    /// The index of the interface named `name` with the given sandbox (`None`
    /// for a host interface), if listed.
    pub fn interface_index(&self, name: &str, sandbox: Option<&str>) -> Option<usize> {
        self.interfaces.iter().position(|i| i.name == name && i.sandbox.as_deref() == sandbox)
    }
}

#[cfg(test)]
#[path = "result_tests.rs"]
mod tests;
