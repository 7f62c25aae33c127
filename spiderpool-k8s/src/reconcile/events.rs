//! Kubernetes events for decisions users must see (`events.k8s.io/v1`,
//! through kube-runtime's `Recorder`), published once per object, reason and
//! message: a reconciler that looks at the same object every resync does not
//! repeat itself. A private helper until the controller's events helper is
//! shared.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder};

/// Who publishes events: `reportingController` and `reportingInstance`.
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
    recorder: Recorder,
    /// (object UID or namespace/name, reason) → the last message published.
    published: Mutex<HashMap<(String, String), String>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").finish_non_exhaustive()
    }
}

impl EventSink {
    /// A sink publishing as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        let reporter = kube::runtime::events::Reporter {
            controller: reporter.controller,
            instance: reporter.instance,
        };
        Self { recorder: Recorder::new(client, reporter), published: Mutex::new(HashMap::new()) }
    }

    /// A Warning event on `object`, unless the same reason and message were
    /// published for it already. Failures are logged, never returned: an
    /// event is a report, not part of the reconcile.
    pub async fn warn(&self, object: &ObjectReference, reason: &str, message: &str) {
        self.publish(EventType::Warning, object, reason, message).await;
    }

    /// A Normal event on `object` (same rules as [`EventSink::warn`]).
    pub async fn normal(&self, object: &ObjectReference, reason: &str, message: &str) {
        self.publish(EventType::Normal, object, reason, message).await;
    }

    /// Forgets what was published for `object` and `reason`, so the next
    /// event with that reason is published again (the condition cleared).
    pub fn clear(&self, object: &ObjectReference, reason: &str) {
        if let Ok(mut map) = self.published.lock() {
            map.remove(&(key(object), reason.to_owned()));
        }
    }

    async fn publish(
        &self,
        type_: EventType,
        object: &ObjectReference,
        reason: &str,
        message: &str,
    ) {
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
        let event = Event {
            type_,
            reason: reason.to_owned(),
            // The API server refuses notes over 1 kB.
            note: Some(truncate(message, 1000)),
            action: reason.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, object).await {
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
