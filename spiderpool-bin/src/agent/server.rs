//! The agent's HTTP/1.1 server (unix socket, health and metrics ports), with
//! the limits `axum::serve` lacks: a client that is slow to send a request
//! head, or that holds a connection open doing nothing, is cut off, and the
//! number of connections is capped so the agent never runs out of file
//! descriptors.
//!
//! Per connection (hyper's HTTP/1 connection on the stream, served by the
//! axum router):
//! - **header read timeout**: once the first byte of a request arrives, its
//!   head must be complete within [`ServerLimits::header_read_timeout`];
//! - **idle timeout**: a connection waiting for a request (after it opened or
//!   after its previous answer) is closed after
//!   [`ServerLimits::idle_timeout`];
//! - a request being handled is never cut off.
//!
//! At [`ServerLimits::max_connections`], a new connection takes the place of
//! the one that has waited longest for a request (at least
//! [`EVICTION_GRACE`]); when every connection is busy with a request, new
//! ones wait in the listen backlog until one ends. Shutdown stops accepting,
//! closes the connections that are not handling a request and lets the
//! others finish.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

/// A connection younger than this (counted from when it last started to
/// wait for a request) is never closed to make room for a new one.
pub const EVICTION_GRACE: Duration = Duration::from_millis(100);

/// The largest read buffer of a connection (hyper's smallest allowed): a
/// request head must fit (431 otherwise); bodies are read in pieces.
const READ_BUFFER: usize = 8 * 1024;

/// Limits of the agent's HTTP servers (`--http-header-read-timeout`,
/// `--http-idle-timeout`, `--http-max-connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time from the first byte of a request to the end of its head.
    pub header_read_timeout: Duration,
    /// Time a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Open connections at most (per server).
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// One connection's state, shared by its task, its stream and the registry.
#[derive(Debug)]
struct Conn {
    /// Requests being handled.
    in_flight: AtomicUsize,
    /// Milliseconds since the registry's epoch when the connection started to
    /// wait for a request.
    waiting_since: AtomicU64,
    /// Milliseconds since the epoch, plus one, when the first byte of the
    /// current request head arrived; 0 while none has.
    head_started: AtomicU64,
    /// Set when the connection was picked to make room for a new one.
    evicted: AtomicBool,
    /// Tells the connection's task to close.
    close: Notify,
    /// Tells the connection's task that its deadline moved (a request head
    /// started).
    moved: Notify,
}

impl Conn {
    /// When the connection must be closed, in milliseconds since the epoch;
    /// `None` while a request is handled.
    fn deadline(&self, limits: &ServerLimits) -> Option<u64> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Some(match self.head_started.load(Ordering::SeqCst) {
            0 => self.waiting_since.load(Ordering::SeqCst).saturating_add(ms(limits.idle_timeout)),
            t => (t - 1).saturating_add(ms(limits.header_read_timeout)),
        })
    }
}

