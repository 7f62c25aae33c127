//! The SpiderSubnet application controller against a real API server with
//! kube-controller-manager (Deployments make ReplicaSets and pods; the pods
//! stay Pending without a scheduler, which is all the controller needs):
//! auto-pools created, grown and shrunk with the replicas without taking an
//! address a pod holds (pods simulated by a KubeStore allocating for fake
//! pod records), reclaimed or kept and reused, never overlapping, the
//! subnet's counts true throughout, and bad input reported with nothing
//! half-created.
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used)]

mod common;
mod reconcile_support;
mod subnet_app_support;

use std::time::Duration;

use common::{Node, create_raw, setup};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use reconcile_support::{LABEL, event, eventually, start};
use serde_json::json;
use spiderpool_core::autopool::LABEL_OWNER_APPLICATION_UID;
use spiderpool_core::model::{ReservedIPSpec, SpiderIPPool, SpiderReservedIP, SpiderSubnet};
use spiderpool_k8s::reconcile::app::reason;
use spiderpool_k8s::testing::{TestCluster, TestResult};
use spiderpool_k8s::{CommitMode, SubnetObject};
use subnet_app_support::*;

/// 3 replicas get a pool of 3 + 1; 5 grow it; 1 shrinks it only as far as
/// the pods holding addresses allow, never taking theirs; deleting the
/// Deployment reclaims the pool once its pods released their addresses;
/// the subnet's counts are true at every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_pool_follows_its_replicas_and_goes_with_it() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "sa-life").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let (s, r) = (scope.name("s"), scope.name("r"));
    create_subnet(&scope, &client, &s, "10.77.0.0/24", &["10.77.0.10-10.77.0.40"], &label).await?;
    scope.track::<SpiderReservedIP>(None, &r);
    create_raw(
        &client,
        SpiderReservedIP::new(
            &r,
            ReservedIPSpec { ip_version: Some(4), ips: vec!["10.77.0.12".into()] },
        ),
    )
    .await?;
    let running = start(client.clone(), app_options(&label));

    let subnet_anno = format!(r#"{{"ipv4":["{s}"]}}"#);
    let d = create_deployment(
        &client,
        &deployment(&ns, "web", 3, &label, &[("ipam.spidernet.io/subnet", &subnet_anno)]),
    )
    .await?;
    let app = app_ref(&d);
    let pool = pool_of_size(&client, &label, "web", 4).await?;
    let name = pool.metadata.name_str().to_owned();
    assert_eq!(name, format!("auto4-web-eth0-{}", &app.uid.rsplit('-').next().unwrap()[..5]));
    assert_eq!(
        pool.spec.ips,
        ["10.77.0.10-10.77.0.11", "10.77.0.13-10.77.0.14"],
        "lowest free, not the reserved .12"
    );
    assert_eq!(pool.metadata.label(LABEL_OWNER_APPLICATION_UID), Some(app.uid.as_str()));
    assert_eq!(subnet_true(&client, &s, &label, 31).await?, 4);
    // kube-controller-manager made the ReplicaSet; it gets no pool of its own.
    let rs = eventually("the Deployment's ReplicaSet", || async {
        let list =
            Api::<ReplicaSet>::namespaced(client.clone(), &ns).list(&Default::default()).await?;
        Ok(list
            .items
            .first()
            .map(|r| r.metadata.name.clone().unwrap())
            .ok_or_else(|| "none yet".to_string()))
    })
    .await?;
    assert!(app_pools(&client, &label, &rs).await?.is_empty());

    scale(&client, &ns, "web", 5).await?;
    let grown = pool_of_size(&client, &label, "web", 6).await?;
    assert!(ips(&pool).is_subset(&ips(&grown)), "growing keeps every address");
    assert_eq!(subnet_true(&client, &s, &label, 31).await?, 6);

    // Three pods hold addresses; scaled to 1 (size 2) the pool cannot give
    // back a held address: it waits, at 6.
    let node = Node::start(client.clone(), "n1", CommitMode::Group, &label).await?;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(hold(&node, &ns, &app, &format!("web-{i}"), &name).await?);
    }
    scale(&client, &ns, "web", 1).await?;
    let note = event(&client, &ns, "web", reason::SHRINK_WAITS).await?;
    assert!(note.contains("cannot shrink from 6 to 2 IPs: pods hold 3"), "{note}");
    assert_eq!(ips(&pool_of_size(&client, &label, "web", 6).await?).len(), 6);
    // One pod goes: the pool shrinks to the two addresses still held.
    release(&node, &ns, "web-0").await?;
    let shrunk = pool_of_size(&client, &label, "web", 2).await?;
    for ip in &held[1..] {
        assert!(ips(&shrunk).contains(ip), "held {ip} kept: {:?}", shrunk.spec.ips);
    }
    assert_eq!(subnet_true(&client, &s, &label, 31).await?, 2);

    // The Deployment goes: the pool is deleted (reclaim by default) and
    // stays terminating until its pods released their addresses.
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .delete("web", &DeleteParams::background())
        .await?;
    eventually("the pool is terminating", || async {
        let pools = app_pools(&client, &label, "web").await?;
        Ok(if pools.iter().all(|p| p.metadata.is_terminating()) && !pools.is_empty() {
            Ok(())
        } else {
            Err(format!("{} pools", pools.len()))
        })
    })
    .await?;
    release(&node, &ns, "web-1").await?;
    release(&node, &ns, "web-2").await?;
    eventually("the pool is gone and the subnet's ledger empty", || async {
        let pools = app_pools(&client, &label, "web").await?;
        let sub: SpiderSubnet = Api::<SubnetObject>::all(client.clone()).get(&s).await?.into_core();
        let st = sub.status.unwrap_or_default();
        Ok(
            if pools.is_empty()
                && st.allocated_ip_count == Some(0)
                && st.controlled_pools()?.is_empty()
            {
                Ok(())
            } else {
                Err(format!("{} pools, {st:?}", pools.len()))
            },
        )
    })
    .await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// `ippool-reclaim: "false"` keeps the pool when the Deployment goes, and a
