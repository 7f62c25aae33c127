//! Replay of the `spiderpool` IPAM plugin's release journal (one
//! `IpamDelArgs` JSON line per DEL the agent could not take): each line is
//! released as `DELETE /v1/ipam/ip` would; lines that fail stay, the file is
//! rewritten atomically (temp file, fsync, rename).

use std::io::Write;
use std::path::Path;

use super::models::IpamDelArgs;
use super::{Agent, AgentStore};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Lines released.
    pub released: usize,
    /// Lines kept for the next start (the release failed).
    pub kept: usize,
    /// Lines dropped because they do not decode or lack `podNamespace` /
    /// `podName` (with the line number and the reason): the agent would refuse
    /// them every time.
    pub invalid: Vec<String>,
}

/// Replays the journal at `path` against `agent`. A missing file is an empty
/// journal. When every line is released the file is removed; otherwise the
/// failed lines are written back atomically.
pub async fn replay_release_journal<S: AgentStore>(
    agent: &Agent<S>,
    path: &Path,
) -> std::io::Result<ReplayOutcome> {
    let named = |e: std::io::Error, what: &str| {
        std::io::Error::new(e.kind(), format!("release journal {}: {what}: {e}", path.display()))
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReplayOutcome::default()),
        Err(e) => return Err(named(e, "read")),
    };
    let mut outcome = ReplayOutcome::default();
    let mut keep = String::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let args: IpamDelArgs = match serde_json::from_str(line) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(journal = %path.display(), line = n + 1, error = %e, "release journal: undecodable line dropped");
                outcome.invalid.push(format!("line {}: {e}", n + 1));
                continue;
            }
        };
        if let Err(e) = super::models::require_non_empty(
            "IpamDelArgs",
            &[("podNamespace", &args.pod_namespace), ("podName", &args.pod_name)],
        ) {
            tracing::warn!(journal = %path.display(), line = n + 1, error = %e.text(), "release journal: invalid line dropped");
            outcome.invalid.push(format!("line {}: {}", n + 1, e.text()));
            continue;
        }
        let result = super::ipam::release(
            agent,
            &args.pod_namespace,
            &args.pod_name,
            &args.pod_uid,
            &args.container_id,
            true,
        )
        .await;
        match result {
            Ok(_) => {
                tracing::info!(pod = %format!("{}/{}", args.pod_namespace, args.pod_name), container_id = %args.container_id, "release journal: replayed");
                outcome.released += 1;
            }
            Err(e) => {
                tracing::warn!(pod = %format!("{}/{}", args.pod_namespace, args.pod_name), error = %e.text(), "release journal: release failed, kept");
                outcome.kept += 1;
                keep.push_str(line);
                keep.push('\n');
            }
        }
    }
    if keep.is_empty() {
        std::fs::remove_file(path).map_err(|e| named(e, "remove"))?;
    } else {
        let tmp = path.with_extension("jsonl.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| named(e, "create temp file"))?;
        f.write_all(keep.as_bytes()).map_err(|e| named(e, "write temp file"))?;
        f.sync_all().map_err(|e| named(e, "fsync temp file"))?;
        std::fs::rename(&tmp, path).map_err(|e| named(e, "rename"))?;
    }
    Ok(outcome)
}
