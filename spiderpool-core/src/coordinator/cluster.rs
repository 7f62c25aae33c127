//! What the agent answers for `GET /v1/coordinator/config`
//! ([`ClusterCoordinatorConfig`], Spiderpool's `CoordinatorConfig` model with
//! its wire types): built from the SpiderCoordinator
//! ([`ClusterCoordinatorConfig::from_spider_coordinator`], defaults from
//! [`defaults`]), and read back as a typed settings layer
//! ([`CoordinatorNetConf::from_cluster`]) by the same
//! value rules (module `setting`) the netconf passes, with errors naming
//! `clusterConfig.<key>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{ConfigError, CoordinatorNetConf, checked};
use super::defaults;
use super::setting::{self, PolicyRoute, RoutePart};
use crate::ip::normalize_ip_or_cidr;
use crate::model::{ModelError, SpiderCoordinator};

/// The prefix of the keys of errors in the agent's answer.
const PREFIX: &str = "clusterConfig.";

/// `policyRoutes` item as the agent and the NAD carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRouteWire {
    /// Destination IP or CIDR.
    #[serde(default)]
    pub dst: String,
    /// Gateway IP.
    #[serde(default)]
    pub gw: String,
}

/// The agent's answer to `GET /v1/coordinator/config` (Spiderpool's
/// `CoordinatorConfig` model, exact JSON names, wire types). Validated when
/// merged ([`CoordinatorNetConf::from_cluster`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCoordinatorConfig {
    /// `overlayPodCIDR` (required in the model).
    #[serde(rename = "overlayPodCIDR", default)]
    pub overlay_pod_cidr: Vec<String>,
    /// `serviceCIDR` (required).
    #[serde(rename = "serviceCIDR", default)]
    pub service_cidr: Vec<String>,
    /// `mode` (required).
    #[serde(default)]
    pub mode: String,
    /// `tunePodRoutes` (required).
    #[serde(rename = "tunePodRoutes", default)]
    pub tune_pod_routes: Option<bool>,
    /// `hijackCIDR`.
    #[serde(rename = "hijackCIDR", default, skip_serializing_if = "Vec::is_empty")]
    pub hijack_cidr: Vec<String>,
    /// `policyRoutes`.
    #[serde(rename = "policyRoutes", default, skip_serializing_if = "Vec::is_empty")]
    pub policy_routes: Vec<PolicyRouteWire>,
    /// `podMACPrefix`.
    #[serde(rename = "podMACPrefix", default, skip_serializing_if = "String::is_empty")]
    pub pod_mac_prefix: String,
    /// `podDefaultRouteNIC`.
    #[serde(rename = "podDefaultRouteNIC", default, skip_serializing_if = "String::is_empty")]
    pub pod_default_route_nic: String,
    /// `hostRuleTable`.
    #[serde(rename = "hostRuleTable", default, skip_serializing_if = "Option::is_none")]
    pub host_rule_table: Option<i64>,
    /// `podRPFilter`.
    #[serde(rename = "podRPFilter", default, skip_serializing_if = "Option::is_none")]
    pub pod_rp_filter: Option<i64>,
    /// `txQueueLen`.
    #[serde(rename = "txQueueLen", default, skip_serializing_if = "Option::is_none")]
    pub tx_queue_len: Option<i64>,
    /// `vethLinkAddress`.
    #[serde(rename = "vethLinkAddress", default, skip_serializing_if = "String::is_empty")]
    pub veth_link_address: String,
    /// `vethMTU`.
    #[serde(rename = "vethMTU", default, skip_serializing_if = "Option::is_none")]
    pub veth_mtu: Option<i64>,
}

/// Why a SpiderCoordinator gives no answer for `GET /v1/coordinator/config`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterConfigError {
    /// `status.phase` is set and is not `Synced`.
    #[error("SpiderCoordinator {name} is not ready: status.phase {phase:?}{}", reason_suffix(.reason))]
    NotReady {
        /// The SpiderCoordinator.
        name: String,
        /// `status.phase`.
        phase: String,
        /// `status.reason` (may be empty).
        reason: String,
    },
    /// A status CIDR does not parse.
    #[error("SpiderCoordinator {name}: {field}[{index}]: invalid value {value:?}: {cause}")]
    StatusCidr {
        /// The SpiderCoordinator.
        name: String,
        /// `status.overlayPodCIDR` or `status.serviceCIDR`.
        field: &'static str,
        /// The position in the list.
        index: usize,
        /// The text.
        value: String,
        /// Why it does not parse.
        cause: String,
    },
    /// `spec.mode` is not a mode.
    #[error("SpiderCoordinator {name}: {cause}")]
    Mode {
        /// The SpiderCoordinator.
        name: String,
        /// The model's error, naming the field and value.
        cause: ModelError,
    },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() { String::new() } else { format!(", reason: {reason}") }
}

