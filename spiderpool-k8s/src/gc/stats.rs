//! The collector's counters: [`GcMetrics`] is a shared handle the controller
//! keeps across terms of leadership (each term's collector counts into the
//! same one) and exports on its `/metrics`; [`GcStats`] is a snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spiderpool_core::gc::ReleaseReason;

/// Why a scan skipped an object or a holder (what users must fix); also the
/// metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A SpiderIPPool whose spec or status does not parse (it bypassed
    /// admission): none of its records are looked at.
    InvalidPool,
    /// A pool record whose `pod` is not `namespace/name`.
    InvalidRecord,
    /// A SpiderEndpoint that does not decode.
    InvalidEndpoint,
    /// A record or SpiderEndpoint without a pod UID: nothing identifies what
    /// it held, so it is never collected.
    NoUid,
}

impl SkipReason {
    /// Every label, in the order of [`SkipReason::label`].
    pub const LABELS: [&'static str; 4] =
        ["invalid_pool", "invalid_record", "invalid_endpoint", "no_uid"];

    /// The metric label.
    pub fn label(self) -> &'static str {
        Self::LABELS[self as usize]
    }
}

/// Counters of the collector (Spiderpool's `spiderpool_ip_gc_counts` and
/// `spiderpool_ip_gc_failure_counts`, and more), as one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcStats {
    /// Full scans run.
    pub scans: u64,
    /// Scans that failed as a whole (a list failed; retried at the next tick).
    pub scan_errors: u64,
    /// Addresses released, by reason label ([`ReleaseReason::label`]).
    pub released: BTreeMap<&'static str, u64>,
    /// Releases a fresh re-read of the pod cancelled.
    pub cancelled: u64,
    /// Releases that failed (retried on the next scan).
    pub failures: u64,
    /// Objects and holders skipped, by reason label ([`SkipReason::label`]),
    /// counted at every scan that skips them.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Holders waiting for their second observation (after the last scan).
    pub suspects: u64,
    /// Holders the last scan found.
    pub holders: u64,
    /// How long the last scan took.
    pub last_scan_duration: Duration,
    /// When the last scan ended, Unix seconds (0: none yet).
    pub last_scan_unix: u64,
}

#[derive(Debug, Default)]
struct Counters {
    scans: AtomicU64,
    scan_errors: AtomicU64,
    released: [AtomicU64; ReleaseReason::LABELS.len()],
    cancelled: AtomicU64,
    failures: AtomicU64,
    skipped: [AtomicU64; SkipReason::LABELS.len()],
    suspects: AtomicU64,
    holders: AtomicU64,
    last_scan_micros: AtomicU64,
    last_scan_unix: AtomicU64,
}

/// A shared handle on the collector's counters: clones count into the same
/// counters. Put one in [`super::GcOptions::metrics`] and keep a clone to
/// read [`GcMetrics::stats`] (the controller exports them as
/// `spiderpool_controller_gc_*`).
#[derive(Debug, Clone, Default)]
pub struct GcMetrics {
    counters: Arc<Counters>,
}

/// Two handles are equal when they share their counters.
impl PartialEq for GcMetrics {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.counters, &other.counters)
    }
}

impl Eq for GcMetrics {}

const RELAXED: Ordering = Ordering::Relaxed;

impl GcMetrics {
    /// A snapshot of the counters.
    pub fn stats(&self) -> GcStats {
        let c = &self.counters;
        let by_label = |labels: &[&'static str], values: &[AtomicU64]| {
            labels.iter().zip(values).map(|(l, n)| (*l, n.load(RELAXED))).collect()
        };
        GcStats {
            scans: c.scans.load(RELAXED),
            scan_errors: c.scan_errors.load(RELAXED),
            released: by_label(&ReleaseReason::LABELS, &c.released),
            cancelled: c.cancelled.load(RELAXED),
            failures: c.failures.load(RELAXED),
            skipped: by_label(&SkipReason::LABELS, &c.skipped),
            suspects: c.suspects.load(RELAXED),
            holders: c.holders.load(RELAXED),
            last_scan_duration: Duration::from_micros(c.last_scan_micros.load(RELAXED)),
            last_scan_unix: c.last_scan_unix.load(RELAXED),
        }
    }

    pub(super) fn released(&self, reason: &ReleaseReason, n: u64) {
        if let Some(i) = ReleaseReason::LABELS.iter().position(|l| *l == reason.label()) {
            self.counters.released[i].fetch_add(n, RELAXED);
        }
    }

    pub(super) fn skipped(&self, reason: SkipReason) {
        self.counters.skipped[reason as usize].fetch_add(1, RELAXED);
    }

    pub(super) fn cancelled(&self) {
        self.counters.cancelled.fetch_add(1, RELAXED);
    }

    pub(super) fn failed(&self) {
        self.counters.failures.fetch_add(1, RELAXED);
    }

    pub(super) fn suspects(&self) -> u64 {
        self.counters.suspects.load(RELAXED)
    }

    /// One scan ended: `Ok((holders, suspects))`, or failed.
    pub(super) fn scanned(&self, result: Result<(u64, u64), ()>, took: Duration) {
        let c = &self.counters;
        match result {
            Ok((holders, suspects)) => {
                c.holders.store(holders, RELAXED);
                c.suspects.store(suspects, RELAXED);
                c.scans.fetch_add(1, RELAXED);
            }
            Err(()) => {
                c.scan_errors.fetch_add(1, RELAXED);
            }
        }
        c.last_scan_micros.store(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), RELAXED);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        c.last_scan_unix.store(now, RELAXED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_the_reasons() {
        assert_eq!(SkipReason::InvalidPool.label(), "invalid_pool");
        assert_eq!(SkipReason::InvalidRecord.label(), "invalid_record");
        assert_eq!(SkipReason::InvalidEndpoint.label(), "invalid_endpoint");
        assert_eq!(SkipReason::NoUid.label(), "no_uid");
    }

    #[test]
    fn clones_share_counters() {
        let a = GcMetrics::default();
        let b = a.clone();
        b.released(&ReleaseReason::PodDeleted, 2);
        b.skipped(SkipReason::NoUid);
        b.scanned(Ok((5, 1)), Duration::from_millis(12));
        b.scanned(Err(()), Duration::from_millis(3));
        let s = a.stats();
        assert_eq!(a, b);
        assert_ne!(a, GcMetrics::default());
        assert_eq!(s.released.get("pod_deleted"), Some(&2));
        assert_eq!(s.released.get("node_gone"), Some(&0));
        assert_eq!(s.skipped.get("no_uid"), Some(&1));
        assert_eq!((s.scans, s.scan_errors, s.holders, s.suspects), (1, 1, 5, 1));
        assert_eq!(s.last_scan_duration, Duration::from_millis(3));
        assert!(s.last_scan_unix > 0);
    }
}
