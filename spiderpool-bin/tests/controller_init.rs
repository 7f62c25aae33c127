//! `spiderpool-controller init --objects FILE` (the chart's init hook)
//! against a real API server: creates what is missing, leaves what exists
//! alone on a second run, and refuses a file with another kind. Skipped
//! without `SPIDERPOOL_TEST_KUBECONFIG`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use kube::api::Api;
use spiderpool_core::model::SpiderIPPool;
use spiderpool_k8s::testing::{TestCluster, TestResult, install_crds};
use spiderpool_k8s::{IPPoolObject, Kind};

fn init(kubeconfig: &std::path::Path, objects: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spiderpool-controller"))
        .arg("init")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--objects")
        .arg(objects)
        .args(["--timeout", "20s"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_the_missing_defaults_once() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    install_crds(&cluster.client()).await?;
    let scope = cluster.scope("ctlinit");
    let pool = scope.name("default-v4");
    scope.track::<SpiderIPPool>(None, &pool);
    let dir = tempfile::tempdir()?;
    let objects = dir.path().join("objects.yaml");
    std::fs::write(
        &objects,
        format!(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: spiderpool.spidernet.io/v2beta1\n  kind: SpiderIPPool\n  metadata: {{name: {pool}}}\n  spec: {{subnet: 10.78.0.0/16, ips: [10.78.0.10-10.78.0.20], gateway: 10.78.0.1, default: true}}\n"
        ),
    )?;
    let (ok, log) = init(cluster.kubeconfig(), &objects);
    assert!(ok, "{log}");
    assert!(log.contains("init: created") && log.contains(&pool), "{log}");
    let api: Api<IPPoolObject> = SpiderIPPool::api(cluster.client(), None);
    let stored = api.get(&pool).await?;
    assert_eq!(stored.spec.ip_version, Some(4), "admission's defaults applied");

    let (ok, log) = init(cluster.kubeconfig(), &objects);
    assert!(ok, "{log}");
    assert!(log.contains("init: exists, left alone") && log.contains(&pool), "{log}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")?;
    let (ok, log) = init(cluster.kubeconfig(), &bad);
    assert!(!ok);
    assert!(log.contains("kind \"ConfigMap\""), "{log}");
    Ok(())
}
