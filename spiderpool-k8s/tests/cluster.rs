//! The CRDs and typed access against a real API server (Kubernetes 1.20 from
//! `scripts/k8s-testenv.sh`). Without `SPIDERPOOL_TEST_KUBECONFIG` every test
//! prints the skip reason and passes.
#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use spiderpool_core::model::{
    FINALIZER, IPPoolStatus, SpiderCoordinator, SpiderEndpoint, SpiderIPPool, SpiderMultusConfig,
    SpiderReservedIP, SpiderSubnet,
};
use spiderpool_k8s::testing::{FIELD_MANAGER, TestCluster, TestResult, TestScope, fixtures};
use spiderpool_k8s::{Kind, KubeObject, crd};

/// The core object as the API server returns it, without the fields the server
/// fills in (uid, resourceVersion, generation, creationTimestamp).
fn without_server_fields<K: Kind>(object: KubeObject<K>) -> K {
    let mut core = object.into_core();
    let meta = core.metadata_mut();
    meta.uid = None;
    meta.resource_version = None;
    meta.generation = None;
    meta.creation_timestamp = None;
    core
}

/// Creates `object` (and, for kinds with a status subresource, writes its status
/// with `replace_status`), reads it back and returns it without server fields.
async fn store_and_read<K: Kind>(scope: &TestScope, object: K) -> TestResult<K> {
    let name = object.metadata().name_str().to_owned();
    let namespace = object.metadata().namespace.clone();
    let api = K::api(scope.client(), namespace.as_deref());
    let status = KubeObject::from_core(object.clone())?.status;
    let mut created = scope.create(object).await?;
    if K::STATUS_SUBRESOURCE && status.is_some() {
        // Status is ignored on create when the CRD has a status subresource.
        assert_eq!(created.status, None, "{} {name}: status stored on create", K::KIND);
        created.status = status;
        api.replace_status(&name, &PostParams::default(), &created).await?;
    }
    Ok(without_server_fields(api.get(&name).await?))
}

#[tokio::test]
async fn crds_are_established_and_accepted_by_kubectl() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let mut expected = crd::crds()?;
    expected.push(crd::network_attachment_definition_crd()?);
    for want in &expected {
        let name = want.metadata.name.as_deref().unwrap();
        let got = api.get(name).await?;
        let conditions = got.status.and_then(|s| s.conditions).unwrap_or_default();
        let is = |ty: &str| conditions.iter().any(|c| c.type_ == ty && c.status == "True");
        assert!(is("Established"), "{name}: {conditions:?}");
        assert!(!is("NonStructuralSchema"), "{name}: {conditions:?}");
        assert_eq!(got.spec.names.short_names, want.spec.names.short_names, "{name}");
        assert_eq!(got.spec.names.categories, want.spec.names.categories, "{name}");
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/spiderpool/crds");
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    for args in [
        vec!["apply", "--dry-run=server", "-f", dir],
        vec!["apply", "--dry-run=server", "-f", testdata],
        vec!["get", "spiderpool", "-A"],
    ] {
        let out = cluster.kubectl().args(&args).output()?;
        assert!(out.status.success(), "kubectl {args:?}: {}", stderr(&out));
    }
    Ok(())
}

/// The quick start's SpiderIPPool, SpiderMultusConfig and SpiderCoordinator
/// come back as sent, plus exactly Spiderpool's CRD defaults.
#[tokio::test]
async fn seed_objects_round_trip_with_spiderpool_defaults() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("seed");

    let mut pool = fixtures::seed_ippool();
    pool.metadata.name = Some(scope.name("10-6-v4"));
    let mut want = pool.clone();
    want.spec.default = Some(false);
    assert_eq!(store_and_read(&scope, pool).await?, want);

    let ns = scope.namespace("seed").await?;
    let mut smc = fixtures::seed_multus_config();
    smc.metadata.namespace = Some(ns);
    let mut want = smc.clone();
    want.spec.enable_coordinator = Some(true);
    want.spec.disable_ipam = Some(false);
    // No `mtu: 0` default on an SMC (it would be rendered into the NAD; see
    // docs/reconcilers.md).
    assert_eq!(store_and_read(&scope, smc).await?, want);

    let mut scc = fixtures::seed_coordinator();
    scc.metadata.name = Some(scope.name("default"));
    let mut want = scc.clone();
    want.spec.pod_rp_filter = Some(0);
    want.spec.tx_queue_len = Some(0);
    assert_eq!(store_and_read(&scope, scc).await?, want);
    Ok(())
}

