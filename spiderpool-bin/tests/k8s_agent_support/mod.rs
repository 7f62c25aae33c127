//! What the tests of `spiderpool-agent --store kubernetes` share: a test
//! environment (a namespace, a Node object, a scope label, a temp dir), pools
//! and pods in it, agent processes, the agent API calls the IPAM plugin makes,
//! and reads of what the agent wrote.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use spiderpool_bin::agent_client::{AgentError, request_json};
use spiderpool_core::model::{
    IPPoolSpec, PoolIpAllocation, SpiderEndpoint, SpiderIPPool, parse_allocated_ips,
};
use spiderpool_k8s::Kind;
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope};

use crate::agent_harness::Dir;
use crate::agent_harness::process::AgentProcess;

/// The label that scopes a test's agents (`--k8s-scope-label`).
pub const LABEL: &str = "spiderpool-rs.test/agent";

/// The IPAM annotation naming one IPv4 pool.
pub const IPPOOL: &str = "ipam.spidernet.io/ippool";

/// The flags of an agent with SpiderSubnet on (IPv4 only) that waits for an
/// application's auto-pool up to `max_retries` times, 1 s apart.
pub fn subnet_agent_args(max_retries: &str) -> [&str; 8] {
    [
        "--enable-spider-subnet",
        "true",
        "--enable-ipv6",
        "false",
        "--wait-subnet-pool-max-retries",
        max_retries,
        "--wait-subnet-pool-time-in-second",
        "1",
    ]
}

/// One test's corner of the cluster.
pub struct Env {
    pub cluster: TestCluster,
    pub scope: TestScope,
    /// The namespace of its pods.
    pub ns: String,
    /// Its node (a Node object; the test plays its kubelet).
    pub node: String,
    /// The value of [`LABEL`] on its pools and its agents' endpoints.
    pub label: String,
    pub dir: Dir,
}

impl Env {
    /// A namespace, a Node and a label, or `None` (skip) without a cluster.
    pub async fn new(prefix: &str) -> TestResult<Option<Env>> {
        let Some(cluster) = TestCluster::from_env().await? else { return Ok(None) };
        let scope = cluster.scope(prefix);
        let ns = scope.namespace(prefix).await?;
        let node = scope.name("node");
        let label = scope.name("l");
        scope.track_labelled::<SpiderEndpoint>(LABEL, &label);
        scope.track_resource::<Node>(None, &node);
        let object: Node = serde_json::from_value(json!({"metadata": {"name": node}}))?;
        Api::<Node>::all(scope.client()).create(&PostParams::default(), &object).await?;
        let dir = Dir::new("sp-k8s");
        Ok(Some(Env { cluster, scope, ns, node, label, dir }))
    }

    /// The client.
    pub fn client(&self) -> kube::Client {
        self.scope.client()
    }

