//! What Spiderpool's CRDs validate and default beyond the shape of the types:
//! enums, ranges and CRD defaults, as [`Rule`]s at schema paths.
//!
//! Taken from Spiderpool's `charts/spiderpool/crds/*.yaml` (its kubebuilder
//! markers); enum values come from the core's typed views (`WIRE_VALUES`) and
//! defaults from the core's constants where it has them, so both sides agree.
//! Deliberate differences are noted at the rule.

use serde_json::{Value, json};
use spiderpool_core::model::{
    CniType, CoordinatorMode, CoordinatorSpec, LinkState, PodCidrType, SpiderCoordinator,
    SpiderEndpoint, SpiderIPPool, SpiderMultusConfig, SpiderReservedIP, SpiderSubnet, VlanMode,
};

use super::schema::Rule;

/// The rules of the kind named `kind`.
pub(crate) fn for_kind(kind: &str) -> Vec<Rule> {
    match kind {
        SpiderIPPool::KIND => ippool(),
        SpiderSubnet::KIND => subnet(),
        SpiderReservedIP::KIND => vec![ip_version("spec.ipVersion")],
        SpiderEndpoint::KIND => endpoint(),
        SpiderMultusConfig::KIND => multus(),
        SpiderCoordinator::KIND => coordinator(),
        _ => Vec::new(),
    }
}

fn set(path: impl Into<String>, patch: Value) -> Rule {
    Rule::Set(path.into(), patch)
}

fn ip_version(path: &str) -> Rule {
    set(path, json!({"enum": [4, 6]}))
}

fn vlan_id(path: impl Into<String>) -> Rule {
    set(path, json!({"minimum": 0, "maximum": 4094}))
}

fn non_negative(path: impl Into<String>) -> Rule {
    set(path, json!({"minimum": 0}))
}

/// `metav1.LabelSelector` is atomic for server-side apply, as in Kubernetes.
fn label_selector(path: &str) -> Vec<Rule> {
    vec![
        set(path, json!({"x-kubernetes-map-type": "atomic"})),
        set(format!("{path}.matchExpressions"), json!({"x-kubernetes-list-type": "atomic"})),
        set(
            format!("{path}.matchExpressions[].values"),
            json!({"x-kubernetes-list-type": "atomic"}),
        ),
    ]
}

fn ippool() -> Vec<Rule> {
    let mut rules = vec![
        ip_version("spec.ipVersion"),
        set("spec.default", json!({"default": false})),
        set("spec.disable", json!({"default": false})),
        // Not in Spiderpool's IPPool CRD any more (it prunes the field); kept by
        // the core so old objects round-trip, with the range of SpiderSubnet's.
        vlan_id("spec.vlan"),
        non_negative("status.allocatedIPCount"),
        non_negative("status.totalIPCount"),
    ];
    for selector in ["spec.podAffinity", "spec.namespaceAffinity", "spec.nodeAffinity"] {
        rules.extend(label_selector(selector));
    }
    rules
}

fn subnet() -> Vec<Rule> {
    vec![
        ip_version("spec.ipVersion"),
        vlan_id("spec.vlan"),
        non_negative("status.allocatedIPCount"),
        non_negative("status.totalIPCount"),
    ]
}

fn endpoint() -> Vec<Rule> {
    vec![set("status.current.ips[].vlan", json!({"default": 0, "minimum": 0, "maximum": 4094}))]
}

/// `CoordinatorSpec` at `prefix` (`spec` of a SpiderCoordinator,
/// `spec.coordinator` of a SpiderMultusConfig).
///
/// `numeric_defaults`: whether `podRPFilter` and `txQueueLen` get their CRD
/// default 0. Not in a SpiderMultusConfig: the NAD renders a key the SMC
/// sets, a key in the NAD wins over the SpiderCoordinator, and the API server
/// applies CRD defaults to every stored object, so a defaulted 0 would
/// replace a cluster-wide `podRPFilter: 2` on every network (issue 9 item 1;
/// admission leaves them unset for the same reason).
fn coordinator_spec(prefix: &str, numeric_defaults: bool) -> Vec<Rule> {
    let numeric = |value: i64| {
        if numeric_defaults { json!({"default": value}) } else { json!({}) }
    };
    vec![
        // Spiderpool's enum is auto/underlay/overlay/disabled; we also accept the
        // plugin's spelling `disable` (DESIGN §5.4).
        set(
            format!("{prefix}.mode"),
            json!({"default": CoordinatorMode::Auto.as_str(), "enum": CoordinatorMode::WIRE_VALUES}),
        ),
        set(format!("{prefix}.podCIDRType"), json!({"enum": PodCidrType::WIRE_VALUES})),
        set(format!("{prefix}.tunePodRoutes"), json!({"default": true})),
        set(
            format!("{prefix}.hostRuleTable"),
            json!({"default": CoordinatorSpec::DEFAULT_HOST_RULE_TABLE}),
        ),
        set(format!("{prefix}.podRPFilter"), numeric(CoordinatorSpec::DEFAULT_POD_RP_FILTER)),
        set(format!("{prefix}.txQueueLen"), numeric(CoordinatorSpec::DEFAULT_TX_QUEUE_LEN)),
    ]
}

fn coordinator() -> Vec<Rule> {
    let mut rules = coordinator_spec("spec", true);
    rules.extend([
        Rule::Optional("status.overlayPodCIDR".into()),
        Rule::Optional("status.serviceCIDR".into()),
    ]);
    rules
}

/// The fields of the macvlan, ipvlan and vlan sections. `mtu` has no CRD
/// default (Spiderpool's is 0): the NAD renders the `mtu` the SMC sets, and
/// a defaulted 0 on every stored object would render `"mtu":0` where the
/// user set nothing (see [`coordinator_spec`]).
fn master_section(prefix: &str) -> Vec<Rule> {
    vec![
        vlan_id(format!("{prefix}.vlanID")),
        set(format!("{prefix}.mtu"), json!({"minimum": 0})),
        set(format!("{prefix}.bond.mode"), json!({"minimum": 0, "maximum": 6})),
    ]
}

fn multus() -> Vec<Rule> {
    let mut rules = vec![
        set(
            "spec.cniType",
            json!({"default": CniType::Custom.as_str(), "enum": CniType::WIRE_VALUES}),
        ),
        set("spec.enableCoordinator", json!({"default": true})),
        set("spec.disableIPAM", json!({"default": false})),
        Rule::Optional("spec.chainCNIJsonData".into()),
        set("spec.vlan.vlanMode", json!({"enum": VlanMode::WIRE_VALUES})),
        vlan_id("spec.sriov.vlanID"),
        set("spec.sriov.mtu", json!({"minimum": 0})),
        non_negative("spec.sriov.minTxRateMbps"),
        non_negative("spec.sriov.maxTxRateMbps"),
        set("spec.sriov.rdmaIsolation", json!({"default": false})),
        set(
            "spec.ibsriov.linkState",
            json!({"default": LinkState::Enable.as_str(), "enum": LinkState::WIRE_VALUES}),
        ),
        set("spec.ibsriov.rdmaIsolation", json!({"default": true})),
        set("spec.ibsriov.enableIbKubernetes", json!({"default": false})),
        Rule::Optional("spec.ovs.deviceID".into()),
        vlan_id("spec.ovs.trunk[].id"),
        vlan_id("spec.ovs.trunk[].minID"),
        vlan_id("spec.ovs.trunk[].maxID"),
    ];
    for section in ["spec.macvlan", "spec.ipvlan", "spec.vlan"] {
        rules.extend(master_section(section));
    }
    rules.extend(coordinator_spec("spec.coordinator", false));
    rules
}
