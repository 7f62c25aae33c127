//! [`SubnetStore`] for [`KubeBackend`]: the SpiderSubnet and the auto-pool
//! writes the agent makes for third-party controllers, straight to the API
//! server (no cache: these are rare, and each write must see the latest
//! object).
//!
//! - `get_subnet`: GET; the version is `metadata.resourceVersion`.
//! - `update_subnet_status`: a merge patch of the status subresource that
//!   carries `metadata.resourceVersion`, so the API server applies it only
//!   to the version read (409 → [`StoreError::Conflict`]).
//! - `create_pool`: POST (409 → [`StoreError::AlreadyExists`]), with the
//!   store's scope label when it has one.
//! - `update_pool_ips`: GET, compare `spec.ips`, merge patch of `spec.ips`
//!   with that `resourceVersion`.
//!
//! RBAC: `get` on `spidersubnets`, `patch` on `spidersubnets/status`,
//! `create`, `get` and `patch` on `spiderippools`.

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use spiderpool_core::model::{SpiderIPPool, SpiderSubnet, SubnetStatus};
use spiderpool_core::store::{StoreError, SubnetStore, Version, Versioned};

use crate::backend::KubeBackend;
use crate::{Kind, KubeObject};

fn version(rv: Option<&str>, kind: &'static str, name: &str) -> Result<Version, StoreError> {
    rv.and_then(|v| v.parse().ok()).ok_or_else(|| StoreError::Invalid {
        kind,
        name: name.to_string(),
        message: format!("metadata.resourceVersion {rv:?} is not a number"),
    })
}

fn failed(what: &str, e: &kube::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {}", crate::facts::describe_error(e)))
}

impl SubnetStore for KubeBackend {
    async fn get_subnet(&self, name: &str) -> Result<Option<Versioned<SpiderSubnet>>, StoreError> {
        let api = SpiderSubnet::api(self.client().clone(), None);
        let found =
            api.get_opt(name).await.map_err(|e| failed(&format!("get SpiderSubnet {name}"), &e))?;
        let Some(object) = found else { return Ok(None) };
        let v = version(object.metadata.resource_version.as_deref(), SpiderSubnet::KIND, name)?;
        Ok(Some(Versioned { version: v, value: object.into_core() }))
    }

    async fn update_subnet_status(
        &self,
        name: &str,
        expected: Version,
        status: &SubnetStatus,
    ) -> Result<Version, StoreError> {
        let api = SpiderSubnet::api(self.client().clone(), None);
        let patch =
            json!({"metadata": {"resourceVersion": expected.to_string()}, "status": status});
        match api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(written) => {
                version(written.metadata.resource_version.as_deref(), SpiderSubnet::KIND, name)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Err(StoreError::Conflict {
                kind: SpiderSubnet::KIND,
                name: name.to_string(),
                expected,
                actual: None,
            }),
            Err(e) => Err(failed(&format!("patch SpiderSubnet {name} status"), &e)),
        }
    }

    async fn create_pool(&self, pool: &SpiderIPPool) -> Result<(), StoreError> {
        let name = pool.metadata.name_str().to_string();
        let what = format!("create SpiderIPPool {name}");
        let mut pool = pool.clone();
        // A scoped store sees only pools with its label: the pool it makes
        // must carry it too.
        if let Some((key, value)) = &self.store().options().scope_label {
            let labels = pool.metadata.labels.get_or_insert_with(Default::default);
            labels.insert(key.clone(), value.clone());
        }
        let object = KubeObject::from_core(pool).map_err(|e| StoreError::Invalid {
            kind: SpiderIPPool::KIND,
            name: name.clone(),
            message: e.to_string(),
        })?;
        let api = SpiderIPPool::api(self.client().clone(), None);
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                Err(StoreError::AlreadyExists { kind: SpiderIPPool::KIND, name })
            }
            Err(e) => Err(failed(&what, &e)),
        }
    }

    async fn update_pool_ips(
        &self,
        name: &str,
        expected: &[String],
        ips: &[String],
    ) -> Result<(), StoreError> {
        let api = SpiderIPPool::api(self.client().clone(), None);
        let conflict = |actual| StoreError::Conflict {
            kind: SpiderIPPool::KIND,
            name: name.to_string(),
            expected: 0,
            actual,
        };
        let found =
            api.get_opt(name).await.map_err(|e| failed(&format!("get SpiderIPPool {name}"), &e))?;
        let Some(object) = found else {
            return Err(StoreError::NotFound { kind: SpiderIPPool::KIND, name: name.to_string() });
        };
        let rv = object.metadata.resource_version.clone().unwrap_or_default();
        if object.spec.ips != expected {
            return Err(conflict(rv.parse().ok()));
        }
        let patch = json!({"metadata": {"resourceVersion": rv}, "spec": {"ips": ips}});
        match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(conflict(None)),
            Err(e) => Err(failed(&format!("patch SpiderIPPool {name} spec.ips"), &e)),
        }
    }
}
