//! One AdmissionReview in, one out: the core's defaulting and validation over
//! the object of the request and the objects that exist.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, Operation as KubeOperation,
};
use kube::core::response::{StatusCause, StatusDetails};
use kube::core::{DynamicObject, Status};
use serde_json::Value;
use spiderpool_core::admission::{
    self, ClusterSettings, Context, Existing, Operation, Rejection, StatusReason, teardown,
};
use spiderpool_core::model::{GROUP, KINDS, Resource};

use super::existing::ExistingLister;
use super::patch::defaulting_patch;
use super::pending::Pending;

/// How long a review may take to list the objects it compares with.
pub const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Which webhook a review came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// The mutating webhook: defaults as a JSONPatch.
    Mutate,
    /// The validating webhook: the core's rejections.
    Validate,
}

impl Hook {
    /// `mutate` or `validate` (metric labels, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Mutate => "mutate",
            Hook::Validate => "validate",
        }
    }
}

/// What the webhook answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Allowed without changes.
    Allow,
    /// Allowed with these defaults.
    Patch(json_patch::Patch),
    /// Refused.
    Deny(Rejection),
}

/// Counters of the answers, by outcome.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Reviews answered "allowed" without a patch.
    pub allowed: AtomicU64,
    /// Reviews answered with a JSONPatch.
    pub patched: AtomicU64,
    /// Reviews refused with the core's rejection.
    pub denied: AtomicU64,
    /// Reviews that failed for another reason (API server unreachable, a
    /// request that does not decode).
    pub errors: AtomicU64,
}

/// The admission webhooks' logic, shared by every connection.
#[derive(Clone)]
pub struct Admission {
    lister: ExistingLister,
    settings: Arc<ClusterSettings>,
    stats: Arc<WebhookStats>,
    pending: Arc<Pending>,
}

impl Admission {
    /// Admission over the API server of `lister`, with `settings`.
    pub fn new(lister: ExistingLister, settings: ClusterSettings) -> Self {
        Self {
            lister,
            settings: Arc::new(settings),
            stats: Arc::default(),
            pending: Arc::default(),
        }
    }

    /// The answer counters.
    pub fn stats(&self) -> Arc<WebhookStats> {
        self.stats.clone()
    }

