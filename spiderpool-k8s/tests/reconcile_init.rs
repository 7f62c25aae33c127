//! The init step (`spiderpool-init`) against a real API server: creates the
//! default SpiderCoordinator and default pools, defaulted as admission
//! would; running it again changes nothing; a default pool that overlaps an
//! existing one is refused with the webhook's message.
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used)]

use kube::api::Api;
use spiderpool_core::model::{FINALIZER, IPPoolSpec, SpiderCoordinator, SpiderIPPool};
use spiderpool_k8s::reconcile::init::{InitOptions, default_coordinator, init};
use spiderpool_k8s::testing::{TestCluster, TestResult};
use spiderpool_k8s::{CoordinatorObject, IPPoolObject};

fn pool(name: &str, subnet: &str, ips: &[&str]) -> SpiderIPPool {
    SpiderIPPool::new(
        name,
        IPPoolSpec {
            subnet: subnet.into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            default: Some(true),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_the_defaults_once() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("rc-init");
    let client = cluster.client();
    let (scc, v4, v6) = (scope.name("scc"), scope.name("v4"), scope.name("v6"));
    scope.track::<SpiderCoordinator>(None, &scc);
    scope.track::<SpiderIPPool>(None, &v4);
    scope.track::<SpiderIPPool>(None, &v6);
    let mut coordinator = default_coordinator("auto");
    coordinator.metadata.name = Some(scc.clone());
    let options = InitOptions {
        coordinator: Some(coordinator),
        pools: vec![
            pool(&v4, "10.67.0.0/24", &["10.67.0.10-10.67.0.200"]),
            pool(&v6, "fd00:67::/64", &["fd00:67::10-fd00:67::ff"]),
        ],
        ..InitOptions::default()
    };
    let first = init(client.clone(), &options).await?;
    assert_eq!(
        first.created,
        vec![
            format!("SpiderCoordinator/{scc}"),
            format!("SpiderIPPool/{v4}"),
            format!("SpiderIPPool/{v6}")
        ]
    );
    assert!(first.existing.is_empty());

    // Defaulted as the mutating webhook would have.
    let stored = Api::<CoordinatorObject>::all(client.clone()).get(&scc).await?.into_core();
    assert_eq!(stored.spec.pod_cidr_type.as_deref(), Some("auto"));
    assert_eq!(stored.spec.hijack_cidr, vec!["169.254.0.0/16".to_string()]);
    assert!(stored.metadata.finalizers.unwrap_or_default().contains(&FINALIZER.to_string()));
    let p6 = Api::<IPPoolObject>::all(client.clone()).get(&v6).await?.into_core();
    assert_eq!(p6.spec.ip_version, Some(6));
    assert!(p6.metadata.finalizers.unwrap_or_default().contains(&FINALIZER.to_string()));

    // Again: idempotent, and a user's edit of an existing object stays.
    let api = Api::<IPPoolObject>::all(client.clone());
    let patch = serde_json::json!({"spec": {"disable": true}});
    api.patch(&v4, &Default::default(), &kube::api::Patch::Merge(&patch)).await?;
    let second = init(client.clone(), &options).await?;
    assert!(second.created.is_empty(), "{second:?}");
    assert_eq!(second.existing.len(), 3);
    assert_eq!(api.get(&v4).await?.into_core().spec.disable, Some(true));

    // A default pool overlapping an existing one is refused, as the webhook
    // would refuse it.
    let clash = scope.name("clash");
    scope.track::<SpiderIPPool>(None, &clash);
    let bad = InitOptions {
        pools: vec![pool(&clash, "10.67.0.0/24", &["10.67.0.100"])],
        ..InitOptions::default()
    };
    let err = init(client.clone(), &bad).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("SpiderIPPool {clash}"))
            && err.contains(&format!("overlap with IPPool {v4}")),
        "{err}"
    );
    drop(scope);
    Ok(())
}
