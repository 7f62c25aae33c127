//! The coordinator's configuration: the netconf as it appears in a NAD
//! ([`CoordinatorNetConf`]), what the agent returns for
//! `GET /v1/coordinator/config` ([`ClusterCoordinatorConfig`]) and the merged
//! result the planner works from ([`EffectiveConfig`], reference §5.1).
//!
//! Parsing names the key and the value of every bad entry. Nothing here reads
//! files, environment or sockets: the plugin hands in the JSON it was given.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::admission::coordinator::check_interface_name;
use crate::ip::{self, IpFamily};

/// Default of `podDefaultCniNic`: the pod's first NIC.
pub const DEFAULT_POD_CNI_NIC: &str = "eth0";
/// Default of `hostRuleTable`.
pub const DEFAULT_HOST_RULE_TABLE: u32 = 500;
/// Default of `vethMTU`.
pub const DEFAULT_VETH_MTU: u32 = 1500;
/// Default of `podRPFilter`.
pub const DEFAULT_POD_RP_FILTER: i32 = 0;
/// Netconf keys that are accepted and ignored (Spiderpool removed or never
/// used them).
pub const IGNORED_KEYS: [&str; 5] =
    ["hostRPFilter", "multusNicPrefix", "detectGateway", "detectIPConflict", "detectOptions"];

/// A bad configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key holds a value of the wrong JSON type or an invalid value.
    #[error("{key}: invalid value {value}: {reason}")]
    Invalid {
        /// The key, e.g. `vethMTU`, `policyRoutes[1].gw` or
        /// `clusterConfig.hijackCIDR[0]`.
        key: String,
        /// The value as JSON text.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The netconf is not a JSON object.
    #[error("coordinator netconf: expected a JSON object, got {value}")]
    NotAnObject {
        /// The value as JSON text (shortened).
        value: String,
    },
}

fn invalid(key: &str, value: &Value, reason: impl Into<String>) -> ConfigError {
    let mut text = value.to_string();
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    ConfigError::Invalid { key: key.to_owned(), value: text, reason: reason.into() }
}

/// The coordinator mode as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeSetting {
    /// Decide from the pod's links (reference §5.2).
    Auto,
    /// veth pair to the host; the underlay NIC keeps the default route.
    Underlay,
    /// `eth0` belongs to an overlay CNI; extra NICs get policy tables.
    Overlay,
    /// Do nothing (`disable` or `disabled`).
    Disabled,
}

impl ModeSetting {
    /// Parses `auto`, `underlay`, `overlay`, `disable` or `disabled`.
    pub fn parse(s: &str) -> Option<ModeSetting> {
        match s {
            "auto" => Some(ModeSetting::Auto),
            "underlay" => Some(ModeSetting::Underlay),
            "overlay" => Some(ModeSetting::Overlay),
            "disable" | "disabled" => Some(ModeSetting::Disabled),
            _ => None,
        }
    }
}

/// A two-byte MAC prefix (`podMACPrefix`), unicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacPrefix(pub [u8; 2]);

impl MacPrefix {
    /// Parses `hh:hh` or `hh-hh`; the first byte must be unicast (lowest bit
    /// 0). Go's regex only refuses a `1` as second digit; we refuse every
    /// multicast prefix, as admission does.
    pub fn parse(s: &str) -> Result<MacPrefix, String> {
        let bad = || "expected two hex bytes like \"0a:1b\"".to_owned();
        let (a, b) = s.split_once([':', '-']).ok_or_else(bad)?;
        let byte = |t: &str| {
            (t.len() == 2 && t.bytes().all(|c| c.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(t, 16).ok())
                .flatten()
        };
        let a = byte(a).ok_or_else(bad)?;
        let b = byte(b).ok_or_else(bad)?;
        if a & 1 != 0 {
            return Err("not a unicast MAC: the lowest bit of the first byte must be 0".to_owned());
        }
        Ok(MacPrefix([a, b]))
    }
}

/// One static policy route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyRoute {
    /// Destination.
    pub dst: IpNet,
    /// Gateway (same family as `dst`).
    pub gw: IpAddr,
}

