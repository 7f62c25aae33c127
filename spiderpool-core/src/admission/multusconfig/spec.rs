//! Rules on `spec` of a SpiderMultusConfig (Go `validateCNIConfig`), all errors
//! collected.

use crate::admission::FieldError;
use crate::model::{
    BondConfig, CniType, LinkState, MultusCNIConfigSpec, SpiderIBSriovCniConfig,
    SpiderIpoibCniConfig, SpiderMacvlanCniConfig, SpiderOvsCniConfig, SpiderSRIOVCniConfig,
    SpiderVlanCniConfig, SpiderpoolPools, Trunk, VlanMode,
};
use crate::multus::parse_chain_plugin;

/// Highest VLAN id (4095 is reserved).
pub const MAX_VLAN_ID: i64 = 4094;
/// Highest Linux bonding mode (`balance-alb`).
pub const MAX_BOND_MODE: i32 = 6;
/// Longest Linux interface name (`IFNAMSIZ` − 1).
pub const MAX_IFNAME_LEN: usize = crate::name::IFNAME_MAX;

/// The typed sections: JSON key and the `cniType` it belongs to.
const SECTIONS: [(&str, CniType); 7] = [
    ("macvlan", CniType::Macvlan),
    ("ipvlan", CniType::Ipvlan),
    ("vlan", CniType::Vlan),
    ("sriov", CniType::Sriov),
    ("ovs", CniType::Ovs),
    ("ibsriov", CniType::IbSriov),
    ("ipoib", CniType::Ipoib),
];

fn section_present(spec: &MultusCNIConfigSpec, key: &str) -> bool {
    match key {
        "macvlan" => spec.macvlan.is_some(),
        "ipvlan" => spec.ipvlan.is_some(),
        "vlan" => spec.vlan.is_some(),
        "sriov" => spec.sriov.is_some(),
        "ovs" => spec.ovs.is_some(),
        "ibsriov" => spec.ibsriov.is_some(),
        "ipoib" => spec.ipoib.is_some(),
        _ => false,
    }
}

/// The JSON key of the section of `cni_type` (`None` for custom).
pub fn section_key(cni_type: CniType) -> Option<&'static str> {
    SECTIONS.iter().find(|(_, t)| *t == cni_type).map(|(k, _)| *k)
}

/// Checks `spec` and returns the parsed `cniType` (`None` when unsupported).
pub(super) fn check_spec(
    spec: &MultusCNIConfigSpec,
    errs: &mut Vec<FieldError>,
) -> Option<CniType> {
    let cni_type = match spec.cni_type.as_deref() {
        None => Some(CniType::Custom),
        Some(s) => match s.parse::<CniType>() {
            Ok(t) => Some(t),
            Err(_) => {
                errs.push(FieldError::not_supported("spec.cniType", s, CniType::WIRE_VALUES));
                None
            }
        },
    };
    if let Some(t) = cni_type {
        check_sections(spec, t, errs);
    }
    for (i, raw) in spec.chain_cni_json_data.iter().enumerate() {
        if let Err(reason) = parse_chain_plugin(raw) {
            errs.push(FieldError::invalid(
                format!("spec.chainCNIJsonData[{i}]"),
                raw,
                format!("not a valid CNI plugin configuration: {reason}"),
            ));
        }
    }
    cni_type
}

fn check_sections(spec: &MultusCNIConfigSpec, t: CniType, errs: &mut Vec<FieldError>) {
    for (key, owner) in SECTIONS {
        if owner != t && section_present(spec, key) {
            errs.push(FieldError::forbidden(
                format!("spec.{key}"),
                format!("must not be set when cniType is {t}; set only spec.{}", own(t)),
            ));
        }
    }
    if let Some(key) = section_key(t)
        && !section_present(spec, key)
    {
        errs.push(FieldError::required(format!("spec.{key}"), format!("cniType {t} needs it")));
    }
    match t {
        CniType::Macvlan => {
            spec.macvlan.iter().for_each(|s| check_macvlan(s, "spec.macvlan", errs))
        }
        CniType::Ipvlan => spec.ipvlan.iter().for_each(|s| check_macvlan(s, "spec.ipvlan", errs)),
        CniType::Vlan => spec.vlan.iter().for_each(|s| check_vlan(s, errs)),
        CniType::Sriov => spec.sriov.iter().for_each(|s| check_sriov(s, errs)),
        CniType::IbSriov => spec.ibsriov.iter().for_each(|s| check_ibsriov(s, errs)),
        CniType::Ipoib => spec.ipoib.iter().for_each(|s| check_ipoib(s, errs)),
        CniType::Ovs => spec.ovs.iter().for_each(|s| check_ovs(s, errs)),
        _ => {}
    }
    match (t, spec.custom_cni.as_deref()) {
        (CniType::Custom, Some(raw)) if !raw.is_empty() => check_custom(raw, errs),
        (CniType::Custom, _) | (_, None | Some("")) => {}
        (_, Some(_)) => errs.push(FieldError::forbidden(
            "spec.customCNI",
            format!("only used with cniType custom, not {t}"),
        )),
    }
}

