//! Leader election on a `coordination.k8s.io/v1` Lease, and the leader's
//! work started and stopped with the leadership.
//!
//! Every replica runs [`LeaderElector::run`] with the same [`LeaderWork`].
//! The algorithm is client-go's (`tools/leaderelection`):
//!
//! - **Acquire.** A replica reads the Lease every `retry_period`. It takes
//!   the Lease when it has no holder, or when the holder's record (its
//!   `resourceVersion`) has not changed for `leaseDurationSeconds` as
//!   measured by this replica's own clock since it first saw that record (no
//!   trust in the clocks of other machines). Taking and renewing are updates
//!   with the Lease's `resourceVersion`: of two replicas racing, one gets 409
//!   and stays a follower.
//! - **Renew.** The leader renews every `retry_period`. When no renewal has
//!   succeeded for `renew_deadline` (API server away, network cut), or the
//!   Lease shows another holder, it **steps down**: the work is told to stop
//!   ([`StepDown`]) and given until `lease_duration - renew_deadline` to
//!   return — the time before another replica can possibly take the Lease —
//!   and is aborted after that.
//! - **Again.** After stepping down the replica is a follower like any other
//!   and starts the work anew when it wins the Lease again (Spiderpool #409,
//!   #1154: controllers that never came back after a lost lease).
//! - **Shutdown.** On shutdown the leader stops its work (same time limit),
//!   then releases the Lease (empty holder), so a follower takes over at its
//!   next retry instead of waiting for the lease to expire.
//!
//! Stopping "at a safe point" is the work's part: it checks [`StepDown`]
//! between writes (kube-runtime's `Controller::graceful_shutdown_on` finishes
//! the reconciliations in flight). The abort after the time limit only
//! catches work that ignores the signal; even then every write of the
//! controller is compare-and-swap on `resourceVersion`, so a write computed
//! by a deposed leader loses against the new leader's.
//!
//! `kube-lease-manager` (DESIGN §11) was evaluated and not used: while its
//! renewals fail it keeps reporting leadership (its watch loop logs the error
//! and retries, with no renew deadline), which is exactly the failure this
//! module must handle.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

/// Errors of a leader's work, as the work reports them.
pub type WorkError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed future of the leader's work.
pub type WorkFuture = Pin<Box<dyn Future<Output = Result<(), WorkError>> + Send>>;

/// What the leader does while it leads. [`LeaderWork::start`] is called each
/// time this replica becomes the leader; the future it returns must end soon
/// after `stop` fires, at a point where no write is half done.
///
/// Closures `Fn(StepDown) -> impl Future<Output = Result<(), WorkError>>`
/// are `LeaderWork`.
pub trait LeaderWork: Send + Sync + 'static {
    /// Starts one term of the work.
    fn start(&self, stop: StepDown) -> WorkFuture;
}

impl<F, Fut> LeaderWork for F
where
    F: Fn(StepDown) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), WorkError>> + Send + 'static,
{
    fn start(&self, stop: StepDown) -> WorkFuture {
        Box::pin(self(stop))
    }
}

/// The signal that this term of leadership is over.
#[derive(Debug, Clone)]
pub struct StepDown(watch::Receiver<bool>);

impl StepDown {
    /// A signal that never fires, and its trigger (for tests of work).
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// True once the work must stop.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when the work must stop (also when the elector is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// A `'static` future that resolves when the work must stop, for APIs
    /// that take a shutdown future (`Controller::graceful_shutdown_on`).
    pub fn signalled(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut me = self.clone();
        async move { me.wait().await }
    }
}

/// Parameters of the election (Spiderpool's defaults: 15 s, 10 s, 2 s).
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This replica's identity (the pod name, unique per replica).
    pub identity: String,
    /// How long a Lease stays taken without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// How often followers try to acquire and the leader renews.
    pub retry_period: Duration,
}

impl ElectionConfig {
    /// Checks `retry_period < renew_deadline < lease_duration`.
    pub fn check(&self) -> Result<(), LeaderError> {
        if self.retry_period.is_zero()
            || self.retry_period >= self.renew_deadline
            || self.renew_deadline >= self.lease_duration
        {
            return Err(LeaderError::Config(format!(
                "need 0 < retry period ({:?}) < renew deadline ({:?}) < lease duration ({:?})",
                self.retry_period, self.renew_deadline, self.lease_duration
            )));
        }
        if self.identity.is_empty() {
            return Err(LeaderError::Config("the identity must not be empty".into()));
        }
        Ok(())
    }

