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

fn memory_args(journal: &Path) -> Vec<&OsStr> {
    vec![
        "--store".as_ref(),
        "memory".as_ref(),
        "--release-journal".as_ref(),
        journal.as_os_str(),
        "--release-journal-interval".as_ref(),
        "0".as_ref(),
    ]
}

fn healthy(socket: &Path) -> bool {
    matches!(
        spiderpool_bin::agent_client::request_json(
            socket,
            "GET",
            "/v1/ipam/healthy",
            &serde_json::json!({}),
            Duration::from_secs(2)
        ),
        Ok(Some(_))
    )
}

/// Regression (issue 9 item 6): a second agent started with the same
/// `--socket` deleted the live socket, served its own empty store, and on
/// SIGTERM removed the socket, leaving the first agent unreachable; it also
/// replayed (and so took) the first agent's release journal before finding
/// out. Now the second agent refuses to start, naming the socket and the
/// first agent's pid, and touches neither the socket nor the journal.
#[test]
fn a_second_agent_on_the_same_socket_refuses_to_start_and_leaves_the_first_alone() {
    let tmp = Dir::new("sp-agent-two");
    let socket = tmp.path().join("agent.sock");
    let journal = tmp.path().join("journal.jsonl");
    let mut first =
        AgentProcess::start(&socket, &tmp.path().join("first.log"), &memory_args(&journal));
    first.wait_healthy(Duration::from_secs(20));
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let first_socket = ino(&socket);
    // A DEL the plugin journaled meanwhile: the first agent replays it later.
    let line = r#"{"containerID":"c1","ifName":"net1","podNamespace":"default","podName":"p1","podUID":"u1"}"#;
    std::fs::write(&journal, format!("{line}\n")).unwrap();

    let mut second =
        AgentProcess::start(&socket, &tmp.path().join("second.log"), &memory_args(&journal));
    let status = second.wait_exit(Duration::from_secs(20));
    let said = second.log_text();
    assert!(!status.success(), "second agent: {status}\n{said}");
    assert!(said.contains(&*socket.to_string_lossy()), "{said}");
    assert!(said.contains(&format!("pid {}", first.child.id())), "{said}");
    assert_eq!(ino(&socket), first_socket, "the live socket was replaced");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), format!("{line}\n"), "journal taken");
    assert!(healthy(&socket), "the first agent is unreachable");

    assert!(first.terminate().success());
    assert!(!socket.exists(), "the first agent's own socket is removed at exit");
}

/// An agent of an older version holds no lock: a live listener on the socket
/// is enough to refuse. A stale socket file (nobody listening) is replaced.
#[test]
fn a_live_listener_without_the_lock_is_refused_and_a_stale_socket_is_replaced() {
    let tmp = Dir::new("sp-agent-old");
    let socket = tmp.path().join("agent.sock");
    let journal = tmp.path().join("journal.jsonl");
    let old = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut agent = AgentProcess::start(&socket, &tmp.path().join("a.log"), &memory_args(&journal));
    let status = agent.wait_exit(Duration::from_secs(20));
    let said = agent.log_text();
    assert!(!status.success(), "{said}");
    assert!(said.contains("answers on") && said.contains(&*socket.to_string_lossy()), "{said}");
    assert!(socket.exists());

    drop(old); // The file stays: a stale socket.
    let mut agent = AgentProcess::start(&socket, &tmp.path().join("b.log"), &memory_args(&journal));
    agent.wait_healthy(Duration::from_secs(20));
    assert!(agent.terminate().success());
}

/// An agent removes its socket at exit only while the path is still the
/// socket it bound: a file put there by someone else stays.
#[test]
fn an_agent_never_removes_a_socket_it_did_not_create() {
    let tmp = Dir::new("sp-agent-own");
    let socket = tmp.path().join("agent.sock");
    let journal = tmp.path().join("journal.jsonl");
    let mut agent = AgentProcess::start(&socket, &tmp.path().join("a.log"), &memory_args(&journal));
    agent.wait_healthy(Duration::from_secs(20));
    std::fs::remove_file(&socket).unwrap();
    let other = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert!(agent.terminate().success());
    assert!(socket.exists(), "the agent removed a socket it did not create");
    drop(other);
}
