//! `SpiderIPPool` (`sp`, cluster-scoped, status subresource): a set of IPs that
//! pods get addresses from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    CONDITION_OVERLAPPING, Condition, LabelSelector, ModelError, ObjectMeta, Route, null_default,
    resource_kind,
};

/// A `SpiderIPPool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiderIPPool {
    /// `apiVersion` (`spiderpool.spidernet.io/v2beta1`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `kind` (`SpiderIPPool`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: IPPoolSpec,
    /// Observed state, written by the agent (allocations) and controller (counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<IPPoolStatus>,
}

resource_kind!(
    SpiderIPPool,
    spec = IPPoolSpec,
    kind = "SpiderIPPool",
    plural = "spiderippools",
    singular = "spiderippool",
    short = "sp",
    namespaced = false
);

/// `spec` of a [`SpiderIPPool`] (Go `IPPoolSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct IPPoolSpec {
    /// `4` or `6`; inferred from `subnet` by the mutating webhook when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<i64>,
    /// The pool's subnet in canonical CIDR form (required; always printed).
    #[serde(default, deserialize_with = "null_default")]
    pub subnet: String,
    /// Single IPs and `a-b` ranges that the pool hands out.
    #[serde(rename = "ips", default, deserialize_with = "null_default")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// IPs and ranges subtracted from `ips`.
    #[serde(rename = "excludeIPs", default, deserialize_with = "null_default")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_ips: Vec<String>,
    /// Gateway; gives pods a default route (unless cleaned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Deprecated and unused VLAN id (0–4094), kept so old objects round-trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// Extra routes for pods.
    ///
    /// `None` (absent) and `Some(vec![])` differ on input: a pool created under a
    /// SpiderSubnet inherits the subnet's routes only when `routes` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
    /// Which pods may use the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<LabelSelector>,
    /// Which namespaces (by namespace labels) may use the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_affinity: Option<LabelSelector>,
    /// Explicit namespace list; when non-empty, `namespaceAffinity` is ignored.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub namespace_name: Vec<String>,
    /// Which nodes (by node labels) may use the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<LabelSelector>,
    /// Explicit node list; when non-empty, `nodeAffinity` is ignored.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub node_name: Vec<String>,
    /// Allowed Multus NADs as `ns/name` (bare `name`: Spiderpool's namespace).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub multus_name: Vec<String>,
    /// Cluster default pool (CRD default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    /// Pool closed for new allocations (CRD default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
}

impl IPPoolSpec {
    /// `default`, with the CRD default `false`.
    pub fn is_default(&self) -> bool {
        self.default.unwrap_or(false)
    }

    /// `disable`, with the CRD default `false`.
    pub fn is_disabled(&self) -> bool {
        self.disable.unwrap_or(false)
    }
}

/// `status` of a [`SpiderIPPool`] (Go `IPPoolStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct IPPoolStatus {
    /// The allocations as a JSON *string* holding a map
    /// `IP -> {"pod":"ns/name","podUid":"uid"}`; absent when nothing is allocated.
    /// Decode with [`parse_allocated_ips`] / [`IPPoolStatus::allocations`].
    #[serde(rename = "allocatedIPs", default, skip_serializing_if = "Option::is_none")]
    pub allocated_ips: Option<String>,
    /// Number of usable IPs, `|ips - excludeIPs|`.
    #[serde(rename = "totalIPCount", default, skip_serializing_if = "Option::is_none")]
    pub total_ip_count: Option<i64>,
    /// Number of allocated IPs.
    #[serde(rename = "allocatedIPCount", default, skip_serializing_if = "Option::is_none")]
    pub allocated_ip_count: Option<i64>,
    /// Conditions set by the controller (ours; Spiderpool's pools have none
    /// and its Go decoder ignores the key): `Overlapping` (see
    /// [`CONDITION_OVERLAPPING`]).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl IPPoolStatus {
    /// The condition of `type_`, when present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The `Overlapping` condition when it is `True`: the pool overlaps a pool
    /// admitted before it and allocates nothing.
    pub fn overlapping(&self) -> Option<&Condition> {
        self.condition(CONDITION_OVERLAPPING).filter(|c| c.is_true())
    }

    /// The decoded `allocatedIPs`.
    pub fn allocations(&self) -> Result<PoolIpAllocations, ModelError> {
        parse_allocated_ips(self.allocated_ips.as_deref())
    }

    /// Stores `allocations` in `allocatedIPs` (absent when empty) and sets
    /// `allocatedIPCount` to their number, as Spiderpool does on every write.
    pub fn set_allocations(&mut self, allocations: &PoolIpAllocations) {
        self.allocated_ips = render_allocated_ips(allocations);
        self.allocated_ip_count = Some(i64::try_from(allocations.len()).unwrap_or(i64::MAX));
    }
}

