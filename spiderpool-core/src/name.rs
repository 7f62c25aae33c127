//! Name rules, one validator per rule, each as the system that owns the name
//! checks it. Every caller in the workspace uses these (admission, the
//! annotation and `CNI_ARGS` parsers, the agent API, the CNI dispatch,
//! `spiderpoolctl cni`):
//!
//! - Kubernetes object names and namespaces (`k8s.io/apimachinery`
//!   `IsDNS1123Label` / `IsDNS1123Subdomain`, and the rule each kind's API
//!   validation picks: [`ObjectNameRule`], per kind in [`crate::kind`]);
//! - Linux interface names (the kernel's `dev_valid_name`:
//!   [`interface_name`]);
//! - CNI container IDs and network names (the CNI spec and libcni:
//!   [`container_id`], [`is_cni_identifier`]);
//! - pod UIDs ([`pod_uid`]).
//!
//! Every check returns typed reasons, worded as the owner words them, without
//! repeating the value (callers name the field and the value).

/// Maximum length of a DNS-1123 label (namespaces, StatefulSets).
pub const DNS1123_LABEL_MAX: usize = 63;
/// Maximum length of a DNS-1123 subdomain (most object names).
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// Maximum length of a Linux interface name (`IFNAMSIZ` − 1).
pub const IFNAME_MAX: usize = 15;
/// Maximum length this project accepts for a CNI container ID (the spec sets
/// none; runtimes use 64 hex digits or a UUID).
pub const CONTAINER_ID_MAX: usize = 256;

const LABEL_FORMAT: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
     characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', \
     or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_FORMAT: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
     (e.g. 'example.com', regex used for validation is \
     '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Why a value breaks a Kubernetes DNS-1123 rule, worded as apimachinery
/// words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsNameError {
    /// Longer than the rule allows.
    #[error("must be no more than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Not `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
    #[error("{}", LABEL_FORMAT)]
    NotLabel,
    /// Not dot-separated labels.
    #[error("{}", SUBDOMAIN_FORMAT)]
    NotSubdomain,
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`: the characters of a DNS-1123 label,
/// without its length limit (Multus checks the names of its network list
/// this way).
pub fn is_dns1123_label_format(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// `IsDNS1123Label`: the reasons `s` is not a DNS-1123 label (empty when it
/// is one): at most 63 characters, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
pub fn dns1123_label(s: &str) -> Vec<DnsNameError> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(DnsNameError::TooLong { max: DNS1123_LABEL_MAX });
    }
    if !is_dns1123_label_format(s) {
        errs.push(DnsNameError::NotLabel);
    }
    errs
}

/// `IsDNS1123Subdomain`: the reasons `s` is not a DNS-1123 subdomain (empty
/// when it is one): at most 253 characters, dot-separated labels.
pub fn dns1123_subdomain(s: &str) -> Vec<DnsNameError> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(DnsNameError::TooLong { max: DNS1123_SUBDOMAIN_MAX });
    }
    if !s.split('.').all(is_dns1123_label_format) {
        errs.push(DnsNameError::NotSubdomain);
    }
    errs
}

/// How the API server checks the name of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectNameRule {
    /// A DNS-1123 subdomain of at most `max` characters (253 for most kinds;
    /// CronJob: 52, so that its Jobs' names fit).
    Subdomain {
        /// The length limit.
        max: usize,
    },
    /// A DNS-1123 label (at most 63 characters).
    Label,
}

impl ObjectNameRule {
    /// The reasons `name` breaks the rule (empty when it does not).
    pub fn check(self, name: &str) -> Vec<DnsNameError> {
        match self {
            ObjectNameRule::Label => dns1123_label(name),
            ObjectNameRule::Subdomain { max } => {
                let mut errs = dns1123_subdomain(name);
                if max < DNS1123_SUBDOMAIN_MAX && name.len() > max {
                    errs.insert(0, DnsNameError::TooLong { max });
                }
                errs
            }
        }
    }
}

/// Why a string is not a Linux interface name. Worded to follow the name
/// (`interface name "a:b" contains the forbidden character ':' ...`) or a
/// field and its value (`CNI_IFNAME "a:b": contains ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterfaceNameError {
    /// The empty string.
    #[error("must not be empty")]
    Empty,
    /// More than [`IFNAME_MAX`] bytes.
    #[error("is longer than {IFNAME_MAX} bytes")]
    TooLong,
    /// `.` or `..`.
    #[error("is not allowed (an interface name must not be . or ..)")]
    Reserved,
    /// A `/`, `:`, NUL or ASCII whitespace character.
    #[error(
        "contains the forbidden character {c:?} (an interface name must not contain '/', ':', NUL or whitespace)"
    )]
    ForbiddenChar {
        /// The first forbidden character.
        c: char,
    },
    /// A character whose UTF-8 encoding holds the byte 0xA0, which the
    /// kernel's `isspace` counts as whitespace (Latin-1's no-break space).
    #[error(
        "contains {c:?}, whose UTF-8 encoding holds the byte 0xA0, which the kernel counts as whitespace"
    )]
    KernelSpaceByte {
        /// The character.
        c: char,
    },
}

