//! SpiderMultusConfig → NetworkAttachmentDefinition against a real API
//! server (the NAD CRD from `testdata/`, installed by the harness): create,
//! update on change (Spiderpool #2008), drift repair, re-creation after a
//! deletion, the owner reference, two SMCs claiming one NAD name (#4167),
//! an SMC that bypassed admission, and what SMCs read back with the CRD
//! defaults applied render.
//!
//! Needs `SPIDERPOOL_TEST_KUBECONFIG`; skips with a message otherwise.
#![allow(clippy::unwrap_used)]

mod reconcile_support;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use reconcile_support::{LABEL, event, events, eventually, options, start};
use serde_json::{Value, json};
use spiderpool_core::model::SpiderMultusConfig;
use spiderpool_k8s::MultusConfigObject;
use spiderpool_k8s::reconcile::nad::{self, nad_resource};
use spiderpool_k8s::testing::{TestCluster, TestResult};

fn smc(
    namespace: &str,
    name: &str,
    label: &str,
    annotations: Value,
    spec: Value,
) -> SpiderMultusConfig {
    serde_json::from_value(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderMultusConfig",
        "metadata": {"name": name, "namespace": namespace, "labels": {LABEL: label},
                     "annotations": annotations},
        "spec": spec,
    }))
    .unwrap()
}

async fn create(
    client: &kube::Client,
    object: SpiderMultusConfig,
) -> TestResult<MultusConfigObject> {
    let ns = object.metadata.namespace.clone().unwrap();
    let api: Api<MultusConfigObject> = Api::namespaced(client.clone(), &ns);
    Ok(api.create(&PostParams::default(), &MultusConfigObject::from_core(object)?).await?)
}

fn nads(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &nad_resource())
}

/// The NAD's `spec.config` parsed, and its controller owner's name.
async fn nad_state(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> TestResult<Option<(Value, String)>> {
    let Some(n) = nads(client, ns).get_opt(name).await? else { return Ok(None) };
    let config = n.data["spec"]["config"]
        .as_str()
        .map(serde_json::from_str)
        .transpose()?
        .unwrap_or(Value::Null);
    let owner = n
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.name)
        .unwrap_or_default();
    Ok(Some((config, owner)))
}

