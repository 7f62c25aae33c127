#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use super::*;
use crate::ip::{IpError, parse_cidr};

const MAX6: u128 = u128::MAX;
const MAX4: u128 = u32::MAX as u128;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn set4(items: &[&str]) -> IpSet {
    IpSet::parse_ranges(IpFamily::V4, items).unwrap()
}

fn set6(items: &[&str]) -> IpSet {
    IpSet::parse_ranges(IpFamily::V6, items).unwrap()
}

fn intervals(s: &IpSet) -> Vec<(u128, u128)> {
    s.ranges().map(|r| (r.start_u128(), r.end_u128())).collect()
}

#[test]
fn adjacency_coalesces() {
    let mut s = IpSet::new(IpFamily::V4);
    assert!(s.insert(ip("10.0.0.1")));
    assert!(s.insert(ip("10.0.0.3")));
    assert_eq!(s.interval_count(), 2);
    assert!(s.insert(ip("10.0.0.2")));
    assert_eq!(s.interval_count(), 1);
    assert_eq!(s.to_strings(), ["10.0.0.1-10.0.0.3"]);
    assert!(!s.insert(ip("10.0.0.2")), "already present");
    assert_eq!(s.len(), 3);

    s.insert_range(&IpRange::parse("10.0.0.4-10.0.0.9").unwrap()).unwrap();
    assert_eq!(s.to_strings(), ["10.0.0.1-10.0.0.9"]);
    s.insert_range(&IpRange::parse("10.0.0.11-10.0.0.12").unwrap()).unwrap();
    assert_eq!(s.to_strings(), ["10.0.0.1-10.0.0.9", "10.0.0.11-10.0.0.12"]);
    s.insert_range(&IpRange::parse("10.0.0.10").unwrap()).unwrap();
    assert_eq!(s.to_strings(), ["10.0.0.1-10.0.0.12"]);
    // A range spanning several intervals swallows them all.
    let mut t = set4(&["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.9"]);
    t.insert_range(&IpRange::parse("10.0.0.2-10.0.0.8").unwrap()).unwrap();
    assert_eq!(t.to_strings(), ["10.0.0.1-10.0.0.9"]);
    assert_eq!(t.len(), 9);
}

#[test]
fn remove_splits() {
    let mut s = set4(&["10.0.0.1-10.0.0.9"]);
    assert!(s.remove(ip("10.0.0.5")));
    assert!(!s.remove(ip("10.0.0.5")));
    assert_eq!(s.to_strings(), ["10.0.0.1-10.0.0.4", "10.0.0.6-10.0.0.9"]);
    assert!(s.remove(ip("10.0.0.1")));
    assert!(s.remove(ip("10.0.0.9")));
    assert_eq!(s.to_strings(), ["10.0.0.2-10.0.0.4", "10.0.0.6-10.0.0.8"]);
    assert_eq!(s.len(), 6);
    s.remove_range(&IpRange::parse("10.0.0.3-10.0.0.7").unwrap()).unwrap();
    assert_eq!(s.to_strings(), ["10.0.0.2", "10.0.0.8"]);
    s.remove_range(&IpRange::parse("0.0.0.0-255.255.255.255").unwrap()).unwrap();
    assert!(s.is_empty());
    assert_eq!(s.len(), 0);
    assert_eq!(s, IpSet::new(IpFamily::V4), "empty sets are equal");
}