fn own(t: CniType) -> String {
    section_key(t).map_or_else(|| "customCNI".to_string(), str::to_string)
}

/// `customCNI` must be a JSON object. Go only checks that it is valid JSON; a NAD
/// config that is not an object is rejected by Multus at pod creation, so we say
/// so at admission.
fn check_custom(raw: &str, errs: &mut Vec<FieldError>) {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(v) if v.is_object() => {}
        Ok(_) => errs.push(FieldError::invalid(
            "spec.customCNI",
            raw,
            "must be a JSON object (a CNI network configuration or conflist)",
        )),
        Err(e) => {
            errs.push(FieldError::invalid("spec.customCNI", raw, format!("is not valid JSON: {e}")))
        }
    }
}

/// A Linux interface name ([`crate::name::interface_name`]: 1–15 bytes,
/// not `.` or `..`, no `/`, `:`, NUL or whitespace), as a field error at
/// `path`. (Go only checks that `master` is non-empty; a name the kernel
/// cannot have fails every pod later.)
pub fn check_ifname(name: &str, path: &str, errs: &mut Vec<FieldError>) {
    if let Err(why) = crate::name::interface_name(name) {
        errs.push(FieldError::invalid(path, name, why.to_string()));
    }
}

fn check_vlan_id(id: Option<i64>, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(id) = id
        && !(0..=MAX_VLAN_ID).contains(&id)
    {
        errs.push(FieldError::invalid(path, id, format!("must be in the range 0-{MAX_VLAN_ID}")));
    }
}

fn check_mtu(mtu: Option<i32>, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(mtu) = mtu
        && mtu < 0
    {
        errs.push(FieldError::invalid(path, mtu, "must not be negative (0 keeps the default)"));
    }
}

/// `master` and `bond` of macvlan, ipvlan and vlan.
fn check_masters(
    masters: &[String],
    bond: Option<&BondConfig>,
    p: &str,
    errs: &mut Vec<FieldError>,
) {
    if masters.is_empty() {
        errs.push(FieldError::required(
            format!("{p}.master"),
            "at least one master interface is required",
        ));
    }
    for (i, m) in masters.iter().enumerate() {
        let path = format!("{p}.master[{i}]");
        check_ifname(m, &path, errs);
        if masters[..i].contains(m) {
            errs.push(FieldError::duplicate(path, m));
        }
    }
    match bond {
        None if masters.len() >= 2 => errs.push(FieldError::required(
            format!("{p}.bond"),
            "a bond is required when more than one master is given",
        )),
        None => {}
        Some(b) => {
            if b.name.is_empty() {
                errs.push(FieldError::required(format!("{p}.bond.name"), "the bond needs a name"));
            } else {
                check_ifname(&b.name, &format!("{p}.bond.name"), errs);
            }
            if !(0..=MAX_BOND_MODE).contains(&b.mode) {
                errs.push(FieldError::invalid(
                    format!("{p}.bond.mode"),
                    b.mode,
                    format!("must be a Linux bonding mode 0-{MAX_BOND_MODE}"),
                ));
            }
        }
    }
}

/// `matchMasterSubnet` only has an effect for sriov. Go rejects it on
/// macvlan/ipvlan/vlan; we reject it wherever it would be silently ignored.
fn check_pools_not_sriov(pools: Option<&SpiderpoolPools>, p: &str, errs: &mut Vec<FieldError>) {
    if let Some(pools) = pools
        && pools.match_master_subnet == Some(true)
    {
        errs.push(FieldError::invalid(
            format!("{p}.ippools.matchMasterSubnet"),
            true,
            "only supported for cniType sriov",
        ));
    }
}

fn check_macvlan(s: &SpiderMacvlanCniConfig, p: &str, errs: &mut Vec<FieldError>) {
    check_masters(&s.master, s.bond.as_ref(), p, errs);
    check_vlan_id(s.vlan_id.map(i64::from), &format!("{p}.vlanID"), errs);
    check_mtu(s.mtu, &format!("{p}.mtu"), errs);
    check_pools_not_sriov(s.ippools.as_ref(), p, errs);
}

fn check_vlan(s: &SpiderVlanCniConfig, errs: &mut Vec<FieldError>) {
    let p = "spec.vlan";
    check_masters(&s.master, s.bond.as_ref(), p, errs);
    check_vlan_id(s.vlan_id.map(i64::from), "spec.vlan.vlanID", errs);
    check_mtu(s.mtu, "spec.vlan.mtu", errs);
    check_pools_not_sriov(s.ippools.as_ref(), p, errs);
    match s.parsed_vlan_mode() {
        Err(_) => errs.push(FieldError::not_supported(
            "spec.vlan.vlanMode",
            s.vlan_mode.as_deref().unwrap_or_default(),
            &[VlanMode::Manual.as_str(), VlanMode::Auto.as_str()],
        )),
        Ok(VlanMode::Auto) if s.vlan_id.is_some() => errs.push(FieldError::forbidden(
            "spec.vlan.vlanID",
            "must not be set when vlanMode is auto (the IaaS provider assigns the VLAN)",
        )),
        Ok(VlanMode::Manual) if s.vlan_id.is_none() => {
            errs.push(FieldError::required("spec.vlan.vlanID", "required when vlanMode is manual"))
        }
        Ok(_) => {}
    }
}

