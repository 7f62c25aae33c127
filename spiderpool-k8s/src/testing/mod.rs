//! Test support (feature `testing`): fixtures, and a harness for tests against
//! a real API server.
//!
//! The test command starts a cluster with `scripts/k8s-testenv.sh up DIR` and
//! exports `SPIDERPOOL_TEST_KUBECONFIG=DIR/kubeconfig`. A test then does:
//!
//! ```no_run
//! # async fn demo() -> spiderpool_k8s::testing::TestResult<()> {
//! use spiderpool_k8s::testing::{TestCluster, fixtures};
//!
//! // Prints the skip reason and returns None when the variable is unset.
//! let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
//! let scope = cluster.scope("pool-demo");          // unique names, cleanup on drop
//! let mut pool = fixtures::seed_ippool();
//! pool.metadata.name = Some(scope.name("10-6-v4"));
//! let created = scope.create(pool).await?;         // typed create, tracked for cleanup
//! # Ok(()) }
//! ```
//!
//! [`TestCluster::from_env`] installs the CRDs (server-side apply: idempotent,
//! and safe when several test binaries do it at once) and waits until they are
//! Established. [`TestScope`] names objects `<base>-<pid>-<n>` and deletes every
//! object it created or was told about when it is dropped — also when the test
//! panics — after removing their finalizers (no controller runs in the test
//! cluster to remove them); [`TestScope::track_labelled`] covers objects a
//! label-scoped store creates.
//!
//! For store tests: [`request_counts`] reads the API server's own request
//! counters (`apiserver_request_total` on `/metrics`), [`ApiProxy`] cuts a
//! client off the real API server and lets it back, and
//! [`TestCluster::restart_apiserver`] restarts the test environment's
//! kube-apiserver (`scripts/k8s-testenv.sh restart-apiserver`).

pub mod apiserver;
pub mod fixtures;
mod kubevirt;
mod proxy;

pub use apiserver::{RequestCounts, request_counts};
pub use kubevirt::install_kubevirt_crds;
pub use proxy::ApiProxy;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config, Resource};

use crate::{Kind, KubeObject, crd};

/// The variable naming the kubeconfig of the test cluster.
pub const KUBECONFIG_ENV: &str = "SPIDERPOOL_TEST_KUBECONFIG";

/// What a test prints when there is no test cluster.
pub const SKIP_MESSAGE: &str = "skipped: SPIDERPOOL_TEST_KUBECONFIG not set (run scripts/test.sh or scripts/k8s-testenv.sh up)";

/// The field manager of the harness's server-side applies.
pub const FIELD_MANAGER: &str = "spiderpool-k8s-tests";

/// Errors of tests and the harness.
pub type TestError = Box<dyn std::error::Error + Send + Sync>;
/// Result of tests and the harness.
pub type TestResult<T> = Result<T, TestError>;

/// Polls `probe` every 150 ms until it returns `Ok(value)`, or fails after
/// `limit` naming `what` and the last thing the probe saw (its `Err`); an
/// error of the probe itself (the outer `Err`) ends the wait at once.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = TestResult<Result<T, String>>>,
{
    let started = std::time::Instant::now();
    let mut last = String::new();
    while started.elapsed() < limit {
        match probe().await? {
            Ok(v) => return Ok(v),
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Err(format!("{what}: not after {limit:?}; last seen: {last}").into())
}

/// How long [`TestScope::namespace`] waits for the namespace's default
/// ServiceAccount. Long: after a test restarted the API server,
/// kube-controller-manager's informers come back after their back-off (tens
/// of seconds), and no ServiceAccount is made until then.
const SERVICE_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long CRDs may take to become Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to the test cluster named by [`KUBECONFIG_ENV`], with the CRDs
/// installed.
#[derive(Clone)]
pub struct TestCluster {
    client: Client,
    config: Config,
    kubeconfig: PathBuf,
}

impl TestCluster {
    /// Connects to the test cluster and installs the CRDs; `None` (after
    /// printing [`SKIP_MESSAGE`]) when [`KUBECONFIG_ENV`] is unset or empty.
    pub async fn from_env() -> TestResult<Option<Self>> {
        let path = match std::env::var_os(KUBECONFIG_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                println!("{SKIP_MESSAGE}");
                return Ok(None);
            }
        };
        let cluster = Self::connect(&path).await?;
        install_crds(&cluster.client).await?;
        Ok(Some(cluster))
    }

    /// Connects to the cluster of the kubeconfig at `path` (nothing installed).
    pub async fn connect(path: &Path) -> TestResult<Self> {
        let kubeconfig = Kubeconfig::read_from(path)
            .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
        let client = Client::try_from(config.clone())?;
        Ok(Self { client, config, kubeconfig: path.to_owned() })
    }

    /// A client of the cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The client configuration (for clients on other runtimes).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The kubeconfig file.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A `kubectl` command for this cluster: the testenv's `DIR/bin/kubectl`
    /// next to `DIR/kubeconfig` when it exists, else `kubectl` from `PATH`, with
    /// `--kubeconfig` set.
    pub fn kubectl(&self) -> std::process::Command {
        let beside = self.kubeconfig.parent().map(|dir| dir.join("bin/kubectl"));
        let program = beside.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("kubectl"));
        let mut cmd = std::process::Command::new(program);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        // A discovery cache of its own per call: kubectl keeps the server's
        // discovery on disk for minutes and does not look again when a
        // resource type is missing, so a CRD installed after an earlier
        // kubectl call (`k8s-testenv.sh up` makes some) would be unknown
        // ("the server doesn't have a resource type"). Inside a test
        // environment's directory (removed by `down`), else the temp dir.
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let base = self
            .kubeconfig
            .parent()
            .filter(|dir| dir.join(".spiderpool-k8s-testenv").exists())
            .map_or_else(std::env::temp_dir, Path::to_path_buf);
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        let cache = base.join("kubectl-cache").join(format!("{}-{n}", std::process::id()));
        cmd.arg("--cache-dir").arg(cache);
        cmd
    }

    /// A scope for one test: unique names from `prefix`, cleanup on drop.
    pub fn scope(&self, prefix: &str) -> TestScope {
        TestScope {
            prefix: prefix.to_owned(),
            client: self.client.clone(),
            config: self.config.clone(),
            tracked: Mutex::new(Vec::new()),
        }
    }
}

