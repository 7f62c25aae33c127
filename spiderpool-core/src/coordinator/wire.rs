//! The coordinator netconf as serde reads it: [`NetConfWire`] names every
//! key once; each value is a [`Wire`], which keeps a value of the wrong JSON
//! type instead of failing, so the error can name the key and show the value
//! (`vethMTU: invalid value "1500": expected an integer`).
//! [`CoordinatorNetConf::from_value`](super::CoordinatorNetConf::from_value)
//! then passes every value through its [`setting`](super::setting) rule.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::error::ConfigError;

/// Netconf keys that are accepted and ignored (Spiderpool removed or never
/// used them).
pub const IGNORED_KEYS: [&str; 5] =
    ["hostRPFilter", "multusNicPrefix", "detectGateway", "detectIPConflict", "detectOptions"];

/// One key's value: absent (or `null`), of the expected type, or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Wire<T> {
    /// Absent or `null`.
    #[default]
    Unset,
    /// Of the expected type.
    Set(T),
    /// Of another JSON type.
    Mistyped(Value),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Wire<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        if value.is_null() {
            return Ok(Wire::Unset);
        }
        Ok(match T::deserialize(&value) {
            Ok(v) => Wire::Set(v),
            Err(_) => Wire::Mistyped(value),
        })
    }
}

impl<T> Wire<T> {
    /// The value; a mistyped one is an error naming `key` and saying what
    /// was `expected`.
    pub(crate) fn get(self, key: &str, expected: &str) -> Result<Option<T>, ConfigError> {
        match self {
            Wire::Unset => Ok(None),
            Wire::Set(v) => Ok(Some(v)),
            Wire::Mistyped(v) => Err(ConfigError::invalid(key, &v, expected)),
        }
    }
}

impl Wire<String> {
    /// A string; an empty one counts as unset.
    pub(crate) fn text(self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.get(key, "expected a string")?.filter(|s| !s.is_empty()))
    }
}

impl Wire<i64> {
    /// An integer.
    pub(crate) fn int(self, key: &str) -> Result<Option<i64>, ConfigError> {
        self.get(key, "expected an integer")
    }
}

/// Set when the key is there, whatever its value (the accepted-and-ignored
/// keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Present(pub bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The netconf keys the coordinator reads (other CNI keys such as
/// `cniVersion`, `name`, `type`, `prevResult` are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct NetConfWire {
    pub mode: Wire<String>,
    pub tune_pod_routes: Wire<bool>,
    pub pod_default_route_nic: Wire<String>,
    pub pod_default_cni_nic: Wire<String>,
    #[serde(rename = "podMACPrefix")]
    pub pod_mac_prefix: Wire<String>,
    #[serde(rename = "overlayPodCIDR")]
    pub overlay_pod_cidr: Wire<Vec<Value>>,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: Wire<Vec<Value>>,
    #[serde(rename = "hijackCIDR")]
    pub hijack_cidr: Wire<Vec<Value>>,
    pub policy_routes: Wire<Vec<Value>>,
    pub host_rule_table: Wire<i64>,
    #[serde(rename = "podRPFilter")]
    pub pod_rp_filter: Wire<i64>,
    pub tx_queue_len: Wire<i64>,
    pub veth_link_address: Wire<String>,
    #[serde(rename = "vethMTU")]
    pub veth_mtu: Wire<i64>,
    pub log_options: Wire<LogOptionsWire>,
    #[serde(rename = "hostRPFilter")]
    pub host_rp_filter: Present,
    pub multus_nic_prefix: Present,
    pub detect_gateway: Present,
    #[serde(rename = "detectIPConflict")]
    pub detect_ip_conflict: Present,
    pub detect_options: Present,
}

impl NetConfWire {
    /// The accepted-and-ignored keys that are there, in [`IGNORED_KEYS`]
    /// order.
    pub(crate) fn ignored_keys(&self) -> Vec<String> {
        let present = [
            self.host_rp_filter,
            self.multus_nic_prefix,
            self.detect_gateway,
            self.detect_ip_conflict,
            self.detect_options,
        ];
        IGNORED_KEYS
            .iter()
            .zip(present)
            .filter(|(_, p)| p.0)
            .map(|(k, _)| (*k).to_owned())
            .collect()
    }
}

/// `logOptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct LogOptionsWire {
    pub log_level: Wire<String>,
    pub log_file: Wire<String>,
    pub log_max_size: Wire<i64>,
    pub log_max_age: Wire<i64>,
    pub log_max_count: Wire<i64>,
}

/// One `policyRoutes` item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct PolicyRouteItem {
    pub dst: Wire<String>,
    pub gw: Wire<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn a_mistyped_value_is_kept_for_the_message() {
        let w: NetConfWire =
            serde_json::from_value(json!({"vethMTU": "1500", "mode": null, "detectGateway": null}))
                .unwrap();
        assert_eq!(w.veth_mtu, Wire::Mistyped(json!("1500")));
        assert_eq!(w.mode, Wire::Unset);
        assert_eq!(w.ignored_keys(), ["detectGateway"]);
        let e = w.veth_mtu.int("vethMTU").unwrap_err();
        assert_eq!(e.to_string(), "vethMTU: invalid value \"1500\": expected an integer");
    }
}