/// `logOptions` of the netconf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// `logLevel` (Spiderpool's default: `debug`).
    pub log_level: Option<String>,
    /// `logFile` (default `/var/log/spidernet/coordinator.log`).
    pub log_file: Option<String>,
    /// `logMaxSize` in MiB.
    pub log_max_size: Option<u32>,
    /// `logMaxAge` in days.
    pub log_max_age: Option<u32>,
    /// `logMaxCount`: rotated files kept.
    pub log_max_count: Option<u32>,
}

/// The coordinator netconf, validated. `None` / empty means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoordinatorNetConf {
    /// `mode`.
    pub mode: Option<ModeSetting>,
    /// `tunePodRoutes`.
    pub tune_pod_routes: Option<bool>,
    /// `podDefaultRouteNic` (note the spelling).
    pub pod_default_route_nic: Option<String>,
    /// `podDefaultCniNic` (default `eth0`).
    pub pod_default_cni_nic: Option<String>,
    /// `podMACPrefix`.
    pub pod_mac_prefix: Option<MacPrefix>,
    /// `overlayPodCIDR`.
    pub overlay_pod_cidr: Vec<IpNet>,
    /// `serviceCIDR`.
    pub service_cidr: Vec<IpNet>,
    /// `hijackCIDR`.
    pub hijack_cidr: Vec<IpNet>,
    /// `policyRoutes`.
    pub policy_routes: Vec<PolicyRoute>,
    /// `hostRuleTable`.
    pub host_rule_table: Option<u32>,
    /// `podRPFilter` (negative: leave it).
    pub pod_rp_filter: Option<i32>,
    /// `txQueueLen` (0: leave it).
    pub tx_queue_len: Option<u32>,
    /// `vethLinkAddress`.
    pub veth_link_address: Option<IpAddr>,
    /// `vethMTU`.
    pub veth_mtu: Option<u32>,
    /// `logOptions`.
    pub log_options: LogOptions,
    /// The accepted-and-ignored keys ([`IGNORED_KEYS`]) that were present.
    pub ignored_keys: Vec<String>,
}

impl CoordinatorNetConf {
    /// Parses the netconf bytes (a JSON object; other CNI keys such as
    /// `cniVersion`, `name`, `type`, `prevResult` are ignored).
    pub fn from_slice(bytes: &[u8]) -> Result<CoordinatorNetConf, ConfigError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ConfigError::Invalid {
            key: "<netconf>".to_owned(),
            value: String::new(),
            reason: format!("not JSON: {e}"),
        })?;
        Self::from_value(&value)
    }

    /// Parses a netconf JSON value.
    pub fn from_value(value: &Value) -> Result<CoordinatorNetConf, ConfigError> {
        let obj = value.as_object().ok_or_else(|| {
            let mut text = value.to_string();
            text.truncate(80);
            ConfigError::NotAnObject { value: text }
        })?;
        let r = Reader { obj, prefix: "" };
        let mut conf = CoordinatorNetConf {
            mode: r.mode("mode")?,
            tune_pod_routes: r.bool("tunePodRoutes")?,
            pod_default_route_nic: r.ifname("podDefaultRouteNic")?,
            pod_default_cni_nic: r.ifname("podDefaultCniNic")?,
            pod_mac_prefix: r.mac_prefix("podMACPrefix")?,
            overlay_pod_cidr: r.cidrs("overlayPodCIDR")?,
            service_cidr: r.cidrs("serviceCIDR")?,
            hijack_cidr: r.cidrs("hijackCIDR")?,
            policy_routes: r.policy_routes("policyRoutes")?,
            host_rule_table: r.table("hostRuleTable")?,
            pod_rp_filter: r.rp_filter("podRPFilter")?,
            tx_queue_len: r.u32("txQueueLen")?,
            veth_link_address: r.ip("vethLinkAddress")?,
            veth_mtu: r.mtu("vethMTU")?,
            log_options: LogOptions::default(),
            ignored_keys: IGNORED_KEYS
                .iter()
                .filter(|k| obj.contains_key(**k))
                .map(|k| (*k).to_owned())
                .collect(),
        };
        if let Some(v) = obj.get("logOptions").filter(|v| !v.is_null()) {
            let lo = v.as_object().ok_or_else(|| invalid("logOptions", v, "expected an object"))?;
            let r = Reader { obj: lo, prefix: "logOptions." };
            conf.log_options = LogOptions {
                log_level: r.string("logLevel")?,
                log_file: r.string("logFile")?,
                log_max_size: r.u32("logMaxSize")?,
                log_max_age: r.u32("logMaxAge")?,
                log_max_count: r.u32("logMaxCount")?,
            };
        }
        Ok(conf)
    }
}

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
/// merged.
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