/// Objects with every field set come back unchanged: the schemas prune nothing
/// the core writes and default nothing the core set.
#[tokio::test]
async fn full_objects_of_every_kind_round_trip() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("full");
    let ns = scope.namespace("full").await?;

    let pool = fixtures::full_ippool(&scope.name("pool"));
    assert_eq!(store_and_read(&scope, pool.clone()).await?, pool);
    let subnet = fixtures::full_subnet(&scope.name("subnet"));
    assert_eq!(store_and_read(&scope, subnet.clone()).await?, subnet);
    let reserved = fixtures::full_reserved_ip(&scope.name("reserved"));
    assert_eq!(store_and_read(&scope, reserved.clone()).await?, reserved);
    let endpoint = fixtures::full_endpoint(&ns, "nginx-4653bc4f24-xngkm");
    assert_eq!(store_and_read(&scope, endpoint.clone()).await?, endpoint);
    let smc = fixtures::full_multus_config(&ns, "macvlan-full");
    assert_eq!(store_and_read(&scope, smc.clone()).await?, smc);
    let scc = fixtures::full_coordinator(&scope.name("coordinator"));
    assert_eq!(store_and_read(&scope, scc.clone()).await?, scc);
    Ok(())
}

/// `replace_status` and `replace` are compare-and-swap on resourceVersion: a
/// stale version gets 409 Conflict and changes nothing.
#[tokio::test]
async fn stale_resource_version_is_a_conflict() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("cas");
    let mut pool = fixtures::seed_ippool();
    pool.metadata.name = Some(scope.name("pool"));
    let name = pool.metadata.name.clone().unwrap();
    let api = SpiderIPPool::api(cluster.client(), None);
    let created = scope.create(pool).await?;

    let mut first = created.clone();
    first.status = Some(IPPoolStatus { allocated_ip_count: Some(1), ..Default::default() });
    let written = api.replace_status(&name, &PostParams::default(), &first).await?;
    assert_ne!(written.metadata.resource_version, created.metadata.resource_version);

    let mut stale = created.clone();
    stale.status = Some(IPPoolStatus { allocated_ip_count: Some(2), ..Default::default() });
    match api.replace_status(&name, &PostParams::default(), &stale).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("stale replace_status: {other:?}"),
    }
    let now = api.get(&name).await?;
    assert_eq!(now.status.and_then(|s| s.allocated_ip_count), Some(1));

    // SpiderEndpoint has no status subresource: plain replace, same rule.
    let ns = scope.namespace("cas").await?;
    let created = scope.create(fixtures::full_endpoint(&ns, "pod-0")).await?;
    let endpoints = SpiderEndpoint::api(cluster.client(), Some(&ns));
    let mut first = created.clone();
    first.status.as_mut().unwrap().current.node = "worker02".into();
    endpoints.replace("pod-0", &PostParams::default(), &first).await?;
    match endpoints.replace("pod-0", &PostParams::default(), &created).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("stale replace: {other:?}"),
    }
    Ok(())
}

/// Server-side apply and merge patches work with the typed objects.
#[tokio::test]
async fn server_side_apply_and_merge_patch() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("ssa");
    let name = scope.name("reserved");
    scope.track::<SpiderReservedIP>(None, &name);
    let api = SpiderReservedIP::api(cluster.client(), None);
    let object = KubeObject::from_core(fixtures::full_reserved_ip(&name))?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = api.patch(&name, &params, &Patch::Apply(&object)).await?;
    assert_eq!(applied.spec, object.spec);
    let merge = serde_json::json!({"spec": {"ips": ["fd00::99"]}});
    let patched = api.patch(&name, &PatchParams::default(), &Patch::Merge(&merge)).await?;
    assert_eq!(patched.into_core().spec.ips, vec!["fd00::99".to_owned()]);
    Ok(())
}

