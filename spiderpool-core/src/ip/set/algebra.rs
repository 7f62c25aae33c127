//! Set algebra between two [`IpSet`]s: union, difference, intersection,
//! subset, overlap and "first address of one not in the other".

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::IpSet;
use crate::ip::u128_to_ip;

impl IpSet {
    /// Builds a set from sorted, disjoint, non-adjacent intervals.
    fn from_sorted(family: crate::ip::IpFamily, intervals: Vec<(u128, u128)>) -> IpSet {
        let spans = intervals.iter().map(|(s, e)| e - s).sum();
        IpSet { family, map: intervals.into_iter().collect::<BTreeMap<_, _>>(), spans }
    }

    /// Addresses in either set. A set of the other family contributes
    /// nothing. `O(m log(n + m))` for the smaller set's `m` intervals.
    pub fn union(&self, other: &IpSet) -> IpSet {
        if other.family != self.family {
            return self.clone();
        }
        let (big, small) =
            if self.map.len() >= other.map.len() { (self, other) } else { (other, self) };
        let mut out = big.clone();
        for (&s, &e) in &small.map {
            out.insert_range_u128(s, e);
        }
        out
    }

    /// Addresses in `self` but not in `other` (all of `self` when `other` is
    /// of the other family). `O(n log m + k)`.
    pub fn difference(&self, other: &IpSet) -> IpSet {
        if other.family != self.family || other.is_empty() {
            return self.clone();
        }
        let mut out = Vec::new();
        for (&s, &e) in &self.map {
            // `cur` is the first value of [s, e] not yet known to be covered.
            let mut cur = match other.containing(s) {
                Some((_, oe)) if oe >= e => continue,
                Some((_, oe)) => oe + 1,
                None => s,
            };
            let mut done = false;
            // Every `other` interval starting inside (cur, e]; `cur` itself is
            // never in `other` (it is `s` uncovered, or one past a coalesced
            // interval's end).
            for (&os, &oe) in other.map.range(cur..=e) {
                out.push((cur, os - 1));
                if oe >= e {
                    done = true;
                    break;
                }
                cur = oe + 1;
            }
            if !done {
                out.push((cur, e));
            }
        }
        IpSet::from_sorted(self.family, out)
    }

    /// Addresses in both sets (empty when the families differ). `O(n + m)`.
    pub fn intersection(&self, other: &IpSet) -> IpSet {
        if other.family != self.family {
            return IpSet::new(self.family);
        }
        let mut out = Vec::new();
        let mut a = self.map.iter().peekable();
        let mut b = other.map.iter().peekable();
        while let (Some(&(&as_, &ae)), Some(&(&bs, &be))) = (a.peek(), b.peek()) {
            let (s, e) = (as_.max(bs), ae.min(be));
            if s <= e {
                out.push((s, e));
            }
            if ae < be {
                a.next();
            } else {
                b.next();
            }
        }
        // Each piece ends at the end of an interval of `self` or `other`, and
        // the next value is missing from that set, so pieces never touch.
        IpSet::from_sorted(self.family, out)
    }

    /// Whether every address of `self` is in `other` (the empty set is a
    /// subset of every set). `O(n log m)`.
    pub fn is_subset(&self, other: &IpSet) -> bool {
        if self.is_empty() {
            return true;
        }
        other.family == self.family
            && self.map.iter().all(|(&s, &e)| other.containing(s).is_some_and(|(_, oe)| oe >= e))
    }

    /// Whether the sets share an address (never across families).
    /// `O(min(n, m) log max(n, m))`.
    pub fn overlaps(&self, other: &IpSet) -> bool {
        if other.family != self.family {
            return false;
        }
        let (big, small) =
            if self.map.len() >= other.map.len() { (self, other) } else { (other, self) };
        small.map.iter().any(|(&s, &e)| big.overlaps_u128(s, e))
    }

    /// The smallest address of `self` that is not in `other` (the first
    /// address of `self` when `other` is of the other family).
    ///
    /// Leapfrogs between the two interval maps: each step skips a whole
    /// interval of `other`, never an address at a time.
    pub fn first_not_in(&self, other: &IpSet) -> Option<IpAddr> {
        if other.family != self.family {
            return self.first();
        }
        let mut cur = *self.map.keys().next()?;
        loop {
            // The smallest member of `self` that is >= cur.
            let pos = match self.containing(cur) {
                Some(_) => cur,
                None => *self.map.range(cur..).next()?.0,
            };
            match other.containing(pos) {
                None => return Some(u128_to_ip(self.family, pos)),
                // `oe >= pos >= cur`, so `cur` strictly increases.
                Some((_, oe)) => cur = oe.checked_add(1)?,
            }
        }
    }
}
