//! Replay of the `spiderpool` IPAM plugin's release journal (one
//! `IpamDelArgs` JSON line per DEL the agent could not take): each line is
//! released as `DELETE /v1/ipam/ip` would.
//!
//! The agent replays at start-up and then periodically. A replay first moves
//! the journal's lines into a staging file next to it (`PATH.replaying`,
//! fsynced): under the journal's exclusive lock, which the plugin also takes
//! to append ([`crate::ipam::journal::append`]), it renames the journal to
//! `PATH.taking`, so a line is never lost between the read and the removal
//! and the lock is held only for a rename. Then it releases the staged lines;
//! lines that fail stay staged (rewritten atomically: temp file, fsync,
//! rename) and are retried by the next replay. A crash in between repeats
//! releases, which are idempotent.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::models::IpamDelArgs;
use spiderpool_core::allocator::ReleaseTrigger;

use super::{Agent, AgentBackend};

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
        let args: IpamDelArgs = match serde_json::from_str(line) {
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

/// Tightens the journal's files (the journal, its staging and temp files)
/// to mode 0600 when an older version left them wider, logging each change:
/// they name pods and their UIDs. The agent calls it at start-up.
pub fn restrict_journal_files(path: &Path) {
    let staging = staging_path(path);
    let mut tmp = staging.clone().into_os_string();
    tmp.push(".tmp");
    for p in [path.to_path_buf(), staging, taking_path(path), PathBuf::from(tmp)] {
        crate::file_mode::restrict_logged(&p, 0o600, "release journal");
    }
}

/// `PATH.replaying`: where a replay keeps the lines it took from the journal.
pub fn staging_path(path: &Path) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(".replaying");
    PathBuf::from(s)
}

/// `PATH.taking`: the journal renamed away by a replay, until its lines are
/// staged.
fn taking_path(path: &Path) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(".taking");
    PathBuf::from(s)
}

/// Moves the journal's lines to the staging file: under the journal's lock
/// it is renamed to `PATH.taking` (so the lock is held for a rename only);
/// then its lines are appended to the staging file (fsynced) and it is
/// removed. A `PATH.taking` left by a replay that died half way is staged
/// first. Nothing to do when there is no journal.
fn stage_new_lines(path: &Path, staging: &Path) -> std::io::Result<()> {
    let named = |e: std::io::Error, what: &str| {
        std::io::Error::new(e.kind(), format!("release journal {}: {what}: {e}", path.display()))
    };
    let taking = taking_path(path);
    if taking.exists() {
        stage_file(&taking, staging).map_err(|e| named(e, "stage the renamed journal"))?;
    }
    let file = match OpenOptions::new().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(named(e, "open")),
    };
    file.lock().map_err(|e| named(e, "lock"))?;
    if !crate::ipam::journal::still_at(&file, path).map_err(|e| named(e, "stat"))? {
        // Another replay took it meanwhile (only one agent should run).
        return Ok(());
    }
    // Still holding the lock: a plugin waiting for it finds the file gone
    // and creates a new one.
    std::fs::rename(path, &taking).map_err(|e| named(e, "rename"))?;
    drop(file);
    stage_file(&taking, staging).map_err(|e| named(e, "stage the renamed journal"))
}

/// Appends the lines of `from` to `staging` (fsynced), then removes `from`.
fn stage_file(from: &Path, staging: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = std::fs::read_to_string(from)?;
    if !text.trim().is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let mut st = OpenOptions::new().create(true).append(true).mode(0o600).open(staging)?;
        st.write_all(text.as_bytes())?;
        st.sync_all()?;
    }
    std::fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Plugins append while replays stage: every line ends up staged exactly
    /// once, none lost to the removal of the journal.
    #[test]
    fn lines_appended_during_staging_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let staging = staging_path(&path);
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let args = IpamDelArgs {
                            container_id: format!("c-{w}-{i}"),
                            if_name: "net1".into(),
                            pod_namespace: "default".into(),
                            pod_name: format!("p-{w}-{i}"),
                            pod_uid: String::new(),
                            net_namespace: None,
                            network: None,
                        };
                        crate::ipam::journal::append(&path, &args).unwrap();
                    }
                })
            })
            .collect();
        // Far more often than an agent replays (every 10 s by default).
        while !writers.iter().all(std::thread::JoinHandle::is_finished) {
            stage_new_lines(&path, &staging).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        for w in writers {
            w.join().unwrap();
        }
        stage_new_lines(&path, &staging).unwrap();
        assert!(!path.exists());
        let text = std::fs::read_to_string(&staging).unwrap();
        let mut ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<IpamDelArgs>(l).unwrap().container_id)
            .collect();
        assert_eq!(ids.len(), 400);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 400);
    }

    /// Regression (issue 9 item 11): journal files an older version left
    /// readable by others are tightened to 0600.
    #[test]
    fn journal_files_left_wider_are_tightened_to_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let files = [path.clone(), staging_path(&path), taking_path(&path)];
        for f in &files {
            std::fs::write(f, "").unwrap();
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        restrict_journal_files(&path);
        for f in &files {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }

    /// A replay that died after renaming the journal away: the next one
    /// stages the renamed file's lines before the new journal's.
    #[test]
    fn a_journal_renamed_by_a_dead_replay_is_staged_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let staging = staging_path(&path);
        std::fs::write(taking_path(&path), "{\"old\":1}\n").unwrap();
        std::fs::write(&path, "{\"new\":1}").unwrap();
        stage_new_lines(&path, &staging).unwrap();
        assert_eq!(std::fs::read_to_string(&staging).unwrap(), "{\"old\":1}\n{\"new\":1}\n");
        assert!(!path.exists() && !taking_path(&path).exists());
        // Nothing new: nothing changes.
        stage_new_lines(&path, &staging).unwrap();
        assert_eq!(std::fs::read_to_string(&staging).unwrap().lines().count(), 2);
    }

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
