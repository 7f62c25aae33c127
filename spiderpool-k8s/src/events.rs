//! Kubernetes events for decisions users must see (a pool stays terminating,
//! an address released by GC, a NetworkAttachmentDefinition claimed twice),
//! shown by `kubectl describe` and `kubectl get events`.
//!
//! ```no_run
//! # async fn demo(client: kube::Client, pool: spiderpool_k8s::IPPoolObject) {
//! use spiderpool_k8s::events::{EventRecorder, EventType, object_ref};
//!
//! let events = EventRecorder::new(client, "spiderpool-controller", Some("pod-a".into()));
//! events
//!     .record(&object_ref(&pool), "PoolTerminating", "3 addresses still allocated", EventType::Warning)
//!     .await;
//! # }
//! ```
//!
//! Events are `events.k8s.io/v1` (GA since Kubernetes 1.19); a repeat of the
//! same event within kube's cache window becomes a series (a count), not a
//! new object. Events of cluster-scoped objects (pools, subnets) go to the
//! `default` namespace, as Kubernetes does. A failed event is logged and
//! never fails the caller's work.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, Recorder, Reporter};

pub use kube::runtime::events::EventType;

use crate::{Kind, KubeObject};

/// Publishes events as one controller instance.
#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
}

/// The reference of an object for [`EventRecorder::record`].
pub fn object_ref<K: Kind>(object: &KubeObject<K>) -> ObjectReference {
    object.object_ref(&())
}

impl EventRecorder {
    /// A recorder reporting as `controller` (e.g. `spiderpool-controller`),
    /// `instance` (e.g. the pod name).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: controller.to_owned(), instance };
        Self { recorder: Recorder::new(client, reporter) }
    }

    /// Records one event on `object`: `reason` is a CamelCase word
    /// (`PoolTerminating`), `message` what happened, for a person. Errors are
    /// logged, not returned.
    pub async fn record(
        &self,
        object: &ObjectReference,
        reason: &str,
        message: &str,
        type_: EventType,
    ) {
        if let Err(e) = self.try_record(object, reason, message, type_).await {
            tracing::warn!(
                "event {reason} on {} {:?}: {e}",
                object.kind.as_deref().unwrap_or(""),
                object.name.as_deref().unwrap_or("")
            );
        }
    }

    /// [`Self::record`], returning the API server's refusal.
    pub async fn try_record(
        &self,
        object: &ObjectReference,
        reason: &str,
        message: &str,
        type_: EventType,
    ) -> Result<(), kube::Error> {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(message.to_owned()),
            action: reason.to_owned(),
            secondary: None,
        };
        self.recorder.publish(&event, object).await
    }
}
