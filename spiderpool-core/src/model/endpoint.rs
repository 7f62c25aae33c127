//! `SpiderEndpoint` (`se`, namespaced, no spec): the per-pod (or per-KubeVirt-VM)
//! record of what the pod was given, written by the agent with plain updates.

use serde::{Deserialize, Serialize};

use super::{ObjectMeta, Route, SpiderResource, null_default};

/// A `SpiderEndpoint`. It has no `spec`; everything is in `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiderEndpoint {
    /// `apiVersion` (`spiderpool.spidernet.io/v2beta1`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `kind` (`SpiderEndpoint`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object metadata: name and namespace are the pod's (or the VMI's).
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// The allocation record (a Go non-pointer struct: always printed).
    #[serde(default, deserialize_with = "null_default")]
    pub status: WorkloadEndpointStatus,
}

impl SpiderEndpoint {
    /// `kind` of this resource.
    pub const KIND: &'static str = "SpiderEndpoint";
    /// Plural resource name (URL path segment).
    pub const PLURAL: &'static str = "spiderendpoints";
    /// Singular resource name.
    pub const SINGULAR: &'static str = "spiderendpoint";
    /// `kubectl` short name.
    pub const SHORT_NAME: &'static str = "se";
    /// True when objects of this kind live in a namespace.
    pub const NAMESPACED: bool = true;

    /// An endpoint `namespace/name` with `status`, `apiVersion` and `kind` set.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        status: WorkloadEndpointStatus,
    ) -> Self {
        let mut metadata = ObjectMeta::named(name);
        metadata.namespace = Some(namespace.into());
        Self {
            api_version: super::API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            metadata,
            status,
        }
    }
}

impl SpiderResource for SpiderEndpoint {
    const KIND: &'static str = Self::KIND;
    const PLURAL: &'static str = Self::PLURAL;
    const SINGULAR: &'static str = Self::SINGULAR;
    const SHORT_NAME: &'static str = Self::SHORT_NAME;
    const NAMESPACED: bool = Self::NAMESPACED;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `status` of a [`SpiderEndpoint`] (Go `WorkloadEndpointStatus`). All three
/// fields are required and always printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEndpointStatus {
    /// The current allocation.
    #[serde(default, deserialize_with = "null_default")]
    pub current: PodIPAllocation,
    /// Kind of the pod's top-level controller (`Pod`, `Deployment`, `StatefulSet`,
    /// `VirtualMachineInstance`, a third-party kind, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub owner_controller_type: String,
    /// Name of the pod's top-level controller.
    #[serde(default, deserialize_with = "null_default")]
    pub owner_controller_name: String,
}

/// One allocation of a pod (Go `PodIPAllocation`). All fields are required and
/// always printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PodIPAllocation {
    /// UID of the pod the allocation belongs to.
    #[serde(default, deserialize_with = "null_default")]
    pub uid: String,
    /// Node the pod runs on.
    #[serde(default, deserialize_with = "null_default")]
    pub node: String,
    /// One entry per interface.
    #[serde(rename = "ips", default, deserialize_with = "null_default")]
    pub ips: Vec<IPAllocationDetail>,
}

/// What one pod interface got (Go `IPAllocationDetail`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct IPAllocationDetail {
    /// Interface name in the pod, e.g. `net1` (required; always printed).
    #[serde(default, deserialize_with = "null_default")]
    pub interface: String,
    /// IPv4 address with the pool's prefix length, e.g. `10.6.212.202/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// IPv6 address with the pool's prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// Pool the IPv4 address came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_pool: Option<String>,
    /// Pool the IPv6 address came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_pool: Option<String>,
    /// VLAN id (0–4094, CRD default 0); deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// IPv4 gateway of the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_gateway: Option<String>,
    /// IPv6 gateway of the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<String>,
    /// True when no default route via the gateway was given; set only when a
    /// gateway exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_gateway: Option<bool>,
    /// Routes given to this interface (pool routes and the pod's `routes`
    /// annotation; not the default route).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// MAC address assigned by an IaaS provider, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn new_sets_namespace_and_type_meta() {
        let se = SpiderEndpoint::new("default", "nginx-1", WorkloadEndpointStatus::default());
        assert_eq!(se.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(se.metadata.name_str(), "nginx-1");
        assert_eq!(se.kind, "SpiderEndpoint");
        const { assert!(SpiderEndpoint::NAMESPACED) };
    }

    #[test]
    fn empty_status_prints_required_fields() {
        let v = serde_json::to_value(WorkloadEndpointStatus::default()).unwrap();
        assert_eq!(
            v,
            json!({
                "current": {"uid": "", "node": "", "ips": []},
                "ownerControllerType": "",
                "ownerControllerName": ""
            })
        );
        let detail = IPAllocationDetail { interface: "net1".into(), ..Default::default() };
        assert_eq!(serde_json::to_value(detail).unwrap(), json!({"interface": "net1"}));
    }

    #[test]
    fn detail_field_names() {
        let v = json!({
            "interface": "net1",
            "ipv4": "10.6.212.202/16",
            "ipv6": "fd00:10:6::df3/64",
            "ipv4Pool": "10-6-v4",
            "ipv6Pool": "10-6-v6",
            "vlan": 0,
            "ipv4Gateway": "10.6.0.1",
            "ipv6Gateway": "fd00:10:6::1",
            "cleanGateway": false,
            "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.254"}],
            "mac": "2a:1e:a1:db:2a:9a"
        });
        let d: IPAllocationDetail = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(d.ipv4_pool.as_deref(), Some("10-6-v4"));
        assert_eq!(d.clean_gateway, Some(false));
        assert_eq!(serde_json::to_value(&d).unwrap(), v);
    }

    #[test]
    fn null_status_reads_as_empty() {
        let se: SpiderEndpoint = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "b"},
            "status": {"current": {"uid": "u", "node": "n", "ips": null}}
        }))
        .unwrap();
        assert!(se.status.current.ips.is_empty());
        assert_eq!(se.status.current.uid, "u");
        let se: SpiderEndpoint =
            serde_json::from_value(json!({"metadata": {"name": "a"}, "status": null})).unwrap();
        assert_eq!(se.status, WorkloadEndpointStatus::default());
    }
}
