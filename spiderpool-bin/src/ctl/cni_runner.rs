//! `spiderpoolctl cni`: runs a network configuration or configuration list
//! the way a container runtime does with libcni, so that tests and users can
//! attach containers without Multus or cnitool.
//!
//! - ADD calls the plugins in order; each gets the list's `name` and
//!   `cniVersion` injected and the previous plugin's result as `prevResult`
//!   (libcni's `buildOneConfig`). The final result is printed and cached.
//! - DEL calls them in reverse order with the cached result as `prevResult`
//!   (0.4.0 and later), keeps going after a failure, and removes the cache
//!   entry once every plugin succeeded. Without a cached result it still runs.
//! - CHECK (0.4.0 and later) calls them in order with the cached result.
//! - GC and STATUS (1.1.0): GC passes `cni.dev/valid-attachments`, the
//!   attachments cached for this network.
//!
//! The configuration file may be a single network configuration, a
//! configuration list, or a NetworkAttachmentDefinition (YAML or JSON) whose
//! `spec.config` holds either.
//!
//! Exit codes: 0 on success; [`EXIT_PLUGIN_FAILED`] (1) when a plugin failed,
//! could not be found or run, or printed something that is not a result (the
//! plugin's error JSON is printed on stdout, and a line naming the plugin and
//! the code on stderr); 2 ([`EXIT_BAD_INPUT`](super::EXIT_BAD_INPUT)) for a
//! configuration or flag that is wrong.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::Value;
use spiderpool_core::cni::{CniArgs, ConfList, ErrorReply, NetConf, SUPPORTED_VERSIONS, Version};

use super::CtlError;
use super::input;

pub mod cache;
pub mod chain;
pub mod exec;

pub use chain::{Outcome, Runtime};
pub use exec::PluginRef;

/// Exit code when a plugin failed (or could not be run).
pub const EXIT_PLUGIN_FAILED: u8 = 1;
/// Where plugins are looked for without `--cni-path` and `CNI_PATH`.
pub const DEFAULT_CNI_PATH: &str = "/opt/cni/bin:/usr/lib/cni";
/// The default result cache directory.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/cni/spiderpoolctl";

/// The CNI operation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChainCommand {
    /// Attach: every plugin in order.
    Add,
    /// Detach: every plugin in reverse order.
    Del,
    /// Verify the attachment against the cached result.
    Check,
    /// Garbage-collect everything but the cached attachments (1.1.0).
    Gc,
    /// Ask every plugin whether it can serve ADD (1.1.0).
    Status,
}

impl ChainCommand {
    /// The `CNI_COMMAND` text.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainCommand::Add => "ADD",
            ChainCommand::Del => "DEL",
            ChainCommand::Check => "CHECK",
            ChainCommand::Gc => "GC",
            ChainCommand::Status => "STATUS",
        }
    }
}