/// One entry of `status.allocatedIPs`: who holds an IP.
///
/// Spiderpool writes `pod` and `podUid`. The optional `containerID`, `interface`,
/// `node` and `network` are ours: they let a release match the exact attachment
/// that holds the IP, and CNI GC of one network free only that network's
/// records. Each is omitted when unset, and Spiderpool's Go decoder ignores
/// unknown keys, so records stay compatible both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolIpAllocation {
    /// The pod as `namespace/name`.
    #[serde(default, deserialize_with = "null_default")]
    pub pod: String,
    /// The pod's UID.
    #[serde(rename = "podUid", default, deserialize_with = "null_default")]
    pub pod_uid: String,
    /// The CNI container ID of the attachment (our extension).
    #[serde(rename = "containerID", default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The pod interface the IP is on, e.g. `net1` (our extension; older Spiderpool
    /// versions wrote it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The node the pod runs on (our extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The CNI network (the netconf `name`) whose ADD made this record (our
    /// extension). CNI GC of a network releases only its own records; records
    /// without it (made before it was recorded, or for another NIC of a
    /// multi-NIC ADD until that NIC's own ADD) are never collected by CNI GC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

impl PoolIpAllocation {
    /// An entry with only Spiderpool's two fields.
    pub fn new(pod: impl Into<String>, pod_uid: impl Into<String>) -> Self {
        Self { pod: pod.into(), pod_uid: pod_uid.into(), ..Self::default() }
    }
}

/// The decoded `status.allocatedIPs`: IP string -> holder, in sorted key order (the
/// order Go's `encoding/json` prints map keys in).
pub type PoolIpAllocations = BTreeMap<String, PoolIpAllocation>;

const ALLOCATED_IPS: &str = "status.allocatedIPs";

/// Decodes `status.allocatedIPs`.
///
/// `None`, an empty or blank string, and `"null"` all mean "no allocations".
pub fn parse_allocated_ips(s: Option<&str>) -> Result<PoolIpAllocations, ModelError> {
    match s {
        None => Ok(PoolIpAllocations::new()),
        Some(text) if text.trim().is_empty() => Ok(PoolIpAllocations::new()),
        Some(text) => serde_json::from_str::<Option<PoolIpAllocations>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| ModelError::json_string(ALLOCATED_IPS, &e)),
    }
}

