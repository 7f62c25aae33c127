//! The agent's side of auto-pools (reference §4.2 step 1, Go
//! `getPoolFromSubnetAnno`): whether a pod's SpiderSubnet annotations
//! decide its pools, which application the pools belong to, their names and
//! their size.
//!
//! [`plan_auto_pools`] is the first level of pool selection's precedence:
//! with `enableSpiderSubnet` on, a pod carrying `ipam.spidernet.io/subnets`
//! or `ipam.spidernet.io/subnet` gets its pools from there and nowhere else
//! (not from `ippool(s)`, namespace, CNI or cluster defaults). The agent
//! then finds (Kubernetes controllers, [`super::wait`]) or makes
//! (third-party controllers, [`super::third_party`]) the pools the plan
//! names and hands them to selection as [`IpamSettings::auto_pools`].

use super::AutoPoolError;
use super::app::{AppRef, auto_pool_name};
use super::config::{IpNumber, parse_auto_pool_config};
use super::size::{Workload, app_replicas, desired_pool_size};
use crate::annotation::AnnotationError;
use crate::ip::IpFamily;
use crate::pod::{ControllerKind, ControllerView, PodFacts};
use crate::selection::{CandidateSource, IpamSettings, NicRequest};

/// The cluster's SpiderSubnet settings (Spiderpool ConfigMap keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubnetFeature {
    /// `enableSpiderSubnet`: subnet annotations are read at all.
    pub enable_spider_subnet: bool,
    /// `enableAutoPoolForApplication`: applications get auto-pools; with it
    /// off, a subnet annotation is refused.
    pub enable_auto_pool: bool,
    /// `clusterSubnetAutoPoolDefaultRedundantIPNumber`: the spare
    /// addresses when a pod names no `ippool-ip-number`.
    pub default_redundant: u64,
}

/// Why a pod's auto-pools cannot be served. Every message names the
/// annotation, and the application, subnet and numbers it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AutoPoolRequestError {
    /// A subnet annotation while `enableAutoPoolForApplication` is off.
    #[error(
        "{annotation}: the pod asks for SpiderSubnet auto-pools but auto-pools are disabled \
         (enableAutoPoolForApplication=false); remove the annotation or use \
         ipam.spidernet.io/ippool(s)"
    )]
    FeatureOff {
        /// The annotation.
        annotation: &'static str,
    },
    /// A pod without a controller asks for auto-pools.
    #[error("{annotation}: {source}")]
    Orphan {
        /// The annotation.
        annotation: &'static str,
        /// [`AutoPoolError::OrphanPod`].
        source: Box<AutoPoolError>,
    },
    /// An annotation does not parse or breaks a rule.
    #[error(transparent)]
    Annotation(Box<AnnotationError>),
    /// A pool rule refused (name, size).
    #[error("{annotation}: {source}")]
    Rule {
        /// The annotation the pools come from.
        annotation: &'static str,
        /// The rule's error.
        source: Box<AutoPoolError>,
    },
    /// The application's controller object could not be read.
    #[error(
        "{annotation}: {app} is not found, so the size of its auto-pool is unknown (is the \
         controller deleted?)"
    )]
    AppMissing {
        /// The annotation.
        annotation: &'static str,
        /// `Kind namespace/name`.
        app: String,
    },
    /// More than one pool carries the application's labels.
    #[error(
        "{annotation}: {app} has {} {family} auto-pools for interface {nic} from SpiderSubnet \
         {subnet} ({}); there must be exactly one",
        .pools.len(), .pools.join(", ")
    )]
    TooManyPools {
        /// The annotation.
        annotation: &'static str,
        /// `Kind namespace/name`.
        app: String,
        /// The NIC.
        nic: String,
        /// The family.
        family: IpFamily,
        /// The subnet.
        subnet: String,
        /// The pools found.
        pools: Vec<String>,
    },
    /// The controller-made pool did not appear, with the right size, in time.
    #[error("{annotation}: {report}")]
    NotReady {
        /// The annotation.
        annotation: &'static str,
        /// What was waited for and seen.
        report: Box<WaitReport>,
    },
    /// The SpiderSubnet a pod names does not exist.
    #[error("{annotation}: SpiderSubnet {subnet} ({family}, interface {nic}) does not exist")]
    SubnetMissing {
        /// The annotation.
        annotation: &'static str,
        /// The subnet.
        subnet: String,
        /// The family.
        family: IpFamily,
        /// The NIC.
        nic: String,
    },
}

