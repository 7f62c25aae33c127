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

/// Joins the warnings of one scan about the same object and reason into one
/// note (messages in order, `; `-separated): the sink remembers one message
/// per object and reason, so two notes about one pool (two bad records)
/// would otherwise replace each other and be published again every scan.
pub(super) fn merge_warnings(notes: Vec<Note>) -> Vec<Note> {
    let mut out: Vec<Note> = Vec::with_capacity(notes.len());
    for note in notes {
        let same = |n: &Note| {
            n.reason != IP_RELEASED && n.reason == note.reason && n.object == note.object
        };
        match out.iter_mut().find(|n| same(n)) {
            Some(n) => {
                n.message.push_str("; ");
                n.message.push_str(&note.message);
            }
            None => out.push(note),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_about_one_object_are_joined_and_releases_kept_apart() {
        let a = pool_ref("a", Some("uid-a".into()));
        let b = pool_ref("b", None);
        let notes = vec![
            Note::new(a.clone(), GC_SKIPPED, "one".into()),
            Note::new(b.clone(), GC_SKIPPED, "other".into()),
            Note::new(a.clone(), GC_SKIPPED, "two".into()),
            Note::new(a.clone(), IP_RELEASE_FAILED, "failed".into()),
            Note::new(a.clone(), IP_RELEASED, "r1".into()),
            Note::new(a.clone(), IP_RELEASED, "r2".into()),
        ];
        let merged: Vec<(String, &str, String)> = merge_warnings(notes)
            .into_iter()
            .map(|n| (n.object.name.unwrap(), n.reason, n.message))
            .collect();
        let want = [
            ("a", GC_SKIPPED, "one; two"),
            ("b", GC_SKIPPED, "other"),
            ("a", IP_RELEASE_FAILED, "failed"),
            ("a", IP_RELEASED, "r1"),
            ("a", IP_RELEASED, "r2"),
        ];
        let want: Vec<(String, &str, String)> =
            want.iter().map(|(o, r, m)| ((*o).to_owned(), *r, (*m).to_owned())).collect();
        assert_eq!(merged, want);
    }

    #[test]
    fn references_name_the_kind_and_version() {
        let p = pod_ref("ns", "p", "u");
        assert_eq!((p.api_version.as_deref(), p.kind.as_deref()), (Some("v1"), Some("Pod")));
        let e = endpoint_ref("ns", "p", None);
        assert_eq!(e.kind.as_deref(), Some("SpiderEndpoint"));
        assert_eq!(e.api_version.as_deref(), Some("spiderpool.spidernet.io/v2beta1"));
        assert_eq!(pool_ref("a", None).kind.as_deref(), Some("SpiderIPPool"));
    }
}
