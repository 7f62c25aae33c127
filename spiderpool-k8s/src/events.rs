//! Kubernetes events for decisions users must see (a pool stays terminating,
//! an address released by GC, a NetworkAttachmentDefinition claimed twice,
//! an overlapping pool), shown by `kubectl describe` and `kubectl get
//! events`.
//!
//! ```no_run
//! # async fn demo(client: kube::Client, pool: spiderpool_k8s::IPPoolObject) {
//! use spiderpool_k8s::events::{EventRecorder, EventType, object_ref};
//!
//! let events = EventRecorder::new(client, "spiderpool-controller", "pod-a");
//! events
//!     .record(&object_ref(&pool), "PoolTerminating", "3 addresses still allocated", EventType::Warning)
//!     .await;
//! # }
//! ```
//!
//! Events are `events.k8s.io/v1` (GA since Kubernetes 1.19). The event of a
//! namespaced object lives in the object's namespace; the event of a
//! cluster-scoped object (pools, subnets) lives in `kube-system` — the one
//! namespace every API server accepts for it (1.20 refuses `default` for an
//! event with an event time and an object without a namespace, which is why
//! kube-runtime's `Recorder`, which uses `default`, is not used here). The
//! same event repeated within [`SERIES_WINDOW`] updates a series (a count and
//! the last time) instead of creating another object. A failed event is
//! logged and never fails the caller's work ([`EventRecorder::record`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde_json::json;
use tokio::sync::Mutex;

use crate::{Kind, KubeObject};

/// How long a repeated event counts as the same series.
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// The namespace of events about cluster-scoped objects.
pub const CLUSTER_EVENTS_NAMESPACE: &str = "kube-system";

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something users should look at.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// The reference of an object for [`EventRecorder::record`].
pub fn object_ref<K: Kind>(object: &KubeObject<K>) -> ObjectReference {
    object.object_ref(&())
}

type SeriesKey = (String, String, String, String, EventType, String);

#[derive(Debug)]
struct Sent {
    name: String,
    count: i32,
    last: Instant,
}

/// Publishes events as one controller instance.
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    controller: String,
    instance: String,
    sent: Arc<Mutex<HashMap<SeriesKey, Sent>>>,
}

impl EventRecorder {
    /// A recorder reporting as `controller` (e.g. `spiderpool-controller`),
    /// `instance` (e.g. the pod name).
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        Self {
            client,
            controller: controller.to_owned(),
            instance: instance.to_owned(),
            sent: Arc::default(),
        }
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
        let namespace = object
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| CLUSTER_EVENTS_NAMESPACE.to_owned());
        let key = (
            object.kind.clone().unwrap_or_default(),
            namespace.clone(),
            object.name.clone().unwrap_or_default(),
            reason.to_owned(),
            type_,
            message.to_owned(),
        );
        let now = MicroTime(Timestamp::now());
        let mut sent = self.sent.lock().await;
        sent.retain(|_, s| s.last.elapsed() < SERIES_WINDOW);
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some(s) = sent.get_mut(&key) {
            let count = s.count + 1;
            let series = EventSeries { count, last_observed_time: now.clone() };
            let patch = json!({"series": series});
            match api.patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {
                    s.count = count;
                    s.last = Instant::now();
                    return Ok(());
                }
                // The event expired on the server: start a new one.
                Err(kube::Error::Api(st)) if st.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            object.name.as_deref().unwrap_or(&self.controller),
            now.0.as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            action: Some(reason.to_owned()),
            reason: Some(reason.to_owned()),
            note: Some(message.to_owned()),
            event_time: Some(now),
            regarding: Some(object.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(type_.as_str().to_owned()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &event).await?;
        sent.insert(key, Sent { name, count: 1, last: Instant::now() });
        Ok(())
    }
}
