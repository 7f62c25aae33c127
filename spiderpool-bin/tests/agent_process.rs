//! The `spiderpool-agent` process: what it does with the files it owns (its
//! socket, the lock beside it, the data directory, the database, the release
//! journal) when it starts and stops, tested on the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use spiderpool_bin::store::{DB_FILE_NAME, EmbeddedStore};

mod agent_harness;

use agent_harness::Dir;
use agent_harness::process::AgentProcess;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Regression (issue 9 item 11): the database was 0644 in a 0755 directory,
/// so any local user could read pods, UIDs and addresses. A fresh data
/// directory is 0700 and the database 0600; wider modes left by an older
/// agent are tightened at start, and the agent says so.
#[test]
fn data_dir_is_0700_database_and_journal_0600_also_when_they_existed_wider() {
    let tmp = Dir::new("sp-agent-modes");
    let socket = tmp.path().join("agent.sock");
    let log = tmp.path().join("agent.log");

    // A fresh directory.
    let data = tmp.path().join("fresh");
    let journal = data.join("release-journal.jsonl");
    let args: [&OsStr; 6] = [
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--release-journal".as_ref(),
        journal.as_os_str(),
        "--store".as_ref(),
        "embedded".as_ref(),
    ];
    let mut agent = AgentProcess::start(&socket, &log, &args);
    agent.wait_healthy(Duration::from_secs(20));
    assert_eq!(mode(&data), 0o700, "fresh data dir");
    assert_eq!(mode(&data.join(DB_FILE_NAME)), 0o600, "fresh database");
    assert!(agent.terminate().success());

    // What an older agent left: 0755 directory, 0644 database and journal.
    let data = tmp.path().join("old");
    let journal = data.join("release-journal.jsonl");
    drop(EmbeddedStore::open_dir(&data).unwrap());
    chmod(&data, 0o755);
    chmod(&data.join(DB_FILE_NAME), 0o644);
    std::fs::write(&journal, "").unwrap();
    chmod(&journal, 0o644);
    let args: [&OsStr; 8] = [
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--release-journal".as_ref(),
        journal.as_os_str(),
        "--release-journal-interval".as_ref(),
        "0".as_ref(),
        "--store".as_ref(),
        "embedded".as_ref(),
    ];
    let mut agent = AgentProcess::start(&socket, &log, &args);
    agent.wait_healthy(Duration::from_secs(20));
    assert_eq!(mode(&data), 0o700, "old data dir");
    assert_eq!(mode(&data.join(DB_FILE_NAME)), 0o600, "old database");
    // The journal itself is replayed (and, empty, removed) right after; its
    // tightening shows in the log (the journal module's unit test stats it).
    let text = agent.log_text();
    for path in [&data, &data.join(DB_FILE_NAME), &journal] {
        assert!(
            text.lines().any(|l| l.contains("tightened") && l.contains(&*path.to_string_lossy())),
            "no log line about {}:\n{text}",
            path.display()
        );
    }
    assert!(agent.terminate().success());
}
