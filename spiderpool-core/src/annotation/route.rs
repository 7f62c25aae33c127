//! `ipam.spidernet.io/routes` and `ipam.spidernet.io/default-route-nic`.

use std::net::IpAddr;

use ipnet::IpNet;

use super::json;
use super::{ANNO_DEFAULT_ROUTE_NIC, ANNO_POD_ROUTES, AnnotationError};

/// One extra route from `ipam.spidernet.io/routes`. The agent attaches it to the
/// NIC whose allocated subnet contains `gw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomRoute {
    /// Destination network, canonical (host bits cleared: `10.0.0.1/16` is
    /// stored as `10.0.0.0/16`, which is what the route becomes in the kernel).
    pub dst: IpNet,
    /// Next hop, of the same family as `dst`.
    pub gw: IpAddr,
}

/// Parses `ipam.spidernet.io/routes`: `[{"dst":"10.0.0.0/16","gw":"192.168.1.1"}]`.
///
/// As in Go (`IsRouteWithoutIPVersion`), `dst` must be a CIDR (a bare address
/// is rejected; host bits may be set and are cleared), `gw` a single address,
/// and both of the same family. An IPv4-mapped IPv6 `gw` counts as IPv4 with an
/// IPv4 `dst`, as Go's validator accepts it. `null` yields no routes.
pub fn parse_routes(value: &str) -> Result<Vec<CustomRoute>, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(ANNO_POD_ROUTES, value, reason);
    let doc = json::parse(ANNO_POD_ROUTES, value)?;
    let items = json::array(ANNO_POD_ROUTES, value, &doc)?;
    let mut routes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let o = json::object(item, i).map_err(err)?;
        let at = |e: String| err(format!("item {i}: {e}"));
        let dst_s = json::string(json::field(o, "dst"), "dst").map_err(at)?;
        let gw_s = json::string(json::field(o, "gw"), "gw").map_err(at)?;
        if dst_s.is_empty() {
            return Err(at("dst is missing".to_string()));
        }
        if gw_s.is_empty() {
            return Err(at("gw is missing".to_string()));
        }
        let dst: IpNet = if dst_s.contains('/') {
            dst_s.parse().map_err(|_| at(format!("dst {dst_s:?} is not a valid CIDR")))?
        } else {
            return Err(at(format!("dst {dst_s:?} is not a CIDR (expected address/prefix)")));
        };
        let gw: IpAddr =
            gw_s.parse().map_err(|_| at(format!("gw {gw_s:?} is not an IP address")))?;
        let gw = match (dst, gw) {
            (IpNet::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(gw),
            _ => gw,
        };
        if dst.addr().is_ipv4() != gw.is_ipv4() {
            return Err(at(format!("dst {dst_s:?} and gw {gw_s:?} are not of the same IP family")));
        }
        routes.push(CustomRoute { dst: dst.trunc(), gw });
    }
    Ok(routes)
}

/// Validates a Linux interface name as the kernel's `dev_valid_name` does
/// ([`crate::name::interface_name`]), the message naming it:
/// `interface name "a:b" contains the forbidden character ':' ...`.
pub fn validate_ifname(name: &str) -> Result<(), String> {
    crate::name::interface_name(name).map_err(|e| format!("interface name {name:?} {e}"))
}