    /// Answers one AdmissionReview (`admission.k8s.io/v1`).
    pub async fn review(
        &self,
        hook: Hook,
        review: AdmissionReview<DynamicObject>,
    ) -> AdmissionReview<DynamicObject> {
        let request: AdmissionRequest<DynamicObject> = match review.try_into() {
            Ok(r) => r,
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return AdmissionResponse::invalid(format!("not an AdmissionReview request: {e}"))
                    .into_review();
            }
        };
        let response = AdmissionResponse::from(&request);
        let verdict = match self.decide(hook, &request).await {
            Ok(v) => v,
            Err(message) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(hook = hook.as_str(), "{message}");
                let mut r = response.deny(&message);
                r.result = Status::failure(&message, "InternalError").with_code(500);
                return r.into_review();
            }
        };
        self.answer(hook, &request, response, verdict).into_review()
    }

    fn answer(
        &self,
        hook: Hook,
        request: &AdmissionRequest<DynamicObject>,
        response: AdmissionResponse,
        verdict: Verdict,
    ) -> AdmissionResponse {
        let what = describe(request);
        match verdict {
            Verdict::Allow => {
                self.stats.allowed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(hook = hook.as_str(), "allowed {what}");
                response
            }
            Verdict::Patch(patch) => match response.clone().with_patch(patch) {
                Ok(r) => {
                    self.stats.patched.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(hook = hook.as_str(), "defaulted {what}");
                    r
                }
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    response.deny(format!("{what}: cannot encode the defaulting patch: {e}"))
                }
            },
            Verdict::Deny(rejection) => {
                self.stats.denied.fetch_add(1, Ordering::Relaxed);
                tracing::info!(hook = hook.as_str(), "refused {what}: {rejection}");
                let mut r = response.deny(rejection.to_string());
                r.result = rejection_status(&rejection, request);
                r
            }
        }
    }

    /// The verdict on one request; `Err` when the objects that exist cannot
    /// be read.
    async fn decide(
        &self,
        hook: Hook,
        request: &AdmissionRequest<DynamicObject>,
    ) -> Result<Verdict, String> {
        if request.kind.group != GROUP || !KINDS.contains(&request.kind.kind.as_str()) {
            // The webhook configurations match only our group; anything else
            // is let through untouched.
            return Ok(Verdict::Allow);
        }
        let Some(op) = operation(&request.operation) else { return Ok(Verdict::Allow) };
        let new = request.object.as_ref().map(to_value).transpose()?;
        let old = request.old_object.as_ref().map(to_value).transpose()?;
        let input = match Input::decode(op, new, old) {
            Ok(input) => input,
            Err(rejection) => return Ok(Verdict::Deny(rejection)),
        };
        if input.settled(hook) {
            return Ok(Verdict::Allow);
        }
        // Validation of kinds with cross-object rules runs one review at a
        // time and sees what this replica admitted just before (#746).
        let serial = hook == Hook::Validate
            && op != Operation::Delete
            && matches!(input.new, Some(Resource::IPPool(_) | Resource::Subnet(_)));
        let mut guard = if serial { Some(self.pending.lock().await) } else { None };
        let listed =
            tokio::time::timeout(LIST_TIMEOUT, self.lister.existing_for(&request.kind.kind))
                .await
                .unwrap_or_else(|_| {
                    Err(kube::Error::Service(format!("no answer within {LIST_TIMEOUT:?}").into()))
                });
        let mut existing =
            listed.map_err(|e| format!("{}: reading existing objects: {e}", describe(request)))?;
        if let Some(g) = guard.as_mut() {
            g.merge_into(&mut existing);
        }
        let admitted = input.new.clone();
        let verdict =
            input.verdict(hook, &Context { settings: &self.settings, existing: &existing });
        if let (Some(g), Verdict::Allow, false, Some(obj)) =
            (guard.as_mut(), &verdict, request.dry_run, admitted)
        {
            let replaces =
                request.old_object.as_ref().and_then(|o| o.metadata.resource_version.clone());
            g.admitted(obj, replaces);
        }
        Ok(verdict)
    }
}

/// A decoded request.
#[derive(Debug)]
pub struct Input {
    op: Operation,
    raw: Option<Value>,
    new: Option<Resource>,
    old: Option<Resource>,
}

