//! The plugin's log: lines appended to a file, never stdout (stdout carries the
//! CNI result). A log that cannot be opened is silently dropped: logging never
//! fails a CNI command.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cni::CniRequest;

/// Default log file.
pub const DEFAULT_LOG_FILE: &str = "/var/log/spidernet/coordinator.log";

/// An append-only log file (or nothing).
#[derive(Debug)]
pub struct Log {
    file: Option<File>,
    prefix: String,
}

impl Log {
    /// Opens the log named by `logOptions.logFile` in the request's netconf
    /// (default [`DEFAULT_LOG_FILE`]).
    pub fn for_request(req: &CniRequest) -> Log {
        let path = serde_json::from_slice::<serde_json::Value>(&req.raw_config)
            .ok()
            .and_then(|v| {
                v.pointer("/logOptions/logFile").and_then(|f| f.as_str()).map(str::to_owned)
            })
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_LOG_FILE.to_owned());
        let file = Path::new(&path)
            .parent()
            .map(std::fs::create_dir_all)
            .and_then(|r| r.ok())
            .and_then(|_| OpenOptions::new().create(true).append(true).open(&path).ok());
        let pod = format!(
            "{}/{}",
            req.args.pod_namespace.as_deref().unwrap_or("-"),
            req.args.pod_name.as_deref().unwrap_or("-")
        );
        Log { file, prefix: pod }
    }

    /// Appends one line (Unix time, pod, message).
    pub fn line(&self, msg: &str) {
        self.lines([msg]);
    }

    /// Appends several lines, each with the time and pod, in one `write`: the
    /// file is opened with `O_APPEND`, so lines of plugins running at the same
    /// time never interleave within a line, and a plan costs one system call
    /// instead of one per formatted piece.
    pub fn lines<S: AsRef<str>>(&self, msgs: impl IntoIterator<Item = S>) {
        let Some(mut f) = self.file.as_ref() else { return };
        let t =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let mut text = String::new();
        for msg in msgs {
            text.push_str(&format!("{t:.3} coordinator {} {}\n", self.prefix, msg.as_ref()));
        }
        let _ = f.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_each_with_time_and_pod() {
        let path = std::env::temp_dir().join(format!("sp-log-test-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let open = || OpenOptions::new().create(true).append(true).open(&path).ok();
        let log = Log { file: open(), prefix: "default/pod-a".into() };
        log.line("first");
        log.lines(["ADD x net1: 2 ops", "  ip rule add from 10.6.0.5 lookup 101"]);
        // A second handle appends after the first, never over it.
        Log { file: open(), prefix: "default/pod-b".into() }.line("other pod");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let tails: Vec<&str> =
            lines.iter().map(|l| l.split_once(' ').map(|(_, rest)| rest).unwrap_or("")).collect();
        assert_eq!(
            tails,
            [
                "coordinator default/pod-a first",
                "coordinator default/pod-a ADD x net1: 2 ops",
                "coordinator default/pod-a   ip rule add from 10.6.0.5 lookup 101",
                "coordinator default/pod-b other pod",
            ]
        );
        assert!(
            lines.iter().all(|l| l.split(' ').next().is_some_and(|t| t.parse::<f64>().is_ok()))
        );
    }
}