/// Server-side applies the six CRDs and the NetworkAttachmentDefinition CRD and
/// waits until all are Established.
pub async fn install_crds(client: &Client) -> TestResult<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut all = crd::crds()?;
    all.push(crd::network_attachment_definition_crd()?);
    let mut names = Vec::new();
    for object in &all {
        let name = object.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(object))
            .await
            .map_err(|e| format!("applying CRD {name}: {e}"))?;
        names.push(name);
    }
    for name in names {
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(ESTABLISH_TIMEOUT, established)
            .await
            .map_err(|_| format!("CRD {name} not Established after {ESTABLISH_TIMEOUT:?}"))??;
    }
    Ok(())
}

/// Unique names and guaranteed cleanup for one test.
pub struct TestScope {
    prefix: String,
    client: Client,
    config: Config,
    tracked: Mutex<Vec<Tracked>>,
}

/// What to delete when the scope ends.
#[derive(Debug, Clone)]
struct Tracked {
    resource: ApiResource,
    namespace: Option<String>,
    /// The object; `None`: every object matching `selector`.
    name: Option<String>,
    selector: Option<String>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestScope {
    /// A name unique across test binaries and tests: `<base>-<prefix>-<pid>-<n>`,
    /// lowercase and at most 63 characters (a valid namespace or label value).
    pub fn name(&self, base: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let suffix = format!("-{}-{n}", std::process::id());
        let mut stem: String = format!("{base}-{}", self.prefix)
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
            .collect();
        stem.truncate(63 - suffix.len());
        format!("{}{suffix}", stem.trim_end_matches('-'))
    }

    /// A client of the cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Deletes `name` (in `namespace`) of kind `K` when the scope ends.
    pub fn track<K: Kind>(&self, namespace: Option<&str>, name: &str) {
        let namespace = if K::NAMESPACED { namespace.map(str::to_owned) } else { None };
        let resource = ApiResource::erase::<KubeObject<K>>(&());
        self.push(Tracked { resource, namespace, name: Some(name.to_owned()), selector: None });
    }

    /// Deletes `name` (in `namespace`) of the Kubernetes kind `K` — a Node,
    /// a Pod, a StatefulSet — when the scope ends. Pods are deleted at once
    /// (grace period 0): no kubelet runs in the test cluster to confirm.
    pub fn track_resource<K: Resource<DynamicType = ()>>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) {
        let resource = ApiResource::erase::<K>(&());
        let namespace = namespace.map(str::to_owned);
        self.push(Tracked { resource, namespace, name: Some(name.to_owned()), selector: None });
    }

    /// Deletes every object of kind `K` (in every namespace) labelled
    /// `key=value` when the scope ends — the objects a label-scoped store
    /// created, say. Objects created after this call are included.
    pub fn track_labelled<K: Kind>(&self, key: &str, value: &str) {
        let resource = ApiResource::erase::<KubeObject<K>>(&());
        let selector = Some(format!("{key}={value}"));
        self.push(Tracked { resource, namespace: None, name: None, selector });
    }

    fn push(&self, tracked: Tracked) {
        match self.tracked.lock() {
            Ok(mut list) => list.push(tracked),
            Err(poisoned) => poisoned.into_inner().push(tracked),
        }
    }

