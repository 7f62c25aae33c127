//! [`run`]: environment and stdin in, result or error JSON out, exit code back.

use std::io::{Read, Write};
use std::path::PathBuf;

use spiderpool_core::cni::{
    CURRENT_VERSION, CniArgs, CniError, ErrorReply, NetConf, Version, VersionInfo,
};

use super::{CniRequest, Command, Plugin};

/// `CNI_COMMAND`.
const CNI_COMMAND: &str = "CNI_COMMAND";
/// `CNI_CONTAINERID`.
const CNI_CONTAINERID: &str = "CNI_CONTAINERID";
/// `CNI_NETNS`.
const CNI_NETNS: &str = "CNI_NETNS";
/// `CNI_IFNAME`.
const CNI_IFNAME: &str = "CNI_IFNAME";
/// `CNI_PATH`.
const CNI_PATH: &str = "CNI_PATH";

/// Runs one CNI command for `plugin` and returns the process exit code (0 on
/// success, 1 after printing the error JSON).
///
/// `env` looks up a variable (an empty value counts as unset, as in libcni);
/// stdin is read only for commands other than VERSION. Steps, each failing
/// with the code in brackets:
///
/// 1. `CNI_COMMAND` set and known \[4\]; VERSION is answered here.
/// 2. The variables the command needs are set \[4\]: `CNI_CONTAINERID` and
///    `CNI_IFNAME` for ADD, DEL and CHECK; `CNI_NETNS` for ADD and CHECK.
///    GC and STATUS need none.
/// 3. stdin is read \[5\] and decoded \[6\]; `name` is valid \[7\].
/// 4. `cniVersion` is one of the plugin's versions \[1\]; CHECK needs ≥ 0.4.0,
///    GC and STATUS need ≥ 1.1.0 \[1\].
/// 5. `CNI_CONTAINERID` and `CNI_IFNAME` are well formed, `CNI_ARGS` parses \[4\].
/// 6. The plugin runs; ADD's result is printed in the config's version.
pub fn run<P: Plugin>(
    plugin: &P,
    env: &impl Fn(&str) -> Option<String>,
    stdin: impl Read,
    mut stdout: impl Write,
) -> i32 {
    let mut reply_version = CURRENT_VERSION.to_string();
    match dispatch(plugin, env, stdin, &mut reply_version) {
        Ok(Some(json)) => match write_json(&mut stdout, &json) {
            Ok(()) => 0,
            Err(_) => 1,
        },
        Ok(None) => 0,
        Err(err) => fail(&err, &reply_version, &mut stdout),
    }
}

/// [`run`] with the process's environment, stdin and stdout. A plugin's
/// `main` is `std::process::exit(run_process(&plugin))`. Variables that are
/// not UTF-8 are passed on lossily (and then fail validation).
pub fn run_process<P: Plugin>(plugin: &P) -> i32 {
    let env = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    run(plugin, &env, std::io::stdin().lock(), std::io::stdout().lock())
}

/// THE error exit: prints the error JSON (code, msg, details from
/// [`ErrorReply::from_error`]) and returns exit code 1.
fn fail(err: &CniError, cni_version: &str, stdout: &mut impl Write) -> i32 {
    let reply = ErrorReply::from_error(err, cni_version);
    match serde_json::to_value(&reply) {
        Ok(json) => {
            // Nothing else can be reported if stdout itself is broken.
            let _ = write_json(stdout, &json);
        }
        Err(_) => {
            let _ =
                writeln!(stdout, "{{\"code\":{},\"msg\":\"internal error\"}}", reply.code.as_u32());
        }
    }
    1
}

fn write_json(out: &mut impl Write, json: &serde_json::Value) -> std::io::Result<()> {
    // One write: stdout is line-buffered, a pretty result would be a dozen.
    let mut text = serde_json::to_vec_pretty(json)?;
    text.push(b'\n');
    out.write_all(&text)?;
    out.flush()
}

fn get(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// Everything but the error printing: `Ok(Some(json))` to print, `Ok(None)`
/// for silent success. Sets `reply_version` once the config's version is known.
/// The steps are [`run`]'s, in its order.
fn dispatch<P: Plugin>(
    plugin: &P,
    env: &impl Fn(&str) -> Option<String>,
    stdin: impl Read,
    reply_version: &mut String,
) -> Result<Option<serde_json::Value>, CniError> {
    let command = command_from_env(env)?;
    if command == Command::Version {
        return version_reply(plugin).map(Some);
    }
    let attachment = AttachmentEnv::read(env);
    attachment.require(command)?;
    let raw_config = read_stdin(stdin)?;
    let config = NetConf::from_slice(&raw_config)?;
    let version = config.version(plugin.supported_versions())?;
    *reply_version = version.to_string();
    check_min_version(command, version, &config.cni_version)?;
    let (container_id, netns, ifname) = attachment.validated(command)?;
    let args = CniArgs::parse(&get(env, spiderpool_core::cni::args::CNI_ARGS).unwrap_or_default())?;
    let req = CniRequest {
        command,
        container_id,
        netns,
        ifname,
        args,
        path: cni_path(env),
        config,
        raw_config,
        version,
    };
    invoke(plugin, &req)
}

/// Step 1: `CNI_COMMAND`, set and known.
fn command_from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Command, CniError> {
    let Some(cmd_text) = get(env, CNI_COMMAND) else {
        return Err(CniError::invalid_env(CNI_COMMAND, None, "required but not set"));
    };
    Command::parse(&cmd_text).ok_or_else(|| {
        CniError::invalid_env(
            CNI_COMMAND,
            Some(&cmd_text),
            "unknown command (ADD, DEL, CHECK, GC, STATUS, VERSION)",
        )
    })
}

/// VERSION's answer: the versions the plugin supports.
fn version_reply<P: Plugin>(plugin: &P) -> Result<serde_json::Value, CniError> {
    serde_json::to_value(VersionInfo::new(plugin.supported_versions()))
        .map_err(|e| CniError::Io { what: "VERSION output".into(), reason: e.to_string() })
}

/// The per-attachment variables, as the runtime set them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct AttachmentEnv {
    /// `CNI_CONTAINERID`.
    container_id: Option<String>,
    /// `CNI_NETNS`.
    netns: Option<String>,
    /// `CNI_IFNAME`.
    ifname: Option<String>,
}

