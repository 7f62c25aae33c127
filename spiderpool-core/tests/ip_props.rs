//! Property tests of `spiderpool_core::ip`: `IpSet` against a naive
//! `BTreeSet<u128>` model over small universes (at the bottom and at the very
//! top of both address spaces, so overflow at `u32::MAX` / `u128::MAX` is
//! exercised), and text round trips over the whole space.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};

use proptest::prelude::*;
use spiderpool_core::ip::{
    IpFamily, IpRange, IpSet, canonical_cidr_string, cidr_range, ip_value_of, merge_ranges,
    parse_canonical_cidr, parse_cidr, parse_ip, ranges_overlap_each_other, u128_to_ip,
};

/// Size of the model universe: offsets `0..UNIVERSE` from a base.
const UNIVERSE: u128 = 300;

/// A universe: a family and the value of offset 0.
#[derive(Clone, Copy, Debug)]
struct Universe {
    family: IpFamily,
    base: u128,
}

impl Universe {
    fn v(self, offset: u128) -> u128 {
        self.base + offset
    }
    fn range(self, a: u128, b: u128) -> IpRange {
        IpRange::from_u128(self.family, self.v(a.min(b)), self.v(a.max(b))).unwrap()
    }
}

fn universe() -> impl Strategy<Value = Universe> {
    prop_oneof![
        Just(Universe { family: IpFamily::V6, base: 0 }),
        Just(Universe { family: IpFamily::V6, base: u128::MAX - (UNIVERSE - 1) }),
        Just(Universe { family: IpFamily::V4, base: 0 }),
        Just(Universe { family: IpFamily::V4, base: u128::from(u32::MAX) - (UNIVERSE - 1) }),
    ]
}

/// Ranges as offset pairs, mostly short so that sets are fragmented.
fn offset_ranges() -> impl Strategy<Value = Vec<(u128, u128)>> {
    prop::collection::vec(
        (0..UNIVERSE, prop_oneof![3 => 0..4u128, 1 => 0..UNIVERSE])
            .prop_map(|(a, len)| (a, (a + len).min(UNIVERSE - 1))),
        0..12,
    )
}

fn build(u: Universe, ranges: &[(u128, u128)]) -> (IpSet, BTreeSet<u128>) {
    let mut set = IpSet::new(u.family);
    let mut model = BTreeSet::new();
    for &(a, b) in ranges {
        set.insert_range(&u.range(a, b)).unwrap();
        model.extend((a..=b).map(|o| u.v(o)));
    }
    (set, model)
}

fn expand(set: &IpSet) -> BTreeSet<u128> {
    set.ranges().flat_map(|r| r.start_u128()..=r.end_u128()).collect()
}

/// Sorted, disjoint, non-adjacent, within the family, and `len` /
/// `interval_count` consistent.
fn assert_canonical(set: &IpSet) -> Result<(), TestCaseError> {
    let ranges: Vec<IpRange> = set.ranges().collect();
    prop_assert_eq!(ranges.len(), set.interval_count());
    let mut total: u128 = 0;
    for r in &ranges {
        prop_assert!(r.start_u128() <= r.end_u128());
        prop_assert!(r.end_u128() <= set.family().max_value());
        prop_assert_eq!(r.family(), set.family());
        total = total.saturating_add(r.len());
    }
    for w in ranges.windows(2) {
        // next.start > prev.end + 1, written without overflow.
        prop_assert!(w[0].end_u128() < w[1].start_u128());
        prop_assert!(w[1].start_u128() - w[0].end_u128() >= 2, "adjacent: {} {}", w[0], w[1]);
    }
    prop_assert_eq!(set.len(), total);
    prop_assert_eq!(set.is_empty(), ranges.is_empty());
    Ok(())
}

fn check_same(set: &IpSet, model: &BTreeSet<u128>) -> Result<(), TestCaseError> {
    assert_canonical(set)?;
    prop_assert_eq!(&expand(set), model);
    prop_assert_eq!(set.len(), model.len() as u128);
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u128),
    Remove(u128),
    InsertRange(u128, u128),
    RemoveRange(u128, u128),
}

