//! SpiderMultusConfig → NetworkAttachmentDefinition.

use std::collections::BTreeMap;

use super::nad::{NAD_API_VERSION, NAD_KIND, NadSpec, NetworkAttachmentDefinition};
use super::plugin::{
    ConfList, CoordinatorConf, IbSriovConf, IfacerConf, IpamConf, IpoibConf, IpvlanConf,
    MacvlanConf, OvsConf, Plugin, SriovConf, TuningConf, TypeOnly, VlanConf,
};
use crate::model::{
    API_VERSION, BondConfig, CniType, CoordinatorSpec, MultusCNIConfigSpec, ObjectMeta,
    OwnerReference, SpiderMultusConfig, SpiderpoolPools, VlanMode,
};

/// `cniVersion` of the generated config when `multus.spidernet.io/cni-version` is
/// not set.
pub const DEFAULT_CNI_VERSION: &str = "0.3.1";

/// The values `multus.spidernet.io/cni-version` may take: Spiderpool's four, plus
/// `1.1.0`, which our plugins implement (DESIGN.md §4).
pub const SUPPORTED_CNI_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// NAD annotation naming the device-plugin resource a pod must request.
pub const RESOURCE_NAME_ANNOTATION: &str = "k8s.v1.cni.cncf.io/resourceName";

/// Prefix of the `resourceName` of an OVS network with hardware offload
/// (`<prefix>/<bridge>`).
pub const OVS_RESOURCE_PREFIX: &str = "ovs-cni.network.kubevirt.io";

/// The `type` of the IPAM plugin in the generated `ipam` block.
pub const IPAM_TYPE: &str = "spiderpool";

/// Why an SMC could not be rendered. Admission rejects all of these first; the
/// renderer still checks, so it never panics on an object that skipped admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A value outside its enumeration.
    #[error("{field}: unsupported value {value:?}, expected one of: {expected}")]
    UnknownValue {
        /// Field path, e.g. `spec.cniType`.
        field: String,
        /// The value found.
        value: String,
        /// The values accepted, comma-separated.
        expected: String,
    },
    /// A field the selected `cniType` needs is absent or empty.
    #[error("{field}: required: {what}")]
    Missing {
        /// Field path, e.g. `spec.macvlan.master`.
        field: String,
        /// What is needed.
        what: &'static str,
    },
    /// A JSON string that is not what the field needs.
    #[error("{field}: invalid JSON {value:?}: {reason}")]
    InvalidJson {
        /// Field path, e.g. `spec.chainCNIJsonData[1]`.
        field: String,
        /// The string found.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The name of the NAD an SMC produces: the `multus.spidernet.io/cr-name`
/// annotation when set and non-empty, else the SMC's name.
pub fn nad_name(smc: &SpiderMultusConfig) -> String {
    match smc.metadata.annotation(SpiderMultusConfig::ANNOTATION_CR_NAME) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => smc.metadata.name_str().to_string(),
    }
}

/// The `name` inside the CNI config: `cni.spidernet.io/cniconfig-name` when set
/// and non-empty, else the NAD name.
pub fn cni_config_name(smc: &SpiderMultusConfig) -> String {
    match smc.metadata.annotation(SpiderMultusConfig::ANNOTATION_CNI_CONFIG_NAME) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => nad_name(smc),
    }
}

/// The `cniVersion` of the generated config: `multus.spidernet.io/cni-version`
/// when set, else [`DEFAULT_CNI_VERSION`].
pub fn cni_version(smc: &SpiderMultusConfig) -> &str {
    smc.metadata
        .annotation(SpiderMultusConfig::ANNOTATION_CNI_VERSION)
        .unwrap_or(DEFAULT_CNI_VERSION)
}

/// Parses one `chainCNIJsonData` entry: a JSON object with a non-empty string
/// `type`, as any CNI plugin configuration must have.
pub fn parse_chain_plugin(s: &str) -> Result<serde_json::Value, String> {
    let value: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    let Some(obj) = value.as_object() else {
        return Err("a CNI plugin configuration must be a JSON object".into());
    };
    match obj.get("type") {
        Some(serde_json::Value::String(t)) if !t.is_empty() => Ok(value),
        Some(serde_json::Value::String(_)) => Err("\"type\" must not be empty".into()),
        Some(_) => Err("\"type\" must be a string".into()),
        None => Err("a CNI plugin configuration needs a \"type\"".into()),
    }
}

