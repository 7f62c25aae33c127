//! SpiderMultusConfig → NetworkAttachmentDefinition.

use std::collections::BTreeMap;

use super::error::{RenderError, unknown_cni_type};
use super::main_plugin::main_plugins;
use super::nad::{NAD_API_VERSION, NAD_KIND, NadSpec, NetworkAttachmentDefinition};
use super::plugin::{ConfList, CoordinatorConf, Plugin};
use crate::model::{
    API_VERSION, CniType, CoordinatorSpec, MultusCNIConfigSpec, ObjectMeta, OwnerReference,
    SpiderMultusConfig,
};

/// `cniVersion` of the generated config when `multus.spidernet.io/cni-version` is
/// not set.
pub const DEFAULT_CNI_VERSION: &str = "0.3.1";

/// The values `multus.spidernet.io/cni-version` may take: Spiderpool's four, plus
/// `1.1.0`, which our plugins implement (DESIGN.md §4).
pub const SUPPORTED_CNI_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// NAD annotation naming the device-plugin resource a pod must request.
pub const RESOURCE_NAME_ANNOTATION: &str = "k8s.v1.cni.cncf.io/resourceName";

/// The name of the NAD an SMC produces: the `multus.spidernet.io/cr-name`
/// annotation when set and non-empty, else the SMC's name.
pub fn nad_name(smc: &SpiderMultusConfig) -> String {
    match smc.metadata.annotation(SpiderMultusConfig::ANNOTATION_CR_NAME) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => smc.metadata.name_str().to_string(),
    }
}

/// The `name` inside the CNI config: `cni.spidernet.io/cniconfig-name` when set
/// and non-empty, else the NAD name.
pub fn cni_config_name(smc: &SpiderMultusConfig) -> String {
    match smc.metadata.annotation(SpiderMultusConfig::ANNOTATION_CNI_CONFIG_NAME) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => nad_name(smc),
    }
}

/// The `cniVersion` of the generated config: `multus.spidernet.io/cni-version`
/// when set, else [`DEFAULT_CNI_VERSION`].
pub fn cni_version(smc: &SpiderMultusConfig) -> &str {
    smc.metadata
        .annotation(SpiderMultusConfig::ANNOTATION_CNI_VERSION)
        .unwrap_or(DEFAULT_CNI_VERSION)
}

/// Parses one `chainCNIJsonData` entry: a JSON object with a non-empty string
/// `type`, as any CNI plugin configuration must have.
pub fn parse_chain_plugin(s: &str) -> Result<serde_json::Value, String> {
    let value: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    let Some(obj) = value.as_object() else {
        return Err("a CNI plugin configuration must be a JSON object".into());
    };
    match obj.get("type") {
        Some(serde_json::Value::String(t)) if !t.is_empty() => Ok(value),
        Some(serde_json::Value::String(_)) => Err("\"type\" must not be empty".into()),
        Some(_) => Err("\"type\" must be a string".into()),
        None => Err("a CNI plugin configuration needs a \"type\"".into()),
    }
}

/// Renders the NetworkAttachmentDefinition the controller keeps in sync with
/// `smc` (reference §7): same namespace, name from [`nad_name`], the SMC's
/// annotations plus `k8s.v1.cni.cncf.io/resourceName` where the CNI needs a
/// device-plugin resource, the SMC as controlling owner, and the CNI config.
///
/// Render the SMC as admission stored it (after
/// [`crate::admission::multusconfig::mutate`]). An optional numeric key (`mtu`,
/// sriov/ovs `vlan`, tx rates, `txQueueLen`, `podRPFilter`, `vethMTU`) is
/// rendered only when the SMC sets it (0 included): the mutation leaves them
/// unset, because a key in the NAD wins over the SpiderCoordinator.
pub fn render(smc: &SpiderMultusConfig) -> Result<NetworkAttachmentDefinition, RenderError> {
    let name = nad_name(smc);
    let mut annotations = smc.metadata.annotations.clone().unwrap_or_default();
    let config = build_config(smc, &mut annotations)?;
    let owner = OwnerReference {
        api_version: API_VERSION.to_string(),
        kind: SpiderMultusConfig::KIND.to_string(),
        name: smc.metadata.name_str().to_string(),
        uid: smc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    Ok(NetworkAttachmentDefinition {
        api_version: NAD_API_VERSION.to_string(),
        kind: NAD_KIND.to_string(),
        metadata: ObjectMeta {
            name: Some(name),
            namespace: smc.metadata.namespace.clone(),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: NadSpec { config: config.map(|c| c.into_string()) },
    })
}

/// A rendered config before it becomes a string.
#[derive(Debug, Clone)]
pub(crate) enum Config {
    /// A conflist built from the typed spec.
    List(ConfList),
    /// `customCNI`, verbatim.
    Custom(String),
}

impl Config {
    fn into_string(self) -> String {
        match self {
            // Serializing plain structs, strings, integers and parsed JSON values
            // cannot fail.
            Config::List(list) => serde_json::to_string(&list).unwrap_or_default(),
            Config::Custom(s) => s,
        }
    }
}

/// Builds the config and adds the resource-name annotation the CNI needs.
/// `None` for `custom` with an empty `customCNI` (a NAD without config).
///
/// The chain: the plugins of the `cniType` ([`main_plugins`]: `ifacer`, the
/// main plugin, `rdma`), `chainCNIJsonData` ([`chain_plugins`]), the
/// coordinator when enabled ([`coordinator`]), then the `cniType`'s tail
/// (`tuning`).
pub(crate) fn build_config(
    smc: &SpiderMultusConfig,
    annotations: &mut BTreeMap<String, String>,
) -> Result<Option<Config>, RenderError> {
    let spec = &smc.spec;
    let cni_type = parse_cni_type(spec)?;
    if cni_type == CniType::Custom {
        return custom_config(spec.custom_cni.as_deref());
    }
    let main = main_plugins(cni_type, spec)?;
    let mut plugins = main.head;
    plugins.extend(chain_plugins(&spec.chain_cni_json_data)?);
    if spec.coordinator_enabled() {
        plugins.push(Plugin::Coordinator(coordinator(spec.coordinator.as_ref())));
    }
    plugins.extend(main.tail);
    if let Some(resource) = main.resource_name {
        annotations.insert(RESOURCE_NAME_ANNOTATION.into(), resource);
    }
    Ok(Some(Config::List(ConfList {
        cni_version: cni_version(smc).to_string(),
        name: cni_config_name(smc),
        plugins,
    })))
}

/// `cniType: custom`: `customCNI` verbatim when it is JSON, no config when it
/// is empty.
fn custom_config(raw: Option<&str>) -> Result<Option<Config>, RenderError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(_) => Ok(Some(Config::Custom(raw.to_string()))),
            Err(e) => Err(RenderError::InvalidJson {
                field: "spec.customCNI".into(),
                value: raw.to_string(),
                reason: e.to_string(),
            }),
        },
    }
}

