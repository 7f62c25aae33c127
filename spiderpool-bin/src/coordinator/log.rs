//! Where the coordinator logs: `logOptions.logFile` of its netconf (default
//! [`DEFAULT_LOG_FILE`]), with the pod's `NS/NAME` on each line of the
//! plugins' shared log ([`crate::cni::log`]).

use std::path::PathBuf;

use crate::cni::CniRequest;
pub use crate::cni::log::COORDINATOR_LOG_FILE as DEFAULT_LOG_FILE;
pub use crate::cni::log::PluginLog as Log;

/// Opens the log named by `logOptions.logFile` in the request's netconf
/// (default [`DEFAULT_LOG_FILE`]); read leniently, so that a netconf that
/// does not decode still logs where it says.
pub fn for_request(req: &CniRequest) -> Log {
    let path = serde_json::from_slice::<serde_json::Value>(&req.raw_config)
        .ok()
        .and_then(|v| v.pointer("/logOptions/logFile").and_then(|f| f.as_str()).map(str::to_owned))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_LOG_FILE.to_owned());
    Log::open("coordinator", &PathBuf::from(path), Log::pod_prefix(req))
}
