//! [`KubeBackend`]: everything the agent needs from a cluster in one value —
//! the Kubernetes store ([`KubeStore`]: pools, reserved IPs, endpoints) and
//! the pod facts ([`KubeFacts`]: pods, namespaces, nodes, controllers,
//! SpiderCoordinators) — and [`connect`], the agent's client.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use spiderpool_core::model::{SpiderCoordinator, SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::pod::{
    ControllerKind, ControllerView, NamespaceView, NodeView, PodSource, PodView,
};
use spiderpool_core::store::{
    AllocationChange, CoordinatorSource, EndpointStore, PoolState, PoolStore, StoreError, Version,
    Versioned,
};

use crate::facts::{FactsOptions, KubeFacts};
use crate::store::{KubeStore, KubeStoreOptions, StartError};

/// Errors of [`connect`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The kubeconfig file named could not be read or used.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// No configuration found: no kubeconfig (`KUBECONFIG`,
    /// `~/.kube/config`) and not inside a pod with a service account.
    #[error("no Kubernetes client configuration: {0}")]
    Infer(String),
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client: {0}")]
    Client(String),
}

/// A client of the cluster: from the kubeconfig at `kubeconfig` when given,
/// else kube's inference (`KUBECONFIG`, `~/.kube/config`, then the pod's
/// service account: `KUBERNETES_SERVICE_HOST` and
/// `/var/run/secrets/kubernetes.io/serviceaccount`). Nothing is sent yet:
/// an API server that is down is found by the watches, which wait for it.
pub async fn connect(kubeconfig: Option<&Path>) -> Result<Client, ConnectError> {
    let config = match kubeconfig {
        Some(path) => {
            let bad = |message: String| ConnectError::Kubeconfig {
                path: path.display().to_string(),
                message,
            };
            let file = Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| bad(e.to_string()))?
        }
        None => kube::Config::infer().await.map_err(|e| ConnectError::Infer(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| ConnectError::Client(e.to_string()))
}

/// The agent's backend on a cluster: [`PoolStore`] and [`EndpointStore`]
/// through [`KubeStore`], [`PodSource`] and [`CoordinatorSource`] through
/// [`KubeFacts`]. Health is both: the store's (every kind listed, the API
/// server answering) and the facts' (every cache listed).
#[derive(Clone)]
pub struct KubeBackend {
    store: Arc<KubeStore>,
    facts: Arc<KubeFacts>,
    client: Client,
}

impl std::fmt::Debug for KubeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeBackend")
            .field("store", &self.store)
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

impl KubeBackend {
    /// Starts the store's watches and the facts' caches over `client`; returns
    /// at once (reads wait for the caches they need).
    pub fn new(
        client: Client,
        store: KubeStoreOptions,
        facts: FactsOptions,
    ) -> Result<Self, StartError> {
        Ok(Self {
            store: Arc::new(KubeStore::new(client.clone(), store)?),
            facts: Arc::new(KubeFacts::new(client.clone(), facts)?),
            client,
        })
    }

    /// The store.
    pub fn store(&self) -> &KubeStore {
        &self.store
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The pod facts.
    pub fn facts(&self) -> &KubeFacts {
        &self.facts
    }

    /// Waits until the store and the facts have listed everything (each at
    /// most its sync timeout).
    pub async fn wait_synced(&self) -> Result<(), StoreError> {
        self.store.wait_synced().await?;
        self.facts.wait_synced().await
    }
}

impl PoolStore for KubeBackend {
    async fn list_pools(&self) -> Result<Vec<Arc<SpiderIPPool>>, StoreError> {
        self.store.list_pools().await
    }

    async fn read_pool<R: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&PoolState) -> R + Send,
    ) -> Result<Option<Versioned<R>>, StoreError> {
        self.store.read_pool(name, f).await
    }

    async fn update_allocations(
        &self,
        name: &str,
        expected: Version,
        change: &AllocationChange,
    ) -> Result<Version, StoreError> {
        self.store.update_allocations(name, expected, change).await
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        self.store.list_reserved_ips().await
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.store.sync().await
    }

    fn unit_of_work<F>(&self, work: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        self.store.unit_of_work(work)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.store.health().await?;
        self.facts.health()
    }
}

impl EndpointStore for KubeBackend {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        self.store.get_endpoint(namespace, name).await
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        self.store.create_endpoint(endpoint).await
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        self.store.update_endpoint(endpoint, expected).await
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        self.store.delete_endpoint(namespace, name, expected).await
    }
}

impl PodSource for KubeBackend {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        self.facts.pod(namespace, name).await
    }

    async fn fresh_pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, StoreError> {
        self.facts.fresh_pod(namespace, name).await
    }

    async fn namespace(&self, name: &str) -> Result<Option<NamespaceView>, StoreError> {
        self.facts.namespace(name).await
    }

    async fn node(&self, name: &str) -> Result<Option<NodeView>, StoreError> {
        self.facts.node(name).await
    }

    async fn controller(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ControllerView>, StoreError> {
        self.facts.controller(kind, namespace, name).await
    }

    async fn workload(
        &self,
        kind: ControllerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ControllerView>, StoreError> {
        self.facts.workload(kind, namespace, name).await
    }
}

impl CoordinatorSource for KubeBackend {
    async fn coordinator(&self, name: &str) -> Result<Option<SpiderCoordinator>, StoreError> {
        self.facts.coordinator(name).await
    }
}
