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

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
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
        }
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
}
