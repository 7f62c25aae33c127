//! Shared by the tests that talk to an agent: temp directories and an
//! in-process agent served on a unix socket from a thread of its own.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use spiderpool_bin::agent::{Agent, AgentStore, ServerLimits, bind_socket, serve};

pub mod process;
pub mod raw_http;

/// A fresh directory `/tmp/<prefix>-<pid>-<n>`, removed on drop. (Kept short:
/// agent sockets live in it and a socket path has at most 107 bytes.)
pub struct Dir(pub PathBuf);

impl Dir {
    /// A new, empty directory.
    pub fn new(prefix: &str) -> Dir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An agent serving on a socket until dropped (then the socket file is
/// removed). The agent, and its store, outlive the server, so a test can stop
/// serving and serve again.
pub struct Serving {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Serves `agent` on `socket` (parent directories created) from a thread with
/// a 2-worker tokio runtime; returns once the socket is bound.
pub fn serve_agent<S: AgentStore>(agent: Arc<Agent<S>>, socket: &Path) -> Serving {
    serve_agent_with(agent, socket, ServerLimits::default())
}

/// [`serve_agent`] with the server's limits.
pub fn serve_agent_with<S: AgentStore>(
    agent: Arc<Agent<S>>,
    socket: &Path,
    limits: ServerLimits,
) -> Serving {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sock = socket.to_path_buf();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let socket = bind_socket(&sock).await.unwrap();
            ready_tx.send(()).unwrap();
            serve(socket, agent, limits, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Serving { stop: Some(tx), thread: Some(thread) }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