    /// How long stopped work has before it is aborted.
    pub fn stop_timeout(&self) -> Duration {
        self.lease_duration.saturating_sub(self.renew_deadline)
    }
}

/// Errors of the election.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaderError {
    /// The configuration is inconsistent.
    #[error("leader election: {0}")]
    Config(String),
}

/// What observers (health, metrics) see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderStatus {
    /// This replica leads now.
    pub is_leader: bool,
    /// The holder last seen on the Lease.
    pub holder: Option<String>,
    /// Terms this replica has started.
    pub terms: u64,
    /// Times this replica stepped down because renewal failed or the Lease
    /// was taken.
    pub lost: u64,
}

/// Runs the election and the leader's work.
pub struct LeaderElector {
    api: Api<Lease>,
    config: ElectionConfig,
    status: watch::Sender<LeaderStatus>,
    observed: Option<(String, Instant)>,
}

enum TermEnd {
    Shutdown,
    Lost(String),
    WorkEnded(Result<(), WorkError>),
}

impl LeaderElector {
    /// An elector over `client`.
    pub fn new(client: Client, config: ElectionConfig) -> Result<Self, LeaderError> {
        config.check()?;
        Ok(Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            status: watch::channel(LeaderStatus::default()).0,
            observed: None,
        })
    }

    /// The status, updated as it changes.
    pub fn status(&self) -> watch::Receiver<LeaderStatus> {
        self.status.subscribe()
    }

    /// Campaigns, leads, steps down and campaigns again until `shutdown`
    /// resolves; then stops the work and releases the Lease.
    pub async fn run<W: LeaderWork>(mut self, work: W, shutdown: impl Future<Output = ()>) {
        let work = Arc::new(work);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = self.acquire() => {}
            }
            let (tx, stop) = StepDown::new();
            let mut handle = tokio::spawn(work.start(stop));
            self.status.send_modify(|s| {
                s.is_leader = true;
                s.terms += 1;
            });
            tracing::info!(lease = %self.lease(), "became the leader: starting the leader's work");
            let end = tokio::select! {
                () = &mut shutdown => TermEnd::Shutdown,
                reason = self.renew_until_lost() => TermEnd::Lost(reason),
                r = &mut handle => TermEnd::WorkEnded(r.unwrap_or_else(|e| Err(Box::new(e)))),
            };
            let _ = tx.send(true);
            match &end {
                TermEnd::Lost(reason) => {
                    tracing::warn!(lease = %self.lease(), "stepping down: {reason}");
                    self.status.send_modify(|s| s.lost += 1);
                }
                TermEnd::Shutdown => tracing::info!("shutting down: stopping the leader's work"),
                TermEnd::WorkEnded(Ok(())) => tracing::warn!("the leader's work ended by itself"),
                TermEnd::WorkEnded(Err(e)) => tracing::error!("the leader's work failed: {e}"),
            }
            if !matches!(end, TermEnd::WorkEnded(_)) {
                self.stop_work(handle).await;
            }
            self.status.send_modify(|s| s.is_leader = false);
            match end {
                TermEnd::Shutdown => {
                    self.release().await;
                    return;
                }
                TermEnd::WorkEnded(_) => {
                    // Let another replica try; this one campaigns again.
                    self.release().await;
                    tokio::time::sleep(self.config.retry_period).await;
                }
                TermEnd::Lost(_) => {}
            }
        }
    }

    fn lease(&self) -> String {
        format!("{}/{}", self.config.namespace, self.config.lease_name)
    }

    async fn stop_work(&self, mut handle: tokio::task::JoinHandle<Result<(), WorkError>>) {
        let limit = self.config.stop_timeout();
        match tokio::time::timeout(limit, &mut handle).await {
            Ok(Ok(Ok(()))) => tracing::info!("the leader's work stopped"),
            Ok(Ok(Err(e))) => tracing::warn!("the leader's work stopped with an error: {e}"),
            Ok(Err(e)) => tracing::error!("the leader's work panicked or was cancelled: {e}"),
            Err(_) => {
                tracing::error!("the leader's work did not stop within {limit:?}: aborting it");
                handle.abort();
                let _ = handle.await;
            }
        }
    }

    /// Returns once this replica holds the Lease.
    async fn acquire(&mut self) {
        loop {
            let limit = self.config.renew_deadline;
            match tokio::time::timeout(limit, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => return,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::debug!(lease = %self.lease(), "acquire: {e}"),
                Err(_) => {
                    tracing::debug!(lease = %self.lease(), "acquire: no answer within {limit:?}")
                }
            }
            tokio::time::sleep(jittered(self.config.retry_period)).await;
        }
    }

    /// Renews every retry period; returns why leadership is lost.
    async fn renew_until_lost(&mut self) -> String {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let left = self.config.renew_deadline.saturating_sub(last_renewal.elapsed());
            let error = match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => {
                    last_renewal = Instant::now();
                    continue;
                }
                Ok(Ok(false)) => {
                    let holder = self.status.borrow().holder.clone().unwrap_or_default();
                    return format!("the Lease is held by {holder:?}");
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the renewal timed out".to_owned(),
            };
            if last_renewal.elapsed() >= self.config.renew_deadline {
                return format!(
                    "no renewal for {:?} (renew deadline {:?}): {error}",
                    last_renewal.elapsed(),
                    self.config.renew_deadline
                );
            }
            tracing::warn!(lease = %self.lease(), "renewing the Lease failed: {error}");
        }
    }

    /// One attempt: `Ok(true)` when this replica holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let me = self.config.identity.clone();
        let duration = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.lease_name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me.clone()),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(self.holds(Some(me))),
                Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(false),
                Err(e) => Err(e),
            };
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(v, _)| *v != version) {
            self.observed = Some((version, Instant::now()));
        }
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        self.status.send_if_modified(|s| {
            let changed = s.holder != holder;
            s.holder.clone_from(&holder);
            changed
        });
        let held_by_other = holder.as_ref().is_some_and(|h| *h != me);
        if held_by_other {
            let their = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.config.lease_duration, Duration::from_secs);
            let seen = self.observed.as_ref().map_or_else(Instant::now, |(_, at)| *at);
            if seen.elapsed() < their {
                return Ok(false);
            }
        }
        if holder.as_deref() != Some(me.as_str()) {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(me.clone());
        spec.lease_duration_seconds = Some(duration);
        spec.renew_time = Some(now);
        match self.api.replace(&self.config.lease_name, &PostParams::default(), &lease).await {
            Ok(stored) => {
                self.observed =
                    Some((stored.metadata.resource_version.unwrap_or_default(), Instant::now()));
                Ok(self.holds(Some(me)))
            }
            Err(kube::Error::Api(s)) if s.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn holds(&self, holder: Option<String>) -> bool {
        self.status.send_modify(|s| s.holder = holder);
        true
    }

    /// Gives the Lease up (empty holder, a one-second duration) if this
    /// replica still holds it.
    async fn release(&mut self) {
        let result = async {
            let Some(mut lease) = self.api.get_opt(&self.config.lease_name).await? else {
                return Ok(());
            };
            let Some(spec) = lease.spec.as_mut() else { return Ok(()) };
            if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            self.api
                .replace(&self.config.lease_name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
        .await;
        match result {
            Ok(()) => tracing::info!(lease = %self.lease(), "released the Lease"),
            Err(e) => tracing::warn!(lease = %self.lease(), "releasing the Lease: {e}"),
        }
        self.status.send_modify(|s| s.holder = None);
    }
}

/// `d` plus up to 20 % (client-go's JitterFactor is 1.2), from the clock's
/// sub-second digits: followers that started together spread out.
fn jittered(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(nanos % 1000) / 5000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lease: u64, renew: u64, retry: u64) -> ElectionConfig {
        ElectionConfig {
            namespace: "kube-system".into(),
            lease_name: "l".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_secs(retry),
        }
    }

    #[test]
    fn durations_must_nest() {
        assert!(config(15, 10, 2).check().is_ok());
        assert_eq!(config(15, 10, 2).stop_timeout(), Duration::from_secs(5));
        let e = config(10, 10, 2).check().unwrap_err().to_string();
        assert!(e.contains("renew deadline (10s) < lease duration (10s)"), "{e}");
        assert!(config(15, 10, 10).check().is_err());
        assert!(config(15, 10, 0).check().is_err());
    }

    #[tokio::test]
    async fn step_down_fires_once_set() {
        let (tx, stop) = StepDown::new();
        assert!(!stop.is_set());
        let fut = stop.signalled();
        tx.send(true).unwrap();
        fut.await;
        assert!(stop.is_set());
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let d = Duration::from_secs(2);
        let j = jittered(d);
        assert!(j >= d && j <= d + d / 5, "{j:?}");
    }
}
