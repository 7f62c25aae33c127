//! CIDR parsing, canonical printing and CIDR ↔ range conversion.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{IpError, IpFamily, IpRange, ip_value_of, parse_ip};

/// Parses a CIDR the way Go's `net.ParseCIDR` accepts it: an address (strict,
/// as [`parse_ip`]) and a decimal prefix length (leading zeros allowed, as
/// Go's parser does) within the family's width. Host bits may be set; the
/// returned [`IpNet`] keeps the address as written (use
/// [`IpNet::trunc`] for the network).
///
/// IPv4-mapped IPv6 text (`::ffff:10.6.0.0/120`) yields the IPv4 network with
/// the prefix length reduced by 96 (`10.6.0.0/24`); such text needs a prefix
/// length of at least 96.
pub fn parse_cidr(s: &str) -> Result<IpNet, IpError> {
    let invalid = |reason: String| IpError::InvalidCidr { value: s.to_owned(), reason };
    let Some((addr_text, prefix_text)) = s.split_once('/') else {
        return Err(invalid("missing \"/<prefix length>\"".to_owned()));
    };
    let addr: IpAddr =
        addr_text.parse().map_err(|_| invalid(format!("invalid IP address {addr_text:?}")))?;
    if prefix_text.is_empty() || !prefix_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("prefix length {prefix_text:?} is not a decimal number")));
    }
    let prefix = prefix_text
        .bytes()
        .fold(0u32, |acc, d| acc.saturating_mul(10).saturating_add(u32::from(d - b'0')));
    let width = match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let prefix = u8::try_from(prefix)
        .ok()
        .filter(|p| *p <= width)
        .ok_or_else(|| invalid(format!("prefix length {prefix_text} exceeds {width}")))?;
    let out_of_range = |_| invalid(format!("prefix length {prefix_text} exceeds {width}"));
    match addr {
        IpAddr::V4(a) => Ipv4Net::new(a, prefix).map(IpNet::V4).map_err(out_of_range),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => {
                let Some(p4) = prefix.checked_sub(96) else {
                    return Err(invalid(format!(
                        "IPv4-mapped address needs a prefix length of at least 96, got {prefix_text}"
                    )));
                };
                Ipv4Net::new(v4, p4).map(IpNet::V4).map_err(out_of_range)
            }
            None => Ipv6Net::new(a, prefix).map(IpNet::V6).map_err(out_of_range),
        },
    }
}

/// Parses a CIDR that must be written in canonical form, as Spiderpool
/// requires for `spec.subnet`: no host bits set and exactly the text
/// [`canonical_cidr_string`] prints (so `172.18.40.1/24`, `FD00::/64`,
/// `10.0.0.0/08` and `::ffff:10.0.0.0/120` are rejected with
/// [`IpError::NonCanonicalCidr`] naming the expected text).
pub fn parse_canonical_cidr(s: &str) -> Result<IpNet, IpError> {
    let net = parse_cidr(s)?.trunc();
    let expected = canonical_cidr_string(&net);
    if expected == s {
        Ok(net)
    } else {
        Err(IpError::NonCanonicalCidr { value: s.to_owned(), expected })
    }
}

/// The canonical text of a network: the network address (host bits cleared),
/// IPv6 in RFC 5952 form, `/` and the prefix length without leading zeros.
pub fn canonical_cidr_string(net: &IpNet) -> String {
    format!("{}/{}", net.network(), net.prefix_len())
}

/// The family of a network.
pub fn family_of_cidr(net: &IpNet) -> IpFamily {
    match net {
        IpNet::V4(_) => IpFamily::V4,
        IpNet::V6(_) => IpFamily::V6,
    }
}

/// The whole prefix as a range: network address ..= broadcast address
/// (including `/0`, `/32` and `/128`; host bits of `net` are ignored).
pub fn cidr_range(net: &IpNet) -> IpRange {
    let family = family_of_cidr(net);
    let (start, end) = match net {
        IpNet::V4(n) => (u128::from(u32::from(n.network())), u128::from(u32::from(n.broadcast()))),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    };
    IpRange::from_parts(family, start, end)
}

/// Whether `ip` lies in `net`, family-aware: an address of the other family is
/// never contained, except that an IPv4-mapped IPv6 address is tested as its
/// IPv4 address against an IPv4 network.
pub fn cidr_contains(net: &IpNet, ip: &IpAddr) -> bool {
    let range = cidr_range(net);
    ip_value_of(range.family(), ip)
        .is_some_and(|v| range.start_u128() <= v && v <= range.end_u128())
}

