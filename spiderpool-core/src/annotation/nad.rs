//! Which NetworkAttachmentDefinition serves a pod NIC (reference §4.4), from
//! `v1.multus-cni.io/default-network`, the agent's `MULTUS_CLUSTER_NETWORK`
//! and `k8s.v1.cni.cncf.io/networks`.

use std::fmt;

use super::multus::{is_json_form, multus_interface_names, parse_networks_as, parse_object_name};
use super::{
    ANNO_MULTUS_DEFAULT_NETWORK, AnnotationError, MULTUS_CLUSTER_NETWORK, NetworkSelection,
};

/// A NetworkAttachmentDefinition reference with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NadRef {
    /// Namespace of the NAD.
    pub namespace: String,
    /// Name of the NAD.
    pub name: String,
}

impl NadRef {
    /// True when one entry of an IPPool's `spec.multusName` designates this NAD:
    /// `ns/name` compares in full, a bare `name` is taken to be in `agent_namespace`.
    pub fn matches_multus_name(&self, entry: &str, agent_namespace: &str) -> bool {
        match entry.split_once('/') {
            Some((ns, name)) => ns == self.namespace && name == self.name,
            None => agent_namespace == self.namespace && entry == self.name,
        }
    }
}

impl fmt::Display for NadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Parses a default network reference for setting/annotation `key`.
fn parse_default_network_as(
    key: &str,
    value: &str,
) -> Result<(Option<String>, String), AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(key, value, reason);
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(err("value is empty".to_string()));
    }
    if is_json_form(trimmed) {
        let mut nets = parse_networks_as(key, trimmed)?;
        if nets.len() > 1 {
            return Err(err("more than one default network is specified".to_string()));
        }
        let net = nets.pop().ok_or_else(|| err("no network is specified".to_string()))?;
        return Ok((net.namespace, net.name));
    }
    let (ns, name, _interface) = parse_object_name(trimmed).map_err(err)?;
    Ok((ns, name))
}

/// Parses `v1.multus-cni.io/default-network`: `ns/name` or `name` (an `@ifname`
/// suffix is accepted and ignored), or Multus' JSON list form with exactly one
/// entry. Returns (namespace if given, name).
pub fn parse_default_network(value: &str) -> Result<(Option<String>, String), AnnotationError> {
    parse_default_network_as(ANNO_MULTUS_DEFAULT_NETWORK, value)
}

