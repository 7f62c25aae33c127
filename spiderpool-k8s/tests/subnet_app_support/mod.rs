//! What the SpiderSubnet application controller's tests share: the
//! reconcilers with the controller on, subnets, workloads, waiting for a
//! pool of a size, the subnet's counts checked against its pools, fake pods
//! holding addresses.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use spiderpool_core::allocator::ReleaseRequest;
use spiderpool_core::autopool::{AppRef, auto_pool_pod_affinity};
use spiderpool_core::ip::{IpFamily, IpSet};
use spiderpool_core::model::{SpiderIPPool, SpiderSubnet, SubnetSpec};
use spiderpool_core::pod::OwnerFacts;
use spiderpool_core::store::PoolStore;
use spiderpool_k8s::reconcile::{AutoPoolOptions, ReconcileOptions};
use spiderpool_k8s::testing::{TestCluster, TestResult, TestScope};
use spiderpool_k8s::{IPPoolObject, SubnetObject};

use crate::common::{self, Node, create_raw, request};
use crate::reconcile_support::{self, LABEL, eventually, options, start};

/// Reconcilers with the SpiderSubnet feature and the application controller
/// (IPv4 only, one spare address by default), scoped to `label`.
pub fn app_options(label: &str) -> ReconcileOptions {
    ReconcileOptions {
        spider_subnet: true,
        auto_pool: Some(AutoPoolOptions {
            enable_ipv4: true,
            enable_ipv6: false,
            default_redundant: 1,
            pool_labels: BTreeMap::from([
                (LABEL.to_owned(), label.to_owned()),
                (common::LABEL.to_owned(), label.to_owned()),
            ]),
        }),
        ..options(label)
    }
}

pub async fn create_subnet(
    scope: &TestScope,
    client: &kube::Client,
    name: &str,
    cidr: &str,
    ips: &[&str],
    label: &str,
) -> TestResult<()> {
    scope.track::<SpiderSubnet>(None, name);
    let mut s = SpiderSubnet::new(
        name,
        SubnetSpec {
            ip_version: Some(4),
            subnet: cidr.into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    );
    s.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), label.to_owned())]));
    create_raw(client, s).await?;
    Ok(())
}

/// A Deployment labelled for the test, its pod template annotated.
pub fn deployment(
    ns: &str,
    name: &str,
    replicas: i32,
    label: &str,
    annotations: &[(&str, &str)],
) -> Deployment {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {LABEL: label}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "c", "image": "registry.invalid/none"}]},
            },
        },
    }))
    .unwrap()
}

pub async fn create_deployment(client: &kube::Client, d: &Deployment) -> TestResult<Deployment> {
    let ns = d.metadata.namespace.clone().unwrap();
    Ok(Api::<Deployment>::namespaced(client.clone(), &ns).create(&Default::default(), d).await?)
}

