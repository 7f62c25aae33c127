//! `SpiderSubnet` (`ss`, cluster-scoped, status subresource): a superset of IPs
//! from which IPPools (including auto-created per-application pools) take theirs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ModelError, ObjectMeta, Route, null_default, resource_kind};

/// A `SpiderSubnet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiderSubnet {
    /// `apiVersion` (`spiderpool.spidernet.io/v2beta1`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `kind` (`SpiderSubnet`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: SubnetSpec,
    /// Observed state, written by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SubnetStatus>,
}

resource_kind!(
    SpiderSubnet,
    spec = SubnetSpec,
    kind = "SpiderSubnet",
    plural = "spidersubnets",
    singular = "spidersubnet",
    short = "ss",
    namespaced = false
);

/// `spec` of a [`SpiderSubnet`] (Go `SubnetSpec`); same syntax as the IPPool
/// fields of the same names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SubnetSpec {
    /// `4` or `6`; inferred from `subnet` by the mutating webhook when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<i64>,
    /// The subnet in canonical CIDR form (required; always printed).
    #[serde(default, deserialize_with = "null_default")]
    pub subnet: String,
    /// Single IPs and `a-b` ranges that pools may take.
    #[serde(rename = "ips", default, deserialize_with = "null_default")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// IPs and ranges subtracted from `ips`.
    #[serde(rename = "excludeIPs", default, deserialize_with = "null_default")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_ips: Vec<String>,
    /// Gateway inherited by pools that have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Deprecated and unused VLAN id (0–4094), kept so old objects round-trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// Routes inherited by pools whose `routes` is absent.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// `status` of a [`SpiderSubnet`] (Go `SubnetStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SubnetStatus {
    /// The pools that took IPs from this subnet, as a JSON *string* holding a map
    /// `poolName -> {"ips":[ranges],"application":"..."}`. Decode with
    /// [`parse_controlled_ip_pools`] / [`SubnetStatus::controlled_pools`].
    #[serde(rename = "controlledIPPools", default, skip_serializing_if = "Option::is_none")]
    pub controlled_ip_pools: Option<String>,
    /// Number of usable IPs, `|ips - excludeIPs|`.
    #[serde(rename = "totalIPCount", default, skip_serializing_if = "Option::is_none")]
    pub total_ip_count: Option<i64>,
    /// Number of IPs handed to pools.
    #[serde(rename = "allocatedIPCount", default, skip_serializing_if = "Option::is_none")]
    pub allocated_ip_count: Option<i64>,
}

impl SubnetStatus {
    /// The decoded `controlledIPPools`.
    pub fn controlled_pools(&self) -> Result<PoolIpPreAllocations, ModelError> {
        parse_controlled_ip_pools(self.controlled_ip_pools.as_deref())
    }

    /// Stores `pools` in `controlledIPPools` (absent when empty).
    ///
    /// `allocatedIPCount` counts IPs, not pools, and needs range arithmetic, so it
    /// is left to the caller.
    pub fn set_controlled_pools(&mut self, pools: &PoolIpPreAllocations) {
        self.controlled_ip_pools = render_controlled_ip_pools(pools);
    }
}

/// One entry of `status.controlledIPPools` (Go `PoolIPPreAllocation`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolIpPreAllocation {
    /// The ranges the pool took from the subnet (always printed).
    #[serde(rename = "ips", default, deserialize_with = "null_default")]
    pub ips: Vec<String>,
    /// For auto-created pools, the owning application as
    /// `<group>_<version>_<Kind>_<namespace>_<name>` (core group: `<version>_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
}

/// The decoded `status.controlledIPPools`: pool name -> pre-allocation, sorted.
pub type PoolIpPreAllocations = BTreeMap<String, PoolIpPreAllocation>;

const CONTROLLED_IP_POOLS: &str = "status.controlledIPPools";

/// Decodes `status.controlledIPPools`.
///
/// `None`, an empty or blank string, and `"null"` all mean "no pools".
pub fn parse_controlled_ip_pools(s: Option<&str>) -> Result<PoolIpPreAllocations, ModelError> {
    match s {
        None => Ok(PoolIpPreAllocations::new()),
        Some(text) if text.trim().is_empty() => Ok(PoolIpPreAllocations::new()),
        Some(text) => serde_json::from_str::<Option<PoolIpPreAllocations>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| ModelError::json_string(CONTROLLED_IP_POOLS, &e)),
    }
}

