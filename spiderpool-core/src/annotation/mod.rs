//! The pod and namespace annotations Spiderpool reads, parsed exactly as the Go
//! agent parses them (reference §3, `pkg/types/k8s.go`, `pkg/ipam/*`), plus the
//! Multus annotations it consults to resolve a NIC's NetworkAttachmentDefinition.
//!
//! - [`parse_pod_ippool`], [`parse_pod_ippools`], [`ippools_item_for_nic`]:
//!   `ipam.spidernet.io/ippool(s)`;
//! - [`parse_routes`], [`parse_default_route_nic`]: `ipam.spidernet.io/routes`
//!   and `ipam.spidernet.io/default-route-nic`;
//! - [`parse_namespace_default_pools`]: namespace `default-ipv4/6-ippool`;
//! - [`parse_multus_networks`], [`parse_default_network`], [`nad_for_nic`]:
//!   `k8s.v1.cni.cncf.io/networks` and `v1.multus-cni.io/default-network`;
//! - [`is_glob`], [`glob_match`]: pool-name wildcards (Go `path.Match`).
//!
//! JSON values are read the way Go's `encoding/json` fills Spiderpool's structs:
//! keys match case-insensitively, unknown keys are ignored and `null` means
//! "not set". Every failure is an [`AnnotationError`] naming the annotation key
//! and what is wrong.

mod glob;
pub(crate) mod json;
mod multus;
mod nad;
mod pool;
mod route;

pub use glob::{GlobError, glob_match, is_glob};
pub use multus::{NetworkSelection, multus_interface_names, parse_multus_networks};
pub use nad::{NadRef, nad_for_nic, parse_default_network};
pub use pool::{
    PodIpPoolsItem, PoolNames, default_nic_name, ippools_item_for_nic, ippools_nic_names,
    nic_index_from_name, parse_namespace_default_pools, parse_pod_ippool, parse_pod_ippools,
};
pub use route::{CustomRoute, parse_default_route_nic, parse_routes, validate_ifname};

/// Pod: pools for the current NIC, `{"ipv4":[..],"ipv6":[..]}`.
pub const ANNO_POD_IPPOOL: &str = "ipam.spidernet.io/ippool";
/// Pod: pools per NIC, `[{"interface":"eth0","ipv4":[..],"ipv6":[..],"cleangateway":false}]`.
pub const ANNO_POD_IPPOOLS: &str = "ipam.spidernet.io/ippools";
/// Pod: extra routes, `[{"dst":"10.0.0.0/16","gw":"192.168.1.1"}]`.
pub const ANNO_POD_ROUTES: &str = "ipam.spidernet.io/routes";
/// Pod: the NIC that keeps the default route (a bare interface name).
pub const ANNO_DEFAULT_ROUTE_NIC: &str = "ipam.spidernet.io/default-route-nic";
/// Namespace: default IPv4 pools, a JSON array of pool names.
pub const ANNO_NS_DEFAULT_IPV4_IPPOOL: &str = "ipam.spidernet.io/default-ipv4-ippool";
/// Namespace: default IPv6 pools, a JSON array of pool names.
pub const ANNO_NS_DEFAULT_IPV6_IPPOOL: &str = "ipam.spidernet.io/default-ipv6-ippool";
/// Pod: Multus additional networks (JSON list or comma form).
pub const ANNO_MULTUS_NETWORKS: &str = "k8s.v1.cni.cncf.io/networks";
/// Pod: Multus default network (`ns/name` or `name`).
pub const ANNO_MULTUS_DEFAULT_NETWORK: &str = "v1.multus-cni.io/default-network";
/// Pod: SpiderSubnet auto-pool for one NIC (parsed by [`crate::autopool`]).
pub const ANNO_SUBNET: &str = "ipam.spidernet.io/subnet";
/// Pod: SpiderSubnet auto-pools per NIC (parsed by [`crate::autopool`]).
pub const ANNO_SUBNETS: &str = "ipam.spidernet.io/subnets";
/// Pod: size of an auto-created pool, `"N"` or `"+N"` (parsed by [`crate::autopool`]).
pub const ANNO_IPPOOL_IP_NUMBER: &str = "ipam.spidernet.io/ippool-ip-number";
/// Pod: delete the auto-created pool with its application (parsed by [`crate::autopool`]).
pub const ANNO_IPPOOL_RECLAIM: &str = "ipam.spidernet.io/ippool-reclaim";

/// Name of the agent setting used as the first NIC's network when the pod has
/// no `v1.multus-cni.io/default-network` annotation; errors about its value
/// carry this name in the `annotation` field of [`AnnotationError::Invalid`].
pub const MULTUS_CLUSTER_NETWORK: &str = "MULTUS_CLUSTER_NETWORK";

/// An annotation value could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotationError {
    /// The value of `annotation` is malformed or violates a rule.
    #[error("{annotation}: {reason}")]
    Invalid {
        /// The annotation key (or setting name) whose value is wrong.
        annotation: String,
        /// The whole offending value.
        value: String,
        /// What is wrong, naming the item and the offending part.
        reason: String,
    },
}

impl AnnotationError {
    pub(crate) fn invalid(annotation: &str, value: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            annotation: annotation.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn error_display_is_key_then_reason() {
        let e =
            AnnotationError::invalid(ANNO_POD_IPPOOLS, "[]", "value requires at least one item");
        assert_eq!(e.to_string(), "ipam.spidernet.io/ippools: value requires at least one item");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn no_parser_panics_on_arbitrary_strings(s in "\\PC{0,64}") {
            let _ = parse_pod_ippool(&s);
            let _ = parse_pod_ippools(&s);
            let _ = parse_routes(&s);
            let _ = parse_default_route_nic(&s);
            let _ = parse_namespace_default_pools(ANNO_NS_DEFAULT_IPV4_IPPOOL, &s);
            let _ = parse_default_network(&s);
            if let Ok(nets) = parse_multus_networks(&s) {
                let _ = multus_interface_names(&nets);
                let _ = nad_for_nic(Some(&s), Some(&s), &nets, "net1", "ns", "kube-system");
            }
            let _ = is_glob(&s);
            let _ = glob_match(&s, "pool-1");
        }

        #[test]
        fn no_parser_panics_on_jsonish_strings(s in "[\\[\\]{}\",:/@ a-z0-9.*?\\\\-]{0,48}") {
            let _ = parse_pod_ippool(&s);
            if let Ok(items) = parse_pod_ippools(&s) {
                let _ = ippools_item_for_nic(&items, "net1", None);
                let _ = ippools_item_for_nic(&items, "eth0", Some(7));
            }
            let _ = parse_routes(&s);
            let _ = parse_namespace_default_pools(ANNO_NS_DEFAULT_IPV6_IPPOOL, &s);
            let _ = parse_default_network(&s);
            let _ = parse_multus_networks(&s);
            let _ = glob_match(&s, &s);
        }
    }
}