async fn nad_until(
    client: &kube::Client,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value, &str) -> bool,
) -> TestResult<Value> {
    eventually(what, || async {
        Ok(match nad_state(client, ns, name).await? {
            Some((config, owner)) if check(&config, &owner) => Ok(config),
            Some((config, owner)) => Err(format!("owner {owner:?}, config {config}")),
            None => Err("no NAD".into()),
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nad_follows_its_smc_create_update_drift_delete() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("rc-nad");
    let ns = scope.namespace("rc-nad").await?;
    let label = scope.name("l");
    let client = cluster.client();
    let created = create(
        &client,
        smc(
            &ns,
            "macvlan-eth0",
            &label,
            json!({}),
            json!({"cniType": "macvlan", "macvlan": {"master": ["eth0"]}}),
        ),
    )
    .await?;
    let mut opts = options(&label);
    opts.multus_config = true;
    let running = start(client.clone(), opts);

    let config = nad_until(&client, &ns, "macvlan-eth0", "NAD created", |c, o| {
        o == "macvlan-eth0" && c["plugins"][0]["master"] == "eth0"
    })
    .await?;
    assert_eq!(config["name"], "macvlan-eth0");
    let stored = nads(&client, &ns).get("macvlan-eth0").await?;
    let owner = &stored.metadata.owner_references.unwrap()[0];
    assert_eq!(owner.uid, created.metadata.uid.clone().unwrap());
    assert_eq!(
        (owner.kind.as_str(), owner.controller, owner.block_owner_deletion),
        ("SpiderMultusConfig", Some(true), Some(true))
    );

    // #2008: an update always reaches the NAD, several in a row as well.
    let smcs: Api<MultusConfigObject> = Api::namespaced(client.clone(), &ns);
    for master in ["eth1", "eth2"] {
        let patch = json!({"spec": {"macvlan": {"master": [master]}}});
        smcs.patch("macvlan-eth0", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    nad_until(&client, &ns, "macvlan-eth0", "update reached the NAD", |c, _| {
        c["plugins"][0]["master"] == "eth2"
    })
    .await?;

    // Drift: a hand edit of the config is repaired; a user's label stays.
    let drift = json!({"metadata": {"labels": {"team": "a"}}, "spec": {"config": "{\"cniVersion\":\"0.3.1\",\"name\":\"x\",\"plugins\":[]}"}});
    nads(&client, &ns)
        .patch("macvlan-eth0", &PatchParams::default(), &Patch::Merge(&drift))
        .await?;
    nad_until(&client, &ns, "macvlan-eth0", "drift repaired", |c, _| {
        c["plugins"][0]["master"] == "eth2"
    })
    .await?;
    let labels = nads(&client, &ns).get("macvlan-eth0").await?.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("a"));

    // Deleted: re-created.
    nads(&client, &ns).delete("macvlan-eth0", &DeleteParams::default()).await?;
    nad_until(&client, &ns, "macvlan-eth0", "NAD re-created", |c, o| {
        o == "macvlan-eth0" && c["plugins"][0]["master"] == "eth2"
    })
    .await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// Spiderpool #4167: the later SMC claiming a NAD name gets an event naming
/// the earlier one, and the NAD stays the earlier one's; when the earlier one
/// is deleted, the later one takes the name over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_smc_claiming_a_nad_name_is_refused() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("rc-claim");
    let ns = scope.namespace("rc-claim").await?;
    let label = scope.name("l");
    let client = cluster.client();
    let cr = json!({"multus.spidernet.io/cr-name": "shared"});
    create(
        &client,
        smc(
            &ns,
            "first",
            &label,
            cr.clone(),
            json!({"cniType": "macvlan", "macvlan": {"master": ["eth0"]}}),
        ),
    )
    .await?;
    // creationTimestamp has one-second resolution: make "second" later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    create(
        &client,
        smc(
            &ns,
            "second",
            &label,
            cr,
            json!({"cniType": "ipvlan", "ipvlan": {"master": ["eth9"]}}),
        ),
    )
    .await?;
    let mut opts = options(&label);
    opts.multus_config = true;
    let running = start(client.clone(), opts);

    let note = event(&client, &ns, "second", nad::CONFLICT).await?;
    assert!(
        note.contains(&format!("which SpiderMultusConfig {ns}/first (created before it) owns")),
        "{note}"
    );
    nad_until(&client, &ns, "shared", "NAD stays the first one's", |c, o| {
        o == "first" && c["plugins"][0]["type"] == "macvlan"
    })
    .await?;
    let on_first = events(&client, &ns, "first").await?;
    assert!(!on_first.iter().any(|(_, r, _)| r == nad::CONFLICT), "{on_first:?}");

    let smcs: Api<MultusConfigObject> = Api::namespaced(client.clone(), &ns);
    smcs.delete("first", &DeleteParams::default()).await?;
    nad_until(&client, &ns, "shared", "the second SMC takes the name over", |c, o| {
        o == "second" && c["plugins"][0]["type"] == "ipvlan"
    })
    .await?;
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// Bad input: an SMC that bypassed admission (a macvlan SMC without its
/// section) is reported and skipped; the good SMC next to it gets its NAD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smc_that_bypassed_admission_is_reported_and_skipped() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("rc-badsmc");
    let ns = scope.namespace("rc-badsmc").await?;
    let label = scope.name("l");
    let client = cluster.client();
    create(&client, smc(&ns, "broken", &label, json!({}), json!({"cniType": "macvlan"}))).await?;
    create(
        &client,
        smc(
            &ns,
            "fine",
            &label,
            json!({}),
            json!({"cniType": "macvlan", "macvlan": {"master": ["eth0"]}}),
        ),
    )
    .await?;
    let mut opts = options(&label);
    opts.multus_config = true;
    let running = start(client.clone(), opts);
    let note = event(&client, &ns, "broken", nad::INVALID).await?;
    assert!(note.contains(&format!("SpiderMultusConfig {ns}/broken")), "{note}");
    nad_until(&client, &ns, "fine", "the good SMC's NAD", |_, o| o == "fine").await?;
    assert!(nad_state(&client, &ns, "broken").await?.is_none());
    running.stop().await?;
    drop(scope);
    Ok(())
}

/// SMCs read back from the API server carry the CRD's defaults; what the
/// reconciler renders from them must still be what Spiderpool renders
/// (reference §7, issue 9 item 1): no `mtu`, `podRPFilter` or `txQueueLen`
/// the user did not set (a key in the NAD wins over the SpiderCoordinator),
/// and the keys the user did set. Regression: the CRD defaulted those keys
/// to 0, so every stored SMC rendered `"mtu":0` (and, with a coordinator
/// block, `"podRPFilter":0,"txQueueLen":0`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smcs_read_back_with_crd_defaults_render_what_spiderpool_renders() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("rc-render");
    let ns = scope.namespace("rc-render").await?;
    let client = cluster.client();
    let cases = [
        (
            "plain",
            json!({"cniType": "macvlan", "macvlan": {"master": ["ens192"]}}),
            json!([{"type": "macvlan", "master": "ens192", "mode": "bridge", "ipam": {"type": "spiderpool"}},
                   {"type": "coordinator", "mode": "auto", "tunePodRoutes": true}]),
        ),
        (
            "block",
            json!({"cniType": "macvlan", "macvlan": {"master": ["ens192"]}, "coordinator": {"mode": "underlay"}}),
            json!([{"type": "macvlan", "master": "ens192", "mode": "bridge", "ipam": {"type": "spiderpool"}},
                   {"type": "coordinator", "mode": "underlay", "tunePodRoutes": true}]),
        ),
        (
            "set",
            json!({"cniType": "ipvlan", "ipvlan": {"master": ["ens192"], "mtu": 1400},
                   "coordinator": {"podRPFilter": 2, "txQueueLen": 1000}}),
            json!([{"type": "ipvlan", "master": "ens192", "mtu": 1400, "ipam": {"type": "spiderpool"}},
                   {"type": "coordinator", "txQueueLen": 1000, "tunePodRoutes": true, "mode": "auto", "podRPFilter": 2}]),
        ),
    ];
    for (name, spec, want) in cases {
        let stored =
            create(&client, smc(&ns, name, "none", json!({}), spec.clone())).await?.into_core();
        let rendered = nad::desired_nad(&stored)?;
        let config: Value = serde_json::from_str(rendered.spec.config.as_deref().unwrap())?;
        assert_eq!(
            config["plugins"],
            want,
            "{name}: stored spec {}",
            serde_json::to_string(&stored.spec)?
        );
    }
    drop(scope);
    Ok(())
}
