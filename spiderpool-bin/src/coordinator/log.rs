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
        if let Some(mut f) = self.file.as_ref() {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let _ = writeln!(f, "{t:.3} coordinator {} {msg}", self.prefix);
        }
    }
}
