//! Addresses, CIDRs, Spiderpool range strings and interval sets over `u128`.
//!
//! Spiderpool writes address pools as lists of range strings
//! (`10.6.212.200-10.6.212.240`, or a single address). This module parses and
//! prints exactly those strings, for IPv4 and IPv6, and represents pools as
//! [`IpSet`]: a set of disjoint, coalesced intervals over `u128`.
//!
//! What it deliberately does differently from the Go code: it never expands a
//! range into an address list. An IPv6 `/64` costs one interval, and the inputs
//! that make Go's expansion loop forever (ranges touching `255.255.255.255`,
//! `0.0.0.0/8`, or IPv6 addresses with a leading zero byte) give finite, exact
//! answers here.
//!
//! # Address values
//!
//! Every address is handled as a `u128` value within its [`IpFamily`]: an IPv4
//! address is its `u32` value (so IPv4 values are `0..=u32::MAX`), an IPv6
//! address its `u128` value.
//!
//! # IPv4-mapped IPv6 text
//!
//! Go's `net.ParseIP` turns `::ffff:10.6.0.1` into the IPv4 address
//! `10.6.0.1`, and Spiderpool then treats it as IPv4. The text parsers here do
//! the same ([`parse_ip`], [`parse_cidr`], [`IpRange::parse`]): any IPv6 text
//! whose value lies in `::ffff:0:0/96` is IPv4, and prints as a dotted quad.
//!
//! Values are not text: [`IpFamily::of`] and [`ip_to_u128`] look at the
//! [`IpAddr`] variant only. Membership tests against an IPv4 range, set or
//! CIDR also accept an IPv4-mapped [`Ipv6Addr`] and test its IPv4 form (see
//! [`ip_value_of`]).
//!
//! One consequence: an IPv6 range or set whose *bounds* fall inside
//! `::ffff:0:0/96` has no IPv6 text form (std prints such a bound as
//! `::ffff:a.b.c.d`, which parses back as IPv4). Such sets can only arise from
//! values, for example by subtracting from `::fffe:0:0-::1:0:0:0`.
//!
//! # Printing
//!
//! IPv6 is printed in RFC 5952 form, which is what std's `Ipv6Addr` `Display`
//! produces (lower case, no leading zeros, the longest run of two or more zero
//! groups compressed, the first one on a tie), and matches Go's
//! `net.IP.String`.

mod cidr;
mod list;
mod range;
mod set;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use cidr::{
    canonical_cidr_string, cidr_contains, cidr_range, family_of_cidr, normalize_ip_or_cidr,
    parse_canonical_cidr, parse_cidr,
};
pub use list::{merge_ranges, ranges_overlap_each_other};
pub use range::IpRange;
pub use set::IpSet;

/// An IP address family.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum IpFamily {
    /// IPv4: 32-bit values.
    V4,
    /// IPv6: 128-bit values.
    V6,
}

impl IpFamily {
    /// The family of an address value, by its variant. An IPv4-mapped
    /// [`Ipv6Addr`] value is [`IpFamily::V6`] here; only text is unmapped (see
    /// the [module docs](self)).
    pub fn of(ip: &IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// The family of a Spiderpool `ipVersion` (`4` or `6`); `None` otherwise.
    pub fn from_version(v: i64) -> Option<IpFamily> {
        match v {
            4 => Some(IpFamily::V4),
            6 => Some(IpFamily::V6),
            _ => None,
        }
    }

    /// The `ipVersion` number: `4` or `6`.
    pub fn version(self) -> u8 {
        match self {
            IpFamily::V4 => 4,
            IpFamily::V6 => 6,
        }
    }

    /// Address width in bits: `32` or `128`.
    pub fn bits(self) -> u8 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }

