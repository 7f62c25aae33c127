//! SpiderSubnet auto-pools at CNI ADD with `spiderpool-agent --store
//! kubernetes` against a real API server (`SPIDERPOOL_TEST_KUBECONFIG`;
//! without it every test prints why it skips): a Deployment's pod gets its
//! address from the auto-pool the controller made (made here as the
//! controller would, with the core's `new_auto_pool`), and a third-party
//! controller's pods get theirs from a pool the agent carves from the
//! SpiderSubnet itself, recorded in the subnet's `controlledIPPools`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;
mod k8s_agent_support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use spiderpool_core::autopool::{AppRef, AutoPoolKey, IpNumber, new_auto_pool};
use spiderpool_core::ip::{IpFamily, IpSet};
use spiderpool_core::model::{SpiderIPPool, SpiderSubnet, SubnetSpec};
use spiderpool_k8s::Kind;
use spiderpool_k8s::testing::TestResult;

use k8s_agent_support::{Env, LABEL, add, ip_of, subnet_agent_args, wait_healthy};

/// The agent's flags: SpiderSubnet on, IPv4 only, waiting for an auto-pool
/// up to 10 × 1 s.
fn agent_args() -> [&'static str; 8] {
    subnet_agent_args("10")
}

/// A SpiderSubnet `base` with `ips` in `cidr`, as the API server stored it.
async fn subnet(env: &Env, base: &str, cidr: &str, ips: &[&str]) -> TestResult<SpiderSubnet> {
    let spec = SubnetSpec {
        ip_version: Some(4),
        subnet: cidr.into(),
        ips: ips.iter().map(|s| s.to_string()).collect(),
        ..SubnetSpec::default()
    };
    Ok(env.scope.create(SpiderSubnet::new(env.scope.name(base), spec)).await?.into_core())
}

/// A pod on the test's node owned by `owner`, with `annotations`.
async fn owned_pod(env: &Env, name: &str, owner: Value, annotations: Value) -> TestResult<String> {
    let object: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations, "ownerReferences": [owner]},
        "spec": {"nodeName": env.node, "automountServiceAccountToken": false,
                 "containers": [{"name": "c", "image": "none"}]}
    }))?;
    env.scope.track_resource::<Pod>(Some(&env.ns), name);
    let api: Api<Pod> = Api::namespaced(env.client(), &env.ns);
    Ok(api.create(&PostParams::default(), &object).await?.metadata.uid.unwrap_or_default())
}

fn annotations(subnet: &str, number: &str) -> Value {
    json!({"ipam.spidernet.io/subnet": format!(r#"{{"interface":"net1","ipv4":["{subnet}"]}}"#),
           "ipam.spidernet.io/ippool-ip-number": number})
}

/// A Deployment of 2 replicas with `ippool-ip-number: "+1"`: its pod waits
/// for the pool of 3 the controller makes, then gets an address from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_pod_gets_its_address_from_the_controller_made_pool() -> TestResult<()> {
    let Some(env) = Env::new("k8s-subnet-native").await? else { return Ok(()) };
    let sub = subnet(&env, "sub", "10.212.0.0/16", &["10.212.0.10-10.212.0.40"]).await?;
    let name = env.scope.name("web");
    // Pods the Deployment's own ReplicaSet makes stay pending: no node matches.
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"nodeSelector": {"nowhere": "x"},
                                       "containers": [{"name": "c", "image": "none"}]}}}
    }))?;
    let api: Api<Deployment> = Api::namespaced(env.client(), &env.ns);
    let deploy = api.create(&PostParams::default(), &deploy).await?;
    let uid = deploy.metadata.uid.clone().unwrap_or_default();
    let owner = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid,
                       "controller": true});
    let sub_name = sub.metadata.name_str().to_string();
    let pod_uid = owned_pod(&env, "web-0", owner, annotations(&sub_name, "+1")).await?;

    let mut agent = env.agent("a", &agent_args());
    wait_healthy(&mut agent, Duration::from_secs(60));
    // No pool yet: the agent waits, then fails saying for what.
    let e = add(&agent.socket, &env.ns, "web-0", &pod_uid, "c0").unwrap_err().to_string();
    let app = AppRef::native("Deployment", &env.ns, &name, &uid).unwrap();
    let pool_name =
        spiderpool_core::autopool::auto_pool_name(&name, IpFamily::V4, "net1", &uid).unwrap();
    assert!(
        e.contains(&format!("the IPv4 auto-pool {pool_name} of Deployment {}/{name} from SpiderSubnet {sub_name} with 3 IPs", env.ns)),
        "{e}"
    );

    // The pool the application controller makes (scoped to this test).
    let key = AutoPoolKey { app: &app, interface: "net1", family: IpFamily::V4, subnet: &sub_name };
    let ips = IpSet::parse_ranges(IpFamily::V4, &["10.212.0.10-10.212.0.12"])?;
    let mut pool = new_auto_pool(&key, &sub, IpNumber::Flexible(1), true, &ips)?;
    pool.metadata.labels.get_or_insert_with(BTreeMap::new).insert(LABEL.into(), env.label.clone());
    env.scope.create(pool).await?;
    let answer = add(&agent.socket, &env.ns, "web-0", &pod_uid, "c0")
        .unwrap_or_else(|e| panic!("ADD: {e}; log:\n{}", agent.log_text()));
    assert_eq!(answer["ips"][0]["ipPool"], json!(pool_name));
    assert!(ip_of(&answer).starts_with("10.212.0.1"), "{answer}");
    Ok(())
}

