//! Retries of store conflicts: how long to wait ([`RetryPolicy`]), how to
//! wait ([`Clock`]) and where the jitter of a wait comes from ([`Jitter`]).
//! Time and randomness are injected, so the core reads neither the clock nor
//! the operating system's randomness, and a test run is reproducible.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sleeps between retries. The agent passes tokio's timer; tests pass [`NoSleep`].
pub trait Clock: Send + Sync {
    /// Waits for `d`.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// A clock that never waits (tests, and embedders that retry immediately).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSleep;

impl Clock for NoSleep {
    async fn sleep(&self, _d: Duration) {}
}

/// A clock that blocks the calling thread (synchronous embedders).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleep;

impl Clock for ThreadSleep {
    async fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// The random part of a retry wait: each call gives a number in `[0, 1)`.
/// The agent draws it from the operating system (writers on one store then
/// spread out); tests and embedders that want reproducible runs use
/// [`SeededJitter`].
pub trait Jitter: Send + Sync {
    /// The next number, in `[0, 1)`.
    fn sample(&self) -> f64;
}

/// Deterministic jitter: the SplitMix64 sequence of a seed. Two allocators
/// with the same seed, making the same calls, wait the same times. Shared
/// between threads, each call still takes the next number of the one
/// sequence.
#[derive(Debug, Default)]
pub struct SeededJitter {
    state: AtomicU64,
}

impl SeededJitter {
    /// The sequence of `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: AtomicU64::new(seed) }
    }
}

impl Clone for SeededJitter {
    /// A copy that continues from the same point of the sequence.
    fn clone(&self) -> Self {
        Self::new(self.state.load(Ordering::Relaxed))
    }
}

/// SplitMix64's increment.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl Jitter for SeededJitter {
    fn sample(&self) -> f64 {
        let mut z =
            self.state.fetch_add(GOLDEN_GAMMA, Ordering::Relaxed).wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        unit_interval(z)
    }
}

/// The top 53 bits of `bits` as a number in `[0, 1)` (every value exact in
/// an `f64`). Public so that other [`Jitter`] sources map their bits the
/// same way.
pub fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Bounded exponential backoff with jitter for store conflicts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per write, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial: Duration,
    /// Growth factor of the wait.
    pub factor: f64,
    /// Up to this fraction of the wait is added at random (0.0 to 1.0).
    pub jitter: f64,
    /// Upper bound of one wait.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 10 ms initial, factor 1.5, 50 % jitter, 200 ms cap: a little
    /// more patient than Spiderpool's 5 × 10 ms × 1.5, because group commits
    /// are not in the core.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial: Duration::from_millis(10),
            factor: 1.5,
            jitter: 0.5,
            max_wait: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (0-based), with jitter drawn from
    /// `random` in `[0, 1)`.
    pub fn wait(&self, attempt: u32, random: f64) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.max(1.0).powi(attempt.min(64) as i32);
        let jitter = base * self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        let secs = (base + jitter).min(self.max_wait.as_secs_f64());
        if secs.is_finite() && secs > 0.0 { Duration::from_secs_f64(secs) } else { Duration::ZERO }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_jitter_repeats_per_seed_and_stays_in_the_unit_interval() {
        let draw = |seed| {
            let j = SeededJitter::new(seed);
            (0..1000).map(|_| j.sample()).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert!(a.iter().all(|x| (0.0..1.0).contains(x)));
        // Spread over the interval, not stuck in a corner.
        assert!(a.iter().any(|x| *x < 0.1) && a.iter().any(|x| *x > 0.9));
    }

    #[test]
    fn a_clone_continues_the_sequence() {
        let j = SeededJitter::new(1);
        j.sample();
        let k = j.clone();
        assert_eq!(j.sample(), k.sample());
    }

    #[test]
    fn unit_interval_maps_the_extremes() {
        assert_eq!(unit_interval(0), 0.0);
        assert!(unit_interval(u64::MAX) < 1.0);
    }
}
