//! The rule of each coordinator setting, on typed values: every source (the
//! netconf read by serde in [`wire`](super::wire), the agent's
//! [`ClusterCoordinatorConfig`](super::ClusterCoordinatorConfig)) passes its
//! values through the same functions. Each returns the reason a value is
//! refused; the caller names the key. The typed values that are not plain
//! numbers or addresses ([`ModeSetting`], [`MacPrefix`], [`PolicyRoute`])
//! live here too.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::admission::coordinator::check_interface_name;
use crate::ip::{self, IpFamily};

/// The coordinator mode as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeSetting {
    /// Decide from the pod's links (reference §5.2).
    Auto,
    /// veth pair to the host; the underlay NIC keeps the default route.
    Underlay,
    /// `eth0` belongs to an overlay CNI; extra NICs get policy tables.
    Overlay,
    /// Do nothing (`disable` or `disabled`).
    Disabled,
}

impl ModeSetting {
    /// Parses `auto`, `underlay`, `overlay`, `disable` or `disabled`.
    pub fn parse(s: &str) -> Option<ModeSetting> {
        match s {
            "auto" => Some(ModeSetting::Auto),
            "underlay" => Some(ModeSetting::Underlay),
            "overlay" => Some(ModeSetting::Overlay),
            "disable" | "disabled" => Some(ModeSetting::Disabled),
            _ => None,
        }
    }
}

/// A two-byte MAC prefix (`podMACPrefix`), unicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacPrefix(pub [u8; 2]);

impl MacPrefix {
    /// Parses `hh:hh` or `hh-hh`; the first byte must be unicast (lowest bit
    /// 0). Go's regex only refuses a `1` as second digit; we refuse every
    /// multicast prefix, as admission does.
    pub fn parse(s: &str) -> Result<MacPrefix, String> {
        let bad = || "expected two hex bytes like \"0a:1b\"".to_owned();
        let (a, b) = s.split_once([':', '-']).ok_or_else(bad)?;
        let byte = |t: &str| {
            (t.len() == 2 && t.bytes().all(|c| c.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(t, 16).ok())
                .flatten()
        };
        let a = byte(a).ok_or_else(bad)?;
        let b = byte(b).ok_or_else(bad)?;
        if a & 1 != 0 {
            return Err("not a unicast MAC: the lowest bit of the first byte must be 0".to_owned());
        }
        Ok(MacPrefix([a, b]))
    }
}

/// One static policy route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyRoute {
    /// Destination.
    pub dst: IpNet,
    /// Gateway (same family as `dst`).
    pub gw: IpAddr,
}

/// `auto`, `underlay`, `overlay`, `disable` or `disabled`.
pub(crate) fn mode(s: &str) -> Result<ModeSetting, String> {
    ModeSetting::parse(s)
        .ok_or_else(|| "supported values: auto, underlay, overlay, disable, disabled".to_owned())
}

/// A Linux interface name.
pub(crate) fn ifname(s: &str) -> Result<String, String> {
    check_interface_name(s).map(|()| s.to_owned())
}

/// A unicast two-byte MAC prefix.
pub(crate) fn mac_prefix(s: &str) -> Result<MacPrefix, String> {
    MacPrefix::parse(s)
}

/// An IP address (Go's rules).
pub(crate) fn ip(s: &str) -> Result<IpAddr, String> {
    ip::parse_ip(s).map_err(|e| e.to_string())
}

/// An IP (as a host route) or a CIDR (host bits cleared).
pub(crate) fn cidr(s: &str) -> Result<IpNet, String> {
    ip::normalize_ip_or_cidr(s).map_err(|e| e.to_string())
}

/// A `u32`.
pub(crate) fn u32_value(n: i64) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| "must be between 0 and 4294967295".to_owned())
}

/// A routing table other than 0 and the kernel's 253, 254 and 255.
pub(crate) fn table(n: i64) -> Result<u32, String> {
    match u32_value(n)? {
        0 => Err("must not be 0".to_owned()),
        253..=255 => {
            Err("must not be one of the kernel's tables 253 (default), 254 (main) or 255 (local)"
                .to_owned())
        }
        t => Ok(t),
    }
}

/// `0`, `1`, `2`, or negative (read as `-1`: leave it).
pub(crate) fn rp_filter(n: i64) -> Result<i32, String> {
    match n {
        n if n < 0 => Ok(-1),
        0..=2 => i32::try_from(n).map_err(|e| e.to_string()),
        _ => Err("supported values: 0, 1, 2, or negative to leave it".to_owned()),
    }
}

/// A veth MTU the kernel accepts.
pub(crate) fn mtu(n: i64) -> Result<u32, String> {
    match n {
        68..=65535 => u32::try_from(n).map_err(|e| e.to_string()),
        _ => Err("must be between 68 and 65535".to_owned()),
    }
}

/// Which part of a policy route is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoutePart {
    /// `dst`.
    Dst,
    /// `gw`.
    Gw,
}

impl RoutePart {
    /// `dst` or `gw`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            RoutePart::Dst => "dst",
            RoutePart::Gw => "gw",
        }
    }
}

/// A static policy route: `dst` an IP or CIDR, `gw` an IP of its family.
pub(crate) fn policy_route(dst: &str, gw: &str) -> Result<PolicyRoute, (RoutePart, String)> {
    let dst = cidr(dst).map_err(|r| (RoutePart::Dst, r))?;
    let gw = ip(gw).map_err(|r| (RoutePart::Gw, r))?;
    if ip::family_of_cidr(&dst) != IpFamily::of(&gw) {
        return Err((RoutePart::Gw, format!("is not of the family of dst {dst}")));
    }
    Ok(PolicyRoute { dst, gw })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_rules() {
        assert_eq!(table(500), Ok(500));
        assert!(table(0).is_err() && table(254).is_err() && table(-1).is_err());
        assert_eq!((rp_filter(-5), rp_filter(2)), (Ok(-1), Ok(2)));
        assert!(rp_filter(3).is_err());
        assert_eq!(mtu(68), Ok(68));
        assert!(mtu(67).is_err() && mtu(65536).is_err());
        assert!(u32_value(-1).is_err());
    }

    #[test]
    fn policy_route_names_the_bad_part() {
        assert_eq!(policy_route("x", "10.0.0.1").unwrap_err().0, RoutePart::Dst);
        let (part, reason) = policy_route("10.0.0.0/8", "fd00::1").unwrap_err();
        assert_eq!((part.key(), reason.as_str()), ("gw", "is not of the family of dst 10.0.0.0/8"));
        assert!(policy_route("10.0.0.1", "10.0.0.254").is_ok());
    }
}
