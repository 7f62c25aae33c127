//! [`KubeObject`]: a core kind as a `kube::Resource`.
//!
//! The core types cannot implement `kube::Resource` (they live in
//! spiderpool-core, which does not depend on kube, and the orphan rule forbids
//! implementing kube's trait for them here). `KubeObject<K>` is the envelope kube
//! needs — k8s-openapi metadata — around the core's own spec and status types,
//! so nothing of the model is duplicated:
//!
//! ```no_run
//! # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use kube::api::{Api, PostParams};
//! use spiderpool_core::model::{IPPoolSpec, SpiderIPPool};
//! use spiderpool_k8s::KubeObject;
//!
//! let pools: Api<KubeObject<SpiderIPPool>> = Api::all(client);
//! let pool = SpiderIPPool::new("v4", IPPoolSpec { subnet: "10.6.0.0/16".into(), ..Default::default() });
//! let created = pools.create(&PostParams::default(), &KubeObject::from_core(pool)?).await?;
//! let back: SpiderIPPool = created.into_core();
//! # Ok(()) }
//! ```
//!
//! It is `Clone + Debug + Serialize + DeserializeOwned` with
//! `DynamicType = ()` and a static scope, which is what kube-runtime's `watcher`
//! and `reflector`, `Api::replace_status` (compare-and-swap on
//! `metadata.resourceVersion`), `Patch::Apply` (server-side apply: the object
//! serializes with `apiVersion` and `kind`) and the other `Api` verbs need.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use spiderpool_core::model::{
    API_VERSION, GROUP, SpiderCoordinator, SpiderEndpoint, SpiderIPPool, SpiderMultusConfig,
    SpiderReservedIP, SpiderSubnet, VERSION,
};

use crate::{Kind, Result, meta};

/// A core kind `K` with k8s-openapi metadata: what `kube::Api` reads and writes.
///
/// Serializes as the core object does (`apiVersion`, `kind`, `metadata`, `spec`
/// unless the kind has none, `status` when present); `apiVersion` and `kind` are
/// always written and ignored on input.
pub struct KubeObject<K: Kind> {
    /// Full Kubernetes metadata (including `managedFields`, which the core drops).
    pub metadata: ObjectMeta,
    /// The core spec ([`crate::Absent`] for `SpiderEndpoint`).
    pub spec: K::Spec,
    /// The core status, when present.
    pub status: Option<K::Status>,
}

/// `SpiderIPPool` through kube.
pub type IPPoolObject = KubeObject<SpiderIPPool>;
/// `SpiderSubnet` through kube.
pub type SubnetObject = KubeObject<SpiderSubnet>;
/// `SpiderReservedIP` through kube.
pub type ReservedIPObject = KubeObject<SpiderReservedIP>;
/// `SpiderEndpoint` through kube.
pub type EndpointObject = KubeObject<SpiderEndpoint>;
/// `SpiderMultusConfig` through kube.
pub type MultusConfigObject = KubeObject<SpiderMultusConfig>;
/// `SpiderCoordinator` through kube.
pub type CoordinatorObject = KubeObject<SpiderCoordinator>;

impl<K: Kind> KubeObject<K> {
    /// The core object in kube's envelope.
    ///
    /// Fails only when a metadata timestamp is not an RFC 3339 time (see
    /// [`meta::to_k8s`]).
    pub fn from_core(object: K) -> Result<Self> {
        let (metadata, spec, status) = object.into_parts();
        Ok(Self { metadata: meta::to_k8s(metadata)?, spec, status })
    }

    /// The core object, with `apiVersion` and `kind` set. Metadata fields the
    /// core does not model (`managedFields`, `selfLink`) are dropped.
    pub fn into_core(self) -> K {
        K::from_parts(meta::to_core(self.metadata), self.spec, self.status)
    }

    /// [`KubeObject::into_core`] on a clone, for objects shared by a reflector
    /// store.
    pub fn to_core(&self) -> K {
        self.clone().into_core()
    }
}

impl<K: Kind> Resource for KubeObject<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(<K as spiderpool_core::model::SpiderResource>::KIND)
    }

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(GROUP)
    }

    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(VERSION)
    }

    fn api_version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(API_VERSION)
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::PLURAL)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

// Manual impls: a derive would demand `K: Clone` etc. instead of bounds on the
// associated types.
impl<K: Kind> Clone for KubeObject<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            spec: self.spec.clone(),
            status: self.status.clone(),
        }
    }
}

impl<K: Kind> fmt::Debug for KubeObject<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(<K as spiderpool_core::model::SpiderResource>::KIND)
            .field("metadata", &self.metadata)
            .field("spec", &self.spec)
            .field("status", &self.status)
            .finish()
    }
}

impl<K: Kind> PartialEq for KubeObject<K> {
    fn eq(&self, other: &Self) -> bool {
        self.metadata == other.metadata && self.spec == other.spec && self.status == other.status
    }
}

impl<K: Kind> Serialize for KubeObject<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let status = self.status.as_ref().filter(|_| K::HAS_STATUS);
        let fields = 3 + usize::from(K::HAS_SPEC) + usize::from(status.is_some());
        let mut s = serializer.serialize_struct("KubeObject", fields)?;
        s.serialize_field("apiVersion", API_VERSION)?;
        s.serialize_field("kind", <K as spiderpool_core::model::SpiderResource>::KIND)?;
        s.serialize_field("metadata", &self.metadata)?;
        if K::HAS_SPEC {
            s.serialize_field("spec", &self.spec)?;
        }
        if let Some(status) = status {
            s.serialize_field("status", status)?;
        }
        s.end()
    }
}

impl<'de, K: Kind> Deserialize<'de> for KubeObject<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<K>(PhantomData<K>);

impl<'de, K: Kind> Visitor<'de> for ObjectVisitor<K> {
    type Value = KubeObject<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} object", <K as spiderpool_core::model::SpiderResource>::KIND)
    }

    /// `null` sections mean "absent", as in the core's decoders; unknown keys
    /// (`apiVersion`, `kind`, a section the kind does not have, anything else)
    /// are ignored.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut metadata: Option<ObjectMeta> = None;
        let mut spec: Option<K::Spec> = None;
        let mut status: Option<K::Status> = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "metadata" => metadata = map.next_value::<Option<ObjectMeta>>()?,
                "spec" if K::HAS_SPEC => spec = next_section::<K::Spec, A>(&mut map)?,
                "status" if K::HAS_STATUS => status = next_section::<K::Status, A>(&mut map)?,
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(KubeObject {
            metadata: metadata.unwrap_or_default(),
            spec: spec.unwrap_or_default(),
            status,
        })
    }
}

fn next_section<'de, T: DeserializeOwned, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<T>, A::Error> {
    map.next_value::<Option<T>>()
}

#[cfg(test)]
mod tests;
