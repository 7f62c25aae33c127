//! Objects of every kind for tests: the quick start's seed objects and objects
//! with every field the core models set.
//!
//! The "full" objects set every field, including those Spiderpool's CRDs
//! default, so a round trip through an API server gives them back unchanged.

use std::collections::BTreeMap;

use serde_json::json;
use spiderpool_core::model::{
    BondConfig, CoordinatorSpec, CoordinatorStatus, IPAllocationDetail, IPPoolSpec, IPPoolStatus,
    LabelSelector, LabelSelectorRequirement, MultusCNIConfigSpec, ObjectMeta, PodIPAllocation,
    PoolIpAllocation, PoolIpAllocations, PoolIpPreAllocation, PoolIpPreAllocations, ReservedIPSpec,
    Route, SpiderCoordinator, SpiderEndpoint, SpiderIBSriovCniConfig, SpiderIPPool,
    SpiderIpoibCniConfig, SpiderMacvlanCniConfig, SpiderMultusConfig, SpiderOvsCniConfig,
    SpiderReservedIP, SpiderSRIOVCniConfig, SpiderSubnet, SpiderVlanCniConfig, SpiderpoolPools,
    SubnetSpec, SubnetStatus, Trunk, WorkloadEndpointStatus, render_allocated_ips,
    render_controlled_ip_pools,
};

/// Decodes a fixture written as JSON; the fixtures are constants of this
/// module, so a failure is a bug in the fixture.
fn decode<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    match serde_json::from_value(value) {
        Ok(t) => t,
        Err(e) => panic!("bad fixture: {e}"),
    }
}

/// The quick start's SpiderIPPool `10-6-v4` (verbatim).
pub fn seed_ippool() -> SpiderIPPool {
    decode(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderIPPool",
        "metadata": {"name": "10-6-v4"},
        "spec": {
            "disable": false,
            "gateway": "10.6.0.1",
            "ips": ["10.6.212.200-10.6.212.240"],
            "subnet": "10.6.0.0/16"
        }
    }))
}

/// The quick start's SpiderMultusConfig `macvlan-ens192` (verbatim; the quick
/// start applies it in namespace `default`).
pub fn seed_multus_config() -> SpiderMultusConfig {
    decode(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderMultusConfig",
        "metadata": {"name": "macvlan-ens192", "namespace": "default"},
        "spec": {
            "cniType": "macvlan",
            "macvlan": {"master": ["ens192"], "ippools": {"ipv4": ["10-6-v4"]}, "vlanID": 0}
        }
    }))
}

/// The quick start's SpiderCoordinator `default`, with its status (the legacy
/// `detectGateway`, `detectIPConflict` and `hostRPFilter` the quick start shows
/// are not part of the v2beta1 model).
pub fn seed_coordinator() -> SpiderCoordinator {
    decode(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderCoordinator",
        "metadata": {"name": "default", "finalizers": ["spiderpool.spidernet.io"]},
        "spec": {
            "hijackCIDR": ["169.254.0.0/16"],
            "hostRuleTable": 500,
            "mode": "auto",
            "podCIDRType": "calico",
            "podDefaultRouteNIC": "",
            "podMACPrefix": "",
            "tunePodRoutes": true
        },
        "status": {
            "overlayPodCIDR": ["10.244.64.0/18"],
            "phase": "Synced",
            "serviceCIDR": ["10.233.0.0/18"]
        }
    }))
}

fn selector(key: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_owned(), "yes".to_owned())])),
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: format!("{key}-tier"),
            operator: "In".into(),
            values: Some(vec!["a".into(), "b".into()]),
        }]),
    }
}

fn labels() -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([("spiderpool-rs.test/fixture".to_owned(), "full".to_owned())]))
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(str::to_owned),
        labels: labels(),
        annotations: Some(BTreeMap::from([("note".to_owned(), "every field set".to_owned())])),
        ..ObjectMeta::named(name)
    }
}

