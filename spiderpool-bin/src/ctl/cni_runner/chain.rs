//! The five operations on a loaded network, as libcni's `AddNetworkList`,
//! `DelNetworkList`, `CheckNetworkList`, `GCNetworkList` and
//! `GetStatusNetworkList` do them.

use std::path::PathBuf;

use serde_json::{Map, Value};
use spiderpool_core::cni::{Attachment, Result as CniResult, Version};

use super::cache::{self, CacheEntry};
use super::exec::{self, Invocation, PluginRef};
use super::{ChainError, Network};

/// One attachment: the container, its netns and interface, and the runtime's
/// settings.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS` (may be empty for DEL).
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`.
    pub args: String,
    /// Where plugins are looked up (and `CNI_PATH` for them).
    pub cni_path: Vec<PathBuf>,
    /// The result cache directory.
    pub cache_dir: PathBuf,
    /// Capability arguments: given to each plugin that declares the
    /// capability in its `capabilities`, as `runtimeConfig` (ADD, DEL, CHECK).
    pub capability_args: Map<String, Value>,
    /// How long one plugin may run before it is killed (`None`: no limit).
    pub timeout: Option<std::time::Duration>,
}

/// What an operation did when it did not call every plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every plugin was called; for ADD, the final result (in the network's
    /// version).
    Done(Option<Value>),
    /// Nothing was called, for the reason given (a `disableCheck` list, GC
    /// or STATUS on a version before 1.1.0, ...).
    Skipped(String),
}

impl Runtime {
    fn invocation<'a>(&'a self, command: &'a str) -> Invocation<'a> {
        Invocation {
            command,
            container_id: Some(&self.container_id),
            netns: Some(&self.netns),
            ifname: Some(&self.ifname),
            args: Some(&self.args),
        }
    }

    fn cache_path(&self, network: &Network) -> PathBuf {
        cache::entry_path(&self.cache_dir, &network.list.name, &self.container_id, &self.ifname)
    }
}

fn plugin_ref(network: &Network, index: usize) -> PluginRef {
    let plugin_type = network.list.plugins[index]
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    PluginRef { plugin_type, index }
}

/// Runs one plugin with `prev` injected as `prevResult` (libcni's
/// `buildOneConfig`: the list's `name` and `cniVersion`, then `prevResult`).
fn call(
    network: &Network,
    index: usize,
    inv: &Invocation<'_>,
    rt: &Runtime,
    prev: Option<&Value>,
    extra: Option<(&str, Value)>,
) -> Result<Value, ChainError> {
    let plugin = plugin_ref(network, index);
    let mut config = network.list.plugin_config(index, network.version, prev).ok_or_else(|| {
        ChainError::PluginOutput {
            plugin: plugin.clone(),
            command: inv.command.to_owned(),
            reason: "no such plugin index".into(),
        }
    })?;
    if let Some(obj) = config.as_object_mut() {
        if matches!(inv.command, "ADD" | "DEL" | "CHECK") {
            let rc = runtime_config(obj, &rt.capability_args);
            if !rc.is_empty() {
                obj.insert("runtimeConfig".to_owned(), Value::Object(rc));
            }
        }
        if let Some((key, value)) = extra {
            obj.insert(key.to_owned(), value);
        }
    }
    let binary = exec::find_plugin(&plugin, &rt.cni_path)?;
    exec::exec(&binary, &plugin, inv, &rt.cni_path, &config, rt.timeout)
}

/// libcni's `injectRuntimeConfig`: the capability arguments whose name the
/// plugin declares `true` in `capabilities`.
fn runtime_config(plugin: &Map<String, Value>, caps: &Map<String, Value>) -> Map<String, Value> {
    let Some(Value::Object(declared)) = plugin.get("capabilities") else { return Map::new() };
    declared
        .iter()
        .filter(|(_, on)| on.as_bool() == Some(true))
        .filter_map(|(name, _)| caps.get(name).map(|v| (name.clone(), v.clone())))
        .collect()
}

/// A result as the network's version: parsed with its own `cniVersion` (the
/// network's when absent) and written in `version`'s shape.
fn convert(value: &Value, version: Version, what: &str) -> Result<Value, String> {
    let own = match value.get("cniVersion").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => {
            Version::parse_field(&format!("{what} cniVersion"), v).map_err(|e| e.to_string())?
        }
        _ => version,
    };
    let result = CniResult::from_json(value, own, what).map_err(|e| e.to_string())?;
    Ok(result.to_json(version))
}

/// ADD: every plugin in order, each given the previous one's result as
/// `prevResult`; the final result is cached and returned.
pub fn add(network: &Network, rt: &Runtime) -> Result<Value, ChainError> {
    let inv = rt.invocation("ADD");
    let mut prev: Option<Value> = None;
    for index in 0..network.list.plugins.len() {
        let out = call(network, index, &inv, rt, prev.as_ref(), None)?;
        let plugin = plugin_ref(network, index);
        if out.is_null() {
            return Err(ChainError::PluginOutput {
                plugin,
                command: "ADD".into(),
                reason: "printed no result".into(),
            });
        }
        let what = format!("result of {}", plugin.plugin_type);
        let converted = convert(&out, network.version, &what)
            .map_err(|reason| ChainError::PluginOutput { plugin, command: "ADD".into(), reason })?;
        prev = Some(converted);
    }
    let result = prev.unwrap_or(Value::Null);
    let entry = CacheEntry {
        kind: cache::CACHE_KIND.into(),
        container_id: rt.container_id.clone(),
        if_name: rt.ifname.clone(),
        network_name: network.list.name.clone(),
        netns: rt.netns.clone(),
        cni_args: rt
            .args
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| [k.to_owned(), v.to_owned()])
            .collect(),
        config: cache::base64(network.config_bytes.as_bytes()),
        result: result.clone(),
    };
    cache::write(&rt.cache_path(network), &entry)?;
    Ok(result)
}

/// The cached result of this attachment, in the network's version.
fn cached_result(network: &Network, rt: &Runtime) -> Result<Option<Value>, ChainError> {
    let path = rt.cache_path(network);
    let Some(entry) = cache::read(&path)? else { return Ok(None) };
    if entry.result.is_null() {
        return Ok(None);
    }
    convert(&entry.result, network.version, "cached result")
        .map(Some)
        .map_err(|reason| ChainError::Cache { path, reason })
}

/// DEL: every plugin in reverse order with the cached result as `prevResult`
/// (versions 0.4.0 and later; none when nothing is cached). Keeps going after
/// a failure and reports them all; the cache entry is removed only when every
/// plugin succeeded.
pub fn del(network: &Network, rt: &Runtime) -> Result<Outcome, ChainError> {
    let prev = if network.version >= Version::V0_4_0 { cached_result(network, rt)? } else { None };
    let inv = rt.invocation("DEL");
    let mut errors = Vec::new();
    for index in (0..network.list.plugins.len()).rev() {
        if let Err(e) = call(network, index, &inv, rt, prev.as_ref(), None) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(ChainError::several(errors));
    }
    cache::remove(&rt.cache_path(network))?;
    Ok(Outcome::Done(None))
}

/// CHECK: every plugin in order with the cached result; refused before
/// 0.4.0, skipped for a `disableCheck` list, an error without a cached result.
pub fn check(network: &Network, rt: &Runtime) -> Result<Outcome, ChainError> {
    if network.version < Version::V0_4_0 {
        return Err(ChainError::Unsupported {
            command: "CHECK".into(),
            version: network.version.to_string(),
            needs: Version::V0_4_0.to_string(),
        });
    }
    if network.list.disable_check {
        return Ok(Outcome::Skipped(format!(
            "network {:?} sets disableCheck: true",
            network.list.name
        )));
    }
    let path = rt.cache_path(network);
    let prev = cached_result(network, rt)?.ok_or_else(|| ChainError::Cache {
        path: path.clone(),
        reason: "no cached result for this attachment (run ADD first)".into(),
    })?;
    let inv = rt.invocation("CHECK");
    for index in 0..network.list.plugins.len() {
        call(network, index, &inv, rt, Some(&prev), None)?;
    }
    Ok(Outcome::Done(None))
}

fn needs_1_1(network: &Network, command: &str) -> Option<Outcome> {
    (network.version < Version::V1_1_0).then(|| {
        Outcome::Skipped(format!(
            "network {:?} uses cniVersion {}; {command} needs 1.1.0",
            network.list.name, network.version
        ))
    })
}

/// GC: every plugin with `cni.dev/valid-attachments` set to the attachments
/// cached for this network. Skipped before 1.1.0 and for a `disableGC`
/// list; keeps going after a failure.
pub fn gc(network: &Network, rt: &Runtime) -> Result<(Outcome, Vec<Attachment>), ChainError> {
    if let Some(skip) = needs_1_1(network, "GC") {
        return Ok((skip, Vec::new()));
    }
    if network.list.disable_gc {
        let why = format!("network {:?} sets disableGC: true", network.list.name);
        return Ok((Outcome::Skipped(why), Vec::new()));
    }
    let valid = cache::attachments(&rt.cache_dir, &network.list.name)?;
    let valid_json = serde_json::to_value(&valid).unwrap_or(Value::Array(Vec::new()));
    let inv = Invocation { command: "GC", ..Invocation::default() };
    let mut errors = Vec::new();
    for index in 0..network.list.plugins.len() {
        let extra = Some(("cni.dev/valid-attachments", valid_json.clone()));
        if let Err(e) = call(network, index, &inv, rt, None, extra) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(ChainError::several(errors));
    }
    Ok((Outcome::Done(None), valid))
}

/// STATUS: every plugin in order, stopping at the first failure. Skipped
/// before 1.1.0.
pub fn status(network: &Network, rt: &Runtime) -> Result<Outcome, ChainError> {
    if let Some(skip) = needs_1_1(network, "STATUS") {
        return Ok(skip);
    }
    let inv = Invocation { command: "STATUS", ..Invocation::default() };
    for index in 0..network.list.plugins.len() {
        call(network, index, &inv, rt, None, None)?;
    }
    Ok(Outcome::Done(None))
}
