//! What the IP GC tests share: a world of one namespace, one node, one
//! pool, an agent (the core allocator over `KubeStore`, pod facts gathered
//! as the agent gathers them) and a collector, and the test's kubelet
//! (pod status, deletions).
#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node as KubeNode, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use spiderpool_core::pod::gather_pod;
use spiderpool_k8s::gc::{Collector, GcOptions, ScanReport};
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope};
use spiderpool_k8s::{CommitMode, FactsOptions, KubeFacts};

use crate::common::{LABEL, Node, address, create_pool, endpoints, records, request, setup};

pub const GRACE: Duration = Duration::from_secs(2);

/// One test's world: a namespace, a node, a pool, an agent and a collector.
pub struct World {
    pub scope: TestScope,
    pub ns: String,
    pub node: String,
    pub pool: String,
    pub label: String,
    pub agent: Node,
    pub facts: KubeFacts,
    pub gc: Collector,
}

pub async fn world(cluster: &TestCluster, prefix: &str, ips: &[&str]) -> TestResult<World> {
    world_with(cluster, prefix, ips, |o| o).await
}

/// [`world`] with the collector's options changed by `tune`.
pub async fn world_with(
    cluster: &TestCluster,
    prefix: &str,
    ips: &[&str],
    tune: impl FnOnce(GcOptions) -> GcOptions,
) -> TestResult<World> {
    let (scope, ns, label) = setup(cluster, prefix).await?;
    let node = scope.name("node");
    scope.track_resource::<KubeNode>(None, &node);
    let api: Api<KubeNode> = Api::all(scope.client());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": node}}))?,
    )
    .await?;
    let pool = scope.name("pool");
    create_pool(&scope, &pool, "10.77.0.0/24", ips, &label).await?;
    let agent = Node::start(scope.client(), &node, CommitMode::Group, &label).await?;
    let facts = KubeFacts::new(scope.client(), FactsOptions::new(&node))?;
    facts.wait_synced().await?;
    let options = GcOptions::default().with_scope_label(LABEL, &label).with_timing(
        Duration::from_secs(600),
        GRACE,
        Duration::from_secs(1),
    );
    let gc = Collector::start(scope.client(), tune(options)).await?;
    Ok(World { scope, ns, node, pool, label, agent, facts, gc })
}

impl World {
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.scope.client(), &self.ns)
    }

    /// A bare pod on the node, Running (the test is its kubelet).
    pub async fn pod(&self, name: &str) -> TestResult<Pod> {
        self.scope.track_resource::<Pod>(Some(&self.ns), name);
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"nodeName": self.node, "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "containers": [{"name": "c", "image": "none"}]}}))?;
        self.pods().create(&PostParams::default(), &pod).await?;
        self.set_phase(name, "Running").await
    }

    pub async fn set_phase(&self, name: &str, phase: &str) -> TestResult<Pod> {
        let status = json!({"status": {"phase": phase}});
        Ok(self.pods().patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?)
    }

    /// The agent's ADD for pod `name` as it is now.
    pub async fn add(&self, name: &str) -> TestResult<IpAddr> {
        let ctx = gather_pod(&self.facts, &self.ns, name, "", &self.node).await?;
        let mut req = request(&self.ns, name, &ctx.pod.uid, &self.node, &self.pool);
        req.pod = ctx.pod;
        Ok(address(&self.agent.add(&req).await?))
    }

    pub async fn delete(&self, name: &str, grace: u32) -> TestResult<()> {
        let params = DeleteParams { grace_period_seconds: Some(grace), ..Default::default() };
        self.pods().delete(name, &params).await?;
        Ok(())
    }

    /// Pool records: address → pod UID.
    pub async fn records(&self) -> TestResult<std::collections::BTreeMap<IpAddr, String>> {
        records(&self.scope.client(), &self.pool).await
    }

    /// Two scans a grace period apart; the report of the second.
    pub async fn collect(&self) -> TestResult<ScanReport> {
        let first = self.gc.scan().await?;
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
        let second = self.gc.scan().await?;
        assert!(second.errors.is_empty(), "{:?}", second.errors);
        Ok(second)
    }

    /// Every endpoint's UID holds exactly the records of that UID, and
    /// every record's UID has its endpoint.
    pub async fn assert_agree(&self) -> TestResult<()> {
        let records = self.records().await?;
        let eps = endpoints(&self.scope.client(), &self.ns).await?;
        for uid in records.values() {
            assert!(eps.values().any(|u| u == uid), "record of {uid} without endpoint: {eps:?}");
        }
        for (name, uid) in &eps {
            assert!(records.values().any(|u| u == uid), "endpoint {name} ({uid}) without records");
        }
        Ok(())
    }

    pub async fn wait_pod(&self, name: &str, not_uid: Option<&str>) -> TestResult<Pod> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(p) = self.pods().get_opt(name).await?
                && p.metadata.deletion_timestamp.is_none()
                && p.metadata.uid.as_deref() != not_uid
            {
                return Ok(p);
            }
            if Instant::now() > deadline {
                return Err(format!("pod {name} did not appear in 60 s").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn statefulset(&self, name: &str, replicas: i32) -> TestResult<()> {
        // Its pods (deleted after the set, at once: no kubelet confirms).
        for i in 0..3 {
            self.scope.track_resource::<Pod>(Some(&self.ns), &format!("{name}-{i}"));
        }
        self.scope.track_resource::<StatefulSet>(Some(&self.ns), name);
        let set: StatefulSet = serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"nodeName": self.node, "automountServiceAccountToken": false,
                        "containers": [{"name": "c", "image": "none"}]}}}}))?;
        let api: Api<StatefulSet> = Api::namespaced(self.scope.client(), &self.ns);
        api.create(&PostParams::default(), &set).await?;
        Ok(())
    }

    pub async fn scale(&self, name: &str, replicas: i32) -> TestResult<()> {
        let api: Api<StatefulSet> = Api::namespaced(self.scope.client(), &self.ns);
        let patch = json!({"spec": {"replicas": replicas}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }
}

pub fn uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}
