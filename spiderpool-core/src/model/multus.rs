//! `SpiderMultusConfig` (`smc`, namespaced, no status): a typed description of a
//! Multus `NetworkAttachmentDefinition`, rendered by the controller.

use serde::{Deserialize, Serialize};

use super::{CoordinatorSpec, ModelError, ObjectMeta, null_default, resource_kind, string_enum};

/// A `SpiderMultusConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiderMultusConfig {
    /// `apiVersion` (`spiderpool.spidernet.io/v2beta1`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `kind` (`SpiderMultusConfig`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object metadata; its annotations are copied onto the generated NAD.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: MultusCNIConfigSpec,
}

resource_kind!(
    SpiderMultusConfig,
    spec = MultusCNIConfigSpec,
    kind = "SpiderMultusConfig",
    plural = "spidermultusconfigs",
    singular = "spidermultusconfig",
    short = "smc",
    namespaced = true
);

impl SpiderMultusConfig {
    /// Annotation naming the generated NAD (default: the SMC's name).
    pub const ANNOTATION_CR_NAME: &'static str = "multus.spidernet.io/cr-name";
    /// Annotation selecting the CNI version of the generated config (default `0.3.1`).
    pub const ANNOTATION_CNI_VERSION: &'static str = "multus.spidernet.io/cni-version";
    /// Annotation setting the `name` inside the CNI JSON (default: the NAD name).
    pub const ANNOTATION_CNI_CONFIG_NAME: &'static str = "cni.spidernet.io/cniconfig-name";
    /// Annotation grouping SMCs for RDMA resource injection by the pod webhook.
    pub const ANNOTATION_RDMA_RESOURCE_INJECT: &'static str =
        "cni.spidernet.io/rdma-resource-inject";
    /// Annotation grouping SMCs for network resource injection by the pod webhook.
    pub const ANNOTATION_NETWORK_RESOURCE_INJECT: &'static str =
        "cni.spidernet.io/network-resource-inject";
}

/// `spec` of a [`SpiderMultusConfig`] (Go `MultusCNIConfigSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MultusCNIConfigSpec {
    /// The main CNI: `macvlan`, `ipvlan`, `vlan`, `sriov`, `ovs`, `ib-sriov`,
    /// `ipoib` or `custom` (CRD default `custom`); see [`CniType`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_type: Option<String>,
    /// Settings for `cniType: macvlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan: Option<SpiderMacvlanCniConfig>,
    /// Settings for `cniType: ipvlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvlan: Option<SpiderIPvlanCniConfig>,
    /// Settings for `cniType: vlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<SpiderVlanCniConfig>,
    /// Settings for `cniType: sriov`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov: Option<SpiderSRIOVCniConfig>,
    /// Settings for `cniType: ovs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs: Option<SpiderOvsCniConfig>,
    /// Settings for `cniType: ib-sriov` (note the key has no dash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ibsriov: Option<SpiderIBSriovCniConfig>,
    /// Settings for `cniType: ipoib`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipoib: Option<SpiderIpoibCniConfig>,
    /// Append the `coordinator` plugin to the chain (CRD default `true`; forced
    /// `false` for `custom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_coordinator: Option<bool>,
    /// Leave the `ipam` block out of the main plugin (CRD default `false`).
    #[serde(rename = "disableIPAM", default, skip_serializing_if = "Option::is_none")]
    pub disable_ipam: Option<bool>,
    /// Coordinator settings overriding the SpiderCoordinator for this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<CoordinatorSpec>,
    /// Extra CNI plugin objects (each a JSON string) added to the chain. Always
    /// printed (no omitempty in Go).
    #[serde(rename = "chainCNIJsonData", default, deserialize_with = "null_default")]
    pub chain_cni_json_data: Vec<String>,
    /// The raw CNI JSON used verbatim for `cniType: custom`.
    #[serde(rename = "customCNI", default, skip_serializing_if = "Option::is_none")]
    pub custom_cni: Option<String>,
}

impl MultusCNIConfigSpec {
    /// `cniType` as a [`CniType`], `custom` when absent (the CRD default).
    pub fn parsed_cni_type(&self) -> Result<CniType, ModelError> {
        match self.cni_type.as_deref() {
            None => Ok(CniType::Custom),
            Some(s) => CniType::parse_field("spec.cniType", s),
        }
    }

    /// `enableCoordinator`, with the CRD default `true`.
    pub fn coordinator_enabled(&self) -> bool {
        self.enable_coordinator.unwrap_or(true)
    }

    /// `disableIPAM`, with the CRD default `false`.
    pub fn ipam_disabled(&self) -> bool {
        self.disable_ipam.unwrap_or(false)
    }

