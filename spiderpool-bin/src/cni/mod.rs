//! CNI dispatch: the one place in the project that reads `CNI_COMMAND`,
//! `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH` and
//! stdin, calls a [`Plugin`] and writes its result or error JSON to stdout.
//!
//! A plugin binary's `main` is `std::process::exit(run_process(&MyPlugin))`.
//! Tests call [`run`] with an injected environment, stdin and stdout.
//!
//! The plugins' log file is [`log`] (the dispatch itself logs nothing:
//! plugins log to files, never to stdout).
//!
//! What it does not do: execute
//! delegated plugins, or know anything about a plugin's own config keys (a
//! plugin decodes them from [`CniRequest::raw_config`] or
//! [`NetConf::extra`](spiderpool_core::cni::NetConf)).

mod dispatch;
pub mod log;
mod request;

pub use dispatch::{run, run_process};
pub use request::{CniRequest, Command};

use spiderpool_core::cni::{self, CniError, SUPPORTED_VERSIONS};

/// A CNI plugin. [`run`] has already validated the environment and the
/// config (name, `cniVersion` supported by the plugin and allowed for the
/// command) before calling a method; a method only does the work.
///
/// Errors are [`CniError`]s: their variant fixes the code in the error JSON.
pub trait Plugin {
    /// The spec versions the plugin accepts (default: all of
    /// [`SUPPORTED_VERSIONS`]). Reported by VERSION and enforced by [`run`].
    fn supported_versions(&self) -> &[&str] {
        &SUPPORTED_VERSIONS
    }

    /// ADD: set up `ifname` in `netns` and return the result in the current
    /// shape; [`run`] converts it to the config's `cniVersion`. A chained plugin
    /// returns its (possibly modified) `prevResult` (see
    /// [`CniRequest::prev_result`]).
    fn add(&self, req: &CniRequest) -> Result<cni::Result, CniError>;

    /// DEL: undo ADD. Must succeed when the resources (or the netns,
    /// `req.netns` may be `None`) are already gone, and when called twice;
    /// `prevResult` may be absent or empty.
    fn del(&self, req: &CniRequest) -> Result<(), CniError>;

    /// CHECK (config version ≥ 0.4.0): error when something ADD set up is missing.
    fn check(&self, req: &CniRequest) -> Result<(), CniError>;

    /// GC (config version ≥ 1.1.0): release what belongs to attachments not in
    /// `req.config.valid_attachments`; keep going after a failure. The request
    /// has no container ID, netns or ifname.
    fn gc(&self, req: &CniRequest) -> Result<(), CniError>;

    /// STATUS (config version ≥ 1.1.0): `Ok` when ready for ADD, else
    /// [`CniError::NotAvailable`] (50) or [`CniError::LimitedConnectivity`]
    /// (51). The request has no container ID, netns or ifname.
    fn status(&self, req: &CniRequest) -> Result<(), CniError>;
}
