//! Finding a plugin binary in the CNI path and executing it the way libcni's
//! `invoke` package does: the runtime's environment plus the `CNI_*`
//! variables, the configuration on stdin, the result or error JSON on stdout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
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
    let exec_err = |e: std::io::Error| ChainError::Exec {
        plugin: plugin.clone(),
        binary: binary.to_path_buf(),
        reason: e.to_string(),
    };
    let mut child = plugin_command(binary, inv, cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(exec_err)?;
    let writer = feed_stdin(&mut child, config.to_string().into_bytes());
    let out_reader = drain(child.stdout.take());
    let err_reader = drain(child.stderr.take());
    let exit = match wait_within(&mut child, timeout).map_err(exec_err)? {
        Waited::Exited(status) => status,
        Waited::TimedOut(limit) => {
            // The readers are left behind: a grandchild may still hold the
            // pipes open.
            return Err(ChainError::Timeout {
                plugin: plugin.clone(),
                command: inv.command.to_owned(),
                limit,
            });
        }
    };
    let joined = |r: Option<JoinHandle<Vec<u8>>>| r.and_then(|h| h.join().ok()).unwrap_or_default();
    let (out_bytes, err_bytes) = (joined(out_reader), joined(err_reader));
    if let Some(w) = writer {
        // A plugin may exit without reading stdin (broken pipe): not an error
        // in itself, its exit status says what happened.
        let _ = w.join();
    }
    plugin_answer(
        plugin,
        inv.command,
        exit,
        &String::from_utf8_lossy(&out_bytes),
        &String::from_utf8_lossy(&err_bytes),
    )
}

/// The command for one invocation: the runtime's environment without any
/// inherited `CNI_*` variable of the invocation, then `CNI_COMMAND`,
/// `CNI_PATH` and the variables `inv` sets.
fn plugin_command(binary: &Path, inv: &Invocation<'_>, cni_path: &[PathBuf]) -> Command {
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
    cmd
}

/// Writes `bytes` to the child's stdin on a separate thread, so a plugin that
/// answers before reading all of its stdin cannot deadlock us.
fn feed_stdin(child: &mut Child, bytes: Vec<u8>) -> Option<JoinHandle<std::io::Result<()>>> {
    child.stdin.take().map(|mut stdin| std::thread::spawn(move || stdin.write_all(&bytes)))
}

/// Reads a pipe to its end on a separate thread.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            buf
        })
    })
}

/// How waiting for a plugin ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// It exited with this status.
    Exited(ExitStatus),
    /// It was still running after this limit and was killed.
    TimedOut(Duration),
}

/// Waits for the child; with a `timeout`, polls (1 ms doubling up to 20 ms)
/// and kills it when the time is up.
fn wait_within(child: &mut Child, timeout: Option<Duration>) -> std::io::Result<Waited> {
    let Some(limit) = timeout else {
        return child.wait().map(Waited::Exited);
    };
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Waited::Exited(status));
        }
        if start.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Waited::TimedOut(limit));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// What a finished plugin answered, as libcni reads it: on success its stdout
/// JSON (`Value::Null` when empty); on failure its error JSON, or a code-999
/// error made from its output when it printed none.
fn plugin_answer(
    plugin: &PluginRef,
    command: &str,
    exit: ExitStatus,
    stdout: &str,
    stderr: &str,
) -> Result<Value, ChainError> {
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
            command: command.to_owned(),
            reply: Box::new(reply),
            stderr: stderr.trim().to_owned(),
        });
    }
    if stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(stdout.trim()).map_err(|e| ChainError::PluginOutput {
        plugin: plugin.clone(),
        command: command.to_owned(),
        reason: format!("stdout is not JSON ({e}): {:?}", stdout.trim()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ffi::OsStr;
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn plugin() -> PluginRef {
        PluginRef { plugin_type: "macvlan".into(), index: 0 }
    }

    #[test]
    fn plugin_command_sets_only_the_invocations_variables() {
        let inv = Invocation { command: "DEL", ifname: Some("net1"), ..Default::default() };
        let cmd = plugin_command(Path::new("/bin/true"), &inv, &["/a".into(), "/b".into()]);
        let envs: Vec<(&OsStr, Option<&OsStr>)> = cmd.get_envs().collect();
        let get = |k: &str| envs.iter().find(|(n, _)| *n == OsStr::new(k)).map(|(_, v)| *v);
        assert_eq!(get("CNI_COMMAND"), Some(Some(OsStr::new("DEL"))));
        assert_eq!(get("CNI_PATH"), Some(Some(OsStr::new("/a:/b"))));
        assert_eq!(get("CNI_IFNAME"), Some(Some(OsStr::new("net1"))));
        // Unset in the plugin even when the runtime has it.
        assert_eq!(get("CNI_NETNS"), Some(None));
        assert_eq!(get("CNI_CONTAINERID"), Some(None));
    }

    #[test]
    fn plugin_answer_reads_success_and_failure_as_libcni() {
        let ok = ExitStatus::from_raw(0);
        let failed = ExitStatus::from_raw(1 << 8);
        assert_eq!(plugin_answer(&plugin(), "ADD", ok, " \n", "").unwrap(), Value::Null);
        let v = plugin_answer(&plugin(), "ADD", ok, r#"{"cniVersion":"1.0.0"}"#, "").unwrap();
        assert_eq!(v["cniVersion"], "1.0.0");
        let bad = plugin_answer(&plugin(), "ADD", ok, "not json", "").unwrap_err();
        assert!(matches!(bad, ChainError::PluginOutput { .. }), "{bad:?}");
        let reply = r#"{"cniVersion":"1.0.0","code":7,"msg":"bad"}"#;
        match plugin_answer(&plugin(), "DEL", failed, reply, "oops\n").unwrap_err() {
            ChainError::PluginFailed { reply, stderr, command, .. } => {
                assert_eq!((reply.code.as_u32(), reply.msg.as_str()), (7, "bad"));
                assert_eq!((stderr.as_str(), command.as_str()), ("oops", "DEL"));
            }
            other => panic!("{other:?}"),
        }
        match plugin_answer(&plugin(), "DEL", failed, "", "boom").unwrap_err() {
            ChainError::PluginFailed { reply, .. } => {
                assert_eq!(reply.code.as_u32(), 999);
                assert_eq!(reply.msg, "exited with 1 without an error reply");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wait_within_kills_a_plugin_that_overruns() {
        let limit = Duration::from_millis(50);
        let mut slow = Command::new("sleep").arg("10").spawn().unwrap();
        assert_eq!(wait_within(&mut slow, Some(limit)).unwrap(), Waited::TimedOut(limit));
        let mut quick = Command::new("true").spawn().unwrap();
        match wait_within(&mut quick, Some(Duration::from_secs(10))).unwrap() {
            Waited::Exited(status) => assert!(status.success()),
            other => panic!("{other:?}"),
        }
    }
}
