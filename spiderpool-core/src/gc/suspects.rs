//! The two-observation rule: a holder's addresses are released only when
//! two observations, at least a grace period apart, both said "release".

use std::collections::{BTreeMap, BTreeSet};

use super::Holder;

/// What one observation of a holder means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The first observation that asks for a release: wait.
    First,
    /// Asked for a release before, but less than the grace period ago.
    Waiting {
        /// Milliseconds since the first observation.
        since_ms: u64,
    },
    /// Asked for a release at least the grace period ago and now again:
    /// re-read the pod from the API server and release if it still says so.
    Confirmed,
    /// The observation keeps the addresses: any earlier suspicion is dropped.
    Cleared,
}

/// Holders suspected of holding addresses they no longer need, with the time
/// (milliseconds, any monotonic origin) each was first suspected.
#[derive(Debug, Clone, Default)]
pub struct Suspects {
    first_seen: BTreeMap<Holder, u64>,
}

impl Suspects {
    /// No suspects.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an observation of `holder` at `now_ms`: `release` is what the
    /// decision said; `grace_ms` the time two observations must be apart.
    pub fn observe(
        &mut self,
        holder: &Holder,
        release: bool,
        now_ms: u64,
        grace_ms: u64,
    ) -> Observed {
        if !release {
            self.first_seen.remove(holder);
            return Observed::Cleared;
        }
        match self.first_seen.get(holder) {
            None => {
                self.first_seen.insert(holder.clone(), now_ms);
                Observed::First
            }
            Some(&first) => {
                let since_ms = now_ms.saturating_sub(first);
                if since_ms >= grace_ms {
                    Observed::Confirmed
                } else {
                    Observed::Waiting { since_ms }
                }
            }
        }
    }

    /// Forgets `holder` (released, or its release cancelled).
    pub fn forget(&mut self, holder: &Holder) {
        self.first_seen.remove(holder);
    }

    /// Keeps only the holders in `seen` (a full scan found the others hold
    /// nothing any more).
    pub fn retain_seen(&mut self, seen: &BTreeSet<Holder>) {
        self.first_seen.retain(|h, _| seen.contains(h));
    }

    /// How many holders are suspected.
    pub fn len(&self) -> usize {
        self.first_seen.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.first_seen.is_empty()
    }
}
