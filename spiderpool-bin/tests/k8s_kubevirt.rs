//! KubeVirt fixed addresses with `spiderpool-agent --store kubernetes` as a
//! process against a real API server (`SPIDERPOOL_TEST_KUBECONFIG`; without
//! it the test prints why it skips). KubeVirt itself does not run here: the
//! test installs the `kubevirt.io/v1` VirtualMachine and
//! VirtualMachineInstance CRDs (schema-less, as far as the agent is
//! concerned; `spiderpool_k8s::testing::install_kubevirt_crds`) and plays KubeVirt and the kubelet: it creates the VM, its VMI
//! and the virt-launcher pods, and calls the agent's socket as the IPAM
//! plugin does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;
mod k8s_agent_support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use serde_json::json;
use spiderpool_core::kind::by_kind;
use spiderpool_k8s::dynamic::api_resource;
use spiderpool_k8s::testing::{TestResult, install_kubevirt_crds};

use k8s_agent_support::{Env, IPPOOL, add, del, get, ip_of, wait_healthy};

/// The API of KubeVirt kind `kind` in the test's namespace.
fn api(env: &Env, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(env.client(), &env.ns, &api_resource(by_kind(kind).unwrap()))
}

/// Creates `kind` `name`, owned by `owner` (kind, name, uid) when given;
/// returns its UID.
async fn create(
    env: &Env,
    kind: &str,
    name: &str,
    owner: Option<(&str, &str, &str)>,
) -> TestResult<String> {
    let owners: Vec<_> = owner
        .map(|(k, n, u)| json!({"apiVersion": "kubevirt.io/v1", "kind": k, "name": n, "uid": u, "controller": true}))
        .into_iter()
        .collect();
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1", "kind": kind,
        "metadata": {"name": name, "ownerReferences": owners}, "spec": {}
    }))?;
    let created = api(env, kind).create(&PostParams::default(), &object).await?;
    Ok(created.metadata.uid.unwrap_or_default())
}

/// A virt-launcher pod of VMI `vmi` on the test's node, asking for `pool`.
async fn launcher(env: &Env, name: &str, vmi: (&str, &str), pool: &str) -> TestResult<String> {
    let object: Pod = serde_json::from_value(json!({
        "metadata": {"name": name,
            "annotations": {IPPOOL: format!("{{\"ipv4\":[\"{pool}\"]}}")},
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "name": vmi.0, "uid": vmi.1, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"nodeName": env.node, "automountServiceAccountToken": false,
                 "containers": [{"name": "compute", "image": "none"}]}
    }))?;
    env.scope.track_resource::<Pod>(Some(&env.ns), name);
    let created = Api::<Pod>::namespaced(env.client(), &env.ns)
        .create(&PostParams::default(), &object)
        .await?;
    Ok(created.metadata.uid.unwrap_or_default())
}

/// Starts the deletion of pod `name` and leaves it terminating, as a pod is
/// while its kubelet tears the sandbox down (the CNI DEL comes then): the
/// pod has a node and no kubelet here confirms the end of its containers.
async fn terminate(env: &Env, name: &str) -> TestResult<()> {
    let params = DeleteParams { grace_period_seconds: Some(300), ..DeleteParams::default() };
    Api::<Pod>::namespaced(env.client(), &env.ns).delete(name, &params).await?;
    Ok(())
}

/// The kubelet's end of launcher pod `name`: DEL while the pod is
/// terminating, then the pod object goes.
async fn kubelet_del(
    env: &Env,
    socket: &std::path::Path,
    name: &str,
    uid: &str,
    container: &str,
) -> TestResult<()> {
    terminate(env, name).await?;
    del(socket, &env.ns, name, uid, container).map_err(|e| format!("DEL {name}: {e}"))?;
    env.delete_pod(name).await
}

