//! KubeVirt's two CRDs the pod rules read (`kubevirt.io/v1`
//! VirtualMachine and VirtualMachineInstance), for tests that play KubeVirt
//! on a cluster without it: schema-less (`x-kubernetes-preserve-unknown-fields`),
//! which is all an API server needs to store objects of those kinds.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

use super::{ESTABLISH_TIMEOUT, FIELD_MANAGER, TestResult};

/// The CRD of KubeVirt kind `kind` (plural `plural`, short name `short`).
fn crd(kind: &str, plural: &str, short: &str) -> TestResult<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.kubevirt.io")},
        "spec": {
            "group": "kubevirt.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                "shortNames": [short]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema":
                    {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))?)
}

/// Server-side applies the VirtualMachine and VirtualMachineInstance CRDs
/// and waits until both are Established. They are left installed (like the
/// project's own CRDs): a CRD deleted at the end of one test would still be
/// terminating when the next one applies it.
pub async fn install_kubevirt_crds(client: &Client) -> TestResult<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for object in [
        crd("VirtualMachine", "virtualmachines", "vm")?,
        crd("VirtualMachineInstance", "virtualmachineinstances", "vmi")?,
    ] {
        let name = object.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&object))
            .await
            .map_err(|e| format!("applying CRD {name}: {e}"))?;
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(ESTABLISH_TIMEOUT, established)
            .await
            .map_err(|_| format!("CRD {name} not Established after {ESTABLISH_TIMEOUT:?}"))??;
    }
    Ok(())
}
