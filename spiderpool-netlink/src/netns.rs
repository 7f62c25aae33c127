//! Network namespaces: naming one, and running netlink work inside it on a
//! dedicated OS thread.
//!
//! A netlink socket (and `/proc/sys/net`) belongs to the namespace of the thread
//! that opened it. [`with_netns`] spawns a scoped thread, `setns`'s it into the
//! namespace, builds a current-thread tokio runtime there and hands the closure
//! an rtnetlink [`Handle`]. The thread never switches back: it just ends.

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::sched::{CloneFlags, setns};
use rtnetlink::Handle;

use crate::error::{Error, Result};

/// A network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// The namespace of the calling thread (the host side in production).
    Current,
    /// A namespace file: `CNI_NETNS`, `/var/run/netns/NAME`, `/proc/PID/ns/net`.
    Path(PathBuf),
}

impl Netns {
    /// A namespace by path.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self::Path(path.into())
    }

    /// The namespace file: the path, or `/proc/thread-self/ns/net`.
    fn file(&self) -> PathBuf {
        match self {
            Self::Current => PathBuf::from("/proc/thread-self/ns/net"),
            Self::Path(p) => p.clone(),
        }
    }

    /// Opens the namespace file. `Current` is resolved on the calling thread,
    /// so a worker thread spawned afterwards can return to it.
    pub(crate) fn open(&self) -> Result<OwnedFd> {
        let path = self.file();
        File::open(&path).map(OwnedFd::from).map_err(|cause| Error::OpenNetns { path, cause })
    }

    /// Which namespace this is: the device and inode of its file (`stat`
    /// follows the `/proc/.../ns/net` link to the nsfs inode; a bind mount
    /// under `/var/run/netns` has the same). `Current` is the calling
    /// thread's namespace. Two paths name the same namespace exactly when
    /// their ids are equal.
    pub fn id(&self) -> Result<NetnsId> {
        let path = self.file();
        let meta = std::fs::metadata(&path).map_err(|cause| Error::OpenNetns { path, cause })?;
        Ok(NetnsId { dev: meta.dev(), ino: meta.ino() })
    }
}

/// The identity of a network namespace (see [`Netns::id`]). Displays as the
/// kernel names it in `/proc/PID/ns/net`: `net:[<inode>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetnsId {
    /// Device of the nsfs file.
    pub dev: u64,
    /// Inode: the namespace's number.
    pub ino: u64,
}

impl fmt::Display for NetnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net:[{}]", self.ino)
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Current => f.write_str("current"),
            Self::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// An opened namespace: its file and its name for errors.
#[derive(Debug)]
pub(crate) struct NsFd {
    pub(crate) fd: OwnedFd,
    pub(crate) name: String,
}

impl NsFd {
    pub(crate) fn open(ns: &Netns) -> Result<Self> {
        Ok(Self { fd: ns.open()?, name: ns.to_string() })
    }

    /// Moves the calling thread into this namespace. Only call on a thread
    /// this crate spawned.
    pub(crate) fn enter(&self) -> Result<()> {
        setns(&self.fd, CloneFlags::CLONE_NEWNET)
            .map_err(|cause| Error::EnterNetns { netns: self.name.clone(), cause })
    }
}

/// Runs `f` on a fresh OS thread (scoped, so `f` may borrow) with a
/// current-thread tokio runtime, and waits for it.
pub(crate) fn on_worker<T, F, Fut>(f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|cause| Error::Worker { what: "tokio runtime", cause })?;
            rt.block_on(f())
        })
        .join()
        .map_err(|_| Error::WorkerPanicked)?
    })
}

/// Opens an rtnetlink connection in the calling thread's current namespace and
/// drives it on the current runtime. Call inside [`on_worker`].
pub(crate) fn connect() -> Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection()
        .map_err(|cause| Error::Worker { what: "netlink socket", cause })?;
    tokio::spawn(conn);
    Ok(handle)
}

/// [`connect`] with `NETLINK_GET_STRICT_CHK` on (Linux 4.20+): the kernel
/// then applies the filters of a dump request (a route dump's `RTA_TABLE`)
/// instead of ignoring them, and checks its header strictly, so every dump
/// and get request sent on it must leave the header fields it does not
/// filter on zero (see [`read`](crate::read)). A kernel without the option
/// gets a plain connection: its dumps are complete and the readers filter
/// in user space, which they always do.
pub(crate) fn connect_strict() -> Result<Handle> {
    let (conn, handle, _) = match rtnetlink::new_connection_with_strict_check() {
        Ok(c) => c,
        Err(_) => rtnetlink::new_connection()
            .map_err(|cause| Error::Worker { what: "netlink socket", cause })?,
    };
    tokio::spawn(conn);
    Ok(handle)
}

/// Runs `f` with an rtnetlink [`Handle`] whose socket lives in `ns`, on a
/// dedicated thread that entered `ns` (a `current_thread` tokio runtime drives
/// the socket). Blocks until `f` finishes; do not call it from inside an async
/// task without `spawn_blocking`.
pub fn with_netns<T, F, Fut>(ns: &Netns, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    let fd = NsFd::open(ns)?;
    on_worker(|| async move {
        fd.enter()?;
        let handle = connect()?;
        f(handle).await
    })
}