/// Resolves which NAD serves pod NIC `nic` (reference §4.4, Go `selectByPod`):
///
/// - the first NIC (`eth0`, or `0` in Spiderpool's unnamed multi-NIC mode) uses
///   `default_network` (the pod's `v1.multus-cni.io/default-network`), else
///   `cluster_network` (the agent's `MULTUS_CLUSTER_NETWORK`); empty values
///   count as absent; a namespace-less reference is in `agent_namespace`;
/// - any other NIC is the entry of `networks` whose interface (requested, or
///   `net{i+1}` by position) equals `nic`, or whose 1-based position equals
///   `nic` (unnamed mode); a namespace-less entry is in `pod_namespace`.
///
/// `Ok(None)` when nothing designates a NAD for the NIC; an error only when
/// the default or cluster network reference is malformed.
pub fn nad_for_nic(
    default_network: Option<&str>,
    cluster_network: Option<&str>,
    networks: &[NetworkSelection],
    nic: &str,
    pod_namespace: &str,
    agent_namespace: &str,
) -> Result<Option<NadRef>, AnnotationError> {
    let present = |v: &&str| !v.trim().is_empty();
    if nic == "eth0" || nic == "0" {
        let (key, value) = match (default_network.filter(present), cluster_network.filter(present))
        {
            (Some(v), _) => (ANNO_MULTUS_DEFAULT_NETWORK, v),
            (None, Some(v)) => (MULTUS_CLUSTER_NETWORK, v),
            (None, None) => return Ok(None),
        };
        let (ns, name) = parse_default_network_as(key, value)?;
        let namespace = ns.unwrap_or_else(|| agent_namespace.to_string());
        return Ok(Some(NadRef { namespace, name }));
    }
    let found = networks
        .iter()
        .zip(multus_interface_names(networks))
        .enumerate()
        .find(|(i, (_, iface))| nic == iface || nic == (i + 1).to_string());
    Ok(found.map(|(_, (net, _))| NadRef {
        namespace: net.namespace.clone().unwrap_or_else(|| pod_namespace.to_string()),
        name: net.name.clone(),
    }))
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::annotation::parse_multus_networks;

    fn nad(ns: &str, name: &str) -> Option<NadRef> {
        Some(NadRef { namespace: ns.to_string(), name: name.to_string() })
    }

    #[test]
    fn default_network() {
        let ok: [(&str, Option<&str>, &str); 6] = [
            ("kube-system/macvlan", Some("kube-system"), "macvlan"),
            ("macvlan", None, "macvlan"),
            (" ns/x@eth0 ", Some("ns"), "x"),
            (r#"[{"name":"m","namespace":"n"}]"#, Some("n"), "m"),
            (r#"[{"name":"m"}]"#, None, "m"),
            ("a-b", None, "a-b"),
        ];
        for (v, ns, name) in ok {
            assert_eq!(
                parse_default_network(v).unwrap(),
                (ns.map(str::to_string), name.to_string()),
                "{v}"
            );
        }
        let bad = [
            ("", "value is empty"),
            ("a/b/c", "more than one '/'"),
            ("a,b", "must consist of lower case"),
            (r#"[{"name":"a"},{"name":"b"}]"#, "more than one default network is specified"),
            ("[]", "no network is specified"),
        ];
        for (v, want) in bad {
            let msg = parse_default_network(v).unwrap_err().to_string();
            assert!(msg.starts_with("v1.multus-cni.io/default-network: "), "{msg}");
            assert!(msg.contains(want), "{v}: {msg}");
        }
    }

    #[test]
    fn nad_resolution() {
        let nets =
            parse_multus_networks("kube-system/macvlan@net2, sriov, other/ipvlan@data").unwrap();
        let r = |d: Option<&str>, c: Option<&str>, nic: &str| {
            nad_for_nic(d, c, &nets, nic, "app-ns", "spider").unwrap()
        };
        // first NIC: default-network annotation, else cluster network; bare name -> agent namespace
        assert_eq!(r(Some("ns1/def"), Some("cluster"), "eth0"), nad("ns1", "def"));
        assert_eq!(r(Some("def"), None, "eth0"), nad("spider", "def"));
        assert_eq!(r(None, Some("kube-system/cluster"), "eth0"), nad("kube-system", "cluster"));
        assert_eq!(r(Some(""), Some("cluster"), "0"), nad("spider", "cluster"));
        assert_eq!(r(None, None, "eth0"), None);
        assert_eq!(r(None, Some("  "), "eth0"), None);
        // other NICs: requested name, or positional netN; bare name -> pod namespace
        assert_eq!(r(None, None, "net2"), nad("kube-system", "macvlan"));
        assert_eq!(r(None, None, "net1"), None); // entry 0 asked for net2
        assert_eq!(r(None, None, "1"), nad("kube-system", "macvlan")); // unnamed-mode index
        assert_eq!(r(None, None, "2"), nad("app-ns", "sriov"));
        assert_eq!(r(None, None, "data"), nad("other", "ipvlan"));
        assert_eq!(r(None, None, "net3"), None);
        assert_eq!(r(None, None, "net4"), None);
        // the default network plays no role for other NICs
        assert_eq!(r(Some("x/y"), None, "net2"), nad("kube-system", "macvlan"));
        let positional = parse_multus_networks("a,b").unwrap();
        assert_eq!(nad_for_nic(None, None, &positional, "net2", "p", "s").unwrap(), nad("p", "b"));
        // malformed default / cluster network names its source
        let e = nad_for_nic(Some("a/b/c"), None, &nets, "eth0", "p", "s").unwrap_err().to_string();
        assert!(e.starts_with("v1.multus-cni.io/default-network: "), "{e}");
        let e = nad_for_nic(None, Some("A"), &nets, "eth0", "p", "s").unwrap_err().to_string();
        assert!(e.starts_with("MULTUS_CLUSTER_NETWORK: "), "{e}");
    }

    #[test]
    fn multus_name_matching() {
        let n = NadRef { namespace: "kube-system".into(), name: "macvlan".into() };
        assert_eq!(n.to_string(), "kube-system/macvlan");
        assert!(n.matches_multus_name("kube-system/macvlan", "spider"));
        assert!(n.matches_multus_name("macvlan", "kube-system"));
        assert!(!n.matches_multus_name("macvlan", "spider"));
        assert!(!n.matches_multus_name("other/macvlan", "kube-system"));
        assert!(!n.matches_multus_name("kube-system/macvlan2", "kube-system"));
    }
}