/// The merged configuration the planner uses (netconf > agent > defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveConfig {
    /// Mode before `auto` is resolved.
    pub mode: ModeSetting,
    /// Tune routes of extra NICs.
    pub tune_pod_routes: bool,
    /// The NIC that should hold the default route (`None`: keep it where it is).
    pub pod_default_route_nic: Option<String>,
    /// The pod's first NIC (`eth0`).
    pub pod_default_cni_nic: String,
    /// MAC prefix for the current NIC.
    pub pod_mac_prefix: Option<MacPrefix>,
    /// Overlay pod CIDRs (hijacked through the host).
    pub overlay_pod_cidr: Vec<IpNet>,
    /// Service CIDRs (hijacked through the host).
    pub service_cidr: Vec<IpNet>,
    /// Extra hijacked CIDRs.
    pub hijack_cidr: Vec<IpNet>,
    /// Static policy routes.
    pub policy_routes: Vec<PolicyRoute>,
    /// Host routing table for pod IPs.
    pub host_rule_table: u32,
    /// `rp_filter` in the pod; negative leaves it.
    pub pod_rp_filter: i32,
    /// txqueuelen of the current NIC; 0 leaves it.
    pub tx_queue_len: u32,
    /// Address added to `veth0`.
    pub veth_link_address: Option<IpAddr>,
    /// MTU of the veth pair.
    pub veth_mtu: u32,
}

impl Default for EffectiveConfig {
    fn default() -> Self {
        EffectiveConfig {
            mode: ModeSetting::Auto,
            tune_pod_routes: true,
            pod_default_route_nic: None,
            pod_default_cni_nic: DEFAULT_POD_CNI_NIC.to_owned(),
            pod_mac_prefix: None,
            overlay_pod_cidr: Vec::new(),
            service_cidr: Vec::new(),
            hijack_cidr: Vec::new(),
            policy_routes: Vec::new(),
            host_rule_table: DEFAULT_HOST_RULE_TABLE,
            pod_rp_filter: DEFAULT_POD_RP_FILTER,
            tx_queue_len: 0,
            veth_link_address: None,
            veth_mtu: DEFAULT_VETH_MTU,
        }
    }
}

impl EffectiveConfig {
    /// `overlayPodCIDR ∪ serviceCIDR ∪ hijackCIDR`, in that order, without
    /// duplicates.
    pub fn hijack_routes(&self) -> Vec<IpNet> {
        let mut out: Vec<IpNet> = Vec::new();
        for net in self.overlay_pod_cidr.iter().chain(&self.service_cidr).chain(&self.hijack_cidr) {
            if !out.contains(net) {
                out.push(*net);
            }
        }
        out
    }
}

