//! The resources of Spiderpool's Cilium quick start
//! (`shared/reference/cilium-quick-start.md`) load unchanged, and every kind
//! round-trips through JSON with Spiderpool's shapes.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use spiderpool_core::model::{
    API_VERSION, CniType, CoordinatorMode, CoordinatorPhase, IPPoolSpec, IPPoolStatus, PodCidrType,
    PoolIpAllocation, PoolIpAllocations, Resource, Route, SpiderCoordinator, SpiderEndpoint,
    SpiderIPPool, SpiderMultusConfig, SpiderReservedIP, SpiderSubnet, parse_allocated_ips,
    parse_controlled_ip_pools, render_allocated_ips,
};

// Verbatim from the quick start ("Create SpiderIPPool").
const IPPOOL_10_6_V4: &str = r#"apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: 10-6-v4
spec:
  disable: false
  gateway: 10.6.0.1
  ips:
  - 10.6.212.200-10.6.212.240
  subnet: 10.6.0.0/16
"#;

// Verbatim from the quick start ("Create SpiderMultusConfig").
const SMC_MACVLAN_ENS192: &str = r#"apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderMultusConfig
metadata:
  name: macvlan-ens192
spec:
  cniType: macvlan
  macvlan:
    master:
    - ens192
    ippools:
      ipv4:
      - 10-6-v4
    vlanID: 0
"#;

// Verbatim from the quick start (`kubectl get spidercoordinators ... default -o yaml`).
const COORDINATOR_DEFAULT: &str = r#"apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderCoordinator
metadata:
  finalizers:
  - spiderpool.spidernet.io
  name: default
spec:
  detectGateway: false
  detectIPConflict: false
  hijackCIDR:
  - 169.254.0.0/16
  hostRPFilter: 0
  hostRuleTable: 500
  mode: auto
  podCIDRType: calico
  podDefaultRouteNIC: ""
  podMACPrefix: ""
  tunePodRoutes: true
status:
  overlayPodCIDR:
  - 10.244.64.0/18
  phase: Synced
  serviceCIDR:
  - 10.233.0.0/18
"#;

#[test]
fn quickstart_ippool_loads() {
    let pool: SpiderIPPool = serde_saphyr::from_str(IPPOOL_10_6_V4).unwrap();
    assert_eq!(pool.api_version, API_VERSION);
    assert_eq!(pool.kind, "SpiderIPPool");
    assert_eq!(pool.metadata.name.as_deref(), Some("10-6-v4"));
    assert_eq!(pool.spec.subnet, "10.6.0.0/16");
    assert_eq!(pool.spec.gateway.as_deref(), Some("10.6.0.1"));
    assert_eq!(pool.spec.ips, vec!["10.6.212.200-10.6.212.240".to_owned()]);
    assert_eq!(pool.spec.disable, Some(false));
    assert!(!pool.spec.is_disabled());
    assert_eq!(pool.spec.ip_version, None);
    assert!(pool.spec.exclude_ips.is_empty());
    assert_eq!(pool.spec.routes, None);
    assert_eq!(pool.status, None);

    // Printing it back gives the same document.
    let as_json: Value = serde_saphyr::from_str(IPPOOL_10_6_V4).unwrap();
    assert_eq!(serde_json::to_value(&pool).unwrap(), as_json);
}

#[test]
fn quickstart_multus_config_loads() {
    let smc: SpiderMultusConfig = serde_saphyr::from_str(SMC_MACVLAN_ENS192).unwrap();
    assert_eq!(smc.metadata.name.as_deref(), Some("macvlan-ens192"));
    assert_eq!(smc.spec.parsed_cni_type().unwrap(), CniType::Macvlan);
    let macvlan = smc.spec.macvlan.as_ref().unwrap();
    assert_eq!(macvlan.master, vec!["ens192".to_owned()]);
    assert_eq!(macvlan.vlan_id, Some(0));
    assert_eq!(macvlan.bond, None);
    let pools = macvlan.ippools.as_ref().unwrap();
    assert_eq!(pools.ipv4, vec!["10-6-v4".to_owned()]);
    assert!(pools.ipv6.is_empty());
    assert_eq!(pools.match_master_subnet, None);
    assert_eq!(smc.spec.ippools(), Some(pools));
    assert!(smc.spec.coordinator_enabled());
    assert!(!smc.spec.ipam_disabled());
    assert!(
        smc.spec.ipvlan.is_none() && smc.spec.sriov.is_none() && smc.spec.coordinator.is_none()
    );

    // Printing it back adds only `chainCNIJsonData: []`, which Go always prints.
    let mut as_json: Value = serde_saphyr::from_str(SMC_MACVLAN_ENS192).unwrap();
    as_json["spec"]["chainCNIJsonData"] = json!([]);
    assert_eq!(serde_json::to_value(&smc).unwrap(), as_json);
}