/// Renders the NetworkAttachmentDefinition the controller keeps in sync with
/// `smc` (reference §7): same namespace, name from [`nad_name`], the SMC's
/// annotations plus `k8s.v1.cni.cncf.io/resourceName` where the CNI needs a
/// device-plugin resource, the SMC as controlling owner, and the CNI config.
///
/// Render the SMC as admission stored it (after
/// [`crate::admission::multusconfig::mutate`]). An optional numeric key (`mtu`,
/// sriov/ovs `vlan`, tx rates, `txQueueLen`, `podRPFilter`, `vethMTU`) is
/// rendered only when the SMC sets it (0 included): the mutation leaves them
/// unset, because a key in the NAD wins over the SpiderCoordinator.
pub fn render(smc: &SpiderMultusConfig) -> Result<NetworkAttachmentDefinition, RenderError> {
    let name = nad_name(smc);
    let mut annotations = smc.metadata.annotations.clone().unwrap_or_default();
    let config = build_config(smc, &mut annotations)?;
    let owner = OwnerReference {
        api_version: API_VERSION.to_string(),
        kind: SpiderMultusConfig::KIND.to_string(),
        name: smc.metadata.name_str().to_string(),
        uid: smc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    Ok(NetworkAttachmentDefinition {
        api_version: NAD_API_VERSION.to_string(),
        kind: NAD_KIND.to_string(),
        metadata: ObjectMeta {
            name: Some(name),
            namespace: smc.metadata.namespace.clone(),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: NadSpec { config: config.map(|c| c.into_string()) },
    })
}

/// A rendered config before it becomes a string.
#[derive(Debug, Clone)]
pub(crate) enum Config {
    /// A conflist built from the typed spec.
    List(ConfList),
    /// `customCNI`, verbatim.
    Custom(String),
}

impl Config {
    fn into_string(self) -> String {
        match self {
            // Serializing plain structs, strings, integers and parsed JSON values
            // cannot fail.
            Config::List(list) => serde_json::to_string(&list).unwrap_or_default(),
            Config::Custom(s) => s,
        }
    }
}

/// Builds the config and adds the resource-name annotation the CNI needs.
/// `None` for `custom` with an empty `customCNI` (a NAD without config).
pub(crate) fn build_config(
    smc: &SpiderMultusConfig,
    annotations: &mut BTreeMap<String, String>,
) -> Result<Option<Config>, RenderError> {
    let spec = &smc.spec;
    let cni_type = parse_cni_type(spec)?;
    if cni_type == CniType::Custom {
        return match spec.custom_cni.as_deref() {
            None | Some("") => Ok(None),
            Some(raw) => match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(_) => Ok(Some(Config::Custom(raw.to_string()))),
                Err(e) => Err(RenderError::InvalidJson {
                    field: "spec.customCNI".into(),
                    value: raw.to_string(),
                    reason: e.to_string(),
                }),
            },
        };
    }

    let ipam_off = spec.ipam_disabled();
    // [ifacer?], main, [rdma?], chain..., [coordinator?], [tuning?]
    let mut head = Vec::new();
    let mut tail = Vec::new();
    match cni_type {
        CniType::Macvlan | CniType::Ipvlan => {
            let (key, section) = if cni_type == CniType::Macvlan {
                ("spec.macvlan", spec.macvlan.as_ref())
            } else {
                ("spec.ipvlan", spec.ipvlan.as_ref())
            };
            let s = section.ok_or_else(|| missing(key, "the section of the cniType"))?;
            let base = base_master(&s.master, s.bond.as_ref(), key)?;
            let vlan = s.vlan_id.unwrap_or(0);
            if vlan != 0 || s.master.len() >= 2 {
                head.push(ifacer(&s.master, vlan, s.bond.as_ref()));
            }
            let master = if vlan != 0 { format!("{base}.{vlan}") } else { base };
            let ipam = ipam(ipam_off, s.ippools.as_ref(), false);
            head.push(if cni_type == CniType::Macvlan {
                Plugin::Macvlan(MacvlanConf {
                    kind: "macvlan",
                    master,
                    mode: "bridge",
                    mtu: s.mtu,
                    ipam,
                })
            } else {
                Plugin::Ipvlan(IpvlanConf { kind: "ipvlan", master, mtu: s.mtu, ipam })
            });
        }
        CniType::Vlan => {
            let s = spec.vlan.as_ref().ok_or_else(|| missing("spec.vlan", "the section"))?;
            let master = base_master(&s.master, s.bond.as_ref(), "spec.vlan")?;
            if s.master.len() >= 2 {
                head.push(ifacer(&s.master, 0, s.bond.as_ref()));
            }
            let mode = match s.vlan_mode.as_deref() {
                None => VlanMode::Manual,
                Some(m) => VlanMode::parse_field("spec.vlan.vlanMode", m).map_err(|_| {
                    RenderError::UnknownValue {
                        field: "spec.vlan.vlanMode".into(),
                        value: m.to_string(),
                        expected: VlanMode::WIRE_VALUES.join(", "),
                    }
                })?,
            };
            let vlan_id = match mode {
                VlanMode::Auto => None,
                _ => Some(s.vlan_id.unwrap_or(0)),
            };
            head.push(Plugin::Vlan(VlanConf {
                kind: "vlan",
                master,
                vlan_mode: mode.as_str(),
                vlan_id,
                mtu: s.mtu,
                ipam: ipam(ipam_off, s.ippools.as_ref(), false),
            }));
        }
        CniType::Sriov => {
            let s = spec.sriov.as_ref().ok_or_else(|| missing("spec.sriov", "the section"))?;
            let resource = required_resource(s.resource_name.as_deref(), "spec.sriov")?;
            annotations.insert(RESOURCE_NAME_ANNOTATION.into(), resource);
            head.push(Plugin::Sriov(SriovConf {
                vlan: s.vlan_id,
                min_tx_rate: s.min_tx_rate_mbps,
                max_tx_rate: s.max_tx_rate_mbps,
                kind: "sriov",
                ipam: ipam(ipam_off, s.ippools.as_ref(), true),
            }));
            if s.rdma_isolation == Some(true) {
                head.push(Plugin::Rdma(TypeOnly { kind: "rdma" }));
            }
            if let Some(mtu) = s.mtu.filter(|m| *m > 0) {
                tail.push(Plugin::Tuning(TuningConf { kind: "tuning", mtu }));
            }
        }
        CniType::IbSriov => {
            let s = spec.ibsriov.as_ref().ok_or_else(|| missing("spec.ibsriov", "the section"))?;
            let resource = required_resource(s.resource_name.as_deref(), "spec.ibsriov")?;
            annotations.insert(RESOURCE_NAME_ANNOTATION.into(), resource);
            head.push(Plugin::IbSriov(IbSriovConf {
                kind: "ib-sriov",
                pkey: s.pkey.clone().filter(|p| !p.is_empty()),
                link_state: s.link_state.clone(),
                rdma_isolation: s.rdma_isolation,
                ib_kubernetes_enabled: s.enable_ib_kubernetes,
                ipam: ipam(ipam_off, s.ippools.as_ref(), false),
            }));
        }
        CniType::Ipoib => {
            let s = spec.ipoib.as_ref().ok_or_else(|| missing("spec.ipoib", "the section"))?;
            if s.master.is_empty() {
                return Err(missing("spec.ipoib.master", "the host IPoIB interface"));
            }
            head.push(Plugin::Ipoib(IpoibConf {
                kind: "ipoib",
                master: s.master.clone(),
                ipam: ipam(ipam_off, s.ippools.as_ref(), false),
            }));
        }
        CniType::Ovs => {
            let s = spec.ovs.as_ref().ok_or_else(|| missing("spec.ovs", "the section"))?;
            if s.bridge.is_empty() {
                return Err(missing("spec.ovs.bridge", "the OVS bridge"));
            }
            if !s.device_id.is_empty() {
                annotations.insert(
                    RESOURCE_NAME_ANNOTATION.into(),
                    format!("{OVS_RESOURCE_PREFIX}/{}", s.bridge),
                );
            }
            head.push(Plugin::Ovs(OvsConf {
                vlan: s.vlan,
                kind: "ovs",
                bridge: s.bridge.clone(),
                device_id: s.device_id.clone(),
                ipam: ipam(ipam_off, s.ippools.as_ref(), false),
                trunk: s.trunk.clone(),
            }));
        }
        // Handled above; the enum is non-exhaustive.
        _ => return Err(unknown_cni_type(cni_type.as_str())),
    }

    for (i, raw) in spec.chain_cni_json_data.iter().enumerate() {
        let value = parse_chain_plugin(raw).map_err(|reason| RenderError::InvalidJson {
            field: format!("spec.chainCNIJsonData[{i}]"),
            value: raw.clone(),
            reason,
        })?;
        head.push(Plugin::Chain(value));
    }
    if spec.coordinator_enabled() {
        head.push(Plugin::Coordinator(coordinator(spec.coordinator.as_ref())));
    }
    head.extend(tail);
    Ok(Some(Config::List(ConfList {
        cni_version: cni_version(smc).to_string(),
        name: cni_config_name(smc),
        plugins: head,
    })))
}

fn parse_cni_type(spec: &MultusCNIConfigSpec) -> Result<CniType, RenderError> {
    spec.parsed_cni_type()
        .map_err(|_| unknown_cni_type(spec.cni_type.as_deref().unwrap_or_default()))
}

fn unknown_cni_type(value: &str) -> RenderError {
    RenderError::UnknownValue {
        field: "spec.cniType".into(),
        value: value.to_string(),
        expected: CniType::WIRE_VALUES.join(", "),
    }
}

fn missing(field: &str, what: &'static str) -> RenderError {
    RenderError::Missing { field: field.to_string(), what }
}

fn required_resource(name: Option<&str>, section: &str) -> Result<String, RenderError> {
    match name {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(missing(&format!("{section}.resourceName"), "the device-plugin resource name")),
    }
}

/// The parent interface: the only master, or the bond made of several.
fn base_master(
    masters: &[String],
    bond: Option<&BondConfig>,
    section: &str,
) -> Result<String, RenderError> {
    match masters {
        [] => Err(missing(&format!("{section}.master"), "at least one master interface")),
        [one] => Ok(one.clone()),
        _ => match bond {
            Some(b) if !b.name.is_empty() => Ok(b.name.clone()),
            _ => Err(missing(&format!("{section}.bond.name"), "a bond for several masters")),
        },
    }
}

/// The `ifacer` plugin that creates the VLAN sub-interface and/or the bond. The
/// bond is passed only when there are several masters (with one master `ifacer`
/// ignores it).
fn ifacer(masters: &[String], vlan_id: i32, bond: Option<&BondConfig>) -> Plugin {
    Plugin::Ifacer(IfacerConf {
        vlan_id,
        kind: "ifacer",
        interfaces: masters.to_vec(),
        bond: if masters.len() >= 2 { bond.cloned() } else { None },
    })
}

fn ipam(disabled: bool, pools: Option<&SpiderpoolPools>, sriov: bool) -> Option<IpamConf> {
    if disabled {
        return None;
    }
    let pools = pools.cloned().unwrap_or_default();
    Some(IpamConf {
        kind: IPAM_TYPE,
        default_ipv4_ippool: pools.ipv4,
        default_ipv6_ippool: pools.ipv6,
        match_master_subnet: sriov && pools.match_master_subnet == Some(true),
    })
}

/// The coordinator plugin from `spec.coordinator`. `hostRuleTable`,
/// `podCIDRType`, `overlayPodCIDR` and `serviceCIDR` are never rendered: the
/// plugin takes them from the SpiderCoordinator. `podRPFilter` is rendered
/// whenever it is set (DESIGN.md §5.4; Spiderpool only when `podCIDRType` is set).
/// `mode` is rendered as given: our plugin accepts `disabled` and `disable`.
fn coordinator(spec: Option<&CoordinatorSpec>) -> CoordinatorConf {
    let mut conf = CoordinatorConf { kind: "coordinator", ..CoordinatorConf::default() };
    let Some(c) = spec else {
        return conf;
    };
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    conf.tx_queue_len = c.tx_queue_len;
    conf.veth_link_address = text(&c.veth_link_address);
    conf.veth_mtu = c.veth_mtu;
    conf.tune_pod_routes = c.tune_pod_routes;
    conf.pod_mac_prefix = text(&c.pod_mac_prefix);
    conf.mode = text(&c.mode);
    conf.pod_default_route_nic = text(&c.pod_default_route_nic);
    conf.pod_rp_filter = c.pod_rp_filter;
    conf.hijack_cidr = c.hijack_cidr.clone();
    conf.policy_routes = c.policy_routes.clone();
    conf
}
