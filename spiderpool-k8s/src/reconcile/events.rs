//! Kubernetes events for decisions users must see, published once per
//! object, reason and message: a reconciler that looks at the same object
//! every resync does not repeat itself. A private helper until the
//! controller's events helper is shared.
//!
//! Events are `core/v1` Events (what `kubectl describe` lists): the API
//! server of Kubernetes 1.20 refuses an `events.k8s.io/v1` Event about a
//! cluster-scoped object (its `regarding.namespace` must equal the event's
//! namespace), and most Spiderpool kinds are cluster-scoped. Events about
//! cluster-scoped objects go to the `default` namespace, as client-go's
//! recorder puts them.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};

/// Who publishes events: `reportingComponent` / `source.component` and
/// `reportingInstance` / `source.host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// The controller's name (`spiderpool-controller`).
    pub controller: String,
    /// This replica (its pod name), when known.
    pub instance: Option<String>,
}

impl Default for Reporter {
    fn default() -> Self {
        Self { controller: super::FIELD_MANAGER.to_owned(), instance: None }
    }
}

/// Publishes events, each distinct one once.
pub struct EventSink {
    client: Client,
    reporter: Reporter,
    /// (object UID or kind/namespace/name, reason) → the last message published.
    published: Mutex<HashMap<(String, String), String>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").field("reporter", &self.reporter).finish_non_exhaustive()
    }
}

impl EventSink {
    /// A sink publishing as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self { client, reporter, published: Mutex::new(HashMap::new()) }
    }

    /// A Warning event on `object`, unless the same reason and message were
    /// published for it already. Failures are logged, never returned: an
    /// event is a report, not part of the reconcile.
    pub async fn warn(&self, object: &ObjectReference, reason: &str, message: &str) {
        self.publish("Warning", object, reason, message).await;
    }

    /// A Normal event on `object` (same rules as [`EventSink::warn`]).
    pub async fn normal(&self, object: &ObjectReference, reason: &str, message: &str) {
        self.publish("Normal", object, reason, message).await;
    }

    /// Forgets what was published for `object` and `reason`, so the next
    /// event with that reason is published again (the condition cleared).
    pub fn clear(&self, object: &ObjectReference, reason: &str) {
        if let Ok(mut map) = self.published.lock() {
            map.remove(&(key(object), reason.to_owned()));
        }
    }

    async fn publish(&self, type_: &str, object: &ObjectReference, reason: &str, message: &str) {
        let slot = (key(object), reason.to_owned());
        {
            let Ok(mut map) = self.published.lock() else { return };
            if map.get(&slot).is_some_and(|m| m == message) {
                return;
            }
            map.insert(slot.clone(), message.to_owned());
        }
        tracing::info!(
            kind = object.kind.as_deref().unwrap_or_default(),
            name = object.name.as_deref().unwrap_or_default(),
            reason,
            message,
            "event"
        );
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".to_owned());
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    object.name.as_deref().unwrap_or("object"),
                    now.as_nanosecond()
                )),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_owned()),
            // The API server refuses messages over 1 kB.
            message: Some(truncate(message, 1000)),
            type_: Some(type_.to_owned()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            source: Some(EventSource {
                component: Some(self.reporter.controller.clone()),
                host: self.reporter.instance.clone(),
            }),
            reporting_component: Some(self.reporter.controller.clone()),
            reporting_instance: self.reporter.instance.clone(),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(error) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(reason, %error, "publishing an event failed");
            if let Ok(mut map) = self.published.lock() {
                map.remove(&slot);
            }
        }
    }
}

fn key(object: &ObjectReference) -> String {
    object.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}/{}",
            object.kind.as_deref().unwrap_or_default(),
            object.namespace.as_deref().unwrap_or_default(),
            object.name.as_deref().unwrap_or_default()
        )
    })
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
