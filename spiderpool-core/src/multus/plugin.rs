//! The CNI objects of a rendered NetworkAttachmentDefinition config.
//!
//! Each plugin is a struct whose field order is the JSON key order Spiderpool's
//! Go structs produce (`pkg/multuscniconfig/utils.go`), so the config string is
//! stable and reads like Spiderpool's. Empty optional values are omitted as Go's
//! `omitempty` does.

use serde::Serialize;

use crate::model::{BondConfig, Route, Trunk};

/// The top-level conflist. Go marshals a map, so the keys come out sorted:
/// `cniVersion`, `name`, `plugins`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfList {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub name: String,
    pub plugins: Vec<Plugin>,
}

/// One entry of `plugins`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Plugin {
    Ifacer(IfacerConf),
    Macvlan(MacvlanConf),
    Ipvlan(IpvlanConf),
    Vlan(VlanConf),
    Sriov(SriovConf),
    IbSriov(IbSriovConf),
    Ipoib(IpoibConf),
    Ovs(OvsConf),
    /// `{"type": "rdma"}`.
    Rdma(TypeOnly),
    /// A `chainCNIJsonData` entry, as parsed (keys sorted, as Go's
    /// `map[string]interface{}` round trip sorts them).
    Chain(serde_json::Value),
    Coordinator(CoordinatorConf),
    Tuning(TuningConf),
}

/// A plugin with only a `type`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TypeOnly {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The `ipam` block of the main plugin (Go `IPAMConfig`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IpamConf {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_ipv4_ippool: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_ipv6_ippool: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub match_master_subnet: bool,
}

/// Go `MacvlanNetConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MacvlanConf {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub master: String,
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
}

/// Go `IPvlanNetConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IpvlanConf {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub master: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
}

/// Go `VlanNetConf` (Spiderpool's vlan plugin understands `vlanMode`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VlanConf {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub master: String,
    #[serde(rename = "vlanMode")]
    pub vlan_mode: &'static str,
    #[serde(rename = "vlanId", skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
}

/// Go `SRIOVNetConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SriovConf {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_tx_rate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tx_rate: Option<i64>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
}

/// Go `IBSRIOVNetConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IbSriovConf {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkey: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_state: Option<String>,
    #[serde(rename = "rdmaIsolation", skip_serializing_if = "Option::is_none")]
    pub rdma_isolation: Option<bool>,
    #[serde(rename = "ibKubernetesEnabled", skip_serializing_if = "Option::is_none")]
    pub ib_kubernetes_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
}

/// Go `IPoIBNetConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IpoibConf {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub master: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
}

/// Go `OvsNetConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OvsConf {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i32>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub bridge: String,
    #[serde(rename = "deviceID", skip_serializing_if = "String::is_empty")]
    pub device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trunk: Vec<Trunk>,
}

/// Go `IfacerNetConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IfacerConf {
    #[serde(rename = "vlanID", skip_serializing_if = "is_zero")]
    pub vlan_id: i32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bond: Option<BondConfig>,
}

/// Go `tuningConf`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TuningConf {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub mtu: i32,
}

/// Go `CoordinatorConfig`, in its key order, plus `vethMTU` and `policyRoutes`
/// (which Spiderpool's plugin reads too).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct CoordinatorConf {
    #[serde(rename = "txQueueLen", skip_serializing_if = "Option::is_none")]
    pub tx_queue_len: Option<i64>,
    #[serde(rename = "vethLinkAddress", skip_serializing_if = "String::is_empty")]
    pub veth_link_address: String,
    #[serde(rename = "vethMTU", skip_serializing_if = "Option::is_none")]
    pub veth_mtu: Option<i64>,
    #[serde(rename = "tunePodRoutes", skip_serializing_if = "Option::is_none")]
    pub tune_pod_routes: Option<bool>,
    #[serde(rename = "podMACPrefix", skip_serializing_if = "String::is_empty")]
    pub pod_mac_prefix: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "podDefaultRouteNic", skip_serializing_if = "String::is_empty")]
    pub pod_default_route_nic: String,
    #[serde(rename = "podRPFilter", skip_serializing_if = "Option::is_none")]
    pub pod_rp_filter: Option<i64>,
    #[serde(rename = "hijackCIDR", skip_serializing_if = "Vec::is_empty")]
    pub hijack_cidr: Vec<String>,
    #[serde(rename = "policyRoutes", skip_serializing_if = "Vec::is_empty")]
    pub policy_routes: Vec<Route>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}
