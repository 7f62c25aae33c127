//! Prometheus metrics of the agent, with Spiderpool's names in snake_case
//! (reference §8.1; DESIGN §5.9): allocation and release counts, failures by
//! cause, durations (histogram with Spiderpool's buckets, and
//! average/max/min/latest gauges), store write conflicts, and per-pool total,
//! allocated and available address counts refreshed at each scrape.
//!
//! Counters carry the OpenMetrics `_total` suffix, as Spiderpool's do
//! (`spiderpool_ipam_allocation_counts_total`).

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use spiderpool_core::allocator::AllocateError;
use spiderpool_core::selection::SelectionError;

/// Spiderpool's histogram buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 9] = [0.1, 0.3, 0.5, 1.0, 3.0, 5.0, 7.0, 10.0, 15.0];

/// Buckets of the store sync histogram (ours, not Spiderpool's), in seconds:
/// an fsync takes from well under a millisecond to tens of milliseconds.
pub const SYNC_BUCKETS: [f64; 9] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5];

type FloatGauge = Gauge<f64, AtomicU64>;
type PoolLabels = Vec<(String, String)>;

#[derive(Debug, Default)]
struct Stats {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

/// Count, failures and durations of one operation (allocation or release).
#[derive(Debug)]
struct Operation {
    counts: Counter,
    failures: Counter,
    conflicts: Counter,
    err_internal: Counter,
    err_retries_exhausted: Counter,
    duration: Histogram,
    average: FloatGauge,
    max: FloatGauge,
    min: FloatGauge,
    latest: FloatGauge,
    stats: Mutex<Stats>,
}

impl Operation {
    fn new(registry: &mut Registry, op: &str) -> Self {
        let this = Self {
            counts: Counter::default(),
            failures: Counter::default(),
            conflicts: Counter::default(),
            err_internal: Counter::default(),
            err_retries_exhausted: Counter::default(),
            duration: Histogram::new(DURATION_BUCKETS),
            average: FloatGauge::default(),
            max: FloatGauge::default(),
            min: FloatGauge::default(),
            latest: FloatGauge::default(),
            stats: Mutex::new(Stats::default()),
        };
        let name = |s: &str| format!("ipam_{op}_{s}");
        registry.register(name("counts"), format!("{op} requests"), this.counts.clone());
        registry.register(
            name("failure_counts"),
            format!("failed {op} requests"),
            this.failures.clone(),
        );
        registry.register(
            name("update_ippool_conflict_counts"),
            format!("SpiderIPPool write conflicts retried during {op}"),
            this.conflicts.clone(),
        );
        registry.register(
            name("err_internal_counts"),
            format!("{op} failures of the store or of unusable objects"),
            this.err_internal.clone(),
        );
        registry.register(
            name("err_retries_exhausted_counts"),
            format!("{op} failures after too many write conflicts"),
            this.err_retries_exhausted.clone(),
        );
        registry.register(
            name("duration_seconds"),
            format!("{op} duration"),
            this.duration.clone(),
        );
        for (what, gauge) in [
            ("average", &this.average),
            ("max", &this.max),
            ("min", &this.min),
            ("latest", &this.latest),
        ] {
            registry.register(
                name(&format!("{what}_duration_seconds")),
                format!("{what} {op} duration"),
                gauge.clone(),
            );
        }
        this
    }