/// Arguments of `spiderpoolctl cni`.
#[derive(Debug, Args)]
pub struct CniRunArgs {
    /// The operation.
    #[arg(value_enum)]
    pub command: ChainCommand,
    /// Network configuration, configuration list, or NetworkAttachmentDefinition
    /// (YAML or JSON; its spec.config is used); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub conf: PathBuf,
    /// The container's network namespace path (`CNI_NETNS`; ADD and CHECK).
    #[arg(long, value_name = "PATH")]
    pub netns: Option<String>,
    /// The interface name in the container (`CNI_IFNAME`; ADD, DEL, CHECK).
    #[arg(long, value_name = "IF")]
    pub ifname: Option<String>,
    /// The container ID (`CNI_CONTAINERID`; ADD, DEL, CHECK).
    #[arg(long = "container-id", value_name = "ID")]
    pub container_id: Option<String>,
    /// `CNI_ARGS`: `K=V` pairs separated by `;`.
    #[arg(long, value_name = "K=V;...", default_value = "")]
    pub args: String,
    /// Plugin directories, `:`-separated (default: `CNI_PATH`, else
    /// /opt/cni/bin:/usr/lib/cni).
    #[arg(long = "cni-path", value_name = "DIRS")]
    pub cni_path: Option<String>,
    /// Result cache directory.
    #[arg(long = "cache-dir", value_name = "DIR", default_value = DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
    /// Capability arguments as a JSON object (e.g. `{"mac":"0a:1b:..."}`):
    /// each plugin declaring a capability in `capabilities` gets its value in
    /// `runtimeConfig`.
    #[arg(long = "capability-args", value_name = "JSON")]
    pub capability_args: Option<String>,
    /// Kill a plugin that runs longer than this many seconds and fail
    /// (default: no limit).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

/// A failure while running the chain (exit code [`EXIT_PLUGIN_FAILED`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The plugin binary is not in any directory of the CNI path.
    #[error("{plugin}: not found in CNI path {path:?}: {reason}")]
    PluginNotFound {
        /// The plugin.
        plugin: PluginRef,
        /// The searched path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The plugin could not be started or waited for.
    #[error("{plugin}: cannot run {}: {reason}", binary.display())]
    Exec {
        /// The plugin.
        plugin: PluginRef,
        /// Its binary.
        binary: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The plugin exited non-zero with this error reply.
    #[error("{plugin} {command} failed with code {}: {}{}{}", reply.code.as_u32(), reply.msg,
        if reply.details.is_empty() { String::new() } else { format!(" ({})", reply.details) },
        if stderr.is_empty() { String::new() } else { format!("; stderr: {stderr}") })]
    PluginFailed {
        /// The plugin.
        plugin: PluginRef,
        /// `CNI_COMMAND`.
        command: String,
        /// Its error JSON.
        reply: Box<ErrorReply>,
        /// Its stderr, trimmed.
        stderr: String,
    },
    /// The plugin succeeded but its output is not a usable result.
    #[error("{plugin} {command}: {reason}")]
    PluginOutput {
        /// The plugin.
        plugin: PluginRef,
        /// `CNI_COMMAND`.
        command: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin ran longer than `--timeout` and was killed.
    #[error("{plugin} {command}: killed after {limit:?} (--timeout)")]
    Timeout {
        /// The plugin.
        plugin: PluginRef,
        /// `CNI_COMMAND`.
        command: String,
        /// The limit.
        limit: std::time::Duration,
    },
    /// The result cache cannot be read or written.
    #[error("result cache {}: {reason}", path.display())]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The network's version does not have this command.
    #[error("cniVersion {version} does not support {command} (needs {needs} or later)")]
    Unsupported {
        /// The command.
        command: String,
        /// The network's version.
        version: String,
        /// The first version with the command.
        needs: String,
    },
    /// Several plugins failed (DEL and GC keep going).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<ChainError>),
}

impl ChainError {
    /// One error as itself, several as [`ChainError::Several`].
    pub fn several(mut errors: Vec<ChainError>) -> ChainError {
        if errors.len() == 1
            && let Some(e) = errors.pop()
        {
            return e;
        }
        ChainError::Several(errors)
    }

    /// The first plugin error reply, if any (printed on stdout).
    pub fn reply(&self) -> Option<&ErrorReply> {
        match self {
            ChainError::PluginFailed { reply, .. } => Some(reply),
            ChainError::Several(all) => all.iter().find_map(ChainError::reply),
            _ => None,
        }
    }
}

/// A loaded network: the list (a single configuration becomes a list of
/// one), the version the runner uses, and the configuration text.
#[derive(Debug, Clone)]
pub struct Network {
    /// The list.
    pub list: ConfList,
    /// The negotiated version (highest of `cniVersion`/`cniVersions` we support).
    pub version: Version,
    /// The configuration JSON as read (after taking a NAD's `spec.config`).
    pub config_bytes: String,
}

impl Network {
    /// Parses a configuration file's text. `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<Network, CtlError> {
        let parse_err =
            |message: String| CtlError::Parse { source_name: source.to_owned(), message };
        let docs = input::parse_documents(source, text)?;
        let doc = match docs.as_slice() {
            [one] => &one.value,
            [] => return Err(parse_err("no network configuration in the file".into())),
            _ => {
                return Err(parse_err(format!(
                    "{} documents; expected one network configuration",
                    docs.len()
                )));
            }
        };
        let config_bytes = if doc.get("kind").and_then(Value::as_str)
            == Some(spiderpool_core::multus::NAD_KIND)
        {
            match doc.get("spec").and_then(|s| s.get("config")) {
                Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
                other => {
                    return Err(parse_err(format!(
                        "NetworkAttachmentDefinition spec.config: {} is not a network configuration",
                        other.map_or_else(|| "missing".to_owned(), Value::to_string)
                    )));
                }
            }
        } else if text.trim_start().starts_with('{') {
            // A JSON file: pass its bytes on as written (key order included).
            text.to_owned()
        } else {
            doc.to_string()
        };
        let value: Value = serde_json::from_str(&config_bytes)
            .map_err(|e| parse_err(format!("network configuration: invalid JSON: {e}")))?;
        let list = if value.get("plugins").is_some() {
            ConfList::from_slice(config_bytes.as_bytes()).map_err(|e| parse_err(e.to_string()))?
        } else {
            let conf = NetConf::from_slice(config_bytes.as_bytes())
                .map_err(|e| parse_err(e.to_string()))?;
            let Value::Object(obj) = value else {
                return Err(parse_err("network configuration: not a JSON object".into()));
            };
            let list = ConfList {
                cni_version: conf.cni_version,
                name: conf.name,
                plugins: vec![obj],
                ..ConfList::default()
            };
            // The same checks as a list (a plugin needs a type).
            let bytes = serde_json::to_vec(&list).unwrap_or_default();
            ConfList::from_slice(&bytes).map_err(|e| parse_err(e.to_string()))?
        };
        let version =
            list.negotiated_version(&SUPPORTED_VERSIONS).map_err(|e| parse_err(e.to_string()))?;
        Ok(Network { list, version, config_bytes })
    }
}