impl From<AnnotationError> for AutoPoolRequestError {
    fn from(e: AnnotationError) -> Self {
        AutoPoolRequestError::Annotation(Box::new(e))
    }
}

impl AutoPoolRequestError {
    /// A rule's error, for pools from `annotation`.
    pub fn rule(annotation: &'static str, source: AutoPoolError) -> Self {
        AutoPoolRequestError::Rule { annotation, source: Box::new(source) }
    }

    /// The [`AutoPoolRequestError::TooManyPools`] error for `pools` (the
    /// names found), which all carry the labels of `planned`'s pool of
    /// `plan`'s application.
    pub fn too_many_pools(
        plan: &AutoPoolPlan,
        planned: &PlannedPool,
        pools: impl IntoIterator<Item = String>,
    ) -> Self {
        AutoPoolRequestError::TooManyPools {
            annotation: plan.annotation,
            app: plan.app.describe(),
            nic: plan.nic.clone(),
            family: planned.family,
            subnet: planned.subnet.clone(),
            pools: pools.into_iter().collect(),
        }
    }
}

/// What the agent waited for, and what it saw last
/// ([`AutoPoolRequestError::NotReady`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "waited {waited_ms} ms ({tries} checks) for spiderpool-controller to create the {family} \
     auto-pool {pool} of {app} from SpiderSubnet {subnet} with {desired} IPs for interface \
     {nic}; last seen: {seen}"
)]
pub struct WaitReport {
    /// `Kind namespace/name`.
    pub app: String,
    /// The pool's name.
    pub pool: String,
    /// The subnet.
    pub subnet: String,
    /// The family.
    pub family: IpFamily,
    /// The NIC.
    pub nic: String,
    /// The size waited for.
    pub desired: u64,
    /// What the last check saw.
    pub seen: String,
    /// Checks made.
    pub tries: u32,
    /// Time waited, in milliseconds.
    pub waited_ms: u64,
}

/// One pool a plan needs: for one family, carved from one subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPool {
    /// The family.
    pub family: IpFamily,
    /// The SpiderSubnet's name.
    pub subnet: String,
    /// The pool's name ([`auto_pool_name`]).
    pub name: String,
}

/// What the subnet annotations ask for one NIC of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPoolPlan {
    /// The annotation the NIC's subnets come from.
    pub annotation: &'static str,
    /// The NIC.
    pub nic: String,
    /// The pod's application (its top controller).
    pub app: AppRef,
    /// `ippool-ip-number` (or the cluster's flexible default).
    pub ip_number: IpNumber,
    /// `ippool-reclaim`.
    pub reclaim: bool,
    /// One pool per enabled family, IPv4 first.
    pub pools: Vec<PlannedPool>,
}

impl AutoPoolPlan {
    /// The size the pools must have for `workload` (the application's
    /// controller; [`Workload::ThirdParty`] for a third-party one).
    pub fn desired_size(&self, workload: Workload) -> Result<u64, AutoPoolRequestError> {
        desired_pool_size(&self.app, app_replicas(workload), self.ip_number)
            .map_err(|source| AutoPoolRequestError::rule(self.annotation, source))
    }

    /// The selection request for the resolved pools (one name per family).
    pub fn request(&self, clean_gateway: bool) -> NicRequest {
        let names = |f: IpFamily| -> Vec<String> {
            self.pools.iter().filter(|p| p.family == f).map(|p| p.name.clone()).collect()
        };
        NicRequest {
            nic: self.nic.clone(),
            clean_gateway,
            ipv4: names(IpFamily::V4),
            ipv6: names(IpFamily::V6),
            origin: CandidateSource::SubnetAutoPool,
        }
    }

    /// The application's controller kind, when it is a Kubernetes one
    /// whose object sizes the pool; `None` for a third-party controller.
    pub fn workload_kind(&self) -> Option<ControllerKind> {
        if self.app.is_third_party() {
            return None;
        }
        ControllerKind::from_workload_kind(&self.app.kind)
    }
}

