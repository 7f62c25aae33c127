//! Why a plan cannot be made ([`PlanError`]) and why a configuration value
//! is refused ([`ConfigError`]).

use std::net::IpAddr;

use ipnet::IpNet;

/// A planning failure; each variant names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The CNI `ifName` is not a link of the pod.
    #[error("interface {ifname:?} does not exist in the pod")]
    NicNotFound {
        /// `CNI_IFNAME`.
        ifname: String,
    },
    /// The current NIC has no address other than link-local ones, so the IP
    /// family cannot be told.
    #[error("interface {ifname:?} has no IPv4 or IPv6 address other than link-local ones")]
    NoAddress {
        /// `CNI_IFNAME`.
        ifname: String,
    },
    /// Underlay mode on a NIC after the first, but the first NIC's coordinator
    /// did not create `veth0`.
    #[error(
        "mode underlay on {ifname:?}: the pod has no veth0, so the coordinator did not run on the first interface {first:?}; enable it there"
    )]
    UnderlayWithoutVeth0 {
        /// `CNI_IFNAME`.
        ifname: String,
        /// `podDefaultCniNic`.
        first: String,
    },
    /// Overlay mode on the pod's first NIC.
    #[error(
        "mode overlay on {ifname:?}: it is the pod's first interface (podDefaultCniNic), which belongs to the overlay CNI"
    )]
    OverlayOnFirstNic {
        /// `CNI_IFNAME`.
        ifname: String,
    },
    /// Overlay mode although `veth0` exists (the first NIC ran in underlay mode).
    #[error(
        "mode overlay on {ifname:?}: veth0 exists, so the first interface runs in underlay mode"
    )]
    OverlayWithVeth0 {
        /// `CNI_IFNAME`.
        ifname: String,
    },
    /// Overlay mode but the first NIC is missing.
    #[error("mode overlay on {ifname:?}: the first interface {first:?} does not exist in the pod")]
    FirstNicNotFound {
        /// `CNI_IFNAME`.
        ifname: String,
        /// `podDefaultCniNic`.
        first: String,
    },
    /// A link the plan needs has no MAC in the view.
    #[error("{side} link {name:?} has no MAC address in the view")]
    NoMac {
        /// `pod` or `host`.
        side: &'static str,
        /// The link.
        name: String,
    },
    /// The host end of the pod's veth is not in the host view.
    #[error("host veth {name:?} (peer of the pod's {pod_side:?}) is not in the host view")]
    HostVethNotFound {
        /// The host link's name, or `ifindex N`.
        name: String,
        /// `veth0` or `eth0`.
        pod_side: String,
    },
    /// The configured default-route NIC is not in the pod.
    #[error("podDefaultRouteNic: {nic:?} does not exist in the pod")]
    DefaultRouteNicNotFound {
        /// The configured NIC.
        nic: String,
    },
    /// A policy route's gateway is not on a subnet of the current NIC.
    #[error(
        "policyRoutes: gateway {gw} of {dst} is not reachable on {dev:?} (no connected route covers it)"
    )]
    PolicyRouteGatewayUnreachable {
        /// Destination.
        dst: IpNet,
        /// Gateway.
        gw: IpAddr,
        /// The current NIC.
        dev: String,
    },
    /// The container ID is empty.
    #[error("containerID must not be empty")]
    EmptyContainerId,
    /// The host veth name this container needs is held by a link that is not
    /// its own (see [`owner`](super::owner)).
    #[error(
        "host veth {name:?} already exists and {} (container IDs that share their first 11 characters get the same host veth name)",
        holder_text(holder.as_deref(), mac.as_deref())
    )]
    HostVethTaken {
        /// The host veth name (`veth` + the first 11 characters).
        name: String,
        /// The container its alias names, when it has one of ours.
        holder: Option<String>,
        /// Its MAC, when known.
        mac: Option<String>,
    },
}

fn holder_text(holder: Option<&str>, mac: Option<&str>) -> String {
    match holder {
        Some(h) => format!("belongs to container {h}"),
        None => format!(
            "is not this container's (no spiderpool-coordinator alias, MAC {}): another container holds the name",
            mac.unwrap_or("unknown")
        ),
    }
}

/// A bad configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key holds a value of the wrong JSON type or an invalid value.
    #[error("{key}: invalid value {value}: {reason}")]
    Invalid {
        /// The key, e.g. `vethMTU`, `policyRoutes[1].gw` or
        /// `clusterConfig.hijackCIDR[0]`.
        key: String,
        /// The value as JSON text.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The netconf is not a JSON object.
    #[error("coordinator netconf: expected a JSON object, got {value}")]
    NotAnObject {
        /// The value as JSON text (shortened).
        value: String,
    },
}

impl ConfigError {
    /// `key` holds `value` (shown as JSON, at most 200 bytes), refused for
    /// `reason`.
    pub(crate) fn invalid(
        key: &str,
        value: &serde_json::Value,
        reason: impl Into<String>,
    ) -> ConfigError {
        let mut text = value.to_string();
        if text.len() > 200 {
            let mut cut = 200;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        ConfigError::Invalid { key: key.to_owned(), value: text, reason: reason.into() }
    }
}
