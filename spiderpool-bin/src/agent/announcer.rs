//! The agent's announcer: serves the announce socket
//! ([`spiderpool_core::agent_api::announce_socket`]). The IPAM plugin's ADD
//! sends one [`Announcement`] datagram with the pod's network namespace
//! attached (`SCM_RIGHTS`) and answers the runtime at once; here each
//! announcement runs on a thread of its own (entering the namespace through
//! the descriptor, sending the gratuitous ARP / unsolicited NA, closing the
//! packet socket, which waits for an RCU grace period — the reason it is
//! not done in the plugin's process).
//!
//! The socket is mode 0600 in the agent socket's directory. A datagram that
//! does not decode, carries no namespace or more than one descriptor is
//! logged and dropped, its descriptors closed. At most [`MAX_RUNNING`]
//! announcements run at once; beyond that the receiver waits, the socket's
//! queue fills, and plugins, which send without blocking, fall back to
//! announcing themselves.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use spiderpool_core::agent_api::{Announcement, MAX_ANNOUNCEMENT_BYTES};
use spiderpool_netlink::Netns;

use super::socket::SocketFile;

/// Announcements running at once, at most.
pub const MAX_RUNNING: usize = 32;

/// The bound announce socket; the file is removed when this is dropped (if
/// it is still the one bound here).
#[derive(Debug)]
pub struct AnnounceSocket {
    _file: SocketFile,
}

/// Binds the announce socket at `path` (replacing a stale socket file; the
/// agent socket's lock already keeps a second agent out) and starts its
/// receiver thread.
pub fn serve_announcements(path: &Path) -> std::io::Result<AnnounceSocket> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a socket",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let sock = UnixDatagram::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let file = SocketFile::bound(path)?;
    let slots = Arc::new(Slots::default());
    std::thread::Builder::new()
        .name("announce-recv".into())
        .spawn(move || receive_loop(&sock, &slots))?;
    Ok(AnnounceSocket { _file: file })
}

/// Received descriptors, closed when dropped.
#[derive(Debug)]
struct Fds(Vec<RawFd>);

