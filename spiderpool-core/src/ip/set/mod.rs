//! [`IpSet`]: a set of addresses of one family, stored as coalesced intervals.

mod algebra;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{IpError, IpFamily, IpRange, cidr_range, family_of_cidr, ip_value_of, u128_to_ip};

/// A set of addresses of one family, as a `BTreeMap` from interval start to
/// inclusive interval end. Intervals are disjoint and never adjacent
/// (coalesced), so equal sets have equal representations.
///
/// Cost: point insert, remove and contains, [`IpSet::first_free_in`] and
/// [`IpSet::overlaps_range`] are `O(log n)` in the number of intervals; range
/// insert and remove are `O((k + 1) log n)` for `k` intervals touched; the
/// count ([`IpSet::len`]) is kept up to date and `O(1)`. Nothing ever walks
/// address by address except [`IpSet::iter`], which is lazy.
///
/// Family: every method taking an address or range accepts values of the
/// set's family only (an IPv4-mapped IPv6 address counts as IPv4, see
/// [`ip_value_of`]). Methods returning `bool` or `Option` treat an address or
/// range of the other family as "not present"; [`IpSet::insert_range`] and
/// [`IpSet::remove_range`] return [`IpError::FamilyMismatch`]. In the
/// set-algebra methods a set of the other family behaves as the empty set.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct IpSet {
    family: IpFamily,
    map: BTreeMap<u128, u128>,
    /// Sum of `end - start` over all intervals. With disjoint intervals this is
    /// `len - interval_count`, which always fits in a `u128`.
    spans: u128,
}

impl IpSet {
    /// The empty set of a family.
    pub fn new(family: IpFamily) -> IpSet {
        IpSet { family, map: BTreeMap::new(), spans: 0 }
    }

    /// The family of the set.
    pub fn family(&self) -> IpFamily {
        self.family
    }

    /// The set holding exactly the addresses of `r`.
    pub fn from_range(r: IpRange) -> IpSet {
        let mut set = IpSet::new(r.family());
        set.put(r.start_u128(), r.end_u128());
        set
    }

    /// The union of `ranges`, which must all be of `family`
    /// ([`IpError::FamilyMismatch`] naming the first offender otherwise).
    pub fn from_ranges(
        family: IpFamily,
        ranges: impl IntoIterator<Item = IpRange>,
    ) -> Result<IpSet, IpError> {
        let mut set = IpSet::new(family);
        for r in ranges {
            set.insert_range(&r)?;
        }
        Ok(set)
    }

    /// Parses Spiderpool range strings of `family` into one set (overlaps and
    /// duplicates are allowed and merged). A bad item is reported as
    /// [`IpError::RangeItem`] with its index.
    pub fn parse_ranges<S: AsRef<str>>(family: IpFamily, items: &[S]) -> Result<IpSet, IpError> {
        let mut set = IpSet::new(family);
        for (index, item) in items.iter().enumerate() {
            let r = IpRange::parse_of(item.as_ref(), family)
                .map_err(|e| IpError::RangeItem { index, cause: Box::new(e) })?;
            set.insert_range_u128(r.start_u128(), r.end_u128());
        }
        Ok(set)
    }

    /// The set of every address of `net` (host bits ignored).
    pub fn from_cidr(net: &IpNet) -> IpSet {
        let mut set = IpSet::new(family_of_cidr(net));
        let r = cidr_range(net);
        set.put(r.start_u128(), r.end_u128());
        set
    }

    // ---- internal bookkeeping: every mutation of `map` goes through these ----

    fn put(&mut self, start: u128, end: u128) {
        debug_assert!(start <= end && end <= self.family.max_value());
        self.spans += end - start;
        self.map.insert(start, end);
    }

    fn take(&mut self, start: u128) -> Option<u128> {
        let end = self.map.remove(&start)?;
        self.spans -= end - start;
        Some(end)
    }

    /// The interval containing `v`, if any.
    pub(super) fn containing(&self, v: u128) -> Option<(u128, u128)> {
        self.map.range(..=v).next_back().filter(|(_, e)| **e >= v).map(|(s, e)| (*s, *e))
    }

    fn range_of_family(&self, r: &IpRange) -> Result<(u128, u128), IpError> {
        if r.family() == self.family {
            Ok((r.start_u128(), r.end_u128()))
        } else {
            Err(IpError::FamilyMismatch { value: r.to_string(), expected: self.family })
        }
    }

    fn insert_range_u128(&mut self, a: u128, b: u128) {
        let (mut start, mut end) = (a, b);
        // An interval starting before `a` that overlaps or touches it.
        if let Some((&ps, &pe)) = self.map.range(..a).next_back()
            && pe.checked_add(1).is_none_or(|next| next >= a)
        {
            start = ps;
            end = end.max(pe);
            self.take(ps);
        }
        // Intervals starting inside `a..=b + 1` (b + 1: adjacency).
        let hi = b.saturating_add(1);
        while let Some((&s, _)) = self.map.range(a..=hi).next() {
            if let Some(e) = self.take(s) {
                end = end.max(e);
            }
        }
        self.put(start, end);
    }

    fn remove_range_u128(&mut self, a: u128, b: u128) {
        if let Some((&ps, &pe)) = self.map.range(..a).next_back()
            && pe >= a
        {
            self.take(ps);
            self.put(ps, a - 1);
            if pe > b {
                self.put(b + 1, pe);
                return;
            }
        }
        while let Some((&s, _)) = self.map.range(a..=b).next() {
            if let Some(e) = self.take(s)
                && e > b
            {
                self.put(b + 1, e);
                break;
            }
        }
    }

    // ---- points ----

    /// Adds one address; `true` when it was not present before. An address
    /// of the other family is not inserted (`false`).
    pub fn insert(&mut self, ip: IpAddr) -> bool {
        ip_value_of(self.family, &ip).is_some_and(|v| self.insert_u128(v))
    }