    /// The `ippools` block of the section selected by `cniType`, if any.
    pub fn ippools(&self) -> Option<&SpiderpoolPools> {
        match self.parsed_cni_type().ok()? {
            CniType::Macvlan => self.macvlan.as_ref()?.ippools.as_ref(),
            CniType::Ipvlan => self.ipvlan.as_ref()?.ippools.as_ref(),
            CniType::Vlan => self.vlan.as_ref()?.ippools.as_ref(),
            CniType::Sriov => self.sriov.as_ref()?.ippools.as_ref(),
            CniType::Ovs => self.ovs.as_ref()?.ippools.as_ref(),
            CniType::IbSriov => self.ibsriov.as_ref()?.ippools.as_ref(),
            CniType::Ipoib => self.ipoib.as_ref()?.ippools.as_ref(),
            CniType::Custom => None,
        }
    }
}

string_enum!(
    /// `spec.cniType` of a SpiderMultusConfig.
    CniType, field = "spec.cniType", {
        /// macvlan sub-interfaces of `master`.
        Macvlan => "macvlan",
        /// ipvlan sub-interfaces of `master`.
        Ipvlan => "ipvlan",
        /// VLAN sub-interfaces of `master`.
        Vlan => "vlan",
        /// SR-IOV virtual functions.
        Sriov => "sriov",
        /// Open vSwitch ports.
        Ovs => "ovs",
        /// InfiniBand SR-IOV virtual functions.
        IbSriov => "ib-sriov",
        /// IP-over-InfiniBand child interfaces.
        Ipoib => "ipoib",
        /// `customCNI` used verbatim.
        Custom => "custom",
    }
);

string_enum!(
    /// `vlanMode` of a `vlan` section.
    VlanMode, field = "spec.vlan.vlanMode", {
        /// `vlanID` is given in the spec (default).
        Manual => "manual",
        /// The VLAN comes from the IaaS provider; `vlanID` must be absent.
        Auto => "auto",
    }
);

string_enum!(
    /// `linkState` of an `ibsriov` section.
    LinkState, field = "spec.ibsriov.linkState", {
        /// Follow the physical link.
        Auto => "auto",
        /// Force the VF link up (default).
        Enable => "enable",
        /// Force the VF link down.
        Disable => "disable",
    }
);

/// `spec.macvlan` (Go `SpiderMacvlanCniConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpiderMacvlanCniConfig {
    /// Host interface(s); two or more are bonded (`bond` then required). Always
    /// printed.
    #[serde(default, deserialize_with = "null_default")]
    pub master: Vec<String>,
    /// VLAN id 0–4094; non-zero creates a VLAN sub-interface of the master.
    #[serde(rename = "vlanID", default, skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<i32>,
    /// MTU of the pod interface; 0 lets the kernel choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    /// Bond to create from several masters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<BondConfig>,
    /// Shared RDMA resource name to inject into pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdma_resource_name: Option<String>,
    /// Default pools written into the IPAM config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ippools: Option<SpiderpoolPools>,
}

/// `spec.ipvlan` (Go `SpiderIPvlanCniConfig`): the same fields as macvlan.
pub type SpiderIPvlanCniConfig = SpiderMacvlanCniConfig;

/// `spec.vlan` (Go `SpiderVlanCniConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpiderVlanCniConfig {
    /// Host interface(s); two or more are bonded. Always printed.
    #[serde(default, deserialize_with = "null_default")]
    pub master: Vec<String>,
    /// VLAN id 0–4094; required in `manual` mode, forbidden in `auto`.
    #[serde(rename = "vlanID", default, skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<i32>,
    /// `manual` (default) or `auto`; see [`VlanMode`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_mode: Option<String>,
    /// MTU of the pod interface; 0 lets the kernel choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    /// Bond to create from several masters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<BondConfig>,
    /// Shared RDMA resource name to inject into pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdma_resource_name: Option<String>,
    /// Default pools written into the IPAM config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ippools: Option<SpiderpoolPools>,
}

impl SpiderVlanCniConfig {
    /// `vlanMode` as a [`VlanMode`], `manual` when absent.
    pub fn parsed_vlan_mode(&self) -> Result<VlanMode, ModelError> {
        match self.vlan_mode.as_deref() {
            None => Ok(VlanMode::Manual),
            Some(s) => s.parse(),
        }
    }
}

/// `spec.sriov` (Go `SpiderSRIOVCniConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpiderSRIOVCniConfig {
    /// SR-IOV device-plugin resource name (required by admission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// VLAN id 0–4094 of the VF.
    #[serde(rename = "vlanID", default, skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<i32>,
    /// MTU, applied through an extra `tuning` plugin; 0 leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    /// Minimum TX rate of the VF in Mbps; 0 disables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tx_rate_mbps: Option<i64>,
    /// Maximum TX rate of the VF in Mbps; 0 disables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tx_rate_mbps: Option<i64>,
    /// Chain the `rdma` plugin to isolate the RDMA device (CRD default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdma_isolation: Option<bool>,
    /// Default pools (here `matchMasterSubnet` may be `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ippools: Option<SpiderpoolPools>,
}

