//! What Spiderpool's `spiderpool-init` Helm hook creates: the default
//! SpiderCoordinator and, optionally, default pools. Idempotent: an object
//! that exists is left as it is (a user's edits win), so running it on every
//! install and upgrade is safe.
//!
//! Objects are defaulted and checked with the core's admission rules before
//! they are created, so they come out right also when the hook runs before
//! the webhook answers (and a default pool that would overlap an existing
//! one is refused here, with the webhook's message).

use kube::api::{Api, PostParams};
use spiderpool_core::admission::{self, ClusterSettings, Context, Existing, Operation};
use spiderpool_core::model::{CoordinatorSpec, SpiderCoordinator, SpiderIPPool};

use super::ReconcileError;
use crate::{CoordinatorObject, IPPoolObject, KubeObject};

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// The default SpiderCoordinator ([`default_coordinator`]); `None`: none
    /// (`coordinator.enabled: false`).
    pub coordinator: Option<SpiderCoordinator>,
    /// Default pools (`ipam.spiderpoolInit.defaultIPv4IPPool` and
    /// `…IPv6IPPool` in Spiderpool's chart).
    pub pools: Vec<SpiderIPPool>,
    /// Cluster settings for the admission checks of the pools.
    pub settings: ClusterSettings,
}

/// What [`init`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitReport {
    /// Objects created, as `Kind/name`.
    pub created: Vec<String>,
    /// Objects that existed already and were left alone.
    pub existing: Vec<String>,
}

/// The default SpiderCoordinator of Spiderpool's chart: named `default`,
/// `podCIDRType` as given (the chart's default is `auto`), `hijackCIDR`
/// `169.254.0.0/16`, the other fields defaulted by admission.
pub fn default_coordinator(pod_cidr_type: &str) -> SpiderCoordinator {
    SpiderCoordinator::new(
        SpiderCoordinator::DEFAULT_NAME,
        CoordinatorSpec {
            pod_cidr_type: Some(pod_cidr_type.to_owned()),
            hijack_cidr: vec!["169.254.0.0/16".to_owned()],
            ..Default::default()
        },
    )
}

/// Creates what `options` asks for unless it exists.
///
/// Fails with the admission rejection when an object is invalid (naming it
/// and every field), or when a request fails; objects created before the
/// failure stay (running again continues where it stopped).
pub async fn init(
    client: kube::Client,
    options: &InitOptions,
) -> Result<InitReport, ReconcileError> {
    let mut report = InitReport::default();
    let empty = Existing::default();
    if let Some(coordinator) = &options.coordinator {
        let mut object = coordinator.clone();
        let ctx = Context { settings: &options.settings, existing: &empty };
        admission::coordinator::mutate(&mut object, Operation::Create, &ctx)
            .and_then(|()| {
                admission::coordinator::validate(Operation::Create, Some(&object), None, &ctx)
            })
            .map_err(|r| rejected("SpiderCoordinator", coordinator.metadata.name_str(), &r))?;
        let api: Api<CoordinatorObject> = Api::all(client.clone());
        create(&api, object, &mut report).await?;
    }
    if !options.pools.is_empty() {
        let api: Api<IPPoolObject> = Api::all(client.clone());
        let listed = api
            .list(&Default::default())
            .await
            .map_err(ReconcileError::kube("list SpiderIPPools"))?;
        let existing = Existing {
            ippools: listed.items.into_iter().map(KubeObject::into_core).collect(),
            ..Existing::default()
        };
        for pool in &options.pools {
            let name = pool.metadata.name_str();
            if existing.ippools.iter().any(|p| p.metadata.name_str() == name) {
                report.existing.push(format!("SpiderIPPool/{name}"));
                continue;
            }
            let mut object = pool.clone();
            let ctx = Context { settings: &options.settings, existing: &existing };
            admission::ippool::mutate(&mut object, Operation::Create, &ctx)
                .and_then(|()| {
                    admission::ippool::validate(Operation::Create, Some(&object), None, &ctx)
                })
                .map_err(|r| rejected("SpiderIPPool", name, &r))?;
            create(&api, object, &mut report).await?;
        }
    }
    Ok(report)
}

fn rejected(kind: &str, name: &str, rejection: &admission::Rejection) -> ReconcileError {
    ReconcileError::Convert { what: format!("{kind} {name}"), message: rejection.to_string() }
}

async fn create<K: crate::Kind>(
    api: &Api<KubeObject<K>>,
    object: K,
    report: &mut InitReport,
) -> Result<(), ReconcileError> {
    let label = format!("{}/{}", K::KIND, object.metadata().name_str());
    let object = KubeObject::from_core(object)
        .map_err(|e| ReconcileError::Convert { what: label.clone(), message: e.to_string() })?;
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => report.created.push(label),
        Err(kube::Error::Api(s)) if s.code == 409 => report.existing.push(label),
        Err(e) => return Err(ReconcileError::Kube { what: format!("create {label}"), source: e }),
    }
    Ok(())
}
