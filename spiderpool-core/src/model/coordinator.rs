//! `SpiderCoordinator` (`scc`, cluster-scoped, status subresource; normally one
//! object named `default`): cluster-wide defaults of the `coordinator` CNI plugin,
//! plus the detected pod and service CIDRs.
//!
//! [`CoordinatorSpec`] is also embedded in `SpiderMultusConfig.spec.coordinator`.

use serde::{Deserialize, Serialize};

use super::{ModelError, ObjectMeta, Route, null_default, resource_kind, string_enum};
use crate::coordinator::defaults;

/// A `SpiderCoordinator`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiderCoordinator {
    /// `apiVersion` (`spiderpool.spidernet.io/v2beta1`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `kind` (`SpiderCoordinator`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: CoordinatorSpec,
    /// Observed state, written by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CoordinatorStatus>,
}

resource_kind!(
    SpiderCoordinator,
    spec = CoordinatorSpec,
    kind = "SpiderCoordinator",
    plural = "spidercoordinators",
    singular = "spidercoordinator",
    short = "scc",
    namespaced = false
);

impl SpiderCoordinator {
    /// The name of the one SpiderCoordinator Spiderpool reads.
    pub const DEFAULT_NAME: &'static str = "default";
}

/// Coordinator settings (Go `CoordinatorSpec`), the `spec` of a
/// [`SpiderCoordinator`] and the `coordinator` block of a `SpiderMultusConfig`.
///
/// Every field is optional on the wire; the CRD defaults are given per field and
/// as associated constants. Legacy fields that Spiderpool removed
/// (`detectGateway`, `detectIPConflict`, `hostRPFilter`) are accepted on input and
/// dropped, as the API server prunes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CoordinatorSpec {
    /// `auto` (default), `underlay`, `overlay` or `disabled` (we also accept
    /// `disable`); see [`CoordinatorMode`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// How the overlay pod CIDR is found: `auto`, `cluster`, `calico`, `cilium` or
    /// `none` (required on a SpiderCoordinator); see [`PodCidrType`].
    #[serde(rename = "podCIDRType", default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr_type: Option<String>,
    /// Extra CIDRs the pod reaches through the host (e.g. `169.254.0.0/16` for
    /// node-local DNS).
    #[serde(rename = "hijackCIDR", default, deserialize_with = "null_default")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hijack_cidr: Vec<String>,
    /// Static routes installed in the pod for the current NIC.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub policy_routes: Vec<Route>,
    /// Fixed 2-byte MAC prefix for pod NICs, e.g. `0a:1b` (unicast).
    #[serde(rename = "podMACPrefix", default, skip_serializing_if = "Option::is_none")]
    pub pod_mac_prefix: Option<String>,
    /// Coordinate routes of multi-NIC pods (CRD default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune_pod_routes: Option<bool>,
    /// The NIC that keeps the pod's default route; empty keeps it where it is.
    #[serde(rename = "podDefaultRouteNIC", default, skip_serializing_if = "Option::is_none")]
    pub pod_default_route_nic: Option<String>,
    /// Host routing table for pod underlay IPs (CRD default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rule_table: Option<i64>,
    /// `rp_filter` inside the pod: 0, 1, 2, or negative to leave it (CRD default 0).
    #[serde(rename = "podRPFilter", default, skip_serializing_if = "Option::is_none")]
    pub pod_rp_filter: Option<i64>,
    /// `txqueuelen` of the pod NIC; 0 leaves it (CRD default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_queue_len: Option<i64>,
    /// Link-local IPv4 added to the pod's `veth0` (e.g. `169.254.100.1`); empty
    /// adds none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth_link_address: Option<String>,
    /// MTU of the pod's `veth0` (default 1500).
    #[serde(rename = "vethMTU", default, skip_serializing_if = "Option::is_none")]
    pub veth_mtu: Option<i64>,
}

impl CoordinatorSpec {
    /// CRD default of `mode` (from [`coordinator::defaults`](crate::coordinator::defaults),
    /// the one defaults table).
    pub const DEFAULT_MODE: &'static str = defaults::MODE;
    /// CRD default of `tunePodRoutes`.
    pub const DEFAULT_TUNE_POD_ROUTES: bool = defaults::TUNE_POD_ROUTES;
    /// CRD default of `hostRuleTable`.
    pub const DEFAULT_HOST_RULE_TABLE: i64 = defaults::HOST_RULE_TABLE as i64;
    /// Default of `vethMTU`.
    pub const DEFAULT_VETH_MTU: i64 = defaults::VETH_MTU as i64;
    /// CRD default of `podRPFilter`.
    pub const DEFAULT_POD_RP_FILTER: i64 = defaults::POD_RP_FILTER as i64;
    /// CRD default of `txQueueLen`.
    pub const DEFAULT_TX_QUEUE_LEN: i64 = defaults::TX_QUEUE_LEN as i64;