/// Encodes `status.controlledIPPools`: `None` when empty, otherwise compact JSON
/// with sorted keys, as Go prints it.
pub fn render_controlled_ip_pools(m: &PoolIpPreAllocations) -> Option<String> {
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
    fn new_sets_type_meta_and_names() {
        let s = SpiderSubnet::new("default-v4-subnet", SubnetSpec::default());
        assert_eq!(s.kind, "SpiderSubnet");
        assert_eq!(s.api_version, super::super::API_VERSION);
        assert_eq!(SpiderSubnet::SHORT_NAME, "ss");
        assert_eq!(SpiderSubnet::PLURAL, "spidersubnets");
    }

    #[test]
    fn spec_field_names() {
        let spec = SubnetSpec {
            ip_version: Some(4),
            subnet: "172.22.0.0/16".into(),
            ips: vec!["172.22.40.2-172.22.40.254".into()],
            exclude_ips: vec!["172.22.40.10-172.22.40.20".into()],
            gateway: Some("172.22.40.1".into()),
            vlan: None,
            routes: vec![Route::new("10.0.0.0/8", "172.22.40.1")],
        };
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({
                "ipVersion": 4,
                "subnet": "172.22.0.0/16",
                "ips": ["172.22.40.2-172.22.40.254"],
                "excludeIPs": ["172.22.40.10-172.22.40.20"],
                "gateway": "172.22.40.1",
                "routes": [{"dst": "10.0.0.0/8", "gw": "172.22.40.1"}]
            })
        );
    }

    #[test]
    fn controlled_pools_parse_and_render() {
        let text = r#"{"auto4-nginx-eth0-1a2b3":{"ips":["10.0.0.10-10.0.0.12"],"application":"apps_v1_Deployment_default_nginx"},"manual":{"ips":["10.0.0.20"]}}"#;
        let m = parse_controlled_ip_pools(Some(text)).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m["auto4-nginx-eth0-1a2b3"].application.as_deref(),
            Some("apps_v1_Deployment_default_nginx")
        );
        assert_eq!(m["manual"].application, None);
        assert_eq!(render_controlled_ip_pools(&m).unwrap(), text);
        assert_eq!(render_controlled_ip_pools(&PoolIpPreAllocations::new()), None);
        // `ips` has no omitempty in Go: an empty list is still printed.
        let mut one = PoolIpPreAllocations::new();
        one.insert("p".into(), PoolIpPreAllocation::default());
        assert_eq!(render_controlled_ip_pools(&one).unwrap(), r#"{"p":{"ips":[]}}"#);
    }

    #[test]
    fn controlled_pools_errors_name_field() {
        for bad in ["{", r#"{"p":{"ips":"10.0.0.1"}}"#, "7"] {
            let err = parse_controlled_ip_pools(Some(bad)).unwrap_err();
            assert!(
                err.to_string().starts_with("status.controlledIPPools: invalid JSON at line "),
                "{err}"
            );
        }
        for empty in [None, Some(""), Some("null")] {
            assert!(parse_controlled_ip_pools(empty).unwrap().is_empty());
        }
    }

    #[test]
    fn status_helpers() {
        let mut status = SubnetStatus::default();
        let mut m = PoolIpPreAllocations::new();
        m.insert(
            "p1".into(),
            PoolIpPreAllocation { ips: vec!["10.0.0.1".into()], application: None },
        );
        status.set_controlled_pools(&m);
        assert_eq!(status.controlled_pools().unwrap(), m);
    }

    proptest! {
        #[test]
        fn controlled_pools_round_trip(
            m in proptest::collection::btree_map(
                "[a-z0-9-]{1,20}",
                (
                    proptest::collection::vec("[0-9.:-]{1,30}", 0..4),
                    proptest::option::of("[A-Za-z0-9_]{1,30}"),
                )
                    .prop_map(|(ips, application)| PoolIpPreAllocation { ips, application }),
                0..10,
            )
        ) {
            let back = parse_controlled_ip_pools(render_controlled_ip_pools(&m).as_deref()).unwrap();
            prop_assert_eq!(back, m);
        }
    }
}