/// A SpiderIPPool `name` with every spec and status field set.
pub fn full_ippool(name: &str) -> SpiderIPPool {
    let allocations: PoolIpAllocations = BTreeMap::from([(
        "10.7.0.10".to_owned(),
        PoolIpAllocation {
            container_id: Some("c0ffee".into()),
            interface: Some("net1".into()),
            node: Some("node-1".into()),
            ..PoolIpAllocation::new("ns/pod-0", "uid-0")
        },
    )]);
    let mut pool = SpiderIPPool::new(
        name,
        IPPoolSpec {
            ip_version: Some(4),
            subnet: "10.7.0.0/16".into(),
            ips: vec!["10.7.0.10-10.7.0.20".into(), "10.7.0.30".into()],
            exclude_ips: vec!["10.7.0.15".into()],
            gateway: Some("10.7.0.1".into()),
            vlan: Some(7),
            routes: Some(vec![Route::new("10.8.0.0/16", "10.7.0.2")]),
            // The key Spiderpool's APP-NAMESPACE printer column reads.
            pod_affinity: Some(selector("ipam.spidernet.io/app-namespace")),
            namespace_affinity: Some(selector("team")),
            namespace_name: vec!["ns-a".into()],
            node_affinity: Some(selector("zone")),
            node_name: vec!["node-1".into()],
            multus_name: vec!["kube-system/macvlan".into()],
            default: Some(true),
            disable: Some(false),
        },
    );
    pool.metadata = meta(name, None);
    pool.status = Some(IPPoolStatus {
        allocated_ips: render_allocated_ips(&allocations),
        total_ip_count: Some(11),
        allocated_ip_count: Some(1),
        ..Default::default()
    });
    pool
}

/// A SpiderSubnet `name` with every spec and status field set.
pub fn full_subnet(name: &str) -> SpiderSubnet {
    let pools: PoolIpPreAllocations = BTreeMap::from([(
        "auto4-demo".to_owned(),
        PoolIpPreAllocation {
            ips: vec!["10.9.0.10-10.9.0.12".into()],
            application: Some("apps_v1_Deployment_ns_demo".into()),
        },
    )]);
    let mut subnet = SpiderSubnet::new(
        name,
        SubnetSpec {
            ip_version: Some(4),
            subnet: "10.9.0.0/16".into(),
            ips: vec!["10.9.0.10-10.9.0.100".into()],
            exclude_ips: vec!["10.9.0.50".into()],
            gateway: Some("10.9.0.1".into()),
            vlan: Some(9),
            routes: vec![Route::new("10.10.0.0/16", "10.9.0.2")],
        },
    );
    subnet.metadata = meta(name, None);
    subnet.status = Some(SubnetStatus {
        controlled_ip_pools: render_controlled_ip_pools(&pools),
        total_ip_count: Some(90),
        allocated_ip_count: Some(3),
    });
    subnet
}

/// A SpiderReservedIP `name` with every field set.
pub fn full_reserved_ip(name: &str) -> SpiderReservedIP {
    let mut reserved = SpiderReservedIP::new(
        name,
        ReservedIPSpec {
            ip_version: Some(6),
            ips: vec!["fd00::10".into(), "fd00::20-fd00::30".into()],
        },
    );
    reserved.metadata = meta(name, None);
    reserved
}

/// A SpiderEndpoint `namespace/name` with every field set (two interfaces).
pub fn full_endpoint(namespace: &str, name: &str) -> SpiderEndpoint {
    let detail = |interface: &str, last: u8| IPAllocationDetail {
        interface: interface.into(),
        ipv4: Some(format!("10.6.212.{last}/16")),
        ipv6: Some(format!("fd00:6::{last}/64")),
        ipv4_pool: Some("10-6-v4".into()),
        ipv6_pool: Some("fd00-6-v6".into()),
        vlan: Some(0),
        ipv4_gateway: Some("10.6.0.1".into()),
        ipv6_gateway: Some("fd00:6::1".into()),
        clean_gateway: Some(false),
        routes: vec![Route::new("10.8.0.0/16", "10.6.0.2")],
        mac: Some("0a:1b:00:00:00:01".into()),
    };
    let mut endpoint = SpiderEndpoint::new(
        namespace,
        name,
        WorkloadEndpointStatus {
            current: PodIPAllocation {
                uid: "5b0c1d2e-0000-4000-8000-000000000001".into(),
                node: "worker01".into(),
                ips: vec![detail("net1", 202), detail("net2", 203)],
            },
            owner_controller_type: "Deployment".into(),
            owner_controller_name: "nginx".into(),
        },
    );
    endpoint.metadata = meta(name, Some(namespace));
    endpoint
}

