//! Health of the controller, on the health port:
//!
//! - `GET /v1/runtime/startup` (Spiderpool's path): 200 once every server
//!   is listening;
//! - `GET /v1/runtime/liveness`, `/livez`, `/healthz`: 200 while the process
//!   serves (the same as startup: a process that cannot serve has exited);
//! - `GET /v1/runtime/readiness`, `/readyz`: 200 when the webhook
//!   certificate is installed and the last probe of the API server (a list
//!   of each kind the webhooks read, every 10 s) succeeded; otherwise 503
//!   with what is missing, one reason a line. Readiness does not depend on
//!   leadership: every replica serves webhooks, and a follower is as ready as
//!   the leader.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use spiderpool_k8s::webhook::{CertStore, ExistingLister};

/// How often readiness probes the API server.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// What readiness and liveness read.
#[derive(Debug)]
pub struct Health {
    certs: Arc<CertStore>,
    api: Mutex<Result<(), String>>,
    started: AtomicBool,
}

impl Health {
    /// Not started, no probe yet.
    pub fn new(certs: Arc<CertStore>) -> Arc<Self> {
        Arc::new(Self {
            certs,
            api: Mutex::new(Err("the API server was not probed yet".into())),
            started: AtomicBool::new(false),
        })
    }

    /// Every server listens.
    pub fn set_started(&self) {
        self.started.store(true, Ordering::SeqCst);
    }

    /// The outcome of the last API server probe.
    pub fn set_api(&self, result: Result<(), String>) {
        *self.api.lock().unwrap_or_else(|e| e.into_inner()) = result;
    }

    /// Why the controller is not ready; empty when it is.
    pub fn not_ready(&self) -> Vec<String> {
        let mut why = Vec::new();
        if !self.started.load(Ordering::SeqCst) {
            why.push("the servers are starting".to_owned());
        }
        if self.certs.info().is_none() {
            why.push(match self.certs.error() {
                Some(e) => format!("no webhook certificate installed yet: {e}"),
                None => "no webhook certificate installed yet".to_owned(),
            });
        }
        if let Err(e) = &*self.api.lock().unwrap_or_else(|e| e.into_inner()) {
            why.push(format!("API server: {e}"));
        }
        why
    }
}

/// Probes the API server every [`PROBE_INTERVAL`] for readiness.
pub async fn probe_loop(health: Arc<Health>, lister: ExistingLister) {
    loop {
        let result = lister.probe().await;
        if let Err(e) = &result {
            tracing::warn!("readiness: API server probe: {e}");
        }
        health.set_api(result);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// The health port's routes.
pub fn health_router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/v1/runtime/startup", get(live))
        .route("/v1/runtime/liveness", get(live))
        .route("/livez", get(live))
        .route("/healthz", get(live))
        .route("/v1/runtime/readiness", get(ready))
        .route("/readyz", get(ready))
        .with_state(health)
}

async fn live(State(h): State<Arc<Health>>) -> (StatusCode, String) {
    if h.started.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok\n".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n".into())
    }
}

async fn ready(State(h): State<Arc<Health>>) -> (StatusCode, String) {
    let why = h.not_ready();
    if why.is_empty() {
        (StatusCode::OK, "ok\n".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready:\n{}\n", why.join("\n")))
    }
}