/// A third-party controller (here a ConfigMap owns the pods: any kind that
/// is not a Kubernetes controller) with `ippool-ip-number: "2"`: the agent
/// carves the pool from the subnet, records it in the subnet's status, and
/// both pods get an address from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_controllers_pods_get_a_pool_the_agent_makes() -> TestResult<()> {
    let Some(env) = Env::new("k8s-subnet-3rd").await? else { return Ok(()) };
    env.scope.track_labelled::<SpiderIPPool>(LABEL, &env.label);
    let sub = subnet(&env, "sub", "10.213.0.0/16", &["10.213.0.10-10.213.0.40"]).await?;
    let sub_name = sub.metadata.name_str().to_string();
    let owner_name = env.scope.name("tp");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": owner_name}}))?;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), &env.ns);
    let uid = cms.create(&PostParams::default(), &cm).await?.metadata.uid.unwrap_or_default();
    let owner = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name, "uid": uid,
                       "controller": true});
    let mut agent = env.agent("a", &agent_args());
    wait_healthy(&mut agent, Duration::from_secs(60));

    let mut told = Vec::new();
    for i in 0..2 {
        let pod = format!("tp-{i}");
        let pod_uid = owned_pod(&env, &pod, owner.clone(), annotations(&sub_name, "2")).await?;
        let answer = add(&agent.socket, &env.ns, &pod, &pod_uid, &format!("c{i}"))
            .unwrap_or_else(|e| panic!("ADD {pod}: {e}; log:\n{}", agent.log_text()));
        told.push((answer["ips"][0]["ipPool"].clone(), ip_of(&answer)));
    }
    let pool_name =
        spiderpool_core::autopool::auto_pool_name(&owner_name, IpFamily::V4, "net1", &uid)?;
    assert_eq!(told[0].0, json!(pool_name));
    assert_eq!(told[1].0, json!(pool_name));
    assert_ne!(told[0].1, told[1].1);
    let pool = SpiderIPPool::api(env.client(), None).get(&pool_name).await?.into_core();
    assert_eq!(pool.spec.ips, ["10.213.0.10-10.213.0.11"]);
    assert_eq!(pool.metadata.label("ipam.spidernet.io/owner-application-kind"), Some("ConfigMap"));
    let stored = SpiderSubnet::api(env.client(), None).get(&sub_name).await?.into_core();
    let status = stored.status.unwrap_or_default();
    let controlled = status.controlled_pools()?;
    assert_eq!(controlled[&pool_name].ips, ["10.213.0.10-10.213.0.11"]);
    assert_eq!(
        controlled[&pool_name].application.as_deref(),
        Some(format!("v1_ConfigMap_{}_{owner_name}", env.ns).as_str())
    );
    assert_eq!(status.allocated_ip_count, Some(2));
    Ok(())
}

