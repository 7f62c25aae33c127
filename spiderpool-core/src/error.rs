//! The crate-wide error type: one enum that wraps each module's typed error, for
//! callers that handle any failure of the core in one place. Each module's own
//! error stays available and names the field and value that are wrong.

use crate::allocator::AllocateError;
use crate::annotation::{AnnotationError, GlobError};
use crate::ip::IpError;
use crate::model::ModelError;
use crate::selection::SelectionError;
use crate::selector::SelectorError;
use crate::store::{PoolStateError, StoreError};

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An address, CIDR or range does not parse.
    #[error(transparent)]
    Ip(#[from] IpError),
    /// A resource or one of its JSON-string fields does not decode.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An annotation does not parse.
    #[error(transparent)]
    Annotation(#[from] AnnotationError),
    /// A pool-name pattern is malformed.
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// A label selector is invalid.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// No candidate pool.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// A pool object cannot be used.
    #[error(transparent)]
    PoolState(#[from] PoolStateError),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Allocation or release failed.
    #[error(transparent)]
    Allocate(#[from] AllocateError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_errors_convert_and_keep_their_message() {
        let ip = crate::ip::parse_ip("10.0.0.300").unwrap_err();
        let text = ip.to_string();
        let e: Error = ip.into();
        assert_eq!(e.to_string(), text);
        assert!(text.contains("10.0.0.300"), "{text}");
        let a = crate::annotation::parse_pod_ippools("[]").unwrap_err();
        let e: Error = a.into();
        assert!(e.to_string().starts_with("ipam.spidernet.io/ippools"), "{e}");
    }
}