impl Input {
    /// Decodes the request's objects; a body that does not decode into the
    /// model is refused (`BadRequest`) with the field that is wrong.
    pub fn decode(
        op: Operation,
        new: Option<Value>,
        old: Option<Value>,
    ) -> Result<Self, Rejection> {
        let decode = |v: &Value| {
            Resource::from_value(v.clone()).map_err(|e| Rejection {
                reason: StatusReason::BadRequest,
                kind: v["kind"].as_str().unwrap_or_default().to_owned(),
                name: v["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                message: e.to_string(),
                causes: Vec::new(),
            })
        };
        let new_res = new.as_ref().map(decode).transpose()?;
        // The stored object is what it is: when it does not decode, the
        // request is judged without it.
        let old_res = old.as_ref().and_then(|v| decode(v).ok());
        Ok(Self { op, raw: new, new: new_res, old: old_res })
    }

    /// True when the answer is "allowed" whatever exists: a teardown of a
    /// terminating object (#1203), defaulting of a terminating object, a
    /// kind without rules (SpiderEndpoint), or a DELETE of an object that
    /// does not decode.
    pub fn settled(&self, hook: Hook) -> bool {
        let Some(subject) = self.new.as_ref().or(self.old.as_ref()) else {
            // A DELETE whose stored object does not decode: never blocked.
            return true;
        };
        if matches!(subject, Resource::Endpoint(_)) {
            return true;
        }
        match hook {
            Hook::Mutate => {
                self.op == Operation::Delete
                    || self.new.as_ref().is_none_or(teardown::skip_mutation)
            }
            Hook::Validate => {
                teardown::metadata_only_teardown(self.op, self.new.as_ref(), self.old.as_ref())
            }
        }
    }

    /// The core's answer for this request.
    pub fn verdict(self, hook: Hook, ctx: &Context<'_>) -> Verdict {
        if self.settled(hook) {
            return Verdict::Allow;
        }
        match hook {
            Hook::Validate => {
                match admission::validate(self.op, self.new.as_ref(), self.old.as_ref(), ctx) {
                    Ok(()) => Verdict::Allow,
                    Err(r) => Verdict::Deny(r),
                }
            }
            Hook::Mutate => {
                let (Some(raw), Some(mut obj)) = (self.raw, self.new) else {
                    return Verdict::Allow;
                };
                let before = match obj.to_value() {
                    Ok(v) => v,
                    Err(e) => return Verdict::Deny(bad_request(&obj, e.to_string())),
                };
                if let Err(r) = admission::mutate(&mut obj, self.op, ctx) {
                    return Verdict::Deny(r);
                }
                match obj.to_value() {
                    Ok(after) => {
                        let patch = defaulting_patch(&raw, &before, &after);
                        if patch.0.is_empty() { Verdict::Allow } else { Verdict::Patch(patch) }
                    }
                    Err(e) => Verdict::Deny(bad_request(&obj, e.to_string())),
                }
            }
        }
    }
}

/// The verdict on a request whose objects are given as JSON, with `existing`
/// (what the webhook computes once it has listed the objects; for tests and
/// `spiderpoolctl`-like tools).
pub fn verdict_for(
    hook: Hook,
    op: Operation,
    new: Option<Value>,
    old: Option<Value>,
    settings: &ClusterSettings,
    existing: &Existing,
) -> Verdict {
    match Input::decode(op, new, old) {
        Ok(input) => input.verdict(hook, &Context { settings, existing }),
        Err(r) => Verdict::Deny(r),
    }
}

fn bad_request(obj: &Resource, message: String) -> Rejection {
    Rejection {
        reason: StatusReason::BadRequest,
        kind: obj.kind().to_owned(),
        name: obj.name().to_owned(),
        message,
        causes: Vec::new(),
    }
}

fn operation(op: &KubeOperation) -> Option<Operation> {
    match op {
        KubeOperation::Create => Some(Operation::Create),
        KubeOperation::Update => Some(Operation::Update),
        KubeOperation::Delete => Some(Operation::Delete),
        KubeOperation::Connect => None,
    }
}

fn to_value(obj: &DynamicObject) -> Result<Value, String> {
    serde_json::to_value(obj).map_err(|e| format!("cannot read the request's object: {e}"))
}

fn describe(request: &AdmissionRequest<DynamicObject>) -> String {
    let op = format!("{:?}", request.operation).to_uppercase();
    match &request.namespace {
        Some(ns) => format!("{op} {} {ns}/{}", request.kind.kind, request.name),
        None => format!("{op} {} {}", request.kind.kind, request.name),
    }
}

/// The `status` of a refusal: Kubernetes' form of the core's rejection —
/// reason, code, the message `kubectl` prints, and every field error as a
/// cause.
pub fn rejection_status(
    rejection: &Rejection,
    request: &AdmissionRequest<DynamicObject>,
) -> Status {
    let reason = match rejection.reason {
        StatusReason::Invalid => "Invalid",
        StatusReason::Forbidden => "Forbidden",
        StatusReason::AlreadyExists => "AlreadyExists",
        StatusReason::BadRequest => "BadRequest",
    };
    let mut status =
        Status::failure(&rejection.to_string(), reason).with_code(rejection.reason.code());
    status.details = Some(StatusDetails {
        name: request.name.clone(),
        group: request.kind.group.clone(),
        kind: request.kind.kind.clone(),
        uid: String::new(),
        causes: rejection
            .causes
            .iter()
            .map(|c| StatusCause {
                reason: serde_json::to_value(c.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                // kubectl prints `* <field>: <message>`.
                message: c
                    .to_string()
                    .strip_prefix(&format!("{}: ", c.field))
                    .map(str::to_owned)
                    .unwrap_or_else(|| c.to_string()),
                field: c.field.clone(),
            })
            .collect(),
        retry_after_seconds: 0,
    });
    status
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pool(extra_meta: Value, spec: Value) -> Value {
        let mut meta = json!({"name": "p", "uid": "u", "managedFields": [{"manager": "kubectl"}]});
        if let (Some(m), Some(e)) = (meta.as_object_mut(), extra_meta.as_object()) {
            m.extend(e.clone());
        }
        json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
               "metadata": meta, "spec": spec})
    }