    fn observe(&self, elapsed: Duration, ok: bool) {
        let secs = elapsed.as_secs_f64();
        self.counts.inc();
        if !ok {
            self.failures.inc();
        }
        self.duration.observe(secs);
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.count += 1;
        s.sum += secs;
        s.min = if s.count == 1 { secs } else { s.min.min(secs) };
        s.max = s.max.max(secs);
        self.average.set(s.sum / s.count as f64);
        self.min.set(s.min);
        self.max.set(s.max);
        self.latest.set(secs);
    }
}

/// The agent's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    allocation: Operation,
    release: Operation,
    alloc_no_available_pool: Counter,
    alloc_ip_used_out: Counter,
    total_pools: Gauge,
    store_sync: Histogram,
    pool_total: Family<PoolLabels, Gauge>,
    pool_allocated: Family<PoolLabels, Gauge>,
    pool_available: Family<PoolLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One pool's counts, for [`Metrics::set_pools`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCounts {
    /// Pool name.
    pub name: String,
    /// Addresses in `spec.ips` minus `spec.excludeIPs`.
    pub total: i64,
    /// Allocation records.
    pub allocated: i64,
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("spiderpool");
        let allocation = Operation::new(&mut registry, "allocation");
        let release = Operation::new(&mut registry, "release");
        let alloc_no_available_pool = Counter::default();
        registry.register(
            "ipam_allocation_err_no_available_pool_counts",
            "allocations that found no usable pool",
            alloc_no_available_pool.clone(),
        );
        let alloc_ip_used_out = Counter::default();
        registry.register(
            "ipam_allocation_err_ip_used_out_counts",
            "allocations whose every candidate pool was full",
            alloc_ip_used_out.clone(),
        );
        let total_pools = Gauge::default();
        registry.register("total_ippool_counts", "SpiderIPPools in the store", total_pools.clone());
        let store_sync = Histogram::new(SYNC_BUCKETS);
        registry.register(
            "store_sync_duration_seconds",
            "time an answer waited for its writes to become durable (shared fsync)",
            store_sync.clone(),
        );
        let pool_total = Family::default();
        registry.register(
            "ippool_total_ip_counts",
            "addresses of a pool (spec.ips minus excludeIPs)",
            pool_total.clone(),
        );
        let pool_allocated = Family::default();
        registry.register(
            "ippool_allocated_ip_counts",
            "allocated addresses of a pool",
            pool_allocated.clone(),
        );
        let pool_available = Family::default();
        registry.register(
            "ippool_available_ip_counts",
            "free addresses of a pool (reserved addresses not subtracted)",
            pool_available.clone(),
        );
        Self {
            registry,
            allocation,
            release,
            alloc_no_available_pool,
            alloc_ip_used_out,
            total_pools,
            store_sync,
            pool_total,
            pool_allocated,
            pool_available,
        }
    }

    /// Records one allocation.
    pub fn allocation(&self, elapsed: Duration, result: Result<(), &AllocateError>) {
        self.allocation.observe(elapsed, result.is_ok());
        if let Err(e) = result {
            match e {
                AllocateError::Selection(
                    SelectionError::NoAvailablePool { .. } | SelectionError::NoPoolMatches { .. },
                ) => {
                    self.alloc_no_available_pool.inc();
                }
                AllocateError::Exhausted { .. } => {
                    self.alloc_ip_used_out.inc();
                }
                AllocateError::RetriesExhausted { .. } => {
                    self.allocation.err_retries_exhausted.inc();
                }
                AllocateError::Store(_) | AllocateError::Pool(_) => {
                    self.allocation.err_internal.inc();
                }
                _ => {}
            }
        }
    }

    /// Records one release.
    pub fn release(&self, elapsed: Duration, result: Result<(), &AllocateError>) {
        self.release.observe(elapsed, result.is_ok());
        match result {
            Err(AllocateError::RetriesExhausted { .. }) => {
                self.release.err_retries_exhausted.inc();
            }
            Err(_) => {
                self.release.err_internal.inc();
            }
            Ok(()) => {}
        }
    }

    /// Records how long one answer waited for durability.
    pub fn sync(&self, elapsed: Duration) {
        self.store_sync.observe(elapsed.as_secs_f64());
    }

    /// Counts one store write conflict (retried) during an allocation or a
    /// release.
    pub fn conflict(&self, during_release: bool) {
        if during_release {
            self.release.conflicts.inc();
        } else {
            self.allocation.conflicts.inc();
        }
    }

    /// Replaces the per-pool gauges (pools that are gone disappear).
    pub fn set_pools(&self, pools: &[PoolCounts]) {
        self.pool_total.clear();
        self.pool_allocated.clear();
        self.pool_available.clear();
        self.total_pools.set(pools.len() as i64);
        for p in pools {
            let labels = vec![("ippool".to_string(), p.name.clone())];
            self.pool_total.get_or_create(&labels).set(p.total);
            self.pool_allocated.get_or_create(&labels).set(p.allocated);
            self.pool_available.get_or_create(&labels).set((p.total - p.allocated).max(0));
        }
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
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_are_spiderpools_in_snake_case() {
        let m = Metrics::new();
        m.allocation(Duration::from_millis(20), Ok(()));
        m.allocation(
            Duration::from_millis(40),
            Err(&AllocateError::RetriesExhausted { what: "x".into(), attempts: 8 }),
        );
        m.release(Duration::from_millis(5), Ok(()));
        m.conflict(false);
        m.set_pools(&[PoolCounts { name: "10-6-v4".into(), total: 41, allocated: 2 }]);
        let text = m.encode().unwrap();
        for line in [
            "spiderpool_ipam_allocation_counts_total 2",
            "spiderpool_ipam_allocation_failure_counts_total 1",
            "spiderpool_ipam_allocation_err_retries_exhausted_counts_total 1",
            "spiderpool_ipam_allocation_update_ippool_conflict_counts_total 1",
            "spiderpool_ipam_release_counts_total 1",
            "spiderpool_ipam_allocation_latest_duration_seconds 0.04",
            "spiderpool_ipam_allocation_max_duration_seconds 0.04",
            "spiderpool_ipam_allocation_min_duration_seconds 0.02",
            "spiderpool_ipam_allocation_duration_seconds_bucket{le=\"0.1\"} 2",
            "spiderpool_total_ippool_counts 1",
            "spiderpool_ippool_total_ip_counts{ippool=\"10-6-v4\"} 41",
            "spiderpool_ippool_allocated_ip_counts{ippool=\"10-6-v4\"} 2",
            "spiderpool_ippool_available_ip_counts{ippool=\"10-6-v4\"} 39",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        m.set_pools(&[]);
        assert!(!m.encode().unwrap().contains("10-6-v4"));
    }
}
