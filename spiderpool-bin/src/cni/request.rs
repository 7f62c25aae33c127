//! What a plugin is asked to do: the command and the parsed `CNI_*`
//! environment and stdin.

use std::path::PathBuf;

use spiderpool_core::cni::{self, CniArgs, CniError, NetConf, Version};

/// A CNI command (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `ADD`.
    Add,
    /// `DEL`.
    Del,
    /// `CHECK`.
    Check,
    /// `GC` (1.1.0).
    Gc,
    /// `STATUS` (1.1.0).
    Status,
    /// `VERSION`.
    Version,
}

impl Command {
    /// Parses `CNI_COMMAND` (exact, upper case as the spec writes it).
    pub fn parse(text: &str) -> Option<Command> {
        Some(match text {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "GC" => Command::Gc,
            "STATUS" => Command::Status,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    /// The `CNI_COMMAND` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Gc => "GC",
            Command::Status => "STATUS",
            Command::Version => "VERSION",
        }
    }

    /// True for the commands that act on one attachment (ADD, DEL, CHECK) and
    /// so need `CNI_CONTAINERID` and `CNI_IFNAME`.
    pub fn is_per_attachment(self) -> bool {
        matches!(self, Command::Add | Command::Del | Command::Check)
    }
}

/// One plugin invocation, validated by [`run`](super::run).
#[derive(Debug, Clone, PartialEq)]
pub struct CniRequest {
    /// The command (never [`Command::Version`]: the dispatch answers it).
    pub command: Command,
    /// `CNI_CONTAINERID` (empty for GC and STATUS).
    pub container_id: String,
    /// `CNI_NETNS` (`None` for GC and STATUS, and for DEL when the runtime
    /// no longer has a netns).
    pub netns: Option<String>,
    /// `CNI_IFNAME` (empty for GC and STATUS).
    pub ifname: String,
    /// `CNI_ARGS`, parsed.
    pub args: CniArgs,
    /// `CNI_PATH`, split on `:` (empty when unset).
    pub path: Vec<PathBuf>,
    /// stdin, decoded.
    pub config: NetConf,
    /// stdin, exactly as received (for the plugin's own keys).
    pub raw_config: Vec<u8>,
    /// The config's `cniVersion`, parsed (supported by the plugin).
    pub version: Version,
}

impl CniRequest {
    /// `prevResult` parsed according to the config's `cniVersion` (see
    /// [`NetConf::prev_result`]).
    pub fn prev_result(&self) -> Result<Option<cni::Result>, CniError> {
        self.config.prev_result()
    }

    /// The plugin's own view of stdin: any deserializable struct (code 6 on
    /// failure, naming the network config and the decoder's message).
    pub fn decode_config<T: serde::de::DeserializeOwned>(&self) -> Result<T, CniError> {
        serde_json::from_slice(&self.raw_config)
            .map_err(|e| CniError::decode("network config", e.to_string()))
    }
}
