//! Network configuration as a plugin receives it on stdin ([`NetConf`]) and
//! the configuration list a runtime reads from disk ([`ConfList`]).
//!
//! Only the spec's keys are typed; every plugin-specific key is kept in
//! `extra` (and the exact bytes stay available to the dispatch), so a plugin
//! decodes its own keys without this module knowing them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::CniError;
use super::result::Result as CniResult;
use super::version::{Version, check_supported, highest_common};

/// One entry of `cni.dev/valid-attachments` (GC input).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attachment {
    /// The container ID of a live attachment.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Its interface name.
    pub ifname: String,
}

/// The network configuration of one plugin invocation (stdin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConf {
    /// `cniVersion` (empty when absent, which the spec reads as 0.1.0).
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// `name` of the network.
    #[serde(default)]
    pub name: String,
    /// `type`: the plugin binary name.
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// `prevResult`, raw; parse with [`NetConf::prev_result`].
    #[serde(rename = "prevResult", default, skip_serializing_if = "Option::is_none")]
    pub prev_result: Option<Value>,
    /// `runtimeConfig` (capability arguments from the runtime).
    #[serde(rename = "runtimeConfig", default, skip_serializing_if = "Option::is_none")]
    pub runtime_config: Option<Value>,
    /// `args` (reserved key for runtime-supplied arguments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// `cni.dev/valid-attachments` (GC only). `None` when the runtime sent no
    /// list, which a plugin must not read as "nothing is valid".
    #[serde(
        rename = "cni.dev/valid-attachments",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_attachments: Option<Vec<Attachment>>,
    /// `ipam`, raw (the delegated IPAM plugin's configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Value>,
    /// Every other key (plugin-specific), passed through unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NetConf {
    /// Decodes a plugin's stdin: malformed JSON or a wrongly typed spec key is
    /// code 6; a missing or malformed `name` is code 7. The version is not
    /// checked here (the dispatch does it against the plugin's versions).
    pub fn from_slice(bytes: &[u8]) -> Result<NetConf, CniError> {
        let conf: NetConf = serde_json::from_slice(bytes)
            .map_err(|e| CniError::decode("network config", e.to_string()))?;
        validate_network_name("name", &conf.name)?;
        Ok(conf)
    }

    /// The config's `cniVersion`, checked against `supported` (code 1 otherwise).
    pub fn version(&self, supported: &[&str]) -> Result<Version, CniError> {
        check_supported("cniVersion", &self.cni_version, supported)
    }

    /// `prevResult` parsed according to the config's `cniVersion` and held in
    /// the current shape. `None` when absent or `null`; an empty object is an
    /// empty result (DEL must tolerate both).
    pub fn prev_result(&self) -> Result<Option<CniResult>, CniError> {
        match &self.prev_result {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let version = Version::parse_field("cniVersion", &self.cni_version)?;
                CniResult::from_json(v, version, "prevResult").map(Some)
            }
        }
    }
}

/// Checks a network name the way libcni does: non-empty, starting with a
/// letter or digit, then letters, digits, `_`, `.`, `-` (code 7 otherwise).
pub fn validate_network_name(field: &str, name: &str) -> Result<(), CniError> {
    if name.is_empty() {
        return Err(CniError::invalid_config(field, "\"\"", "missing network name"));
    }
    if !crate::name::is_cni_identifier(name) {
        return Err(CniError::invalid_config(
            field,
            format!("{name:?}"),
            "must start with a letter or digit and contain only letters, digits, '_', '.', '-'",
        ));
    }
    Ok(())
}

