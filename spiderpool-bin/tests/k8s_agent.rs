//! `spiderpool-agent --store kubernetes` as a process against a real API
//! server (`SPIDERPOOL_TEST_KUBECONFIG`, see docs/kubernetes.md; without it
//! every test prints why it skips). The test plays kubelet: it creates Node
//! and Pod objects with `nodeName`, and calls the agent's unix socket as the
//! IPAM plugin does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;
mod k8s_agent_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, PostParams};
use serde_json::json;
use spiderpool_core::model::FINALIZER;
use spiderpool_k8s::testing::TestResult;

use k8s_agent_support::{Env, IPPOOL, add, del, get, health, ip_of, wait_healthy};

/// ADD and DEL through the agent: addresses from the pool, one SpiderEndpoint
/// per pod owned by the Pod and holding Spiderpool's finalizer, shown by
/// `kubectl get se`; a DEL of a live pod keeps everything; a DEL after the
/// pod is gone frees the record and the endpoint; a second DEL is fine. The
/// pods are created right before their ADD, as kubelet's ADD usually comes
/// before the agent's watch shows the pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_and_del_give_addresses_endpoints_owner_and_finalizer() -> TestResult<()> {
    let Some(env) = Env::new("k8s-add").await? else { return Ok(()) };
    let pool = env.pool("v4", "10.201.0.0/16", &["10.201.0.10-10.201.0.40"]).await?;
    let mut agent = env.agent("a", &[]);
    wait_healthy(&mut agent, Duration::from_secs(60));

    let mut told = BTreeMap::new();
    for i in 0..5 {
        let name = format!("p{i}");
        let uid = env.pod(&name, &pool).await?;
        let answer = add(&agent.socket, &env.ns, &name, &uid, &format!("c{i}"))
            .unwrap_or_else(|e| panic!("ADD {name}: {e}; log:\n{}", agent.log_text()));
        assert_eq!(answer["ips"][0]["ipPool"], json!(pool));
        told.insert(name, (uid, ip_of(&answer)));
    }
    let ips: BTreeSet<&String> = told.values().map(|(_, ip)| ip).collect();
    assert_eq!(ips.len(), 5, "distinct addresses: {told:?}");
    let records = env.records(&pool).await?;
    for (name, (uid, ip)) in &told {
        let record = &records[ip];
        assert_eq!(
            (record.pod.as_str(), record.pod_uid.as_str()),
            (&*format!("{}/{name}", env.ns), uid.as_str())
        );
        let ep = env.endpoint(name).await?.expect("endpoint");
        assert_eq!(ep.status.current.uid, *uid);
        assert_eq!(ep.status.current.node, env.node);
        assert_eq!(ep.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
        let owners = ep.metadata.owner_references.expect("owner reference");
        assert_eq!(owners.len(), 1);
        let owner = &owners[0];
        assert_eq!((owner.api_version.as_str(), owner.kind.as_str()), ("v1", "Pod"));
        assert_eq!((owner.name.as_str(), owner.uid.as_str()), (name.as_str(), uid.as_str()));
    }
    let table = env.kubectl(&["get", "se", "-n", &env.ns]);
    assert!(table.starts_with("NAME"), "{table}");
    for column in ["INTERFACE", "IPV4POOL", "IPV4", "NODE"] {
        assert!(table.lines().next().unwrap().contains(column), "{table}");
    }
    for (name, (_, ip)) in &told {
        let line = table.lines().find(|l| l.starts_with(&format!("{name} "))).expect(name);
        for cell in ["net1", pool.as_str(), &format!("{ip}/16"), env.node.as_str()] {
            assert!(line.contains(cell), "{cell} in {line:?}");
        }
    }

    // The workload endpoint route reads the endpoint; the administrative
    // routes are not served on this backend (users have kubectl).
    let path = format!("/v1/workloadendpoint?podNamespace={}&podName=p1", env.ns);
    let wep = get(&agent.socket, &path).unwrap();
    assert_eq!(wep["interfaces"][0]["ipv4"], json!(format!("{}/16", told["p1"].1)), "{wep}");
    let admin = get(&agent.socket, "/v1/admin/objects/SpiderIPPool").unwrap_err();
    assert!(admin.contains("HTTP 404"), "{admin}");

    // The pod lives: a DEL (a sandbox restart) keeps its address.
    let (uid, ip) = told["p0"].clone();
    del(&agent.socket, &env.ns, "p0", &uid, "c0").unwrap();
    assert!(env.records(&pool).await?.contains_key(&ip), "kept while the pod lives");
    assert!(env.endpoint("p0").await?.is_some());
    // The pod is gone: the DEL frees its record and endpoint; again: fine.
    env.delete_pod("p0").await?;
    del(&agent.socket, &env.ns, "p0", &uid, "c0").unwrap();
    assert!(!env.records(&pool).await?.contains_key(&ip), "freed");
    assert!(env.endpoint("p0").await?.is_none(), "endpoint deleted");
    del(&agent.socket, &env.ns, "p0", &uid, "c0").unwrap();
    assert_eq!(env.records(&pool).await?.len(), 4);
    assert!(agent.terminate().success(), "log:\n{}", agent.log_text());
    Ok(())
}