#[test]
fn edges_of_the_ipv4_space() {
    let all = set4(&["0.0.0.0-255.255.255.255"]);
    assert_eq!(all.len(), 1 << 32);
    assert_eq!(all, IpSet::from_cidr(&parse_cidr("0.0.0.0/0").unwrap()));
    assert_eq!(all.first_free_in(&IpRange::parse("255.255.255.255").unwrap()), None);
    assert_eq!(all.nth((1 << 32) - 1), Some(ip("255.255.255.255")));
    assert_eq!(all.nth(1 << 32), None);
    assert_eq!(all.last(), Some(ip("255.255.255.255")));

    let mut s = IpSet::new(IpFamily::V4);
    assert!(s.insert(ip("255.255.255.255")));
    assert!(s.insert(ip("0.0.0.0")));
    assert!(s.insert(ip("255.255.255.254")));
    assert_eq!(s.to_strings(), ["0.0.0.0", "255.255.255.254-255.255.255.255"]);
    assert!(!s.insert_u128(MAX4 + 1), "beyond IPv4");
    assert!(!s.insert(ip("::1")), "other family");
    assert!(s.contains(&ip("::ffff:255.255.255.255")), "mapped counts as IPv4");
    let top = IpRange::parse("255.255.255.250-255.255.255.255").unwrap();
    assert_eq!(s.first_free_in(&top), Some(ip("255.255.255.250")));
    let very_top = IpRange::parse("255.255.255.254-255.255.255.255").unwrap();
    assert_eq!(s.first_free_in(&very_top), None);
    assert!(s.remove(ip("255.255.255.255")));
    assert_eq!(s.first_free_in(&very_top), Some(ip("255.255.255.255")));
    assert!(s.remove(ip("0.0.0.0")));
    assert!(!s.remove(ip("0.0.0.0")));
    assert_eq!(s.to_strings(), ["255.255.255.254"]);
}

