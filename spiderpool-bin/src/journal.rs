//! The release journal's files, shared by its writer (the `spiderpool` IPAM
//! plugin's DEL when the agent cannot take it: [`append`]) and its reader
//! (the agent's replay, `crate::agent::replay_release_journal`, which takes
//! the lines with [`stage_new_lines`]). A line is one
//! [`IpamDelArgs::journal_line`].
//!
//! Writers and the agent's replay take an exclusive `flock` on the file: the
//! replay renames the file away (to `PATH.taking`) while holding it, then
//! appends its lines to a staging file (`PATH.replaying`, fsynced), so a line
//! appended concurrently is either in the renamed file or in a new journal,
//! never lost. The replay holds the lock only for the rename, and a writer
//! waits for it at most [`LOCK_WAIT`]: DEL never blocks teardown.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use spiderpool_core::agent_api::IpamDelArgs;

/// How long a writer waits for the journal's lock before it appends without
/// it (the agent holds it for a rename; waiting longer means the agent is
/// stuck, and DEL must not be).
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// How an [`append`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Written and fsynced under the journal's lock.
    Locked,
    /// The lock stayed busy for [`LOCK_WAIT`]: written and fsynced without
    /// it (a replay stuck in the middle may miss the line).
    Unlocked,
}

/// Appends `args` as one JSON line to the journal at `path` (parent created
/// mode 0700, file mode 0600) and fsyncs it, holding the file's exclusive lock when it can
/// be had within [`LOCK_WAIT`]. The whole line is written with one `write` on
/// an `O_APPEND` file.
pub fn append(path: &Path, args: &IpamDelArgs) -> std::io::Result<Appended> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::file_mode::create_private_dir(parent)?;
    }
    let line = args.journal_line();
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    // The agent's replay renames the file away while holding its lock: a
    // writer that got the lock on a file no longer at `path` opens again
    // (once the wait is over, it writes to the file it opened, unlocked).
    loop {
        let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        let locked = loop {
            match file.try_lock() {
                Ok(()) => break true,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(std::fs::TryLockError::WouldBlock) => break false,
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        };
        if locked && !still_at(&file, path)? {
            continue;
        }
        file.write_all(&line)?;
        file.sync_all()?;
        // Dropping the file releases the lock.
        return Ok(if locked { Appended::Locked } else { Appended::Unlocked });
    }
}

/// True when `file` is the file at `path` (same device and inode).
fn still_at(file: &std::fs::File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == open.dev() && now.ino() == open.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
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
pub fn stage_new_lines(path: &Path, staging: &Path) -> std::io::Result<()> {
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
    if !still_at(&file, path).map_err(|e| named(e, "stat"))? {
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

    fn del_args() -> IpamDelArgs {
        IpamDelArgs {
            container_id: "c1".into(),
            if_name: "net1".into(),
            pod_namespace: "default".into(),
            pod_name: "p".into(),
            pod_uid: "u".into(),
            net_namespace: None,
            network: None,
        }
    }

    #[test]
    fn lines_are_appended() {
        let dir = std::env::temp_dir().join(format!("sp-journal-{}", std::process::id()));
        let path = dir.join("sub/j.jsonl");
        let args = del_args();
        append(&path, &args).unwrap();
        append(&path, &args).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<IpamDelArgs> =
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, [args.clone(), args]);
    }

    #[test]
    fn a_lock_held_too_long_does_not_block_the_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let args = del_args();
        assert_eq!(append(&path, &args).unwrap(), Appended::Locked);
        // Someone (a stuck replay) holds the lock.
        let holder = std::fs::File::open(&path).unwrap();
        holder.lock().unwrap();
        let started = std::time::Instant::now();
        assert_eq!(append(&path, &args).unwrap(), Appended::Unlocked);
        let waited = started.elapsed();
        assert!(waited >= LOCK_WAIT && waited < LOCK_WAIT * 3, "{waited:?}");
        drop(holder);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

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
                        append(&path, &args).unwrap();
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
}