/// Merges the netconf with the agent's answer (reference §5.1): a value set in
/// the netconf wins, then the agent's, then the defaults. For
/// `podDefaultRouteNic` the pod annotation `ipam.spidernet.io/default-route-nic`
/// (`annotation_default_route_nic`) sits between the netconf and the agent.
/// Bad agent values are errors naming `clusterConfig.<key>`.
pub fn merge(
    netconf: &CoordinatorNetConf,
    cluster: Option<&ClusterCoordinatorConfig>,
    annotation_default_route_nic: Option<&str>,
) -> Result<EffectiveConfig, ConfigError> {
    let cluster = match cluster {
        Some(c) => Some(
            CoordinatorNetConf::from_value(&cluster_as_netconf(c))
                .map_err(|e| prefix_error(e, "clusterConfig."))?,
        ),
        None => None,
    };
    let agent = cluster.unwrap_or_default();
    let d = EffectiveConfig::default();
    let list = |mine: &Vec<IpNet>, theirs: &Vec<IpNet>| {
        if mine.is_empty() { theirs.clone() } else { mine.clone() }
    };
    let annotation = match annotation_default_route_nic.filter(|s| !s.is_empty()) {
        Some(nic) => {
            check_interface_name(nic).map_err(|reason| ConfigError::Invalid {
                key: "annotation ipam.spidernet.io/default-route-nic".to_owned(),
                value: format!("{nic:?}"),
                reason,
            })?;
            Some(nic.to_owned())
        }
        None => None,
    };
    Ok(EffectiveConfig {
        mode: netconf.mode.or(agent.mode).unwrap_or(d.mode),
        tune_pod_routes: netconf.tune_pod_routes.or(agent.tune_pod_routes).unwrap_or(true),
        pod_default_route_nic: netconf
            .pod_default_route_nic
            .clone()
            .or(annotation)
            .or(agent.pod_default_route_nic),
        pod_default_cni_nic: netconf.pod_default_cni_nic.clone().unwrap_or(d.pod_default_cni_nic),
        pod_mac_prefix: netconf.pod_mac_prefix.or(agent.pod_mac_prefix),
        overlay_pod_cidr: list(&netconf.overlay_pod_cidr, &agent.overlay_pod_cidr),
        service_cidr: list(&netconf.service_cidr, &agent.service_cidr),
        hijack_cidr: list(&netconf.hijack_cidr, &agent.hijack_cidr),
        policy_routes: if netconf.policy_routes.is_empty() {
            agent.policy_routes
        } else {
            netconf.policy_routes.clone()
        },
        host_rule_table: netconf
            .host_rule_table
            .or(agent.host_rule_table)
            .unwrap_or(d.host_rule_table),
        pod_rp_filter: netconf.pod_rp_filter.or(agent.pod_rp_filter).unwrap_or(d.pod_rp_filter),
        tx_queue_len: netconf.tx_queue_len.or(agent.tx_queue_len).unwrap_or(0),
        veth_link_address: netconf.veth_link_address.or(agent.veth_link_address),
        veth_mtu: netconf.veth_mtu.or(agent.veth_mtu).unwrap_or(d.veth_mtu),
    })
}

/// The agent's model as netconf JSON (same keys except `podDefaultRouteNIC`),
/// so one parser validates both.
fn cluster_as_netconf(c: &ClusterCoordinatorConfig) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut()
        && let Some(nic) = obj.remove("podDefaultRouteNIC")
    {
        obj.insert("podDefaultRouteNic".to_owned(), nic);
    }
    v
}

fn prefix_error(e: ConfigError, prefix: &str) -> ConfigError {
    match e {
        ConfigError::Invalid { key, value, reason } => {
            let key =
                if key == "podDefaultRouteNic" { "podDefaultRouteNIC".to_owned() } else { key };
            ConfigError::Invalid { key: format!("{prefix}{key}"), value, reason }
        }
        other => other,
    }
}

