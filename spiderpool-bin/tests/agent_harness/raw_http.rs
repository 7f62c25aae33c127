//! Hand-written HTTP/1.1 exchanges on a unix socket, for tests that need what
//! a well-behaved client never sends: oversized bodies, slow or idle
//! connections, odd methods. Answers are read until the server closes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// An answer: status, `content-type` (lower case, empty when absent) and body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `content-type` header.
    pub content_type: String,
    /// The body (de-chunked when the answer was chunked).
    pub body: Vec<u8>,
}

impl Answer {
    /// The body parsed as JSON; panics naming the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answer is not JSON ({e}): content-type {:?}, body {:?}",
                self.status,
                self.content_type,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends `method path` with `body` (and `Connection: close`) and reads the
/// answer.
pub fn exchange(socket: &Path, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (and stop reading) before the whole body is
    // sent: an error here is the server's choice, the answer tells.
    let _ = s.write_all(body);
    read_answer(&mut s)
}

/// Reads one answer until EOF.
pub fn read_answer(s: &mut UnixStream) -> Answer {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // The server closed with unread bytes of ours: a reset after it answered.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => {
                panic!("reading the answer: {e} (read so far: {:?})", String::from_utf8_lossy(&raw))
            }
        }
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let mut content_type = String::new();
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else { continue };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        if k == "content-type" {
            content_type = v;
        } else if k == "transfer-encoding" && v.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    Answer { status, content_type, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = &b[end + 2 + size + 2..];
    }
    out
}

/// Connections that send a request head one byte at a time (slowloris), or
/// nothing at all, and notice when the server closes them.
pub struct SlowClients {
    conns: Vec<Option<UnixStream>>,
}

impl SlowClients {
    /// Opens `n` connections; with `head`, each sends the start of a request
    /// head (never its end).
    pub fn open(socket: &Path, n: usize, head: bool) -> SlowClients {
        let conns = (0..n)
            .map(|_| {
                let mut s = UnixStream::connect(socket).unwrap();
                if head {
                    s.write_all(b"POST /v1/ipam/ip HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
                        .unwrap();
                }
                s.set_nonblocking(true).unwrap();
                Some(s)
            })
            .collect();
        SlowClients { conns }
    }

    /// Sends one more byte of the head on every open connection (when
    /// `dribble`) and notes the ones the server closed; returns how many are
    /// still open.
    pub fn poll(&mut self, dribble: bool) -> usize {
        for slot in &mut self.conns {
            let Some(s) = slot else { continue };
            let mut closed =
                dribble && s.write(b"x").is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock);
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => closed = true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => closed = true,
            }
            if closed {
                *slot = None;
            }
        }
        self.open_count()
    }

    /// How many are still open (as of the last [`SlowClients::poll`]).
    pub fn open_count(&self) -> usize {
        self.conns.iter().filter(|c| c.is_some()).count()
    }
}

/// `VmRSS` of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Open file descriptors of process `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}
