//! The release journal: one `IpamDelArgs` JSON object per line, appended by
//! DEL when the agent cannot be reached, replayed by the agent at startup
//! ([`crate::agent::replay_release_journal`]).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::agent::models::IpamDelArgs;

/// Appends `args` as one JSON line to the journal at `path` (parent created,
/// mode 0600) and fsyncs it. The whole line is written with one `write` on an
/// `O_APPEND` file, so concurrent DELs never interleave.
pub fn append(path: &Path, args: &IpamDelArgs) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut line = serde_json::to_vec(args)?;
    line.push(b'\n');
    let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    file.write_all(&line)?;
    file.sync_all()
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
