//! The `spiderpool.spidernet.io/v2beta1` resources as plain serde types.
//!
//! Every kind keeps Spiderpool's exact JSON field names, optionality and shapes, so
//! the YAML in Spiderpool's documentation loads unchanged:
//!
//! | kind | Rust type | scope | short name |
//! |---|---|---|---|
//! | `SpiderIPPool` | [`SpiderIPPool`] | cluster | `sp` |
//! | `SpiderSubnet` | [`SpiderSubnet`] | cluster | `ss` |
//! | `SpiderReservedIP` | [`SpiderReservedIP`] | cluster | `sr` |
//! | `SpiderEndpoint` | [`SpiderEndpoint`] | namespaced | `se` |
//! | `SpiderMultusConfig` | [`SpiderMultusConfig`] | namespaced | `smc` |
//! | `SpiderCoordinator` | [`SpiderCoordinator`] | cluster | `scc` |
//!
//! Mapping rules from the Go types (`pkg/k8s/apis/spiderpool.spidernet.io/v2beta1`):
//!
//! - a Go pointer or `omitempty` scalar is an `Option<T>`, absent when `None`;
//! - a Go slice with `omitempty` is a `Vec<T>` that is not printed when empty;
//! - a Go field without `omitempty` is always printed;
//! - JSON `null` is accepted wherever Go accepts it (it means "zero value");
//! - unknown fields are ignored, as the API server's pruning would drop them.
//!
//! Enum-like strings (`cniType`, `mode`, `podCIDRType`, `vlanMode`, `linkState`,
//! `phase`) stay strings on the wire so that bad values survive decoding and can be
//! reported by admission; typed views ([`CniType`], [`CoordinatorMode`],
//! [`PodCidrType`], [`VlanMode`], [`LinkState`], [`CoordinatorPhase`]) parse them
//! with errors that name the field and the value.
//!
//! `status.allocatedIPs` of a pool and `status.controlledIPPools` of a subnet are
//! JSON documents stored *inside a string*, exactly as Spiderpool stores them; see
//! [`parse_allocated_ips`] / [`render_allocated_ips`] and
//! [`parse_controlled_ip_pools`] / [`render_controlled_ip_pools`].
//!
//! [`Resource`] is a value of any of the six kinds, dispatched on `apiVersion` and
//! `kind`.

mod condition;
mod coordinator;
mod endpoint;
mod error;
mod ippool;
pub mod meta;
mod multus;
mod reservedip;
mod resource;
mod subnet;

use serde::{Deserialize, Deserializer, Serialize};

pub use condition::{CONDITION_OVERLAPPING, Condition};
pub use coordinator::{
    CoordinatorMode, CoordinatorPhase, CoordinatorSpec, CoordinatorStatus, PodCidrType,
    SpiderCoordinator,
};
pub use endpoint::{IPAllocationDetail, PodIPAllocation, SpiderEndpoint, WorkloadEndpointStatus};
pub use error::ModelError;
pub use ippool::{
    IPPoolSpec, IPPoolStatus, PoolIpAllocation, PoolIpAllocations, SpiderIPPool,
    parse_allocated_ips, render_allocated_ips,
};
pub use meta::{LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference};
pub use multus::{
    BondConfig, CniType, LinkState, MultusCNIConfigSpec, SpiderIBSriovCniConfig,
    SpiderIPvlanCniConfig, SpiderIpoibCniConfig, SpiderMacvlanCniConfig, SpiderMultusConfig,
    SpiderOvsCniConfig, SpiderSRIOVCniConfig, SpiderVlanCniConfig, SpiderpoolPools, Trunk,
    VlanMode,
};
pub use reservedip::{ReservedIPSpec, SpiderReservedIP};
pub use resource::{KINDS, Resource, SpiderResource};
pub use subnet::{
    PoolIpPreAllocation, PoolIpPreAllocations, SpiderSubnet, SubnetSpec, SubnetStatus,
    parse_controlled_ip_pools, render_controlled_ip_pools,
};

/// API group of every Spiderpool resource.
pub const GROUP: &str = "spiderpool.spidernet.io";
/// API version of every Spiderpool resource.
pub const VERSION: &str = "v2beta1";
/// `apiVersion` value of every Spiderpool resource (`GROUP/VERSION`).
pub const API_VERSION: &str = "spiderpool.spidernet.io/v2beta1";
/// The category every Spiderpool CRD is listed under (`kubectl get spiderpool`).
pub const CATEGORY: &str = "spiderpool";
/// The finalizer Spiderpool puts on pools, subnets, endpoints and coordinators.
pub const FINALIZER: &str = "spiderpool.spidernet.io";

