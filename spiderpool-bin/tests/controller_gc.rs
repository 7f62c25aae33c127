//! The IP garbage collector in a `spiderpool-controller` process on a real
//! API server: it releases the record of a pod that no longer exists (two
//! observations a grace period apart), posts `IPReleased` on the pool, skips
//! a malformed record with `GCSkipped`, and its counters appear and move on
//! the metrics port (`spiderpool_controller_gc_*`).
#![allow(clippy::unwrap_used)]

mod controller_common;

use std::collections::BTreeMap;
use std::time::Duration;

use controller_common::{Controller, eventually, free_port};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use spiderpool_core::model::{
    IPPoolSpec, IPPoolStatus, PoolIpAllocation, SpiderIPPool, parse_allocated_ips,
    render_allocated_ips,
};
use spiderpool_k8s::Kind;
use spiderpool_k8s::testing::{TestCluster, TestResult};

const LABEL: &str = "spiderpool-rs.test/controller-gc";

/// The value of the sample `line` (name with labels) in `text`.
fn sample(text: &str, line: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_collects_and_exports_gc_metrics() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("ctl-gc");
    let ns = scope.namespace("ctl-gc").await?;
    let label = scope.name("l");
    let pool = scope.name("pool");
    let mut object = SpiderIPPool::new(
        &pool,
        IPPoolSpec {
            subnet: "10.81.0.0/24".into(),
            ips: vec!["10.81.0.1-10.81.0.5".into()],
            ..Default::default()
        },
    );
    object.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.clone())]));
    scope.create(object).await?;
    // A record of a pod that never existed, and one that names no namespace.
    let api = SpiderIPPool::api(cluster.client(), None);
    let records = BTreeMap::from([
        ("10.81.0.1".parse().unwrap(), PoolIpAllocation::new(format!("{ns}/gone"), "uid-gone")),
        ("10.81.0.2".parse().unwrap(), PoolIpAllocation::new("no-namespace", "uid-x")),
    ]);
    let mut current = api.get(&pool).await?;
    current.status = Some(IPPoolStatus {
        allocated_ips: render_allocated_ips(&records),
        allocated_ip_count: Some(2),
        ..Default::default()
    });
    api.replace_status(&pool, &PostParams::default(), &current).await?;

    let metrics_port = free_port().to_string();
    let scope_label = format!("{LABEL}={label}");
    let args = [
        "--namespace",
        &ns,
        "--webhook-configuration",
        "",
        "--tls-extra-san",
        "127.0.0.1",
        "--gc=true",
        "--gc-grace",
        "1s",
        "--gc-interval",
        "3s",
        "--scope-label",
        &scope_label,
        "--metrics-address",
        "127.0.0.1",
        "--metrics-port",
        &metrics_port,
    ];
    let port: u16 = metrics_port.parse()?;
    let mut controller =
        Controller::start(cluster.kubeconfig(), &format!("gc-{}", std::process::id()), &args)?;
    controller.wait_ready(Duration::from_secs(30)).await?;

    // Before anything is released the families are there, at zero.
    let first =
        eventually(Duration::from_secs(10), "a scrape", || async { Controller::scrape(port) })
            .await?;
    assert!(first.contains("# TYPE spiderpool_controller_gc_scans counter"), "{first}");
    assert!(first.contains("spiderpool_controller_gc_cancelled_total 0"), "{first}");

    let released = "spiderpool_controller_gc_released_ips_total{reason=\"pod_deleted\"}";
    let text = eventually(Duration::from_secs(30), "a release on the metrics port", || async {
        let text = Controller::scrape(port)?;
        (sample(&text, released) == Some(1.0)).then_some(text)
    })
    .await
    .map_err(|e| format!("{e}\n{}", controller.log_text()))?;
    println!("{}", text.lines().filter(|l| l.contains("_gc_")).collect::<Vec<_>>().join("\n"));
    assert!(sample(&text, "spiderpool_controller_gc_scans_total").unwrap() >= 2.0, "{text}");
    let skipped = "spiderpool_controller_gc_skipped_total{reason=\"invalid_record\"}";
    assert!(sample(&text, skipped).unwrap() >= 2.0, "{text}");
    assert!(sample(&text, "spiderpool_controller_gc_last_scan_timestamp_seconds").unwrap() > 0.0);
    assert!(sample(&text, "spiderpool_controller_gc_last_scan_duration_seconds").is_some());
    assert_eq!(sample(&text, "spiderpool_controller_gc_release_failures_total"), Some(0.0));

    // The pool: the gone pod's record freed, the malformed one untouched.
    let status = api.get(&pool).await?.status.unwrap();
    let left = parse_allocated_ips(status.allocated_ips.as_deref())?;
    assert_eq!(left.keys().map(|ip| ip.to_string()).collect::<Vec<_>>(), ["10.81.0.2"]);
    // The events, on the pool (in `default`: the pool is cluster-scoped).
    let events: Api<Event> = Api::namespaced(cluster.client(), "default");
    let selector = format!("involvedObject.kind=SpiderIPPool,involvedObject.name={pool}");
    let params = ListParams::default().fields(&selector);
    let list = eventually(Duration::from_secs(10), "IPReleased and GCSkipped", || async {
        let list = events.list(&params).await.ok()?.items;
        let reasons: Vec<_> = list.iter().filter_map(|e| e.reason.as_deref()).collect();
        (reasons.contains(&"IPReleased") && reasons.contains(&"GCSkipped")).then_some(list)
    })
    .await?;
    let from = list.iter().find_map(|e| e.source.as_ref()?.host.clone());
    assert_eq!(from.as_deref(), Some(controller.identity.as_str()), "reporting instance");
    for e in list {
        let _ = events.delete(&e.metadata.name.unwrap(), &Default::default()).await;
    }
    controller.terminate(Duration::from_secs(10))?;
    scope.cleanup().await;
    Ok(())
}