/// `spec.ibsriov` (Go `SpiderIBSriovCniConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpiderIBSriovCniConfig {
    /// SR-IOV device-plugin resource name (required by admission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// InfiniBand partition key for ib-kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkey: Option<String>,
    /// VF link state `auto`, `enable` (default) or `disable`; see [`LinkState`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_state: Option<String>,
    /// Chain the `rdma` plugin to isolate the RDMA device (CRD default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdma_isolation: Option<bool>,
    /// Work with ib-kubernetes (CRD default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ib_kubernetes: Option<bool>,
    /// Default pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ippools: Option<SpiderpoolPools>,
}

impl SpiderIBSriovCniConfig {
    /// `linkState` as a [`LinkState`], `enable` when absent.
    pub fn parsed_link_state(&self) -> Result<LinkState, ModelError> {
        match self.link_state.as_deref() {
            None => Ok(LinkState::Enable),
            Some(s) => s.parse(),
        }
    }
}

/// `spec.ipoib` (Go `SpiderIpoibCniConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpiderIpoibCniConfig {
    /// The host IPoIB interface (required by admission; omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub master: String,
    /// Default pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ippools: Option<SpiderpoolPools>,
}

/// `spec.ovs` (Go `SpiderOvsCniConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpiderOvsCniConfig {
    /// OVS bridge name (required; always printed).
    #[serde(default, deserialize_with = "null_default")]
    pub bridge: String,
    /// VLAN tag of the port; a trunk port when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i32>,
    /// VLAN ids and ranges a trunk port accepts.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub trunk: Vec<Trunk>,
    /// PCI address of a VF (OVS hardware offload); always printed.
    #[serde(rename = "deviceID", default, deserialize_with = "null_default")]
    pub device_id: String,
    /// Default pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ippools: Option<SpiderpoolPools>,
}

/// One item of `spec.ovs.trunk` (Go `Trunk`): either `id`, or `minID`..`maxID`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Trunk {
    /// First VLAN id of a range (0–4094).
    #[serde(rename = "minID", default, skip_serializing_if = "Option::is_none")]
    pub min_id: Option<u64>,
    /// Last VLAN id of a range (0–4094).
    #[serde(rename = "maxID", default, skip_serializing_if = "Option::is_none")]
    pub max_id: Option<u64>,
    /// A single VLAN id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

/// `bond` of a macvlan/ipvlan/vlan section (Go `BondConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BondConfig {
    /// Name of the bond interface to create (required; always printed).
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Bonding mode 0–6 (required; always printed).
    #[serde(default, deserialize_with = "null_default")]
    pub mode: i32,
    /// Bonding options, e.g. `primary=eth1;miimon=100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

