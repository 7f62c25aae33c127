//! Replay of the `spiderpool` IPAM plugin's release journal (one
//! `IpamDelArgs` JSON line per DEL the agent could not take): each line is
//! released as `DELETE /v1/ipam/ip` would.
//!
//! The agent replays at start-up and then periodically. A replay first moves
//! the journal's lines into a staging file next to it (`PATH.replaying`,
//! fsynced) with [`crate::journal::stage_new_lines`], which takes the
//! journal's exclusive lock that the plugin also takes to append
//! ([`crate::journal::append`]) only for a rename, so a line is never lost
//! between the read and the removal. Then it releases the staged lines;
//! lines that fail stay staged (rewritten atomically: temp file, fsync,
//! rename) and are retried by the next replay. A crash in between repeats
//! releases, which are idempotent.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use spiderpool_core::agent_api::IpamDelArgs;
use spiderpool_core::allocator::ReleaseTrigger;

use super::{Agent, AgentBackend};
use crate::journal::{stage_new_lines, staging_path};

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

/// Replays the journal at `path` against `agent`: the staged lines of an
/// earlier replay, then the journal's new lines. A missing file is an empty
/// journal. When every line is released nothing is left on disk.
pub async fn replay_release_journal<S: AgentBackend>(
    agent: &Agent<S>,
    path: &Path,
) -> std::io::Result<ReplayOutcome> {
    let staging = staging_path(path);
    let named = |e: std::io::Error, what: &str| {
        std::io::Error::new(e.kind(), format!("release journal {}: {what}: {e}", path.display()))
    };
    {
        let (path, staging) = (path.to_path_buf(), staging.clone());
        tokio::task::spawn_blocking(move || stage_new_lines(&path, &staging))
            .await
            .map_err(|e| std::io::Error::other(format!("release journal: staging task: {e}")))??;
    }
    let text = match std::fs::read_to_string(&staging) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReplayOutcome::default()),
        Err(e) => return Err(named(e, "read staged lines")),
    };
    let mut outcome = ReplayOutcome::default();
    let mut keep = String::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let args = match IpamDelArgs::from_journal_line(line) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(journal = %path.display(), line = n + 1, error = %e, "release journal: undecodable line dropped");
                outcome.invalid.push(format!("line {}: {e}", n + 1));
                continue;
            }
        };
        if let Err(e) = super::ipam::check_del_args(&args) {
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
            args.network.as_deref(),
            ReleaseTrigger::CniDel,
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
        std::fs::remove_file(&staging).map_err(|e| named(e, "remove staged lines"))?;
    } else {
        let mut tmp = staging.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)
        }
        .map_err(|e| named(e, "create temp file"))?;
        // A temp file left by an older agent keeps its mode through `open`.
        crate::file_mode::restrict(&tmp, 0o600).map_err(|e| named(e, "chmod temp file"))?;
        f.write_all(keep.as_bytes()).map_err(|e| named(e, "write temp file"))?;
        f.sync_all().map_err(|e| named(e, "fsync temp file"))?;
        std::fs::rename(&tmp, &staging).map_err(|e| named(e, "rename"))?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A journal line is checked as a DEL body is: a bad identifier drops it
    /// with the field named.
    #[test]
    fn journal_lines_with_bad_identifiers_are_dropped_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = serde_json::json!({"containerID": "c1", "ifName": "net1",
            "podNamespace": "default", "podName": "../../x y", "podUID": "u1"});
        std::fs::write(&path, format!("{line}\n")).unwrap();
        let agent = Agent::new(
            spiderpool_core::store::MemoryStore::new(),
            crate::agent::AgentConfig::default(),
        );
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = rt.block_on(replay_release_journal(&agent, &path)).unwrap();
        assert_eq!(outcome.invalid.len(), 1, "{outcome:?}");
        assert!(outcome.invalid[0].contains("field podName"), "{outcome:?}");
    }
}