impl AttachmentEnv {
    fn read(env: &impl Fn(&str) -> Option<String>) -> Self {
        Self {
            container_id: get(env, CNI_CONTAINERID),
            netns: get(env, CNI_NETNS),
            ifname: get(env, CNI_IFNAME),
        }
    }

    /// The variables `command` needs that are not set: `CNI_CONTAINERID` and
    /// `CNI_IFNAME` for ADD, DEL and CHECK, `CNI_NETNS` for ADD and CHECK.
    fn missing(&self, command: Command) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if command.is_per_attachment() {
            if self.container_id.is_none() {
                missing.push(CNI_CONTAINERID);
            }
            if self.netns.is_none() && command != Command::Del {
                missing.push(CNI_NETNS);
            }
            if self.ifname.is_none() {
                missing.push(CNI_IFNAME);
            }
        }
        missing
    }

    /// Step 2: one error naming every variable [`missing`](Self::missing).
    fn require(&self, command: Command) -> Result<(), CniError> {
        let missing = self.missing(command);
        if missing.is_empty() {
            return Ok(());
        }
        Err(CniError::invalid_env(
            &missing.join(","),
            None,
            format!("required for {} but not set", command.as_str()),
        ))
    }

    /// Step 5: container ID, netns and interface name of a per-attachment
    /// command, the ID and name well formed; empty for GC and STATUS.
    fn validated(self, command: Command) -> Result<(String, Option<String>, String), CniError> {
        if !command.is_per_attachment() {
            return Ok((String::new(), None, String::new()));
        }
        let id = self.container_id.unwrap_or_default();
        validate_container_id(&id)?;
        let name = self.ifname.unwrap_or_default();
        validate_ifname(&name)?;
        Ok((id, self.netns, name))
    }
}

/// Step 3: stdin, as received.
fn read_stdin(mut stdin: impl Read) -> Result<Vec<u8>, CniError> {
    let mut raw_config = Vec::new();
    stdin
        .read_to_end(&mut raw_config)
        .map_err(|e| CniError::Io { what: "stdin".into(), reason: e.to_string() })?;
    Ok(raw_config)
}

/// The oldest `cniVersion` a command exists in: CHECK 0.4.0, GC and STATUS
/// 1.1.0; the others are in every version.
fn min_version(command: Command) -> Option<Version> {
    match command {
        Command::Check => Some(Version::V0_4_0),
        Command::Gc | Command::Status => Some(Version::V1_1_0),
        _ => None,
    }
}

/// Step 4: the config's version (`version`, written as `cni_version`) is recent
/// enough for `command`.
fn check_min_version(
    command: Command,
    version: Version,
    cni_version: &str,
) -> Result<(), CniError> {
    match min_version(command).filter(|m| version < *m) {
        Some(min) => Err(CniError::IncompatibleVersion {
            field: "cniVersion".into(),
            version: cni_version.to_owned(),
            reason: format!("{} needs cniVersion {min} or later", command.as_str()),
        }),
        None => Ok(()),
    }
}

/// `CNI_PATH` split on `:`, empty items dropped (empty when unset).
fn cni_path(env: &impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    get(env, CNI_PATH)
        .map(|p| p.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect())
        .unwrap_or_default()
}

/// Step 6: the plugin runs; ADD's result is printed in the config's version.
fn invoke<P: Plugin>(plugin: &P, req: &CniRequest) -> Result<Option<serde_json::Value>, CniError> {
    match req.command {
        Command::Add => plugin.add(req).map(|r| Some(r.to_json(req.version))),
        Command::Del => plugin.del(req).map(|()| None),
        Command::Check => plugin.check(req).map(|()| None),
        Command::Gc => plugin.gc(req).map(|()| None),
        Command::Status => plugin.status(req).map(|()| None),
        Command::Version => Ok(None),
    }
}

/// The CNI spec's container ID ([`spiderpool_core::name::container_id`]).
fn validate_container_id(id: &str) -> Result<(), CniError> {
    spiderpool_core::name::container_id(id)
        .map_err(|e| CniError::invalid_env(CNI_CONTAINERID, Some(id), e.to_string()))
}

/// The kernel's interface-name rule ([`spiderpool_core::name::interface_name`]).
fn validate_ifname(name: &str) -> Result<(), CniError> {
    spiderpool_core::name::interface_name(name)
        .map_err(|e| CniError::invalid_env(CNI_IFNAME, Some(name), e.to_string()))
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