    /// Adds one value; `true` when it was not present before. A value beyond
    /// the family's maximum is not inserted (`false`).
    pub fn insert_u128(&mut self, v: u128) -> bool {
        if v > self.family.max_value() || self.containing(v).is_some() {
            return false;
        }
        let (mut start, mut end) = (v, v);
        if let Some(prev) = v.checked_sub(1)
            && let Some((ps, _)) = self.containing(prev)
        {
            start = ps;
            self.take(ps);
        }
        if let Some(next) = v.checked_add(1)
            && let Some(ne) = self.take(next)
        {
            end = ne;
        }
        self.put(start, end);
        true
    }

    /// Removes one address; `true` when it was present.
    pub fn remove(&mut self, ip: IpAddr) -> bool {
        ip_value_of(self.family, &ip).is_some_and(|v| self.remove_u128(v))
    }

    /// Removes one value; `true` when it was present.
    pub fn remove_u128(&mut self, v: u128) -> bool {
        let Some((s, e)) = self.containing(v) else {
            return false;
        };
        self.take(s);
        if s < v {
            self.put(s, v - 1);
        }
        if v < e {
            self.put(v + 1, e);
        }
        true
    }

    /// Adds every address of `r`; [`IpError::FamilyMismatch`] (and no change)
    /// when `r` is of the other family.
    pub fn insert_range(&mut self, r: &IpRange) -> Result<(), IpError> {
        let (a, b) = self.range_of_family(r)?;
        self.insert_range_u128(a, b);
        Ok(())
    }

    /// Removes every address of `r`; [`IpError::FamilyMismatch`] (and no
    /// change) when `r` is of the other family.
    pub fn remove_range(&mut self, r: &IpRange) -> Result<(), IpError> {
        let (a, b) = self.range_of_family(r)?;
        self.remove_range_u128(a, b);
        Ok(())
    }

    /// Whether `ip` is in the set (family-aware).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        ip_value_of(self.family, ip).is_some_and(|v| self.contains_u128(v))
    }

    /// Whether the value `v` is in the set.
    pub fn contains_u128(&self, v: u128) -> bool {
        self.containing(v).is_some()
    }

    /// Whether every address of `r` is in the set (`false` for the other
    /// family).
    pub fn contains_range(&self, r: &IpRange) -> bool {
        r.family() == self.family
            && self.containing(r.start_u128()).is_some_and(|(_, e)| e >= r.end_u128())
    }

    /// Whether some address of `r` is in the set (`false` for the other
    /// family).
    pub fn overlaps_range(&self, r: &IpRange) -> bool {
        r.family() == self.family && self.overlaps_u128(r.start_u128(), r.end_u128())
    }

    pub(super) fn overlaps_u128(&self, a: u128, b: u128) -> bool {
        self.map.range(..=b).next_back().is_some_and(|(_, e)| *e >= a)
    }

    // ---- size and iteration ----

    /// Number of addresses. Saturating: the whole IPv6 space holds 2^128
    /// addresses, one more than `u128::MAX`, and reports `u128::MAX`. `O(1)`.
    pub fn len(&self) -> u128 {
        self.spans.saturating_add(self.map.len() as u128)
    }

    /// Whether the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of (coalesced) intervals.
    pub fn interval_count(&self) -> usize {
        self.map.len()
    }

    /// The intervals, in ascending order, disjoint and non-adjacent.
    pub fn ranges(&self) -> impl DoubleEndedIterator<Item = IpRange> + '_ {
        let family = self.family;
        self.map.iter().map(move |(&s, &e)| IpRange::from_parts(family, s, e))
    }

    /// Every address in ascending order, lazily (never materialised).
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let family = self.family;
        self.map.iter().flat_map(move |(&s, &e)| (s..=e).map(move |v| u128_to_ip(family, v)))
    }

    /// The canonical range strings of the set: sorted, merged, one per
    /// interval (`a` for a single address, `a-b` otherwise).
    pub fn to_strings(&self) -> Vec<String> {
        self.ranges().map(|r| r.to_string()).collect()
    }

    /// The smallest address.
    pub fn first(&self) -> Option<IpAddr> {
        self.map.keys().next().map(|&v| u128_to_ip(self.family, v))
    }

    /// The largest address.
    pub fn last(&self) -> Option<IpAddr> {
        self.map.values().next_back().map(|&v| u128_to_ip(self.family, v))
    }

    /// The smallest address of `r` that is *not* in the set, in `O(log n)`
    /// (the set is coalesced, so the address after the interval covering
    /// `r`'s start is free). `None` when all of `r` is in the set, or when `r`
    /// is of the other family.
    pub fn first_free_in(&self, r: &IpRange) -> Option<IpAddr> {
        if r.family() != self.family {
            return None;
        }
        self.first_free_in_u128(r.start_u128(), r.end_u128()).map(|v| u128_to_ip(self.family, v))
    }

    /// [`IpSet::first_free_in`] over values `a..=b`.
    pub fn first_free_in_u128(&self, a: u128, b: u128) -> Option<u128> {
        let candidate = match self.containing(a) {
            Some((_, e)) => e.checked_add(1)?,
            None => a,
        };
        (candidate <= b && candidate <= self.family.max_value()).then_some(candidate)
    }

    /// The `n`-th address (0-based) in ascending order, in `O(intervals)`.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let mut n = n;
        for (&s, &e) in &self.map {
            let span = e - s;
            if n <= span {
                return Some(u128_to_ip(self.family, s + n));
            }
            // span < n <= u128::MAX, so span + 1 does not overflow.
            n -= span + 1;
        }
        None
    }
}

#[cfg(test)]
mod tests;
