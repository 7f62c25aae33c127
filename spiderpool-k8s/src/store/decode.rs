//! [`Decoded`]: an object as the store reads it — decoded into the core kind,
//! or, when that fails, its metadata and the field that did not decode.
//!
//! kube's watcher decodes whole pages of a list: with the typed
//! [`KubeObject`] one object that does not decode (a CRD installed from
//! another source with a looser schema, say) would fail the page, and so the
//! list, and so every pool. With `Decoded` the object is reported and skipped
//! instead, and every other object still arrives.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};

use crate::{Kind, KubeObject};

/// An object of kind `K`, decoded or not.
#[derive(Debug, Clone)]
pub(crate) struct Decoded<K: Kind> {
    /// The object's metadata (also when the rest does not decode).
    pub(crate) metadata: ObjectMeta,
    /// The object, or `field: why` when it does not decode.
    pub(crate) object: Result<KubeObject<K>, String>,
}

impl<K: Kind> Decoded<K> {
    /// The object's name.
    pub(crate) fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// The object's namespace (empty for cluster-scoped kinds).
    pub(crate) fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }

    /// The object's `resourceVersion`.
    pub(crate) fn resource_version(&self) -> &str {
        self.metadata.resource_version.as_deref().unwrap_or_default()
    }
}

impl<'de, K: Kind> Deserialize<'de> for Decoded<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        // Metadata must decode: without a name and a resourceVersion nothing
        // can be done with the object (the API server always sends both).
        let metadata = match value.get("metadata") {
            Some(m) => ObjectMeta::deserialize(m).map_err(serde::de::Error::custom)?,
            None => ObjectMeta::default(),
        };
        let object = serde_path_to_error::deserialize::<_, KubeObject<K>>(value)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()));
        Ok(Decoded { metadata, object })
    }
}

impl<K: Kind> Resource for Decoded<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        KubeObject::<K>::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        KubeObject::<K>::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        KubeObject::<K>::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        KubeObject::<K>::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        KubeObject::<K>::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use spiderpool_core::model::SpiderIPPool;

    use super::*;

    #[test]
    fn a_good_object_decodes() {
        let d: Decoded<SpiderIPPool> = serde_json::from_value(json!({
            "metadata": {"name": "p", "resourceVersion": "7"},
            "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.1"]}
        }))
        .unwrap();
        assert_eq!((d.name(), d.resource_version()), ("p", "7"));
        assert_eq!(d.object.unwrap().spec.ips, ["10.6.0.1"]);
    }

    #[test]
    fn a_bad_field_is_named_and_the_metadata_kept() {
        let d: Decoded<SpiderIPPool> = serde_json::from_value(json!({
            "metadata": {"name": "p", "resourceVersion": "7"},
            "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.1", 5]}
        }))
        .unwrap();
        assert_eq!(d.name(), "p");
        let err = d.object.unwrap_err();
        assert!(err.starts_with("spec.ips[1]: invalid type: integer `5`"), "{err}");
    }
}