fn check_resource_name(name: Option<&str>, p: &str, errs: &mut Vec<FieldError>) {
    if name.is_none_or(str::is_empty) {
        errs.push(FieldError::required(
            format!("{p}.resourceName"),
            "the device-plugin resource name is required",
        ));
    }
}

/// Deliberate difference from Go: a `maxTxRateMbps` of 0 means "no limit", so it
/// does not conflict with any `minTxRateMbps` (the kernel accepts that pair; Go
/// rejects it). Negative rates are rejected.
fn check_sriov(s: &SpiderSRIOVCniConfig, errs: &mut Vec<FieldError>) {
    check_resource_name(s.resource_name.as_deref(), "spec.sriov", errs);
    check_vlan_id(s.vlan_id.map(i64::from), "spec.sriov.vlanID", errs);
    check_mtu(s.mtu, "spec.sriov.mtu", errs);
    for (field, rate) in
        [("minTxRateMbps", s.min_tx_rate_mbps), ("maxTxRateMbps", s.max_tx_rate_mbps)]
    {
        if let Some(r) = rate
            && r < 0
        {
            errs.push(FieldError::invalid(
                format!("spec.sriov.{field}"),
                r,
                "must not be negative (0 means no limit)",
            ));
        }
    }
    if let (Some(min), Some(max)) = (s.min_tx_rate_mbps, s.max_tx_rate_mbps)
        && max > 0
        && min > max
    {
        errs.push(FieldError::invalid(
            "spec.sriov.minTxRateMbps",
            min,
            format!("must not be greater than maxTxRateMbps ({max})"),
        ));
    }
}

fn check_ibsriov(s: &SpiderIBSriovCniConfig, errs: &mut Vec<FieldError>) {
    check_resource_name(s.resource_name.as_deref(), "spec.ibsriov", errs);
    if s.parsed_link_state().is_err() {
        errs.push(FieldError::not_supported(
            "spec.ibsriov.linkState",
            s.link_state.as_deref().unwrap_or_default(),
            &LinkState::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        ));
    }
    check_pools_not_sriov(s.ippools.as_ref(), "spec.ibsriov", errs);
}

fn check_ipoib(s: &SpiderIpoibCniConfig, errs: &mut Vec<FieldError>) {
    if s.master.is_empty() {
        errs.push(FieldError::required(
            "spec.ipoib.master",
            "the host IPoIB interface is required",
        ));
    } else {
        check_ifname(&s.master, "spec.ipoib.master", errs);
    }
    check_pools_not_sriov(s.ippools.as_ref(), "spec.ipoib", errs);
}

/// Trunk ids are VLAN ids, 0–4094, like every other VLAN id here (Go allows a
/// single `id` up to 4096, which ovs cannot use). An entry is either `id` or a
/// `minID`..`maxID` range (Go dereferences a missing `minID` and crashes).
fn check_ovs(s: &SpiderOvsCniConfig, errs: &mut Vec<FieldError>) {
    if s.bridge.is_empty() {
        errs.push(FieldError::required("spec.ovs.bridge", "the OVS bridge is required"));
    }
    check_vlan_id(s.vlan.map(i64::from), "spec.ovs.vlan", errs);
    for (i, trunk) in s.trunk.iter().enumerate() {
        check_trunk(trunk, &format!("spec.ovs.trunk[{i}]"), errs);
    }
    check_pools_not_sriov(s.ippools.as_ref(), "spec.ovs", errs);
}

fn check_trunk(t: &Trunk, p: &str, errs: &mut Vec<FieldError>) {
    let max = MAX_VLAN_ID as u64;
    for (field, v) in [("minID", t.min_id), ("maxID", t.max_id), ("id", t.id)] {
        if let Some(v) = v
            && v > max
        {
            errs.push(FieldError::invalid(
                format!("{p}.{field}"),
                v,
                format!("must be in the range 0-{MAX_VLAN_ID}"),
            ));
        }
    }
    match (t.min_id, t.max_id, t.id) {
        (Some(min), Some(max), _) if max < min => errs.push(FieldError::invalid(
            format!("{p}.maxID"),
            max,
            format!("must not be less than minID ({min})"),
        )),
        (Some(_), Some(_), _) | (None, None, Some(_)) => {}
        (Some(_), None, _) => errs.push(FieldError::required(
            format!("{p}.maxID"),
            "a trunk range needs both minID and maxID",
        )),
        (None, Some(_), _) => errs.push(FieldError::required(
            format!("{p}.minID"),
            "a trunk range needs both minID and maxID",
        )),
        (None, None, None) => errs.push(FieldError::required(
            format!("{p}.id"),
            "a trunk entry needs id, or minID and maxID",
        )),
    }
}
