//! How many addresses an application's auto-pool holds (Go `GetAppReplicas`,
//! `CalculateJobPodNum`, the application controller's `desiredIPNumber` and
//! the agent's `getAutoPoolIPNumber`).

use super::AutoPoolError;
use super::app::AppRef;
use super::config::IpNumber;
use crate::annotation::ANNO_IPPOOL_IP_NUMBER;

/// What the pool size is computed from, per kind of application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Deployment, ReplicaSet, StatefulSet: `spec.replicas` (absent counts
    /// as 0, as Go reads an unset pointer; the API server always sets it).
    Replicas(Option<i64>),
    /// DaemonSet: `status.desiredNumberScheduled`.
    DaemonSet {
        /// `status.desiredNumberScheduled`.
        desired_number_scheduled: i64,
    },
    /// Job, or a CronJob's `spec.jobTemplate`: `spec.parallelism` and
    /// `spec.completions`.
    Job {
        /// `spec.parallelism`.
        parallelism: Option<i64>,
        /// `spec.completions`.
        completions: Option<i64>,
    },
    /// A third-party controller: its replicas are unknown.
    ThirdParty,
}

/// Clamps a count read from an object to `0..`: the API server refuses
/// negative replicas, and a hand-written object must not wrap around.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The number of pods `workload` runs at once, as Spiderpool counts them.
///
/// Jobs (Go `CalculateJobPodNum`): `completions` when set (0 counts as 1),
/// else `parallelism` when set (0 counts as 1), else 1 — so a Job of 10
/// completions with parallelism 2 is sized for 10. A third-party controller
/// counts 0 (its pool must have a fixed size).
pub fn app_replicas(workload: Workload) -> u64 {
    let at_least_one = |n: i64| if n == 0 { 1 } else { count(n) };
    match workload {
        Workload::Replicas(r) => r.map_or(0, count),
        Workload::DaemonSet { desired_number_scheduled } => count(desired_number_scheduled),
        Workload::Job { completions: Some(c), .. } => at_least_one(c),
        Workload::Job { completions: None, parallelism: Some(p) } => at_least_one(p),
        Workload::Job { completions: None, parallelism: None } => 1,
        Workload::ThirdParty => 0,
    }
}

/// The number of addresses `app`'s pool must hold.
///
/// - `+N`: replicas plus `N`. A third-party controller's replicas are not
///   known, so it needs a fixed size (Go: "only supports fixed auto-created
///   IPPool IP Number"), and so does the cluster default (flexible) when
///   the annotation is absent.
/// - `N`: exactly `N`; for a Kubernetes controller, `N` below its replicas
///   is refused (some pods could never get an address; Go creates the
///   short pool and lets those pods fail).
///
/// An orphan pod has no application to size for and is refused.
pub fn desired_pool_size(
    app: &AppRef,
    replicas: u64,
    ip_number: IpNumber,
) -> Result<u64, AutoPoolError> {
    if app.is_orphan_pod() {
        return Err(AutoPoolError::OrphanPod { pod: format!("{}/{}", app.namespace, app.name) });
    }
    match ip_number {
        IpNumber::Fixed(n) if app.is_third_party() || n >= replicas => Ok(n),
        IpNumber::Fixed(n) => Err(AutoPoolError::FixedBelowReplicas {
            app: app.describe(),
            annotation: ANNO_IPPOOL_IP_NUMBER,
            fixed: n,
            replicas,
        }),
        IpNumber::Flexible(_) if app.is_third_party() => Err(AutoPoolError::ThirdPartyNeedsFixed {
            app: format!("{} ({})", app.describe(), app.api_version),
            annotation: ANNO_IPPOOL_IP_NUMBER,
        }),
        IpNumber::Flexible(n) => replicas.checked_add(n).ok_or(AutoPoolError::SizeOverflow {
            app: app.describe(),
            replicas,
            flexible: n,
        }),
    }
}