/// A network configuration list (`.conflist`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfList {
    /// `cniVersion`.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// `cniVersions` (1.1.0): further versions the list is valid for.
    #[serde(rename = "cniVersions", default, skip_serializing_if = "Vec::is_empty")]
    pub cni_versions: Vec<String>,
    /// `name` of the network.
    #[serde(default)]
    pub name: String,
    /// `disableCheck`: the runtime must not call CHECK.
    #[serde(rename = "disableCheck", default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_check: bool,
    /// `disableGC` (1.1.0): the runtime must not call GC.
    #[serde(rename = "disableGC", default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_gc: bool,
    /// `plugins`, each a raw plugin configuration object.
    #[serde(default)]
    pub plugins: Vec<Map<String, Value>>,
    /// Other keys (`loadOnlyInlinedPlugins`, ...), passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConfList {
    /// Decodes and checks a conflist: JSON errors are code 6; a bad `name`, an
    /// empty `plugins` or a plugin without a string `type` is code 7.
    pub fn from_slice(bytes: &[u8]) -> Result<ConfList, CniError> {
        let list: ConfList = serde_json::from_slice(bytes)
            .map_err(|e| CniError::decode("network config list", e.to_string()))?;
        validate_network_name("name", &list.name)?;
        if list.plugins.is_empty() {
            return Err(CniError::invalid_config(
                "plugins",
                "[]",
                "a list needs at least one plugin",
            ));
        }
        for (i, p) in list.plugins.iter().enumerate() {
            match p.get("type") {
                Some(Value::String(t)) if !t.is_empty() => {}
                other => {
                    return Err(CniError::invalid_config(
                        format!("plugins[{i}].type"),
                        other.map_or_else(|| "\"\"".to_string(), Value::to_string),
                        "every plugin needs a type",
                    ));
                }
            }
        }
        Ok(list)
    }

    /// The version a runtime uses for this list: the highest of `cniVersion`
    /// and `cniVersions` that is in `supported` (spec §1 "Version
    /// considerations"). Code 1 when none is.
    pub fn negotiated_version(&self, supported: &[&str]) -> Result<Version, CniError> {
        let candidates = std::iter::once(self.cni_version.as_str())
            .chain(self.cni_versions.iter().map(String::as_str));
        highest_common(candidates, supported).ok_or_else(|| CniError::IncompatibleVersion {
            field: "cniVersion".into(),
            version: std::iter::once(self.cni_version.clone())
                .chain(self.cni_versions.iter().cloned())
                .collect::<Vec<_>>()
                .join(","),
            reason: format!("none of them is supported; supported are [{}]", supported.join(", ")),
        })
    }

    /// The stdin a runtime gives plugin `index`: its own object with the list's
    /// `name` and the negotiated `cniVersion` injected, plus `prevResult` when
    /// given (the previous plugin's result, already in `version`'s shape).
    /// `None` when `index` is out of range.
    pub fn plugin_config(
        &self,
        index: usize,
        version: Version,
        prev_result: Option<&Value>,
    ) -> Option<Value> {
        let mut conf = self.plugins.get(index)?.clone();
        conf.insert("cniVersion".into(), Value::String(version.to_string()));
        conf.insert("name".into(), Value::String(self.name.clone()));
        match prev_result {
            Some(prev) => conf.insert("prevResult".into(), prev.clone()),
            None => conf.remove("prevResult"),
        };
        Some(Value::Object(conf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::version::SUPPORTED_VERSIONS;
    use serde_json::json;

    #[test]
    fn netconf_keeps_plugin_keys_and_round_trips() {
        let raw = json!({
            "cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "coordinator",
            "mode": "auto", "podMACPrefix": "0a:1b", "hijackCIDR": ["169.254.0.0/16"],
            "ipam": {"type": "spiderpool"}, "runtimeConfig": {"mac": "aa:bb:cc:dd:ee:ff"},
            "capabilities": {"mac": true}
        });
        let conf = NetConf::from_slice(raw.to_string().as_bytes()).unwrap();
        assert_eq!(conf.plugin_type, "coordinator");
        assert_eq!(conf.extra["mode"], "auto");
        assert_eq!(conf.extra["hijackCIDR"], json!(["169.254.0.0/16"]));
        assert_eq!(conf.ipam, Some(json!({"type": "spiderpool"})));
        assert_eq!(conf.version(&SUPPORTED_VERSIONS).unwrap(), Version::V1_0_0);
        assert_eq!(serde_json::to_value(&conf).unwrap(), raw);
        assert_eq!(conf.prev_result().unwrap(), None);
    }

    #[test]
    fn netconf_errors_have_codes_and_name_the_field() {
        let e = NetConf::from_slice(b"{not json").unwrap_err();
        assert_eq!(e.code().as_u32(), 6, "{e}");
        let e = NetConf::from_slice(br#"{"cniVersion":"1.0.0","name":5}"#).unwrap_err();
        assert_eq!(e.code().as_u32(), 6, "{e}");
        let e = NetConf::from_slice(br#"{"cniVersion":"1.0.0","type":"x"}"#).unwrap_err();
        assert_eq!(e.code().as_u32(), 7);
        assert!(e.to_string().contains("name"), "{e}");
        let e = NetConf::from_slice(br#"{"cniVersion":"1.0.0","name":"a b"}"#).unwrap_err();
        assert_eq!(e.code().as_u32(), 7);
        assert!(e.to_string().contains("\"a b\""), "{e}");
        let c = NetConf::from_slice(br#"{"cniVersion":"0.2.0","name":"n"}"#).unwrap();
        assert_eq!(c.version(&SUPPORTED_VERSIONS).unwrap_err().code().as_u32(), 1);
        let c = NetConf::from_slice(br#"{"name":"n"}"#).unwrap();
        assert_eq!(c.version(&SUPPORTED_VERSIONS).unwrap_err().code().as_u32(), 1);
    }

    #[test]
    fn valid_attachments_absent_differs_from_empty() {
        let c = NetConf::from_slice(br#"{"cniVersion":"1.1.0","name":"n"}"#).unwrap();
        assert_eq!(c.valid_attachments, None);
        let c = NetConf::from_slice(
            br#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[{"containerID":"abc","ifname":"net1"}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.valid_attachments,
            Some(vec![Attachment { container_id: "abc".into(), ifname: "net1".into() }])
        );
    }

    #[test]
    fn prev_result_is_parsed_with_the_config_version() {
        let c = NetConf::from_slice(
            br#"{"cniVersion":"0.4.0","name":"n","prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.5/16"}]}}"#,
        )
        .unwrap();
        let r = c.prev_result().unwrap().unwrap();
        assert_eq!(r.ips[0].address.to_string(), "10.1.0.5/16");
        let c =
            NetConf::from_slice(br#"{"cniVersion":"1.0.0","name":"n","prevResult":{}}"#).unwrap();
        assert_eq!(c.prev_result().unwrap(), Some(CniResult::default()));
        let c =
            NetConf::from_slice(br#"{"cniVersion":"1.0.0","name":"n","prevResult":null}"#).unwrap();
        assert_eq!(c.prev_result().unwrap(), None);
    }

    #[test]
    fn conflist_negotiates_and_builds_plugin_configs() {
        let list = ConfList::from_slice(
            json!({
                "cniVersion": "0.4.0", "cniVersions": ["1.0.0", "1.1.0", "9.0.0"], "name": "net",
                "disableGC": true,
                "plugins": [{"type": "macvlan", "master": "eth0"}, {"type": "coordinator"}]
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert!(list.disable_gc && !list.disable_check);
        let v = list.negotiated_version(&SUPPORTED_VERSIONS).unwrap();
        assert_eq!(v, Version::V1_1_0);
        assert_eq!(list.negotiated_version(&["0.3.1"]).unwrap_err().code().as_u32(), 1);
        let prev = json!({"cniVersion": "1.1.0", "ips": []});
        let p = list.plugin_config(1, v, Some(&prev)).unwrap();
        assert_eq!(
            p,
            json!({"type": "coordinator", "name": "net", "cniVersion": "1.1.0", "prevResult": prev})
        );
        let p0 = list.plugin_config(0, v, None).unwrap();
        assert_eq!(p0["master"], "eth0");
        assert!(p0.get("prevResult").is_none());
        assert!(list.plugin_config(2, v, None).is_none());
    }

    #[test]
    fn conflist_errors_name_the_field() {
        let e =
            ConfList::from_slice(br#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#).unwrap_err();
        assert_eq!(e.code().as_u32(), 7);
        assert!(e.to_string().contains("plugins"), "{e}");
        let e = ConfList::from_slice(
            br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a"},{"type":3}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("plugins[1].type 3"), "{e}");
        let e =
            ConfList::from_slice(br#"{"cniVersion":"1.0.0","name":"n","plugins":{}}"#).unwrap_err();
        assert_eq!(e.code().as_u32(), 6);
    }
}
