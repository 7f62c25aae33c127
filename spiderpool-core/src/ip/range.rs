//! [`IpRange`]: one Spiderpool range string (`a-b` or a single address).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{IpError, IpFamily, cidr_range, family_of_cidr, ip_to_u128, ip_value_of};
use super::{parse_ip, u128_to_ip};

/// An inclusive interval of addresses of one family.
///
/// Invariant: `start <= end`, both within the family's values. Printed (and
/// serialised) as Spiderpool prints ranges: `a` when it holds one address,
/// `a-b` otherwise, IPv6 in RFC 5952 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IpRange {
    family: IpFamily,
    start: u128,
    end: u128,
}

impl IpRange {
    /// Unchecked constructor for callers that uphold the invariant.
    pub(super) fn from_parts(family: IpFamily, start: u128, end: u128) -> IpRange {
        debug_assert!(start <= end && end <= family.max_value());
        IpRange { family, start, end }
    }

    /// The range `start..=end`. Both must be of the same family (by
    /// [`IpAddr`] variant: values are not unmapped), else
    /// [`IpError::FamilyMismatch`] naming `end`; `start` after `end` is
    /// [`IpError::InvalidRange`].
    pub fn new(start: IpAddr, end: IpAddr) -> Result<IpRange, IpError> {
        let family = IpFamily::of(&start);
        if IpFamily::of(&end) != family {
            return Err(IpError::FamilyMismatch { value: end.to_string(), expected: family });
        }
        if ip_to_u128(start) > ip_to_u128(end) {
            return Err(IpError::InvalidRange {
                value: format!("{start}-{end}"),
                reason: format!("start {start} is after end {end}"),
            });
        }
        Ok(IpRange::from_parts(family, ip_to_u128(start), ip_to_u128(end)))
    }

    /// The range holding exactly `ip`.
    pub fn single(ip: IpAddr) -> IpRange {
        let v = ip_to_u128(ip);
        IpRange::from_parts(IpFamily::of(&ip), v, v)
    }

    /// The range of values `start..=end` in `family`; rejects `start > end`
    /// and values beyond the family's maximum ([`IpError::InvalidRange`]).
    pub fn from_u128(family: IpFamily, start: u128, end: u128) -> Result<IpRange, IpError> {
        let max = family.max_value();
        if start > max || end > max {
            return Err(IpError::InvalidRange {
                value: format!("{start}-{end}"),
                reason: format!("value exceeds the {family} maximum {max}"),
            });
        }
        if start > end {
            let (s, e) = (u128_to_ip(family, start), u128_to_ip(family, end));
            return Err(IpError::InvalidRange {
                value: format!("{s}-{e}"),
                reason: format!("start {s} is after end {e}"),
            });
        }
        Ok(IpRange::from_parts(family, start, end))
    }

    /// Parses a Spiderpool range string: a single address or `start-end`, no
    /// whitespace, exactly one `-` at most, both ends of one family, start not
    /// after end. Addresses follow [`parse_ip`] (so IPv4-mapped text such as
    /// `::ffff:10.0.0.1-::ffff:10.0.0.9` is an IPv4 range).
    pub fn parse(s: &str) -> Result<IpRange, IpError> {
        let invalid = |reason: String| IpError::InvalidRange { value: s.to_owned(), reason };
        if s.is_empty() {
            return Err(invalid("empty".to_owned()));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(invalid("contains whitespace".to_owned()));
        }
        let address = |text: &str, what: &str| {
            if text.is_empty() {
                return Err(invalid(format!("missing {what} address")));
            }
            parse_ip(text).map_err(|_| invalid(format!("invalid {what} address {text:?}")))
        };
        let mut parts = s.split('-');
        let first = parts.next().unwrap_or_default();
        let Some(second) = parts.next() else {
            let ip = parse_ip(s).map_err(|_| invalid("not an IP address".to_owned()))?;
            return Ok(IpRange::single(ip));
        };
        if parts.next().is_some() {
            return Err(invalid("more than one '-'".to_owned()));
        }
        let start = address(first, "start")?;
        let end = address(second, "end")?;
        let (sf, ef) = (IpFamily::of(&start), IpFamily::of(&end));
        if sf != ef {
            return Err(invalid(format!("start {start} is {sf} but end {end} is {ef}")));
        }
        if ip_to_u128(start) > ip_to_u128(end) {
            return Err(invalid(format!("start {start} is after end {end}")));
        }
        Ok(IpRange::from_parts(sf, ip_to_u128(start), ip_to_u128(end)))
    }

