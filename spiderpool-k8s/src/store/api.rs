//! The requests the store makes, each with a time limit, and what their
//! failures mean to it ([`RequestError`]).
//!
//! Writes are compare-and-swap on `resourceVersion`: pool records go to the
//! status subresource (`replace_status`), endpoints are created, replaced and
//! deleted with a `resourceVersion` precondition.

use std::future::Future;
use std::time::Duration;

use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::{Client, Resource};
use spiderpool_core::model::{FINALIZER, SpiderEndpoint, SpiderIPPool};

use super::decode::Decoded;
use crate::{Kind, KubeObject};

/// Why a request failed, as far as the store cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RequestError {
    /// 409: the object changed (stale `resourceVersion`) or already exists
    /// (the API server's message).
    Conflict(String),
    /// 404: the object is gone (the API server's message).
    NotFound(String),
    /// Anything else, described (verb, object, the API server's message).
    Failed(String),
}

/// The store's requests (see the module doc).
#[derive(Clone)]
pub(super) struct Requests {
    client: Client,
    timeout: Duration,
}

impl Requests {
    pub(super) fn new(client: Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    /// The client.
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    async fn limited<T>(
        &self,
        what: impl FnOnce() -> String,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, RequestError> {
        // Boxed: kube's request futures are large, and a caller's future holds
        // them across awaits (deep stacks in debug builds otherwise).
        match tokio::time::timeout(self.timeout, Box::pin(request)).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(kube::Error::Api(status))) if status.code == 409 => {
                Err(RequestError::Conflict(format!("{}: {}", what(), status.message)))
            }
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => {
                Err(RequestError::NotFound(format!("{}: {}", what(), status.message)))
            }
            Ok(Err(e)) => Err(RequestError::Failed(format!("{}: {}", what(), describe(&e)))),
            Err(_) => Err(RequestError::Failed(format!(
                "{}: no answer within {:?}",
                what(),
                self.timeout
            ))),
        }
    }

    /// Writes `pool`'s status (records and counts) against its
    /// `metadata.resourceVersion`; returns the new `resourceVersion`.
    pub(super) async fn write_pool_status(
        &self,
        pool: SpiderIPPool,
    ) -> Result<String, RequestError> {
        let name = pool.metadata.name_str().to_owned();
        let what = || format!("update SpiderIPPool {name} status");
        let object = KubeObject::from_core(pool)
            .map_err(|e| RequestError::Failed(format!("{}: {e}", what())))?;
        let api: Api<KubeObject<SpiderIPPool>> = Api::all(self.client.clone());
        let written =
            self.limited(what, api.replace_status(&name, &PostParams::default(), &object)).await?;
        Ok(written.metadata.resource_version.unwrap_or_default())
    }

    /// Reads a pool from the API server (not a cache).
    pub(super) async fn get_pool(&self, name: &str) -> Result<Decoded<SpiderIPPool>, RequestError> {
        let api: Api<Decoded<SpiderIPPool>> = Api::all(self.client.clone());
        self.limited(|| format!("get SpiderIPPool {name}"), api.get(name)).await
    }

    fn endpoints(&self, namespace: &str) -> Api<KubeObject<SpiderEndpoint>> {
        SpiderEndpoint::api(self.client.clone(), Some(namespace))
    }

    /// Reads an endpoint from the API server; `None` when there is none.
    pub(super) async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<(SpiderEndpoint, String)>, RequestError> {
        let what = || format!("get SpiderEndpoint {namespace}/{name}");
        match self.limited(what, self.endpoints(namespace).get(name)).await {
            Ok(object) => Ok(Some(with_rv(object))),
            Err(RequestError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an endpoint.
    pub(super) async fn create_endpoint(
        &self,
        endpoint: SpiderEndpoint,
    ) -> Result<(SpiderEndpoint, String), RequestError> {
        let (namespace, name) = key_of(&endpoint);
        let what = || format!("create SpiderEndpoint {namespace}/{name}");
        let object = KubeObject::from_core(endpoint)
            .map_err(|e| RequestError::Failed(format!("{}: {e}", what())))?;
        let api = self.endpoints(&namespace);
        self.limited(what, api.create(&PostParams::default(), &object)).await.map(with_rv)
    }

    /// Replaces an endpoint against its `metadata.resourceVersion`.
    pub(super) async fn replace_endpoint(
        &self,
        endpoint: SpiderEndpoint,
    ) -> Result<(SpiderEndpoint, String), RequestError> {
        let (namespace, name) = key_of(&endpoint);
        let what = || format!("update SpiderEndpoint {namespace}/{name}");
        let object = KubeObject::from_core(endpoint)
            .map_err(|e| RequestError::Failed(format!("{}: {e}", what())))?;
        let api = self.endpoints(&namespace);
        self.limited(what, api.replace(&name, &PostParams::default(), &object)).await.map(with_rv)
    }

    /// Deletes an endpoint that is at `base`'s `resourceVersion`: first takes
    /// Spiderpool's finalizer off (a replace), then deletes with the
    /// `resourceVersion` and UID as preconditions. An endpoint already
    /// terminating goes away with the finalizer.
    pub(super) async fn delete_endpoint(&self, base: &SpiderEndpoint) -> Result<(), RequestError> {
        let (namespace, name) = key_of(base);
        let mut rv = base.metadata.resource_version.clone();
        let finalizers = base.metadata.finalizers.as_deref().unwrap_or_default();
        if finalizers.iter().any(|f| f == FINALIZER) {
            let mut object = base.clone();
            object.metadata.finalizers =
                Some(finalizers.iter().filter(|f| *f != FINALIZER).cloned().collect());
            let (after, after_rv) = self.replace_endpoint(object).await?;
            if after.metadata.deletion_timestamp.is_some() {
                return Ok(());
            }
            rv = Some(after_rv);
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: rv,
                uid: base.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        let what = || format!("delete SpiderEndpoint {namespace}/{name}");
        match self.limited(what, self.endpoints(&namespace).delete(&name, &params)).await {
            Ok(_) | Err(RequestError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A cheap request that needs the API server and the store's read
    /// permission on pools: a list of at most one pool.
    pub(super) async fn probe(&self, label_selector: Option<&str>) -> Result<(), RequestError> {
        let api: Api<Decoded<SpiderIPPool>> = Api::all(self.client.clone());
        let mut params = kube::api::ListParams::default().limit(1);
        if let Some(selector) = label_selector {
            params = params.labels(selector);
        }
        self.limited(|| "list SpiderIPPools".to_owned(), api.list_metadata(&params))
            .await
            .map(|_| ())
    }
}

fn key_of(endpoint: &SpiderEndpoint) -> (String, String) {
    (
        endpoint.metadata.namespace.clone().unwrap_or_default(),
        endpoint.metadata.name_str().to_owned(),
    )
}

fn with_rv(object: KubeObject<SpiderEndpoint>) -> (SpiderEndpoint, String) {
    let rv = object.meta().resource_version.clone().unwrap_or_default();
    (object.into_core(), rv)
}

/// A kube error in one line: the API server's message and reason, or the
/// chain of causes of a transport error (each once).
pub(super) fn describe(error: &kube::Error) -> String {
    if let kube::Error::Api(status) = error {
        return format!("{} ({}, HTTP {})", status.message, status.reason, status.code);
    }
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests;
