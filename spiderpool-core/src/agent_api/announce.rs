//! The announcement hand-off (ours): after an ADD that asks for no probe, the
//! IPAM plugin sends one [`Announcement`] datagram to the agent's announce
//! socket ([`announce_socket`]) with the pod's network namespace attached as
//! a file descriptor (`SCM_RIGHTS`), and answers the runtime at once; the
//! agent sends the gratuitous ARP / unsolicited NA from inside that
//! namespace. The descriptor, not the `CNI_NETNS` path, carries the
//! namespace, so the agent needs no view of the host's mounts. A plugin that
//! finds no announce socket announces by other means (a detached copy of
//! itself).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the agent announces: the datagram's body (JSON), the namespace
/// travels beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    /// The interface in the pod (`CNI_IFNAME`).
    pub if_name: String,
    /// The addresses to announce (every address of the ADD on `if_name`).
    pub ips: Vec<IpAddr>,
    /// The ADD's container, for the agent's log.
    #[serde(rename = "containerID")]
    pub container_id: String,
}

/// The largest datagram the agent reads; a longer one is refused.
pub const MAX_ANNOUNCEMENT_BYTES: usize = 8192;

/// The announce socket of the agent serving `agent_socket`: the same path
/// with `.announce` appended (`/var/run/spidernet/spiderpool.sock.announce`
/// for the default), so it lives in the directory the plugin already reaches.
pub fn announce_socket(agent_socket: &Path) -> PathBuf {
    let mut s = agent_socket.as_os_str().to_owned();
    s.push(".announce");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announce_socket_sits_beside_the_agent_socket() {
        assert_eq!(
            announce_socket(Path::new("/var/run/spidernet/spiderpool.sock")),
            PathBuf::from("/var/run/spidernet/spiderpool.sock.announce")
        );
    }

    #[test]
    fn an_announcement_is_camel_case_json() {
        let a = Announcement {
            if_name: "net1".into(),
            ips: vec!["10.6.0.5".parse().unwrap(), "fd00::5".parse().unwrap()],
            container_id: "c1".into(),
        };
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, r#"{"ifName":"net1","ips":["10.6.0.5","fd00::5"],"containerID":"c1"}"#);
        assert_eq!(serde_json::from_str::<Announcement>(&j).unwrap(), a);
    }
}
