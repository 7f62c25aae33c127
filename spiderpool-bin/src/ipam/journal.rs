//! The release journal: one `IpamDelArgs` JSON object per line, appended by
//! DEL when the agent cannot be reached, replayed by the agent at startup and
//! then periodically ([`crate::agent::replay_release_journal`]).
//!
//! Writers and the agent's replay take an exclusive `flock` on the file: the
//! replay moves the lines out and truncates the file while holding it, so a
//! line appended concurrently is either moved or left for the next replay,
//! never lost.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::agent::models::IpamDelArgs;

/// Appends `args` as one JSON line to the journal at `path` (parent created,
/// mode 0600) and fsyncs it, holding the file's exclusive lock. The whole line
/// is written with one `write` on an `O_APPEND` file.
pub fn append(path: &Path, args: &IpamDelArgs) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut line = serde_json::to_vec(args)?;
    line.push(b'\n');
    // The agent's replay removes the file while holding its lock: a writer
    // that got the lock on a file that is no longer at `path` opens again.
    for _ in 0..16 {
        let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        file.lock()?;
        if !still_at(&file, path)? {
            continue;
        }
        file.write_all(&line)?;
        return file.sync_all();
        // Dropping the file releases the lock.
    }
    Err(std::io::Error::other(format!(
        "release journal {}: replaced 16 times while appending",
        path.display()
    )))
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

    #[test]
    fn lines_are_appended() {
        let dir = std::env::temp_dir().join(format!("sp-journal-{}", std::process::id()));
        let path = dir.join("sub/j.jsonl");
        let args = IpamDelArgs {
            container_id: "c1".into(),
            if_name: "net1".into(),
            pod_namespace: "default".into(),
            pod_name: "p".into(),
            pod_uid: "u".into(),
            net_namespace: None,
        };
        append(&path, &args).unwrap();
        append(&path, &args).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<IpamDelArgs> =
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, [args.clone(), args]);
    }
}