#[test]
fn quickstart_coordinator_loads() {
    let scc: SpiderCoordinator = serde_saphyr::from_str(COORDINATOR_DEFAULT).unwrap();
    assert_eq!(scc.metadata.name.as_deref(), Some(SpiderCoordinator::DEFAULT_NAME));
    assert_eq!(scc.metadata.finalizers, Some(vec!["spiderpool.spidernet.io".to_owned()]));
    let spec = &scc.spec;
    assert_eq!(spec.parsed_mode().unwrap(), Some(CoordinatorMode::Auto));
    assert_eq!(spec.parsed_pod_cidr_type().unwrap(), Some(PodCidrType::Calico));
    assert_eq!(spec.hijack_cidr, vec!["169.254.0.0/16".to_owned()]);
    assert_eq!(spec.host_rule_table, Some(500));
    assert_eq!(spec.pod_default_route_nic.as_deref(), Some(""));
    assert_eq!(spec.pod_mac_prefix.as_deref(), Some(""));
    assert_eq!(spec.tune_pod_routes, Some(true));
    let status = scc.status.as_ref().unwrap();
    assert_eq!(status.parsed_phase().unwrap(), CoordinatorPhase::Synced);
    assert!(status.is_synced());
    assert_eq!(status.overlay_pod_cidr, vec!["10.244.64.0/18".to_owned()]);
    assert_eq!(status.service_cidr, vec!["10.233.0.0/18".to_owned()]);

    // The legacy detectGateway / detectIPConflict / hostRPFilter are dropped, as
    // the API server prunes them; everything else comes back unchanged.
    let mut as_json: Value = serde_saphyr::from_str(COORDINATOR_DEFAULT).unwrap();
    let spec_obj = as_json["spec"].as_object_mut().unwrap();
    for legacy in ["detectGateway", "detectIPConflict", "hostRPFilter"] {
        spec_obj.remove(legacy);
    }
    assert_eq!(serde_json::to_value(&scc).unwrap(), as_json);
}

#[test]
fn quickstart_documents_dispatch_through_resource() {
    let cases = [
        (IPPOOL_10_6_V4, "SpiderIPPool", "10-6-v4"),
        (SMC_MACVLAN_ENS192, "SpiderMultusConfig", "macvlan-ens192"),
        (COORDINATOR_DEFAULT, "SpiderCoordinator", "default"),
    ];
    for (yaml, kind, name) in cases {
        let r: Resource = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!((r.kind(), r.name()), (kind, name));
    }
}

#[test]
fn legacy_multus_config_from_quickstart_nad_annotation_loads() {
    // The `last-applied-configuration` of the quick start's NAD was written by an
    // older Spiderpool (`spiderpoolConfigPools`, `tuneMode`); unknown keys are
    // ignored rather than rejected.
    let legacy = r#"{"apiVersion":"spiderpool.spidernet.io/v2beta1","kind":"SpiderMultusConfig","metadata":{"annotations":{},"name":"macvlan-ens192","namespace":"default"},"spec":{"cniType":"macvlan","coordinator":{"podCIDRType":"cluster","tuneMode":"overlay"},"enableCoordinator":true,"macvlan":{"master":["ens192"],"spiderpoolConfigPools":{"IPv4IPPool":["10-6-v4"]},"vlanID":0}}}"#;
    let smc: SpiderMultusConfig = serde_json::from_str(legacy).unwrap();
    assert_eq!(smc.metadata.namespace.as_deref(), Some("default"));
    let coordinator = smc.spec.coordinator.as_ref().unwrap();
    assert_eq!(coordinator.parsed_pod_cidr_type().unwrap(), Some(PodCidrType::Cluster));
    assert_eq!(coordinator.mode, None);
    assert_eq!(smc.spec.macvlan.as_ref().unwrap().ippools, None);
}