/// Waits up to 60 s for pod `name` with a UID other than `not`; returns it.
async fn wait_pod(env: &Env, name: &str, not: Option<&str>) -> TestResult<String> {
    let api: Api<Pod> = Api::namespaced(env.client(), &env.ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pod) = api.get_opt(name).await?
            && let Some(uid) = pod.metadata.uid
            && Some(uid.as_str()) != not
            && pod.metadata.deletion_timestamp.is_none()
        {
            return Ok(uid);
        }
        if Instant::now() > deadline {
            return Err(format!("pod {name} (other than {not:?}) not there after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// StatefulSet fixed IP end to end with a real StatefulSet: the test
/// cluster's kube-controller-manager creates `web-0` (bound to the test's
/// node by the template's `nodeName`); its address is kept across the pod's
/// deletion (the kubelet's DEL keeps it) and kube-controller-manager's
/// re-creation with a new UID gets the same address. Its endpoint has no
/// owner reference (it outlives the pod) and follows the new UID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_pod_gets_the_same_ip_after_recreation() -> TestResult<()> {
    let Some(env) = Env::new("k8s-sts").await? else { return Ok(()) };
    let pool = env.pool("sts", "10.202.0.0/16", &["10.202.0.10-10.202.0.20"]).await?;
    let set: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"},
                    "annotations": {IPPOOL: format!("{{\"ipv4\":[\"{pool}\"]}}")}},
                "spec": {"nodeName": env.node, "automountServiceAccountToken": false, "containers": [{"name": "c", "image": "none"}]}}}
    }))?;
    env.scope.track_resource::<StatefulSet>(Some(&env.ns), "web");
    Api::<StatefulSet>::namespaced(env.client(), &env.ns)
        .create(&PostParams::default(), &set)
        .await?;
    env.scope.track_resource::<Pod>(Some(&env.ns), "web-0");
    let mut agent = env.agent("a", &[]);
    wait_healthy(&mut agent, Duration::from_secs(60));

    let uid1 = wait_pod(&env, "web-0", None).await?;
    let first = add(&agent.socket, &env.ns, "web-0", &uid1, "c1")
        .unwrap_or_else(|e| panic!("ADD web-0: {e}; log:\n{}", agent.log_text()));
    let ip = ip_of(&first);
    let ep = env.endpoint("web-0").await?.expect("endpoint");
    assert_eq!(ep.metadata.owner_references, None, "a StatefulSet endpoint outlives its pod");
    assert_eq!(ep.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    assert_eq!(ep.status.owner_controller_type, "StatefulSet");

    // The pod is deleted; the kubelet's DEL keeps the address (the set still
    // wants web-0); kube-controller-manager creates web-0 again.
    env.delete_pod("web-0").await?;
    del(&agent.socket, &env.ns, "web-0", &uid1, "c1").unwrap();
    assert_eq!(env.records(&pool).await?.len(), 1, "kept for the successor");
    let uid2 = wait_pod(&env, "web-0", Some(&uid1)).await?;
    assert_ne!(uid1, uid2);
    let second = add(&agent.socket, &env.ns, "web-0", &uid2, "c2")
        .unwrap_or_else(|e| panic!("ADD new web-0: {e}; log:\n{}", agent.log_text()));
    assert_eq!(ip_of(&second), ip, "same address for the re-created pod");
    let ep = env.endpoint("web-0").await?.expect("endpoint");
    assert_eq!(ep.status.current.uid, uid2);
    let records = env.records(&pool).await?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[&ip].pod_uid, uid2);
    assert!(agent.terminate().success(), "log:\n{}", agent.log_text());
    Ok(())
}

