//! Where an ADD without probes announces its addresses (gratuitous ARP /
//! unsolicited NA). Closing the packet socket that sends them waits for an
//! RCU grace period (`synchronize_net`, several milliseconds), so the plugin
//! binary does not do it in the process the runtime waits for: it hands the
//! announcement to the agent ([`Announce::Agent`]: one datagram on the
//! announce socket, the pod's namespace attached), or, when the agent's
//! announce socket is missing or full, to a detached copy of itself.

use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
use spiderpool_core::agent_api::{Announcement, MAX_ANNOUNCEMENT_BYTES, announce_socket};
use spiderpool_netlink::probe::Timing;

use super::{PLUGIN, probe};
use crate::cni::CniRequest;
use crate::cni::log::PluginLog;

/// Where the announcement of an ADD without probes runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Announce {
    /// In the plugin, before it answers (the runtime waits for the packet
    /// socket's close too).
    #[default]
    Inline,
    /// In a detached copy of the plugin binary (its own process group, no
    /// stdio, environment [`ANNOUNCE_ENV`] only), so ADD answers without
    /// waiting for it; the plugin binary's `main` runs [`announce_child`]
    /// when that variable is set. Falls back to `Inline` when the copy cannot
    /// start. Only for the plugin binary: `current_exe` is what is started.
    Detached,
    /// In the agent: one datagram to its announce socket, sent without
    /// waiting; when that fails (no announce socket: an agent without one;
    /// its queue full), as [`Announce::Detached`]. The plugin binary's mode.
    Agent,
}

/// The environment variable that makes the `spiderpool` binary an announcer
/// ([`Announce::Detached`]): a JSON [`AnnounceJob`].
pub const ANNOUNCE_ENV: &str = "SPIDERPOOL_ANNOUNCE_JOB";

/// What a detached announcer does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AnnounceJob {
    /// The pod's namespace path (`CNI_NETNS`).
    pub netns: String,
    /// The interface (`CNI_IFNAME`).
    pub ifname: String,
    /// The addresses to announce.
    pub ips: Vec<std::net::IpAddr>,
    /// The plugin's log file.
    pub log_file: PathBuf,
    /// The log prefix of the ADD it belongs to.
    pub log_prefix: String,
}

/// The announcer process ([`Announce::Detached`]): reads the job from
/// [`ANNOUNCE_ENV`], announces, logs, and returns the exit code (0, or 1 when
/// the job does not decode; announcement failures are only logged).
pub fn announce_child(job: &str) -> i32 {
    let job: AnnounceJob = match serde_json::from_str(job) {
        Ok(j) => j,
        Err(_) => return 1,
    };
    let log = PluginLog::open_in_place(PLUGIN, &job.log_file, job.log_prefix.clone());
    let targets: Vec<probe::Target> = job
        .ips
        .iter()
        .map(|ip| probe::Target { ip: *ip, conflict: false, gateway: None })
        .collect();
    let line = |m: &str| log.line(m);
    // Nothing is asked for: this never fails.
    let _ = probe::probe_and_announce(&job.netns, &job.ifname, &targets, Timing::default(), &line);
    0
}

/// Hands the announcement of `ips` on the ADD's interface in `netns` to the
/// agent serving `agent_socket` or to a detached announcer, as `mode` says;
/// false when it stays with the caller (`Inline`, or nothing could start).
pub(super) fn hand_off(
    mode: Announce,
    agent_socket: &Path,
    netns: &str,
    req: &CniRequest,
    ips: Vec<std::net::IpAddr>,
    log: &PluginLog,
) -> bool {
    if mode == Announce::Agent {
        let what = Announcement {
            if_name: req.ifname.clone(),
            ips: ips.clone(),
            container_id: req.container_id.clone(),
        };
        let to = announce_socket(agent_socket);
        match send_to_agent(&to, netns, &what) {
            Ok(()) => {
                log.line(&format!("announcement handed to the agent ({})", to.display()));
                return true;
            }
            Err(e) => log.line(&format!("announce socket {}: {e}", to.display())),
        }
    }
    if mode == Announce::Inline {
        return false;
    }
    let job = AnnounceJob {
        netns: netns.to_string(),
        ifname: req.ifname.clone(),
        ips,
        log_file: log.path().to_path_buf(),
        log_prefix: log.prefix().to_string(),
    };
    if spawn_announcer(&job) {
        log.line("announcement handed to a detached announcer");
        return true;
    }
    false
}

/// Sends `what` with `netns` opened and attached, without blocking.
fn send_to_agent(to: &Path, netns: &str, what: &Announcement) -> std::io::Result<()> {
    let body = serde_json::to_vec(what).map_err(std::io::Error::other)?;
    if body.len() > MAX_ANNOUNCEMENT_BYTES {
        return Err(std::io::Error::other("announcement longer than the agent reads"));
    }
    let ns = std::fs::File::open(netns)?;
    let sock = UnixDatagram::unbound()?;
    let addr = UnixAddr::new(to).map_err(std::io::Error::from)?;
    let fds = [ns.as_raw_fd()];
    let sent = sendmsg(
        sock.as_raw_fd(),
        &[IoSlice::new(&body)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_DONTWAIT,
        Some(&addr),
    )
    .map_err(std::io::Error::from)?;
    if sent != body.len() {
        return Err(std::io::Error::other("short datagram"));
    }
    Ok(())
}

/// Starts a detached announcer for `job`; false when it could not start.
fn spawn_announcer(job: &AnnounceJob) -> bool {
    use std::os::unix::process::CommandExt;
    let (Ok(exe), Ok(json)) = (std::env::current_exe(), serde_json::to_string(job)) else {
        return false;
    };
    std::process::Command::new(exe)
        .env_clear()
        .env(ANNOUNCE_ENV, json)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .is_ok()
}
