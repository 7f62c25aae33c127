//! Addresses, CIDRs, range strings, range lists and set algebra
//! (`spiderpool_core::ip`).
//!
//! Input: UTF-8 text. Every line goes through the single-value parsers. The
//! lines before the first empty line are list A, the lines after it list B;
//! each list is parsed for both families, and the sets built from the items
//! that parse are checked against each other with set-algebra invariants.
//!
//! Run with: cargo fuzz run -s none --fuzz-dir fuzz ip_parse fuzz/seeds/ip_parse

#![no_main]

use spiderpool_core::ip::{
    IpFamily, IpRange, IpSet, canonical_cidr_string, cidr_contains, cidr_range, merge_ranges,
    normalize_ip_or_cidr, parse_canonical_cidr, parse_cidr, parse_ip, ranges_overlap_each_other,
};

/// Pairwise (quadratic) cross-checks only run on lists up to this length.
const BRUTE_FORCE_MAX: usize = 48;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for line in text.split('\n') {
        single_values(line);
    }
    let (a_text, b_text) = text.split_once("\n\n").unwrap_or((text, ""));
    let a_items: Vec<&str> = a_text.split('\n').collect();
    let b_items: Vec<&str> = b_text.split('\n').filter(|l| !l.is_empty()).collect();
    for family in [IpFamily::V4, IpFamily::V6] {
        let a = list(family, &a_items);
        let b = list(family, &b_items);
        algebra(&a, &b);
        algebra(&b, &a);
        point_queries(&a, &a_items);
        point_queries(&a, &b_items);
        point_queries(&b, &a_items);
    }
});

/// One line through every single-value parser, with round trips.
fn single_values(s: &str) {
    if let Ok(ip) = parse_ip(s) {
        let printed = ip.to_string();
        assert_eq!(parse_ip(&printed), Ok(ip), "parse_ip({s:?}) printed {printed:?}");
        let r = IpRange::single(ip);
        assert_eq!(IpRange::parse(s), Ok(r), "an address is a one-address range: {s:?}");
    }

    if let Ok(net) = parse_cidr(s) {
        let canon = canonical_cidr_string(&net);
        let trunc = net.trunc();
        assert_eq!(parse_canonical_cidr(&canon), Ok(trunc), "canonical {canon:?} of {s:?}");
        assert_eq!(normalize_ip_or_cidr(s), Ok(trunc), "normalize {s:?}");
        let r = cidr_range(&net);
        assert!(cidr_contains(&net, &r.start()) && cidr_contains(&net, &r.end()), "{s:?}");
        assert!(r.is_within(&net), "{s:?}");
        assert!(cidr_contains(&net, &net.addr()), "{s:?} contains its own address");
        let set = IpSet::from_cidr(&net);
        assert_eq!(set.ranges().collect::<Vec<_>>(), vec![r], "{s:?}");
    }

    if let Ok(net) = parse_canonical_cidr(s) {
        assert_eq!(canonical_cidr_string(&net), s, "canonical CIDR prints as written");
        assert_eq!(net, net.trunc(), "{s:?}");
    }

    if let Ok(net) = normalize_ip_or_cidr(s) {
        assert_eq!(net, net.trunc(), "normalize_ip_or_cidr({s:?}) clears host bits");
        let canon = canonical_cidr_string(&net);
        assert_eq!(parse_canonical_cidr(&canon), Ok(net), "{s:?} -> {canon:?}");
    }

    if let Ok(r) = IpRange::parse(s) {
        let printed = r.to_string();
        assert_eq!(IpRange::parse(&printed), Ok(r), "IpRange::parse({s:?}) printed {printed:?}");
        assert!(r.start_u128() <= r.end_u128() && r.end_u128() <= r.family().max_value());
        assert!(r.len() >= 1);
        assert!(r.contains(&r.start()) && r.contains(&r.end()));
        assert_eq!(IpRange::parse_of(s, r.family()), Ok(r));
        let other = match r.family() {
            IpFamily::V4 => IpFamily::V6,
            IpFamily::V6 => IpFamily::V4,
        };
        assert!(IpRange::parse_of(s, other).is_err());
        let set = IpSet::from_range(r);
        assert_eq!(set.len(), r.len());
        assert_eq!(set.to_strings(), vec![printed]);
    }
}