impl Drop for Fds {
    fn drop(&mut self) {
        for fd in self.0.drain(..) {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// Counts running announcements (at most [`MAX_RUNNING`]).
#[derive(Default)]
struct Slots {
    running: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn take(&self) {
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_RUNNING {
            n = self.freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
    }

    fn give(&self) {
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.freed.notify_one();
    }
}

/// Receive failures in a row after which the receiver gives up (a socket
/// that fails every read).
const MAX_FAILURES: u32 = 100;

fn receive_loop(sock: &UnixDatagram, slots: &Arc<Slots>) {
    let mut failures = 0;
    loop {
        let (body, fds) = match receive(sock) {
            Ok(got) => got,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                failures += 1;
                if failures >= MAX_FAILURES {
                    tracing::warn!(error = %e, "announce socket: receive keeps failing; stopped announcing");
                    return;
                }
                tracing::warn!(error = %e, "announce socket: receive failed");
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        failures = 0;
        let job = match check(&body, fds) {
            Ok(job) => job,
            Err(why) => {
                tracing::warn!(%why, "announce socket: datagram dropped");
                continue;
            }
        };
        slots.take();
        let s = slots.clone();
        let started = std::thread::Builder::new().name("announce".into()).spawn(move || {
            job.run();
            s.give();
        });
        if let Err(e) = started {
            slots.give();
            tracing::warn!(error = %e, "announce socket: no thread for an announcement; dropped");
        }
    }
}

/// One datagram: its body and the descriptors that came with it.
fn receive(sock: &UnixDatagram) -> nix::Result<(Vec<u8>, Fds)> {
    let mut buf = vec![0u8; MAX_ANNOUNCEMENT_BYTES];
    // Room for as many descriptors as one message can carry (the kernel's
    // SCM_MAX_FD), so that none is ever cut off, left open and lost to us:
    // `check` refuses every count but one and `Fds` closes them.
    let mut cmsg = nix::cmsg_space!([RawFd; 253]);
    let (n, truncated, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg =
            recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
        let mut fds = Fds(Vec::new());
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(f) = c {
                fds.0.extend(f);
            }
        }
        (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC), fds)
    };
    buf.truncate(if truncated { 0 } else { n });
    Ok((buf, fds))
}

/// An announcement to run, with the namespace it runs in.
#[derive(Debug)]
struct Job {
    what: Announcement,
    netns: Fds,
}

fn check(body: &[u8], fds: Fds) -> Result<Job, String> {
    if fds.0.len() != 1 {
        return Err(format!("{} descriptors attached, want the pod's namespace only", fds.0.len()));
    }
    if body.is_empty() {
        return Err(format!("empty or longer than {MAX_ANNOUNCEMENT_BYTES} bytes"));
    }
    let what: Announcement =
        serde_json::from_slice(body).map_err(|e| format!("not an announcement: {e}"))?;
    if what.ips.is_empty() || what.if_name.is_empty() {
        return Err("no interface or no address to announce".into());
    }
    Ok(Job { what, netns: fds })
}

impl Job {
    fn run(self) {
        let start = Instant::now();
        // The thread entering the namespace opens it again through this path;
        // `self.netns` keeps the descriptor open until then.
        let ns = Netns::path(format!("/proc/self/fd/{}", self.netns.0[0]));
        let a = &self.what;
        match spiderpool_netlink::probe::announce(&ns, &a.if_name, &a.ips) {
            Ok(()) => tracing::info!(
                container = %a.container_id,
                interface = %a.if_name,
                ips = ?a.ips,
                ms = start.elapsed().as_millis() as u64,
                "announced"
            ),
            Err(e) => tracing::warn!(
                container = %a.container_id,
                interface = %a.if_name,
                ips = ?a.ips,
                error = %e,
                "announcement failed (ignored)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fds(n: usize) -> Fds {
        use std::os::fd::IntoRawFd;
        Fds((0..n).map(|_| nix::unistd::dup(std::io::stdin()).unwrap().into_raw_fd()).collect())
    }

    /// Sends `body` with `n` descriptors (of stdin) from `tx`.
    fn send(tx: &UnixDatagram, body: &[u8], n: usize) {
        use nix::sys::socket::{ControlMessage, sendmsg};
        let raw: Vec<RawFd> = vec![std::io::stdin().as_raw_fd(); n];
        let cmsgs: Vec<ControlMessage<'_>> =
            if n == 0 { Vec::new() } else { vec![ControlMessage::ScmRights(&raw)] };
        let iov = [std::io::IoSlice::new(body)];
        sendmsg::<()>(tx.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None).unwrap();
    }

    #[test]
    fn receive_returns_the_body_and_the_descriptors_and_refuses_too_many() {
        let (tx, rx) = UnixDatagram::pair().unwrap();
        send(&tx, b"one", 1);
        let (body, fds) = receive(&rx).unwrap();
        assert_eq!((body.as_slice(), fds.0.len()), (&b"one"[..], 1));
        send(&tx, b"none", 0);
        let (body, fds) = receive(&rx).unwrap();
        assert_eq!((body.as_slice(), fds.0.len()), (&b"none"[..], 0));
        // More than one: received (and closed when dropped), refused by `check`.
        send(&tx, b"many", 6);
        let (body, fds) = receive(&rx).unwrap();
        assert_eq!(fds.0.len(), 6);
        assert!(check(&body, fds).unwrap_err().contains("6 descriptors"));
        send(&tx, b"after", 1);
        let (body, fds) = receive(&rx).unwrap();
        assert_eq!((body.as_slice(), fds.0.len()), (&b"after"[..], 1));
        // Longer than the receiver reads: an empty body, refused by `check`.
        send(&tx, &vec![b'x'; MAX_ANNOUNCEMENT_BYTES + 1], 1);
        let (body, fds) = receive(&rx).unwrap();
        assert!(check(&body, fds).unwrap_err().contains("longer than"));
    }

    #[test]
    fn a_datagram_needs_one_namespace_and_a_decodable_body() {
        let body = br#"{"ifName":"net1","ips":["10.6.0.5"],"containerID":"c"}"#;
        assert!(check(body, fds(1)).is_ok());
        assert!(check(body, fds(0)).unwrap_err().contains("0 descriptors"));
        assert!(check(body, fds(2)).unwrap_err().contains("2 descriptors"));
        assert!(check(b"", fds(1)).unwrap_err().contains("empty"));
        assert!(check(b"{}", fds(1)).unwrap_err().contains("not an announcement"));
        let none = br#"{"ifName":"net1","ips":[],"containerID":"c"}"#;
        assert!(check(none, fds(1)).unwrap_err().contains("no address"));
    }
}
