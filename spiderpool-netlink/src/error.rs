//! The crate's error type.

use std::path::PathBuf;

use spiderpool_core::coordinator::Side;

/// Errors of reading namespaces and applying plans. Each names the object and
/// the value that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The namespace file could not be opened.
    #[error("open network namespace {path}: {source}")]
    OpenNetns {
        /// The namespace path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `setns` into the namespace failed.
    #[error("enter network namespace {netns}: {source}")]
    EnterNetns {
        /// The namespace.
        netns: String,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// The per-namespace thread could not run (runtime or socket creation).
    #[error("namespace worker: {what}: {source}")]
    Worker {
        /// What was being set up.
        what: &'static str,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The per-namespace thread panicked.
    #[error("namespace worker thread panicked")]
    WorkerPanicked,
    /// A netlink request failed.
    #[error("netlink {what}: {source}")]
    Netlink {
        /// The request, with its key fields.
        what: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
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
    #[error("sysctl {key} ({path}): {source}")]
    Sysctl {
        /// Dotted key.
        key: String,
        /// The `/proc/sys` path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// An nftables request failed.
    #[error("nftables {what}: {source}")]
    Nftables {
        /// The request.
        what: String,
        /// Cause (the kernel's errno as an I/O error).
        #[source]
        source: std::io::Error,
    },
    /// A probe's packet socket failed (open, send, receive).
    #[error("probe on {ifname}: {what}: {source}")]
    Probe {
        /// The link.
        ifname: String,
        /// The step.
        what: &'static str,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// An operation of a plan failed.
    #[error("plan op #{index} ({side:?} {action} {kind}): {source}")]
    Op {
        /// Index of the operation in `RoutePlan::ops`.
        index: usize,
        /// Side of the operation.
        side: Side,
        /// `add`, `del` or `set`.
        action: &'static str,
        /// `link`, `addr`, `route`, `rule`, `neigh`, `sysctl`, `mac`, `mark`.
        kind: &'static str,
        /// Cause.
        #[source]
        source: Box<Error>,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A netlink error with a description of the request.
    pub(crate) fn netlink(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        Self::Netlink { what: what.into(), source }
    }
}

/// The errno (positive) of a netlink error, if the kernel sent one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}