/// A list of range strings of `family`: the list functions on the raw items
/// (any bad item fails them all), then the set of the items that parse.
fn list(family: IpFamily, items: &[&str]) -> IpSet {
    let parsed = IpSet::parse_ranges(family, items);
    let merged = merge_ranges(family, items);
    let overlap = ranges_overlap_each_other(family, items);
    assert_eq!(parsed.is_ok(), merged.is_ok(), "{items:?}");
    assert_eq!(parsed.is_ok(), overlap.is_ok(), "{items:?}");

    let good: Vec<IpRange> =
        items.iter().filter_map(|s| IpRange::parse_of(s, family).ok()).collect();
    let set = IpSet::from_ranges(family, good.iter().copied()).expect("ranges of the set's family");
    if let Ok(parsed) = &parsed {
        assert_eq!(parsed, &set, "parse_ranges == union of the parsed items");
    }

    // Text round trip and idempotent merge. Bounds of a parsed set are bounds
    // of parsed items, which are never IPv4-mapped, so the text round-trips.
    let strings = set.to_strings();
    assert_eq!(IpSet::parse_ranges(family, &strings).as_ref(), Ok(&set), "{strings:?}");
    assert_eq!(merge_ranges(family, &strings).as_ref(), Ok(&strings), "merge_ranges idempotent");
    if let Ok(merged) = &merged {
        assert_eq!(merged, &strings);
    }
    assert_eq!(ranges_overlap_each_other(family, &strings), Ok(None), "{strings:?}");

    // Coalesced: sorted, disjoint, not adjacent.
    let intervals: Vec<IpRange> = set.ranges().collect();
    for w in intervals.windows(2) {
        assert!(w[0].end_u128().checked_add(1).is_some_and(|n| n < w[1].start_u128()), "{w:?}");
    }

    // The list functions again on the items that parse, so that one bad line
    // does not hide the rest of the list from them.
    let good_items: Vec<&str> =
        items.iter().copied().filter(|s| IpRange::parse_of(s, family).is_ok()).collect();
    assert_eq!(merge_ranges(family, &good_items).as_ref(), Ok(&strings), "{good_items:?}");
    let good_overlap = ranges_overlap_each_other(family, &good_items).expect("items that parse");
    if let Ok(found) = overlap {
        assert_eq!(found, good_overlap, "{items:?}");
    }
    check_overlap_answer(&good, good_overlap);
    if good_overlap.is_none() {
        // Disjoint items: their sizes add up (when nothing saturates).
        let total = good.iter().try_fold(0u128, |acc, r| {
            (r.len() < u128::MAX).then_some(())?;
            acc.checked_add(r.len())
        });
        if let Some(total) = total
            && set.len() < u128::MAX
        {
            assert_eq!(total, set.len(), "disjoint items {good_items:?}");
        }
    }
    set
}

/// `ranges_overlap_each_other` returned `found` for `ranges`.
fn check_overlap_answer(ranges: &[IpRange], found: Option<(usize, usize)>) {
    if let Some((i, j)) = found {
        assert!(i < j && j < ranges.len(), "{found:?}");
        assert!(ranges[i].overlaps(&ranges[j]), "{:?} / {:?}", ranges[i], ranges[j]);
    }
    if ranges.len() > BRUTE_FORCE_MAX {
        return;
    }
    let first = (0..ranges.len())
        .flat_map(|i| ((i + 1)..ranges.len()).map(move |j| (i, j)))
        .find(|&(i, j)| ranges[i].overlaps(&ranges[j]));
    assert_eq!(first, found, "first overlapping pair of {ranges:?}");
}