/// Typed access to one JSON object's keys, with errors naming the key.
struct Reader<'a> {
    obj: &'a Map<String, Value>,
    prefix: &'a str,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A string; an empty string counts as unset.
    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(invalid(&self.key(key), v, "expected a string")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(invalid(&self.key(key), v, "expected true or false")),
        }
    }

    fn int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| invalid(&self.key(key), v, "expected an integer")),
        }
    }

    fn u32(&self, key: &str) -> Result<Option<u32>, ConfigError> {
        match self.int(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                invalid(&self.key(key), &Value::from(n), "must be between 0 and 4294967295")
            }),
        }
    }

    fn mode(&self, key: &str) -> Result<Option<ModeSetting>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => ModeSetting::parse(&s).map(Some).ok_or_else(|| {
                invalid(
                    &self.key(key),
                    &Value::String(s),
                    "supported values: auto, underlay, overlay, disable, disabled",
                )
            }),
        }
    }

    fn ifname(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => match check_interface_name(&s) {
                Ok(()) => Ok(Some(s)),
                Err(reason) => Err(invalid(&self.key(key), &Value::String(s), reason)),
            },
        }
    }

    fn mac_prefix(&self, key: &str) -> Result<Option<MacPrefix>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => MacPrefix::parse(&s)
                .map(Some)
                .map_err(|reason| invalid(&self.key(key), &Value::String(s), reason)),
        }
    }

    fn ip(&self, key: &str) -> Result<Option<IpAddr>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => ip::parse_ip(&s)
                .map(Some)
                .map_err(|e| invalid(&self.key(key), &Value::String(s), e.to_string())),
        }
    }

    fn array(&self, key: &str) -> Result<&[Value], ConfigError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(v) => Err(invalid(&self.key(key), v, "expected a list")),
        }
    }

    fn cidrs(&self, key: &str) -> Result<Vec<IpNet>, ConfigError> {
        let mut out = Vec::new();
        for (i, v) in self.array(key)?.iter().enumerate() {
            let k = format!("{}[{i}]", self.key(key));
            let s = v.as_str().ok_or_else(|| invalid(&k, v, "expected a string"))?;
            let net = ip::normalize_ip_or_cidr(s).map_err(|e| invalid(&k, v, e.to_string()))?;
            out.push(net);
        }
        Ok(out)
    }

    fn policy_routes(&self, key: &str) -> Result<Vec<PolicyRoute>, ConfigError> {
        let mut out = Vec::new();
        for (i, v) in self.array(key)?.iter().enumerate() {
            let k = format!("{}[{i}]", self.key(key));
            let obj = v.as_object().ok_or_else(|| invalid(&k, v, "expected {dst, gw}"))?;
            let field = |name: &str| -> Result<(&str, &Value), ConfigError> {
                let fk = format!("{k}.{name}");
                let fv = obj.get(name).ok_or_else(|| invalid(&fk, &Value::Null, "required"))?;
                let s = fv.as_str().ok_or_else(|| invalid(&fk, fv, "expected a string"))?;
                Ok((s, fv))
            };
            let (dst_s, dst_v) = field("dst")?;
            let dst = ip::normalize_ip_or_cidr(dst_s)
                .map_err(|e| invalid(&format!("{k}.dst"), dst_v, e.to_string()))?;
            let (gw_s, gw_v) = field("gw")?;
            let gw =
                ip::parse_ip(gw_s).map_err(|e| invalid(&format!("{k}.gw"), gw_v, e.to_string()))?;
            if ip::family_of_cidr(&dst) != IpFamily::of(&gw) {
                return Err(invalid(
                    &format!("{k}.gw"),
                    gw_v,
                    format!("is not of the family of dst {dst}"),
                ));
            }
            out.push(PolicyRoute { dst, gw });
        }
        Ok(out)
    }

    fn table(&self, key: &str) -> Result<Option<u32>, ConfigError> {
        match self.u32(key)? {
            Some(0) => Err(invalid(&self.key(key), &Value::from(0), "must not be 0")),
            Some(t @ 253..=255) => Err(invalid(
                &self.key(key),
                &Value::from(t),
                "must not be one of the kernel's tables 253 (default), 254 (main) or 255 (local)",
            )),
            other => Ok(other),
        }
    }

    fn rp_filter(&self, key: &str) -> Result<Option<i32>, ConfigError> {
        match self.int(key)? {
            None => Ok(None),
            Some(n) if n < 0 => Ok(Some(-1)),
            Some(n @ 0..=2) => Ok(i32::try_from(n).ok()),
            Some(n) => Err(invalid(
                &self.key(key),
                &Value::from(n),
                "supported values: 0, 1, 2, or negative to leave it",
            )),
        }
    }

    fn mtu(&self, key: &str) -> Result<Option<u32>, ConfigError> {
        match self.int(key)? {
            None => Ok(None),
            Some(n @ 68..=65535) => Ok(u32::try_from(n).ok()),
            Some(n) => {
                Err(invalid(&self.key(key), &Value::from(n), "must be between 68 and 65535"))
            }
        }
    }
}