/// Normalises a route destination or `hijackCIDR` entry: a bare IP becomes a
/// `/32` (IPv4) or `/128` (IPv6) network; a CIDR is parsed with
/// [`parse_cidr`] and its host bits cleared (the network Go's
/// `net.ParseCIDR` returns).
pub fn normalize_ip_or_cidr(s: &str) -> Result<IpNet, IpError> {
    if s.contains('/') {
        return parse_cidr(s).map(|n| n.trunc());
    }
    parse_ip(s).map(IpNet::from).map_err(|_| IpError::InvalidCidr {
        value: s.to_owned(),
        reason: "neither an IP address nor a CIDR".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parse_cidr_accepts_go_forms() {
        // (input, address kept, canonical network)
        let cases: &[(&str, &str, &str)] = &[
            ("172.18.40.0/24", "172.18.40.0", "172.18.40.0/24"),
            ("172.18.40.1/24", "172.18.40.1", "172.18.40.0/24"),
            ("10.0.0.0/024", "10.0.0.0", "10.0.0.0/24"),
            ("0.0.0.0/0", "0.0.0.0", "0.0.0.0/0"),
            ("1.2.3.4/0", "1.2.3.4", "0.0.0.0/0"),
            ("255.255.255.255/32", "255.255.255.255", "255.255.255.255/32"),
            ("fd00::/64", "fd00::", "fd00::/64"),
            ("FD00::1/64", "fd00::1", "fd00::/64"),
            ("::/0", "::", "::/0"),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
            ),
            ("::ffff:10.6.0.1/120", "10.6.0.1", "10.6.0.0/24"),
            ("::ffff:10.6.0.1/96", "10.6.0.1", "0.0.0.0/0"),
            ("::ffff:10.6.0.1/128", "10.6.0.1", "10.6.0.1/32"),
        ];
        for &(input, addr, canonical) in cases {
            let net = parse_cidr(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(net.addr().to_string(), addr, "{input}");
            assert_eq!(canonical_cidr_string(&net), canonical, "{input}");
        }
    }

    #[test]
    fn parse_cidr_rejections_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("", "missing \"/<prefix length>\""),
            ("10.0.0.0", "missing \"/<prefix length>\""),
            ("10.0.0.0/", "prefix length \"\" is not a decimal number"),
            ("10.0.0.0/+8", "prefix length \"+8\" is not a decimal number"),
            ("10.0.0.0/-1", "prefix length \"-1\" is not a decimal number"),
            ("10.0.0.0/ 8", "prefix length \" 8\" is not a decimal number"),
            ("10.0.0.0/8 ", "prefix length \"8 \" is not a decimal number"),
            ("10.0.0.0/8/8", "prefix length \"8/8\" is not a decimal number"),
            ("10.0.0.0/33", "prefix length 33 exceeds 32"),
            ("10.0.0.0/99999999999999999999", "prefix length 99999999999999999999 exceeds 32"),
            ("fd00::/129", "prefix length 129 exceeds 128"),
            ("010.0.0.0/8", "invalid IP address \"010.0.0.0\""),
            ("fe80::%eth0/64", "invalid IP address \"fe80::%eth0\""),
            (" 10.0.0.0/8", "invalid IP address \" 10.0.0.0\""),
            (
                "::ffff:10.0.0.0/64",
                "IPv4-mapped address needs a prefix length of at least 96, got 64",
            ),
        ];
        for &(input, reason) in cases {
            assert_eq!(
                parse_cidr(input),
                Err(IpError::InvalidCidr { value: input.to_owned(), reason: reason.to_owned() }),
                "{input:?}"
            );
        }
        assert_eq!(
            parse_cidr("10.0.0.0/33").unwrap_err().to_string(),
            "invalid CIDR \"10.0.0.0/33\": prefix length 33 exceeds 32"
        );
    }

    #[test]
    fn canonical_cidr_required() {
        for ok in ["172.18.40.0/24", "fd00::/64", "0.0.0.0/0", "::/0", "10.0.0.1/32"] {
            assert_eq!(canonical_cidr_string(&parse_canonical_cidr(ok).unwrap()), ok);
        }
        let cases: &[(&str, &str)] = &[
            ("172.18.40.1/24", "172.18.40.0/24"),
            ("FD00::/64", "fd00::/64"),
            ("fd00:0::/64", "fd00::/64"),
            ("fd00::1/64", "fd00::/64"),
            ("10.0.0.0/08", "10.0.0.0/8"),
            ("::ffff:10.0.0.0/120", "10.0.0.0/24"),
            ("1.2.3.4/0", "0.0.0.0/0"),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                parse_canonical_cidr(input),
                Err(IpError::NonCanonicalCidr {
                    value: input.to_owned(),
                    expected: expected.to_owned()
                }),
                "{input}"
            );
        }
        assert_eq!(
            parse_canonical_cidr("172.18.40.1/24").unwrap_err().to_string(),
            "CIDR \"172.18.40.1/24\" is not canonical, expected \"172.18.40.0/24\""
        );
        assert!(matches!(parse_canonical_cidr("nope/24"), Err(IpError::InvalidCidr { .. })));
    }

    #[test]
    fn cidr_range_at_the_edges() {
        let cases: &[(&str, &str)] = &[
            ("0.0.0.0/0", "0.0.0.0-255.255.255.255"),
            ("10.0.0.7/32", "10.0.0.7"),
            ("255.255.255.255/32", "255.255.255.255"),
            ("10.6.0.0/16", "10.6.0.0-10.6.255.255"),
            ("10.6.1.9/31", "10.6.1.8-10.6.1.9"),
            ("::/0", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ("fd00::5/128", "fd00::5"),
            ("fd00::/64", "fd00::-fd00::ffff:ffff:ffff:ffff"),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ),
        ];
        for &(input, range) in cases {
            let net = parse_cidr(input).unwrap();
            assert_eq!(cidr_range(&net).to_string(), range, "{input}");
        }
        assert_eq!(cidr_range(&parse_cidr("0.0.0.0/0").unwrap()).len(), 1 << 32);
        assert_eq!(cidr_range(&parse_cidr("::/0").unwrap()).len(), u128::MAX);
        assert_eq!(cidr_range(&parse_cidr("fd00::/64").unwrap()).len(), 1 << 64);
    }

    #[test]
    fn cidr_contains_is_family_aware() {
        let v4 = parse_cidr("10.6.0.0/16").unwrap();
        let all4 = parse_cidr("0.0.0.0/0").unwrap();
        let v6 = parse_cidr("::/0").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr_contains(&v4, &ip("10.6.255.255")));
        assert!(cidr_contains(&v4, &ip("10.6.0.0")));
        assert!(!cidr_contains(&v4, &ip("10.7.0.0")));
        assert!(cidr_contains(&v4, &ip("::ffff:10.6.1.1")));
        assert!(cidr_contains(&all4, &ip("255.255.255.255")));
        assert!(!cidr_contains(&all4, &ip("::1")));
        assert!(!cidr_contains(&v6, &ip("10.6.0.1")));
        assert!(cidr_contains(&v6, &ip("::ffff:10.6.0.1")));
        assert!(cidr_contains(&v6, &ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert_eq!(family_of_cidr(&v4), IpFamily::V4);
        assert_eq!(family_of_cidr(&v6), IpFamily::V6);
    }

    #[test]
    fn normalize_ip_or_cidr_cases() {
        let cases: &[(&str, &str)] = &[
            ("10.6.0.1", "10.6.0.1/32"),
            ("fd00::1", "fd00::1/128"),
            ("::ffff:10.6.0.1", "10.6.0.1/32"),
            ("169.254.0.0/16", "169.254.0.0/16"),
            ("10.6.0.1/24", "10.6.0.0/24"),
            ("FD00::1/64", "fd00::/64"),
        ];
        for &(input, out) in cases {
            let net = normalize_ip_or_cidr(input).unwrap();
            assert_eq!(canonical_cidr_string(&net), out, "{input}");
            assert_eq!(net.to_string(), out, "{input}: host bits cleared");
        }
        assert_eq!(
            normalize_ip_or_cidr("10.6.0.x"),
            Err(IpError::InvalidCidr {
                value: "10.6.0.x".into(),
                reason: "neither an IP address nor a CIDR".into()
            })
        );
        assert!(matches!(normalize_ip_or_cidr("10.6.0.0/40"), Err(IpError::InvalidCidr { .. })));
    }
}
