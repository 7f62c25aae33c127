//! The release journal: one `IpamDelArgs` JSON object per line, appended by
//! DEL when the agent cannot be reached, replayed by the agent at startup and
//! then periodically ([`crate::agent::replay_release_journal`]).
//!
//! Writers and the agent's replay take an exclusive `flock` on the file: the
//! replay renames the file away while holding it (then stages its lines), so
//! a line appended concurrently is either in the renamed file or in a new
//! journal, never lost. The replay holds the lock only for the rename, and a
//! writer waits for it at most [`LOCK_WAIT`]: DEL never blocks teardown.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::agent::models::IpamDelArgs;

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
    let mut line = serde_json::to_vec(args)?;
    line.push(b'\n');
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
pub(crate) fn still_at(file: &std::fs::File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == open.dev() && now.ino() == open.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
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
}
