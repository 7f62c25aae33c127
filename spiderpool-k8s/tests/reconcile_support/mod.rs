//! What the reconciler tests share: running the reconcilers scoped to a
//! test's label, waiting for a condition, reading events.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use spiderpool_k8s::reconcile::{self, ReconcileError, ReconcileOptions};
use spiderpool_k8s::testing::TestResult;

/// The label that scopes a test's reconcilers.
pub const LABEL: &str = "spiderpool-rs.test/reconcile";

/// How long a test waits for a reconciler to act.
pub const WAIT: Duration = Duration::from_secs(30);

/// Reconcilers for objects labelled `LABEL=value`, with short resync and
/// retry periods; no coordinator, no NADs unless the test turns them on.
pub fn options(value: &str) -> ReconcileOptions {
    ReconcileOptions {
        label_selector: Some(format!("{LABEL}={value}")),
        multus_config: false,
        coordinator: None,
        resync: Duration::from_secs(2),
        retry: Duration::from_millis(500),
        ..ReconcileOptions::default()
    }
}

/// Reconcilers running in the background; stopped (gracefully) by
/// [`Running::stop`], aborted on drop.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ReconcileError>>>,
}

/// Starts [`reconcile::run`].
pub fn start(client: kube::Client, options: ReconcileOptions) -> Running {
    // Logs of failing tests (shown with --nocapture).
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_test_writer()
        .try_init();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reconcile::run(client, options, async move {
        let _ = rx.await;
    }));
    Running { stop: Some(tx), task: Some(task) }
}

impl Running {
    /// Asks the reconcilers to stop and waits until they did; their result.
    pub async fn stop(mut self) -> Result<(), ReconcileError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("reconcilers stop within 20 s")
            .expect("reconcile task does not panic")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Polls `probe` until it returns `Ok`, or fails after `WAIT` naming `what`
/// and the last thing seen ([`spiderpool_k8s::testing::eventually`]).
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Result<T, String>>>,
{
    spiderpool_k8s::testing::eventually(WAIT, what, probe).await
}

/// The events (`core/v1`) regarding `name` in `namespace`
/// (`default` for cluster-scoped objects): (type, reason, note).
pub async fn events(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> TestResult<Vec<(String, String, String)>> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&ListParams::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect())
}

/// Waits for an event with `reason` regarding `name`; its note.
pub async fn event(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    reason: &str,
) -> TestResult<String> {
    eventually(&format!("event {reason} on {name}"), || async {
        let all = events(client, namespace, name).await?;
        Ok(all
            .iter()
            .find(|(_, r, _)| r == reason)
            .map(|(_, _, note)| note.clone())
            .ok_or_else(|| format!("{all:?}")))
    })
    .await
}