/// The pod's application: its top controller, or the pod itself (kind
/// `Pod`, [`AppRef::is_orphan_pod`]) when it has none. An owner reference
/// without `apiVersion` (objects registered by hand in the embedded store)
/// of a Kubernetes controller kind gets that controller's `apiVersion`.
pub fn pod_app(pod: &PodFacts) -> AppRef {
    let Some(owner) = &pod.owner else {
        return AppRef {
            api_version: "v1".to_string(),
            kind: "Pod".to_string(),
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
        };
    };
    let uid = owner.uid.clone().unwrap_or_default();
    match owner.api_version.as_deref() {
        Some(api_version) => AppRef {
            api_version: api_version.to_string(),
            kind: owner.kind.clone(),
            namespace: pod.namespace.clone(),
            name: owner.name.clone(),
            uid,
        },
        None => AppRef::native(&owner.kind, &pod.namespace, &owner.name, &uid).unwrap_or(AppRef {
            api_version: String::new(),
            kind: owner.kind.clone(),
            namespace: pod.namespace.clone(),
            name: owner.name.clone(),
            uid,
        }),
    }
}

/// Level 1 of pool selection for pod `pod` and NIC `nic`: `Ok(None)` when
/// the subnet annotations do not apply (SpiderSubnet off, or no
/// `ipam.spidernet.io/subnet(s)`), so the next level is tried; otherwise
/// the plan of the NIC's auto-pools, or why they cannot be:
/// auto-pools disabled, an orphan pod, an annotation that breaks a rule
/// (including two NICs on one subnet, or a NIC not listed), a pool name
/// that cannot be, or a third-party controller without a fixed size.
pub fn plan_auto_pools(
    pod: &PodFacts,
    settings: &IpamSettings,
    nic: &str,
) -> Result<Option<AutoPoolPlan>, AutoPoolRequestError> {
    let feature = settings.subnet;
    if !feature.enable_spider_subnet {
        return Ok(None);
    }
    let Some(config) = parse_auto_pool_config(&pod.annotations, feature.default_redundant)? else {
        return Ok(None);
    };
    let annotation = config.source;
    if !feature.enable_auto_pool {
        return Err(AutoPoolRequestError::FeatureOff { annotation });
    }
    let app = pod_app(pod);
    if app.is_orphan_pod() {
        let source = Box::new(AutoPoolError::OrphanPod { pod: pod.namespaced_name() });
        return Err(AutoPoolRequestError::Orphan { annotation, source });
    }
    let item = config.for_nic(nic)?;
    let rule = |source| AutoPoolRequestError::rule(annotation, source);
    let mut pools = Vec::new();
    for (family, subnet) in
        item.subnets_for(annotation, settings.enable_ipv4, settings.enable_ipv6)?
    {
        let name = auto_pool_name(&app.name, family, nic, &app.uid).map_err(rule)?;
        pools.push(PlannedPool { family, subnet: subnet.to_string(), name });
    }
    let plan = AutoPoolPlan {
        annotation,
        nic: nic.to_string(),
        app,
        ip_number: config.ip_number,
        reclaim: config.reclaim,
        pools,
    };
    if plan.app.is_third_party() {
        // Refuse a flexible size now, before anything is read or written.
        plan.desired_size(Workload::ThirdParty)?;
    }
    Ok(Some(plan))
}

/// What sizes the pool of a Kubernetes controller `kind`, read from its
/// object: `spec.replicas` (Deployment, ReplicaSet, StatefulSet),
/// `status.desiredNumberScheduled` (DaemonSet), `parallelism`/`completions`
/// (Job; a CronJob's `spec.jobTemplate.spec`).
pub fn workload_of(kind: ControllerKind, object: &ControllerView) -> Workload {
    let job = |spec: &crate::pod::ControllerSpecView| Workload::Job {
        parallelism: spec.parallelism,
        completions: spec.completions,
    };
    match kind {
        ControllerKind::DaemonSet => Workload::DaemonSet {
            desired_number_scheduled: object.status.desired_number_scheduled.unwrap_or(0),
        },
        ControllerKind::Job => job(&object.spec),
        ControllerKind::CronJob => match &object.spec.job_template {
            Some(template) => job(&template.spec),
            None => Workload::Job { parallelism: None, completions: None },
        },
        _ => Workload::Replicas(object.spec.replicas),
    }
}
