//! Operations on lists of range strings, as the admission webhooks use them.

use super::{IpError, IpFamily, IpRange, IpSet};

/// Parses every item as a range of `family`, reporting the index of a bad one.
fn parse_items<S: AsRef<str>>(family: IpFamily, items: &[S]) -> Result<Vec<IpRange>, IpError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            IpRange::parse_of(item.as_ref(), family)
                .map_err(|e| IpError::RangeItem { index, cause: Box::new(e) })
        })
        .collect()
}

/// The canonical form of a list of range strings, like Spiderpool's
/// `MergeIPRanges` (used when mutating `ips`/`excludeIPs`): sorted,
/// deduplicated, overlapping and adjacent ranges joined, each printed
/// canonically. A bad item is [`IpError::RangeItem`] with its index.
///
/// `["10.0.0.5", "10.0.0.1-10.0.0.4", "10.0.0.3"]` becomes
/// `["10.0.0.1-10.0.0.5"]`.
pub fn merge_ranges<S: AsRef<str>>(family: IpFamily, items: &[S]) -> Result<Vec<String>, IpError> {
    Ok(IpSet::parse_ranges(family, items)?.to_strings())
}

/// The first pair `(i, j)`, `i < j`, of items that share an address, in
/// lexicographic order of `(i, j)`; `None` when no two items overlap. Backs the
/// admission rule "ranges inside `ips` overlap each other". Adjacent ranges do
/// not overlap. A bad item is [`IpError::RangeItem`] with its index.
///
/// `O(n log n)`: items are never compared pairwise.
pub fn ranges_overlap_each_other<S: AsRef<str>>(
    family: IpFamily,
    items: &[S],
) -> Result<Option<(usize, usize)>, IpError> {
    let ranges = parse_items(family, items)?;
    let n = ranges.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (ranges[i].start_u128(), ranges[i].end_u128()));

    // In start order, a range overlaps another one exactly when an earlier
    // range reaches its start, or the next range starts within it.
    let mut involved = vec![false; n];
    let mut max_end: Option<u128> = None;
    for (pos, &i) in order.iter().enumerate() {
        let r = ranges[i];
        if max_end.is_some_and(|m| m >= r.start_u128()) {
            involved[i] = true;
        }
        if let Some(&next) = order.get(pos + 1)
            && ranges[next].start_u128() <= r.end_u128()
        {
            involved[i] = true;
        }
        max_end = Some(max_end.map_or(r.end_u128(), |m| m.max(r.end_u128())));
    }
    // The smallest involved index overlaps some other item, which is involved
    // too and so has a larger index.
    let Some(i) = involved.iter().position(|&b| b) else {
        return Ok(None);
    };
    Ok(((i + 1)..n).find(|&j| ranges[i].overlaps(&ranges[j])).map(|j| (i, j)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn merge_ranges_canonicalises() {
        let cases: &[(IpFamily, &[&str], &[&str])] = &[
            (IpFamily::V4, &[], &[]),
            (IpFamily::V4, &["10.0.0.5", "10.0.0.1-10.0.0.4", "10.0.0.3"], &["10.0.0.1-10.0.0.5"]),
            (
                IpFamily::V4,
                &["10.0.0.9", "10.0.0.1", "10.0.0.1", "10.0.0.7-10.0.0.8"],
                &["10.0.0.1", "10.0.0.7-10.0.0.9"],
            ),
            (
                IpFamily::V4,
                &["255.255.255.255", "0.0.0.0", "255.255.255.254", "0.0.0.1"],
                &["0.0.0.0-0.0.0.1", "255.255.255.254-255.255.255.255"],
            ),
            (
                IpFamily::V4,
                &["0.0.0.0-127.255.255.255", "128.0.0.0-255.255.255.255"],
                &["0.0.0.0-255.255.255.255"],
            ),
            (
                IpFamily::V6,
                &["fd00::10-fd00::20", "FD00::1-fd00::f", "fd00::21"],
                &["fd00::1-fd00::21"],
            ),
            (
                IpFamily::V6,
                &["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1"],
                &["::-::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
            ),
            (
                IpFamily::V4,
                &["::ffff:10.0.0.1-::ffff:10.0.0.2", "10.0.0.3"],
                &["10.0.0.1-10.0.0.3"],
            ),
        ];
        for &(family, input, expected) in cases {
            assert_eq!(merge_ranges(family, input).unwrap(), expected, "{input:?}");
        }
    }

    #[test]
    fn merge_ranges_reports_the_bad_item() {
        let err = merge_ranges(IpFamily::V4, &["10.0.0.1", "10.0.0.9-10.0.0.2"]).unwrap_err();
        assert_eq!(
            err,
            IpError::RangeItem {
                index: 1,
                cause: Box::new(IpError::InvalidRange {
                    value: "10.0.0.9-10.0.0.2".into(),
                    reason: "start 10.0.0.9 is after end 10.0.0.2".into()
                })
            }
        );
        assert_eq!(
            err.to_string(),
            "item 1: invalid IP range \"10.0.0.9-10.0.0.2\": start 10.0.0.9 is after end 10.0.0.2"
        );
        // The message holds the cause, so a printer that walks `source()`
        // (anyhow's `{:#}`, `Caused by:`) must not print it a second time.
        assert!(std::error::Error::source(&err).is_none(), "cause printed twice");
        let err = merge_ranges(IpFamily::V6, &["fd00::1", "fd00::2", "10.0.0.1"]).unwrap_err();
        assert_eq!(err.to_string(), "item 2: \"10.0.0.1\" is not IPv6");
        let owned: Vec<String> = vec!["10.0.0.2".into(), "10.0.0.1".into()];
        assert_eq!(merge_ranges(IpFamily::V4, &owned).unwrap(), ["10.0.0.1-10.0.0.2"]);
    }

    type OverlapCase<'a> = (&'a [&'a str], Option<(usize, usize)>);

    #[test]
    fn overlap_pairs() {
        let cases: &[OverlapCase<'_>] = &[
            (&[], None),
            (&["10.0.0.1"], None),
            (&["10.0.0.1-10.0.0.5", "10.0.0.6-10.0.0.9"], None),
            (&["10.0.0.1-10.0.0.5", "10.0.0.5-10.0.0.9"], Some((0, 1))),
            (&["10.0.0.1", "10.0.0.1"], Some((0, 1))),
            (&["10.0.0.50", "10.0.0.1-10.0.0.9", "10.0.0.20", "10.0.0.3"], Some((1, 3))),
            // The smallest i wins even when a later pair sorts first.
            (
                &["10.0.0.100-10.0.0.200", "10.0.0.1-10.0.0.2", "10.0.0.2", "10.0.0.150"],
                Some((0, 3)),
            ),
            // A long range covering a later one that is not next in sort order.
            (&["10.0.0.30", "10.0.0.1-10.0.0.40", "10.0.0.2"], Some((0, 1))),
            (&["0.0.0.0-255.255.255.255", "255.255.255.255"], Some((0, 1))),
        ];
        for &(items, expected) in cases {
            assert_eq!(
                ranges_overlap_each_other(IpFamily::V4, items).unwrap(),
                expected,
                "{items:?}"
            );
        }
        assert_eq!(
            ranges_overlap_each_other(IpFamily::V6, &["fd00::1-fd00::9", "fd00::a", "fd00::9"])
                .unwrap(),
            Some((0, 2))
        );
        assert!(matches!(
            ranges_overlap_each_other(IpFamily::V4, &["10.0.0.1", "x"]),
            Err(IpError::RangeItem { index: 1, .. })
        ));
    }

    #[test]
    fn overlap_pairs_match_pairwise_search() {
        // Deterministic pseudo-random lists over a small universe.
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..500 {
            let n = (next() % 8) as usize;
            let items: Vec<String> = (0..n)
                .map(|_| {
                    let a = next() % 40;
                    let b = a + next() % 6;
                    format!("10.0.0.{a}-10.0.0.{b}")
                })
                .collect();
            let ranges: Vec<IpRange> = items.iter().map(|s| IpRange::parse(s).unwrap()).collect();
            let mut expected = None;
            'outer: for i in 0..n {
                for j in (i + 1)..n {
                    if ranges[i].overlaps(&ranges[j]) {
                        expected = Some((i, j));
                        break 'outer;
                    }
                }
            }
            assert_eq!(
                ranges_overlap_each_other(IpFamily::V4, &items).unwrap(),
                expected,
                "{items:?}"
            );
        }
    }
}