/// Deserialize, serialize, compare as JSON values; also through [`Resource`].
fn assert_round_trip<T>(v: &Value) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let typed: T = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&typed).unwrap(), v);
    let resource = Resource::from_value(v.clone()).unwrap();
    assert_eq!(&resource.to_value().unwrap(), v);
    typed
}

#[test]
fn ippool_round_trip_with_status() {
    let v = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderIPPool",
        "metadata": {
            "name": "10-6-v4",
            "finalizers": ["spiderpool.spidernet.io"],
            "labels": {"ipam.spidernet.io/ippool-cidr": "10-6-0-0-16"},
            "resourceVersion": "24713635",
            "generation": 2
        },
        "spec": {
            "ipVersion": 4,
            "subnet": "10.6.0.0/16",
            "ips": ["10.6.212.200-10.6.212.240"],
            "excludeIPs": ["10.6.212.210"],
            "gateway": "10.6.0.1",
            "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.254"}],
            "podAffinity": {"matchLabels": {"app": "nginx"}},
            "namespaceAffinity": {
                "matchExpressions": [
                    {"key": "team", "operator": "In", "values": ["a", "b"]}
                ]
            },
            "namespaceName": ["default"],
            "nodeAffinity": {"matchLabels": {"kubernetes.io/os": "linux"}},
            "nodeName": ["worker01", "controller"],
            "multusName": ["default/macvlan-ens192"],
            "default": false,
            "disable": false
        },
        "status": {
            "allocatedIPs": "{\"10.6.212.201\":{\"pod\":\"default/nginx-x34abcsf74-xngkm\",\"podUid\":\"6f2b3c1e-0b4a-4f0e-9d1c-2b7f3e9a1c11\"},\"10.6.212.202\":{\"pod\":\"default/nginx-x34abcsf74-ougjk\",\"podUid\":\"0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5\",\"containerID\":\"9a8b7c\",\"interface\":\"net1\",\"node\":\"worker01\"}}",
            "allocatedIPCount": 2,
            "totalIPCount": 40
        }
    });
    let pool: SpiderIPPool = assert_round_trip(&v);

    // allocatedIPs: parse -> render gives back the very same string.
    let status = pool.status.as_ref().unwrap();
    let allocations = status.allocations().unwrap();
    assert_eq!(allocations.len(), 2);
    let first = &allocations["10.6.212.201"];
    assert_eq!(first.pod, "default/nginx-x34abcsf74-xngkm");
    assert_eq!(first.pod_uid, "6f2b3c1e-0b4a-4f0e-9d1c-2b7f3e9a1c11");
    assert_eq!(first.container_id, None);
    let second = &allocations["10.6.212.202"];
    assert_eq!(second.interface.as_deref(), Some("net1"));
    assert_eq!(second.node.as_deref(), Some("worker01"));
    assert_eq!(render_allocated_ips(&allocations).as_deref(), status.allocated_ips.as_deref());

    // Writing allocations through the helper keeps count and string consistent.
    let mut updated = status.clone();
    let mut more = allocations.clone();
    more.insert("10.6.212.203".into(), PoolIpAllocation::new("kube-system/x", "uid-3"));
    updated.set_allocations(&more);
    assert_eq!(updated.allocated_ip_count, Some(3));
    assert_eq!(parse_allocated_ips(updated.allocated_ips.as_deref()).unwrap(), more);
}