/// The kernel's `dev_valid_name` (`net/core/dev.c`): whether `name` can be a
/// Linux interface name. Not empty, at most 15 bytes (`IFNAMSIZ` − 1), not
/// `.` or `..`, and no `/`, `:`, NUL or whitespace as the kernel's `isspace`
/// sees it, byte by byte: space, `\t`, `\n`, `\v`, `\f`, `\r` and 0xA0.
/// Anything else — upper case, `_`, `.`, other non-ASCII — the kernel
/// accepts, and so does this. (libcni also rejects Unicode whitespace such
/// as U+2003, which the kernel takes; a runtime never passes such a name.)
pub fn interface_name(name: &str) -> Result<(), InterfaceNameError> {
    if name.is_empty() {
        return Err(InterfaceNameError::Empty);
    }
    if name.len() > IFNAME_MAX {
        return Err(InterfaceNameError::TooLong);
    }
    if name == "." || name == ".." {
        return Err(InterfaceNameError::Reserved);
    }
    for c in name.chars() {
        if matches!(c, '/' | ':' | '\0' | ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r') {
            return Err(InterfaceNameError::ForbiddenChar { c });
        }
        let mut utf8 = [0u8; 4];
        if c.encode_utf8(&mut utf8).bytes().any(|b| b == 0xA0) {
            return Err(InterfaceNameError::KernelSpaceByte { c });
        }
    }
    Ok(())
}

/// Why a string is not a CNI container ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerIdError {
    /// The empty string.
    #[error("must not be empty")]
    Empty,
    /// More than [`CONTAINER_ID_MAX`] bytes.
    #[error("must be no more than {CONTAINER_ID_MAX} characters")]
    TooLong,
    /// Not libcni's `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
    #[error("must start with a letter or digit and contain only letters, digits, '_', '.' and '-'")]
    Format,
}

/// True for `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`: libcni's rule for network names
/// and container IDs.
pub fn is_cni_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The CNI spec's container ID: not empty, an ASCII letter or digit first,
/// then letters, digits, `_`, `.` or `-` ([`is_cni_identifier`]); at most
/// [`CONTAINER_ID_MAX`] bytes.
pub fn container_id(id: &str) -> Result<(), ContainerIdError> {
    if id.is_empty() {
        return Err(ContainerIdError::Empty);
    }
    if id.len() > CONTAINER_ID_MAX {
        return Err(ContainerIdError::TooLong);
    }
    if !is_cni_identifier(id) {
        return Err(ContainerIdError::Format);
    }
    Ok(())
}

/// Maximum length of a pod UID as the plugin and the agent accept it.
pub const POD_UID_MAX: usize = 128;

/// Why a string is not a pod UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("letters, digits and '-', at most {POD_UID_MAX}")]
pub struct PodUidError;

/// A pod UID (`K8S_POD_UID`, `podUID`): ASCII letters, digits and `-`, at
/// most [`POD_UID_MAX`] (Kubernetes writes UUIDs). The empty string passes:
/// whether a UID is required is the caller's rule.
pub fn pod_uid(uid: &str) -> Result<(), PodUidError> {
    let ok =
        uid.len() <= POD_UID_MAX && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok { Ok(()) } else { Err(PodUidError) }
}

