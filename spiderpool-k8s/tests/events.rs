//! Events through a real API server: an event recorded on a pool is listed
//! for it, and a repeat becomes a series instead of a second object.
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use spiderpool_core::model::{IPPoolSpec, SpiderIPPool};
use spiderpool_k8s::events::{EventRecorder, EventType, object_ref};
use spiderpool_k8s::testing::{TestCluster, TestResult};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_on_a_pool_is_listed_for_it_and_repeats_count() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("events");
    let name = scope.name("pool");
    let pool = SpiderIPPool::new(
        &name,
        IPPoolSpec { subnet: "10.235.0.0/24".into(), ip_version: Some(4), ..Default::default() },
    );
    let created = scope.create(pool).await?;
    let recorder = EventRecorder::new(cluster.client(), "spiderpool-controller", "test");
    let reference = object_ref(&created);
    for _ in 0..2 {
        recorder
            .try_record(
                &reference,
                "IPPoolOverlap",
                "overlaps SpiderIPPool x in IP ranges 10.235.0.1",
                EventType::Warning,
            )
            .await?;
    }
    // Events of cluster-scoped objects live in kube-system.
    let events: Api<Event> = Api::namespaced(cluster.client(), "kube-system");
    let ours: Vec<Event> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    let e = &ours[0];
    assert_eq!(e.reason.as_deref(), Some("IPPoolOverlap"));
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(e.regarding.as_ref().unwrap().kind.as_deref(), Some("SpiderIPPool"));
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
    let out = cluster.kubectl().args(["describe", "spiderippool", &name]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("IPPoolOverlap") && text.contains("overlaps SpiderIPPool x"), "{text}");
    for e in ours {
        let _ = events.delete(&e.metadata.name.unwrap(), &Default::default()).await;
    }
    Ok(())
}