/// kube-runtime's watcher works over the typed objects (what reflectors need).
#[tokio::test]
async fn watcher_sees_created_pool() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("watch");
    let label = scope.name("w");
    let api = SpiderIPPool::api(cluster.client(), None);
    let config = watcher::Config::default().labels(&format!("spiderpool-rs.test/watch={label}"));
    let mut events = watcher::watcher(api, config).applied_objects().boxed();

    let mut pool = fixtures::seed_ippool();
    pool.metadata.name = Some(label.clone());
    pool.metadata.labels = Some([("spiderpool-rs.test/watch".to_owned(), label.clone())].into());
    let created = scope.create(pool).await?;
    let seen = tokio::time::timeout(Duration::from_secs(30), events.try_next()).await??;
    let seen = seen.unwrap();
    assert_eq!(seen.metadata.name, created.metadata.name);
    assert_eq!(seen.into_core().spec.subnet, "10.6.0.0/16");
    Ok(())
}

/// `kubectl get` prints Spiderpool's columns for every kind that has them (and,
/// as with Spiderpool's CRDs, no AGE column: the API server adds it only to
/// kinds without printer columns).
#[tokio::test]
async fn kubectl_get_prints_spiderpools_columns() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("columns");
    let ns = scope.namespace("columns").await?;

    let pool = fixtures::full_ippool(&scope.name("pool"));
    let pool_name = pool.metadata.name.clone().unwrap();
    store_and_read(&scope, pool).await?;
    let table = kubectl_table(&cluster, &["get", "sp", &pool_name, "-o", "wide"])?;
    assert_eq!(
        table[0],
        [
            "NAME",
            "VERSION",
            "SUBNET",
            "ALLOCATED-IP-COUNT",
            "TOTAL-IP-COUNT",
            "DEFAULT",
            "DISABLE",
            "NODENAME",
            "MULTUSNAME",
            "APP-NAMESPACE"
        ]
    );
    assert_eq!(table[1][..6], [pool_name.as_str(), "4", "10.7.0.0/16", "1", "11", "true"]);
    assert_eq!(table[1][6..], ["false", r#"["node-1"]"#, r#"["kube-system/macvlan"]"#, "yes"]);
    let narrow = kubectl_table(&cluster, &["get", "sp", &pool_name])?;
    assert_eq!(narrow[0].len(), 6, "{narrow:?}");

    let subnet = fixtures::full_subnet(&scope.name("subnet"));
    let subnet_name = subnet.metadata.name.clone().unwrap();
    store_and_read(&scope, subnet).await?;
    let table = kubectl_table(&cluster, &["get", "ss", &subnet_name])?;
    assert_eq!(table[0], ["NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT"]);
    assert_eq!(table[1], [subnet_name.as_str(), "4", "10.9.0.0/16", "3", "90"]);

    let reserved = fixtures::full_reserved_ip(&scope.name("reserved"));
    let reserved_name = reserved.metadata.name.clone().unwrap();
    scope.create(reserved).await?;
    let table = kubectl_table(&cluster, &["get", "sr", &reserved_name])?;
    assert_eq!(table[0], ["NAME", "VERSION"]);
    assert_eq!(table[1], [reserved_name.as_str(), "6"]);

    scope.create(fixtures::full_endpoint(&ns, "nginx-4653bc4f24-xngkm")).await?;
    let table = kubectl_table(&cluster, &["get", "se", "-n", &ns])?;
    assert_eq!(table[0], ["NAME", "INTERFACE", "IPV4POOL", "IPV4", "IPV6POOL", "IPV6", "NODE"]);
    assert_eq!(
        table[1],
        [
            "nginx-4653bc4f24-xngkm",
            "net1",
            "10-6-v4",
            "10.6.212.202/16",
            "fd00-6-v6",
            "fd00:6::202/64",
            "worker01"
        ]
    );

    // Kinds without printer columns list by name; the category lists them all.
    scope.create(fixtures::full_multus_config(&ns, "macvlan-full")).await?;
    let table = kubectl_table(&cluster, &["get", "smc", "-n", &ns])?;
    assert_eq!(table[0], ["NAME", "AGE"]);
    let all = kubectl_text(&cluster, &["get", "spiderpool", "-n", &ns])?;
    for wanted in ["spiderendpoint", "spidermultusconfig", "spiderippool", "spidersubnet"] {
        assert!(all.contains(wanted), "{wanted} missing from:\n{all}");
    }
    Ok(())
}

/// Objects a scope created are deleted when the test panics, finalizers and
/// all.
#[tokio::test]
async fn scope_cleans_up_when_a_test_panics() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let inner = cluster.clone();
    let name = cluster.scope("naming").name("doomed");
    let pool_name = name.clone();
    let failing = tokio::spawn(async move {
        let scope = inner.scope("panic");
        let mut pool = fixtures::seed_ippool();
        pool.metadata.name = Some(pool_name);
        pool.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
        scope.create(pool).await.unwrap();
        panic!("the test fails after creating its pool");
    });
    assert!(failing.await.unwrap_err().is_panic());
    let api = SpiderIPPool::api(cluster.client(), None);
    assert!(api.get_opt(&name).await?.is_none(), "{name} survived the failed test");
    Ok(())
}