    /// `mode` as a [`CoordinatorMode`]; `None` when absent.
    pub fn parsed_mode(&self) -> Result<Option<CoordinatorMode>, ModelError> {
        self.mode.as_deref().map(|s| CoordinatorMode::parse_field("mode", s)).transpose()
    }

    /// `podCIDRType` as a [`PodCidrType`]; `None` when absent.
    pub fn parsed_pod_cidr_type(&self) -> Result<Option<PodCidrType>, ModelError> {
        self.pod_cidr_type
            .as_deref()
            .map(|s| PodCidrType::parse_field("podCIDRType", s))
            .transpose()
    }
}

/// `status` of a [`SpiderCoordinator`] (Go `CoordinatorStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CoordinatorStatus {
    /// `Synced` or `NotReady` (always printed); see [`CoordinatorPhase`].
    #[serde(default, deserialize_with = "null_default")]
    pub phase: String,
    /// Why the phase is `NotReady`.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Detected overlay pod CIDRs (always printed).
    #[serde(rename = "overlayPodCIDR", default, deserialize_with = "null_default")]
    pub overlay_pod_cidr: Vec<String>,
    /// Detected service CIDRs (always printed).
    #[serde(rename = "serviceCIDR", default, deserialize_with = "null_default")]
    pub service_cidr: Vec<String>,
}

impl CoordinatorStatus {
    /// `phase` as a [`CoordinatorPhase`].
    pub fn parsed_phase(&self) -> Result<CoordinatorPhase, ModelError> {
        CoordinatorPhase::parse_field("status.phase", &self.phase)
    }

    /// True when the phase is `Synced`.
    pub fn is_synced(&self) -> bool {
        self.phase == CoordinatorPhase::Synced.as_str()
    }
}

string_enum!(
    /// `mode` of the coordinator.
    CoordinatorMode, field = "mode", {
        /// Decide per pod from the order of NICs (`auto`).
        Auto => "auto",
        /// The underlay NIC is the pod's first NIC; a veth pair reaches the host.
        Underlay => "underlay",
        /// The overlay CNI owns `eth0`; underlay NICs are extra.
        Overlay => "overlay",
        /// Do nothing. The CRD spells it `disabled`, Spiderpool's plugin `disable`;
        /// both are accepted.
        Disabled => "disabled" | "disable",
    }
);

impl CoordinatorMode {
    /// The spelling Spiderpool's Go `coordinator` plugin expects in CNI config
    /// (`disable` instead of `disabled`).
    pub fn as_cni_str(self) -> &'static str {
        match self {
            Self::Disabled => "disable",
            other => other.as_str(),
        }
    }
}

string_enum!(
    /// `podCIDRType`: where the controller finds the overlay pod CIDR.
    PodCidrType, field = "podCIDRType", {
        /// Detect the overlay CNI (Calico, Cilium), else fall back to `cluster`.
        Auto => "auto",
        /// The cluster's pod CIDR (kubeadm config / kube-controller-manager).
        Cluster => "cluster",
        /// Calico IPPools.
        Calico => "calico",
        /// Cilium's configuration.
        Cilium => "cilium",
        /// No pod CIDR.
        None => "none",
    }
);

