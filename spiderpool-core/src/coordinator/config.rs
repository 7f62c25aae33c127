//! The coordinator's configuration: the netconf as it appears in a NAD
//! ([`CoordinatorNetConf`], read with serde through the keys of module `wire`)
//! and the merged result the planner works from ([`EffectiveConfig`],
//! reference §5.1). What the agent returns is in
//! [`cluster`](super::cluster); the one precedence rule in
//! [`merge`](super::merge()).
//!
//! Parsing names the key and the value of every bad entry. Nothing here reads
//! files, environment or sockets: the plugin hands in the JSON it was given.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;

use super::defaults;
pub use super::error::ConfigError;
use super::setting::{self, RoutePart};
pub use super::setting::{MacPrefix, ModeSetting, PolicyRoute};
pub use super::wire::IGNORED_KEYS;
use super::wire::{LogOptionsWire, NetConfWire, PolicyRouteItem, Wire};

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

    /// Parses a netconf JSON value: serde picks the keys out (`NetConfWire`),
    /// each value passes its rule (module `setting`), and the first bad one
    /// is an error naming its key and value.
    pub fn from_value(value: &Value) -> Result<CoordinatorNetConf, ConfigError> {
        if !value.is_object() {
            let mut text = value.to_string();
            text.truncate(80);
            return Err(ConfigError::NotAnObject { value: text });
        }
        let w = NetConfWire::deserialize(value).map_err(|e| ConfigError::Invalid {
            key: "<netconf>".to_owned(),
            value: String::new(),
            reason: e.to_string(),
        })?;
        let ignored_keys = w.ignored_keys();
        Ok(CoordinatorNetConf {
            mode: checked(w.mode.text("mode")?, "mode", setting::mode)?,
            tune_pod_routes: w.tune_pod_routes.get("tunePodRoutes", "expected true or false")?,
            pod_default_route_nic: ifname(w.pod_default_route_nic, "podDefaultRouteNic")?,
            pod_default_cni_nic: ifname(w.pod_default_cni_nic, "podDefaultCniNic")?,
            pod_mac_prefix: checked(
                w.pod_mac_prefix.text("podMACPrefix")?,
                "podMACPrefix",
                setting::mac_prefix,
            )?,
            overlay_pod_cidr: cidrs(w.overlay_pod_cidr, "overlayPodCIDR")?,
            service_cidr: cidrs(w.service_cidr, "serviceCIDR")?,
            hijack_cidr: cidrs(w.hijack_cidr, "hijackCIDR")?,
            policy_routes: policy_routes(w.policy_routes, "policyRoutes")?,
            host_rule_table: number(w.host_rule_table, "hostRuleTable", setting::table)?,
            pod_rp_filter: number(w.pod_rp_filter, "podRPFilter", setting::rp_filter)?,
            tx_queue_len: number(w.tx_queue_len, "txQueueLen", setting::u32_value)?,
            veth_link_address: checked(
                w.veth_link_address.text("vethLinkAddress")?,
                "vethLinkAddress",
                setting::ip,
            )?,
            veth_mtu: number(w.veth_mtu, "vethMTU", setting::mtu)?,
            log_options: log_options(w.log_options)?,
            ignored_keys,
        })
    }
}

/// A string setting through its rule; the error names `key` and the value.
pub(crate) fn checked<T>(
    text: Option<String>,
    key: &str,
    rule: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    text.map(|s| rule(&s).map_err(|reason| ConfigError::invalid(key, &Value::String(s), reason)))
        .transpose()
}

fn ifname(w: Wire<String>, key: &str) -> Result<Option<String>, ConfigError> {
    checked(w.text(key)?, key, setting::ifname)
}

fn number<T>(
    w: Wire<i64>,
    key: &str,
    rule: impl FnOnce(i64) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    w.int(key)?
        .map(|n| rule(n).map_err(|reason| ConfigError::invalid(key, &Value::from(n), reason)))
        .transpose()
}

fn list(w: Wire<Vec<Value>>, key: &str) -> Result<Vec<Value>, ConfigError> {
    Ok(w.get(key, "expected a list")?.unwrap_or_default())
}

fn cidrs(w: Wire<Vec<Value>>, key: &str) -> Result<Vec<IpNet>, ConfigError> {
    let mut out = Vec::new();
    for (i, v) in list(w, key)?.iter().enumerate() {
        let k = format!("{key}[{i}]");
        let s = v.as_str().ok_or_else(|| ConfigError::invalid(&k, v, "expected a string"))?;
        out.push(setting::cidr(s).map_err(|reason| ConfigError::invalid(&k, v, reason))?);
    }
    Ok(out)
}

fn policy_routes(w: Wire<Vec<Value>>, key: &str) -> Result<Vec<PolicyRoute>, ConfigError> {
    let mut out = Vec::new();
    for (i, v) in list(w, key)?.iter().enumerate() {
        let k = format!("{key}[{i}]");
        let item = PolicyRouteItem::deserialize(v)
            .ok()
            .filter(|_| v.is_object())
            .ok_or_else(|| ConfigError::invalid(&k, v, "expected {dst, gw}"))?;
        let part = |w: Wire<String>, name: &str| -> Result<String, ConfigError> {
            let fk = format!("{k}.{name}");
            w.get(&fk, "expected a string")?
                .ok_or_else(|| ConfigError::invalid(&fk, &Value::Null, "required"))
        };
        let (dst, gw) = (part(item.dst, "dst")?, part(item.gw, "gw")?);
        let route = setting::policy_route(&dst, &gw).map_err(|(p, reason)| {
            let text = if p == RoutePart::Dst { &dst } else { &gw };
            ConfigError::invalid(&format!("{k}.{}", p.key()), &Value::String(text.clone()), reason)
        })?;
        out.push(route);
    }
    Ok(out)
}

fn log_options(w: Wire<LogOptionsWire>) -> Result<LogOptions, ConfigError> {
    let Some(lo) = w.get("logOptions", "expected an object")? else {
        return Ok(LogOptions::default());
    };
    let n = |w: Wire<i64>, key: &str| number(w, key, setting::u32_value);
    Ok(LogOptions {
        log_level: lo.log_level.text("logOptions.logLevel")?,
        log_file: lo.log_file.text("logOptions.logFile")?,
        log_max_size: n(lo.log_max_size, "logOptions.logMaxSize")?,
        log_max_age: n(lo.log_max_age, "logOptions.logMaxAge")?,
        log_max_count: n(lo.log_max_count, "logOptions.logMaxCount")?,
    })
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
    /// The [`defaults`] table, nothing hijacked, no policy route.
    fn default() -> Self {
        EffectiveConfig {
            mode: ModeSetting::parse(defaults::MODE).unwrap_or(ModeSetting::Auto),
            tune_pod_routes: defaults::TUNE_POD_ROUTES,
            pod_default_route_nic: None,
            pod_default_cni_nic: defaults::POD_DEFAULT_CNI_NIC.to_owned(),
            pod_mac_prefix: None,
            overlay_pod_cidr: Vec::new(),
            service_cidr: Vec::new(),
            hijack_cidr: Vec::new(),
            policy_routes: Vec::new(),
            host_rule_table: defaults::HOST_RULE_TABLE,
            pod_rp_filter: defaults::POD_RP_FILTER,
            tx_queue_len: defaults::TX_QUEUE_LEN,
            veth_link_address: None,
            veth_mtu: defaults::VETH_MTU,
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
