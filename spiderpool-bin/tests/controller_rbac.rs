//! The RBAC of docs/controller.md is enough: the block between
//! `<!-- rbac:begin -->` and `<!-- rbac:end -->` is applied as it is (only
//! the namespace replaced), and a controller running with the
//! ServiceAccount's token creates its certificate Secret, writes the
//! `caBundle`, answers reviews through the API server (a refusal, defaults),
//! leads, and is ready.
#![allow(clippy::unwrap_used)]

mod controller_common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use controller_common::{Controller, eventually, free_port};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, ListParams, PostParams};
use spiderpool_core::model::{SpiderIPPool, SpiderSubnet};
use spiderpool_k8s::testing::{TestCluster, TestResult};
use spiderpool_k8s::webhook::config::DEFAULT_CONFIGURATION_NAME;
use spiderpool_k8s::webhook::{ConfigurationSpec, Target};
use spiderpool_k8s::{IPPoolObject, Kind};

const LABEL: &str = "spiderpool-rs.test/webhook";

/// Deletes the cluster-scoped objects of the test when dropped.
struct ClusterObjects(TestCluster);

impl Drop for ClusterObjects {
    fn drop(&mut self) {
        for (kind, name) in [
            ("mutatingwebhookconfiguration", DEFAULT_CONFIGURATION_NAME),
            ("validatingwebhookconfiguration", DEFAULT_CONFIGURATION_NAME),
            ("clusterrole", "spiderpool-controller-webhook"),
            ("clusterrolebinding", "spiderpool-controller-webhook"),
        ] {
            let _ = self.0.kubectl().args(["delete", kind, name, "--ignore-not-found"]).output();
        }
    }
}

