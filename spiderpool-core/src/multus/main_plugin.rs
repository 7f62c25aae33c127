//! The plugins each `cniType` puts in the chain: those before the
//! `chainCNIJsonData` plugins (`ifacer`, the main plugin, `rdma`), those
//! after the coordinator (`tuning`), and the device-plugin resource the pod
//! must request.

use super::error::{RenderError, missing, unknown_cni_type};
use super::plugin::{
    IbSriovConf, IfacerConf, IpamConf, IpoibConf, IpvlanConf, MacvlanConf, OvsConf, Plugin,
    SriovConf, TuningConf, TypeOnly, VlanConf,
};
use crate::model::{BondConfig, CniType, MultusCNIConfigSpec, SpiderpoolPools, VlanMode};

/// Prefix of the `resourceName` of an OVS network with hardware offload
/// (`<prefix>/<bridge>`).
pub const OVS_RESOURCE_PREFIX: &str = "ovs-cni.network.kubevirt.io";

/// The `type` of the IPAM plugin in the generated `ipam` block.
pub const IPAM_TYPE: &str = "spiderpool";

/// What a `cniType` contributes to the chain.
#[derive(Debug, Clone, Default)]
pub(super) struct MainPlugins {
    /// First in the chain: `ifacer`, the main plugin, `rdma`.
    pub head: Vec<Plugin>,
    /// Last in the chain, after the coordinator: `tuning`.
    pub tail: Vec<Plugin>,
    /// The device-plugin resource (`k8s.v1.cni.cncf.io/resourceName`).
    pub resource_name: Option<String>,
}

impl MainPlugins {
    fn head(head: Vec<Plugin>) -> Self {
        Self { head, ..Self::default() }
    }
}

/// The plugins of `cni_type` (every type but `custom`).
pub(super) fn main_plugins(
    cni_type: CniType,
    spec: &MultusCNIConfigSpec,
) -> Result<MainPlugins, RenderError> {
    match cni_type {
        CniType::Macvlan | CniType::Ipvlan => macvlan_or_ipvlan(cni_type, spec),
        CniType::Vlan => vlan(spec),
        CniType::Sriov => sriov(spec),
        CniType::IbSriov => ib_sriov(spec),
        CniType::Ipoib => ipoib(spec),
        CniType::Ovs => ovs(spec),
        // `custom` has no plugins; the enum is non-exhaustive.
        _ => Err(unknown_cni_type(cni_type.as_str())),
    }
}

/// `macvlan` or `ipvlan` on the master (or bond), `.<vlanID>` when a VLAN is
/// set, after an `ifacer` that makes the VLAN or the bond.
fn macvlan_or_ipvlan(
    cni_type: CniType,
    spec: &MultusCNIConfigSpec,
) -> Result<MainPlugins, RenderError> {
    let (key, section) = if cni_type == CniType::Macvlan {
        ("spec.macvlan", spec.macvlan.as_ref())
    } else {
        ("spec.ipvlan", spec.ipvlan.as_ref())
    };
    let s = section.ok_or_else(|| missing(key, "the section of the cniType"))?;
    let base = base_master(&s.master, s.bond.as_ref(), key)?;
    let vlan = s.vlan_id.unwrap_or(0);
    let mut head = Vec::new();
    if vlan != 0 || s.master.len() >= 2 {
        head.push(ifacer(&s.master, vlan, s.bond.as_ref()));
    }
    let master = if vlan != 0 { format!("{base}.{vlan}") } else { base };
    let ipam = ipam(spec.ipam_disabled(), s.ippools.as_ref(), false);
    head.push(if cni_type == CniType::Macvlan {
        Plugin::Macvlan(MacvlanConf { kind: "macvlan", master, mode: "bridge", mtu: s.mtu, ipam })
    } else {
        Plugin::Ipvlan(IpvlanConf { kind: "ipvlan", master, mtu: s.mtu, ipam })
    });
    Ok(MainPlugins::head(head))
}

/// `vlan` on the master (or bond, made by an `ifacer`), in its `vlanMode`.
fn vlan(spec: &MultusCNIConfigSpec) -> Result<MainPlugins, RenderError> {
    let s = spec.vlan.as_ref().ok_or_else(|| missing("spec.vlan", "the section"))?;
    let master = base_master(&s.master, s.bond.as_ref(), "spec.vlan")?;
    let mut head = Vec::new();
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
        ipam: ipam(spec.ipam_disabled(), s.ippools.as_ref(), false),
    }));
    Ok(MainPlugins::head(head))
}

