//! The crate's error type.
//!
//! Every message names its cause (the OS or netlink error) itself, because
//! callers put errors into one-line messages (CNI replies, logs). So the cause
//! is a field named `cause`, not a `#[source]`: a printer that also walks
//! `source()` (anyhow's `{:#}`, `Caused by:`) would print it a second time.

use std::path::PathBuf;

use spiderpool_core::coordinator::Side;

/// Errors of reading namespaces and applying plans. Each names the object and
/// the value that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The namespace file could not be opened.
    #[error("open network namespace {path}: {cause}")]
    OpenNetns {
        /// The namespace path.
        path: PathBuf,
        /// Cause (part of the message, not `source()`).
        cause: std::io::Error,
    },
    /// `setns` into the namespace failed.
    #[error("enter network namespace {netns}: {cause}")]
    EnterNetns {
        /// The namespace.
        netns: String,
        /// Cause (part of the message, not `source()`).
        cause: nix::Error,
    },
    /// The per-namespace thread could not run (runtime or socket creation).
    #[error("namespace worker: {what}: {cause}")]
    Worker {
        /// What was being set up.
        what: &'static str,
        /// Cause (part of the message, not `source()`).
        cause: std::io::Error,
    },
    /// The per-namespace thread panicked.
    #[error("namespace worker thread panicked")]
    WorkerPanicked,
    /// A netlink request failed.
    #[error("netlink {what}: {cause}")]
    Netlink {
        /// The request, with its key fields.
        what: String,
        /// Cause (part of the message, not `source()`).
        cause: rtnetlink::Error,
    },
    /// A link the operation needs does not exist.
    #[error("link {name:?} not found")]
    LinkNotFound {
        /// The link name.
        name: String,
    },
    /// A field holds a value this crate cannot use.
    #[error("invalid {field}: {value:?}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A sysctl could not be read or written.
    #[error("sysctl {key} ({path}): {cause}")]
    Sysctl {
        /// Dotted key.
        key: String,
        /// The `/proc/sys` path.
        path: PathBuf,
        /// Cause (part of the message, not `source()`).
        cause: std::io::Error,
    },
    /// An nftables request failed.
    #[error("nftables {what}: {cause}")]
    Nftables {
        /// The request.
        what: String,
        /// Cause (the kernel's errno as an I/O error; part of the message).
        cause: std::io::Error,
    },
    /// A probe's packet socket failed (open, send, receive).
    #[error("probe on {ifname}: {what}: {cause}")]
    Probe {
        /// The link.
        ifname: String,
        /// The step.
        what: &'static str,
        /// Cause (part of the message, not `source()`).
        cause: std::io::Error,
    },
    /// An operation of a plan failed.
    #[error("plan op #{index} ({side:?} {action} {kind}): {cause}")]
    Op {
        /// Index of the operation in `RoutePlan::ops`.
        index: usize,
        /// Side of the operation.
        side: Side,
        /// `add`, `del` or `set`.
        action: &'static str,
        /// `link`, `addr`, `route`, `rule`, `neigh`, `sysctl`, `mac`, `mark`.
        kind: &'static str,
        /// Cause (part of the message, not `source()`).
        cause: Box<Error>,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A netlink error with a description of the request.
    pub(crate) fn netlink(what: impl Into<String>, cause: rtnetlink::Error) -> Self {
        Self::Netlink { what: what.into(), cause }
    }
}

/// The errno (positive) of a netlink error, if the kernel sent one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}