pub async fn scale(client: &kube::Client, ns: &str, name: &str, replicas: i32) -> TestResult<()> {
    let patch = json!({"spec": {"replicas": replicas}});
    Api::<Deployment>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// The test's auto-pools of application `name`.
pub async fn app_pools(
    client: &kube::Client,
    label: &str,
    name: &str,
) -> TestResult<Vec<SpiderIPPool>> {
    let api: Api<IPPoolObject> = Api::all(client.clone());
    let selector = format!("{LABEL}={label},ipam.spidernet.io/owner-application-name={name}");
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(list.items.into_iter().map(|p| p.into_core()).collect())
}

pub fn ips(p: &SpiderIPPool) -> IpSet {
    IpSet::parse_ranges(IpFamily::V4, &p.spec.ips).unwrap()
}

/// Waits for exactly one live pool of `name` with `n` addresses.
pub async fn pool_of_size(
    client: &kube::Client,
    label: &str,
    name: &str,
    n: u128,
) -> TestResult<SpiderIPPool> {
    eventually(&format!("one auto-pool of {name} with {n} IPs"), || async {
        let pools = app_pools(client, label, name).await?;
        let live: Vec<_> = pools.iter().filter(|p| !p.metadata.is_terminating()).collect();
        Ok(match live.as_slice() {
            [p] if ips(p).len() == n => Ok((*p).clone()),
            _ => Err(format!(
                "{:?}",
                pools
                    .iter()
                    .map(|p| (p.metadata.name_str(), p.spec.ips.clone()))
                    .collect::<Vec<_>>()
            )),
        })
    })
    .await
}

/// Waits until the subnet's counts and ledger equal its pools: every live
/// auto-pool's `spec.ips` is its ledger entry, and `allocatedIPCount` is the
/// size of their union (entries never overlap).
pub async fn subnet_true(
    client: &kube::Client,
    subnet: &str,
    label: &str,
    total: i64,
) -> TestResult<i64> {
    eventually(&format!("SpiderSubnet {subnet} counts true"), || async {
        let s: SpiderSubnet =
            Api::<SubnetObject>::all(client.clone()).get(subnet).await?.into_core();
        let status = s.status.clone().unwrap_or_default();
        let ledger = status.controlled_pools()?;
        let api: Api<IPPoolObject> = Api::all(client.clone());
        let pools: Vec<SpiderIPPool> = api
            .list(&ListParams::default().labels(&format!("{LABEL}={label}")))
            .await?
            .items
            .into_iter()
            .map(|p| p.into_core())
            .filter(|p| p.metadata.label("ipam.spidernet.io/owner-spider-subnet") == Some(subnet))
            .collect();
        let mut union = IpSet::new(IpFamily::V4);
        let mut sum = 0;
        for p in &pools {
            let set = ips(p);
            assert!(
                !union.overlaps(&set),
                "pool {} overlaps another pool of {subnet}",
                p.metadata.name_str()
            );
            sum += set.len();
            union = union.union(&set);
        }
        let entries_match = pools.len() == ledger.len()
            && pools
                .iter()
                .all(|p| ledger.get(p.metadata.name_str()).map(|e| &e.ips) == Some(&p.spec.ips));
        let ok = entries_match
            && status.allocated_ip_count == Some(i64::try_from(sum).unwrap())
            && status.total_ip_count == Some(total);
        Ok(if ok {
            Ok(i64::try_from(sum).unwrap())
        } else {
            Err(format!(
                "{status:?} vs pools {:?}",
                pools
                    .iter()
                    .map(|p| (p.metadata.name_str(), p.spec.ips.clone()))
                    .collect::<Vec<_>>()
            ))
        })
    })
    .await
}

/// A fake pod of Deployment `app` taking an address of `pool`.
pub async fn hold(
    node: &Node,
    ns: &str,
    app: &AppRef,
    pod: &str,
    pool: &str,
) -> TestResult<std::net::IpAddr> {
    let mut req = request(ns, pod, &format!("uid-{pod}"), "n1", pool);
    req.pod.labels = auto_pool_pod_affinity(app).match_labels.unwrap_or_default();
    req.pod.owner = Some(OwnerFacts {
        kind: app.kind.clone(),
        name: app.name.clone(),
        uid: Some(app.uid.clone()),
        ..Default::default()
    });
    let got = node.add(&req).await.map_err(|e| format!("allocate for {pod}: {e}"))?;
    Ok(common::address(&got))
}

pub async fn release(node: &Node, ns: &str, pod: &str) -> TestResult<()> {
    let req = ReleaseRequest {
        namespace: ns.into(),
        name: pod.into(),
        uid: Some(format!("uid-{pod}")),
        container_id: None,
        owner: None,
        network: None,
    };
    let store = node.store();
    for _ in 0..common::UNIT_ATTEMPTS {
        let done = store
            .unit_of_work(async {
                let out = node.allocator.release(&req).await.map_err(|e| e.to_string())?;
                match store.sync().await {
                    Err(e) if e.is_conflict() => Ok::<_, String>(None),
                    Err(e) => Err(e.to_string()),
                    Ok(()) => Ok(Some(out)),
                }
            })
            .await?;
        if done.is_some() {
            return Ok(());
        }
    }
    Err(format!("release {pod}: gave up after repeated commit conflicts").into())
}

pub fn app_ref(d: &Deployment) -> AppRef {
    let m = &d.metadata;
    AppRef::native(
        "Deployment",
        m.namespace.as_deref().unwrap(),
        m.name.as_deref().unwrap(),
        m.uid.as_deref().unwrap(),
    )
    .unwrap()
}

/// Runs `kubectl` with `args` and `stdin`; its output, or an error with it.
pub fn kubectl(cluster: &TestCluster, args: &[&str], stdin: &str) -> TestResult<String> {
    use std::io::Write;
    let mut child = cluster
        .kubectl()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(text) } else { Err(format!("kubectl {args:?}: {text}").into()) }
}

pub fn start_app(client: &kube::Client, label: &str) -> reconcile_support::Running {
    start(client.clone(), app_options(label))
}