#[test]
fn edges_of_the_ipv6_space() {
    let full = IpSet::from_cidr(&parse_cidr("::/0").unwrap());
    assert_eq!(full.len(), MAX6, "2^128 saturates at u128::MAX");
    assert_eq!(full.interval_count(), 1);
    assert_eq!(full.to_strings(), ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]);
    let whole = IpRange::from_u128(IpFamily::V6, 0, MAX6).unwrap();
    assert_eq!(full.first_free_in(&whole), None);
    assert_eq!(full.nth(MAX6), Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));

    // Removing one address leaves exactly u128::MAX addresses: no saturation.
    let mut s = full.clone();
    assert!(s.remove_u128(MAX6));
    assert_eq!(s.len(), MAX6);
    assert_eq!(s.first_free_in(&whole), Some(u128_to_ip(IpFamily::V6, MAX6)));
    assert!(s.remove_u128(0));
    assert_eq!(s.len(), MAX6 - 1);
    assert_eq!(s.first_free_in(&whole), Some(ip("::")));
    assert!(s.insert_u128(MAX6));
    assert!(s.insert_u128(0));
    assert_eq!(s, full);
    assert_eq!(s.len(), MAX6);

    let mut t = IpSet::new(IpFamily::V6);
    assert!(t.insert_u128(MAX6));
    assert!(t.insert_u128(MAX6 - 1));
    assert!(!t.insert_u128(MAX6));
    assert_eq!(intervals(&t), [(MAX6 - 1, MAX6)]);
    assert_eq!(t.first_free_in_u128(MAX6 - 1, MAX6), None);
    assert_eq!(t.first_free_in_u128(MAX6 - 5, MAX6), Some(MAX6 - 5));
    t.insert_range(&IpRange::from_u128(IpFamily::V6, 0, MAX6).unwrap()).unwrap();
    assert_eq!(t, full);
    t.remove_range(&IpRange::from_u128(IpFamily::V6, 1, MAX6 - 1).unwrap()).unwrap();
    assert_eq!(intervals(&t), [(0, 0), (MAX6, MAX6)]);
    assert_eq!(t.len(), 2);
    assert_eq!(
        t.iter().collect::<Vec<_>>(),
        [ip("::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    );
}

#[test]
fn first_free_in_skips_a_whole_interval() {
    let s = set6(&["fd00::-fd00::ffff:ffff:ffff", "fd00::1:0:0:1"]);
    let r = IpRange::parse("fd00::-fd00::ffff:ffff:ffff:ffff").unwrap();
    assert_eq!(s.first_free_in(&r), Some(ip("fd00::1:0:0:0")));
    let r = IpRange::parse("fd00::1:0:0:1-fd00::1:0:0:1").unwrap();
    assert_eq!(s.first_free_in(&r), None);
    let r = IpRange::parse("fd00::1:0:0:1-fd00::1:0:0:2").unwrap();
    assert_eq!(s.first_free_in(&r), Some(ip("fd00::1:0:0:2")));
    let r4 = IpRange::parse("10.0.0.1").unwrap();
    assert_eq!(s.first_free_in(&r4), None, "other family");
}

#[test]
fn first_not_in_leapfrogs() {
    let pool = set4(&["10.0.0.1-10.0.0.10", "10.0.1.1-10.0.1.10"]);
    let used = set4(&["10.0.0.0-10.0.0.10", "10.0.1.1-10.0.1.4"]);
    assert_eq!(pool.first_not_in(&used), Some(ip("10.0.1.5")));
    let all_used = set4(&["10.0.0.0-10.0.2.0"]);
    assert_eq!(pool.first_not_in(&all_used), None);
    assert_eq!(pool.first_not_in(&IpSet::new(IpFamily::V4)), Some(ip("10.0.0.1")));
    assert_eq!(pool.first_not_in(&set6(&["::1"])), Some(ip("10.0.0.1")));
    assert_eq!(IpSet::new(IpFamily::V4).first_not_in(&used), None);
    // At the very top of the space.
    let top =
        set6(&["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]);
    let mut used = top.clone();
    assert_eq!(top.first_not_in(&used), None);
    used.remove_u128(MAX6);
    assert_eq!(top.first_not_in(&used), Some(u128_to_ip(IpFamily::V6, MAX6)));
}

#[test]
fn nth_and_iter() {
    let s = set4(&["10.0.0.1-10.0.0.3", "10.0.0.7", "10.0.1.0-10.0.1.1"]);
    let all: Vec<IpAddr> = s.iter().collect();
    assert_eq!(all.len() as u128, s.len());
    for (n, a) in all.iter().enumerate() {
        assert_eq!(s.nth(n as u128), Some(*a));
    }
    assert_eq!(s.nth(6), None);
    assert_eq!(s.first(), Some(ip("10.0.0.1")));
    assert_eq!(s.last(), Some(ip("10.0.1.1")));
    assert_eq!(IpSet::new(IpFamily::V6).first(), None);
    // iter is lazy: taking a few from a /64 is instant.
    let big = IpSet::from_cidr(&parse_cidr("fd00::/64").unwrap());
    assert_eq!(
        big.iter().take(3).collect::<Vec<_>>(),
        [ip("fd00::"), ip("fd00::1"), ip("fd00::2")]
    );
    assert_eq!(big.len(), 1 << 64);
}

#[test]
fn constructors_and_family_errors() {
    let r4 = IpRange::parse("10.0.0.1-10.0.0.4").unwrap();
    let r6 = IpRange::parse("fd00::1").unwrap();
    assert_eq!(IpSet::from_range(r4).len(), 4);
    assert_eq!(
        IpSet::from_ranges(IpFamily::V4, [r4, r6]),
        Err(IpError::FamilyMismatch { value: "fd00::1".into(), expected: IpFamily::V4 })
    );
    let s = IpSet::from_ranges(IpFamily::V4, [r4, IpRange::parse("10.0.0.5").unwrap()]).unwrap();
    assert_eq!(s.to_strings(), ["10.0.0.1-10.0.0.5"]);

    let mut s = IpSet::new(IpFamily::V4);
    assert!(s.insert_range(&r6).is_err());
    assert!(s.remove_range(&r6).is_err());
    assert!(s.is_empty());
    assert!(!s.contains(&ip("fd00::1")));
    assert!(!s.overlaps_range(&r6));
    assert!(!s.contains_range(&r6));

    let err =
        IpSet::parse_ranges(IpFamily::V4, &["10.0.0.1", "10.0.0.2", "10.0.0.3 "]).unwrap_err();
    assert_eq!(
        err,
        IpError::RangeItem {
            index: 2,
            cause: Box::new(IpError::InvalidRange {
                value: "10.0.0.3 ".into(),
                reason: "contains whitespace".into()
            })
        }
    );
    let from_cidr = IpSet::from_cidr(&parse_cidr("10.6.1.9/24").unwrap());
    assert_eq!(from_cidr.to_strings(), ["10.6.1.0-10.6.1.255"]);
    assert_eq!(from_cidr.family(), IpFamily::V4);
}

#[test]
fn range_queries() {
    let s = set4(&["10.0.0.1-10.0.0.5", "10.0.0.10-10.0.0.20"]);
    let r = |t: &str| IpRange::parse(t).unwrap();
    assert!(s.contains_range(&r("10.0.0.2-10.0.0.5")));
    assert!(!s.contains_range(&r("10.0.0.2-10.0.0.6")));
    assert!(!s.contains_range(&r("10.0.0.5-10.0.0.10")));
    assert!(s.overlaps_range(&r("10.0.0.5-10.0.0.9")));
    assert!(s.overlaps_range(&r("10.0.0.6-10.0.0.10")));
    assert!(!s.overlaps_range(&r("10.0.0.6-10.0.0.9")));
    assert!(!s.overlaps_range(&r("10.0.0.21-255.255.255.255")));
    assert!(s.overlaps_range(&r("0.0.0.0-255.255.255.255")));
}

#[test]
fn algebra_examples() {
    let a = set4(&["10.0.0.1-10.0.0.10", "10.0.0.20-10.0.0.30"]);
    let b = set4(&["10.0.0.5-10.0.0.25"]);
    assert_eq!(a.union(&b).to_strings(), ["10.0.0.1-10.0.0.30"]);
    assert_eq!(a.difference(&b).to_strings(), ["10.0.0.1-10.0.0.4", "10.0.0.26-10.0.0.30"]);
    assert_eq!(b.difference(&a).to_strings(), ["10.0.0.11-10.0.0.19"]);
    assert_eq!(a.intersection(&b).to_strings(), ["10.0.0.5-10.0.0.10", "10.0.0.20-10.0.0.25"]);
    assert!(!a.is_subset(&b));
    assert!(a.intersection(&b).is_subset(&a));
    assert!(a.overlaps(&b));
    assert!(!a.overlaps(&set4(&["10.0.0.11-10.0.0.19"])));

    // Across families the other set behaves as empty.
    let c = set6(&["::1-::ff"]);
    assert_eq!(a.union(&c), a);
    assert_eq!(a.difference(&c), a);
    assert!(a.intersection(&c).is_empty());
    assert_eq!(a.intersection(&c).family(), IpFamily::V4);
    assert!(!a.is_subset(&c));
    assert!(IpSet::new(IpFamily::V4).is_subset(&c));
    assert!(!a.overlaps(&set6(&["::a00:1"])));

    // Whole spaces.
    let all6 = IpSet::from_cidr(&parse_cidr("::/0").unwrap());
    let d = all6.difference(&set6(&["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]));
    assert_eq!(intervals(&d), [(1, MAX6 - 1)]);
    assert_eq!(d.len(), MAX6 - 1);
    assert_eq!(d.union(&all6).len(), MAX6);
    assert_eq!(all6.intersection(&d), d);
}

#[test]
fn v6_slash_64_with_many_scattered_inserts() {
    let net = parse_cidr("fd00:1:2:3::/64").unwrap();
    let pool = IpSet::from_cidr(&net);
    let base = cidr_range(&net).start_u128();
    let mut used = IpSet::new(IpFamily::V6);
    let n: u128 = 100_000;
    // Scattered: every 7th address of a multiplicative walk; 2 apart at least,
    // so nothing coalesces.
    let mut x: u128 = 1;
    let mut inserted = 0u128;
    while inserted < n {
        x = (x * 6_364_136_223_846_793_005 + 1_442_695_040_888_963_407) % (1 << 60);
        let v = base + (x << 2);
        if used.insert_u128(v) {
            inserted += 1;
        }
    }
    assert_eq!(used.len(), n);
    assert_eq!(used.interval_count() as u128, n);
    assert!(used.is_subset(&pool));
    assert_eq!(pool.difference(&used).len(), (1u128 << 64) - n);
    assert_eq!(pool.first_not_in(&used), Some(u128_to_ip(IpFamily::V6, base)));
    // Fill the start so the first free address moves past them.
    used.insert_range(&IpRange::from_u128(IpFamily::V6, base, base + 1000).unwrap()).unwrap();
    let free = pool.first_not_in(&used).unwrap();
    assert!(!used.contains(&free));
    assert!(pool.contains(&free));
    // Remove everything again, one by one.
    let members: Vec<IpRange> = used.ranges().collect();
    for r in members {
        used.remove_range(&r).unwrap();
    }
    assert!(used.is_empty());
    assert_eq!(used.len(), 0);
}
