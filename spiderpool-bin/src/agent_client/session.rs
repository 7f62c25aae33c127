//! Several requests to the agent over one kept-alive connection, each bounded
//! in time: the transport under [`AgentClient`](super::AgentClient).
//!
//! Plain blocking I/O on a std `UnixStream`, the answer's head parsed by
//! `httparse` (hyper's own parser): a CNI plugin is a short-lived process
//! that sends one or two requests, and a tokio runtime with hyper's client
//! cost it more than the exchange (issue 15, docs/performance.md: the
//! runtime's epoll, eventfd and signal socket pair, a wake-up per hand-off).
//! What it speaks: HTTP/1.1 requests with an optional JSON body
//! (`content-length`); answers framed by `content-length`, `chunked`, or the
//! end of the connection; the connection kept for the next request unless
//! the agent closes it.

use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper::body::Bytes;

use super::AgentError;

/// The longest answer head read (status line and headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The longest answer body read (the largest lists of `spiderpoolctl` are a
/// few MB).
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
/// The longest request URI sent (hyper's limit, which the agent's server
/// shares).
const MAX_URI_BYTES: usize = 65_534;

/// Several requests to the agent over one kept-alive connection (the IPAM
/// plugin's allocation, `spiderpoolctl`'s calls): each connection saved is
/// a measurable part of a short-lived plugin's run. The connection is opened
/// by the first request and opened again if the agent closed it.
pub struct Session {
    socket: PathBuf,
    conn: Option<UnixStream>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("socket", &self.socket).finish_non_exhaustive()
    }
}

/// Why an exchange failed: the I/O error, or the time was up.
enum Failure {
    Io(String),
    Timeout,
}

impl Session {
    /// A session with the agent on `socket`; `Ok(None)` when the socket does
    /// not exist (no agent on this machine).
    pub fn new(socket: &Path) -> Result<Option<Self>, AgentError> {
        if !socket.exists() {
            return Ok(None);
        }
        Ok(Some(Self { socket: socket.to_path_buf(), conn: None }))
    }

    /// Sends one request with an untyped JSON body and returns the untyped
    /// JSON answer, within `timeout` (connecting included). A status other
    /// than 2xx is an [`AgentError::Status`] with the decoded error body.
    /// For tests and tools that probe the API with arbitrary bodies; the
    /// plugins and `spiderpoolctl` use [`AgentClient`](super::AgentClient).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, AgentError> {
        let (status, bytes) = self.exchange(method, path, Some(body), timeout)?;
        super::decode(method, path, status, &bytes)
    }

    /// Sends one request with an untyped JSON body (when given) and returns
    /// the status and the whole body, whatever the status, within `timeout`.
    /// For tests that look at raw answers.
    pub fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), AgentError> {
        let payload = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| AgentError::Io {
                socket: self.socket.display().to_string(),
                message: format!("request body: {e}"),
            })?),
            None => None,
        };
        self.send(method, path, payload, timeout)
    }

    /// Sends one request with `payload` as its JSON body (none when `None`)
    /// and returns the status and the whole body, whatever the status,
    /// within `timeout` (connecting included).
    pub(super) fn send(
        &mut self,
        method: &str,
        path: &str,
        payload: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), AgentError> {
        let mut request = request_head(method, path, payload.as_ref().map(Vec::len))?;
        request.extend_from_slice(payload.as_deref().unwrap_or_default());
        let deadline = Instant::now() + timeout;
        let socket_text = self.socket.display().to_string();
        let failed = |f: Failure| match f {
            Failure::Io(message) => AgentError::Io { socket: socket_text.clone(), message },
            Failure::Timeout => {
                AgentError::Timeout { socket: socket_text.clone(), seconds: timeout.as_secs() }
            }
        };
        // The kept connection, unless the agent has closed it meanwhile.
        let stream = match self.conn.take().filter(still_open) {
            Some(s) => s,
            None => connect(&self.socket, deadline).map_err(failed)?,
        };
        let (status, body, keep) = exchange(&stream, &request, deadline).map_err(failed)?;
        if keep {
            self.conn = Some(stream);
        }
        Ok((status, Bytes::from(body)))
    }
}

