//! The webhook port's routes: `POST /webhook/mutate` and `POST
//! /webhook/validate` answer AdmissionReview v1 with
//! [`spiderpool_k8s::webhook::Admission`]; `GET /webhook/health` answers 200
//! (a check of the TLS port itself).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;
use spiderpool_k8s::webhook::config::{MUTATE_PATH, VALIDATE_PATH};
use spiderpool_k8s::webhook::{Admission, Hook};

use super::metrics::ControllerMetrics;

/// The largest AdmissionReview accepted: an object and its old version
/// (etcd keeps objects up to 1.5 MiB each), with room to spare.
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Clone)]
struct WebhookState {
    admission: Admission,
    metrics: Arc<ControllerMetrics>,
}

/// The webhook routes.
pub fn webhook_router(admission: Admission, metrics: Arc<ControllerMetrics>) -> Router {
    Router::new()
        .route(MUTATE_PATH, post(mutate))
        .route(VALIDATE_PATH, post(validate))
        .route("/webhook/health", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(WebhookState { admission, metrics })
}

async fn mutate(
    State(s): State<WebhookState>,
    Json(review): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(&s, Hook::Mutate, review).await
}

async fn validate(
    State(s): State<WebhookState>,
    Json(review): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(&s, Hook::Validate, review).await
}

async fn answer(
    s: &WebhookState,
    hook: Hook,
    review: AdmissionReview<DynamicObject>,
) -> Json<AdmissionReview<DynamicObject>> {
    let started = Instant::now();
    let out = s.admission.review(hook, review).await;
    let result = match &out.response {
        Some(r) if r.allowed && r.patch.is_some() => "patched",
        Some(r) if r.allowed => "allowed",
        Some(r) if r.result.code == 500 || r.uid.is_empty() => "error",
        Some(_) => "denied",
        None => "error",
    };
    s.metrics.review(hook.as_str(), result, started.elapsed());
    Json(out)
}