fn kubectl_apply(cluster: &TestCluster, yaml: &str, dry_run: bool) -> (bool, String) {
    let mut cmd = cluster.kubectl();
    cmd.args(["apply", "-f", "-"]);
    if dry_run {
        cmd.arg("--dry-run=server");
    }
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The RBAC block of docs/controller.md, in namespace `ns`.
fn documented_rbac(ns: &str) -> String {
    let doc = include_str!("../../docs/controller.md");
    let start = doc.find("<!-- rbac:begin -->").unwrap();
    let end = doc.find("<!-- rbac:end -->").unwrap();
    let block = &doc[start..end];
    let yaml = block.split("```yaml").nth(1).unwrap().split("```").next().unwrap();
    yaml.replace("namespace: kube-system", &format!("namespace: {ns}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_rbac_is_enough() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("ctl-rbac");
    let ns = scope.namespace("ctl-rbac").await?;
    let _cleanup = ClusterObjects(cluster.clone());
    let (ok, out) = kubectl_apply(&cluster, &documented_rbac(&ns), false);
    assert!(ok, "{out}");

    // The ServiceAccount's token (1.20: a Secret made by the token controller).
    let client = cluster.client();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let token_secret =
        eventually(Duration::from_secs(30), "the ServiceAccount's token", || async {
            let sa = accounts.get("spiderpool-controller").await.ok()?;
            let name = sa.secrets?.first()?.name.clone()?;
            let s = secrets.get(&name).await.ok()?;
            s.data.filter(|d| d.contains_key("token") && d.contains_key("ca.crt"))
        })
        .await?;
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, &token_secret["ca.crt"].0)?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{}\", certificate-authority: {}}}\nusers:\n- name: sa\n  user: {{token: {}}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: sa}}\ncurrent-context: c\n",
            cluster.config().cluster_url,
            ca.display(),
            String::from_utf8(token_secret["token"].0.clone())?
        ),
    )?;

    let label = scope.name("wh");
    let port = free_port();
    let spec = ConfigurationSpec {
        name: DEFAULT_CONFIGURATION_NAME.to_owned(),
        target: Target::Url(format!("https://127.0.0.1:{port}")),
        ca_bundle: Vec::new(),
        validate_delete: false,
        object_selector: Some(BTreeMap::from([(LABEL.to_owned(), label.clone())])),
        labels: BTreeMap::new(),
    };
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &spec.mutating())
        .await?;
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &spec.validating())
        .await?;
    let mut controller = Controller::start_on(
        &kubeconfig,
        &label,
        port,
        free_port(),
        &[
            "--namespace",
            &ns,
            "--tls-extra-san",
            "127.0.0.1",
            "--reconcile=true",
            "--gc=true",
            "--enable-ipv6=false",
            "--enable-spider-subnet=true",
            "--enable-auto-pool-for-application=true",
        ],
    )?;
    controller.wait_ready(Duration::from_secs(30)).await?;

    let bad = scope.name("bad");
    scope.track::<SpiderIPPool>(None, &bad);
    let bad_yaml = format!(
        "apiVersion: spiderpool.spidernet.io/v2beta1\nkind: SpiderIPPool\nmetadata: {{name: {bad}, labels: {{{LABEL}: {label}}}}}\nspec: {{subnet: 10.233.1.0/24, ips: [10.234.0.1]}}\n"
    );
    eventually(Duration::from_secs(20), "a refusal through the API server", || async {
        let (ok, out) = kubectl_apply(&cluster, &bad_yaml, true);
        (!ok && out.contains("not in subnet 10.233.1.0/24")).then_some(())
    })
    .await?;
    let good = scope.name("good");
    scope.track::<SpiderIPPool>(None, &good);
    let good_yaml = bad_yaml.replace(&bad, &good).replace("10.234.0.1", "10.233.1.1");
    let (ok, out) = kubectl_apply(&cluster, &good_yaml, false);
    assert!(ok, "{out}\n{}", controller.log_text());
    let pools: Api<IPPoolObject> = SpiderIPPool::api(client.clone(), None);
    assert_eq!(pools.get(&good).await?.spec.ip_version, Some(4), "defaulted");

    assert!(secrets.get_opt("spiderpool-controller-server-certs").await?.is_some());
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = eventually(Duration::from_secs(20), "a leader", || async {
        leases.get_opt("spiderpool-controller-leases").await.ok()??.spec?.holder_identity
    })
    .await?;
    assert_eq!(holder, label);
    // The leader's reconcilers, on the same token: the pool gets its
    // finalizer and true counts.
    eventually(Duration::from_secs(30), "the reconcilers' finalizer and counts", || async {
        let pool = pools.get(&good).await.ok()?;
        let finalized = pool
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == "spiderpool.spidernet.io"));
        let total = pool.status.as_ref().and_then(|s| s.total_ip_count);
        (finalized && total == Some(1)).then_some(())
    })
    .await?;
    // The leader's IP garbage collector, on the same token: its caches
    // sync and a scan completes.
    eventually(Duration::from_secs(30), "the collector's first scan", || async {
        let log = controller.log_text();
        (log.contains("gc: caches synced; collecting") && log.contains("gc scan done"))
            .then_some(())
    })
    .await?;
    // The application controller, on the same token: a Deployment with a
    // subnet annotation gets its auto-pool (2 replicas + 1) from the subnet.
    let subnet = scope.name("subnet");
    scope.track::<SpiderSubnet>(None, &subnet);
    let subnet_yaml = format!(
        "apiVersion: spiderpool.spidernet.io/v2beta1\nkind: SpiderSubnet\nmetadata: {{name: {subnet}, labels: {{{LABEL}: {label}}}}}\nspec: {{subnet: 10.235.0.0/24, ips: [10.235.0.10-10.235.0.20]}}\n"
    );
    let (ok, out) = kubectl_apply(&cluster, &subnet_yaml, false);
    assert!(ok, "{out}");
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {
                    "labels": {"app": "web"},
                    "annotations": {"ipam.spidernet.io/subnet": format!("{{\"ipv4\":[\"{subnet}\"]}}")},
                },
                "spec": {"containers": [{"name": "c", "image": "registry.invalid/none"}]},
            },
        },
    }))?;
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &deployment)
        .await?;
    let selector = format!("ipam.spidernet.io/owner-application-namespace={ns}");
    let auto = eventually(Duration::from_secs(30), "the Deployment's auto-pool", || async {
        let list = pools.list(&ListParams::default().labels(&selector)).await.ok()?;
        let pool = list.items.into_iter().next()?;
        (pool.spec.ips == ["10.235.0.10-10.235.0.12"]).then_some(pool)
    })
    .await;
    let auto = auto.map_err(|e| format!("{e}\n{}", controller.log_text()))?;
    let name = auto.metadata.name.clone().unwrap_or_default();
    scope.track::<SpiderIPPool>(None, &name);
    // Reclaimed with the Deployment (the pool has no records).
    Api::<Deployment>::namespaced(client.clone(), &ns).delete("web", &Default::default()).await?;
    eventually(Duration::from_secs(30), "the auto-pool reclaimed", || async {
        pools.get_opt(&name).await.ok()?.is_none().then_some(())
    })
    .await?;
    let log = controller.log_text();
    assert!(!log.contains("Forbidden"), "a request was forbidden:\n{log}");
    Ok(())
}