    /// The largest address value of the family (`255.255.255.255` as
    /// `u32::MAX`, or `u128::MAX`).
    pub fn max_value(self) -> u128 {
        match self {
            IpFamily::V4 => u128::from(u32::MAX),
            IpFamily::V6 => u128::MAX,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// Errors of address, CIDR and range parsing and validation. Each names the
/// offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpError {
    /// Not an IP address (Go `net.ParseIP` rules: no leading zeros in IPv4
    /// octets, no zone, no brackets, no whitespace).
    #[error("invalid IP address {value:?}")]
    InvalidIp {
        /// The rejected text.
        value: String,
    },
    /// Not a CIDR.
    #[error("invalid CIDR {value:?}: {reason}")]
    InvalidCidr {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A valid CIDR that is not written in canonical form (host bits set, or
    /// not printed the canonical way).
    #[error("CIDR {value:?} is not canonical, expected {expected:?}")]
    NonCanonicalCidr {
        /// The rejected text.
        value: String,
        /// The canonical form of the same network.
        expected: String,
    },
    /// Not a Spiderpool range string.
    #[error("invalid IP range {value:?}: {reason}")]
    InvalidRange {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A valid value of the wrong family.
    #[error("{value:?} is not {expected}")]
    FamilyMismatch {
        /// The rejected value, as text.
        value: String,
        /// The family that was required.
        expected: IpFamily,
    },
    /// An item of a list failed; `index` is its position (0-based).
    #[error("item {index}: {cause}")]
    RangeItem {
        /// Position of the item in the list.
        index: usize,
        /// Why the item was rejected. Part of the message, so not returned
        /// by `source()` (a chain printer would show it twice).
        cause: Box<IpError>,
    },
}

/// The `u128` value of an address: an IPv4 address is its `u32` value, an IPv6
/// address its `u128` value (by variant; no unmapping).
pub fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of a value in a family.
///
/// For IPv4, `v` must be at most `u32::MAX` (checked with `debug_assert!`); in
/// release builds a larger value is truncated to its low 32 bits, never a panic.
pub fn u128_to_ip(family: IpFamily, v: u128) -> IpAddr {
    match family {
        IpFamily::V4 => {
            debug_assert!(v <= family.max_value(), "IPv4 value {v} out of range");
            // Truncation is the documented release-mode behaviour.
            #[allow(clippy::cast_possible_truncation)]
            IpAddr::V4(Ipv4Addr::from(v as u32))
        }
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// The value of `ip` as a member of `family`, if it is one.
///
/// An IPv4 address is a member of IPv4 only; an IPv6 address of IPv6 only,
/// except that an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) also counts as
/// its IPv4 address for IPv4, the way Go's `To4` treats it.
pub fn ip_value_of(family: IpFamily, ip: &IpAddr) -> Option<u128> {
    match (family, ip) {
        (IpFamily::V4, IpAddr::V4(a)) => Some(u128::from(u32::from(*a))),
        (IpFamily::V4, IpAddr::V6(a)) => a.to_ipv4_mapped().map(|v4| u128::from(u32::from(v4))),
        (IpFamily::V6, IpAddr::V6(a)) => Some(u128::from(*a)),
        (IpFamily::V6, IpAddr::V4(_)) => None,
    }
}

/// `ip` with an IPv4-mapped IPv6 address turned into its IPv4 address (Go's
/// `To4` rule); every other address unchanged.
pub fn unmap_ipv4(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Parses an IP address as Go's `net.ParseIP` does, strictly: IPv4 dotted
/// quads without leading zeros (`010.1.1.1` is rejected, as in Go since 1.17),
/// IPv6 in any RFC 4291 text form, no zone (`%eth0`), no brackets, no
/// whitespace. IPv4-mapped IPv6 text (`::ffff:10.6.0.1`) yields the IPv4
/// address.
pub fn parse_ip(s: &str) -> Result<IpAddr, IpError> {
    s.parse::<IpAddr>().map(unmap_ipv4).map_err(|_| IpError::InvalidIp { value: s.to_owned() })
}

/// [`parse_ip`], then requires the given family ([`IpError::FamilyMismatch`]
/// otherwise; IPv4-mapped text is IPv4).
pub fn parse_ip_of(s: &str, family: IpFamily) -> Result<IpAddr, IpError> {
    let ip = parse_ip(s)?;
    if IpFamily::of(&ip) == family {
        Ok(ip)
    } else {
        Err(IpError::FamilyMismatch { value: s.to_owned(), expected: family })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn family_basics() {
        assert_eq!(IpFamily::from_version(4), Some(IpFamily::V4));
        assert_eq!(IpFamily::from_version(6), Some(IpFamily::V6));
        for v in [0, 5, -4, 46, i64::MAX] {
            assert_eq!(IpFamily::from_version(v), None);
        }
        assert_eq!(IpFamily::V4.version(), 4);
        assert_eq!(IpFamily::V6.version(), 6);
        assert_eq!(IpFamily::V4.bits(), 32);
        assert_eq!(IpFamily::V6.bits(), 128);
        assert_eq!(IpFamily::V4.max_value(), 0xffff_ffff);
        assert_eq!(IpFamily::V6.max_value(), u128::MAX);
        assert_eq!(IpFamily::V4.to_string(), "IPv4");
        assert_eq!(IpFamily::V6.to_string(), "IPv6");
        assert!(IpFamily::V4 < IpFamily::V6);
        let v4: IpAddr = "1.2.3.4".parse().unwrap();
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(IpFamily::of(&v4), IpFamily::V4);
        assert_eq!(IpFamily::of(&mapped), IpFamily::V6);
    }

    #[test]
    fn value_conversions_at_the_edges() {
        let cases: &[(&str, IpFamily, u128)] = &[
            ("0.0.0.0", IpFamily::V4, 0),
            ("255.255.255.255", IpFamily::V4, 0xffff_ffff),
            ("10.6.212.200", IpFamily::V4, 0x0a06_d4c8),
            ("::", IpFamily::V6, 0),
            ("::1", IpFamily::V6, 1),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IpFamily::V6, u128::MAX),
        ];
        for &(text, family, value) in cases {
            let ip = parse_ip(text).unwrap();
            assert_eq!(ip_to_u128(ip), value, "{text}");
            assert_eq!(u128_to_ip(family, value), ip, "{text}");
            assert_eq!(ip_value_of(family, &ip), Some(value), "{text}");
            assert_eq!(u128_to_ip(family, value).to_string(), text);
        }
    }

    #[test]
    fn ip_value_of_is_family_aware() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_value_of(IpFamily::V6, &v4), None);
        assert_eq!(ip_value_of(IpFamily::V4, &v6), None);
        assert_eq!(ip_value_of(IpFamily::V4, &mapped), Some(0x0a00_0001));
        assert_eq!(
            ip_value_of(IpFamily::V6, &mapped),
            Some(0xffff_0a00_0001),
            "as an IPv6 value, a mapped address is its own 128-bit value"
        );
        assert_eq!(unmap_ipv4(mapped), v4);
        assert_eq!(unmap_ipv4(v6), v6);
    }

    #[test]
    fn parse_ip_accepts_what_go_accepts() {
        let cases: &[(&str, &str)] = &[
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
            ("10.6.212.200", "10.6.212.200"),
            ("::", "::"),
            ("0:0:0:0:0:0:0:0", "::"),
            ("2001:DB8::1", "2001:db8::1"),
            ("0001:0002::", "1:2::"),
            ("1::2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
            // IPv4-compatible (not mapped) stays IPv6, printed in hex like Go.
            ("::1.2.3.4", "::102:304"),
            // IPv4-mapped text becomes IPv4.
            ("::ffff:10.6.0.1", "10.6.0.1"),
            ("::FFFF:10.6.0.1", "10.6.0.1"),
            ("::ffff:0:1", "0.0.0.1"),
            ("0:0:0:0:0:ffff:a06:1", "10.6.0.1"),
        ];
        for &(text, printed) in cases {
            let ip = parse_ip(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(ip.to_string(), printed, "{text}");
        }
    }

    #[test]
    fn parse_ip_rejects_what_go_rejects() {
        for text in [
            "",
            " ",
            "010.1.1.1",
            "00.0.0.0",
            "1.2.3.04",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3.4\n",
            "fe80::1%eth0",
            "[::1]",
            "::ffff:010.6.0.1",
            "00001::",
            "1::2::3",
            "::ffff:1.2.3.4:1",
            "1.2.3.4/32",
            "abc",
            "+1.2.3.4",
            "1.2.3.4-1.2.3.5",
        ] {
            assert_eq!(
                parse_ip(text),
                Err(IpError::InvalidIp { value: text.to_owned() }),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_ip("010.1.1.1").unwrap_err().to_string(),
            "invalid IP address \"010.1.1.1\""
        );
    }

    #[test]
    fn parse_ip_of_checks_family() {
        assert_eq!(parse_ip_of("10.0.0.1", IpFamily::V4).unwrap().to_string(), "10.0.0.1");
        assert_eq!(parse_ip_of("::ffff:10.0.0.1", IpFamily::V4).unwrap().to_string(), "10.0.0.1");
        let err = parse_ip_of("::ffff:10.0.0.1", IpFamily::V6).unwrap_err();
        assert_eq!(
            err,
            IpError::FamilyMismatch { value: "::ffff:10.0.0.1".into(), expected: IpFamily::V6 }
        );
        assert_eq!(err.to_string(), "\"::ffff:10.0.0.1\" is not IPv6");
        assert!(matches!(
            parse_ip_of("fd00::1", IpFamily::V4),
            Err(IpError::FamilyMismatch { expected: IpFamily::V4, .. })
        ));
        assert!(matches!(parse_ip_of("nope", IpFamily::V4), Err(IpError::InvalidIp { .. })));
    }

    /// Reference RFC 5952 formatter, to check std's `Display` against.
    fn rfc5952(a: Ipv6Addr) -> String {
        let g = a.segments();
        // Longest run of >= 2 zero groups, first on a tie.
        let (mut best_start, mut best_len) = (0usize, 0usize);
        let mut i = 0;
        while i < 8 {
            if g[i] == 0 {
                let start = i;
                while i < 8 && g[i] == 0 {
                    i += 1;
                }
                if i - start > best_len {
                    best_start = start;
                    best_len = i - start;
                }
            } else {
                i += 1;
            }
        }
        let hex = |s: &[u16]| s.iter().map(|x| format!("{x:x}")).collect::<Vec<_>>().join(":");
        if best_len >= 2 {
            format!("{}::{}", hex(&g[..best_start]), hex(&g[best_start + best_len..]))
        } else {
            hex(&g)
        }
    }

    #[test]
    fn std_ipv6_display_is_rfc5952() {
        let mut values: Vec<u128> = vec![
            0,
            1,
            u128::MAX,
            0x2001_0db8_0000_0000_0001_0000_0000_0001,
            0x2001_0db8_0000_0001_0001_0001_0001_0001,
            0x0001_0000_0001_0001_0001_0001_0001_0001,
            0x0001_0000_0000_0001_0000_0000_0000_0001,
            0x0000_0000_0001_0000_0000_0001_0000_0000,
            0x0000_0001_0000_0000_0000_0000_0000_0000,
            0xfd00_0000_0000_0000_0000_0000_0000_00ff,
            0x0000_0000_0000_0000_0000_0000_0102_0304,
        ];
        // A deterministic spread of values with many zero groups.
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..2000 {
            x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(1);
            let mask_bits = (x >> 64) as u8;
            let mut v = x;
            for k in 0..8 {
                if mask_bits & (1 << k) != 0 {
                    v &= !(0xffffu128 << (16 * k));
                }
            }
            values.push(v);
        }
        for v in values {
            let a = Ipv6Addr::from(v);
            if a.to_ipv4_mapped().is_some() {
                continue; // std prints these as ::ffff:a.b.c.d; see module docs
            }
            assert_eq!(a.to_string(), rfc5952(a), "{v:#x}");
        }
    }
}