impl ClusterCoordinatorConfig {
    /// The answer for a SpiderCoordinator: its spec with the [`defaults`]
    /// for every field left out, and the CIDRs its status detected. A
    /// coordinator with a `status.phase` other than `Synced` is not ready;
    /// one without status (applied on one machine, where no controller
    /// detects CIDRs) counts as `Synced` with empty `overlayPodCIDR` and
    /// `serviceCIDR`. A status CIDR that does not parse is an error naming
    /// the field (`status.overlayPodCIDR[1]`): no admission sees `status`, so
    /// it is checked here with the rule the plugin parses it by.
    pub fn from_spider_coordinator(
        scc: &SpiderCoordinator,
    ) -> Result<ClusterCoordinatorConfig, ClusterConfigError> {
        let name = scc.metadata.name_str();
        let (overlay, service) = match &scc.status {
            Some(status) if !status.phase.is_empty() => {
                if !status.is_synced() {
                    return Err(ClusterConfigError::NotReady {
                        name: name.to_owned(),
                        phase: status.phase.clone(),
                        reason: status.reason.clone(),
                    });
                }
                (status.overlay_pod_cidr.clone(), status.service_cidr.clone())
            }
            _ => (Vec::new(), Vec::new()),
        };
        for (field, list) in [("status.overlayPodCIDR", &overlay), ("status.serviceCIDR", &service)]
        {
            for (index, text) in list.iter().enumerate() {
                normalize_ip_or_cidr(text).map_err(|e| ClusterConfigError::StatusCidr {
                    name: name.to_owned(),
                    field,
                    index,
                    value: text.clone(),
                    cause: e.to_string(),
                })?;
            }
        }
        let spec = &scc.spec;
        let mode = spec
            .parsed_mode()
            .map_err(|cause| ClusterConfigError::Mode { name: name.to_owned(), cause })?
            .map_or_else(|| defaults::MODE.to_owned(), |m| m.as_cni_str().to_owned());
        Ok(ClusterCoordinatorConfig {
            overlay_pod_cidr: overlay,
            service_cidr: service,
            mode,
            tune_pod_routes: Some(spec.tune_pod_routes.unwrap_or(defaults::TUNE_POD_ROUTES)),
            hijack_cidr: spec.hijack_cidr.clone(),
            policy_routes: spec
                .policy_routes
                .iter()
                .map(|r| PolicyRouteWire { dst: r.dst.clone(), gw: r.gw.clone() })
                .collect(),
            pod_mac_prefix: spec.pod_mac_prefix.clone().unwrap_or_default(),
            pod_default_route_nic: spec.pod_default_route_nic.clone().unwrap_or_default(),
            host_rule_table: Some(
                spec.host_rule_table.unwrap_or(i64::from(defaults::HOST_RULE_TABLE)),
            ),
            pod_rp_filter: Some(spec.pod_rp_filter.unwrap_or(i64::from(defaults::POD_RP_FILTER))),
            tx_queue_len: Some(spec.tx_queue_len.unwrap_or(i64::from(defaults::TX_QUEUE_LEN))),
            veth_link_address: spec.veth_link_address.clone().unwrap_or_default(),
            veth_mtu: Some(spec.veth_mtu.unwrap_or(i64::from(defaults::VETH_MTU))),
        })
    }
}

impl CoordinatorNetConf {
    /// The agent's answer as a typed settings layer, each value through the
    /// rule the netconf's passes; errors name `clusterConfig.<key>` with the
    /// agent's spelling (`clusterConfig.podDefaultRouteNIC`). Empty strings
    /// are unset; `podDefaultCniNic` and `logOptions` are netconf-only.
    pub fn from_cluster(c: &ClusterCoordinatorConfig) -> Result<CoordinatorNetConf, ConfigError> {
        let text = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        let key = |k: &str| format!("{PREFIX}{k}");
        let number = |n: Option<i64>, k: &str, rule: fn(i64) -> Result<u32, String>| {
            n.map(|n| rule(n).map_err(|r| ConfigError::invalid(&key(k), &Value::from(n), r)))
                .transpose()
        };
        Ok(CoordinatorNetConf {
            mode: checked(text(&c.mode), &key("mode"), setting::mode)?,
            tune_pod_routes: c.tune_pod_routes,
            pod_default_route_nic: checked(
                text(&c.pod_default_route_nic),
                &key("podDefaultRouteNIC"),
                setting::ifname,
            )?,
            pod_mac_prefix: checked(
                text(&c.pod_mac_prefix),
                &key("podMACPrefix"),
                setting::mac_prefix,
            )?,
            overlay_pod_cidr: cidrs(&c.overlay_pod_cidr, "overlayPodCIDR")?,
            service_cidr: cidrs(&c.service_cidr, "serviceCIDR")?,
            hijack_cidr: cidrs(&c.hijack_cidr, "hijackCIDR")?,
            policy_routes: policy_routes(&c.policy_routes)?,
            host_rule_table: number(c.host_rule_table, "hostRuleTable", setting::table)?,
            pod_rp_filter: c
                .pod_rp_filter
                .map(|n| {
                    setting::rp_filter(n)
                        .map_err(|r| ConfigError::invalid(&key("podRPFilter"), &Value::from(n), r))
                })
                .transpose()?,
            tx_queue_len: number(c.tx_queue_len, "txQueueLen", setting::u32_value)?,
            veth_link_address: checked(
                text(&c.veth_link_address),
                &key("vethLinkAddress"),
                setting::ip,
            )?,
            veth_mtu: number(c.veth_mtu, "vethMTU", setting::mtu)?,
            ..CoordinatorNetConf::default()
        })
    }
}