/// `ippools` of a CNI section (Go `SpiderpoolPools`): the default pools written
/// into the generated IPAM config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpiderpoolPools {
    /// Only use pools whose subnet matches the master's (SR-IOV only; default
    /// `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_master_subnet: Option<bool>,
    /// Default IPv4 pools (globs allowed).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub ipv4: Vec<String>,
    /// Default IPv6 pools (globs allowed).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub ipv6: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn cni_type_table() {
        let cases = [
            ("macvlan", CniType::Macvlan),
            ("ipvlan", CniType::Ipvlan),
            ("vlan", CniType::Vlan),
            ("sriov", CniType::Sriov),
            ("ovs", CniType::Ovs),
            ("ib-sriov", CniType::IbSriov),
            ("ipoib", CniType::Ipoib),
            ("custom", CniType::Custom),
        ];
        for (wire, t) in cases {
            assert_eq!(wire.parse::<CniType>().unwrap(), t);
            assert_eq!(t.as_str(), wire);
        }
        assert_eq!(CniType::ALL.len(), cases.len());
        for bad in ["ibsriov", "Macvlan", "calico", ""] {
            let err = bad.parse::<CniType>().unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("spec.cniType: unknown value {bad:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn cni_type_defaults_to_custom() {
        let spec = MultusCNIConfigSpec::default();
        assert_eq!(spec.parsed_cni_type().unwrap(), CniType::Custom);
        assert!(spec.coordinator_enabled());
        assert!(!spec.ipam_disabled());
        assert_eq!(spec.ippools(), None);
    }

    #[test]
    fn ippools_follow_cni_type() {
        let pools = SpiderpoolPools { ipv4: vec!["v4".into()], ..Default::default() };
        let spec = MultusCNIConfigSpec {
            cni_type: Some("sriov".into()),
            macvlan: Some(SpiderMacvlanCniConfig {
                ippools: Some(SpiderpoolPools::default()),
                ..Default::default()
            }),
            sriov: Some(SpiderSRIOVCniConfig {
                ippools: Some(pools.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(spec.ippools(), Some(&pools));
    }

    #[test]
    fn vlan_mode_and_link_state_defaults() {
        assert_eq!(SpiderVlanCniConfig::default().parsed_vlan_mode().unwrap(), VlanMode::Manual);
        let v = SpiderVlanCniConfig { vlan_mode: Some("auto".into()), ..Default::default() };
        assert_eq!(v.parsed_vlan_mode().unwrap(), VlanMode::Auto);
        let v = SpiderVlanCniConfig { vlan_mode: Some("dynamic".into()), ..Default::default() };
        assert!(v.parsed_vlan_mode().unwrap_err().to_string().starts_with("spec.vlan.vlanMode:"));
        let ib = SpiderIBSriovCniConfig::default();
        assert_eq!(ib.parsed_link_state().unwrap(), LinkState::Enable);
        let ib = SpiderIBSriovCniConfig { link_state: Some("up".into()), ..Default::default() };
        assert!(ib.parsed_link_state().unwrap_err().to_string().contains("\"up\""));
    }

    #[test]
    fn every_section_field_name() {
        let v = json!({
            "cniType": "ovs",
            "macvlan": {
                "master": ["eth0", "eth1"], "vlanID": 100, "mtu": 1400,
                "bond": {"name": "bond0", "mode": 1, "options": "primary=eth0"},
                "rdmaResourceName": "spidernet.io/shared_rdma",
                "ippools": {"ipv4": ["v4"], "ipv6": ["v6"]}
            },
            "ipvlan": {"master": ["eth0"]},
            "vlan": {"master": ["eth0"], "vlanMode": "auto", "mtu": 9000},
            "sriov": {
                "resourceName": "spidernet.io/sriov", "vlanID": 5, "mtu": 9000,
                "minTxRateMbps": 100, "maxTxRateMbps": 1000, "rdmaIsolation": true,
                "ippools": {"matchMasterSubnet": true, "ipv4": ["a*"]}
            },
            "ovs": {
                "bridge": "br1", "vlan": 10,
                "trunk": [{"minID": 10, "maxID": 20}, {"id": 30}],
                "deviceID": "0000:81:00.2"
            },
            "ibsriov": {
                "resourceName": "spidernet.io/ib", "pkey": "0x7fff", "linkState": "auto",
                "rdmaIsolation": true, "enableIbKubernetes": false
            },
            "ipoib": {"master": "ib0", "ippools": {"ipv4": ["ib-v4"]}},
            "enableCoordinator": true,
            "disableIPAM": false,
            "coordinator": {"mode": "underlay", "podCIDRType": "cluster"},
            "chainCNIJsonData": ["{\"type\":\"bandwidth\"}"],
            "customCNI": "{}"
        });
        let spec: MultusCNIConfigSpec = serde_json::from_value(v.clone()).unwrap();
        let ovs = spec.ovs.as_ref().unwrap();
        assert_eq!(ovs.trunk[0], Trunk { min_id: Some(10), max_id: Some(20), id: None });
        assert_eq!(ovs.device_id, "0000:81:00.2");
        assert_eq!(
            spec.sriov.as_ref().unwrap().ippools.as_ref().unwrap().match_master_subnet,
            Some(true)
        );
        assert_eq!(spec.macvlan.as_ref().unwrap().bond.as_ref().unwrap().mode, 1);
        assert_eq!(serde_json::to_value(&spec).unwrap(), v);
    }

    #[test]
    fn go_non_omitempty_fields_are_printed() {
        assert_eq!(
            serde_json::to_value(MultusCNIConfigSpec::default()).unwrap(),
            json!({"chainCNIJsonData": []})
        );
        assert_eq!(
            serde_json::to_value(SpiderMacvlanCniConfig::default()).unwrap(),
            json!({"master": []})
        );
        assert_eq!(
            serde_json::to_value(SpiderOvsCniConfig::default()).unwrap(),
            json!({"bridge": "", "deviceID": ""})
        );
        assert_eq!(
            serde_json::to_value(BondConfig::default()).unwrap(),
            json!({"name": "", "mode": 0})
        );
        assert_eq!(serde_json::to_value(SpiderIpoibCniConfig::default()).unwrap(), json!({}));
    }

    #[test]
    fn out_of_range_integers_are_errors() {
        let err = serde_json::from_value::<SpiderMacvlanCniConfig>(
            json!({"master": ["eth0"], "vlanID": 5_000_000_000_i64}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("5000000000"), "{err}");
        assert!(serde_json::from_value::<Trunk>(json!({"id": -1})).is_err());
    }
}