    fn run(hook: Hook, op: Operation, new: Option<Value>, old: Option<Value>) -> Verdict {
        verdict_for(hook, op, new, old, &ClusterSettings::default(), &Existing::default())
    }

    #[test]
    fn defaults_are_a_patch_on_the_request_object() {
        let obj =
            pool(json!({}), json!({"subnet": "10.6.0.0/16", "ips": ["10.6.0.2", "10.6.0.1"]}));
        let Verdict::Patch(patch) = run(Hook::Mutate, Operation::Create, Some(obj.clone()), None)
        else {
            panic!("expected a patch")
        };
        let mut patched = obj;
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(patched["spec"]["ipVersion"], 4);
        assert_eq!(patched["spec"]["ips"], json!(["10.6.0.1-10.6.0.2"]));
        assert_eq!(patched["metadata"]["finalizers"], json!(["spiderpool.spidernet.io"]));
        assert_eq!(patched["metadata"]["managedFields"], json!([{"manager": "kubectl"}]));
    }

    #[test]
    fn refusals_carry_every_field_error() {
        let obj = pool(
            json!({}),
            json!({"subnet": "10.6.0.0/16", "ipVersion": 4, "ips": ["10.7.0.1"], "gateway": "10.9.0.1"}),
        );
        let Verdict::Deny(r) = run(Hook::Validate, Operation::Create, Some(obj), None) else {
            panic!("expected a refusal")
        };
        assert_eq!(r.reason, StatusReason::Invalid);
        let fields: Vec<_> = r.causes.iter().map(|c| c.field.as_str()).collect();
        assert!(fields.contains(&"spec.ips[0]") && fields.contains(&"spec.gateway"), "{fields:?}");
    }

    #[test]
    fn a_body_that_does_not_decode_is_a_bad_request_naming_the_field() {
        let obj = pool(json!({}), json!({"subnet": "10.6.0.0/16", "ipVersion": "four"}));
        let Verdict::Deny(r) = run(Hook::Validate, Operation::Create, Some(obj), None) else {
            panic!("expected a refusal")
        };
        assert_eq!(r.reason, StatusReason::BadRequest);
        assert!(r.message.contains("spec.ipVersion"), "{}", r.message);
    }

    #[test]
    fn finalizers_of_a_terminating_pool_can_go_and_nothing_is_defaulted_there() {
        let gone = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
        let spec = json!({"subnet": "10.6.0.0/16", "ipVersion": 4, "ips": ["10.6.0.1"]});
        let mut old_meta = gone.clone();
        old_meta["finalizers"] = json!(["spiderpool.spidernet.io", "example.com/x"]);
        let mut new_meta = gone.clone();
        new_meta["finalizers"] = json!(["spiderpool.spidernet.io"]);
        let old = pool(old_meta, spec.clone());
        let new = pool(new_meta, spec.clone());
        assert_eq!(
            run(Hook::Validate, Operation::Update, Some(new.clone()), Some(old.clone())),
            Verdict::Allow
        );
        assert_eq!(
            run(Hook::Mutate, Operation::Update, Some(new), Some(old.clone())),
            Verdict::Allow
        );
        let changed =
            pool(gone, json!({"subnet": "10.6.0.0/16", "ipVersion": 4, "ips": ["10.6.0.2"]}));
        let mut changed = changed;
        changed["metadata"]["finalizers"] = json!(["spiderpool.spidernet.io"]);
        assert!(matches!(
            run(Hook::Validate, Operation::Update, Some(changed), Some(old)),
            Verdict::Deny(r) if r.reason == StatusReason::Forbidden
        ));
    }

    #[test]
    fn endpoints_and_undecodable_deletes_are_let_through() {
        let ep = json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderEndpoint",
                        "metadata": {"name": "e", "namespace": "n"}});
        assert_eq!(run(Hook::Validate, Operation::Create, Some(ep), None), Verdict::Allow);
        let broken = json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                            "metadata": {"name": "p"}, "spec": {"ipVersion": "x"}});
        assert_eq!(run(Hook::Validate, Operation::Delete, None, Some(broken)), Verdict::Allow);
    }
}