/// Union, intersection, difference and their invariants.
fn algebra(a: &IpSet, b: &IpSet) {
    let u = a.union(b);
    let i = a.intersection(b);
    let d = a.difference(b);

    assert!(d.intersection(b).is_empty(), "(a - b) ∩ b = ∅");
    assert!(!d.overlaps(b));
    assert!(d.is_subset(a) && i.is_subset(a) && i.is_subset(b));
    assert!(a.is_subset(&u) && b.is_subset(&u));
    assert_eq!(d.union(b), u, "(a - b) ∪ b = a ∪ b");
    assert_eq!(d.union(&i), *a, "(a - b) ∪ (a ∩ b) = a");
    assert_eq!(b.union(a), u, "union commutes");
    assert_eq!(b.intersection(a), i, "intersection commutes");
    assert_eq!(a.overlaps(b), !i.is_empty());
    assert_eq!(a.is_subset(b), d.is_empty());
    assert_eq!(u.difference(b), d);
    assert_eq!(a.difference(&d), i, "a - (a - b) = a ∩ b");
    assert_eq!(a.first_not_in(b), d.first(), "first_not_in");

    // Bounds of unions and intersections are bounds of `a` or `b`, so these
    // round-trip through text; a difference may create IPv4-mapped IPv6
    // bounds, which only round-trip as values.
    for s in [&u, &i] {
        assert_eq!(IpSet::parse_ranges(s.family(), &s.to_strings()).as_ref(), Ok(s));
    }
    assert_eq!(IpSet::from_ranges(d.family(), d.ranges()).as_ref(), Ok(&d));

    let sizes = [a.len(), b.len(), u.len(), i.len(), d.len()];
    if sizes.iter().all(|&n| n < u128::MAX) {
        let [la, lb, lu, li, ld] = sizes;
        if let (Some(l), Some(r)) = (lu.checked_add(li), la.checked_add(lb)) {
            assert_eq!(l, r, "|a ∪ b| + |a ∩ b| = |a| + |b|");
        }
        assert_eq!(ld.checked_add(li), Some(la), "|a - b| + |a ∩ b| = |a|");
    }

    for s in [a, &u, &i, &d] {
        assert_eq!(s.is_empty(), s.first().is_none(), "is_empty agrees with first");
        assert_eq!(s.is_empty(), s.interval_count() == 0);
        assert_eq!(s.is_empty(), s.len().checked_sub(1).is_none(), "is_empty agrees with len");
        assert_eq!(s.nth(0), s.first());
        assert_eq!(s.iter().next(), s.first());
        if s.len() < u128::MAX
            && let Some(n) = s.len().checked_sub(1)
        {
            assert_eq!(s.nth(n), s.last());
            assert_eq!(s.nth(s.len()), None);
        }
    }
}

/// Point and range queries of `set` against each item that parses as a range.
fn point_queries(set: &IpSet, items: &[&str]) {
    for r in items.iter().take(BRUTE_FORCE_MAX).filter_map(|s| IpRange::parse(s).ok()) {
        let rs = IpSet::from_range(r);
        if r.family() != set.family() {
            assert!(!set.contains_range(&r) && !set.overlaps_range(&r));
            assert_eq!(set.first_free_in(&r), None);
            let mut m = set.clone();
            assert!(m.insert_range(&r).is_err() && m.remove_range(&r).is_err());
            assert_eq!(&m, set);
            continue;
        }
        assert_eq!(set.contains_range(&r), rs.is_subset(set), "{r}");
        assert_eq!(set.overlaps_range(&r), rs.overlaps(set), "{r}");
        assert_eq!(set.first_free_in(&r), rs.first_not_in(set), "{r}");
        assert_eq!(set.contains(&r.start()), set.contains_u128(r.start_u128()));

        let mut added = set.clone();
        added.insert_range(&r).expect("same family");
        assert_eq!(added, set.union(&rs), "insert_range {r}");
        let mut removed = set.clone();
        removed.remove_range(&r).expect("same family");
        assert_eq!(removed, set.difference(&rs), "remove_range {r}");

        let mut p = set.clone();
        let had = p.contains(&r.start());
        assert_eq!(p.insert(r.start()), !had, "insert reports a new address");
        assert!(p.contains(&r.start()));
        assert!(p.remove(r.start()));
        assert!(!p.contains(&r.start()));
        assert_eq!(p, set.difference(&IpSet::from_range(IpRange::single(r.start()))));
    }
}