/// SIGKILL of the agent in the middle of a burst of 40 ADDs, then a
/// restart: the kubelet retries every ADD that got no answer, and every pod
/// ends with one address — the one it was told, if it was told one before
/// the kill — no address twice, no record or endpoint left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_then_restart_no_duplicates_no_leaks() -> TestResult<()> {
    let Some(env) = Env::new("k8s-kill").await? else { return Ok(()) };
    let pool = env.pool("kill", "10.203.0.0/16", &["10.203.0.10-10.203.0.109"]).await?;
    let mut pods = Vec::new();
    for i in 0..40 {
        let name = format!("k{i}");
        let uid = env.pod(&name, &pool).await?;
        pods.push((name, uid));
    }
    let mut agent = env.agent("a", &[]);
    wait_healthy(&mut agent, Duration::from_secs(60));
    let (socket, ns) = (agent.socket.clone(), env.ns.clone());
    let burst: Vec<_> = pods
        .iter()
        .cloned()
        .map(|(name, uid)| {
            let (socket, ns) = (socket.clone(), ns.clone());
            std::thread::spawn(move || add(&socket, &ns, &name, &uid, "c").map(|a| ip_of(&a)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    let before: Vec<Option<String>> = burst.into_iter().map(|t| t.join().unwrap().ok()).collect();
    let answered = before.iter().flatten().count();
    println!("answered before SIGKILL: {answered} of {}", pods.len());

    let mut agent = env.agent("b", &[]);
    wait_healthy(&mut agent, Duration::from_secs(60));
    let mut after = BTreeMap::new();
    for ((name, uid), told) in pods.iter().zip(&before) {
        let answer = add(&agent.socket, &env.ns, name, uid, "c")
            .unwrap_or_else(|e| panic!("ADD {name} again: {e}; log:\n{}", agent.log_text()));
        let ip = ip_of(&answer);
        if let Some(told) = told {
            assert_eq!(&ip, told, "{name} keeps the address it was told");
        }
        after.insert(ip, (name.clone(), uid.clone()));
    }
    assert_eq!(after.len(), pods.len(), "an address each, none twice");
    let records = env.records(&pool).await?;
    assert_eq!(records.len(), pods.len(), "no leaked record: {records:?}");
    for (ip, (name, uid)) in &after {
        let record = &records[ip];
        assert_eq!(
            (record.pod.as_str(), record.pod_uid.as_str()),
            (&*format!("{}/{name}", env.ns), uid.as_str())
        );
    }
    let endpoints = env.endpoints().await?;
    assert_eq!(endpoints.len(), pods.len());
    for ep in endpoints {
        let ip = ep.status.current.ips[0].ipv4.clone().unwrap();
        let ip = ip.split('/').next().unwrap().to_owned();
        assert_eq!(after[&ip].0, ep.metadata.name_str(), "endpoint {ip}");
    }
    assert!(agent.terminate().success(), "log:\n{}", agent.log_text());
    Ok(())
}

/// The token of service account `ns/name` (the token controller of the test
/// cluster's kube-controller-manager writes its secret).
async fn service_account_token(env: &Env, name: &str) -> TestResult<String> {
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client(), &env.ns);
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    accounts.create(&PostParams::default(), &account).await?;
    let secrets: Api<Secret> = Api::namespaced(env.client(), &env.ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let account = accounts.get(name).await?;
        let secret = account.secrets.unwrap_or_default().into_iter().find_map(|s| s.name);
        if let Some(secret) = secret
            && let Some(token) =
                secrets.get(&secret).await?.data.and_then(|mut d| d.remove("token"))
        {
            return Ok(String::from_utf8(token.0)?);
        }
        if Instant::now() > deadline {
            return Err(format!("no token for service account {name} after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The agent under a service account that may do everything the RBAC table
/// of docs/kubernetes.md lists except `update spiderippools/status`: it is
/// healthy (it can read), and an ADD fails with an error naming the verb, the
/// resource and the service account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_denied_names_verb_resource_and_service_account() -> TestResult<()> {
    let Some(env) = Env::new("k8s-rbac").await? else { return Ok(()) };
    let pool = env.pool("rbac", "10.204.0.0/16", &["10.204.0.10-10.204.0.20"]).await?;
    let read = json!(["get", "list", "watch"]);
    let rules = json!([
        {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": read},
        {"apiGroups": ["apps"], "resources": ["replicasets", "statefulsets"], "verbs": read},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": read},
        {"apiGroups": ["spiderpool.spidernet.io"],
         "resources": ["spiderippools", "spiderreservedips", "spidercoordinators"], "verbs": read},
        {"apiGroups": ["spiderpool.spidernet.io"], "resources": ["spiderendpoints"],
         "verbs": ["get", "list", "watch", "create", "update", "delete"]}
    ]);
    let role = env.scope.name("agent-no-status");
    env.scope.track_resource::<ClusterRole>(None, &role);
    env.scope.track_resource::<ClusterRoleBinding>(None, &role);
    let object: ClusterRole =
        serde_json::from_value(json!({"metadata": {"name": role}, "rules": rules}))?;
    Api::<ClusterRole>::all(env.client()).create(&PostParams::default(), &object).await?;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({"metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "spiderpool-agent", "namespace": env.ns}]}))?;
    Api::<ClusterRoleBinding>::all(env.client()).create(&PostParams::default(), &binding).await?;
    let token = service_account_token(&env, "spiderpool-agent").await?;
    let kubeconfig = env.kubeconfig("sa.kubeconfig", None, Some(&token));

    let mut agent = env.agent_with("a", &kubeconfig, &[]);
    wait_healthy(&mut agent, Duration::from_secs(60));
    let uid = env.pod("p", &pool).await?;
    let e = add(&agent.socket, &env.ns, "p", &uid, "c").expect_err("no permission to write pools");
    let message = e.to_string();
    println!("{message}");
    assert!(message.contains("HTTP 500"), "{message}");
    assert!(message.contains(&format!("update SpiderIPPool {pool} status")), "{message}");
    let account = format!("system:serviceaccount:{}:spiderpool-agent", env.ns);
    for part in [account.as_str(), "cannot update resource", "spiderippools/status"] {
        assert!(message.contains(part), "{part} in {message}");
    }
    assert!(message.contains("Forbidden, HTTP 403"), "{message}");
    assert!(env.records(&pool).await?.is_empty());
    Ok(())
}

/// The API server cannot be reached when the agent starts (nothing listens
/// on its kubeconfig's address): the agent keeps running, its health says
/// what it waits for, and it becomes ready and allocates once the address
/// answers (a TCP forwarder to the real API server starts there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_down_at_start_then_ready() -> TestResult<()> {
    let Some(env) = Env::new("k8s-down").await? else { return Ok(()) };
    let pool = env.pool("down", "10.205.0.0/16", &["10.205.0.10-10.205.0.20"]).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let kubeconfig =
        env.kubeconfig("down.kubeconfig", Some(&format!("https://127.0.0.1:{port}")), None);
    let mut agent = env.agent_with("a", &kubeconfig, &["--k8s-sync-timeout", "2"]);

    let deadline = Instant::now() + Duration::from_secs(20);
    let reason = loop {
        match health(&agent.socket) {
            Err(why) if why.contains("waiting for the first list") => break why,
            Ok(()) => panic!("healthy without an API server"),
            _ if Instant::now() > deadline => {
                panic!("no reason after 20 s; log:\n{}", agent.log_text())
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    println!("{reason}");
    assert!(reason.contains("HTTP 500") && reason.contains("not ready"), "{reason}");
    assert!(reason.contains("spiderippools"), "{reason}");
    assert!(
        reason.contains(&port.to_string()) || reason.contains("onnect"),
        "names the failure: {reason}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(agent.child.try_wait()?.is_none(), "the agent exited; log:\n{}", agent.log_text());
    assert!(health(&agent.socket).is_err(), "still not ready");

    let target = env.cluster.apiserver_addr()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let forwarder = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let started = Instant::now();
    let socket = agent.socket.clone();
    tokio::task::block_in_place(|| wait_healthy(&mut agent, Duration::from_secs(120)));
    println!("ready {:?} after the API server became reachable", started.elapsed());
    let uid = env.pod("p", &pool).await?;
    let answer = tokio::task::block_in_place(|| add(&socket, &env.ns, "p", &uid, "c"))
        .unwrap_or_else(|e| panic!("ADD: {e}; log:\n{}", agent.log_text()));
    assert!(ip_of(&answer).starts_with("10.205.0."));
    assert!(agent.terminate().success(), "log:\n{}", agent.log_text());
    forwarder.abort();
    Ok(())
}

/// Two agents (two nodes) ADD 20 pods each at once on one pool, with group
/// commit and with `--group-commit=false`: their writes conflict (409s), and
/// every pod still gets an address, none twice, each recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_on_one_pool_converge_in_both_commit_modes() -> TestResult<()> {
    let Some(env) = Env::new("k8s-two").await? else { return Ok(()) };
    for (round, mode) in ["true", "false"].into_iter().enumerate() {
        let pool =
            env.pool(&format!("two{round}"), "10.206.0.0/16", &["10.206.0.10-10.206.0.60"]).await?;
        let other = env.scope.name("node-b");
        env.scope.track_resource::<k8s_openapi::api::core::v1::Node>(None, &other);
        let node: k8s_openapi::api::core::v1::Node =
            serde_json::from_value(json!({"metadata": {"name": other}}))?;
        Api::<k8s_openapi::api::core::v1::Node>::all(env.client())
            .create(&PostParams::default(), &node)
            .await?;
        let mut a = env.agent(&format!("a{round}"), &["--group-commit", mode]);
        let mut b = env.agent_on(&other, &format!("b{round}"), &["--group-commit", mode]);
        wait_healthy(&mut a, Duration::from_secs(60));
        wait_healthy(&mut b, Duration::from_secs(60));
        let mut calls = Vec::new();
        for i in 0..40 {
            let name = format!("r{round}-{i}");
            let uid = if i % 2 == 0 {
                env.pod(&name, &pool).await?
            } else {
                env.pod_on(&other, &name, &pool).await?
            };
            let socket = if i % 2 == 0 { a.socket.clone() } else { b.socket.clone() };
            calls.push((socket, name, uid));
        }
        let ns = env.ns.clone();
        let threads: Vec<_> = calls
            .into_iter()
            .map(|(socket, name, uid)| {
                let ns = ns.clone();
                // One write per allocation may give up after the allocator's
                // 8 conflicts (Spiderpool's behaviour); the kubelet then
                // runs the ADD again.
                std::thread::spawn(move || {
                    let mut answer = add(&socket, &ns, &name, &uid, "c");
                    for _ in 0..3 {
                        match &answer {
                            Err(e) if e.to_string().contains("write conflicts") => {
                                answer = add(&socket, &ns, &name, &uid, "c");
                            }
                            _ => break,
                        }
                    }
                    (name, answer)
                })
            })
            .collect();
        let mut told = BTreeMap::new();
        for t in threads {
            let (name, answer) = t.join().unwrap();
            let answer = answer.unwrap_or_else(|e| panic!("{mode}: ADD {name}: {e}"));
            assert!(told.insert(ip_of(&answer), name).is_none(), "{mode}: an address twice");
        }
        let records = env.records(&pool).await?;
        assert_eq!(records.len(), 40, "{mode}: one record per pod");
        for (ip, name) in &told {
            assert_eq!(records[ip].pod, format!("{}/{name}", env.ns), "{mode}: {ip}");
        }
        assert!(a.terminate().success() && b.terminate().success());
    }
    Ok(())
}