/// A route `{dst, gw}` as used by pools, subnets, endpoints and the coordinator's
/// `policyRoutes` (Go `v2beta1.Route`).
///
/// Both fields are required in the CRD schema and are always printed. Their
/// syntax (CIDR / IP, same family) is checked by admission, not here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Route {
    /// Destination: a CIDR (`10.0.0.0/16`).
    #[serde(default, deserialize_with = "null_default")]
    pub dst: String,
    /// Gateway: an IP address.
    #[serde(default, deserialize_with = "null_default")]
    pub gw: String,
}

impl Route {
    /// A route to `dst` via `gw`.
    pub fn new(dst: impl Into<String>, gw: impl Into<String>) -> Self {
        Self { dst: dst.into(), gw: gw.into() }
    }
}

/// Deserializes a Go non-pointer field: JSON `null` means the zero value, as Go's
/// `encoding/json` leaves the field untouched on `null`.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Declares a string-valued enum that stays a string on the wire: `as_str`,
/// `FromStr` (error names the field and lists the accepted values), `Display`, and
/// serde as its wire string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $wire:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// The accepted wire values (canonical names first, then aliases).
            pub const WIRE_VALUES: &'static [&'static str] = &[$($wire, $($alias,)*)+];
            /// The JSON field this value lives in, used in parse errors.
            pub const FIELD: &'static str = $field;

            /// The canonical wire value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// Parses a wire value, naming `field` in the error.
            pub fn parse_field(
                field: &str,
                value: &str,
            ) -> Result<Self, $crate::model::ModelError> {
                match value {
                    $($wire $(| $alias)* => Ok(Self::$variant),)+
                    _ => Err($crate::model::ModelError::UnknownValue {
                        field: field.to_owned(),
                        value: value.to_owned(),
                        expected: Self::WIRE_VALUES,
                    }),
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::model::ModelError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse_field(Self::FIELD, s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

/// Declares the kind constants, the constructor and [`SpiderResource`] for a
/// top-level kind.
macro_rules! resource_kind {
    (
        $ty:ident, spec = $spec:ty,
        kind = $kind:literal, plural = $plural:literal, singular = $singular:literal,
        short = $short:literal, namespaced = $ns:literal
    ) => {
        impl $ty {
            /// `kind` of this resource.
            pub const KIND: &'static str = $kind;
            /// Plural resource name (URL path segment).
            pub const PLURAL: &'static str = $plural;
            /// Singular resource name.
            pub const SINGULAR: &'static str = $singular;
            /// `kubectl` short name.
            pub const SHORT_NAME: &'static str = $short;
            /// True when objects of this kind live in a namespace.
            pub const NAMESPACED: bool = $ns;

            /// An object named `name` with `spec`, `apiVersion` and `kind` set and
            /// no status.
            #[allow(clippy::needless_update)] // kinds without a status
            pub fn new(name: impl Into<String>, spec: $spec) -> Self {
                Self {
                    api_version: $crate::model::API_VERSION.to_owned(),
                    kind: $kind.to_owned(),
                    metadata: $crate::model::ObjectMeta::named(name),
                    spec,
                    ..Self::default()
                }
            }
        }

        impl $crate::model::SpiderResource for $ty {
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            const SINGULAR: &'static str = $singular;
            const SHORT_NAME: &'static str = $short;
            const NAMESPACED: bool = $ns;

            fn metadata(&self) -> &$crate::model::ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut $crate::model::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use resource_kind;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn api_version_is_group_slash_version() {
        assert_eq!(API_VERSION, format!("{GROUP}/{VERSION}"));
    }

    #[test]
    fn route_round_trips_and_accepts_null_fields() {
        let r: Route = serde_json::from_str(r#"{"dst":"10.0.0.0/8","gw":"10.6.0.1"}"#).unwrap();
        assert_eq!(r, Route::new("10.0.0.0/8", "10.6.0.1"));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"dst":"10.0.0.0/8","gw":"10.6.0.1"})
        );
        let r: Route = serde_json::from_str(r#"{"dst":null}"#).unwrap();
        assert_eq!(r, Route::default());
        // Both fields are printed even when empty (no omitempty in Go).
        assert_eq!(
            serde_json::to_value(Route::default()).unwrap(),
            serde_json::json!({"dst":"","gw":""})
        );
    }
}