fn pools() -> Option<SpiderpoolPools> {
    Some(SpiderpoolPools {
        match_master_subnet: Some(false),
        ipv4: vec!["10-6-v4".into()],
        ipv6: vec!["fd00-6-v6".into()],
    })
}

fn bond() -> Option<BondConfig> {
    Some(BondConfig { name: "bond0".into(), mode: 1, options: Some("miimon=100".into()) })
}

/// A coordinator spec with every field set.
pub fn full_coordinator_spec() -> CoordinatorSpec {
    CoordinatorSpec {
        mode: Some("underlay".into()),
        pod_cidr_type: Some("cluster".into()),
        hijack_cidr: vec!["169.254.0.0/16".into()],
        policy_routes: vec![Route::new("10.20.0.0/16", "10.6.0.1")],
        pod_mac_prefix: Some("0a:1b".into()),
        tune_pod_routes: Some(true),
        pod_default_route_nic: Some("net1".into()),
        host_rule_table: Some(500),
        pod_rp_filter: Some(0),
        tx_queue_len: Some(0),
        veth_link_address: Some("169.254.100.1".into()),
        veth_mtu: Some(1500),
    }
}

/// A SpiderMultusConfig `namespace/name` with every section and field set (not
/// a valid combination for admission, which allows one section; the CRD schema
/// does not care).
pub fn full_multus_config(namespace: &str, name: &str) -> SpiderMultusConfig {
    let macvlan = SpiderMacvlanCniConfig {
        master: vec!["ens192".into(), "ens224".into()],
        vlan_id: Some(100),
        mtu: Some(1400),
        bond: bond(),
        rdma_resource_name: Some("rdma/shared".into()),
        ippools: pools(),
    };
    let spec = MultusCNIConfigSpec {
        cni_type: Some("macvlan".into()),
        macvlan: Some(macvlan.clone()),
        ipvlan: Some(macvlan),
        vlan: Some(SpiderVlanCniConfig {
            master: vec!["ens192".into()],
            vlan_id: Some(200),
            vlan_mode: Some("manual".into()),
            mtu: Some(0),
            bond: bond(),
            rdma_resource_name: Some(String::new()),
            ippools: pools(),
        }),
        sriov: Some(SpiderSRIOVCniConfig {
            resource_name: Some("intel.com/sriov".into()),
            vlan_id: Some(10),
            mtu: Some(9000),
            min_tx_rate_mbps: Some(10),
            max_tx_rate_mbps: Some(100),
            rdma_isolation: Some(true),
            ippools: pools(),
        }),
        ovs: Some(SpiderOvsCniConfig {
            bridge: "br1".into(),
            vlan: Some(30),
            trunk: vec![
                Trunk { min_id: Some(10), max_id: Some(20), id: None },
                Trunk { min_id: None, max_id: None, id: Some(42) },
            ],
            device_id: "0000:af:06.0".into(),
            ippools: pools(),
        }),
        ibsriov: Some(SpiderIBSriovCniConfig {
            resource_name: Some("mellanox.com/ib".into()),
            pkey: Some("0x7fff".into()),
            link_state: Some("auto".into()),
            rdma_isolation: Some(false),
            enable_ib_kubernetes: Some(true),
            ippools: pools(),
        }),
        ipoib: Some(SpiderIpoibCniConfig { master: "ib0".into(), ippools: pools() }),
        enable_coordinator: Some(true),
        disable_ipam: Some(false),
        coordinator: Some(full_coordinator_spec()),
        chain_cni_json_data: vec![r#"{"type":"tuning","sysctl":{}}"#.into()],
        custom_cni: Some(r#"{"cniVersion":"0.3.1","type":"bridge"}"#.into()),
    };
    let mut smc = SpiderMultusConfig::new(name, spec);
    smc.metadata = meta(name, Some(namespace));
    smc
}

/// A SpiderCoordinator `name` with every spec and status field set.
pub fn full_coordinator(name: &str) -> SpiderCoordinator {
    let mut scc = SpiderCoordinator::new(name, full_coordinator_spec());
    scc.metadata = meta(name, None);
    scc.status = Some(CoordinatorStatus {
        phase: "NotReady".into(),
        reason: "no pod CIDR found".into(),
        overlay_pod_cidr: vec!["10.244.0.0/16".into()],
        service_cidr: vec!["10.96.0.0/12".into()],
    });
    scc
}