/// `sriov` (its resource required), `rdma` with `rdmaIsolation`, and a
/// `tuning` tail for a positive MTU.
fn sriov(spec: &MultusCNIConfigSpec) -> Result<MainPlugins, RenderError> {
    let s = spec.sriov.as_ref().ok_or_else(|| missing("spec.sriov", "the section"))?;
    let resource = required_resource(s.resource_name.as_deref(), "spec.sriov")?;
    let mut head = vec![Plugin::Sriov(SriovConf {
        vlan: s.vlan_id,
        min_tx_rate: s.min_tx_rate_mbps,
        max_tx_rate: s.max_tx_rate_mbps,
        kind: "sriov",
        ipam: ipam(spec.ipam_disabled(), s.ippools.as_ref(), true),
    })];
    if s.rdma_isolation == Some(true) {
        head.push(Plugin::Rdma(TypeOnly { kind: "rdma" }));
    }
    let tail = s
        .mtu
        .filter(|m| *m > 0)
        .map(|mtu| Plugin::Tuning(TuningConf { kind: "tuning", mtu }))
        .into_iter()
        .collect();
    Ok(MainPlugins { head, tail, resource_name: Some(resource) })
}

/// `ib-sriov` (its resource required).
fn ib_sriov(spec: &MultusCNIConfigSpec) -> Result<MainPlugins, RenderError> {
    let s = spec.ibsriov.as_ref().ok_or_else(|| missing("spec.ibsriov", "the section"))?;
    let resource = required_resource(s.resource_name.as_deref(), "spec.ibsriov")?;
    let plugin = Plugin::IbSriov(IbSriovConf {
        kind: "ib-sriov",
        pkey: s.pkey.clone().filter(|p| !p.is_empty()),
        link_state: s.link_state.clone(),
        rdma_isolation: s.rdma_isolation,
        ib_kubernetes_enabled: s.enable_ib_kubernetes,
        ipam: ipam(spec.ipam_disabled(), s.ippools.as_ref(), false),
    });
    Ok(MainPlugins { resource_name: Some(resource), ..MainPlugins::head(vec![plugin]) })
}

/// `ipoib` on its master.
fn ipoib(spec: &MultusCNIConfigSpec) -> Result<MainPlugins, RenderError> {
    let s = spec.ipoib.as_ref().ok_or_else(|| missing("spec.ipoib", "the section"))?;
    if s.master.is_empty() {
        return Err(missing("spec.ipoib.master", "the host IPoIB interface"));
    }
    Ok(MainPlugins::head(vec![Plugin::Ipoib(IpoibConf {
        kind: "ipoib",
        master: s.master.clone(),
        ipam: ipam(spec.ipam_disabled(), s.ippools.as_ref(), false),
    })]))
}