/// A value for an error message: the value itself, or its first 64
/// characters and its length when it is longer than 256 bytes (a 100,000
/// character name is not echoed back whole).
pub fn shown(value: &str) -> String {
    const LIMIT: usize = 256;
    if value.len() <= LIMIT {
        return value.to_string();
    }
    let head: String = value.chars().take(64).collect();
    format!("{head}... ({} bytes)", value.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn labels_and_subdomains_follow_apimachinery() {
        for ok in ["a", "abc-123", "0", &"a".repeat(63)] {
            assert!(dns1123_label(ok).is_empty(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "a b", &"a".repeat(64)] {
            assert!(!dns1123_label(bad).is_empty(), "{bad}");
        }
        assert_eq!(dns1123_label(&"a".repeat(64)), [DnsNameError::TooLong { max: 63 }]);
        for ok in ["a", "a.b", "example.com", "10-6-v4", &"a".repeat(253)] {
            assert!(dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in ["", ".", "a..b", "../../etc/Bad_Name", "UPPER_case", "a.", "x y"] {
            assert_eq!(dns1123_subdomain(bad), [DnsNameError::NotSubdomain], "{bad}");
        }
        assert_eq!(dns1123_subdomain(&"a".repeat(254)), [DnsNameError::TooLong { max: 253 }]);
        assert_eq!(DnsNameError::NotSubdomain.to_string(), SUBDOMAIN_FORMAT);
        assert_eq!(DnsNameError::NotLabel.to_string(), LABEL_FORMAT);
        assert_eq!(
            DnsNameError::TooLong { max: 63 }.to_string(),
            "must be no more than 63 characters"
        );
    }

    #[test]
    fn the_label_format_has_no_length_limit() {
        assert!(is_dns1123_label_format(&"a".repeat(100)));
        for bad in ["", "-a", "a-", "A", "a.b"] {
            assert!(!is_dns1123_label_format(bad), "{bad}");
        }
    }

    #[test]
    fn interface_names_follow_dev_valid_name() {
        for ok in [
            "eth0",
            "net1",
            "my_if",
            "Net1",
            "ens192.100",
            "veth1234567890a",
            "é",
            "a-b",
            "123456789012345",
            // Unicode whitespace without the byte 0xA0: the kernel takes it.
            "a\u{2003}b",
        ] {
            assert_eq!(interface_name(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("", "must not be empty"),
            ("1234567890123456", "is longer than 15 bytes"),
            ("ééééééééé", "is longer than 15 bytes"),
            ("veth1234567890ab", "is longer than 15 bytes"),
            (".", "is not allowed"),
            ("..", ". or .."),
            ("a/b", "contains the forbidden character '/'"),
            ("a:b", "contains the forbidden character ':'"),
            ("a b", "contains the forbidden character ' '"),
            ("a\tb", "contains the forbidden character '\\t'"),
            ("a\x0bb", "contains the forbidden character '\\u{b}'"),
            ("a\0", "contains the forbidden character '\\0'"),
            // The kernel's isspace() counts the byte 0xA0 (U+00A0 is C2 A0,
            // "à" is C3 A0): the kernel refuses both.
            ("a\u{a0}b", "holds the byte 0xA0"),
            ("là", "holds the byte 0xA0"),
        ];
        for (name, want) in bad {
            let msg = interface_name(name).map_err(|e| e.to_string()).unwrap_err();
            assert!(msg.contains(want), "{name:?}: {msg}");
        }
        // Every forbidden character also names the rule.
        let msg = interface_name("a:b").unwrap_err().to_string();
        assert!(msg.contains("'/'") && msg.contains("whitespace"), "{msg}");
    }

    #[test]
    fn container_ids_follow_the_cni_spec() {
        for ok in ["abc", "0f1e2d", "a_b.c-d", &"f".repeat(256)] {
            assert_eq!(container_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "_a", "a b", "a/b", "ä", &"f".repeat(257)] {
            assert!(container_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(container_id(""), Err(ContainerIdError::Empty));
        assert_eq!(container_id(&"f".repeat(257)), Err(ContainerIdError::TooLong));
        assert!(is_cni_identifier("net-1_a.b") && !is_cni_identifier(".net"));
    }

    #[test]
    fn pod_uids_are_letters_digits_and_dashes() {
        for ok in ["", "u1", "3f902f46-d9d4-4c62-a7c3-98d4a9aa26e4", &"a".repeat(128)] {
            assert_eq!(pod_uid(ok), Ok(()), "{ok}");
        }
        for bad in ["a b", "a_b", "ä", &"a".repeat(129)] {
            assert_eq!(pod_uid(bad), Err(PodUidError), "{bad}");
        }
    }

    #[test]
    fn long_values_are_shortened_for_messages() {
        assert_eq!(shown("abc"), "abc");
        let long = "a".repeat(100_000);
        assert_eq!(shown(&long), format!("{}... (100000 bytes)", "a".repeat(64)));
    }
}