/// A VM's address follows its VirtualMachineInstance across launcher pods
/// (Spiderpool's KubeVirt static IP, reference §4.10): the endpoint and the
/// pool record go by the VMI's name, have no owner reference; a launcher
/// pod's DEL keeps the address while the VMI or the VM exists; the next
/// launcher pod (new name, new UID) gets the same address; the coordinator's
/// workload-endpoint query finds it by the launcher pod's name; with the VM
/// and the VMI deleted, the DEL frees address and endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_keeps_its_address_across_launcher_pods_until_it_is_deleted() -> TestResult<()> {
    let Some(env) = Env::new("k8s-kubevirt").await? else { return Ok(()) };
    install_kubevirt_crds(&env.client()).await?;
    let pool = env.pool("vm", "10.207.0.0/16", &["10.207.0.10-10.207.0.20"]).await?;
    let mut agent = env.agent("a", &[]);
    wait_healthy(&mut agent, Duration::from_secs(60));

    let filler = env.pod("filler", &pool).await?;
    let other = add(&agent.socket, &env.ns, "filler", &filler, "cf")
        .unwrap_or_else(|e| panic!("ADD filler: {e}; log:\n{}", agent.log_text()));
    let vm_uid = create(&env, "VirtualMachine", "vm1", None).await?;
    let vmi_uid =
        create(&env, "VirtualMachineInstance", "vm1", Some(("VirtualMachine", "vm1", &vm_uid)))
            .await?;
    let uid1 = launcher(&env, "virt-launcher-vm1-aaaaa", ("vm1", &vmi_uid), &pool).await?;
    let first = add(&agent.socket, &env.ns, "virt-launcher-vm1-aaaaa", &uid1, "c1")
        .unwrap_or_else(|e| panic!("ADD: {e}; log:\n{}", agent.log_text()));
    let ip = ip_of(&first);
    let ep = env.endpoint("vm1").await?.expect("the endpoint goes by the VMI's name");
    assert_eq!(ep.metadata.owner_references, None, "it outlives the launcher pod");
    assert_eq!(
        (ep.status.owner_controller_type.as_str(), ep.status.owner_controller_name.as_str()),
        ("VirtualMachineInstance", "vm1")
    );
    assert!(env.endpoint("virt-launcher-vm1-aaaaa").await?.is_none());
    let records = env.records(&pool).await?;
    assert_eq!(records[&ip].pod, format!("{}/vm1", env.ns));
    let path =
        format!("/v1/workloadendpoint?podNamespace={}&podName=virt-launcher-vm1-aaaaa", env.ns);
    let wep = get(&agent.socket, &path).unwrap();
    assert_eq!(wep["interfaces"][0]["ipv4"], json!(format!("{ip}/16")), "{wep}");

    // The launcher pod ends (a VM restart or migration): its DEL keeps the address.
    kubelet_del(&env, &agent.socket, "virt-launcher-vm1-aaaaa", &uid1, "c1").await?;
    assert!(env.records(&pool).await?.contains_key(&ip), "kept for the VM");
    // The filler's lower address is freed, so a fresh allocation for the VM
    // would now get that one, not the VM's.
    kubelet_del(&env, &agent.socket, "filler", &filler, "cf").await?;
    assert!(!env.records(&pool).await?.contains_key(&ip_of(&other)));

    // The next launcher pod gets the same address; the record follows it.
    let uid2 = launcher(&env, "virt-launcher-vm1-bbbbb", ("vm1", &vmi_uid), &pool).await?;
    let second = add(&agent.socket, &env.ns, "virt-launcher-vm1-bbbbb", &uid2, "c2")
        .unwrap_or_else(|e| panic!("ADD: {e}; log:\n{}", agent.log_text()));
    assert_eq!(ip_of(&second), ip, "same address for the VM's new launcher pod");
    assert_eq!(env.records(&pool).await?[&ip].pod_uid, uid2);
    assert_eq!(env.endpoint("vm1").await?.expect("endpoint").status.current.uid, uid2);

    // The VMI goes but the VM stays (a stopped VM): still kept.
    let gone = DeleteParams::default();
    api(&env, "VirtualMachineInstance").delete("vm1", &gone).await?;
    kubelet_del(&env, &agent.socket, "virt-launcher-vm1-bbbbb", &uid2, "c2").await?;
    assert!(env.records(&pool).await?.contains_key(&ip), "a stopped VM keeps its address");

    // The VM is deleted: the next DEL frees the address and the endpoint.
    api(&env, "VirtualMachine").delete("vm1", &gone).await?;
    let uid3 = launcher(&env, "virt-launcher-vm1-ccccc", ("vm1", &vmi_uid), &pool).await?;
    add(&agent.socket, &env.ns, "virt-launcher-vm1-ccccc", &uid3, "c3")
        .unwrap_or_else(|e| panic!("ADD: {e}; log:\n{}", agent.log_text()));
    kubelet_del(&env, &agent.socket, "virt-launcher-vm1-ccccc", &uid3, "c3").await?;
    assert!(env.records(&pool).await?.is_empty(), "the VM's address freed with the VM");
    assert!(env.endpoint("vm1").await?.is_none(), "endpoint deleted");
    assert!(agent.terminate().success(), "log:\n{}", agent.log_text());
    Ok(())
}
