//! The CNI protocol (spec 1.1.0 and the older versions we accept), as pure
//! types and functions:
//!
//! - [`version`]: [`Version`], [`SUPPORTED_VERSIONS`], the `VERSION` output;
//! - [`config`]: [`NetConf`] (one plugin's stdin) and [`ConfList`];
//! - [`result`]: the ADD [`Result`] in one current shape, converted to and
//!   from 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0 JSON, and the abbreviated IPAM form;
//! - [`error`]: [`ErrorCode`], [`CniError`] and the error JSON [`ErrorReply`];
//! - [`args`]: `CNI_ARGS` parsing ([`CniArgs`]).
//!
//! What it does not do: read the environment or stdin, execute plugins or
//! decide anything about networks. The dispatch in `spiderpool-bin` is the one
//! place that reads `CNI_*` variables and stdin and calls into this module.

pub mod args;
pub mod config;
pub mod error;
pub mod result;
pub mod version;

pub use args::CniArgs;
pub use config::{Attachment, ConfList, NetConf};
pub use error::{CniError, ErrorCode, ErrorReply};
pub use result::{Dns, Interface, IpConfig, Result, Route};
pub use version::{CURRENT_VERSION, SUPPORTED_VERSIONS, Version, VersionInfo};