fn cidrs(list: &[String], name: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            setting::cidr(s).map_err(|r| {
                ConfigError::invalid(&format!("{PREFIX}{name}[{i}]"), &Value::String(s.clone()), r)
            })
        })
        .collect()
}

fn policy_routes(list: &[PolicyRouteWire]) -> Result<Vec<PolicyRoute>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            setting::policy_route(&r.dst, &r.gw).map_err(|(part, reason)| {
                let text = if part == RoutePart::Dst { &r.dst } else { &r.gw };
                let key = format!("{PREFIX}policyRoutes[{i}].{}", part.key());
                ConfigError::invalid(&key, &Value::String(text.clone()), reason)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn scc(v: Value) -> SpiderCoordinator {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn answer_fills_the_defaults_table() {
        let c = ClusterCoordinatorConfig::from_spider_coordinator(&scc(json!({
            "metadata": {"name": "default"}, "spec": {"mode": "disabled", "podDefaultRouteNIC": "net1"}
        })))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"overlayPodCIDR": [], "serviceCIDR": [], "mode": "disable", "tunePodRoutes": true,
                "podDefaultRouteNIC": "net1", "hostRuleTable": 500, "podRPFilter": 0, "txQueueLen": 0,
                "vethMTU": 1500})
        );
        let back = CoordinatorNetConf::from_cluster(&c).unwrap();
        assert_eq!(back.host_rule_table, Some(defaults::HOST_RULE_TABLE));
        assert_eq!(back.pod_default_route_nic.as_deref(), Some("net1"));
    }

    #[test]
    fn status_is_checked_and_named() {
        let not_ready = scc(json!({"metadata": {"name": "default"},
            "status": {"phase": "NotReady", "reason": "no pod CIDR"}}));
        let e = ClusterCoordinatorConfig::from_spider_coordinator(&not_ready).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SpiderCoordinator default is not ready: status.phase \"NotReady\", reason: no pod CIDR"
        );
        let bad = scc(json!({"metadata": {"name": "default"},
            "status": {"phase": "Synced", "serviceCIDR": ["10.0.0.0/8", "nope"]}}));
        let e = ClusterCoordinatorConfig::from_spider_coordinator(&bad).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "SpiderCoordinator default: status.serviceCIDR[1]: invalid value \"nope\": "
            ),
            "{e}"
        );
    }

    // The JSON round trip renamed podDefaultRouteNIC and renamed it back for
    // messages; the typed read names the agent's keys directly.
    #[test]
    fn bad_agent_values_name_the_agents_keys() {
        let cases = [
            (
                ClusterCoordinatorConfig {
                    pod_default_route_nic: "a b".into(),
                    ..Default::default()
                },
                "clusterConfig.podDefaultRouteNIC",
                "\"a b\"",
            ),
            (
                ClusterCoordinatorConfig { veth_mtu: Some(10), ..Default::default() },
                "clusterConfig.vethMTU",
                "10",
            ),
            (
                ClusterCoordinatorConfig { mode: "fast".into(), ..Default::default() },
                "clusterConfig.mode",
                "\"fast\"",
            ),
            (
                ClusterCoordinatorConfig { hijack_cidr: vec!["x".into()], ..Default::default() },
                "clusterConfig.hijackCIDR[0]",
                "\"x\"",
            ),
            (
                ClusterCoordinatorConfig {
                    policy_routes: vec![PolicyRouteWire {
                        dst: "10.0.0.0/8".into(),
                        gw: "fd00::1".into(),
                    }],
                    ..Default::default()
                },
                "clusterConfig.policyRoutes[0].gw",
                "\"fd00::1\"",
            ),
        ];
        for (c, key, value) in cases {
            match CoordinatorNetConf::from_cluster(&c).unwrap_err() {
                ConfigError::Invalid { key: k, value: v, .. } => {
                    assert_eq!((k.as_str(), v.as_str()), (key, value))
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