/// Two agents (two nodes) serve pods of the same two third-party
/// applications at the same time: each application gets one pool (the
/// agent that loses the subnet write or the create uses the winner's), the
/// two pools never overlap, and the subnet records exactly them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_making_the_same_pools_at_once_agree() -> TestResult<()> {
    let Some(env) = Env::new("k8s-subnet-race").await? else { return Ok(()) };
    env.scope.track_labelled::<SpiderIPPool>(LABEL, &env.label);
    let sub = subnet(&env, "sub", "10.214.0.0/16", &["10.214.0.10-10.214.0.40"]).await?;
    let sub_name = sub.metadata.name_str().to_string();
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), &env.ns);
    let node2 = env.scope.name("node2");
    let mut pods = Vec::new();
    let mut apps = Vec::new();
    for app in ["x", "y"] {
        let owner_name = env.scope.name(app);
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": owner_name}}))?;
        let uid = cms.create(&PostParams::default(), &cm).await?.metadata.uid.unwrap_or_default();
        let owner = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name,
                           "uid": uid, "controller": true});
        for (i, node) in [env.node.clone(), node2.clone()].into_iter().enumerate() {
            let pod = format!("{app}-{i}");
            let object: Pod = serde_json::from_value(json!({
                "metadata": {"name": pod, "annotations": annotations(&sub_name, "3"),
                             "ownerReferences": [owner.clone()]},
                "spec": {"nodeName": node, "automountServiceAccountToken": false,
                         "containers": [{"name": "c", "image": "none"}]}
            }))?;
            env.scope.track_resource::<Pod>(Some(&env.ns), &pod);
            let api: Api<Pod> = Api::namespaced(env.client(), &env.ns);
            let pod_uid = api.create(&PostParams::default(), &object).await?.metadata.uid;
            pods.push((pod, pod_uid.unwrap_or_default(), i));
        }
        apps.push(spiderpool_core::autopool::auto_pool_name(
            &owner_name,
            IpFamily::V4,
            "net1",
            &uid,
        )?);
    }
    let mut a = env.agent("a", &agent_args());
    let mut b = env.agent_on(&node2, "b", &agent_args());
    wait_healthy(&mut a, Duration::from_secs(60));
    wait_healthy(&mut b, Duration::from_secs(60));
    let sockets = [a.socket.clone(), b.socket.clone()];
    let ns = env.ns.clone();
    let answers: Vec<Result<Value, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .map(|(pod, uid, i)| {
                let (socket, ns) = (&sockets[*i], &ns);
                s.spawn(move || {
                    add(socket, ns, pod, uid, &format!("c-{pod}")).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by_pool: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((pod, _, _), answer) in pods.iter().zip(&answers) {
        let answer = answer.as_ref().unwrap_or_else(|e| {
            panic!("ADD {pod}: {e}; logs:\n{}\n{}", a.log_text(), b.log_text())
        });
        let pool = answer["ips"][0]["ipPool"].as_str().unwrap().to_string();
        by_pool.entry(pool).or_default().push(ip_of(answer));
    }
    assert_eq!(by_pool.keys().cloned().collect::<Vec<_>>(), {
        let mut sorted = apps.clone();
        sorted.sort();
        sorted
    });
    let stored = SpiderSubnet::api(env.client(), None).get(&sub_name).await?.into_core();
    let controlled = stored.status.unwrap_or_default().controlled_pools()?;
    assert_eq!(controlled.len(), 2, "{controlled:?}");
    let mut seen = IpSet::new(IpFamily::V4);
    for name in &apps {
        let pool = SpiderIPPool::api(env.client(), None).get(name).await?.into_core();
        let ips = IpSet::parse_ranges(IpFamily::V4, &pool.spec.ips)?;
        assert_eq!(ips.len(), 3, "{name}: {:?}", pool.spec.ips);
        assert!(seen.intersection(&ips).is_empty(), "pools overlap: {:?}", pool.spec.ips);
        seen = seen.union(&ips);
        assert_eq!(controlled[name].ips, pool.spec.ips);
        let addresses = &by_pool[name];
        assert_ne!(addresses[0], addresses[1]);
    }
    Ok(())
}