/// The open connections of one server.
#[derive(Debug)]
struct Registry {
    epoch: Instant,
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_millis(ms))
    }

    fn open(&self) -> (u64, Arc<Conn>) {
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(self.now()),
            head_started: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            close: Notify::new(),
            moved: Notify::new(),
        });
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, conn.clone());
        (id, conn)
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Picks the connection that has waited longest for a request (at least
    /// [`EVICTION_GRACE`]) and tells it to close; false when there is none.
    fn evict_one(&self) -> bool {
        let grace = u64::try_from(EVICTION_GRACE.as_millis()).unwrap_or(u64::MAX);
        let now = self.now();
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let victim = conns
            .values()
            .filter(|c| {
                c.in_flight.load(Ordering::SeqCst) == 0 && !c.evicted.load(Ordering::SeqCst)
            })
            .map(|c| (c.waiting_since.load(Ordering::SeqCst), c))
            .filter(|(since, _)| now.saturating_sub(*since) >= grace)
            .min_by_key(|(since, _)| *since);
        match victim {
            Some((_, c)) => {
                c.evicted.store(true, Ordering::SeqCst);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Tells every connection that is not handling a request to close.
    fn close_idle(&self) {
        for c in self.conns.lock().unwrap_or_else(|e| e.into_inner()).values() {
            if c.in_flight.load(Ordering::SeqCst) == 0 {
                c.close.notify_one();
            }
        }
    }
}

/// The stream of a connection, noting when the first byte of a request head
/// arrives.
struct Watched<T> {
    io: T,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let c = &self.conn;
            if c.in_flight.load(Ordering::SeqCst) == 0 {
                let now = self.registry.now() + 1;
                if c.head_started
                    .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    c.moved.notify_one();
                }
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Marks a request as handled while it lives; when it ends, the connection
/// starts to wait for the next one.
struct Busy {
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Busy {
    fn start(conn: &Arc<Conn>, registry: &Arc<Registry>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        conn.head_started.store(0, Ordering::SeqCst);
        Self { conn: conn.clone(), registry: registry.clone() }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn.waiting_since.store(self.registry.now(), Ordering::SeqCst);
        self.conn.head_started.store(0, Ordering::SeqCst);
        self.conn.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `router` on `listener` with `limits` until `shutdown` completes,
/// then waits for the requests in flight.
pub async fn serve_router<L: Listener>(
    mut listener: L,
    router: Router,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry {
        epoch: Instant::now(),
        next: AtomicU64::new(0),
        conns: Mutex::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            () = &mut shutdown => break,
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match make_room(&registry, &slots, max, &mut shutdown).await {
                Some(p) => p,
                None => break,
            },
        };
        let conn = Connection { registry: registry.clone(), limits, stop: stop_rx.clone() };
        tokio::spawn(conn.run(io, router.clone(), permit));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    registry.close_idle();
    // Every connection holds a slot until it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// At the cap: closes the connection that has waited longest for a request,
/// then waits for a free slot (trying again every 100 ms while every
/// connection is busy). `None` when `shutdown` completes first.
async fn make_room(
    registry: &Registry,
    slots: &Arc<Semaphore>,
    max: usize,
    shutdown: &mut Pin<&mut impl std::future::Future<Output = ()>>,
) -> Option<OwnedSemaphorePermit> {
    let mut warned = false;
    loop {
        if registry.evict_one() {
            tracing::debug!(max, "connection cap reached: closing the connection idle longest");
        } else if !warned {
            warned = true;
            tracing::warn!(
                max,
                "connection cap reached and every connection is busy: new connections wait"
            );
        }
        tokio::select! {
            p = slots.clone().acquire_owned() => return p.ok(),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            () = shutdown.as_mut() => return None,
        }
    }
}

/// What a connection's task needs besides its stream.
struct Connection {
    registry: Arc<Registry>,
    limits: ServerLimits,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run<T>(mut self, io: T, router: Router, _slot: OwnedSemaphorePermit)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (id, conn) = self.registry.open();
        let stream = Watched { io, conn: conn.clone(), registry: self.registry.clone() };
        let tower = TowerToHyperService::new(router);
        let (c, r) = (conn.clone(), self.registry.clone());
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::start(&c, &r);
            let answer = hyper::service::Service::call(&tower, req);
            async move {
                let out = answer.await;
                drop(busy);
                out
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The header read timeout is ours (see the module doc): hyper's would
        // also count the wait for the request.
        builder.header_read_timeout(None);
        // The read buffer is most of what an open connection costs; hyper
        // grows it to 16 KiB and more, for heads that are under 1 KiB here.
        builder.max_buf_size(READ_BUFFER);
        let mut http = std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
        let mut stopping = *self.stop.borrow();
        if stopping {
            http.as_mut().graceful_shutdown();
        }
        loop {
            let wake = match conn.deadline(&self.limits) {
                Some(at) => self.registry.at(at),
                None => {
                    let l = &self.limits;
                    tokio::time::Instant::now() + l.idle_timeout.min(l.header_read_timeout)
                }
            };
            tokio::select! {
                r = http.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = conn.close.notified() => {
                    if conn.in_flight.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    // A request arrived meanwhile: it stays, and may be
                    // picked again once it waits.
                    conn.evicted.store(false, Ordering::SeqCst);
                }
                () = conn.moved.notified() => {}
                _ = self.stop.changed(), if !stopping => {
                    stopping = true;
                    http.as_mut().graceful_shutdown();
                    if conn.in_flight.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if conn.deadline(&self.limits).is_some_and(|at| at <= self.registry.now()) {
                        let why = if conn.head_started.load(Ordering::SeqCst) == 0 {
                            "idle timeout"
                        } else {
                            "request head not complete within the header read timeout"
                        };
                        tracing::debug!(why, "closing a connection");
                        break;
                    }
                }
            }
        }
        self.registry.remove(id);
    }
}