/// The harness names are unique and valid Kubernetes names; every kind's `Api`
/// lists.
#[tokio::test]
async fn scope_names_are_unique_dns_labels() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("A_Very_Long_Test_Name_That_Keeps_Going_And_Going_Beyond_Limits");
    let a = scope.name("Pool");
    let b = scope.name("Pool");
    assert_ne!(a, b);
    for n in [&a, &b] {
        assert!(n.len() <= 63, "{n}");
        assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{n}");
    }
    let lp = ListParams::default().limit(1);
    SpiderIPPool::api(cluster.client(), None).list(&lp).await?;
    SpiderSubnet::api(cluster.client(), None).list(&lp).await?;
    SpiderReservedIP::api(cluster.client(), None).list(&lp).await?;
    SpiderEndpoint::api(cluster.client(), None).list(&lp).await?;
    SpiderMultusConfig::api(cluster.client(), None).list(&lp).await?;
    SpiderCoordinator::api(cluster.client(), None).list(&lp).await?;
    Ok(())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn kubectl_text(cluster: &TestCluster, args: &[&str]) -> TestResult<String> {
    let out = cluster.kubectl().args(args).output()?;
    if !out.status.success() {
        return Err(format!("kubectl {args:?}: {}", stderr(&out)).into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `kubectl` output as rows of whitespace-separated cells.
fn kubectl_table(cluster: &TestCluster, args: &[&str]) -> TestResult<Vec<Vec<String>>> {
    let text = kubectl_text(cluster, args)?;
    Ok(text.lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect())
}

/// The `spiderpool.spidernet.io/v2beta1` YAML blocks of the README and docs/.
fn doc_examples() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut examples = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start().starts_with("```yaml") => {
                    block = Some((n + 1, String::new()))
                }
                None => {}
                Some((start, body)) if line.trim_start().starts_with("```") => {
                    if body.contains("apiVersion: spiderpool.spidernet.io/v2beta1") {
                        examples.push((format!("{}:{start}", file.display()), body.clone()));
                    }
                    block = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    examples
}

/// Every Spiderpool YAML example in the README and docs/ is accepted by the API
/// server (`kubectl apply --dry-run=server`: validated against the CRDs,
/// nothing stored).
#[tokio::test]
async fn docs_yaml_examples_apply() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let examples = doc_examples();
    assert!(!examples.is_empty());
    for (place, yaml) in examples {
        let mut child = cluster
            .kubectl()
            .args(["apply", "--dry-run=server", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(yaml.as_bytes())?;
        let out = child.wait_with_output()?;
        assert!(out.status.success(), "{place}: {}\n{yaml}", stderr(&out));
    }
    Ok(())
}
