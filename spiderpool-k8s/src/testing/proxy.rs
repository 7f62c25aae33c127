//! [`ApiProxy`]: a TCP proxy between a client and the real API server that a
//! test can cut — every connection dropped, new ones refused — and restore.
//!
//! It forwards bytes and nothing else (TLS passes through end to end), so a
//! client behind it talks to the real API server; cutting it is a network
//! fault, not an imitation of the server. The proxy listens on 127.0.0.1,
//! which the test environment's serving certificate names.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A cuttable TCP proxy (see the module doc). Dropping it stops it.
pub struct ApiProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: AbortHandle,
}

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    fn drop_connections(&self) {
        let list = match self.connections.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for connection in list {
            connection.abort();
        }
    }
}

impl ApiProxy {
    /// A proxy to `target` on a free port of 127.0.0.1.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept = tokio::spawn(accept_loop(listener, target, shared.clone())).abort_handle();
        Ok(Self { addr, shared, accept })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection and refuses new ones (they are accepted and
    /// closed at once) until [`ApiProxy::restore`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.drop_connections();
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.drop_connections();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else { continue };
        if shared.cut.load(Ordering::SeqCst) {
            drop(inbound);
            continue;
        }
        let task = tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        match shared.connections.lock() {
            Ok(mut list) => {
                list.retain(|c| !c.is_finished());
                list.push(task.abort_handle());
            }
            Err(_) => task.abort(),
        }
    }
}
