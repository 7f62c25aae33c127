//! The coordinator's routes' models: `GetCoordinatorArgs` (the body of
//! `GET /v1/coordinator/config`) and `WorkloadEndpointStatus` with
//! `InterfaceDetail` (`GET /v1/workloadendpoint`), field names exact. The
//! answer of `GET /v1/coordinator/config`, Spiderpool's `CoordinatorConfig`,
//! is [`crate::coordinator::ClusterCoordinatorConfig`] (re-exported as
//! [`super::CoordinatorConfig`]), beside the merge that reads it.

use serde::{Deserialize, Serialize};

use super::Route;

/// `GetCoordinatorArgs`: the body of `GET /v1/coordinator/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCoordinatorArgs {
    /// `podName`.
    #[serde(default)]
    pub pod_name: String,
    /// `podNamespace`.
    #[serde(default)]
    pub pod_namespace: String,
}

/// `WorkloadEndpointStatus` of the agent API (`GET /v1/workloadendpoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEndpoint {
    /// `podNamespace`.
    pub pod_namespace: String,
    /// `podName`.
    pub pod_name: String,
    /// `podUID`.
    #[serde(rename = "podUID")]
    pub pod_uid: String,
    /// `node`.
    pub node: String,
    /// `interfaces`.
    pub interfaces: Vec<InterfaceDetail>,
}

/// `InterfaceDetail`: one NIC of a [`WorkloadEndpoint`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceDetail {
    /// `interface`.
    pub interface: String,
    /// `ipv4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// `ipv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// `ipv4Pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_pool: Option<String>,
    /// `ipv6Pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_pool: Option<String>,
    /// `ipv4Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_gateway: Option<String>,
    /// `ipv6Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<String>,
    /// `routes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// `mac` (only if set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// `vlan` (only if non-zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
}
