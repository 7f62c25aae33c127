//! The application controller for every Kubernetes workload kind it
//! watches, against a real API server with kube-controller-manager: a
//! StatefulSet with two NICs on two subnets (`ipam.spidernet.io/subnets`), a
//! ReplicaSet of its own, a Job sized by its completions, a DaemonSet sized
//! by `status.desiredNumberScheduled` (no nodes: 0) and, where the API server
//! serves `batch/v1` CronJobs, a CronJob sized by its job template; a Job of
//! a CronJob gets no pool of its own.
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used)]

mod common;
mod reconcile_support;
mod subnet_app_support;

use common::setup;
use reconcile_support::{LABEL, eventually};
use spiderpool_core::model::SpiderIPPool;
use spiderpool_k8s::testing::{TestCluster, TestResult};
use subnet_app_support::*;

/// `metadata` and pod template annotations of a workload, as YAML flow maps.
fn workload(kind: &str, api: &str, ns: &str, name: &str, label: &str, spec: &str) -> String {
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{LABEL}: {label}}}}}\nspec:\n{spec}\n---\n"
    )
}

fn template(name: &str, annotations: &str, restart: &str) -> String {
    format!(
        "template:\n  metadata: {{labels: {{app: {name}}}, annotations: {{{annotations}}}}}\n  spec: {{restartPolicy: {restart}, containers: [{{name: c, image: registry.invalid/none}}]}}"
    )
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_kind_gets_its_pools() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "sa-kinds").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let (a, b) = (scope.name("a"), scope.name("b"));
    create_subnet(&scope, &client, &a, "10.82.0.0/24", &["10.82.0.1-10.82.0.99"], &label).await?;
    create_subnet(&scope, &client, &b, "10.83.0.0/24", &["10.83.0.1-10.83.0.99"], &label).await?;
    let running = start_app(&client, &label);
    let one = format!(r#"ipam.spidernet.io/subnet: '{{"ipv4":["{a}"]}}'"#);
    let two = format!(
        r#"ipam.spidernet.io/subnets: '[{{"interface":"eth0","ipv4":["{a}"]}},{{"interface":"net1","ipv4":["{b}"]}}]', ipam.spidernet.io/ippool-ip-number: "+2""#
    );
    let select = |n: &str| format!("selector: {{matchLabels: {{app: {n}}}}}\n");
    let mut yaml = String::new();
    let sts = format!(
        "replicas: 2\nserviceName: sts\n{}{}",
        select("sts"),
        template("sts", &two, "Always")
    );
    yaml += &workload("StatefulSet", "apps/v1", &ns, "sts", &label, &indent(&sts, 2));
    let rs = format!("replicas: 3\n{}{}", select("rs"), template("rs", &one, "Always"));
    yaml += &workload("ReplicaSet", "apps/v1", &ns, "rs", &label, &indent(&rs, 2));
    let job = format!("completions: 4\nparallelism: 2\n{}", template("job", &one, "Never"));
    yaml += &workload("Job", "batch/v1", &ns, "job", &label, &indent(&job, 2));
    let ds = format!("{}{}", select("ds"), template("ds", &one, "Always"));
    yaml += &workload("DaemonSet", "apps/v1", &ns, "ds", &label, &indent(&ds, 2));
    kubectl(&cluster, &["apply", "-f", "-"], &yaml)?;

    // Two NICs, two subnets: one pool per NIC, each 2 replicas + 2.
    let sts_pools = eventually("the StatefulSet's two pools", || async {
        let pools = app_pools(&client, &label, "sts").await?;
        let sized = pools.len() == 2 && pools.iter().all(|p| ips(p).len() == 4);
        Ok(if sized { Ok(pools) } else { Err(format!("{} pools", pools.len())) })
    })
    .await?;
    let mut nics: Vec<(String, String)> = sts_pools
        .iter()
        .map(|p| {
            let l = |k: &str| p.metadata.label(k).unwrap_or_default().to_owned();
            (l("ipam.spidernet.io/interface"), l("ipam.spidernet.io/owner-spider-subnet"))
        })
        .collect();
    nics.sort();
    assert_eq!(nics, [("eth0".to_owned(), a.clone()), ("net1".to_owned(), b.clone())]);
    pool_of_size(&client, &label, "rs", 4).await?;
    pool_of_size(&client, &label, "job", 5).await?;
    pool_of_size(&client, &label, "ds", 1).await?;
    // a: sts eth0 4 + rs 4 + job 5 + ds 1; b: sts net1 4.
    assert_eq!(subnet_true(&client, &a, &label, 99).await?, 14);
    assert_eq!(subnet_true(&client, &b, &label, 99).await?, 4);

    let served = kubectl(&cluster, &["get", "--raw", "/apis/batch/v1"], "")?;
    if served.contains(r#""name":"cronjobs""#) {
        let spec = format!(
            "schedule: '*/1 * * * *'\njobTemplate:\n  spec:\n    completions: 2\n{}",
            indent(&template("cron", &one, "Never"), 4)
        );
        let cron = workload("CronJob", "batch/v1", &ns, "cron", &label, &indent(&spec, 2));
        if kubectl(&cluster, &["apply", "-f", "-"], &cron).is_ok() {
            pool_of_size(&client, &label, "cron", 3).await?;
        } else {
            eprintln!("batch/v1 CronJob refused by this API server: not tested");
        }
    } else {
        eprintln!(
            "this API server does not serve batch/v1 CronJobs (Kubernetes < 1.21): not tested"
        );
    }
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// 20 Deployments created at the same moment on one subnet: every one gets
/// its pool of 3 + 1, no two pools share an address, and the subnet counts
/// their sum. Prints how long it took (run with `--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_applications_at_once_never_overlap() -> TestResult<()> {
    const APPS: usize = 20;
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "sa-many").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let s = scope.name("s");
    create_subnet(&scope, &client, &s, "10.84.0.0/24", &["10.84.0.1-10.84.0.200"], &label).await?;
    let running = start_app(&client, &label);
    let anno = format!(r#"{{"ipv4":["{s}"]}}"#);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..APPS {
        let d =
            deployment(&ns, &format!("app-{i}"), 3, &label, &[("ipam.spidernet.io/subnet", &anno)]);
        let client = client.clone();
        tasks.push(tokio::spawn(async move { create_deployment(&client, &d).await.map(|_| ()) }));
    }
    for t in tasks {
        t.await??;
    }
    for i in 0..APPS {
        pool_of_size(&client, &label, &format!("app-{i}"), 4).await?;
    }
    let all = started.elapsed();
    assert_eq!(subnet_true(&client, &s, &label, 200).await?, 4 * i64::try_from(APPS)?);
    eprintln!(
        "{APPS} Deployments created at once: every pool of 4 IPs in {all:?}, subnet counts true"
    );
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// A user deletes the auto-pool of a live Deployment while a pod holds one
/// of its addresses: the pool stays terminating (`AutoPoolTerminating` on
/// the Deployment), and once the pod released it the pool is created again
/// with the same name and the addresses the subnet's ledger kept for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pool_of_a_live_application_comes_back() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "sa-back").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let s = scope.name("s");
    create_subnet(&scope, &client, &s, "10.85.0.0/24", &["10.85.0.1-10.85.0.50"], &label).await?;
    let running = start_app(&client, &label);
    let anno = format!(r#"{{"ipv4":["{s}"]}}"#);
    let d = deployment(&ns, "web", 2, &label, &[("ipam.spidernet.io/subnet", &anno)]);
    let d = create_deployment(&client, &d).await?;
    let pool = pool_of_size(&client, &label, "web", 3).await?;
    let name = pool.metadata.name_str().to_owned();
    let node = common::Node::start(client.clone(), "n1", spiderpool_k8s::CommitMode::Group, &label)
        .await?;
    hold(&node, &ns, &app_ref(&d), "web-0", &name).await?;
    let api: kube::Api<spiderpool_k8s::IPPoolObject> = kube::Api::all(client.clone());
    api.delete(&name, &Default::default()).await?;
    let note = reconcile_support::event(
        &client,
        &ns,
        "web",
        spiderpool_k8s::reconcile::app::reason::POOL_TERMINATING,
    )
    .await?;
    assert!(note.contains(&name) && note.contains("is being deleted"), "{note}");
    release(&node, &ns, "web-0").await?;
    let back = eventually("the pool created again", || async {
        let p = app_pools(&client, &label, "web").await?;
        Ok(match p.as_slice() {
            [p] if !p.metadata.is_terminating() && p.metadata.uid != pool.metadata.uid => {
                Ok(p.clone())
            }
            _ => Err(format!("{} pools", p.len())),
        })
    })
    .await?;
    assert_eq!(back.metadata.name_str(), name);
    assert_eq!(back.spec.ips, pool.spec.ips, "the ledger's addresses");
    assert_eq!(subnet_true(&client, &s, &label, 50).await?, 3);
    running.stop().await?;
    drop(scope);
    Ok(())
}