fn op() -> impl Strategy<Value = Op> {
    let off = 0..UNIVERSE;
    prop_oneof![
        3 => off.clone().prop_map(Op::Insert),
        3 => off.clone().prop_map(Op::Remove),
        1 => (off.clone(), 0..8u128).prop_map(|(a, l)| Op::InsertRange(a, (a + l).min(UNIVERSE - 1))),
        1 => (off, 0..8u128).prop_map(|(a, l)| Op::RemoveRange(a, (a + l).min(UNIVERSE - 1))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn build_matches_model(u in universe(), ranges in offset_ranges()) {
        let (set, model) = build(u, &ranges);
        check_same(&set, &model)?;
        for o in 0..UNIVERSE {
            let v = u.v(o);
            prop_assert_eq!(set.contains_u128(v), model.contains(&v));
            prop_assert_eq!(set.contains(&u128_to_ip(u.family, v)), model.contains(&v));
        }
        prop_assert_eq!(set.first().map(|a| ip_value_of(u.family, &a).unwrap()), model.first().copied());
        prop_assert_eq!(set.last().map(|a| ip_value_of(u.family, &a).unwrap()), model.last().copied());
        // The lazy iterator yields the model in order.
        let listed: Vec<u128> = set.iter().map(|a| ip_value_of(u.family, &a).unwrap()).collect();
        prop_assert_eq!(listed, model.iter().copied().collect::<Vec<_>>());
    }

    #[test]
    fn point_and_range_ops_match_model(u in universe(), start in offset_ranges(), ops in prop::collection::vec(op(), 0..40)) {
        let (mut set, mut model) = build(u, &start);
        for op in ops {
            match op {
                Op::Insert(o) => {
                    let v = u.v(o);
                    prop_assert_eq!(set.insert_u128(v), model.insert(v));
                }
                Op::Remove(o) => {
                    let v = u.v(o);
                    let ip = u128_to_ip(u.family, v);
                    prop_assert_eq!(set.remove(ip), model.remove(&v));
                }
                Op::InsertRange(a, b) => {
                    set.insert_range(&u.range(a, b)).unwrap();
                    model.extend((a..=b).map(|o| u.v(o)));
                }
                Op::RemoveRange(a, b) => {
                    set.remove_range(&u.range(a, b)).unwrap();
                    for o in a..=b {
                        model.remove(&u.v(o));
                    }
                }
            }
            check_same(&set, &model)?;
        }
    }

    #[test]
    fn algebra_matches_model(u in universe(), a in offset_ranges(), b in offset_ranges()) {
        let (sa, ma) = build(u, &a);
        let (sb, mb) = build(u, &b);
        check_same(&sa.union(&sb), &ma.union(&mb).copied().collect())?;
        check_same(&sa.difference(&sb), &ma.difference(&mb).copied().collect())?;
        check_same(&sb.difference(&sa), &mb.difference(&ma).copied().collect())?;
        check_same(&sa.intersection(&sb), &ma.intersection(&mb).copied().collect())?;
        prop_assert_eq!(sa.is_subset(&sb), ma.is_subset(&mb));
        prop_assert_eq!(sb.is_subset(&sa), mb.is_subset(&ma));
        prop_assert!(sa.intersection(&sb).is_subset(&sa));
        prop_assert!(sa.is_subset(&sa.union(&sb)));
        prop_assert_eq!(sa.overlaps(&sb), !ma.is_disjoint(&mb));
        prop_assert_eq!(sb.overlaps(&sa), !ma.is_disjoint(&mb));
        prop_assert_eq!(
            sa.first_not_in(&sb).map(|x| ip_value_of(u.family, &x).unwrap()),
            ma.difference(&mb).next().copied()
        );
        prop_assert_eq!(
            sb.first_not_in(&sa).map(|x| ip_value_of(u.family, &x).unwrap()),
            mb.difference(&ma).next().copied()
        );
        prop_assert_eq!(sa == sb, ma == mb);
    }

    #[test]
    fn range_queries_match_model(u in universe(), ranges in offset_ranges(), a in 0..UNIVERSE, b in 0..UNIVERSE) {
        let (set, model) = build(u, &ranges);
        let r = u.range(a, b);
        let (lo, hi) = (u.v(a.min(b)), u.v(a.max(b)));
        let expected_free = (lo..=hi).find(|v| !model.contains(v));
        prop_assert_eq!(set.first_free_in_u128(lo, hi), expected_free);
        prop_assert_eq!(
            set.first_free_in(&r).map(|x| ip_value_of(u.family, &x).unwrap()),
            expected_free
        );
        prop_assert_eq!(set.overlaps_range(&r), (lo..=hi).any(|v| model.contains(&v)));
        prop_assert_eq!(set.contains_range(&r), (lo..=hi).all(|v| model.contains(&v)));
    }

    #[test]
    fn nth_matches_model(u in universe(), ranges in offset_ranges(), n in 0..(UNIVERSE + 5)) {
        let (set, model) = build(u, &ranges);
        prop_assert_eq!(
            set.nth(n).map(|x| ip_value_of(u.family, &x).unwrap()),
            model.iter().nth(n as usize).copied()
        );
    }

    #[test]
    fn strings_round_trip_and_merge_is_idempotent(u in universe(), ranges in offset_ranges()) {
        let (set, _) = build(u, &ranges);
        let strings = set.to_strings();
        prop_assert_eq!(&IpSet::parse_ranges(u.family, &strings).unwrap(), &set);
        prop_assert_eq!(&merge_ranges(u.family, &strings).unwrap(), &strings);
        // Merging the raw (overlapping, unsorted) input gives the same strings.
        let raw: Vec<String> = ranges.iter().rev().map(|&(a, b)| u.range(a, b).to_string()).collect();
        prop_assert_eq!(&merge_ranges(u.family, &raw).unwrap(), &strings);
        // Canonical strings never overlap each other.
        prop_assert_eq!(ranges_overlap_each_other(u.family, &strings).unwrap(), None);
    }

    #[test]
    fn overlap_pair_is_the_first_pairwise(u in universe(), ranges in offset_ranges()) {
        let items: Vec<String> = ranges.iter().map(|&(a, b)| u.range(a, b).to_string()).collect();
        let rs: Vec<IpRange> = items.iter().map(|s| IpRange::parse(s).unwrap()).collect();
        let mut expected = None;
        'outer: for i in 0..rs.len() {
            for j in (i + 1)..rs.len() {
                if rs[i].overlaps(&rs[j]) {
                    expected = Some((i, j));
                    break 'outer;
                }
            }
        }
        prop_assert_eq!(ranges_overlap_each_other(u.family, &items).unwrap(), expected);
    }
}

/// Whether an IPv6 value falls in `::ffff:0:0/96`, whose text parses as IPv4.
fn is_mapped(v: u128) -> bool {
    Ipv6Addr::from(v).to_ipv4_mapped().is_some()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v6_range_text_round_trips(a in any::<u128>(), b in any::<u128>()) {
        prop_assume!(!is_mapped(a) && !is_mapped(b));
        let r = IpRange::from_u128(IpFamily::V6, a.min(b), a.max(b)).unwrap();
        let text = r.to_string();
        prop_assert_eq!(IpRange::parse(&text).unwrap(), r);
        prop_assert_eq!(IpRange::parse_of(&text, IpFamily::V6).unwrap(), r);
        prop_assert!(!text.chars().any(|c| c.is_ascii_uppercase() || c.is_whitespace()));
    }

    #[test]
    fn v4_range_text_round_trips(a in any::<u32>(), b in any::<u32>()) {
        let r = IpRange::from_u128(IpFamily::V4, u128::from(a.min(b)), u128::from(a.max(b))).unwrap();
        let text = r.to_string();
        prop_assert_eq!(IpRange::parse(&text).unwrap(), r);
        let mapped = format!(
            "::ffff:{}-::ffff:{}",
            u128_to_ip(IpFamily::V4, r.start_u128()),
            u128_to_ip(IpFamily::V4, r.end_u128())
        );
        prop_assert_eq!(IpRange::parse(&mapped).unwrap(), r);
    }

    #[test]
    fn cidr_canonical_round_trip(v in any::<u128>(), p in 0u8..=128, v4 in any::<u32>(), p4 in 0u8..=32) {
        prop_assume!(!is_mapped(v));
        for (addr, prefix) in [(IpAddr::V6(Ipv6Addr::from(v)), p), (IpAddr::V4(v4.into()), p4)] {
            let text = format!("{addr}/{prefix}");
            let net = parse_cidr(&text).unwrap();
            let canonical = canonical_cidr_string(&net);
            let back = parse_canonical_cidr(&canonical).unwrap();
            prop_assert_eq!(canonical_cidr_string(&back), canonical.clone());
            prop_assert_eq!(parse_canonical_cidr(&text).is_ok(), text == canonical);
            let r = cidr_range(&net);
            prop_assert!(r.contains(&addr));
            let width = u32::from(addr_bits(&addr));
            let size_log2 = width - u32::from(prefix);
            if size_log2 < 128 {
                prop_assert_eq!(r.len(), 1u128 << size_log2);
            } else {
                prop_assert_eq!(r.len(), u128::MAX);
            }
        }
    }

    #[test]
    fn parsers_never_panic(s in "[0-9a-fA-F:.\\-/ %x]{0,45}") {
        let _ = parse_ip(&s);
        let _ = parse_cidr(&s);
        let _ = parse_canonical_cidr(&s);
        let _ = spiderpool_core::ip::normalize_ip_or_cidr(&s);
        if let Ok(r) = IpRange::parse(&s) {
            // Whatever parses prints to a form that parses to the same range.
            prop_assert_eq!(IpRange::parse(&r.to_string()).unwrap(), r);
        }
        if let Ok(ip) = parse_ip(&s) {
            prop_assert_eq!(parse_ip(&ip.to_string()).unwrap(), ip);
        }
    }
}

fn addr_bits(a: &IpAddr) -> u8 {
    IpFamily::of(a).bits()
}
