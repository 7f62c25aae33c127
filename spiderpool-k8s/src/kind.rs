//! [`Kind`]: what spiderpool-k8s needs to know about each core kind to carry it
//! through kube — its spec and status types, its scope, whether it has a status
//! subresource — and how to take it apart and put it back together.

use std::fmt::Debug;

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, ResourceScope};
use kube::{Api, Client};
use serde::de::{Deserialize, DeserializeOwned, Deserializer, IgnoredAny};
use serde::{Serialize, Serializer};
use spiderpool_core::model::{
    API_VERSION, CoordinatorSpec, CoordinatorStatus, IPPoolSpec, IPPoolStatus, MultusCNIConfigSpec,
    ObjectMeta, ReservedIPSpec, SpiderCoordinator, SpiderEndpoint, SpiderIPPool,
    SpiderMultusConfig, SpiderReservedIP, SpiderResource, SpiderSubnet, SubnetSpec, SubnetStatus,
    WorkloadEndpointStatus,
};

use crate::KubeObject;

/// A `spiderpool.spidernet.io/v2beta1` kind of the core model, as spiderpool-k8s
/// carries it through kube.
///
/// Implemented for the six core types ([`SpiderIPPool`], [`SpiderSubnet`],
/// [`SpiderReservedIP`], [`SpiderEndpoint`], [`SpiderMultusConfig`],
/// [`SpiderCoordinator`]); the names (kind, plural, short name, scope) come from
/// [`SpiderResource`].
pub trait Kind: SpiderResource + Clone + Debug + PartialEq + Send + Sync + 'static {
    /// The type of `spec` ([`Absent`] for `SpiderEndpoint`, which has none).
    type Spec: Serialize + DeserializeOwned + Clone + Debug + Default + PartialEq + Send + Sync;
    /// The type of `status` ([`Absent`] for kinds without one).
    type Status: Serialize + DeserializeOwned + Clone + Debug + Default + PartialEq + Send + Sync;
    /// [`ClusterResourceScope`] or [`NamespaceResourceScope`], matching
    /// [`SpiderResource::NAMESPACED`].
    type Scope: ResourceScope;

    /// True when objects have a `spec` (all kinds but `SpiderEndpoint`).
    const HAS_SPEC: bool;
    /// True when objects have a `status` (`SpiderIPPool`, `SpiderSubnet`,
    /// `SpiderEndpoint`, `SpiderCoordinator`).
    const HAS_STATUS: bool;
    /// True when the CRD has a status subresource (Spiderpool's: `sp`, `ss`,
    /// `scc`). `SpiderEndpoint` has a status but no subresource: it is written
    /// with plain updates.
    const STATUS_SUBRESOURCE: bool;

    /// Splits the object into metadata, spec and status.
    fn into_parts(self) -> (ObjectMeta, Self::Spec, Option<Self::Status>);

    /// Builds the object from its parts, with `apiVersion` and `kind` set.
    fn from_parts(metadata: ObjectMeta, spec: Self::Spec, status: Option<Self::Status>) -> Self;

    /// An `Api` for objects of this kind: in `namespace` for namespaced kinds
    /// (every namespace when `None`, which only lists and watches), cluster-wide
    /// for cluster-scoped kinds (`namespace` is ignored).
    fn api(client: Client, namespace: Option<&str>) -> Api<KubeObject<Self>>;
}

fn cluster_api<K: Kind<Scope = ClusterResourceScope>>(client: Client) -> Api<KubeObject<K>> {
    Api::all(client)
}

fn namespaced_api<K: Kind<Scope = NamespaceResourceScope>>(
    client: Client,
    namespace: Option<&str>,
) -> Api<KubeObject<K>> {
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// The `spec` of a kind without one, or the `status` of a kind without one.
///
/// Never serialized by [`crate::KubeObject`]; deserializes from any value, so an
/// object that somehow carries the field still decodes (the API server prunes
/// it anyway).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Absent;

impl Serialize for Absent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for Absent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| Absent)
    }
}