#[test]
fn ippool_omitempty() {
    // Empty optional fields are not printed; `subnet` (no omitempty) is.
    let pool =
        SpiderIPPool::new("p", IPPoolSpec { subnet: "10.0.0.0/24".into(), ..Default::default() });
    assert_eq!(
        serde_json::to_value(&pool).unwrap(),
        json!({
            "apiVersion": "spiderpool.spidernet.io/v2beta1",
            "kind": "SpiderIPPool",
            "metadata": {"name": "p"},
            "spec": {"subnet": "10.0.0.0/24"}
        })
    );
    // A status with nothing allocated prints as an empty object, never
    // `allocatedIPs: ""` or `"{}"`.
    let mut status = IPPoolStatus::default();
    status.set_allocations(&PoolIpAllocations::new());
    assert_eq!(serde_json::to_value(&status).unwrap(), json!({"allocatedIPCount": 0}));
}

#[test]
fn subnet_round_trip() {
    let v = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderSubnet",
        "metadata": {"name": "default-v4-subnet"},
        "spec": {
            "ipVersion": 4,
            "subnet": "172.22.0.0/16",
            "ips": ["172.22.40.2-172.22.40.254"],
            "excludeIPs": ["172.22.40.10-172.22.40.20"],
            "gateway": "172.22.40.1",
            "routes": [{"dst": "10.0.0.0/8", "gw": "172.22.40.254"}]
        },
        "status": {
            "controlledIPPools": "{\"auto4-nginx-eth0-a1b2c\":{\"ips\":[\"172.22.40.2-172.22.40.4\"],\"application\":\"apps_v1_Deployment_default_nginx\"},\"manual-pool\":{\"ips\":[\"172.22.40.100\"]}}",
            "totalIPCount": 242,
            "allocatedIPCount": 4
        }
    });
    let subnet: SpiderSubnet = assert_round_trip(&v);
    let pools =
        parse_controlled_ip_pools(subnet.status.as_ref().unwrap().controlled_ip_pools.as_deref())
            .unwrap();
    assert_eq!(pools["manual-pool"].ips, vec!["172.22.40.100".to_owned()]);
    assert_eq!(
        pools["auto4-nginx-eth0-a1b2c"].application.as_deref(),
        Some("apps_v1_Deployment_default_nginx")
    );
}

#[test]
fn reserved_ip_round_trip() {
    let v = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderReservedIP",
        "metadata": {"name": "exclude-gateway-neighbours"},
        "spec": {"ipVersion": 6, "ips": ["fd00:10:6::1-fd00:10:6::10"]}
    });
    let r: SpiderReservedIP = assert_round_trip(&v);
    assert_eq!(r.spec.ip_version, Some(6));
}

#[test]
fn endpoint_round_trip_and_shape() {
    let v = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderEndpoint",
        "metadata": {
            "name": "nginx-4653bc4f24-xngkm",
            "namespace": "default",
            "finalizers": ["spiderpool.spidernet.io"],
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "Pod", "name": "nginx-4653bc4f24-xngkm",
                "uid": "e7b50a38-25c2-41d0-b332-7f6193a9d0f1",
                "controller": true, "blockOwnerDeletion": true
            }]
        },
        "status": {
            "current": {
                "uid": "e7b50a38-25c2-41d0-b332-7f6193a9d0f1",
                "node": "worker01",
                "ips": [
                    {
                        "interface": "net1",
                        "ipv4": "10.6.212.202/16",
                        "ipv4Pool": "10-6-v4",
                        "ipv4Gateway": "10.6.0.1",
                        "ipv6": "fd00:10:6::df3/64",
                        "ipv6Pool": "10-6-v6",
                        "ipv6Gateway": "fd00:10:6::1",
                        "cleanGateway": false,
                        "vlan": 0,
                        "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.254"}]
                    },
                    {"interface": "net2", "ipv4": "10.8.0.5/24", "ipv4Pool": "10-8-v4", "mac": "02:00:0a:08:00:05"}
                ]
            },
            "ownerControllerType": "Deployment",
            "ownerControllerName": "nginx"
        }
    });
    let se: SpiderEndpoint = assert_round_trip(&v);
    let current = &se.status.current;
    assert_eq!(current.node, "worker01");
    assert_eq!(current.ips.len(), 2);
    assert_eq!(current.ips[0].interface, "net1");
    assert_eq!(current.ips[0].routes, vec![Route::new("10.7.0.0/16", "10.6.0.254")]);
    assert_eq!(current.ips[1].mac.as_deref(), Some("02:00:0a:08:00:05"));
    assert_eq!(current.ips[1].clean_gateway, None);
    assert_eq!(se.status.owner_controller_type, "Deployment");
    // A SpiderEndpoint has no spec on the wire.
    assert!(serde_json::to_value(&se).unwrap().get("spec").is_none());
}

