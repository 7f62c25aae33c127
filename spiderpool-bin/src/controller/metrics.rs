//! Prometheus metrics of the controller (snake_case, prefix `spiderpool_`):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `spiderpool_controller_webhook_requests_total` | counter | `hook` (mutate, validate), `result` (allowed, patched, denied, error) |
//! | `spiderpool_controller_webhook_duration_seconds` | histogram | `hook` |
//! | `spiderpool_controller_webhook_cert_expiry_timestamp_seconds` | gauge | — (0 when unknown: certificate files) |
//! | `spiderpool_controller_leader` | gauge | — (1 while this replica leads) |
//! | `spiderpool_controller_leader_terms_total` | counter | — |
//! | `spiderpool_controller_leader_lost_total` | counter | — (step-downs: renewal failed or Lease taken) |
//! | `spiderpool_controller_gc_scans_total` | counter | — (full IP GC scans run) |
//! | `spiderpool_controller_gc_scan_errors_total` | counter | — (scans that failed as a whole) |
//! | `spiderpool_controller_gc_released_ips_total` | counter | `reason` (pod_deleted, uid_changed, terminating_overdue, pod_finished, node_gone) |
//! | `spiderpool_controller_gc_cancelled_total` | counter | — (releases a fresh re-read of the pod stopped) |
//! | `spiderpool_controller_gc_release_failures_total` | counter | — (releases that failed; tried again) |
//! | `spiderpool_controller_gc_skipped_total` | counter | `reason` (invalid_pool, invalid_record, invalid_endpoint, no_uid) |
//! | `spiderpool_controller_gc_suspects` | gauge | — (holders waiting for their second observation) |
//! | `spiderpool_controller_gc_holders` | gauge | — (holders of addresses the last scan found) |
//! | `spiderpool_controller_gc_last_scan_duration_seconds` | gauge | — |
//! | `spiderpool_controller_gc_last_scan_timestamp_seconds` | gauge | — (Unix time; 0: no scan yet) |
//!
//! The GC metrics are read from the collector's shared counters
//! ([`spiderpool_k8s::gc::GcMetrics`]) at each scrape; they keep counting
//! across terms of leadership and stay at their last values on a replica
//! that does not lead.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use spiderpool_k8s::gc::{GcMetrics, GcStats};
use spiderpool_k8s::leader::LeaderStatus;

/// Buckets of the webhook duration histogram, in seconds (a review lists a
/// few kinds from the API server: milliseconds, up to the 10 s timeout).
pub const WEBHOOK_BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Labels of a webhook answer.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// `mutate` or `validate`.
    pub hook: String,
    /// `allowed`, `patched`, `denied` or `error`.
    pub result: String,
}

/// Label of the duration histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabel {
    /// `mutate` or `validate`.
    pub hook: String,
}

/// The `reason` label of the GC counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: String,
}

/// The IP garbage collector's metrics, mirrored from its counters.
#[derive(Debug, Default)]
struct GcFamilies {
    scans: Counter,
    scan_errors: Counter,
    released: Family<ReasonLabel, Counter>,
    cancelled: Counter,
    failures: Counter,
    skipped: Family<ReasonLabel, Counter>,
    suspects: Gauge,
    holders: Gauge,
    last_duration: Gauge<f64, std::sync::atomic::AtomicU64>,
    last_timestamp: Gauge,
}

impl GcFamilies {
    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("gc");
        r.register("scans", "full IP GC scans run", self.scans.clone());
        r.register("scan_errors", "IP GC scans that failed as a whole", self.scan_errors.clone());
        r.register(
            "released_ips",
            "addresses the IP GC released, by reason",
            self.released.clone(),
        );
        r.register(
            "cancelled",
            "IP GC releases a fresh re-read of the pod cancelled",
            self.cancelled.clone(),
        );
        r.register(
            "release_failures",
            "IP GC releases that failed (tried again at the next scan)",
            self.failures.clone(),
        );
        r.register(
            "skipped",
            "objects and holders the IP GC skipped, by reason (counted per scan)",
            self.skipped.clone(),
        );
        r.register(
            "suspects",
            "holders waiting for their second observation",
            self.suspects.clone(),
        );
        r.register(
            "holders",
            "holders of addresses the last IP GC scan found",
            self.holders.clone(),
        );
        r.register(
            "last_scan_duration_seconds",
            "how long the last IP GC scan took",
            self.last_duration.clone(),
        );
        r.register(
            "last_scan_timestamp_seconds",
            "when the last IP GC scan ended (Unix time; 0: none yet)",
            self.last_timestamp.clone(),
        );
    }

    /// Brings the metrics up to `now`, counting what changed since `seen`.
    fn update(&self, seen: &GcStats, now: &GcStats) {
        self.scans.inc_by(now.scans.saturating_sub(seen.scans));
        self.scan_errors.inc_by(now.scan_errors.saturating_sub(seen.scan_errors));
        self.cancelled.inc_by(now.cancelled.saturating_sub(seen.cancelled));
        self.failures.inc_by(now.failures.saturating_sub(seen.failures));
        for (family, new, old) in [
            (&self.released, &now.released, &seen.released),
            (&self.skipped, &now.skipped, &seen.skipped),
        ] {
            for (reason, n) in new {
                let before = old.get(reason).copied().unwrap_or(0);
                family
                    .get_or_create(&ReasonLabel { reason: (*reason).to_owned() })
                    .inc_by(n.saturating_sub(before));
            }
        }
        self.suspects.set(i64::try_from(now.suspects).unwrap_or(i64::MAX));
        self.holders.set(i64::try_from(now.holders).unwrap_or(i64::MAX));
        self.last_duration.set(now.last_scan_duration.as_secs_f64());
        self.last_timestamp.set(i64::try_from(now.last_scan_unix).unwrap_or(i64::MAX));
    }
}