/// The request line and headers; refuses what an HTTP/1.1 request cannot
/// carry (hyper's checks: a token method, a path of visible ASCII).
fn request_head(method: &str, path: &str, body_len: Option<usize>) -> Result<Vec<u8>, AgentError> {
    let refused = |message: String| AgentError::Request {
        method: method.to_string(),
        path: spiderpool_core::name::shown(path),
        message,
    };
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if method.is_empty() || !method.bytes().all(token) {
        return Err(refused("invalid HTTP method".into()));
    }
    if !path.starts_with('/') || !path.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(refused("invalid request URI: a path of visible ASCII is needed".into()));
    }
    if path.len() > MAX_URI_BYTES {
        return Err(refused(format!("URI too long (the request URI has {} bytes)", path.len())));
    }
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\n");
    if let Some(n) = body_len {
        head.push_str(&format!("content-type: application/json\r\ncontent-length: {n}\r\n"));
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

/// A new connection to `socket`, given up at `deadline` (a full accept queue
/// makes a unix socket's `connect` wait).
fn connect(socket: &Path, deadline: Instant) -> Result<UnixStream, Failure> {
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr, sockopt};
    use nix::sys::time::{TimeVal, TimeValLike};
    let io =
        |what: &str, e: nix::Error| Failure::Io(format!("{what}: {}", std::io::Error::from(e)));
    let fd: OwnedFd =
        socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| io("socket", e))?;
    let left = remaining(deadline)?;
    // Whole microseconds, at least one (zero would mean no limit).
    let micros = i64::try_from(left.as_micros()).unwrap_or(i64::MAX).max(1);
    socket::setsockopt(&fd, sockopt::SendTimeout, &TimeVal::microseconds(micros))
        .map_err(|e| io("connect", e))?;
    let addr = UnixAddr::new(socket).map_err(|e| io("connect", e))?;
    match socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr) {
        Ok(()) => Ok(UnixStream::from(fd)),
        Err(nix::errno::Errno::EAGAIN) => Err(Failure::Timeout),
        Err(e) => Err(io("connect", e)),
    }
}

/// The time left until `deadline`; the time is up at zero.
fn remaining(deadline: Instant) -> Result<Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err(Failure::Timeout) } else { Ok(left) }
}

/// True when a kept connection can carry another request: the agent has
/// neither closed it nor sent anything unasked.
fn still_open(stream: &UnixStream) -> bool {
    use nix::sys::socket::{MsgFlags, recv};
    let mut probe = [0u8; 1];
    let peeked = recv(
        std::os::fd::AsRawFd::as_raw_fd(stream),
        &mut probe,
        MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
    );
    peeked == Err(nix::errno::Errno::EAGAIN)
}

/// Writes all of `bytes` (within the socket's write timeout), with
/// `MSG_NOSIGNAL`: an agent gone half way is an error, not a `SIGPIPE` in a
/// process that has not ignored it (a program embedding this client).
fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    use nix::sys::socket::{MsgFlags, send};
    let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
    while !bytes.is_empty() {
        match send(fd, bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The I/O error of a read or write, or the time up.
fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Io(format!("{what}: {e}")),
    }
}

/// Writes `request` and reads the answer: (status, body, whether the
/// connection can carry another request).
fn exchange(
    stream: &UnixStream,
    request: &[u8],
    deadline: Instant,
) -> Result<(u16, Vec<u8>, bool), Failure> {
    stream.set_write_timeout(Some(remaining(deadline)?)).map_err(|e| io_failure("request", &e))?;
    send_all(stream, request).map_err(|e| io_failure("request", &e))?;
    let mut reader = Reader { stream, buf: Vec::with_capacity(8192), deadline };
    let (status, head_len, framing, close) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&reader.buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = response.code.unwrap_or(0);
                // 1xx answers (none expected) come before the real one.
                if (100..200).contains(&status) {
                    reader.buf.drain(..n);
                    continue;
                }
                let (framing, close) = framing(&response)?;
                break (status, n, framing, close);
            }
            Ok(httparse::Status::Partial) => {
                if reader.buf.len() >= MAX_HEAD_BYTES {
                    return Err(Failure::Io(format!(
                        "answer head longer than {MAX_HEAD_BYTES} bytes"
                    )));
                }
                if !reader.fill("answer")? {
                    return Err(Failure::Io("connection closed before an answer".into()));
                }
            }
            Err(e) => return Err(Failure::Io(format!("answer: {e}"))),
        }
    };
    reader.buf.drain(..head_len);
    let body = match framing {
        Framing::Length(n) => {
            if n > MAX_BODY_BYTES {
                return Err(Failure::Io(format!("answer body of {n} bytes is too long")));
            }
            reader.need(n)?;
            reader.buf.truncate(n);
            std::mem::take(&mut reader.buf)
        }
        Framing::Chunked => reader.chunked()?,
        Framing::UntilClose => {
            while reader.fill("response body")? {}
            std::mem::take(&mut reader.buf)
        }
    };
    Ok((status, body, !close && framing != Framing::UntilClose))
}