/// `chainCNIJsonData`, each entry a plugin object ([`parse_chain_plugin`]),
/// in order.
fn chain_plugins(raw: &[String]) -> Result<Vec<Plugin>, RenderError> {
    raw.iter()
        .enumerate()
        .map(|(i, raw)| {
            parse_chain_plugin(raw).map(Plugin::Chain).map_err(|reason| RenderError::InvalidJson {
                field: format!("spec.chainCNIJsonData[{i}]"),
                value: raw.clone(),
                reason,
            })
        })
        .collect()
}

fn parse_cni_type(spec: &MultusCNIConfigSpec) -> Result<CniType, RenderError> {
    spec.parsed_cni_type()
        .map_err(|_| unknown_cni_type(spec.cni_type.as_deref().unwrap_or_default()))
}

/// The coordinator plugin from `spec.coordinator`. `hostRuleTable`,
/// `podCIDRType`, `overlayPodCIDR` and `serviceCIDR` are never rendered: the
/// plugin takes them from the SpiderCoordinator. `podRPFilter` is rendered
/// whenever it is set (DESIGN.md §5.4; Spiderpool only when `podCIDRType` is set).
/// `mode` is rendered as given: our plugin accepts `disabled` and `disable`.
fn coordinator(spec: Option<&CoordinatorSpec>) -> CoordinatorConf {
    let mut conf = CoordinatorConf { kind: "coordinator", ..CoordinatorConf::default() };
    let Some(c) = spec else {
        return conf;
    };
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    conf.tx_queue_len = c.tx_queue_len;
    conf.veth_link_address = text(&c.veth_link_address);
    conf.veth_mtu = c.veth_mtu;
    conf.tune_pod_routes = c.tune_pod_routes;
    conf.pod_mac_prefix = text(&c.pod_mac_prefix);
    conf.mode = text(&c.mode);
    conf.pod_default_route_nic = text(&c.pod_default_route_nic);
    conf.pod_rp_filter = c.pod_rp_filter;
    conf.hijack_cidr = c.hijack_cidr.clone();
    conf.policy_routes = c.policy_routes.clone();
    conf
}

#[cfg(test)]
mod step_tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn custom_config_is_verbatim_json_or_none() {
        assert!(custom_config(None).unwrap().is_none());
        assert!(custom_config(Some("")).unwrap().is_none());
        let raw = r#"{"cniVersion": "0.3.1", "type": "x"}"#;
        match custom_config(Some(raw)).unwrap() {
            Some(Config::Custom(s)) => assert_eq!(s, raw),
            other => panic!("{other:?}"),
        }
        let e = custom_config(Some("{")).unwrap_err();
        assert!(e.to_string().starts_with("spec.customCNI: invalid JSON \"{\""), "{e}");
    }

    #[test]
    fn chain_plugins_keep_order_and_name_the_bad_entry() {
        let raw = [r#"{"type": "a"}"#.to_string(), r#"{"type": "b", "k": 1}"#.to_string()];
        let got = serde_json::to_value(chain_plugins(&raw).unwrap()).unwrap();
        assert_eq!(got, json!([{"type": "a"}, {"type": "b", "k": 1}]));
        let bad = [r#"{"type": "a"}"#.to_string(), r#"{"k": 1}"#.to_string()];
        let e = chain_plugins(&bad).unwrap_err();
        assert!(e.to_string().starts_with("spec.chainCNIJsonData[1]: invalid JSON"), "{e}");
    }

    #[test]
    fn the_coordinator_plugin_renders_only_what_is_set() {
        let bare = serde_json::to_value(coordinator(None)).unwrap();
        assert_eq!(bare, json!({"type": "coordinator"}));
        let spec: CoordinatorSpec =
            serde_json::from_value(json!({"mode": "underlay", "podRPFilter": 0})).unwrap();
        let got = serde_json::to_value(coordinator(Some(&spec))).unwrap();
        assert_eq!(got["mode"], "underlay");
        assert_eq!(got["podRPFilter"], 0);
        assert!(got.get("txQueueLen").is_none());
    }
}
