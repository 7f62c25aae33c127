//! The `ipam` object of the network config: Spiderpool's keys plus
//! `release_journal_path`.

use std::path::PathBuf;

use serde::Deserialize;
use spiderpool_core::agent_api::DEFAULT_SOCKET;
use spiderpool_core::cni::CniError;

/// Default log file of the plugin (the plugins' log: [`crate::cni::log`]).
pub use crate::cni::log::IPAM_LOG_FILE as DEFAULT_LOG_FILE;

/// Default release journal (DEL while the agent is unreachable).
pub const DEFAULT_RELEASE_JOURNAL: &str = "/var/lib/spiderpool/release-journal.jsonl";

/// The plugin's `ipam` keys (unknown keys are ignored, as Spiderpool does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IpamConfig {
    /// `type` (`spiderpool`).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `default_ipv4_ippool`: pools tried for IPv4 when no annotation names one.
    #[serde(default)]
    pub default_ipv4_ippool: Vec<String>,
    /// `default_ipv6_ippool`: pools tried for IPv6.
    #[serde(default)]
    pub default_ipv6_ippool: Vec<String>,
    /// `clean_gateway`: no default route through the pool's gateway.
    #[serde(default)]
    pub clean_gateway: bool,
    /// `ipam_unix_socket_path`: the agent socket.
    #[serde(default)]
    pub ipam_unix_socket_path: Option<String>,
    /// `match_master_subnet` (SR-IOV; passed to the agent, unused on one machine).
    #[serde(default)]
    pub match_master_subnet: bool,
    /// `log_level` (accepted; the plugin logs every command).
    #[serde(default)]
    pub log_level: Option<String>,
    /// `log_file_path`: the plugin's log (default [`DEFAULT_LOG_FILE`]).
    #[serde(default)]
    pub log_file_path: Option<String>,
    /// `log_file_max_size` (accepted, no rotation).
    #[serde(default)]
    pub log_file_max_size: Option<serde_json::Value>,
    /// `log_file_max_age` (accepted, no rotation).
    #[serde(default)]
    pub log_file_max_age: Option<serde_json::Value>,
    /// `log_file_max_count` (accepted, no rotation).
    #[serde(default)]
    pub log_file_max_count: Option<serde_json::Value>,
    /// `release_journal_path` (ours): where DEL records releases the agent
    /// could not take (default [`DEFAULT_RELEASE_JOURNAL`]).
    #[serde(default)]
    pub release_journal_path: Option<String>,
}

#[derive(Deserialize)]
struct Outer {
    #[serde(default)]
    ipam: Option<serde_json::Value>,
}

impl IpamConfig {
    /// Decodes the `ipam` object of a network config (code 6 naming `ipam`
    /// when it does not decode; an absent `ipam` gives the defaults).
    pub fn from_netconf(raw: &[u8]) -> Result<IpamConfig, CniError> {
        let outer: Outer = serde_json::from_slice(raw)
            .map_err(|e| CniError::decode("network config", e.to_string()))?;
        match outer.ipam {
            None | Some(serde_json::Value::Null) => Ok(IpamConfig::default()),
            Some(v) => serde_path_to_error::deserialize(v).map_err(|e| {
                CniError::decode(format!("ipam.{}", e.path()), e.into_inner().to_string())
            }),
        }
    }

    /// The agent socket (`ipam_unix_socket_path` or the agent's default).
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(
            self.ipam_unix_socket_path
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(DEFAULT_SOCKET),
        )
    }

    /// The log file.
    pub fn log_file(&self) -> PathBuf {
        PathBuf::from(
            self.log_file_path.as_deref().filter(|s| !s.is_empty()).unwrap_or(DEFAULT_LOG_FILE),
        )
    }

    /// The release journal.
    pub fn journal(&self) -> PathBuf {
        PathBuf::from(
            self.release_journal_path
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(DEFAULT_RELEASE_JOURNAL),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_decode_and_a_bad_type_is_named() {
        let c = IpamConfig::from_netconf(
            br#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":"spiderpool","default_ipv4_ippool":["10-6-v4"],"clean_gateway":true,"ipam_unix_socket_path":"/s.sock","release_journal_path":"/j"}}"#,
        )
        .unwrap();
        assert_eq!(c.default_ipv4_ippool, ["10-6-v4"]);
        assert!(c.clean_gateway);
        assert_eq!(c.socket(), PathBuf::from("/s.sock"));
        assert_eq!(c.journal(), PathBuf::from("/j"));
        let e = IpamConfig::from_netconf(
            br#"{"name":"n","ipam":{"type":"spiderpool","clean_gateway":"yes"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ipam.clean_gateway"), "{e}");
    }
}
