//! Linux network interface names: the one rule every parser in the core uses
//! for a name a pod NIC may get (the Multus network list in both its forms,
//! `ipam.spidernet.io/default-route-nic`).
//!
//! The rule is the kernel's `dev_valid_name` (`net/core/dev.c`): 1 to 15 bytes
//! (`IFNAMSIZ` − 1), not `.` or `..`, and no `/`, `:`, whitespace (C `isspace`)
//! or NUL. Anything else — upper case, `_`, `.`, non-ASCII — is a name the
//! kernel accepts, so it is accepted here too.

/// The longest interface name, in bytes (`IFNAMSIZ` − 1).
pub const MAX_LEN: usize = 15;

/// Why a string cannot be a Linux interface name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IfnameError {
    /// The empty string.
    #[error("an interface name must not be empty")]
    Empty,
    /// More than [`MAX_LEN`] bytes.
    #[error("interface name {name:?} is longer than {MAX_LEN} bytes")]
    TooLong {
        /// The name.
        name: String,
    },
    /// `.` or `..`.
    #[error("interface name {name:?} is not allowed")]
    Reserved {
        /// The name.
        name: String,
    },
    /// A `/`, `:`, whitespace or NUL character.
    #[error("interface name {name:?} contains the forbidden character {c:?}")]
    ForbiddenChar {
        /// The name.
        name: String,
        /// The first forbidden character.
        c: char,
    },
}

/// Checks `name` with the kernel's `dev_valid_name` rule (see the module docs).
pub fn validate(name: &str) -> Result<(), IfnameError> {
    if name.is_empty() {
        return Err(IfnameError::Empty);
    }
    if name.len() > MAX_LEN {
        return Err(IfnameError::TooLong { name: name.to_string() });
    }
    if name == "." || name == ".." {
        return Err(IfnameError::Reserved { name: name.to_string() });
    }
    // C isspace(): space, \t, \n, \v, \f, \r
    let bad = |c: char| matches!(c, '/' | ':' | '\0' | ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    match name.chars().find(|&c| bad(c)) {
        Some(c) => Err(IfnameError::ForbiddenChar { name: name.to_string(), c }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn kernel_rule() {
        for ok in ["eth0", "net1", "my_if", "Net1", "eth0.100", "a", "123456789012345", "é", "a-b"]
        {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("", "an interface name must not be empty"),
            ("1234567890123456", "interface name \"1234567890123456\" is longer than 15 bytes"),
            ("ééééééééé", "is longer than 15 bytes"),
            (".", "interface name \".\" is not allowed"),
            ("..", "is not allowed"),
            ("a/b", "contains the forbidden character '/'"),
            ("a:b", "contains the forbidden character ':'"),
            ("a b", "contains the forbidden character ' '"),
            ("a\tb", "contains the forbidden character '\\t'"),
            ("a\x0bb", "contains the forbidden character '\\u{b}'"),
            ("a\0", "contains the forbidden character '\\0'"),
        ];
        for (name, want) in bad {
            let msg = validate(name).map_err(|e| e.to_string()).unwrap_err();
            assert!(msg.contains(want), "{name:?}: {msg}");
        }
        // Not C whitespace, so the kernel takes it.
        assert_eq!(validate("a\u{a0}b"), Ok(()));
    }
}