    /// [`IpRange::parse`], then requires `family` ([`IpError::FamilyMismatch`]
    /// naming the whole text otherwise).
    pub fn parse_of(s: &str, family: IpFamily) -> Result<IpRange, IpError> {
        let r = IpRange::parse(s)?;
        if r.family == family {
            Ok(r)
        } else {
            Err(IpError::FamilyMismatch { value: s.to_owned(), expected: family })
        }
    }

    /// The family of both ends.
    pub fn family(&self) -> IpFamily {
        self.family
    }

    /// First address.
    pub fn start(&self) -> IpAddr {
        u128_to_ip(self.family, self.start)
    }

    /// Last address (inclusive).
    pub fn end(&self) -> IpAddr {
        u128_to_ip(self.family, self.end)
    }

    /// First address as a value.
    pub fn start_u128(&self) -> u128 {
        self.start
    }

    /// Last address as a value.
    pub fn end_u128(&self) -> u128 {
        self.end
    }

    /// Number of addresses. Saturating: the whole IPv6 space holds 2^128
    /// addresses, one more than `u128::MAX`, and reports `u128::MAX`.
    #[allow(clippy::len_without_is_empty)] // a range is never empty
    pub fn len(&self) -> u128 {
        (self.end - self.start).saturating_add(1)
    }

    /// Whether `ip` is in the range (family-aware, see
    /// [`ip_value_of`](super::ip_value_of)).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        ip_value_of(self.family, ip).is_some_and(|v| self.start <= v && v <= self.end)
    }

    /// Whether the two ranges share an address (never across families).
    pub fn overlaps(&self, other: &IpRange) -> bool {
        self.family == other.family && self.start <= other.end && other.start <= self.end
    }

    /// Whether every address of the range lies in `net`.
    pub fn is_within(&self, net: &IpNet) -> bool {
        let n = cidr_range(net);
        family_of_cidr(net) == self.family && n.start <= self.start && self.end <= n.end
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start())
        } else {
            write!(f, "{}-{}", self.start(), self.end())
        }
    }
}

impl FromStr for IpRange {
    type Err = IpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IpRange::parse(s)
    }
}