/// Checks the flags for `args.command` and builds the runtime.
pub fn runtime(args: &CniRunArgs) -> Result<Runtime, CtlError> {
    let per_attachment =
        matches!(args.command, ChainCommand::Add | ChainCommand::Del | ChainCommand::Check);
    let op = args.command.as_str();
    let required = |flag: &str, v: &Option<String>| -> Result<String, CtlError> {
        match v {
            Some(v) => Ok(v.clone()),
            None if per_attachment => Err(CtlError::Usage(format!("cni {op}: {flag} is required"))),
            None => Ok(String::new()),
        }
    };
    let container_id = required("--container-id", &args.container_id)?;
    let ifname = required("--ifname", &args.ifname)?;
    let netns = match args.command {
        ChainCommand::Add | ChainCommand::Check => required("--netns", &args.netns)?,
        _ => args.netns.clone().unwrap_or_default(),
    };
    if per_attachment {
        spiderpool_core::name::container_id(&container_id)
            .map_err(|why| CtlError::Usage(format!("--container-id {container_id:?}: {why}")))?;
        spiderpool_core::name::interface_name(&ifname)
            .map_err(|why| CtlError::Usage(format!("--ifname {ifname:?}: {why}")))?;
    }
    CniArgs::parse(&args.args).map_err(|e| CtlError::Usage(format!("--args: {e}")))?;
    let path_text = args
        .cni_path
        .clone()
        .or_else(|| std::env::var("CNI_PATH").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| DEFAULT_CNI_PATH.to_owned());
    let cni_path: Vec<PathBuf> =
        path_text.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect();
    if cni_path.is_empty() {
        return Err(CtlError::Usage(format!("--cni-path {path_text:?}: no directory")));
    }
    let capability_args = match &args.capability_args {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(CtlError::Usage(format!(
                    "--capability-args {other}: expected a JSON object"
                )));
            }
            Err(e) => {
                return Err(CtlError::Usage(format!(
                    "--capability-args {text:?}: invalid JSON: {e}"
                )));
            }
        },
    };
    let timeout = match args.timeout {
        None => None,
        Some(secs) => Some(
            std::time::Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero()).ok_or_else(
                || {
                    CtlError::Usage(format!(
                        "--timeout {secs}: must be a positive number of seconds"
                    ))
                },
            )?,
        ),
    };
    Ok(Runtime {
        capability_args,
        timeout,
        container_id,
        netns,
        ifname,
        args: args.args.clone(),
        cni_path,
        cache_dir: args.cache_dir.clone(),
    })
}

/// Runs `spiderpoolctl cni`. Configuration and flag errors are `Err` (exit
/// 2); a plugin failure is reported here and returns [`EXIT_PLUGIN_FAILED`].
pub fn run(
    args: &CniRunArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let rt = runtime(args)?;
    let source = input::source_name(&args.conf);
    let network = Network::parse(&source, &input::read_source(&args.conf, stdin)?)?;
    let outcome = match args.command {
        ChainCommand::Add => chain::add(&network, &rt).map(|r| Outcome::Done(Some(r))),
        ChainCommand::Del => chain::del(&network, &rt),
        ChainCommand::Check => chain::check(&network, &rt),
        ChainCommand::Gc => chain::gc(&network, &rt).map(|(o, _)| o),
        ChainCommand::Status => chain::status(&network, &rt),
    };
    match outcome {
        Ok(Outcome::Done(Some(result))) => {
            let text = serde_json::to_string_pretty(&result).map_err(CtlError::output)?;
            writeln!(stdout, "{text}").map_err(CtlError::output)?;
            Ok(super::EXIT_OK)
        }
        Ok(Outcome::Done(None)) => Ok(super::EXIT_OK),
        Ok(Outcome::Skipped(why)) => {
            writeln!(stderr, "cni {}: nothing to do: {why}", args.command.as_str())
                .map_err(CtlError::output)?;
            Ok(super::EXIT_OK)
        }
        Err(e) => {
            if let Some(reply) = e.reply() {
                let mut reply = reply.clone();
                if reply.cni_version.is_empty() {
                    reply.cni_version = network.version.to_string();
                }
                let text = serde_json::to_string(&reply).map_err(CtlError::output)?;
                writeln!(stdout, "{text}").map_err(CtlError::output)?;
            }
            writeln!(
                stderr,
                "error: cni {} of network {:?}: {e}",
                args.command.as_str(),
                network.list.name
            )
            .map_err(CtlError::output)?;
            Ok(EXIT_PLUGIN_FAILED)
        }
    }
}