/// new Deployment of the same name takes it over (its UID label rewritten)
/// instead of creating a second pool. Meanwhile two other applications
/// created at the same moment on the same subnet get pools that never
/// overlap, and the subnet's counts stay the sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_pool_is_reused_and_applications_never_overlap() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "sa-keep").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let s = scope.name("s");
    create_subnet(&scope, &client, &s, "10.78.0.0/24", &["10.78.0.1-10.78.0.60"], &label).await?;
    let running = start(client.clone(), app_options(&label));
    let anno = format!(r#"{{"ipv4":["{s}"]}}"#);
    let keep = [
        ("ipam.spidernet.io/subnet", anno.as_str()),
        ("ipam.spidernet.io/ippool-reclaim", "false"),
        ("ipam.spidernet.io/ippool-ip-number", "+0"),
    ];
    let first = create_deployment(&client, &deployment(&ns, "keep", 2, &label, &keep)).await?;
    let pool = pool_of_size(&client, &label, "keep", 2).await?;
    // Two more applications at once.
    let da = deployment(&ns, "app-a", 7, &label, &[("ipam.spidernet.io/subnet", &anno)]);
    let db = deployment(
        &ns,
        "app-b",
        9,
        &label,
        &[("ipam.spidernet.io/subnet", &anno), ("ipam.spidernet.io/ippool-ip-number", "12")],
    );
    let (a, b) = tokio::join!(create_deployment(&client, &da), create_deployment(&client, &db));
    a?;
    b?;
    pool_of_size(&client, &label, "app-a", 8).await?;
    pool_of_size(&client, &label, "app-b", 12).await?;
    assert_eq!(subnet_true(&client, &s, &label, 60).await?, 22);

    Api::<Deployment>::namespaced(client.clone(), &ns)
        .delete("keep", &DeleteParams::background())
        .await?;
    eventually("the first Deployment is gone", || async {
        let gone =
            Api::<Deployment>::namespaced(client.clone(), &ns).get_opt("keep").await?.is_none();
        Ok(if gone { Ok(()) } else { Err("still there".to_string()) })
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kept = pool_of_size(&client, &label, "keep", 2).await?;
    assert_eq!(kept.metadata.name_str(), pool.metadata.name_str());
    assert_eq!(kept.metadata.label(LABEL_OWNER_APPLICATION_UID), first.metadata.uid.as_deref());

    let second = create_deployment(&client, &deployment(&ns, "keep", 3, &label, &keep)).await?;
    let reused = pool_of_size(&client, &label, "keep", 3).await?;
    assert_eq!(reused.metadata.name_str(), pool.metadata.name_str(), "the kept pool is reused");
    eventually("the reused pool names the new UID", || async {
        let p = app_pools(&client, &label, "keep").await?;
        let uid = p
            .first()
            .and_then(|p| p.metadata.label(LABEL_OWNER_APPLICATION_UID).map(str::to_owned));
        Ok(if uid.as_deref() == second.metadata.uid.as_deref() {
            Ok(())
        } else {
            Err(format!("{uid:?}"))
        })
    })
    .await?;
    assert!(ips(&pool).is_subset(&ips(&reused)));
    assert_eq!(subnet_true(&client, &s, &label, 60).await?, 23);
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// Bad input: a missing subnet, a fixed size below the replicas and a
/// subnet without room are each a Warning event on the Deployment naming
/// the annotation, the subnet and the numbers, and no pool is created nor
/// any address promised in the subnet's ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_reported_and_nothing_is_half_created() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "sa-bad").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let (s, missing) = (scope.name("s"), scope.name("missing"));
    create_subnet(&scope, &client, &s, "10.79.0.0/24", &["10.79.0.1-10.79.0.2"], &label).await?;
    let running = start(client.clone(), app_options(&label));
    let anno = format!(r#"{{"ipv4":["{s}"]}}"#);
    let gone = format!(r#"{{"ipv4":["{missing}"]}}"#);
    create_deployment(
        &client,
        &deployment(&ns, "no-subnet", 1, &label, &[("ipam.spidernet.io/subnet", &gone)]),
    )
    .await?;
    create_deployment(
        &client,
        &deployment(
            &ns,
            "too-small",
            3,
            &label,
            &[("ipam.spidernet.io/subnet", &anno), ("ipam.spidernet.io/ippool-ip-number", "2")],
        ),
    )
    .await?;
    create_deployment(
        &client,
        &deployment(&ns, "no-room", 3, &label, &[("ipam.spidernet.io/subnet", &anno)]),
    )
    .await?;
    create_deployment(
        &client,
        &deployment(&ns, "bad-value", 1, &label, &[("ipam.spidernet.io/subnet", "{nope")]),
    )
    .await?;

    // Two NICs on one subnet; and two NICs whose second subnet is missing:
    // the first NIC's pool is not created either.
    let same =
        format!(r#"[{{"interface":"eth0","ipv4":["{s}"]}},{{"interface":"net1","ipv4":["{s}"]}}]"#);
    let half = format!(
        r#"[{{"interface":"eth0","ipv4":["{s}"]}},{{"interface":"net1","ipv4":["{missing}"]}}]"#
    );
    for (name, value) in [("two-nics", &same), ("half", &half)] {
        let annotations = [("ipam.spidernet.io/subnets", value.as_str())];
        create_deployment(&client, &deployment(&ns, name, 1, &label, &annotations)).await?;
    }
    let note = event(&client, &ns, "two-nics", reason::FAILED).await?;
    assert!(note.contains("ipam.spidernet.io/subnets") && note.contains(&s), "{note}");
    assert!(note.contains("already used by interface \"eth0\""), "{note}");
    let note = event(&client, &ns, "half", reason::FAILED).await?;
    assert!(note.contains("interface \"net1\"") && note.contains(&missing), "{note}");

    let note = event(&client, &ns, "no-subnet", reason::FAILED).await?;
    assert!(
        note.contains("ipam.spidernet.io/subnet")
            && note.contains(&missing)
            && note.contains("does not exist"),
        "{note}"
    );
    let note = event(&client, &ns, "too-small", reason::FAILED).await?;
    assert!(
        note.contains("ipam.spidernet.io/ippool-ip-number")
            && note.contains("fixed size 2")
            && note.contains("3 replicas"),
        "{note}"
    );
    let note = event(&client, &ns, "no-room", reason::FAILED).await?;
    assert!(
        note.contains(&format!("SpiderSubnet {s} has 2 free IPs"))
            && note.contains("needs 4 more to grow from 0 to 4"),
        "{note}"
    );
    assert!(note.contains("nothing was created"), "{note}");
    let note = event(&client, &ns, "bad-value", reason::FAILED).await?;
    assert!(note.contains("ipam.spidernet.io/subnet"), "{note}");
    for app in ["no-subnet", "too-small", "no-room", "bad-value", "two-nics", "half"] {
        assert!(app_pools(&client, &label, app).await?.is_empty(), "{app} has no pool");
    }
    assert_eq!(subnet_true(&client, &s, &label, 2).await?, 0);
    // Room made: the waiting application gets its pool.
    let patch = json!({"spec": {"ips": ["10.79.0.1-10.79.0.9"]}});
    Api::<SubnetObject>::all(client.clone())
        .patch(&s, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    pool_of_size(&client, &label, "no-room", 4).await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// The worked example of docs/subnet.md, applied with kubectl: the
/// Deployment's pool, the subnet's counts, the scale-up and the reclaim are
/// those the page shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_example_runs() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let (scope, ns, label) = setup(&cluster, "sa-doc").await?;
    let client = cluster.client();
    scope.track_labelled::<SpiderIPPool>(LABEL, &label);
    let s = scope.name("subnet-demo");
    scope.track::<SpiderSubnet>(None, &s);
    let doc = include_str!("../../docs/subnet.md");
    let start = doc.find("<!-- example:begin -->").unwrap();
    let end = doc.find("<!-- example:end -->").unwrap();
    let yaml = doc[start..end].split("```yaml").nth(1).unwrap().split("```").next().unwrap();
    let yaml = yaml
        .replace("subnet-demo-v4", &s)
        .replace("namespace: default", &format!("namespace: {ns}"))
        .replace("10.6.0.", "10.81.0.")
        .replace("example: subnet-doc", &format!("{LABEL}: {label}"));
    let running = start_app(&client, &label);
    kubectl(&cluster, &["apply", "-f", "-"], &yaml)?;
    let pool = pool_of_size(&client, &label, "demo", 3).await?;
    assert_eq!(pool.spec.ips, ["10.81.0.100-10.81.0.102"]);
    assert!(pool.metadata.name_str().starts_with("auto4-demo-eth0-"));
    assert_eq!(pool.spec.gateway.as_deref(), Some("10.81.0.1"), "inherited from the subnet");
    assert_eq!(subnet_true(&client, &s, &label, 21).await?, 3);
    kubectl(&cluster, &["-n", &ns, "scale", "deployment", "demo", "--replicas", "4"], "")?;
    let grown = pool_of_size(&client, &label, "demo", 5).await?;
    assert_eq!(grown.spec.ips, ["10.81.0.100-10.81.0.104"]);
    kubectl(&cluster, &["-n", &ns, "delete", "deployment", "demo"], "")?;
    eventually("the example's pool is reclaimed", || async {
        let left = app_pools(&client, &label, "demo").await?;
        Ok(if left.is_empty() { Ok(()) } else { Err(format!("{} pools", left.len())) })
    })
    .await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}
