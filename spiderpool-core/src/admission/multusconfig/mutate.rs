//! SpiderMultusConfig defaulting (Go `multusconfig_mutate.go`).

use crate::model::{
    CniType, CoordinatorSpec, MultusCNIConfigSpec, ObjectMeta, SpiderIBSriovCniConfig,
    SpiderIpoibCniConfig, SpiderMacvlanCniConfig, SpiderMultusConfig, SpiderOvsCniConfig,
    SpiderSRIOVCniConfig, SpiderVlanCniConfig, SpiderpoolPools, VlanMode,
};

/// The annotations the pod webhook groups SMCs by; mutation copies them to labels
/// of the same key so the webhook can list SMCs with a label selector.
pub const INJECT_ANNOTATIONS: [&str; 2] = [
    SpiderMultusConfig::ANNOTATION_RDMA_RESOURCE_INJECT,
    SpiderMultusConfig::ANNOTATION_NETWORK_RESOURCE_INJECT,
];

/// Fills every default of a SpiderMultusConfig. Only absent fields are set, so
/// the function is idempotent.
///
/// - `cniType` → `custom`; `enableCoordinator` → `true`; `disableIPAM` → `false`;
/// - the section of the `cniType`: `rdmaResourceName` "", `bond.options` "",
///   `ippools` {} (sriov: `matchMasterSubnet` false), sriov `rdmaIsolation`
///   false, ib-sriov `pkey` "", `linkState` enable, `rdmaIsolation` true,
///   `enableIbKubernetes` false, vlan `vlanMode` manual (and `vlanID` 0 in manual
///   mode, the VLAN the vlan plugin always needs);
/// - `custom`: `customCNI` "", the `coordinator` block removed and
///   `enableCoordinator` false;
/// - otherwise the `coordinator` block (see [`default_smc_coordinator`]);
/// - the two resource-inject annotations copied to labels.
///
/// Deliberate difference from Go: optional numeric keys (`mtu`, `vlanID` of
/// macvlan/ipvlan/sriov, sriov `minTxRateMbps`/`maxTxRateMbps`, ovs `vlan`, and
/// the coordinator's `podRPFilter`/`txQueueLen`) are left unset. The NAD renders
/// a key only when it is set, and a key in the NAD wins over the
/// SpiderCoordinator in the coordinator plugin, so a defaulted 0 would replace
/// a cluster-wide `podRPFilter: 2` or `txQueueLen: 1000` on every network (Go
/// defaults them to 0 and renders `mtu: 0`; its own coordinator block renders
/// neither `txQueueLen: 0` nor `podRPFilter`). See [`default_smc_coordinator`].
pub fn default_smc(smc: &mut SpiderMultusConfig) {
    default_spec(&mut smc.spec);
    copy_inject_labels(&mut smc.metadata);
}

fn default_spec(spec: &mut MultusCNIConfigSpec) {
    let cni_type = spec.cni_type.get_or_insert_with(|| CniType::Custom.as_str().to_string());
    let cni_type = cni_type.parse::<CniType>().ok();
    match cni_type {
        Some(CniType::Macvlan) => spec.macvlan.as_mut().map(default_macvlan),
        Some(CniType::Ipvlan) => spec.ipvlan.as_mut().map(default_macvlan),
        Some(CniType::Vlan) => spec.vlan.as_mut().map(default_vlan),
        Some(CniType::Sriov) => spec.sriov.as_mut().map(default_sriov),
        Some(CniType::IbSriov) => spec.ibsriov.as_mut().map(default_ibsriov),
        Some(CniType::Ipoib) => spec.ipoib.as_mut().map(default_ipoib),
        Some(CniType::Ovs) => spec.ovs.as_mut().map(default_ovs),
        Some(CniType::Custom) => {
            spec.custom_cni.get_or_insert_with(String::new);
            None
        }
        _ => None,
    };
    spec.disable_ipam.get_or_insert(false);
    if cni_type == Some(CniType::Custom) {
        spec.coordinator = None;
        spec.enable_coordinator = Some(false);
    } else {
        spec.enable_coordinator.get_or_insert(true);
        default_smc_coordinator(spec.coordinator.get_or_insert_with(CoordinatorSpec::default));
    }
}

/// Defaults of the `coordinator` block of a (non-custom) SMC: `mode` auto,
/// `podMACPrefix`, `podDefaultRouteNIC` and `vethLinkAddress` "" and
/// `tunePodRoutes` true. (`hijackCIDR` and `policyRoutes` default to empty
/// lists, which is what an absent list already is.) `podRPFilter`,
/// `txQueueLen` and `vethMTU` stay unset unless the user gives them, so the
/// coordinator takes them from the SpiderCoordinator.
///
/// Deliberate differences from Go (DESIGN.md §5.4): `tunePodRoutes` is `true`
/// when missing whether or not the block was given (Go: `false` when the block is
/// given without it, `true` when the block is absent), so mutating twice gives
/// the same object; `podRPFilter` and `txQueueLen` are not defaulted to 0.
pub fn default_smc_coordinator(c: &mut CoordinatorSpec) {
    c.mode.get_or_insert_with(|| "auto".to_string());
    c.pod_mac_prefix.get_or_insert_with(String::new);
    c.pod_default_route_nic.get_or_insert_with(String::new);
    c.veth_link_address.get_or_insert_with(String::new);
    c.tune_pod_routes.get_or_insert(true);
}

fn default_pools(pools: &mut Option<SpiderpoolPools>) -> &mut SpiderpoolPools {
    pools.get_or_insert_with(SpiderpoolPools::default)
}

fn default_macvlan(s: &mut SpiderMacvlanCniConfig) {
    s.rdma_resource_name.get_or_insert_with(String::new);
    if let Some(bond) = s.bond.as_mut() {
        bond.options.get_or_insert_with(String::new);
    }
    default_pools(&mut s.ippools);
}

fn default_vlan(s: &mut SpiderVlanCniConfig) {
    let mode = s.vlan_mode.get_or_insert_with(|| VlanMode::Manual.as_str().to_string());
    if mode.parse::<VlanMode>() == Ok(VlanMode::Manual) {
        s.vlan_id.get_or_insert(0);
    }
    s.rdma_resource_name.get_or_insert_with(String::new);
    if let Some(bond) = s.bond.as_mut() {
        bond.options.get_or_insert_with(String::new);
    }
    default_pools(&mut s.ippools);
}

fn default_sriov(s: &mut SpiderSRIOVCniConfig) {
    s.rdma_isolation.get_or_insert(false);
    default_pools(&mut s.ippools).match_master_subnet.get_or_insert(false);
}

fn default_ibsriov(s: &mut SpiderIBSriovCniConfig) {
    s.pkey.get_or_insert_with(String::new);
    s.link_state.get_or_insert_with(|| "enable".to_string());
    s.rdma_isolation.get_or_insert(true);
    s.enable_ib_kubernetes.get_or_insert(false);
    default_pools(&mut s.ippools);
}

fn default_ipoib(s: &mut SpiderIpoibCniConfig) {
    default_pools(&mut s.ippools);
}

fn default_ovs(s: &mut SpiderOvsCniConfig) {
    default_pools(&mut s.ippools);
}

fn copy_inject_labels(meta: &mut ObjectMeta) {
    for key in INJECT_ANNOTATIONS {
        if let Some(value) = meta.annotation(key).map(str::to_string) {
            meta.labels.get_or_insert_with(Default::default).insert(key.to_string(), value);
        }
    }
}
