//! The objects admission compares a request with ([`Existing`]), read from
//! the API server for each request.
//!
//! Lists go to the API server (quorum reads), not to a watch cache: two
//! pools applied one right after the other from one file must see each other,
//! and a cache may not have shown the first one yet. Only the kinds the
//! request's kind consults are listed. An object that does not decode into
//! the model (it bypassed admission) is left out with a log line; it never
//! fails the request of another object.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Client, Resource as _};
use spiderpool_core::admission::Existing;
use spiderpool_core::model::{
    Resource, SpiderCoordinator, SpiderIPPool, SpiderMultusConfig, SpiderReservedIP, SpiderSubnet,
};
use spiderpool_core::multus::NetworkAttachmentDefinition;

use crate::KubeObject;

/// Lists the objects admission needs.
#[derive(Clone)]
pub struct ExistingLister {
    client: Client,
}

/// Which kinds the admission of `kind` reads.
pub fn consulted_kinds(kind: &str) -> &'static [&'static str] {
    match kind {
        SpiderIPPool::KIND | SpiderSubnet::KIND => &[SpiderIPPool::KIND, SpiderSubnet::KIND],
        SpiderMultusConfig::KIND => &[SpiderMultusConfig::KIND, NAD],
        _ => &[],
    }
}

const NAD: &str = "NetworkAttachmentDefinition";

fn api_resource(kind: &str) -> Option<ApiResource> {
    Some(match kind {
        SpiderIPPool::KIND => ApiResource::erase::<KubeObject<SpiderIPPool>>(&()),
        SpiderSubnet::KIND => ApiResource::erase::<KubeObject<SpiderSubnet>>(&()),
        SpiderReservedIP::KIND => ApiResource::erase::<KubeObject<SpiderReservedIP>>(&()),
        SpiderMultusConfig::KIND => ApiResource::erase::<KubeObject<SpiderMultusConfig>>(&()),
        SpiderCoordinator::KIND => ApiResource::erase::<KubeObject<SpiderCoordinator>>(&()),
        NAD => ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("k8s.cni.cncf.io", "v1", NAD),
            "network-attachment-definitions",
        ),
        _ => return None,
    })
}

impl ExistingLister {
    /// A lister over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The objects of every kind the admission of `kind` consults.
    pub async fn existing_for(&self, kind: &str) -> Result<Existing, kube::Error> {
        let mut out = Existing::default();
        let lists =
            futures::future::join_all(consulted_kinds(kind).iter().map(|k| self.list_values(k)))
                .await;
        for (k, values) in consulted_kinds(kind).iter().zip(lists) {
            for value in values? {
                if *k == NAD {
                    match serde_json::from_value::<NetworkAttachmentDefinition>(value) {
                        Ok(nad) => out.nads.push(nad),
                        Err(e) => tracing::warn!("skipping a {NAD} that does not decode: {e}"),
                    }
                    continue;
                }
                match Resource::from_value(value) {
                    Ok(r) => out.push(r),
                    Err(e) => tracing::warn!("admission skips an existing {k}: {e}"),
                }
            }
        }
        Ok(out)
    }

    /// One list per kind the webhook serves: Ok when the API server answers
    /// and RBAC allows every list (the controller's readiness probe).
    pub async fn probe(&self) -> Result<(), String> {
        for kind in [SpiderIPPool::KIND, SpiderSubnet::KIND, SpiderMultusConfig::KIND] {
            let Some(ar) = api_resource(kind) else { continue };
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            api.list_metadata(&ListParams::default().limit(1))
                .await
                .map_err(|e| format!("list {}: {}", ar.plural, super::api_message(&e)))?;
        }
        Ok(())
    }

    /// Every object of `kind` as JSON; an absent CRD (404, e.g. Multus is not
    /// installed) is an empty list.
    async fn list_values(&self, kind: &str) -> Result<Vec<serde_json::Value>, kube::Error> {
        let Some(ar) = api_resource(kind) else { return Ok(Vec::new()) };
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::with_capacity(list.items.len());
        for mut item in list.items {
            item.types = Some(kube::api::TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
            match serde_json::to_value(&item) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!(
                    "skipping {} {:?}: {e}",
                    ar.kind,
                    item.meta().name.as_deref().unwrap_or("")
                ),
            }
        }
        Ok(out)
    }
}
