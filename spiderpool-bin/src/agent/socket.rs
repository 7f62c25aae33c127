//! The agent's unix socket, owned for the life of the process: one agent per
//! socket path.
//!
//! [`bind_socket`] takes an exclusive `flock` on `<socket>.lock` (mode 0600,
//! holding the owner's pid) and keeps it while the [`AgentSocket`] lives, so a
//! second agent on the same path refuses to start, naming the first one's
//! pid. An agent of an older version holds no lock: a connect probe on an
//! existing socket file finds it listening, and that is refused too. Only a
//! socket nobody listens on (a stale file) is replaced. At the end, the
//! socket file is removed only while it is still the one this agent bound
//! (same device and inode); the lock file stays (removing it would let two
//! agents lock two different files).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixListener;

/// How long the probe of an existing socket waits for a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the agent's socket cannot be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// Another agent holds the lock beside the socket.
    #[error(
        "socket {}: another spiderpool-agent ({holder}) holds {}; not starting a second agent on it",
        path.display(),
        lock.display()
    )]
    Locked {
        /// The socket.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as its lock file says (`pid N`).
        holder: String,
    },
    /// Something (an agent of an older version) answers on the socket.
    #[error(
        "socket {}: a live agent answers on it (one that holds no lock: an older version?); not replacing it",
        path.display()
    )]
    Live {
        /// The socket.
        path: PathBuf,
    },
    /// The path exists and is not a socket.
    #[error("socket {}: path exists and is not a socket; not replacing it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("socket {}: {what}: {source}", path.display())]
    Io {
        /// The path operated on.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The agent's socket: bound, mode 0600, with the lock beside it held. The
/// socket file is removed when this is dropped, if it is still the one bound
/// here.
#[derive(Debug)]
pub struct AgentSocket {
    file: SocketFile,
    listener: Option<UnixListener>,
    /// The locked `<socket>.lock`; the lock goes with the descriptor.
    _lock: File,
}

/// A socket file this agent bound: removed when dropped, if the path still
/// holds that file (device and inode), else left in place with a warning.
#[derive(Debug)]
pub(super) struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    /// The socket file just bound at `path`.
    pub(super) fn bound(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Self { path: path.to_path_buf(), id: (meta.dev(), meta.ino()) })
    }

    /// True while the file at the path is the one bound here.
    fn still_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id)
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.id => {
                let _ = std::fs::remove_file(&self.path);
            }
            Ok(_) => tracing::warn!(
                socket = %self.path.display(),
                "the socket path holds a file this agent did not create; left in place"
            ),
            Err(_) => {}
        }
    }
}

/// `<socket>.lock`: the lock file beside a socket.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut s = socket.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Binds the agent's socket at `path`: creates the parent directory, takes
/// the lock beside it, refuses when another agent holds the lock or answers
/// on the socket, replaces a stale socket file, binds and sets mode 0600
/// (root only). A path that exists and is not a socket is refused rather than
/// deleted. Must run inside a tokio runtime.
pub async fn bind_socket(path: &Path) -> Result<AgentSocket, SocketError> {
    let io = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| SocketError::Io { path: p, what, source }
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(io("create parent directory", parent))?;
    }
    let lock = take_lock(path)?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if is_live(path).await {
                return Err(SocketError::Live { path: path.to_path_buf() });
            }
            std::fs::remove_file(path).map_err(io("remove stale socket", path))?;
        }
        Ok(_) => return Err(SocketError::NotASocket { path: path.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("stat", path)(e)),
    }
    let listener = UnixListener::bind(path).map_err(io("bind", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("chmod 0600", path))?;
    let file = SocketFile::bound(path).map_err(io("stat", path))?;
    Ok(AgentSocket { file, listener: Some(listener), _lock: lock })
}

/// Opens `<socket>.lock` and takes its exclusive lock without waiting; writes
/// this process's pid into it.
fn take_lock(socket: &Path) -> Result<File, SocketError> {
    let path = lock_path(socket);
    let io = |what: &'static str| {
        let p = path.clone();
        move |source| SocketError::Io { path: p, what, source }
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io("open lock file"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = match text.trim() {
                "" => "pid unknown".to_string(),
                pid => format!("pid {pid}"),
            };
            return Err(SocketError::Locked { path: socket.to_path_buf(), lock: path, holder });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io("lock")(e)),
    }
    // It holds only a pid; owner-only like the socket all the same.
    crate::file_mode::restrict(&path, 0o600).map_err(io("chmod lock file"))?;
    file.set_len(0).map_err(io("truncate lock file"))?;
    writeln!(file, "{}", std::process::id()).map_err(io("write lock file"))?;
    Ok(file)
}

/// True when something accepts connections on the socket at `path` (or its
/// backlog is full, or it does not answer within [`PROBE_TIMEOUT`]).
async fn is_live(path: &Path) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::UnixStream::connect(path)).await {
        Ok(Ok(_)) | Err(_) => true,
        Ok(Err(e)) => {
            !matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound)
        }
    }
}

impl AgentSocket {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The listener (taken once, by the server).
    pub fn take_listener(&mut self) -> Option<UnixListener> {
        self.listener.take()
    }

    /// True while the file at the path is the socket bound here.
    pub fn still_ours(&self) -> bool {
        self.file.still_ours()
    }
}
