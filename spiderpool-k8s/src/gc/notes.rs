//! Events the collector posts on the objects, for decisions users must see
//! (`kubectl describe sp NAME`, `kubectl describe pod NAME`, `kubectl get
//! events`):
//!
//! | reason | type | on | when |
//! |---|---|---|---|
//! | [`IP_RELEASED`] | Normal | each SpiderIPPool an address was freed from; the Pod, when one with the holder's UID still exists | a release was carried out |
//! | [`IP_RELEASE_FAILED`] | Warning | the SpiderEndpoint, else each pool | a confirmed release failed (tried again next scan) |
//! | [`GC_SKIPPED`] | Warning | the pool or SpiderEndpoint | an object that bypassed admission was skipped |
//!
//! They are `core/v1` Events published through the reconcilers'
//! [`EventSink`]: Kubernetes 1.20 refuses an `events.k8s.io/v1` Event about
//! a cluster-scoped object, and SpiderIPPools are cluster-scoped, so their
//! events live in the `default` namespace (as client-go's recorder puts
//! them); `kubectl describe` finds them there. The SpiderEndpoint of a
//! released holder is deleted by the release itself, so released addresses
//! are reported on the pool (and the pod) rather than on it. Skips and
//! failures are published once per object and message; releases each time.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::Resource;
use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool};

use crate::KubeObject;
use crate::reconcile::EventSink;

/// Reason of the event of a release.
pub const IP_RELEASED: &str = "IPReleased";
/// Reason of the event of a release that failed.
pub const IP_RELEASE_FAILED: &str = "IPReleaseFailed";
/// Reason of the event of an object the collector skipped.
pub const GC_SKIPPED: &str = "GCSkipped";

/// One event to publish after a scan.
#[derive(Debug, Clone)]
pub(super) struct Note {
    pub object: ObjectReference,
    pub reason: &'static str,
    pub message: String,
}

impl Note {
    pub(super) fn new(object: ObjectReference, reason: &'static str, message: String) -> Self {
        Self { object, reason, message }
    }
}

/// The reference of SpiderIPPool `name` (`uid` when known).
pub(super) fn pool_ref(name: &str, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some(KubeObject::<SpiderIPPool>::api_version(&()).into_owned()),
        kind: Some(KubeObject::<SpiderIPPool>::kind(&()).into_owned()),
        name: Some(name.to_owned()),
        uid,
        ..Default::default()
    }
}

/// The reference of a SpiderEndpoint.
pub(super) fn endpoint_ref(namespace: &str, name: &str, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some(KubeObject::<SpiderEndpoint>::api_version(&()).into_owned()),
        kind: Some(KubeObject::<SpiderEndpoint>::kind(&()).into_owned()),
        namespace: Some(namespace.to_owned()),
        name: Some(name.to_owned()),
        uid,
        ..Default::default()
    }
}

/// The reference of a Pod.
pub(super) fn pod_ref(namespace: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(<Pod as k8s_openapi::Resource>::API_VERSION.to_owned()),
        kind: Some(<Pod as k8s_openapi::Resource>::KIND.to_owned()),
        namespace: Some(namespace.to_owned()),
        name: Some(name.to_owned()),
        uid: Some(uid.to_owned()),
        ..Default::default()
    }
}

/// Publishes `notes`, at most `limit` at a time. Releases are published
/// every time (and forgotten by the sink at once, so it keeps no memory of
/// them); skips and failures once per object and message.
pub(super) async fn publish(sink: &EventSink, notes: Vec<Note>, limit: usize) {
    use futures::StreamExt;
    futures::stream::iter(notes)
        .for_each_concurrent(limit.max(1), |note| async move {
            if note.reason == IP_RELEASED {
                sink.normal(&note.object, note.reason, &note.message).await;
                sink.clear(&note.object, note.reason);
            } else {
                sink.warn(&note.object, note.reason, &note.message).await;
            }
        })
        .await;
}
