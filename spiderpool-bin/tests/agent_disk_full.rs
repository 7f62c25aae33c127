//! The agent on a data directory that fills up: a real full disk, a 4 MiB
//! tmpfs mounted in a private mount namespace (`unshare -m`, so nothing is
//! mounted in the machine's namespace) in which the agent runs. The test
//! reaches the tmpfs through `/proc/PID/root` to fill and free it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod agent_harness;

use agent_harness::Dir;
use agent_harness::process::{AgentProcess, agent_command};
use agent_harness::raw_http::{Answer, exchange};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on the health port.
fn health_port(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

fn add(socket: &Path, pod: &str) -> Answer {
    let body = json!({
        "containerID": format!("ctr-{pod}"), "ifName": "net1", "netNamespace": "/x",
        "podNamespace": "default", "podName": pod, "podUID": format!("u-{pod}"),
        "defaultIPv4IPPool": ["p"],
    });
    exchange(socket, "POST", "/v1/ipam/ip", &serde_json::to_vec(&body).unwrap())
}

fn allocated(socket: &Path) -> (u64, usize) {
    let a = exchange(socket, "GET", "/v1/admin/objects/sp/p", b"");
    assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
    let pool = a.json();
    let count = pool["status"]["allocatedIPCount"].as_u64().unwrap_or(0);
    let records: Value =
        serde_json::from_str(pool["status"]["allocatedIPs"].as_str().unwrap_or("{}")).unwrap();
    (count, records.as_object().map_or(0, |o| o.len()))
}

/// Fills the filesystem of `file` until it refuses (ENOSPC).
fn fill(file: &Path) {
    let mut f = std::fs::File::create(file).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write_all(&chunk).and_then(|()| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", file.display()),
        }
    }
    // The last bytes a partial chunk may have left.
    while f.write_all(&[0u8; 512]).and_then(|()| f.sync_all()).is_ok() {}
}

/// Regression (issue 9 item 7): with the data directory full, every write
/// failed (redb's "previous I/O error" after the first), yet
/// `/v1/ipam/healthy` and the health port said healthy, and the failed
/// commit stayed counted in the cached pool counts. Now health is red with
/// the reason while the store cannot write, the counts are what is on disk,
/// and once space is back the agent reopens the database and allocates
/// again, without a restart.
#[test]
fn a_full_data_dir_turns_health_red_keeps_counts_committed_and_recovers_when_space_returns() {
    let tmp = Dir::new("sp-agent-full");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let socket = tmp.path().join("agent.sock");
    let journal = tmp.path().join("journal.jsonl");
    let port = free_port();
    let port_s = port.to_string();
    let args: [&OsStr; 8] = [
        "--store".as_ref(),
        "embedded".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--release-journal".as_ref(),
        journal.as_os_str(),
        "--health-port".as_ref(),
        port_s.as_ref(),
    ];
    let agent_cmd = agent_command(&socket, &args);
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=4m tmpfs \"$0\" && exec \"$@\"")
        .arg(&data)
        .arg(agent_cmd.get_program())
        .args(agent_cmd.get_args());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SPIDERPOOL_") {
            cmd.env_remove(k);
        }
    }
    let mut agent = AgentProcess::spawn(cmd, &socket, &tmp.path().join("agent.log"));
    agent.wait_healthy(Duration::from_secs(20));
    let pid = agent.child.id();
    // The tmpfs, as the agent sees it.
    let inside: PathBuf =
        PathBuf::from(format!("/proc/{pid}/root")).join(data.strip_prefix("/").unwrap());
    assert!(inside.join("spiderpool.redb").exists(), "the agent's data dir is not visible");

    let pool = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
        "metadata": {"name": "p"},
        "spec": {"ips": ["10.9.0.1-10.9.15.254"], "subnet": "10.9.0.0/20"}
    });
    let a = exchange(&socket, "PUT", "/v1/admin/objects", &serde_json::to_vec(&pool).unwrap());
    assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
    assert_eq!(add(&socket, "p0").status, 200);
    let mut answered = 1u64;

    fill(&inside.join("filler"));
    let mut failed = None;
    for i in 1..400 {
        let a = add(&socket, &format!("p{i}"));
        if a.status == 200 {
            answered += 1;
        } else {
            failed = Some((i, a));
            break;
        }
    }
    let (first_failed, answer) = failed.expect("no ADD failed on a full disk");
    eprintln!(
        "ADD {first_failed} failed on the full disk: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );

    let h = exchange(&socket, "GET", "/v1/ipam/healthy", b"");
    let reason = String::from_utf8_lossy(&h.body).to_string();
    assert_eq!(h.status, 500, "healthy on a full disk: {reason}");
    assert!(reason.contains("No space left on device"), "{reason}");
    let (status, text) = health_port(port, "/v1/runtime/liveness");
    assert_eq!(status, 500, "liveness on a full disk: {text}");
    // Only what was answered is counted (and on disk).
    let (count, records) = allocated(&socket);
    assert_eq!((count, records as u64), (answered, answered), "after ADD {first_failed} failed");
    // Writes keep failing while the disk is full; the counts do not move.
    assert_ne!(add(&socket, "while-full").status, 200);
    assert_eq!(allocated(&socket).0, answered);

    std::fs::remove_file(inside.join("filler")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while exchange(&socket, "GET", "/v1/ipam/healthy", b"").status != 200 {
        assert!(
            Instant::now() < deadline,
            "not healthy again after space came back:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(health_port(port, "/v1/runtime/liveness").0, 200);
    let again = add(&socket, &format!("p{first_failed}"));
    assert_eq!(again.status, 200, "{:?}", String::from_utf8_lossy(&again.body));
    let after = add(&socket, "after");
    assert_eq!(after.status, 200, "{:?}", String::from_utf8_lossy(&after.body));
    let (count, records) = allocated(&socket);
    assert_eq!((count, records as u64), (answered + 2, answered + 2));
    assert!(agent.terminate().success(), "{}", agent.log_text());
}
