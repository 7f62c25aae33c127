//! One watch cache ([`Cache`]): a kube-runtime reflector of one resource,
//! whether it has been listed since the agent started, its last watch error,
//! and reads that wait (bounded) for the first list.
//!
//! The watcher lists, then watches from the list's `resourceVersion`; when the
//! watch expires (`410 Gone`) or the API server was away it lists again and
//! the reflector swaps the relist in whole, so no event is lost. Errors are
//! retried with kube's default backoff; the last one is kept for health and
//! for the error of a read that timed out waiting.

use std::fmt::Debug;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use spiderpool_core::store::StoreError;
use tokio::task::AbortHandle;

/// Whether a cache has been listed, and its last watch error.
#[derive(Debug)]
struct SyncState {
    listed: tokio::sync::watch::Sender<bool>,
    error: Mutex<Option<String>>,
}

impl Default for SyncState {
    fn default() -> Self {
        Self { listed: tokio::sync::watch::Sender::new(false), error: Mutex::new(None) }
    }
}

/// A reflector of `K` and its sync state.
pub(super) struct Cache<K: Resource<DynamicType = ()> + 'static> {
    /// What it caches, for messages: `pods`, `statefulsets.apps`, ...
    what: &'static str,
    reader: reflector::Store<K>,
    sync: Arc<SyncState>,
    task: AbortHandle,
}

impl<K> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Starts watching `api` with `config` on `runtime`.
    pub(super) fn spawn(
        what: &'static str,
        api: Api<K>,
        config: watcher::Config,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let (reader, writer) = reflector::store();
        let sync = Arc::new(SyncState::default());
        let state = sync.clone();
        let task = runtime.spawn(async move {
            let mut events = pin!(watcher::watcher(api, config).default_backoff().reflect(writer));
            while let Some(event) = events.next().await {
                match event {
                    Ok(Event::InitDone) => {
                        set_error(&state, None);
                        state.listed.send_if_modified(|l| !std::mem::replace(l, true));
                        tracing::debug!(kind = what, "listed");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        let message = describe_watch_error(&error);
                        tracing::warn!(kind = what, error = %message, "watch failed; retrying");
                        set_error(&state, Some(message));
                    }
                }
            }
        });
        Self { what, reader, sync, task: task.abort_handle() }
    }

    /// `Ok` once listed; otherwise `what` and the last error.
    pub(super) fn status(&self) -> Result<(), String> {
        if *self.sync.listed.borrow() {
            return Ok(());
        }
        let error = self.sync.error.lock().ok().and_then(|e| e.clone());
        Err(match error {
            Some(e) => format!("{} (last error: {e})", self.what),
            None => self.what.to_owned(),
        })
    }

    /// Waits up to `timeout` for the first list.
    pub(super) async fn wait(&self, timeout: Duration) -> Result<(), StoreError> {
        if self.status().is_ok() {
            return Ok(());
        }
        let mut listed = self.sync.listed.subscribe();
        let _ = tokio::time::timeout(timeout, listed.wait_for(|l| *l)).await;
        self.status().map_err(|missing| {
            StoreError::Backend(format!(
                "kubernetes pod facts not ready: waiting for the first list of {missing} (after {timeout:?})"
            ))
        })
    }

    /// The cached object `namespace/name` (`namespace` `None` for
    /// cluster-scoped kinds).
    pub(super) fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        let mut key = ObjectRef::<K>::new(name);
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        self.reader.get(&key)
    }

    /// How many objects the cache holds.
    pub(super) fn len(&self) -> usize {
        self.reader.len()
    }
}

impl<K: Resource<DynamicType = ()> + 'static> Drop for Cache<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn set_error(sync: &SyncState, error: Option<String>) {
    if let Ok(mut e) = sync.error.lock() {
        *e = error;
    }
}

/// A watch error in one line: the API server's message, reason and code for
/// a refused request (a 403 names the verb, the resource and the account),
/// else the chain of causes, each once.
pub(super) fn describe_watch_error(error: &watcher::Error) -> String {
    let kube_error = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => Some(e),
        _ => None,
    };
    if let Some(kube::Error::Api(status)) = kube_error {
        return format!("{} ({}, HTTP {})", status.message, status.reason, status.code);
    }
    if let watcher::Error::WatchError(status) = error {
        return format!("{} ({}, HTTP {})", status.message, status.reason, status.code);
    }
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A kube request error in one line (see [`describe_watch_error`]).
pub(super) fn describe(error: &kube::Error) -> String {
    if let kube::Error::Api(status) = error {
        return format!("{} ({}, HTTP {})", status.message, status.reason, status.code);
    }
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