/// The controller's metrics and their registry.
#[derive(Debug)]
pub struct ControllerMetrics {
    registry: Registry,
    requests: Family<ReviewLabels, Counter>,
    duration: Family<HookLabel, Histogram, fn() -> Histogram>,
    cert_expiry: Gauge,
    leader: Gauge,
    terms: Counter,
    lost: Counter,
    seen: std::sync::Mutex<LeaderStatus>,
    gc: GcFamilies,
    gc_source: Option<GcMetrics>,
    gc_seen: std::sync::Mutex<GcStats>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self::new(|_| {})
    }
}

impl ControllerMetrics {
    /// Every metric at zero; `more` registers further metrics (the leader's
    /// work's) in the same registry.
    pub fn new(more: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::with_prefix("spiderpool_controller");
        let requests = Family::<ReviewLabels, Counter>::default();
        registry.register("webhook_requests", "admission reviews answered", requests.clone());
        let duration = Family::<HookLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(WEBHOOK_BUCKETS)) as fn() -> Histogram,
        );
        registry.register("webhook_duration_seconds", "time to answer a review", duration.clone());
        let cert_expiry = Gauge::default();
        registry.register(
            "webhook_cert_expiry_timestamp_seconds",
            "when the served webhook certificate expires (Unix time; 0: unknown)",
            cert_expiry.clone(),
        );
        let leader = Gauge::default();
        registry.register("leader", "1 while this replica holds the Lease", leader.clone());
        let terms = Counter::default();
        registry.register("leader_terms", "terms of leadership started", terms.clone());
        let lost = Counter::default();
        registry.register("leader_lost", "step-downs (renewal failed, Lease taken)", lost.clone());
        let gc = GcFamilies::default();
        gc.register(&mut registry);
        more(&mut registry);
        Self {
            registry,
            requests,
            duration,
            cert_expiry,
            leader,
            terms,
            lost,
            seen: std::sync::Mutex::default(),
            gc,
            gc_source: None,
            gc_seen: std::sync::Mutex::default(),
        }
    }

    /// These metrics, exporting the collector's counters `gc` too (read at
    /// each [`Self::encode`]).
    pub fn with_gc(mut self, gc: GcMetrics) -> Self {
        self.gc_source = Some(gc);
        self
    }

    /// The collector's counters, as `spiderpool_controller_gc_*`.
    pub fn gc(&self, now: &GcStats) {
        let mut seen = self.gc_seen.lock().unwrap_or_else(|e| e.into_inner());
        self.gc.update(&seen, now);
        *seen = now.clone();
    }

    /// One answered review.
    pub fn review(&self, hook: &str, result: &str, elapsed: Duration) {
        let labels = ReviewLabels { hook: hook.to_owned(), result: result.to_owned() };
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&HookLabel { hook: hook.to_owned() })
            .observe(elapsed.as_secs_f64());
    }

    /// The served certificate's expiry (Unix seconds), when known.
    pub fn cert_expiry(&self, not_after: Option<i64>) {
        self.cert_expiry.set(not_after.unwrap_or(0));
    }

    /// The election's status.
    pub fn leader(&self, status: &LeaderStatus) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        self.leader.set(i64::from(status.is_leader));
        self.terms.inc_by(status.terms.saturating_sub(seen.terms));
        self.lost.inc_by(status.lost.saturating_sub(seen.lost));
        *seen = status.clone();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        if let Some(source) = &self.gc_source {
            self.gc(&source.stats());
        }
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case_with_the_prefix() {
        let m = ControllerMetrics::default();
        m.review("validate", "denied", Duration::from_millis(3));
        m.leader(&LeaderStatus { is_leader: true, holder: None, terms: 2, lost: 1 });
        m.leader(&LeaderStatus { is_leader: false, holder: None, terms: 2, lost: 1 });
        let text = m.encode().unwrap();
        assert!(text.contains(
            "spiderpool_controller_webhook_requests_total{hook=\"validate\",result=\"denied\"} 1"
        ), "{text}");
        assert!(text.contains("spiderpool_controller_leader 0"), "{text}");
        assert!(text.contains("spiderpool_controller_leader_terms_total 2"), "{text}");
        assert!(text.contains("spiderpool_controller_leader_lost_total 1"), "{text}");
        assert!(text.contains("spiderpool_controller_webhook_duration_seconds_bucket"), "{text}");
    }

    #[test]
    fn gc_counters_are_mirrored_without_double_counting() {
        let mut stats = GcStats::default();
        stats.scans = 3;
        stats.released.insert("pod_deleted", 2);
        stats.skipped.insert("invalid_pool", 1);
        stats.suspects = 4;
        stats.last_scan_duration = Duration::from_millis(250);
        let m = ControllerMetrics::default();
        m.gc(&stats);
        stats.scans = 5;
        stats.released.insert("pod_deleted", 3);
        m.gc(&stats);
        let text = m.encode().unwrap();
        for line in [
            "spiderpool_controller_gc_scans_total 5",
            "spiderpool_controller_gc_released_ips_total{reason=\"pod_deleted\"} 3",
            "spiderpool_controller_gc_skipped_total{reason=\"invalid_pool\"} 1",
            "spiderpool_controller_gc_suspects 4",
            "spiderpool_controller_gc_last_scan_duration_seconds 0.25",
            "spiderpool_controller_gc_cancelled_total 0",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
    }

    #[test]
    fn gc_metrics_are_read_from_the_shared_counters_at_each_encode() {
        let source = GcMetrics::default();
        let m = ControllerMetrics::default().with_gc(source.clone());
        let text = m.encode().unwrap();
        assert!(text.contains("spiderpool_controller_gc_scans_total 0"), "{text}");
    }
}