#[test]
fn multus_config_round_trip_sriov_with_coordinator() {
    let v = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderMultusConfig",
        "metadata": {
            "name": "sriov-rdma",
            "namespace": "kube-system",
            "annotations": {
                "multus.spidernet.io/cni-version": "1.0.0",
                "cni.spidernet.io/rdma-resource-inject": "gpu-network"
            }
        },
        "spec": {
            "cniType": "sriov",
            "sriov": {
                "resourceName": "spidernet.io/mellanoxrdma",
                "vlanID": 200,
                "mtu": 9000,
                "minTxRateMbps": 0,
                "maxTxRateMbps": 10000,
                "rdmaIsolation": true,
                "ippools": {"matchMasterSubnet": true, "ipv4": ["gpu-*"], "ipv6": ["gpu6-*"]}
            },
            "enableCoordinator": true,
            "disableIPAM": false,
            "coordinator": {
                "mode": "underlay",
                "podCIDRType": "cluster",
                "hijackCIDR": ["169.254.25.10/32"],
                "policyRoutes": [{"dst": "10.100.0.0/16", "gw": "172.81.0.1"}],
                "podMACPrefix": "0a:1b",
                "tunePodRoutes": false,
                "podDefaultRouteNIC": "eth0",
                "hostRuleTable": 600,
                "podRPFilter": -1,
                "txQueueLen": 2000,
                "vethLinkAddress": "169.254.100.1",
                "vethMTU": 9000
            },
            "chainCNIJsonData": ["{\"type\":\"bandwidth\",\"egressRate\":1000000}"]
        }
    });
    let smc: SpiderMultusConfig = assert_round_trip(&v);
    assert_eq!(smc.spec.parsed_cni_type().unwrap(), CniType::Sriov);
    let coordinator = smc.spec.coordinator.as_ref().unwrap();
    assert_eq!(coordinator.pod_rp_filter, Some(-1));
    assert_eq!(coordinator.parsed_mode().unwrap(), Some(CoordinatorMode::Underlay));
    assert_eq!(smc.spec.ippools().unwrap().ipv4, vec!["gpu-*".to_owned()]);
}

#[test]
fn coordinator_round_trip_not_ready() {
    let v = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderCoordinator",
        "metadata": {"name": "default", "finalizers": ["spiderpool.spidernet.io"]},
        "spec": {
            "mode": "disable",
            "podCIDRType": "auto",
            "hijackCIDR": ["169.254.0.0/16"],
            "hostRuleTable": 500,
            "podRPFilter": 0,
            "tunePodRoutes": true,
            "txQueueLen": 0,
            "vethMTU": 1500
        },
        "status": {
            "phase": "NotReady",
            "reason": "failed to get kube-controller-manager pod",
            "overlayPodCIDR": [],
            "serviceCIDR": []
        }
    });
    let scc: SpiderCoordinator = assert_round_trip(&v);
    // We accept the plugin's spelling `disable` as well as the CRD's `disabled`.
    assert_eq!(scc.spec.parsed_mode().unwrap(), Some(CoordinatorMode::Disabled));
    assert!(!scc.status.as_ref().unwrap().is_synced());
}

#[test]
fn every_kind_new_round_trips_through_resource() {
    let resources: Vec<Resource> = vec![
        SpiderIPPool::new("a", Default::default()).into(),
        SpiderSubnet::new("b", Default::default()).into(),
        SpiderReservedIP::new("c", Default::default()).into(),
        SpiderEndpoint::new("ns", "d", Default::default()).into(),
        SpiderMultusConfig::new("e", Default::default()).into(),
        SpiderCoordinator::new("f", Default::default()).into(),
    ];
    for r in resources {
        let v = r.to_value().unwrap();
        assert_eq!(v["apiVersion"], json!(API_VERSION));
        assert_eq!(Resource::from_value(v).unwrap(), r);
    }
}
