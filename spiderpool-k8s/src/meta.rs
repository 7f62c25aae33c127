//! Conversion between the core's [`ObjectMeta`](CoreMeta) (the subset of
//! `metav1.ObjectMeta` Spiderpool uses) and k8s-openapi's full
//! [`ObjectMeta`](K8sMeta).
//!
//! Core → k8s → core is the identity for every core value whose timestamps are in
//! the API server's form (`2024-05-01T10:00:00Z`). k8s → core keeps every field
//! the core models and drops the rest (`managedFields`, `selfLink`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ObjectMeta as K8sMeta, OwnerReference as K8sOwner, Time,
};
use spiderpool_core::model::{ObjectMeta as CoreMeta, OwnerReference as CoreOwner};

use crate::{Error, Result};

/// The core metadata as k8s-openapi metadata.
///
/// Fails only when a timestamp (`creationTimestamp`, `deletionTimestamp`) is not
/// an RFC 3339 time; the error names the field and the value.
pub fn to_k8s(meta: CoreMeta) -> Result<K8sMeta> {
    Ok(K8sMeta {
        annotations: meta.annotations,
        creation_timestamp: parse_time("metadata.creationTimestamp", meta.creation_timestamp)?,
        deletion_grace_period_seconds: meta.deletion_grace_period_seconds,
        deletion_timestamp: parse_time("metadata.deletionTimestamp", meta.deletion_timestamp)?,
        finalizers: meta.finalizers,
        generate_name: meta.generate_name,
        generation: meta.generation,
        labels: meta.labels,
        managed_fields: None,
        name: meta.name,
        namespace: meta.namespace,
        owner_references: meta
            .owner_references
            .map(|refs| refs.into_iter().map(owner_to_k8s).collect()),
        resource_version: meta.resource_version,
        self_link: None,
        uid: meta.uid,
    })
}

/// The k8s-openapi metadata as core metadata (fields the core does not model are
/// dropped).
pub fn to_core(meta: K8sMeta) -> CoreMeta {
    CoreMeta {
        name: meta.name,
        generate_name: meta.generate_name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        generation: meta.generation,
        creation_timestamp: meta.creation_timestamp.as_ref().map(format_time),
        deletion_timestamp: meta.deletion_timestamp.as_ref().map(format_time),
        deletion_grace_period_seconds: meta.deletion_grace_period_seconds,
        labels: meta.labels,
        annotations: meta.annotations,
        finalizers: meta.finalizers,
        owner_references: meta
            .owner_references
            .map(|refs| refs.into_iter().map(owner_to_core).collect()),
    }
}

fn owner_to_k8s(o: CoreOwner) -> K8sOwner {
    K8sOwner {
        api_version: o.api_version,
        block_owner_deletion: o.block_owner_deletion,
        controller: o.controller,
        kind: o.kind,
        name: o.name,
        uid: o.uid,
    }
}

fn owner_to_core(o: K8sOwner) -> CoreOwner {
    CoreOwner {
        api_version: o.api_version,
        kind: o.kind,
        name: o.name,
        uid: o.uid,
        controller: o.controller,
        block_owner_deletion: o.block_owner_deletion,
    }
}

/// Parses with k8s-openapi's own decoder, so the accepted forms are exactly the
/// client's.
fn parse_time(field: &'static str, value: Option<String>) -> Result<Option<Time>> {
    let Some(text) = value else { return Ok(None) };
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map(Some)
        .map_err(|e| Error::Timestamp { field, value: text, message: e.to_string() })
}

/// Formats as the API server does (`%Y-%m-%dT%H:%M:%SZ`), through k8s-openapi's
/// encoder.
fn format_time(time: &Time) -> String {
    match serde_json::to_value(time) {
        Ok(serde_json::Value::String(s)) => s,
        // k8s-openapi always encodes a Time as a string; keep a readable fallback.
        _ => format!("{:?}", time.0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;

    fn full_core_meta() -> CoreMeta {
        CoreMeta {
            name: Some("p".into()),
            generate_name: Some("p-".into()),
            namespace: Some("ns".into()),
            uid: Some("3f1c".into()),
            resource_version: Some("42".into()),
            generation: Some(3),
            creation_timestamp: Some("2024-05-01T10:00:00Z".into()),
            deletion_timestamp: Some("2024-05-02T11:30:05Z".into()),
            deletion_grace_period_seconds: Some(30),
            labels: Some(BTreeMap::from([("a".into(), "b".into())])),
            annotations: Some(BTreeMap::from([("x".into(), "y".into())])),
            finalizers: Some(vec!["spiderpool.spidernet.io".into()]),
            owner_references: Some(vec![CoreOwner {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: "p".into(),
                uid: "u".into(),
                controller: Some(true),
                block_owner_deletion: Some(false),
            }]),
        }
    }

    #[test]
    fn core_to_k8s_to_core_is_identity() {
        for meta in [CoreMeta::default(), CoreMeta::named("x"), full_core_meta()] {
            let k8s = to_k8s(meta.clone()).unwrap();
            assert_eq!(to_core(k8s), meta);
        }
    }

    #[test]
    fn k8s_json_matches_core_json() {
        let meta = full_core_meta();
        assert_eq!(
            serde_json::to_value(to_k8s(meta.clone()).unwrap()).unwrap(),
            serde_json::to_value(meta).unwrap()
        );
    }

    #[test]
    fn bad_timestamp_names_field_and_value() {
        let meta =
            CoreMeta { creation_timestamp: Some("yesterday".into()), ..CoreMeta::named("x") };
        let err = to_k8s(meta).unwrap_err().to_string();
        assert!(err.contains("metadata.creationTimestamp"), "{err}");
        assert!(err.contains("\"yesterday\""), "{err}");
    }
}