/// `ovs` on its bridge; with a `deviceID` (hardware offload) the bridge's
/// resource.
fn ovs(spec: &MultusCNIConfigSpec) -> Result<MainPlugins, RenderError> {
    let s = spec.ovs.as_ref().ok_or_else(|| missing("spec.ovs", "the section"))?;
    if s.bridge.is_empty() {
        return Err(missing("spec.ovs.bridge", "the OVS bridge"));
    }
    let resource_name =
        (!s.device_id.is_empty()).then(|| format!("{OVS_RESOURCE_PREFIX}/{}", s.bridge));
    let plugin = Plugin::Ovs(OvsConf {
        vlan: s.vlan,
        kind: "ovs",
        bridge: s.bridge.clone(),
        device_id: s.device_id.clone(),
        ipam: ipam(spec.ipam_disabled(), s.ippools.as_ref(), false),
        trunk: s.trunk.clone(),
    });
    Ok(MainPlugins { resource_name, ..MainPlugins::head(vec![plugin]) })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::*;

    fn spec(v: Value) -> MultusCNIConfigSpec {
        serde_json::from_value(v).unwrap()
    }

    fn plugins(list: &[Plugin]) -> Value {
        serde_json::to_value(list).unwrap()
    }

    fn types(list: &[Plugin]) -> Vec<String> {
        plugins(list)
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["type"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn macvlan_takes_the_master_and_a_vlan_through_ifacer() {
        let one = spec(json!({"macvlan": {"master": ["ens192"], "ippools": {"ipv4": ["p"]}}}));
        let got = macvlan_or_ipvlan(CniType::Macvlan, &one).unwrap();
        assert_eq!(
            plugins(&got.head),
            json!([{"type": "macvlan", "master": "ens192", "mode": "bridge",
                    "ipam": {"type": "spiderpool", "default_ipv4_ippool": ["p"]}}])
        );
        assert!(got.tail.is_empty() && got.resource_name.is_none());

        let vlan = spec(json!({"ipvlan": {"master": ["ens192"], "vlanID": 100}}));
        let got = macvlan_or_ipvlan(CniType::Ipvlan, &vlan).unwrap();
        assert_eq!(types(&got.head), ["ifacer", "ipvlan"]);
        assert_eq!(plugins(&got.head)[1]["master"], "ens192.100");

        let bond =
            spec(json!({"macvlan": {"master": ["a", "b"], "bond": {"name": "bond0", "mode": 1}}}));
        let got = macvlan_or_ipvlan(CniType::Macvlan, &bond).unwrap();
        assert_eq!(plugins(&got.head)[0]["bond"]["name"], "bond0");
        assert_eq!(plugins(&got.head)[1]["master"], "bond0");

        let e = macvlan_or_ipvlan(CniType::Macvlan, &spec(json!({}))).unwrap_err();
        assert_eq!(e.to_string(), "spec.macvlan: required: the section of the cniType");
    }

    #[test]
    fn vlan_renders_its_mode_and_an_id_unless_auto() {
        let manual = vlan(&spec(json!({"vlan": {"master": ["eth0"], "vlanID": 7}}))).unwrap();
        let p = &plugins(&manual.head)[0];
        assert_eq!((p["vlanMode"].clone(), p["vlanId"].clone()), (json!("manual"), json!(7)));
        let auto = vlan(&spec(json!({"vlan": {"master": ["eth0"], "vlanMode": "auto"}}))).unwrap();
        assert!(plugins(&auto.head)[0].get("vlanId").is_none());
        let e = vlan(&spec(json!({"vlan": {"master": ["eth0"], "vlanMode": "x"}}))).unwrap_err();
        assert!(e.to_string().starts_with("spec.vlan.vlanMode: unsupported value \"x\""), "{e}");
    }

    #[test]
    fn sriov_needs_a_resource_and_adds_rdma_and_a_tuning_tail() {
        let s = spec(json!({"sriov": {"resourceName": "r/vf", "rdmaIsolation": true, "mtu": 9000,
                                       "ippools": {"ipv4": ["p"], "matchMasterSubnet": true}}}));
        let got = sriov(&s).unwrap();
        assert_eq!(types(&got.head), ["sriov", "rdma"]);
        assert_eq!(plugins(&got.head)[0]["ipam"]["match_master_subnet"], true);
        assert_eq!(plugins(&got.tail), json!([{"type": "tuning", "mtu": 9000}]));
        assert_eq!(got.resource_name.as_deref(), Some("r/vf"));
        let zero_mtu = sriov(&spec(json!({"sriov": {"resourceName": "r", "mtu": 0}}))).unwrap();
        assert!(zero_mtu.tail.is_empty());
        let e = sriov(&spec(json!({"sriov": {}}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.sriov.resourceName: required: the device-plugin resource name"
        );
    }

    #[test]
    fn ib_sriov_ipoib_and_ovs_render_their_plugin() {
        let ib =
            ib_sriov(&spec(json!({"ibsriov": {"resourceName": "ib/vf", "pkey": ""}}))).unwrap();
        assert_eq!(types(&ib.head), ["ib-sriov"]);
        assert!(plugins(&ib.head)[0].get("pkey").is_none(), "an empty pkey is left out");
        assert_eq!(ib.resource_name.as_deref(), Some("ib/vf"));

        let ib0 = ipoib(&spec(json!({"ipoib": {"master": "ib0"}}))).unwrap();
        assert_eq!(plugins(&ib0.head)[0]["master"], "ib0");
        assert!(ipoib(&spec(json!({"ipoib": {"master": ""}}))).is_err());

        let plain = ovs(&spec(json!({"ovs": {"bridge": "br1"}}))).unwrap();
        assert_eq!(types(&plain.head), ["ovs"]);
        assert_eq!(plain.resource_name, None);
        let offload =
            ovs(&spec(json!({"ovs": {"bridge": "br1", "deviceID": "0000:01:00.1"}}))).unwrap();
        assert_eq!(offload.resource_name.as_deref(), Some("ovs-cni.network.kubevirt.io/br1"));
        assert!(ovs(&spec(json!({"ovs": {"bridge": ""}}))).is_err());
    }

    #[test]
    fn disabled_ipam_leaves_the_ipam_block_out() {
        let s = spec(json!({"disableIPAM": true, "macvlan": {"master": ["eth0"]}}));
        let got = main_plugins(CniType::Macvlan, &s).unwrap();
        assert!(plugins(&got.head)[0].get("ipam").is_none());
        assert!(main_plugins(CniType::Custom, &s).is_err(), "custom has no main plugin");
    }

    #[test]
    fn several_masters_need_a_named_bond() {
        let masters = ["a".to_string(), "b".to_string()];
        assert_eq!(base_master(&masters[..1], None, "s").unwrap(), "a");
        let e = base_master(&masters, None, "spec.vlan").unwrap_err();
        assert_eq!(e.to_string(), "spec.vlan.bond.name: required: a bond for several masters");
        assert!(base_master(&[], None, "spec.vlan").is_err());
    }
}