/// Parses `ipam.spidernet.io/default-route-nic`: a bare interface name (not
/// JSON), e.g. `net1`, taken verbatim (no trimming) as Go does. Unlike Go, a
/// name the kernel could never accept (see [`validate_ifname`]) is rejected
/// here rather than silently matching no NIC.
pub fn parse_default_route_nic(value: &str) -> Result<String, AnnotationError> {
    validate_ifname(value)
        .map(|()| value.to_string())
        .map_err(|reason| AnnotationError::invalid(ANNO_DEFAULT_ROUTE_NIC, value, reason))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn route(dst: &str, gw: &str) -> CustomRoute {
        CustomRoute { dst: dst.parse().unwrap(), gw: gw.parse().unwrap() }
    }

    #[test]
    fn routes_accepted() {
        let cases: Vec<(&str, Vec<CustomRoute>)> = vec![
            (
                r#"[{"dst":"10.0.0.0/16","gw":"192.168.1.1"}]"#,
                vec![route("10.0.0.0/16", "192.168.1.1")],
            ),
            (
                r#"[{"dst":"fd00:1::/64","gw":"fd00::1"},{"dst":"0.0.0.0/0","gw":"10.1.1.1"}]"#,
                vec![route("fd00:1::/64", "fd00::1"), route("0.0.0.0/0", "10.1.1.1")],
            ),
            // host bits are cleared, as the kernel route would be
            (
                r#"[{"dst":"10.0.0.1/16","gw":"10.0.0.254"}]"#,
                vec![route("10.0.0.0/16", "10.0.0.254")],
            ),
            (
                r#"[{"Dst":"10.0.0.0/8","GW":"10.1.1.1","extra":1}]"#,
                vec![route("10.0.0.0/8", "10.1.1.1")],
            ),
            (
                r#"[{"dst":"10.0.0.0/8","gw":"::ffff:10.1.1.1"}]"#,
                vec![route("10.0.0.0/8", "10.1.1.1")],
            ),
            ("[]", vec![]),
            ("null", vec![]),
        ];
        for (v, want) in cases {
            assert_eq!(parse_routes(v).unwrap(), want, "{v}");
        }
    }

    #[test]
    fn routes_rejected() {
        let cases = [
            ("", "invalid JSON"),
            (
                r#"{"dst":"10.0.0.0/16","gw":"10.0.0.1"}"#,
                "value must be a JSON array, found an object",
            ),
            (r#"["10.0.0.0/16"]"#, "item 0 must be a JSON object, found a string"),
            (r#"[{"gw":"10.0.0.1"}]"#, "item 0: dst is missing"),
            (r#"[{"dst":"10.0.0.0/8"}]"#, "item 0: gw is missing"),
            (
                r#"[{"dst":"10.0.0.0/8","gw":"10.0.0.1"},{"dst":"10.0.0.1","gw":"10.0.0.1"}]"#,
                r#"item 1: dst "10.0.0.1" is not a CIDR"#,
            ),
            (
                r#"[{"dst":"10.0.0.0/33","gw":"10.0.0.1"}]"#,
                r#"dst "10.0.0.0/33" is not a valid CIDR"#,
            ),
            (r#"[{"dst":"x/8","gw":"10.0.0.1"}]"#, "is not a valid CIDR"),
            (
                r#"[{"dst":"10.0.0.0/8","gw":"10.0.0.0/8"}]"#,
                r#"gw "10.0.0.0/8" is not an IP address"#,
            ),
            (r#"[{"dst":"10.0.0.0/8","gw":"fd00::1"}]"#, "not of the same IP family"),
            (r#"[{"dst":"fd00::/8","gw":"10.0.0.1"}]"#, "not of the same IP family"),
            (r#"[{"dst":10,"gw":"10.0.0.1"}]"#, "item 0: dst must be a string, found a number"),
        ];
        for (v, want) in cases {
            let msg = parse_routes(v).unwrap_err().to_string();
            assert!(msg.starts_with("ipam.spidernet.io/routes: "), "{msg}");
            assert!(msg.contains(want), "{v}: {msg}");
        }
    }

    #[test]
    fn default_route_nic() {
        for ok in ["net1", "eth0", "a", "enp0s31f6.100", "abcdefghijklmno", "é"] {
            assert_eq!(parse_default_route_nic(ok).unwrap(), ok);
        }
        let bad = [
            ("", "must not be empty"),
            ("abcdefghijklmnop", "longer than 15 bytes"),
            (".", "not allowed"),
            ("..", "not allowed"),
            ("net/1", "forbidden character '/'"),
            ("net:1", "forbidden character ':'"),
            (" net1", "forbidden character ' '"),
            ("net1\n", "forbidden character '\\n'"),
        ];
        for (v, want) in bad {
            let msg = parse_default_route_nic(v).unwrap_err().to_string();
            assert!(msg.starts_with("ipam.spidernet.io/default-route-nic: "), "{msg}");
            assert!(msg.contains(want), "{v:?}: {msg}");
        }
        // the value is a bare name, not JSON: quotes are kept verbatim
        assert_eq!(parse_default_route_nic("\"net1\"").unwrap(), "\"net1\"");
    }
}
