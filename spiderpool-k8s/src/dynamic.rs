//! Kinds spiderpool-k8s reads without a Rust type of their own, through
//! kube's dynamic API: [`api_resource`] turns an entry of the core's kind
//! table into kube's [`ApiResource`], and [`kubevirt_api`] gives the API of
//! the KubeVirt owners the pod rules read (`kubevirt.io/v1`
//! VirtualMachineInstance and VirtualMachine).
//!
//! KubeVirt objects are read from the API server when a rule asks for them,
//! not watched: only virt-launcher pods lead to them, a watch would need the
//! CRDs to exist when the agent starts (KubeVirt may be installed later), and
//! a release decision wants the object as it is now. Where KubeVirt is not
//! installed the API server answers 404 for the resource, which reads as
//! "no such object".

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use spiderpool_core::kind::{KindInfo, by_kind};
use spiderpool_core::pod::ControllerKind;

/// The kind table's entry as kube's dynamic resource (group, version,
/// kind and the table's plural, which kube would not always guess).
pub fn api_resource(info: &KindInfo) -> ApiResource {
    let (group, version) = info.api_version.split_once('/').unwrap_or(("", info.api_version));
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, info.kind),
        info.plural,
    )
}

/// The namespaced API of a KubeVirt controller kind in `namespace`; `None`
/// for the other kinds.
pub fn kubevirt_api(
    client: Client,
    kind: ControllerKind,
    namespace: &str,
) -> Option<Api<DynamicObject>> {
    if !matches!(kind, ControllerKind::VirtualMachineInstance | ControllerKind::VirtualMachine) {
        return None;
    }
    let resource = api_resource(by_kind(kind.as_str())?);
    Some(Api::namespaced_with(client, namespace, &resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubevirt_kinds_map_to_their_group_and_plural() {
        let vmi = api_resource(by_kind("VirtualMachineInstance").expect("in the kind table"));
        assert_eq!(
            (vmi.group.as_str(), vmi.version.as_str(), vmi.plural.as_str()),
            ("kubevirt.io", "v1", "virtualmachineinstances")
        );
        let pod = api_resource(by_kind("Pod").expect("in the kind table"));
        assert_eq!(
            (pod.group.as_str(), pod.api_version.as_str(), pod.plural.as_str()),
            ("", "v1", "pods")
        );
    }
}
