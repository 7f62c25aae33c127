//! Name rules, each as the system that owns the name checks it:
//!
//! - Kubernetes object names and namespaces (`k8s.io/apimachinery`
//!   `IsDNS1123Label` / `IsDNS1123Subdomain`, and the rule each kind's API
//!   validation picks: [`ObjectNameRule`], per kind in [`crate::kind`]);
//! - Linux interface names (the kernel's `dev_valid_name`);
//! - CNI container IDs (the CNI spec and libcni).
//!
//! Every check returns the reasons a value is bad, worded as the owner words
//! them, without repeating the value (callers name the field and the value).

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

fn max_len(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_label_format(s: &str) -> bool {
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
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(max_len(DNS1123_LABEL_MAX));
    }
    if !is_label_format(s) {
        errs.push(LABEL_FORMAT.to_string());
    }
    errs
}

/// `IsDNS1123Subdomain`: the reasons `s` is not a DNS-1123 subdomain (empty
/// when it is one): at most 253 characters, dot-separated labels.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len(DNS1123_SUBDOMAIN_MAX));
    }
    if !s.split('.').all(is_label_format) {
        errs.push(SUBDOMAIN_FORMAT.to_string());
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
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            ObjectNameRule::Label => dns1123_label(name),
            ObjectNameRule::Subdomain { max } => {
                let mut errs = dns1123_subdomain(name);
                if max < DNS1123_SUBDOMAIN_MAX && name.len() > max {
                    errs.insert(0, max_len(max));
                }
                errs
            }
        }
    }
}

/// The kernel's `dev_valid_name` (and libcni's `CNI_IFNAME` rule): the reason
/// `name` is not a valid Linux interface name, if any. Not empty, at most 15
/// bytes, not `.` or `..`, no `/`, `:`, NUL or whitespace (the kernel's
/// `isspace`, which also counts the byte 0xA0).
pub fn interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > IFNAME_MAX {
        return Err(format!("must be no more than {IFNAME_MAX} bytes"));
    }
    if name == "." || name == ".." {
        return Err("must not be \".\" or \"..\"".to_string());
    }
    let kernel_space = |b: u8| matches!(b, b' ' | b'\t'..=b'\r' | 0xA0);
    if name.bytes().any(|b| b == b'/' || b == b':' || b == 0 || kernel_space(b)) {
        return Err("must not contain '/', ':', NUL or whitespace".to_string());
    }
    Ok(())
}

/// The CNI spec's container ID: the reason `id` is not one, if any. Not
/// empty, an ASCII letter or digit first, then letters, digits, `_`, `.` or
/// `-`; at most [`CONTAINER_ID_MAX`] bytes.
pub fn container_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".to_string());
    }
    if id.len() > CONTAINER_ID_MAX {
        return Err(format!("must be no more than {CONTAINER_ID_MAX} characters"));
    }
    if !crate::cni::config::is_cni_identifier(id) {
        return Err(
            "must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
                .to_string(),
        );
    }
    Ok(())
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
    use super::*;

    #[test]
    fn labels_and_subdomains_follow_apimachinery() {
        for ok in ["a", "abc-123", "0", &"a".repeat(63)] {
            assert!(dns1123_label(ok).is_empty(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "a b", &"a".repeat(64)] {
            assert!(!dns1123_label(bad).is_empty(), "{bad}");
        }
        assert_eq!(dns1123_label(&"a".repeat(64)), [max_len(63)]);
        for ok in ["a", "a.b", "example.com", "10-6-v4", &"a".repeat(253)] {
            assert!(dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in ["", ".", "a..b", "../../etc/Bad_Name", "UPPER_case", "a.", "x y"] {
            assert_eq!(dns1123_subdomain(bad), [SUBDOMAIN_FORMAT], "{bad}");
        }
        assert_eq!(dns1123_subdomain(&"a".repeat(254)), [max_len(253)]);
    }

    #[test]
    fn interface_names_follow_dev_valid_name() {
        for ok in ["eth0", "net1", "my_if", "Net1", "ens192.100", "veth1234567890a", "é"] {
            assert_eq!(interface_name(ok), Ok(()), "{ok}");
        }
        for bad in
            ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "a\0b", "veth1234567890ab", "a\u{a0}"]
        {
            assert!(interface_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn container_ids_follow_the_cni_spec() {
        for ok in ["abc", "0f1e2d", "a_b.c-d", &"f".repeat(256)] {
            assert_eq!(container_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "_a", "a b", "a/b", &"f".repeat(257)] {
            assert!(container_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_values_are_shortened_for_messages() {
        assert_eq!(shown("abc"), "abc");
        let long = "a".repeat(100_000);
        assert_eq!(shown(&long), format!("{}... (100000 bytes)", "a".repeat(64)));
    }
}
