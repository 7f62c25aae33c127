//! The release that empties a terminating pool lets the pool reconciler
//! take the finalizer off, and the pool goes at once — often before the
//! store has the answer of its own status write (the watch delivers the
//! deletion first). That release went through: `sync` says so (it used to
//! report a conflict), in both commit modes, with the real reconciler
//! removing the pool.
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used)]

mod common;
mod reconcile_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Node, address, create_raw, request, setup};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use reconcile_support::{LABEL, options, start};
use spiderpool_core::allocator::ReleaseRequest;
use spiderpool_core::model::{FINALIZER, IPPoolSpec, SpiderIPPool};
use spiderpool_core::store::PoolStore;
use spiderpool_k8s::testing::TestResult;
use spiderpool_k8s::{CommitMode, IPPoolObject};

/// Waits up to 30 s for `check`.
async fn wait(what: &str, mut check: impl AsyncFnMut() -> bool) -> TestResult<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        if Instant::now() > deadline {
            return Err(format!("{what}: not within 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_that_empties_a_terminating_pool_succeeds() -> TestResult<()> {
    let Some(cluster) = spiderpool_k8s::testing::TestCluster::from_env().await? else {
        return Ok(());
    };
    let (scope, ns, label) = setup(&cluster, "st-term").await?;
    let client = cluster.client();
    let running = start(client.clone(), options(&label));
    let api: Api<IPPoolObject> = Api::all(client.clone());
    for (mode, commit) in [("group", CommitMode::Group), ("per-write", CommitMode::PerWrite)] {
        let node = Node::start(client.clone(), "n1", commit, &label).await?;
        for round in 0..4 {
            let name = scope.name(&format!("{mode}-{round}"));
            scope.track::<SpiderIPPool>(None, &name);
            let mut pool = SpiderIPPool::new(
                &name,
                IPPoolSpec {
                    subnet: "10.64.0.0/24".into(),
                    ips: vec!["10.64.0.10-10.64.0.19".into()],
                    ..Default::default()
                },
            );
            pool.metadata.labels = Some(BTreeMap::from([
                (common::LABEL.to_owned(), label.clone()),
                (LABEL.to_owned(), label.clone()),
            ]));
            create_raw(&client, pool).await?;
            wait("the reconciler's finalizer", async || {
                api.get(&name)
                    .await
                    .is_ok_and(|p| p.metadata.finalizers.iter().flatten().any(|f| f == FINALIZER))
            })
            .await?;
            // A real Pod: the endpoint's owner (else kube-controller-manager's
            // garbage collector deletes the endpoint under the test).
            let pod = format!("{mode}-pod-{round}");
            scope.track_resource::<Pod>(Some(&ns), &pod);
            let object: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": pod},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "none"}]}
            }))?;
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let uid = pods.create(&PostParams::default(), &object).await?.metadata.uid.unwrap();
            let ip = address(&node.add(&request(&ns, &pod, &uid, "n1", &name)).await?);
            api.delete(&name, &DeleteParams::default()).await?;
            wait("the store sees the pool terminating", async || {
                let read = node.store().read_pool(&name, |s| s.is_terminating()).await;
                matches!(read, Ok(Some(v)) if v.value)
            })
            .await?;

            let req = ReleaseRequest {
                namespace: ns.clone(),
                name: pod.clone(),
                uid: Some(uid.clone()),
                ..Default::default()
            };
            let store = node.store();
            let (released, synced) = store
                .unit_of_work(async {
                    let released = node.allocator.release(&req).await;
                    (released, store.sync().await)
                })
                .await;
            let released = released?;
            assert_eq!(released.kept, None, "{mode} {round}");
            // (One write per allocation: a 409 on the endpoint's delete runs
            // the release again, which finds the record freed already and
            // lists nothing; group commit lists the address.)
            if commit == CommitMode::Group {
                assert_eq!(released.released, vec![(name.clone(), ip)], "{mode} {round}");
            }
            synced.map_err(|e| format!("{mode} round {round}: the release's sync: {e}"))?;
            // The record went: the reconciler removes the pool.
            wait("the pool goes", async || matches!(api.get_opt(&name).await, Ok(None))).await?;
            wait("the store drops the pool", async || {
                matches!(node.store().read_pool(&name, |_| ()).await, Ok(None))
            })
            .await?;
        }
    }
    running.stop().await?;
    drop(scope);
    Ok(())
}