    /// Creates `object` through its typed `Api` and tracks it; returns what the
    /// API server stored.
    pub async fn create<K: Kind>(&self, object: K) -> TestResult<KubeObject<K>> {
        let name = object.metadata().name_str().to_owned();
        let namespace = object.metadata().namespace.clone();
        self.track::<K>(namespace.as_deref(), &name);
        let api = K::api(self.client.clone(), namespace.as_deref());
        let created = api
            .create(&PostParams::default(), &KubeObject::from_core(object)?)
            .await
            .map_err(|e| format!("creating {} {name}: {e}", K::KIND))?;
        Ok(created)
    }

    /// Creates a namespace with a unique name from `base` and tracks it;
    /// returns once its `default` ServiceAccount exists (kube-controller-
    /// manager creates it a moment later, and until then the API server's
    /// ServiceAccount admission refuses every pod of the namespace).
    pub async fn namespace(&self, base: &str) -> TestResult<String> {
        let name = self.name(base);
        let api: Api<Namespace> = Api::all(self.client.clone());
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.clone());
        self.push(Tracked {
            resource: ApiResource::erase::<Namespace>(&()),
            namespace: None,
            name: Some(name.clone()),
            selector: None,
        });
        api.create(&PostParams::default(), &ns).await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &name);
        let started = tokio::time::Instant::now();
        let deadline = started + SERVICE_ACCOUNT_TIMEOUT;
        while accounts.get_opt("default").await?.is_none() {
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "namespace {name}: no default ServiceAccount after {SERVICE_ACCOUNT_TIMEOUT:?} \
                     (is kube-controller-manager running?)"
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if started.elapsed() > Duration::from_secs(2) {
            eprintln!("namespace {name}: default ServiceAccount after {:?}", started.elapsed());
        }
        Ok(name)
    }

    /// Deletes everything tracked now (also done on drop); returns the errors.
    pub async fn cleanup(&self) -> Vec<String> {
        let tracked = match self.tracked.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        delete_all(&self.client, tracked).await
    }
}

/// Removes finalizers and deletes, newest first; a missing object is fine.
async fn delete_all(client: &Client, tracked: Vec<Tracked>) -> Vec<String> {
    let mut errors = Vec::new();
    for t in tracked.into_iter().rev() {
        let api: Api<DynamicObject> = match &t.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &t.resource),
            None => Api::all_with(client.clone(), &t.resource),
        };
        let objects: Vec<(Option<String>, String)> = match (&t.name, &t.selector) {
            (Some(name), _) => vec![(t.namespace.clone(), name.clone())],
            (None, Some(selector)) => match api.list(&ListParams::default().labels(selector)).await
            {
                Ok(list) => list
                    .items
                    .into_iter()
                    .map(|o| (o.metadata.namespace, o.metadata.name.unwrap_or_default()))
                    .collect(),
                Err(e) => {
                    errors.push(format!("{} with {selector}: list: {e}", t.resource.kind));
                    continue;
                }
            },
            (None, None) => continue,
        };
        for (namespace, name) in objects {
            let api: Api<DynamicObject> = match &namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &t.resource),
                None => Api::all_with(client.clone(), &t.resource),
            };
            delete_one(&api, &t.resource.kind, &name, &mut errors).await;
        }
    }
    errors
}

async fn delete_one(api: &Api<DynamicObject>, kind: &str, name: &str, errors: &mut Vec<String>) {
    let unfinalize = serde_json::json!({"metadata": {"finalizers": null}});
    let what = format!("{kind} {name}");
    // Namespaces have no finalizers in metadata worth clearing.
    if kind != Namespace::kind(&()) {
        match api.patch(name, &PatchParams::default(), &Patch::Merge(&unfinalize)).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => errors.push(format!("{what}: removing finalizers: {e}")),
        }
    }
    let params = if kind == "Pod" {
        DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }
    } else {
        DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => errors.push(format!("{what}: delete: {e}")),
    }
}

impl Drop for TestScope {
    /// Deletes what is still tracked on a fresh thread with its own runtime and
    /// client: the test's runtime may be blocked in this very drop (a panic
    /// unwinding inside `#[tokio::test]`), so it cannot serve the requests.
    fn drop(&mut self) {
        let tracked = match self.tracked.get_mut() {
            Ok(list) => std::mem::take(list),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if tracked.is_empty() {
            return;
        }
        let config = self.config.clone();
        let worker = std::thread::spawn(move || -> Vec<String> {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return vec![format!("cleanup runtime: {e}")],
            };
            runtime.block_on(async move {
                match Client::try_from(config) {
                    Ok(client) => delete_all(&client, tracked).await,
                    Err(e) => vec![format!("cleanup client: {e}")],
                }
            })
        });
        match worker.join() {
            Ok(errors) => {
                for e in errors {
                    eprintln!("test cleanup: {e}");
                }
            }
            Err(_) => eprintln!("test cleanup: the cleanup thread panicked"),
        }
    }
}