/// Encodes `status.allocatedIPs`: `None` when empty (Spiderpool leaves the field
/// nil), otherwise compact JSON with sorted keys, as Go prints it.
pub fn render_allocated_ips(m: &PoolIpAllocations) -> Option<String> {
    if m.is_empty() {
        return None;
    }
    // Serializing a string-keyed map of plain structs cannot fail.
    serde_json::to_string(m).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn new_sets_type_meta() {
        let pool = SpiderIPPool::new("p1", IPPoolSpec::default());
        assert_eq!(pool.api_version, "spiderpool.spidernet.io/v2beta1");
        assert_eq!(pool.kind, "SpiderIPPool");
        assert_eq!(pool.metadata.name_str(), "p1");
        assert_eq!(SpiderIPPool::SHORT_NAME, "sp");
        assert_eq!(SpiderIPPool::PLURAL, "spiderippools");
        const { assert!(!SpiderIPPool::NAMESPACED) };
    }

    #[test]
    fn empty_spec_prints_only_subnet() {
        let v = serde_json::to_value(IPPoolSpec::default()).unwrap();
        assert_eq!(v, json!({"subnet": ""}));
    }

    #[test]
    fn routes_absent_and_empty_are_distinct() {
        let absent: IPPoolSpec = serde_json::from_value(json!({"subnet":"10.0.0.0/8"})).unwrap();
        let empty: IPPoolSpec =
            serde_json::from_value(json!({"subnet":"10.0.0.0/8","routes":[]})).unwrap();
        assert_eq!(absent.routes, None);
        assert_eq!(empty.routes, Some(vec![]));
    }

    #[test]
    fn null_lists_read_as_empty() {
        let spec: IPPoolSpec = serde_json::from_value(
            json!({"subnet":"10.0.0.0/8","ips":null,"excludeIPs":null,"nodeName":null}),
        )
        .unwrap();
        assert!(spec.ips.is_empty() && spec.exclude_ips.is_empty() && spec.node_name.is_empty());
    }

    #[test]
    fn default_and_disable_use_crd_defaults() {
        let spec = IPPoolSpec::default();
        assert!(!spec.is_default());
        assert!(!spec.is_disabled());
        let spec = IPPoolSpec { default: Some(true), disable: Some(true), ..spec };
        assert!(spec.is_default());
        assert!(spec.is_disabled());
    }

    #[test]
    fn allocated_ips_parse_table() {
        let cases: &[(Option<&str>, usize)] = &[
            (None, 0),
            (Some(""), 0),
            (Some("  "), 0),
            (Some("null"), 0),
            (Some("{}"), 0),
            (Some(r#"{"10.6.212.201":{"pod":"default/nginx-1","podUid":"u1"}}"#), 1),
            (
                Some(
                    r#"{"10.6.212.201":{"pod":"default/a","podUid":"u1","interface":"net1"},
                       "10.6.212.202":{"pod":"default/b","podUid":"u2","extra":7}}"#,
                ),
                2,
            ),
        ];
        for (input, len) in cases {
            let m = parse_allocated_ips(*input).unwrap();
            assert_eq!(m.len(), *len, "input {input:?}");
        }
    }

    #[test]
    fn allocated_ips_errors_name_field() {
        for bad in ["{", "[]", r#"{"10.0.0.1":"default/a"}"#, r#"{"10.0.0.1":{"pod":5}}"#] {
            let err = parse_allocated_ips(Some(bad)).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("status.allocatedIPs: invalid JSON at line "), "{text}");
            assert!(matches!(err, ModelError::InvalidJsonString { field: ALLOCATED_IPS, .. }));
        }
    }

    #[test]
    fn render_matches_go_output() {
        let mut m = PoolIpAllocations::new();
        m.insert("10.6.212.202".into(), PoolIpAllocation::new("default/b", "u2"));
        m.insert("10.6.212.201".into(), PoolIpAllocation::new("default/a", "u1"));
        assert_eq!(
            render_allocated_ips(&m).unwrap(),
            r#"{"10.6.212.201":{"pod":"default/a","podUid":"u1"},"10.6.212.202":{"pod":"default/b","podUid":"u2"}}"#
        );
        assert_eq!(render_allocated_ips(&PoolIpAllocations::new()), None);
    }

    /// Issue 9 item 5: the `network` key is optional both ways: old records
    /// without it load, and a record without a network renders without it.
    #[test]
    fn record_network_is_optional_and_omitted_when_unset() {
        let old = parse_allocated_ips(Some(
            r#"{"10.6.212.201":{"pod":"default/a","podUid":"u1","containerID":"c","interface":"net1"}}"#,
        ))
        .unwrap();
        assert_eq!(old["10.6.212.201"].network, None);
        assert_eq!(
            render_allocated_ips(&old).unwrap(),
            r#"{"10.6.212.201":{"pod":"default/a","podUid":"u1","containerID":"c","interface":"net1"}}"#
        );
        let mut m = old;
        if let Some(r) = m.get_mut("10.6.212.201") {
            r.network = Some("neta".into());
        }
        let text = render_allocated_ips(&m).unwrap();
        assert!(text.ends_with(r#""interface":"net1","network":"neta"}}"#), "{text}");
        assert_eq!(parse_allocated_ips(Some(&text)).unwrap(), m);
    }

    #[test]
    fn set_allocations_updates_count_and_string() {
        let mut status = IPPoolStatus::default();
        let mut m = PoolIpAllocations::new();
        m.insert("10.0.0.1".into(), PoolIpAllocation::new("ns/a", "u"));
        status.set_allocations(&m);
        assert_eq!(status.allocated_ip_count, Some(1));
        assert_eq!(status.allocations().unwrap(), m);
        status.set_allocations(&PoolIpAllocations::new());
        assert_eq!(status.allocated_ips, None);
        assert_eq!(status.allocated_ip_count, Some(0));
    }

    fn allocation() -> impl Strategy<Value = PoolIpAllocation> {
        (
            "[a-z0-9-]{1,8}/[a-z0-9-]{1,12}",
            "[a-f0-9-]{0,36}",
            proptest::option::of("[a-f0-9]{1,64}"),
            proptest::option::of("(eth|net)[0-9]"),
            proptest::option::of("[a-z0-9\"\\\\ ]{0,10}"),
            proptest::option::of("[a-z0-9._-]{1,12}"),
        )
            .prop_map(|(pod, pod_uid, container_id, interface, node, network)| {
                PoolIpAllocation { pod, pod_uid, container_id, interface, node, network }
            })
    }

    proptest! {
        #[test]
        fn allocated_ips_render_parse_round_trip(
            m in proptest::collection::btree_map("[0-9a-f.:]{1,20}", allocation(), 0..20)
        ) {
            let rendered = render_allocated_ips(&m);
            prop_assert_eq!(rendered.is_none(), m.is_empty());
            let back = parse_allocated_ips(rendered.as_deref()).unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn allocated_ips_parse_never_panics(s in "\\PC{0,64}") {
            let _ = parse_allocated_ips(Some(&s));
        }
    }
}
