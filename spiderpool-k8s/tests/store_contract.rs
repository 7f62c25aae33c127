//! The core's store contract (`spiderpool_core::store::contract::run`) against
//! a real API server, in both commit modes, and with group commit also the
//! way the agent writes: every write a unit of work followed by `sync`.
//!
//! A "fresh store holding exactly these objects": the contract names its
//! pools `a` and `b` (cluster-scoped names), so the stores of this binary
//! are label-scoped (`KubeStoreOptions::scope_label`) and each store's setup
//! first deletes every object carrying this binary's label. The tests of this
//! binary run one at a time (a lock); test binaries run one after another, and
//! no other test uses the names `a`, `b`, `missing`. The contract's endpoints
//! live in namespace `ns`, created when missing and kept (deleting a namespace
//! takes a while, and the next run would find it terminating).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::store::contract::{self, StoreFactory};
use spiderpool_core::store::{
    AllocationChange, EndpointStore, PoolState, PoolStore, StoreError, Version, Versioned,
};
use spiderpool_k8s::testing::{TestCluster, TestResult};
use spiderpool_k8s::{CommitMode, Kind, KubeObject, KubeStore, KubeStoreOptions};

const LABEL: &str = "spiderpool-rs.test/store-contract";

/// One test at a time: they share the pool names.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Factory {
    cluster: TestCluster,
    commit: CommitMode,
    units: bool,
    runtime: tokio::runtime::Handle,
}

impl StoreFactory for Factory {
    type Store = ContractStore;

    fn create(&self, pools: Vec<SpiderIPPool>, reserved: Vec<SpiderReservedIP>) -> ContractStore {
        let setup =
            tokio::task::block_in_place(|| self.runtime.block_on(self.setup(pools, reserved)));
        match setup {
            Ok(store) => ContractStore { store, units: self.units },
            Err(e) => panic!("setting up a store: {e}"),
        }
    }
}

impl Factory {
    async fn setup(
        &self,
        pools: Vec<SpiderIPPool>,
        reserved: Vec<SpiderReservedIP>,
    ) -> TestResult<KubeStore> {
        let client = self.cluster.client();
        let value = std::process::id().to_string();
        wipe_all(&client).await?;
        ensure_namespace(&client, "ns").await?;
        let label = |meta: &mut spiderpool_core::model::ObjectMeta| {
            meta.labels.get_or_insert_with(Default::default).insert(LABEL.into(), value.clone());
        };
        for mut pool in pools {
            label(&mut pool.metadata);
            let status = pool.status.clone();
            let api = SpiderIPPool::api(client.clone(), None);
            let mut created =
                api.create(&PostParams::default(), &KubeObject::from_core(pool)?).await?;
            if status.is_some() {
                created.status = status;
                let name = created.metadata.name.clone().unwrap_or_default();
                api.replace_status(&name, &PostParams::default(), &created).await?;
            }
        }
        for mut r in reserved {
            label(&mut r.metadata);
            let api = SpiderReservedIP::api(client.clone(), None);
            api.create(&PostParams::default(), &KubeObject::from_core(r)?).await?;
        }
        let options =
            KubeStoreOptions::default().with_commit(self.commit).with_scope_label(LABEL, &value);
        let store = KubeStore::new(client, options)?;
        store.wait_synced().await?;
        Ok(store)
    }
}

/// Deletes every pool, reserved IP and endpoint carrying this binary's label
/// (of this run or an earlier one).
async fn wipe_all(client: &kube::Client) -> TestResult<()> {
    wipe::<SpiderIPPool>(client).await?;
    wipe::<SpiderReservedIP>(client).await?;
    wipe::<SpiderEndpoint>(client).await
}

/// Deletes every object of kind `K` carrying this binary's label (finalizers
/// removed first).
async fn wipe<K: Kind>(client: &kube::Client) -> TestResult<()> {
    let api = K::api(client.clone(), None);
    let list = api.list(&ListParams::default().labels(LABEL)).await?;
    for object in list.items {
        let name = object.metadata.name.clone().unwrap_or_default();
        let api = K::api(client.clone(), object.metadata.namespace.as_deref());
        let unfinalize = serde_json::json!({"metadata": {"finalizers": null}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&unfinalize)).await?;
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn ensure_namespace(client: &kube::Client, name: &str) -> TestResult<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await?.is_none() {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.into());
        api.create(&PostParams::default(), &ns).await?;
    }
    Ok(())
}

/// The store under test: with `units`, every write is one unit of work
/// followed by `sync`, as the agent makes them.
struct ContractStore {
    store: KubeStore,
    units: bool,
}

impl ContractStore {
    async fn write<T: Send>(
        &self,
        write: impl std::future::Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        if !self.units {
            return write.await;
        }
        self.store
            .unit_of_work(async {
                let out = write.await?;
                self.store.sync().await?;
                Ok(out)
            })
            .await
    }
}

impl PoolStore for ContractStore {
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
        self.write(self.store.update_allocations(name, expected, change)).await
    }

    async fn list_reserved_ips(&self) -> Result<Vec<Arc<SpiderReservedIP>>, StoreError> {
        self.store.list_reserved_ips().await
    }
}

impl EndpointStore for ContractStore {
    async fn get_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned<SpiderEndpoint>>, StoreError> {
        self.store.get_endpoint(namespace, name).await
    }

    async fn create_endpoint(&self, endpoint: &SpiderEndpoint) -> Result<Version, StoreError> {
        self.write(self.store.create_endpoint(endpoint)).await
    }

    async fn update_endpoint(
        &self,
        endpoint: &SpiderEndpoint,
        expected: Version,
    ) -> Result<Version, StoreError> {
        self.write(self.store.update_endpoint(endpoint, expected)).await
    }

    async fn delete_endpoint(
        &self,
        namespace: &str,
        name: &str,
        expected: Version,
    ) -> Result<(), StoreError> {
        self.write(self.store.delete_endpoint(namespace, name, expected)).await
    }
}

async fn run_contract(commit: CommitMode, units: bool) -> TestResult<()> {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_test_writer()
        .try_init();
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let _serial = SERIAL.lock().await;
    let runtime = tokio::runtime::Handle::current();
    let factory = Factory { cluster: cluster.clone(), commit, units, runtime };
    contract::run(&factory).await;
    wipe_all(&cluster.client()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_holds_with_one_write_per_change() -> TestResult<()> {
    run_contract(CommitMode::PerWrite, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_holds_with_group_commit_of_single_writes() -> TestResult<()> {
    run_contract(CommitMode::Group, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_holds_with_group_commit_of_units_of_work() -> TestResult<()> {
    run_contract(CommitMode::Group, true).await
}