/// How the answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The body's framing and whether the agent closes the connection after it.
fn framing(response: &httparse::Response<'_, '_>) -> Result<(Framing, bool), Failure> {
    let mut framing = Framing::UntilClose;
    let mut close = response.version == Some(0);
    for h in response.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            let n = value
                .parse()
                .map_err(|_| Failure::Io(format!("answer: bad content-length {value:?}")))?;
            framing = Framing::Length(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok((framing, close))
}

/// Reads from the connection into `buf`, each read bounded by the deadline.
struct Reader<'a> {
    stream: &'a UnixStream,
    buf: Vec<u8>,
    deadline: Instant,
}

impl Reader<'_> {
    /// Reads more; `Ok(false)` at the end of the connection.
    fn fill(&mut self, what: &str) -> Result<bool, Failure> {
        let mut s = self.stream;
        s.set_read_timeout(Some(remaining(self.deadline)?)).map_err(|e| io_failure(what, &e))?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    if self.buf.len() + n > MAX_HEAD_BYTES + MAX_BODY_BYTES {
                        return Err(Failure::Io(format!("{what}: answer too long")));
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_failure(what, &e)),
            }
        }
    }

    /// Reads until `buf` holds `n` bytes; fails if the connection ends first.
    fn need(&mut self, n: usize) -> Result<(), Failure> {
        while self.buf.len() < n {
            if !self.fill("response body")? {
                return Err(Failure::Io(format!(
                    "response body: connection closed after {} of {n} bytes",
                    self.buf.len()
                )));
            }
        }
        Ok(())
    }

    /// Where the line starting at `from` ends (its `\r\n`), reading more
    /// until it has one.
    fn line_end(&mut self, from: usize) -> Result<usize, Failure> {
        loop {
            if let Some(i) = self.buf[from..].windows(2).position(|w| w == b"\r\n") {
                return Ok(from + i);
            }
            let len = self.buf.len();
            self.need(len + 1)?;
        }
    }

    /// Decodes a chunked body (`buf` starts at its first chunk); trailers are
    /// read and dropped.
    fn chunked(&mut self) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = self.line_end(at)?;
            let line = String::from_utf8_lossy(&self.buf[at..line_end]);
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| Failure::Io(format!("response body: bad chunk size {size:?}")))?;
            at = line_end + 2;
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    let end = self.line_end(at)?;
                    if end == at {
                        return Ok(body);
                    }
                    at = end + 2;
                }
            }
            if body.len() + size > MAX_BODY_BYTES {
                return Err(Failure::Io("response body: answer too long".into()));
            }
            self.need(at + size + 2)?;
            body.extend_from_slice(&self.buf[at..at + size]);
            at += size + 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::fake::serve_once;
    use super::super::request_json;
    use super::*;

    #[test]
    fn no_socket_means_no_agent() {
        let got = request_json(
            Path::new("/nonexistent/sp.sock"),
            "GET",
            "/v1/x",
            &serde_json::json!({}),
            Duration::from_secs(1),
        );
        assert!(matches!(got, Ok(None)));
    }

    #[test]
    fn sends_a_json_body_and_reads_the_json_answer() {
        let (dir, server) = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"mode\":\"auto\"}\n",
        );
        let got = request_json(
            &dir.0.join("agent.sock"),
            "GET",
            "/v1/coordinator/config",
            &serde_json::json!({"podName": "p", "podNamespace": "ns"}),
            Duration::from_secs(5),
        )
        .unwrap()
        .unwrap();
        assert_eq!(got["mode"], "auto");
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /v1/coordinator/config HTTP/1.1"), "{request}");
        assert!(request.contains(r#"{"podName":"p","podNamespace":"ns"}"#), "{request}");
    }

    #[test]
    fn an_error_status_is_reported_with_the_body() {
        let (dir, _server) = serve_once(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 23\r\n\r\n\"coordinator not ready\"",
        );
        let err = request_json(
            &dir.0.join("agent.sock"),
            "GET",
            "/v1/coordinator/config",
            &serde_json::json!({}),
            Duration::from_secs(5),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("HTTP 500") && err.contains("coordinator not ready"), "{err}");
    }

    /// Reads one request (head and `content-length` body) from `s`; `None`
    /// when the client closed the connection first.
    fn read_request(s: &mut UnixStream) -> Option<String> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).ok()? == 0 {
                return None;
            }
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse::<usize>().unwrap());
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
        Some(head + &String::from_utf8_lossy(&body))
    }

    /// A fake agent running `serve` on its listener, in a thread.
    fn fake_agent(
        serve: impl FnOnce(std::os::unix::net::UnixListener) + Send + 'static,
    ) -> (super::super::fake::tempdir::Dir, PathBuf, std::thread::JoinHandle<()>) {
        let dir = super::super::fake::tempdir::Dir::new();
        let path = dir.0.join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        (dir, path, std::thread::spawn(move || serve(listener)))
    }

    const OK: &str =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

    #[test]
    fn requests_share_one_connection_while_the_agent_keeps_it() {
        let (_dir, path, server) = fake_agent(|listener| {
            let (mut s, _) = listener.accept().unwrap();
            for _ in 0..3 {
                assert!(read_request(&mut s).is_some());
                s.write_all(OK.as_bytes()).unwrap();
            }
        });
        let mut session = Session::new(&path).unwrap().unwrap();
        for _ in 0..3 {
            let (status, body) =
                session.send("GET", "/v1/ipam/healthy", None, Duration::from_secs(5)).unwrap();
            assert_eq!((status, &body[..]), (200, &b"{}"[..]));
        }
        server.join().unwrap();
    }

    #[test]
    fn a_connection_the_agent_closed_is_replaced() {
        let (_dir, path, server) = fake_agent(|listener| {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                assert!(read_request(&mut s).is_some());
                s.write_all(OK.as_bytes()).unwrap();
                // Closed after one answer, as an agent ending an idle
                // connection does.
            }
        });
        let mut session = Session::new(&path).unwrap().unwrap();
        for _ in 0..2 {
            let (status, _) = session
                .send("POST", "/v1/ipam/ip", Some(b"{}".to_vec()), Duration::from_secs(5))
                .unwrap();
            assert_eq!(status, 200);
            // Let the agent's close arrive before the next request.
            std::thread::sleep(Duration::from_millis(20));
        }
        server.join().unwrap();
    }

    #[test]
    fn a_chunked_answer_in_pieces_and_an_answer_ended_by_close_are_read_whole() {
        let (_dir, path, server) = fake_agent(|listener| {
            let (mut s, _) = listener.accept().unwrap();
            assert!(read_request(&mut s).is_some());
            let pieces: [&[u8]; 5] = [
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n",
                b"\r\n5\r\n{\"a\":",
                b"\r\n2;ext=1\r\n1}",
                b"\r\n0\r\nx-trailer: t\r\n",
                b"\r\n",
            ];
            for piece in pieces {
                s.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(read_request(&mut s).is_some());
            s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\n\"no\"")
                .unwrap();
        });
        let mut session = Session::new(&path).unwrap().unwrap();
        let got = session.request("GET", "/v1/a", &serde_json::json!({}), Duration::from_secs(5));
        assert_eq!(got.unwrap(), serde_json::json!({"a": 1}));
        let (status, body) = session.send("GET", "/v1/b", None, Duration::from_secs(5)).unwrap();
        assert_eq!((status, &body[..]), (500, &b"\"no\""[..]));
        server.join().unwrap();
    }

    #[test]
    fn an_agent_that_does_not_answer_is_a_timeout() {
        let (_dir, path, server) = fake_agent(|listener| {
            let (mut s, _) = listener.accept().unwrap();
            assert!(read_request(&mut s).is_some());
            // No answer until the client gives up.
            let _ = read_request(&mut s);
        });
        let mut session = Session::new(&path).unwrap().unwrap();
        let started = Instant::now();
        let err =
            session.send("POST", "/v1/ipam/ip", None, Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, AgentError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        drop(session);
        server.join().unwrap();
    }

    #[test]
    fn a_request_http_cannot_carry_is_refused_before_sending() {
        let (_dir, path, server) = fake_agent(|listener| {
            // Nothing may arrive: the listener is dropped at once.
            drop(listener);
        });
        server.join().unwrap();
        let mut session = Session { socket: path, conn: None };
        for (method, path, want) in [
            ("GET", "/v1/a b", "invalid request URI"),
            ("GE T", "/v1/a", "invalid HTTP method"),
            ("GET", "v1/a", "invalid request URI"),
        ] {
            let err = session.send(method, path, None, Duration::from_secs(1)).unwrap_err();
            assert!(matches!(err, AgentError::Request { .. }), "{err}");
            assert!(err.to_string().contains(want), "{err}");
        }
        let long = format!("/{}", "x".repeat(MAX_URI_BYTES));
        let err = session.send("GET", &long, None, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("the request URI has 65535 bytes"), "{err}");
    }

    #[test]
    fn a_socket_nobody_listens_on_is_refused_naming_connect() {
        let (_dir, path, server) = fake_agent(drop);
        server.join().unwrap();
        let mut session = Session { socket: path, conn: None };
        let err = session.send("GET", "/v1/a", None, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("connect: Connection refused"), "{err}");
    }
}
