//! Finding a plugin binary in the CNI path and executing it the way libcni's
//! `invoke` package does: the runtime's environment plus the `CNI_*`
//! variables, the configuration on stdin, the result or error JSON on stdout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use spiderpool_core::cni::ErrorReply;

use super::ChainError;

/// The `CNI_*` environment of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation<'a> {
    /// `CNI_COMMAND`.
    pub command: &'a str,
    /// `CNI_CONTAINERID` (unset when `None`).
    pub container_id: Option<&'a str>,
    /// `CNI_NETNS` (unset when `None`).
    pub netns: Option<&'a str>,
    /// `CNI_IFNAME` (unset when `None`).
    pub ifname: Option<&'a str>,
    /// `CNI_ARGS` (unset when `None`).
    pub args: Option<&'a str>,
}

/// Which plugin of the list, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    /// Its `type`.
    pub plugin_type: String,
    /// Its index in `plugins`.
    pub index: usize,
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin {:?} (plugins[{}])", self.plugin_type, self.index)
    }
}

/// The first `dir/<plugin_type>` that is a file, searching `cni_path` in order.
pub fn find_plugin(plugin: &PluginRef, cni_path: &[PathBuf]) -> Result<PathBuf, ChainError> {
    let t = &plugin.plugin_type;
    if t.is_empty() || t.contains('/') || t == "." || t == ".." {
        return Err(ChainError::PluginNotFound {
            plugin: plugin.clone(),
            path: join_path(cni_path),
            reason: "type must be a plain file name".into(),
        });
    }
    cni_path.iter().map(|dir| dir.join(t)).find(|p| p.is_file()).ok_or_else(|| {
        ChainError::PluginNotFound {
            plugin: plugin.clone(),
            path: join_path(cni_path),
            reason: "no such file in any directory".into(),
        }
    })
}

/// `CNI_PATH` text for a list of directories.
pub fn join_path(cni_path: &[PathBuf]) -> String {
    cni_path.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")
}

/// Runs `binary` with `inv` and `config` on stdin, killing it after
/// `timeout` ([`ChainError::Timeout`]). Returns the parsed stdout
/// JSON on success (`Value::Null` for empty output); a non-zero exit is
/// [`ChainError::PluginFailed`] carrying the plugin's error JSON (or one
/// made from its stderr when it printed none).
pub fn exec(
    binary: &Path,
    plugin: &PluginRef,
    inv: &Invocation<'_>,
    cni_path: &[PathBuf],
    config: &Value,
    timeout: Option<Duration>,
) -> Result<Value, ChainError> {
    let exec_err = |reason: String| ChainError::Exec {
        plugin: plugin.clone(),
        binary: binary.to_path_buf(),
        reason,
    };
    let mut cmd = Command::new(binary);
    for var in ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"] {
        cmd.env_remove(var);
    }
    cmd.env("CNI_COMMAND", inv.command).env("CNI_PATH", join_path(cni_path));
    for (var, value) in [
        ("CNI_CONTAINERID", inv.container_id),
        ("CNI_NETNS", inv.netns),
        ("CNI_IFNAME", inv.ifname),
        ("CNI_ARGS", inv.args),
    ] {
        if let Some(v) = value {
            cmd.env(var, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| exec_err(e.to_string()))?;
    let bytes = config.to_string().into_bytes();
    let writer = child.stdin.take().map(|mut stdin| {
        // A separate thread, so a plugin that answers before reading all of
        // its stdin cannot deadlock us.
        std::thread::spawn(move || stdin.write_all(&bytes))
    });
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        pipe.map(|mut p| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = p.read_to_end(&mut buf);
                buf
            })
        })
    };
    let out_reader = read_all(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err_reader = read_all(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let exit = match timeout {
        None => child.wait().map_err(|e| exec_err(e.to_string()))?,
        Some(limit) => {
            let start = Instant::now();
            let mut pause = Duration::from_millis(1);
            loop {
                if let Some(status) = child.try_wait().map_err(|e| exec_err(e.to_string()))? {
                    break status;
                }
                if start.elapsed() >= limit {
                    // The readers are left behind: a grandchild may still hold
                    // the pipes open.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ChainError::Timeout {
                        plugin: plugin.clone(),
                        command: inv.command.to_owned(),
                        limit,
                    });
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    };
    let joined = |r: Option<std::thread::JoinHandle<Vec<u8>>>| {
        r.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let (out_bytes, err_bytes) = (joined(out_reader), joined(err_reader));
    if let Some(w) = writer {
        // A plugin may exit without reading stdin (broken pipe): not an error
        // in itself, its exit status says what happened.
        let _ = w.join();
    }
    let stdout = String::from_utf8_lossy(&out_bytes);
    let stderr = String::from_utf8_lossy(&err_bytes);
    if !exit.success() {
        let status = exit.code().map_or_else(|| "a signal".into(), |c| c.to_string());
        let reply = serde_json::from_str::<ErrorReply>(stdout.trim()).unwrap_or_else(|_| {
            ErrorReply {
                cni_version: String::new(),
                // libcni reports a plugin that printed no error JSON with code 999.
                code: 999.into(),
                msg: format!("exited with {status} without an error reply"),
                details: format!("stdout: {:?}; stderr: {:?}", stdout.trim(), stderr.trim()),
            }
        });
        return Err(ChainError::PluginFailed {
            plugin: plugin.clone(),
            command: inv.command.to_owned(),
            reply: Box::new(reply),
            stderr: stderr.trim().to_owned(),
        });
    }
    if stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(stdout.trim()).map_err(|e| ChainError::PluginOutput {
        plugin: plugin.clone(),
        command: inv.command.to_owned(),
        reason: format!("stdout is not JSON ({e}): {:?}", stdout.trim()),
    })
}
