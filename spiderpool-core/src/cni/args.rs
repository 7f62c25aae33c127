//! `CNI_ARGS`: `K=V;K=V` pairs. The Kubernetes keys runtimes pass
//! (`K8S_POD_NAME`, `K8S_POD_NAMESPACE`, `K8S_POD_UID`,
//! `K8S_POD_INFRA_CONTAINER_ID`) are typed and validated; other keys are kept
//! in order. Every failure is code 4 naming `CNI_ARGS`, the key and the value.

use super::error::CniError;
use crate::name;

/// The environment variable this module parses.
pub const CNI_ARGS: &str = "CNI_ARGS";

/// `CNI_ARGS`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// `K8S_POD_NAME`.
    pub pod_name: Option<String>,
    /// `K8S_POD_NAMESPACE`.
    pub pod_namespace: Option<String>,
    /// `K8S_POD_UID`.
    pub pod_uid: Option<String>,
    /// `K8S_POD_INFRA_CONTAINER_ID`.
    pub pod_infra_container_id: Option<String>,
    /// `IgnoreUnknown` (`1`/`true` or `0`/`false`).
    pub ignore_unknown: bool,
    /// Every other pair, in order.
    pub other: Vec<(String, String)>,
}

fn bad(key: &str, value: &str, reason: &str) -> CniError {
    CniError::invalid_env(CNI_ARGS, None, format!("{key}={value:?}: {reason}"))
}

impl CniArgs {
    /// Parses `CNI_ARGS`. Empty segments (`a=b;;c=d`, a trailing `;`) are
    /// skipped; a segment without `=` or with an empty key, a repeated
    /// Kubernetes key, or an invalid value is an error. A Kubernetes key with
    /// an empty value counts as absent.
    pub fn parse(text: &str) -> Result<CniArgs, CniError> {
        let mut args = CniArgs::default();
        for pair in text.split(';').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(CniError::invalid_env(
                    CNI_ARGS,
                    None,
                    format!("{pair:?} is not of the form KEY=VALUE"),
                ));
            };
            if key.is_empty() {
                return Err(bad(key, value, "empty key"));
            }
            let slot = match key {
                "K8S_POD_NAME" => {
                    if !value.is_empty() && !name::dns1123_subdomain(value).is_empty() {
                        return Err(bad(
                            key,
                            value,
                            "not a valid pod name (lowercase RFC 1123 subdomain, at most 253 characters)",
                        ));
                    }
                    &mut args.pod_name
                }
                "K8S_POD_NAMESPACE" => {
                    if !value.is_empty() && !name::dns1123_label(value).is_empty() {
                        return Err(bad(
                            key,
                            value,
                            "not a valid namespace (lowercase RFC 1123 label, at most 63 characters)",
                        ));
                    }
                    &mut args.pod_namespace
                }
                "K8S_POD_UID" => {
                    if name::pod_uid(value).is_err() {
                        return Err(bad(
                            key,
                            value,
                            "not a valid pod UID (letters, digits and '-', at most 128)",
                        ));
                    }
                    &mut args.pod_uid
                }
                "K8S_POD_INFRA_CONTAINER_ID" => {
                    if !value.is_empty() && !name::is_cni_identifier(value) {
                        return Err(bad(
                            key,
                            value,
                            "not a valid container ID (letters, digits, '_', '.', '-')",
                        ));
                    }
                    &mut args.pod_infra_container_id
                }
                "IgnoreUnknown" => {
                    args.ignore_unknown = match value.to_ascii_lowercase().as_str() {
                        "1" | "true" => true,
                        "0" | "false" | "" => false,
                        _ => return Err(bad(key, value, "not a boolean (1, true, 0, false)")),
                    };
                    continue;
                }
                _ => {
                    args.other.push((key.to_string(), value.to_string()));
                    continue;
                }
            };
            if slot.is_some() {
                return Err(bad(key, value, "key given twice"));
            }
            if !value.is_empty() {
                *slot = Some(value.to_string());
            }
        }
        Ok(args)
    }

    /// The value of another key, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.other.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_kubelet_passes() {
        let a = CniArgs::parse(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-5d78c9869d-x2x7k;K8S_POD_INFRA_CONTAINER_ID=1f3ab9c07e2d;K8S_POD_UID=0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        )
        .unwrap();
        assert!(a.ignore_unknown);
        assert_eq!(a.pod_namespace.as_deref(), Some("kube-system"));
        assert_eq!(a.pod_name.as_deref(), Some("coredns-5d78c9869d-x2x7k"));
        assert_eq!(a.pod_infra_container_id.as_deref(), Some("1f3ab9c07e2d"));
        assert_eq!(a.pod_uid.as_deref(), Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"));
        assert!(a.other.is_empty());
    }

    #[test]
    fn empty_and_unknown_keys() {
        assert_eq!(CniArgs::parse("").unwrap(), CniArgs::default());
        let a = CniArgs::parse("FOO=bar;;K8S_POD_NAME=;X=a=b;").unwrap();
        assert_eq!(a.pod_name, None);
        assert_eq!(a.get("FOO"), Some("bar"));
        assert_eq!(a.get("X"), Some("a=b"));
    }

    #[test]
    fn bad_form_is_code_4_naming_cni_args_and_value() {
        let cases = [
            ("K8S_POD_NAME", "K8S_POD_NAME"),
            ("=x", "empty key"),
            ("K8S_POD_NAME=Bad_Name", "\"Bad_Name\""),
            ("K8S_POD_NAMESPACE=a.b", "\"a.b\""),
            ("K8S_POD_NAMESPACE=-ns", "\"-ns\""),
            ("K8S_POD_UID=abc/def", "\"abc/def\""),
            ("K8S_POD_INFRA_CONTAINER_ID=.x", "\".x\""),
            ("IgnoreUnknown=maybe", "\"maybe\""),
            ("K8S_POD_NAME=a;K8S_POD_NAME=b", "twice"),
        ];
        for (text, needle) in cases {
            let e = CniArgs::parse(text).unwrap_err();
            assert_eq!(e.code().as_u32(), 4, "{text}");
            let msg = e.to_string();
            assert!(msg.starts_with("CNI_ARGS"), "{msg}");
            assert!(msg.contains(needle), "{text}: {msg}");
        }
        let long = format!("K8S_POD_NAMESPACE={}", "a".repeat(64));
        assert!(CniArgs::parse(&long).is_err());
    }
}