    /// A pool named from `base` with the test's label: `ips` in `subnet`.
    pub async fn pool(&self, base: &str, subnet: &str, ips: &[&str]) -> TestResult<String> {
        let name = self.scope.name(base);
        let spec = IPPoolSpec {
            subnet: subnet.into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mut pool = SpiderIPPool::new(&name, spec);
        pool.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), self.label.clone())]));
        self.scope.create(pool).await?;
        Ok(name)
    }

    /// A pod `name` on the test's node asking for `pool`; returns its UID.
    pub async fn pod(&self, name: &str, pool: &str) -> TestResult<String> {
        self.pod_on(&self.node, name, pool).await
    }

    /// A pod `name` on `node` asking for `pool`; returns its UID.
    pub async fn pod_on(&self, node: &str, name: &str, pool: &str) -> TestResult<String> {
        let object: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {IPPOOL: format!("{{\"ipv4\":[\"{pool}\"]}}")}},
            "spec": {"nodeName": node, "automountServiceAccountToken": false,
                     "containers": [{"name": "c", "image": "none"}]}
        }))?;
        self.scope.track_resource::<Pod>(Some(&self.ns), name);
        let api: Api<Pod> = Api::namespaced(self.client(), &self.ns);
        let created = api.create(&PostParams::default(), &object).await?;
        Ok(created.metadata.uid.unwrap_or_default())
    }

    /// Deletes pod `name` at once, as a kubelet confirming the end of its
    /// containers would.
    pub async fn delete_pod(&self, name: &str) -> TestResult<()> {
        let api: Api<Pod> = Api::namespaced(self.client(), &self.ns);
        let params = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
        match api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The agent command for this node and label, with `kubeconfig` and
    /// `args`; its socket, journal and log in the test's directory under
    /// `name`.
    pub fn agent_with(&self, name: &str, kubeconfig: &Path, args: &[&str]) -> AgentProcess {
        self.agent_for(&self.node, name, kubeconfig, args)
    }

    /// [`Env::agent`] on another node.
    pub fn agent_on(&self, node: &str, name: &str, args: &[&str]) -> AgentProcess {
        self.agent_for(node, name, self.cluster.kubeconfig(), args)
    }

    fn agent_for(&self, node: &str, name: &str, kubeconfig: &Path, args: &[&str]) -> AgentProcess {
        let socket = self.dir.path().join(format!("{name}.sock"));
        let log = self.dir.path().join(format!("{name}.log"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_spiderpool-agent"));
        let scope: OsString = format!("{LABEL}={}", self.label).into();
        c.arg("--store").arg("kubernetes").arg("--kubeconfig").arg(kubeconfig);
        c.arg("--node-name").arg(node).arg("--k8s-scope-label").arg(scope);
        c.arg("--socket").arg(&socket).arg("--health-port").arg("0");
        c.arg("--release-journal").arg(self.dir.path().join(format!("{name}.journal")));
        c.args(args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SPIDERPOOL_") || k == "KUBECONFIG" {
                c.env_remove(k);
            }
        }
        AgentProcess::spawn(c, &socket, &log)
    }

    /// [`Env::agent_with`] the cluster's admin kubeconfig.
    pub fn agent(&self, name: &str, args: &[&str]) -> AgentProcess {
        self.agent_with(name, self.cluster.kubeconfig(), args)
    }

    /// A copy of the cluster's kubeconfig at `name` in the test's directory,
    /// with another `server` URL and/or another bearer `token`.
    pub fn kubeconfig(&self, name: &str, server: Option<&str>, token: Option<&str>) -> PathBuf {
        let text = std::fs::read_to_string(self.cluster.kubeconfig()).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let indent = &line[..line.len() - line.trim_start().len()];
                match (line.trim_start(), server, token) {
                    (l, Some(s), _) if l.starts_with("server:") => format!("{indent}server: {s}"),
                    (l, _, Some(t)) if l.starts_with("token:") => format!("{indent}token: {t}"),
                    _ => line.to_owned(),
                }
            })
            .collect();
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    /// The pool's records, by address, read from the API server.
    pub async fn records(&self, pool: &str) -> TestResult<BTreeMap<String, PoolIpAllocation>> {
        let object = SpiderIPPool::api(self.client(), None).get(pool).await?;
        let text = object.status.and_then(|s| s.allocated_ips);
        Ok(parse_allocated_ips(text.as_deref())?.into_iter().collect())
    }

    /// The endpoint `name` of the test's namespace, from the API server.
    pub async fn endpoint(&self, name: &str) -> TestResult<Option<SpiderEndpoint>> {
        let api = SpiderEndpoint::api(self.client(), Some(&self.ns));
        Ok(api.get_opt(name).await?.map(|o| o.into_core()))
    }

    /// The endpoints of the test's namespace.
    pub async fn endpoints(&self) -> TestResult<Vec<SpiderEndpoint>> {
        let api = SpiderEndpoint::api(self.client(), Some(&self.ns));
        Ok(api.list(&Default::default()).await?.items.into_iter().map(|o| o.into_core()).collect())
    }

    /// `kubectl ARGS` against the cluster; panics with stderr on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.cluster.kubectl().args(args).output().unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Runs `f` on a thread of its own: the agent client blocks on a runtime of
/// its own, which cannot start inside the test's.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// The IPAM plugin's ADD for `ns/pod` (`net1`): the agent's answer.
pub fn add(
    socket: &Path,
    ns: &str,
    pod: &str,
    uid: &str,
    container: &str,
) -> Result<Value, AgentError> {
    let body = json!({"containerID": container, "ifName": "net1", "netNamespace": "/var/run/netns/x",
        "podNamespace": ns, "podName": pod, "podUID": uid});
    let answer = off_runtime(|| {
        request_json(socket, "POST", "/v1/ipam/ip", &body, Duration::from_secs(100))
    })?;
    Ok(answer.unwrap_or(Value::Null))
}

/// The first address of an ADD answer, without the prefix length.
pub fn ip_of(answer: &Value) -> String {
    let cidr =
        answer["ips"][0]["address"].as_str().unwrap_or_else(|| panic!("no address: {answer}"));
    cidr.split('/').next().unwrap().to_owned()
}

/// The IPAM plugin's DEL for `ns/pod` (`net1`).
pub fn del(
    socket: &Path,
    ns: &str,
    pod: &str,
    uid: &str,
    container: &str,
) -> Result<(), AgentError> {
    let body = json!({"containerID": container, "ifName": "net1", "podNamespace": ns,
        "podName": pod, "podUID": uid});
    off_runtime(|| request_json(socket, "DELETE", "/v1/ipam/ip", &body, Duration::from_secs(100)))
        .map(|_| ())
}

/// `GET path` on the agent's socket: the answer or the error's text.
pub fn get(socket: &Path, path: &str) -> Result<Value, String> {
    let answer =
        off_runtime(|| request_json(socket, "GET", path, &json!({}), Duration::from_secs(10)));
    match answer {
        Ok(v) => Ok(v.unwrap_or(Value::Null)),
        Err(e) => Err(e.to_string()),
    }
}

/// `GET /v1/ipam/healthy`: `Ok` or the agent's reason (`Err("")` when the
/// socket does not answer).
pub fn health(socket: &Path) -> Result<(), String> {
    let answer = off_runtime(|| {
        request_json(socket, "GET", "/v1/ipam/healthy", &json!({}), Duration::from_secs(5))
    });
    match answer {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(String::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// Waits up to `within` for the agent to be healthy; panics with its log.
pub fn wait_healthy(agent: &mut AgentProcess, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = health(&agent.socket);
        if got.is_ok() {
            return;
        }
        if let Ok(Some(status)) = agent.child.try_wait() {
            panic!("agent exited with {status}; log:\n{}", agent.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "agent not healthy after {within:?} ({got:?}); log:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
