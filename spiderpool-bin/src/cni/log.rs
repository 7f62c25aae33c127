//! The plugins' log: lines appended to a file, never stdout (stdout carries
//! the CNI result), each `TIME PLUGIN PREFIX MESSAGE` with the Unix time in
//! seconds (milliseconds after the point). A log that cannot be opened is
//! dropped silently: logging never fails a CNI command.
//!
//! Where each plugin logs is its netconf's business: the `spiderpool` IPAM
//! plugin reads Spiderpool's `log_file_path` in `ipam` (default
//! [`IPAM_LOG_FILE`]), the coordinator `logOptions.logFile` (default
//! [`COORDINATOR_LOG_FILE`]); both accept Spiderpool's level, size, age and
//! count keys and log every command, without rotation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::CniRequest;

/// Default log file of the `spiderpool` IPAM plugin (`log_file_path`).
pub const IPAM_LOG_FILE: &str = "/var/log/spidernet/spiderpool.log";

/// Default log file of the coordinator plugin (`logOptions.logFile`).
pub const COORDINATOR_LOG_FILE: &str = "/var/log/spidernet/coordinator.log";

/// An append-only log file (or nothing, when it cannot be opened).
#[derive(Debug)]
pub struct PluginLog {
    file: Option<File>,
    path: PathBuf,
    plugin: &'static str,
    prefix: String,
}

impl PluginLog {
    /// Opens `path` for `plugin` (the word after the time), creating its
    /// directory when missing; each line carries `prefix`.
    pub fn open(plugin: &'static str, path: &Path, prefix: String) -> PluginLog {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        Self::open_in_place(plugin, path, prefix)
    }

    /// As [`PluginLog::open`], but a missing directory is not created (for
    /// a detached helper process, which may outlive whoever made it).
    pub fn open_in_place(plugin: &'static str, path: &Path, prefix: String) -> PluginLog {
        let file = OpenOptions::new().create(true).append(true).open(path).ok();
        PluginLog { file, path: path.to_path_buf(), plugin, prefix }
    }

    /// `COMMAND NS/NAME CONTAINERID IFNAME` of a request, `-` for what it
    /// lacks: the prefix of the IPAM plugin's lines.
    pub fn command_prefix(req: &CniRequest) -> String {
        format!(
            "{} {} {} {}",
            req.command.as_str(),
            Self::pod_prefix(req),
            if req.container_id.is_empty() { "-" } else { &req.container_id },
            if req.ifname.is_empty() { "-" } else { &req.ifname },
        )
    }

    /// `NS/NAME` of a request's pod, `-` for what it lacks: the prefix of
    /// the coordinator's lines.
    pub fn pod_prefix(req: &CniRequest) -> String {
        format!(
            "{}/{}",
            req.args.pod_namespace.as_deref().unwrap_or("-"),
            req.args.pod_name.as_deref().unwrap_or("-")
        )
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The prefix of every line.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Appends one line.
    pub fn line(&self, msg: &str) {
        self.lines([msg]);
    }

    /// Appends several lines, each with the time, plugin and prefix, in one
    /// `write`: the file is opened with `O_APPEND`, so lines of plugins
    /// running at the same time never interleave within a line, and a plan
    /// costs one system call instead of one per line.
    pub fn lines<S: AsRef<str>>(&self, msgs: impl IntoIterator<Item = S>) {
        let Some(mut f) = self.file.as_ref() else { return };
        let t =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let mut text = String::new();
        for msg in msgs {
            text.push_str(&format!("{t:.3} {} {} {}\n", self.plugin, self.prefix, msg.as_ref()));
        }
        let _ = f.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lines_are_appended_each_with_time_plugin_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/plugin.log");
        let log = PluginLog::open("coordinator", &path, "default/pod-a".into());
        log.line("first");
        log.lines(["ADD x net1: 2 ops", "  ip rule add from 10.6.0.5 lookup 101"]);
        // A second handle appends after the first, never over it.
        PluginLog::open("spiderpool", &path, "DEL default/pod-b c1 net1".into()).line("released");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let tails: Vec<&str> =
            lines.iter().map(|l| l.split_once(' ').map(|(_, rest)| rest).unwrap_or("")).collect();
        assert_eq!(
            tails,
            [
                "coordinator default/pod-a first",
                "coordinator default/pod-a ADD x net1: 2 ops",
                "coordinator default/pod-a   ip rule add from 10.6.0.5 lookup 101",
                "spiderpool DEL default/pod-b c1 net1 released",
            ]
        );
        assert!(
            lines.iter().all(|l| l.split(' ').next().is_some_and(|t| t.parse::<f64>().is_ok()))
        );
    }

    #[test]
    fn a_log_that_cannot_be_opened_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let log = PluginLog::open_in_place(
            "spiderpool",
            &dir.path().join("no/such/dir/x.log"),
            "-".into(),
        );
        log.line("nowhere");
        assert!(!dir.path().join("no").exists());
    }
}