string_enum!(
    /// `status.phase` of a SpiderCoordinator.
    CoordinatorPhase, field = "status.phase", {
        /// CIDRs detected; pods may be created.
        Synced => "Synced",
        /// Detection failed; the coordinator refuses pod ADD.
        NotReady => "NotReady",
    }
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn mode_table() {
        let cases = [
            ("auto", Some(CoordinatorMode::Auto)),
            ("underlay", Some(CoordinatorMode::Underlay)),
            ("overlay", Some(CoordinatorMode::Overlay)),
            ("disabled", Some(CoordinatorMode::Disabled)),
            ("disable", Some(CoordinatorMode::Disabled)),
            ("Auto", None),
            ("", None),
            ("off", None),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<CoordinatorMode>().ok(), want, "{s:?}");
        }
        assert_eq!(CoordinatorMode::Disabled.as_str(), "disabled");
        assert_eq!(CoordinatorMode::Disabled.as_cni_str(), "disable");
        assert_eq!(CoordinatorMode::Overlay.as_cni_str(), "overlay");
        for m in CoordinatorMode::ALL {
            assert_eq!(m.as_str().parse::<CoordinatorMode>().unwrap(), *m);
        }
    }

    #[test]
    fn mode_error_names_field_and_value() {
        let spec = CoordinatorSpec { mode: Some("fast".into()), ..Default::default() };
        let err = spec.parsed_mode().unwrap_err();
        assert_eq!(
            err.to_string(),
            "mode: unknown value \"fast\", expected one of: auto, underlay, overlay, disabled, disable"
        );
        assert_eq!(CoordinatorSpec::default().parsed_mode().unwrap(), None);
    }

    #[test]
    fn pod_cidr_type_table() {
        for t in PodCidrType::ALL {
            assert_eq!(t.as_str().parse::<PodCidrType>().unwrap(), *t);
        }
        let spec = CoordinatorSpec { pod_cidr_type: Some("flannel".into()), ..Default::default() };
        let err = spec.parsed_pod_cidr_type().unwrap_err();
        assert!(err.to_string().starts_with("podCIDRType: unknown value \"flannel\""), "{err}");
        let spec = CoordinatorSpec { pod_cidr_type: Some("none".into()), ..Default::default() };
        assert_eq!(spec.parsed_pod_cidr_type().unwrap(), Some(PodCidrType::None));
    }

    #[test]
    fn enums_serde_as_strings() {
        assert_eq!(serde_json::to_value(CoordinatorMode::Underlay).unwrap(), json!("underlay"));
        let m: CoordinatorMode = serde_json::from_value(json!("disable")).unwrap();
        assert_eq!(m, CoordinatorMode::Disabled);
        let err = serde_json::from_value::<CoordinatorMode>(json!("x")).unwrap_err();
        assert!(err.to_string().contains("mode: unknown value \"x\""), "{err}");
    }

    #[test]
    fn spec_field_names() {
        let v = json!({
            "mode": "overlay",
            "podCIDRType": "cilium",
            "hijackCIDR": ["169.254.0.0/16"],
            "policyRoutes": [{"dst": "10.9.0.0/16", "gw": "10.6.0.254"}],
            "podMACPrefix": "0a:1b",
            "tunePodRoutes": true,
            "podDefaultRouteNIC": "net1",
            "hostRuleTable": 500,
            "podRPFilter": 0,
            "txQueueLen": 1000,
            "vethLinkAddress": "169.254.100.1",
            "vethMTU": 1500
        });
        let spec: CoordinatorSpec = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(spec.pod_default_route_nic.as_deref(), Some("net1"));
        assert_eq!(spec.veth_mtu, Some(1500));
        assert_eq!(spec.policy_routes, vec![Route::new("10.9.0.0/16", "10.6.0.254")]);
        assert_eq!(serde_json::to_value(&spec).unwrap(), v);
        assert_eq!(serde_json::to_value(CoordinatorSpec::default()).unwrap(), json!({}));
    }

    #[test]
    fn legacy_fields_are_ignored() {
        let spec: CoordinatorSpec = serde_json::from_value(json!({
            "detectGateway": false, "detectIPConflict": true, "hostRPFilter": 0, "mode": "auto"
        }))
        .unwrap();
        assert_eq!(spec, CoordinatorSpec { mode: Some("auto".into()), ..Default::default() });
    }

    #[test]
    fn status_shape() {
        let status = CoordinatorStatus { phase: "NotReady".into(), ..Default::default() };
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"phase": "NotReady", "overlayPodCIDR": [], "serviceCIDR": []})
        );
        assert!(!status.is_synced());
        assert_eq!(status.parsed_phase().unwrap(), CoordinatorPhase::NotReady);
        let status: CoordinatorStatus = serde_json::from_value(json!({
            "phase": "Synced", "overlayPodCIDR": null, "serviceCIDR": ["10.233.0.0/18"]
        }))
        .unwrap();
        assert!(status.is_synced());
        assert!(status.overlay_pod_cidr.is_empty());
        let bad = CoordinatorStatus { phase: "Ready".into(), ..Default::default() };
        assert!(bad.parsed_phase().unwrap_err().to_string().starts_with("status.phase: "));
    }
}
