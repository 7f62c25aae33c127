//! Endpoint writes: one made at once, and an endpoint's part of a group commit.

use std::sync::Arc;
use std::time::Instant;

use spiderpool_core::model::SpiderEndpoint;
use spiderpool_core::store::{StoreError, Version};

use super::fail;
use crate::store::Shared;
use crate::store::api::RequestError;
use crate::store::endpoints::{ENDPOINT, EndpointKey, conflict, endpoint_name, same_endpoint};
use crate::store::state::{EndpointBatch, Precondition};
use crate::store::stats::inc;

/// The object after a write (`None`: gone), with its `resourceVersion`.
type Answer = Option<(SpiderEndpoint, String)>;

/// One endpoint write made at once. A 409 or 404 reads the endpoint afresh
/// and is [`StoreError::AlreadyExists`] (a create) or
/// [`StoreError::Conflict`].
pub(super) async fn write_through(
    shared: &Arc<Shared>,
    key: &EndpointKey,
    pre: Precondition,
    after: Option<SpiderEndpoint>,
) -> Result<Version, StoreError> {
    let base = {
        let mut tables = shared.lock();
        tables.check_endpoint(key, pre)?;
        tables.endpoint_write_begins(key);
        tables.endpoint_base(key)
    };
    let sent = send(shared, base.as_deref(), after.as_ref()).await;
    if sent.is_err() {
        shared.lock().endpoint_write_failed(key, Instant::now());
    }
    match sent {
        Ok(answer) => Ok(shared.lock().endpoint_answered(key, answer, true, Instant::now())),
        Err(RequestError::Failed(message)) => Err(StoreError::Backend(message)),
        Err(RequestError::Conflict(_) | RequestError::NotFound(_)) => {
            inc(&shared.counters.endpoint_conflicts);
            refresh(shared, key).await;
            match pre {
                Precondition::Absent => {
                    Err(StoreError::AlreadyExists { kind: ENDPOINT, name: endpoint_name(key) })
                }
                Precondition::At(expected) => {
                    let actual = shared.lock().get_endpoint(key).map(|v| v.version);
                    Err(conflict(key, expected, actual))
                }
            }
        }
    }
}

/// An endpoint's part of a group commit: one write from the base to the state
/// after the staged writes that stand. On 409 or 404 their units fail and the
/// endpoint is read afresh.
pub(super) async fn commit(shared: &Arc<Shared>, batch: &EndpointBatch) {
    let (units, after, base) = {
        let mut tables = shared.lock();
        let (units, after) = tables.surviving(&batch.staged);
        if after.is_some() {
            tables.endpoint_write_begins(&batch.key);
        }
        (units, after, tables.endpoint_base(&batch.key))
    };
    let Some(after) = after else { return };
    let sent = send(shared, base.as_deref(), after.as_deref()).await;
    if sent.is_err() {
        shared.lock().endpoint_write_failed(&batch.key, Instant::now());
    }
    match sent {
        Ok(answer) => {
            shared.lock().endpoint_answered(&batch.key, answer, false, Instant::now());
        }
        Err(RequestError::Failed(message)) => fail(shared, &units, &StoreError::Backend(message)),
        Err(RequestError::Conflict(message) | RequestError::NotFound(message)) => {
            tracing::debug!(%message, "endpoint write refused");
            inc(&shared.counters.endpoint_conflicts);
            let actual = shared.lock().get_endpoint(&batch.key).map(|v| v.version);
            let expected = batch.staged.first().map_or(0, |s| s.expected);
            fail(shared, &units, &conflict(&batch.key, expected, actual));
            refresh(shared, &batch.key).await;
        }
    }
}

/// Sends the write that takes the endpoint from `base` to `after`: a create,
/// a replace against the base's `resourceVersion`, or a delete; nothing when
/// they already agree.
async fn send(
    shared: &Shared,
    base: Option<&SpiderEndpoint>,
    after: Option<&SpiderEndpoint>,
) -> Result<Answer, RequestError> {
    let requests = &shared.requests;
    match (base, after) {
        (None, None) => Ok(None),
        (Some(base), Some(after)) if same_endpoint(Some(base), Some(after)) => {
            let rv = base.metadata.resource_version.clone().unwrap_or_default();
            Ok(Some((base.clone(), rv)))
        }
        (None, Some(after)) => {
            inc(&shared.counters.endpoint_writes);
            requests.create_endpoint(for_create(after.clone())).await.map(Some)
        }
        (Some(base), Some(after)) => {
            inc(&shared.counters.endpoint_writes);
            requests.replace_endpoint(onto_base(after.clone(), base)).await.map(Some)
        }
        (Some(base), None) => {
            inc(&shared.counters.endpoint_writes);
            requests.delete_endpoint(base).await.map(|()| None)
        }
    }
}

/// Reads the endpoint afresh and installs what the API server holds.
async fn refresh(shared: &Shared, key: &EndpointKey) {
    match shared.requests.get_endpoint(&key.0, &key.1).await {
        Ok(answer) => {
            shared.lock().endpoint_answered(key, answer, true, Instant::now());
        }
        Err(e) => {
            tracing::warn!(endpoint = %endpoint_name(key), error = ?e, "reading the endpoint after a conflict failed");
        }
    }
}

/// `endpoint` as a create sends it: without server-set metadata.
fn for_create(mut endpoint: SpiderEndpoint) -> SpiderEndpoint {
    let meta = &mut endpoint.metadata;
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.generation = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    endpoint
}

/// `desired` as a replace of `base` sends it: the server-set metadata (UID,
/// `resourceVersion` — the compare-and-swap —, creation and deletion) of the
/// base.
fn onto_base(mut desired: SpiderEndpoint, base: &SpiderEndpoint) -> SpiderEndpoint {
    let (meta, from) = (&mut desired.metadata, &base.metadata);
    meta.uid.clone_from(&from.uid);
    meta.resource_version.clone_from(&from.resource_version);
    meta.creation_timestamp.clone_from(&from.creation_timestamp);
    meta.generation = from.generation;
    meta.deletion_timestamp.clone_from(&from.deletion_timestamp);
    meta.deletion_grace_period_seconds = from.deletion_grace_period_seconds;
    desired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replace_carries_the_base_metadata_and_a_create_none() {
        let mut base = SpiderEndpoint::default();
        base.metadata.uid = Some("u".into());
        base.metadata.resource_version = Some("42".into());
        base.metadata.creation_timestamp = Some("2025-01-01T00:00:00Z".into());
        let mut desired = SpiderEndpoint::default();
        desired.status.current.node = "n2".into();
        let sent = onto_base(desired, &base);
        assert_eq!(sent.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(sent.metadata.uid.as_deref(), Some("u"));
        assert_eq!(sent.status.current.node, "n2");
        let created = for_create(sent);
        assert_eq!((created.metadata.uid, created.metadata.resource_version), (None, None));
    }
}