impl Serialize for IpRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        IpRange::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ip::parse_cidr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_print_round_trip() {
        // (input, printed, family, len)
        let cases: &[(&str, &str, IpFamily, u128)] = &[
            ("10.6.212.200-10.6.212.240", "10.6.212.200-10.6.212.240", IpFamily::V4, 41),
            ("10.6.212.200", "10.6.212.200", IpFamily::V4, 1),
            ("10.6.212.200-10.6.212.200", "10.6.212.200", IpFamily::V4, 1),
            ("0.0.0.0-255.255.255.255", "0.0.0.0-255.255.255.255", IpFamily::V4, 1 << 32),
            ("0.0.0.0", "0.0.0.0", IpFamily::V4, 1),
            ("255.255.255.255", "255.255.255.255", IpFamily::V4, 1),
            ("255.255.255.254-255.255.255.255", "255.255.255.254-255.255.255.255", IpFamily::V4, 2),
            ("fd00::1-fd00::ff", "fd00::1-fd00::ff", IpFamily::V6, 255),
            ("FD00:0:0::1-fd00::00FF", "fd00::1-fd00::ff", IpFamily::V6, 255),
            ("::", "::", IpFamily::V6, 1),
            ("::-::1", "::-::1", IpFamily::V6, 2),
            (
                "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                IpFamily::V6,
                u128::MAX,
            ),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                IpFamily::V6,
                2,
            ),
            ("::ffff:10.0.0.1-::ffff:10.0.0.9", "10.0.0.1-10.0.0.9", IpFamily::V4, 9),
            ("10.0.0.1-::ffff:10.0.0.9", "10.0.0.1-10.0.0.9", IpFamily::V4, 9),
            ("::ffff:10.0.0.1", "10.0.0.1", IpFamily::V4, 1),
        ];
        for &(input, printed, family, len) in cases {
            let r = IpRange::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), printed, "{input}");
            assert_eq!(r.family(), family, "{input}");
            assert_eq!(r.len(), len, "{input}");
            assert_eq!(IpRange::parse(printed).unwrap(), r, "{printed} reparses");
            assert_eq!(input.parse::<IpRange>().unwrap(), r);
        }
    }

    #[test]
    fn parse_rejections_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            (" ", "contains whitespace"),
            ("10.0.0.1 - 10.0.0.5", "contains whitespace"),
            ("10.0.0.1-10.0.0.5 ", "contains whitespace"),
            ("10.0.0.1\t", "contains whitespace"),
            ("10.0.0.1-10.0.0.2-10.0.0.3", "more than one '-'"),
            ("--", "more than one '-'"),
            ("-", "missing start address"),
            ("-10.0.0.1", "missing start address"),
            ("10.0.0.1-", "missing end address"),
            ("10.0.0.5-10.0.0.1", "start 10.0.0.5 is after end 10.0.0.1"),
            ("fd00::2-fd00::1", "start fd00::2 is after end fd00::1"),
            ("10.0.0.1-fd00::1", "start 10.0.0.1 is IPv4 but end fd00::1 is IPv6"),
            ("fd00::1-10.0.0.1", "start fd00::1 is IPv6 but end 10.0.0.1 is IPv4"),
            ("010.0.0.1-10.0.0.2", "invalid start address \"010.0.0.1\""),
            ("10.0.0.1-10.0.0.256", "invalid end address \"10.0.0.256\""),
            ("10.0.0.0/24", "not an IP address"),
            ("fe80::1%eth0", "not an IP address"),
            ("abc", "not an IP address"),
        ];
        for &(input, reason) in cases {
            assert_eq!(
                IpRange::parse(input),
                Err(IpError::InvalidRange { value: input.to_owned(), reason: reason.to_owned() }),
                "{input:?}"
            );
        }
        assert_eq!(
            IpRange::parse("10.0.0.5-10.0.0.1").unwrap_err().to_string(),
            "invalid IP range \"10.0.0.5-10.0.0.1\": start 10.0.0.5 is after end 10.0.0.1"
        );
    }

    #[test]
    fn parse_of_checks_family() {
        assert!(IpRange::parse_of("10.0.0.1-10.0.0.2", IpFamily::V4).is_ok());
        assert_eq!(
            IpRange::parse_of("10.0.0.1-10.0.0.2", IpFamily::V6),
            Err(IpError::FamilyMismatch {
                value: "10.0.0.1-10.0.0.2".into(),
                expected: IpFamily::V6
            })
        );
        assert_eq!(
            IpRange::parse_of("::ffff:10.0.0.1", IpFamily::V6),
            Err(IpError::FamilyMismatch {
                value: "::ffff:10.0.0.1".into(),
                expected: IpFamily::V6
            })
        );
        assert!(matches!(IpRange::parse_of("x", IpFamily::V4), Err(IpError::InvalidRange { .. })));
    }

    #[test]
    fn constructors() {
        let r = IpRange::new(ip("10.0.0.1"), ip("10.0.0.3")).unwrap();
        assert_eq!((r.start_u128(), r.end_u128()), (0x0a00_0001, 0x0a00_0003));
        assert_eq!(r.start(), ip("10.0.0.1"));
        assert_eq!(r.end(), ip("10.0.0.3"));
        assert_eq!(
            IpRange::new(ip("10.0.0.1"), ip("::1")),
            Err(IpError::FamilyMismatch { value: "::1".into(), expected: IpFamily::V4 })
        );
        assert_eq!(
            IpRange::new(ip("10.0.0.3"), ip("10.0.0.1")),
            Err(IpError::InvalidRange {
                value: "10.0.0.3-10.0.0.1".into(),
                reason: "start 10.0.0.3 is after end 10.0.0.1".into()
            })
        );
        let s = IpRange::single(ip("255.255.255.255"));
        assert_eq!(s.to_string(), "255.255.255.255");
        assert_eq!(s.len(), 1);

        assert_eq!(
            IpRange::from_u128(IpFamily::V4, 0, u128::from(u32::MAX)).unwrap().len(),
            1 << 32
        );
        assert!(matches!(
            IpRange::from_u128(IpFamily::V4, 0, 1 << 32),
            Err(IpError::InvalidRange { .. })
        ));
        assert_eq!(
            IpRange::from_u128(IpFamily::V4, 2, 1),
            Err(IpError::InvalidRange {
                value: "0.0.0.2-0.0.0.1".into(),
                reason: "start 0.0.0.2 is after end 0.0.0.1".into()
            })
        );
        let full = IpRange::from_u128(IpFamily::V6, 0, u128::MAX).unwrap();
        assert_eq!(full.len(), u128::MAX, "2^128 saturates");
        let top = IpRange::from_u128(IpFamily::V6, u128::MAX, u128::MAX).unwrap();
        assert_eq!(top.len(), 1);
    }

    #[test]
    fn contains_overlaps_within() {
        let r = IpRange::parse("10.0.0.10-10.0.0.20").unwrap();
        assert!(r.contains(&ip("10.0.0.10")));
        assert!(r.contains(&ip("10.0.0.20")));
        assert!(r.contains(&ip("::ffff:10.0.0.15")));
        assert!(!r.contains(&ip("10.0.0.21")));
        assert!(!r.contains(&ip("10.0.0.9")));
        assert!(!r.contains(&ip("::a00:f")), "IPv4-compatible is IPv6");

        let table: &[(&str, &str, bool)] = &[
            ("10.0.0.10-10.0.0.20", "10.0.0.20-10.0.0.30", true),
            ("10.0.0.10-10.0.0.20", "10.0.0.21-10.0.0.30", false),
            ("10.0.0.10-10.0.0.20", "10.0.0.1-10.0.0.10", true),
            ("10.0.0.10-10.0.0.20", "10.0.0.12", true),
            ("0.0.0.0-255.255.255.255", "255.255.255.255", true),
            ("::-::ffff", "::a-::b", true),
            ("::-::ffff", "::1:0", false),
        ];
        for &(a, b, expected) in table {
            let (a, b) = (IpRange::parse(a).unwrap(), IpRange::parse(b).unwrap());
            assert_eq!(a.overlaps(&b), expected, "{a} {b}");
            assert_eq!(b.overlaps(&a), expected, "{b} {a}");
        }
        let v4 = IpRange::parse("0.0.0.0-0.0.0.5").unwrap();
        let v6 = IpRange::parse("::-::5").unwrap();
        assert!(!v4.overlaps(&v6), "same values, different families");

        let net = parse_cidr("10.0.0.0/24").unwrap();
        assert!(r.is_within(&net));
        assert!(IpRange::parse("10.0.0.0-10.0.0.255").unwrap().is_within(&net));
        assert!(!IpRange::parse("10.0.0.0-10.0.1.0").unwrap().is_within(&net));
        assert!(!IpRange::parse("::1").unwrap().is_within(&net));
        let all6 = parse_cidr("::/0").unwrap();
        assert!(full_v6().is_within(&all6));
        assert!(
            IpRange::parse("255.255.255.255").unwrap().is_within(&parse_cidr("0.0.0.0/0").unwrap())
        );
    }

    fn full_v6() -> IpRange {
        IpRange::from_u128(IpFamily::V6, 0, u128::MAX).unwrap()
    }

    #[test]
    fn serde_as_string() {
        let r = IpRange::parse("fd00::1-fd00::9").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"fd00::1-fd00::9\"");
        let back: IpRange = serde_json::from_str("\"FD00::1-fd00::9\"").unwrap();
        assert_eq!(back, r);
        let list: Vec<IpRange> =
            serde_json::from_str(r#"["10.0.0.1","10.0.0.5-10.0.0.9"]"#).unwrap();
        assert_eq!(list[1].len(), 5);
        let err = serde_json::from_str::<IpRange>("\"10.0.0.9-10.0.0.1\"").unwrap_err();
        assert!(err.to_string().contains("start 10.0.0.9 is after end 10.0.0.1"), "{err}");
        assert!(serde_json::from_str::<IpRange>("5").is_err());
        // Owned (escaped) strings deserialize too.
        let escaped: IpRange = serde_json::from_str("\"10.0.0.1\\u002d10.0.0.2\"").unwrap();
        assert_eq!(escaped.to_string(), "10.0.0.1-10.0.0.2");
    }
}