/// Implements [`Kind`] for a core kind with `metadata`, `spec` and, when
/// `status` is given, an optional `status`.
macro_rules! spec_kind {
    (@api ClusterResourceScope) => {
        fn api(client: Client, _: Option<&str>) -> Api<KubeObject<Self>> {
            cluster_api(client)
        }
    };
    (@api NamespaceResourceScope) => {
        fn api(client: Client, namespace: Option<&str>) -> Api<KubeObject<Self>> {
            namespaced_api(client, namespace)
        }
    };
    ($ty:ty, spec = $spec:ty, status = $status:ty, scope = $scope:ident, subresource = $sub:literal) => {
        impl Kind for $ty {
            type Spec = $spec;
            type Status = $status;
            type Scope = $scope;
            const HAS_SPEC: bool = true;
            const HAS_STATUS: bool = true;
            const STATUS_SUBRESOURCE: bool = $sub;

            fn into_parts(self) -> (ObjectMeta, Self::Spec, Option<Self::Status>) {
                (self.metadata, self.spec, self.status)
            }

            fn from_parts(metadata: ObjectMeta, spec: $spec, status: Option<$status>) -> Self {
                Self {
                    api_version: API_VERSION.to_owned(),
                    kind: <Self as SpiderResource>::KIND.to_owned(),
                    metadata,
                    spec,
                    status,
                }
            }

            spec_kind!(@api $scope);
        }
    };
    ($ty:ty, spec = $spec:ty, scope = $scope:ident) => {
        impl Kind for $ty {
            type Spec = $spec;
            type Status = Absent;
            type Scope = $scope;
            const HAS_SPEC: bool = true;
            const HAS_STATUS: bool = false;
            const STATUS_SUBRESOURCE: bool = false;

            fn into_parts(self) -> (ObjectMeta, Self::Spec, Option<Self::Status>) {
                (self.metadata, self.spec, None)
            }

            fn from_parts(metadata: ObjectMeta, spec: $spec, _: Option<Absent>) -> Self {
                Self {
                    api_version: API_VERSION.to_owned(),
                    kind: <Self as SpiderResource>::KIND.to_owned(),
                    metadata,
                    spec,
                }
            }

            spec_kind!(@api $scope);
        }
    };
}

spec_kind!(
    SpiderIPPool,
    spec = IPPoolSpec,
    status = IPPoolStatus,
    scope = ClusterResourceScope,
    subresource = true
);
spec_kind!(
    SpiderSubnet,
    spec = SubnetSpec,
    status = SubnetStatus,
    scope = ClusterResourceScope,
    subresource = true
);
spec_kind!(SpiderReservedIP, spec = ReservedIPSpec, scope = ClusterResourceScope);
spec_kind!(SpiderMultusConfig, spec = MultusCNIConfigSpec, scope = NamespaceResourceScope);
spec_kind!(
    SpiderCoordinator,
    spec = CoordinatorSpec,
    status = CoordinatorStatus,
    scope = ClusterResourceScope,
    subresource = true
);

impl Kind for SpiderEndpoint {
    type Spec = Absent;
    type Status = WorkloadEndpointStatus;
    type Scope = NamespaceResourceScope;
    const HAS_SPEC: bool = false;
    const HAS_STATUS: bool = true;
    const STATUS_SUBRESOURCE: bool = false;

    fn into_parts(self) -> (ObjectMeta, Absent, Option<WorkloadEndpointStatus>) {
        (self.metadata, Absent, Some(self.status))
    }

    /// A missing status is the empty status (Go's non-pointer struct).
    fn from_parts(metadata: ObjectMeta, _: Absent, status: Option<WorkloadEndpointStatus>) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            metadata,
            status: status.unwrap_or_default(),
        }
    }

    fn api(client: Client, namespace: Option<&str>) -> Api<KubeObject<Self>> {
        namespaced_api(client, namespace)
    }
}

/// Never part of a generated CRD (the generator skips absent sections); the
/// impl exists so every kind's `Spec` and `Status` satisfy the same bounds.
impl schemars::JsonSchema for Absent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Absent".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scope type agrees with the core's `NAMESPACED` for every kind.
    #[test]
    fn scope_matches_core_namespaced_flag() {
        fn namespaced<K: Kind>() -> bool {
            std::any::type_name::<K::Scope>() == std::any::type_name::<NamespaceResourceScope>()
        }
        assert_eq!(namespaced::<SpiderIPPool>(), SpiderIPPool::NAMESPACED);
        assert_eq!(namespaced::<SpiderSubnet>(), SpiderSubnet::NAMESPACED);
        assert_eq!(namespaced::<SpiderReservedIP>(), SpiderReservedIP::NAMESPACED);
        assert_eq!(namespaced::<SpiderEndpoint>(), SpiderEndpoint::NAMESPACED);
        assert_eq!(namespaced::<SpiderMultusConfig>(), SpiderMultusConfig::NAMESPACED);
        assert_eq!(namespaced::<SpiderCoordinator>(), SpiderCoordinator::NAMESPACED);
    }

    #[test]
    fn absent_decodes_from_anything() {
        for text in ["null", "{}", r#"{"a":[1]}"#, "5"] {
            assert_eq!(serde_json::from_str::<Absent>(text).ok(), Some(Absent), "{text}");
        }
    }
}
