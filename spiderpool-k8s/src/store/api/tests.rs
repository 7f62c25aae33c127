//! Request shapes, against kube's mock service (what is sent, and how the
//! answers map); behaviour is tested against a real API server in
//! `tests/store_*.rs`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use spiderpool_core::model::{FINALIZER, SpiderEndpoint};
use spiderpool_core::store::contract::pool;
use tower_test::mock::{Handle, pair};

use super::*;

type Mock = Handle<Request<Body>, Response<Body>>;

fn requests() -> (Requests, Mock) {
    let (service, handle) = pair::<Request<Body>, Response<Body>>();
    (Requests::new(Client::new(service, "default"), Duration::from_secs(5)), handle)
}

/// Takes the next request: method, path with query, JSON body.
async fn next(handle: &mut Mock, status: StatusCode, answer: Value) -> (String, String, Value) {
    let (request, respond) = handle.next_request().await.unwrap();
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    let response =
        Response::builder().status(status).body(Body::from(answer.to_string().into_bytes()));
    respond.send_response(response.unwrap());
    (method, uri, body)
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
}

#[tokio::test]
async fn a_status_write_puts_the_status_subresource_against_the_resource_version() {
    let (requests, mut handle) = requests();
    let mut p = pool("a", "10.6.0.0/16", &["10.6.0.1"]);
    p.metadata.resource_version = Some("41".into());
    p.status = Some(Default::default());
    p.status.as_mut().unwrap().allocated_ips =
        Some(r#"{"10.6.0.1":{"pod":"ns/p","podUid":"u"}}"#.into());
    let sent = tokio::spawn(async move { requests.write_pool_status(p).await });
    let answer = json!({"metadata": {"name": "a", "resourceVersion": "42"}, "spec": {"subnet": "10.6.0.0/16"}});
    let (method, uri, body) = next(&mut handle, StatusCode::OK, answer).await;
    assert_eq!(method, "PUT");
    assert_eq!(uri, "/apis/spiderpool.spidernet.io/v2beta1/spiderippools/a/status?");
    assert_eq!(body["metadata"]["resourceVersion"], "41");
    assert_eq!(body["status"]["allocatedIPs"], r#"{"10.6.0.1":{"pod":"ns/p","podUid":"u"}}"#);
    assert_eq!(sent.await.unwrap(), Ok("42".to_owned()));
}

#[tokio::test]
async fn a_409_is_a_conflict_and_other_failures_name_the_request() {
    let (requests, mut handle) = requests();
    let r = requests.clone();
    let sent =
        tokio::spawn(async move { r.write_pool_status(pool("a", "10.6.0.0/16", &[])).await });
    next(
        &mut handle,
        StatusCode::CONFLICT,
        status(409, "Conflict", "the object has been modified"),
    )
    .await;
    assert!(
        matches!(sent.await.unwrap(), Err(RequestError::Conflict(m)) if m.contains("the object has been modified"))
    );
    let sent =
        tokio::spawn(
            async move { requests.write_pool_status(pool("a", "10.6.0.0/16", &[])).await },
        );
    let denied = status(
        403,
        "Forbidden",
        "spiderippools.spiderpool.spidernet.io \"a\" is forbidden: User \"x\" cannot update resource \"spiderippools/status\"",
    );
    next(&mut handle, StatusCode::FORBIDDEN, denied).await;
    let Err(RequestError::Failed(message)) = sent.await.unwrap() else { panic!("not Failed") };
    assert!(message.starts_with("update SpiderIPPool a status: "), "{message}");
    assert!(
        message.contains("cannot update resource \"spiderippools/status\" (Forbidden, HTTP 403)"),
        "{message}"
    );
}

#[tokio::test]
async fn an_endpoint_delete_takes_the_finalizer_off_then_deletes_with_preconditions() {
    let (requests, mut handle) = requests();
    let mut ep = SpiderEndpoint::new("ns", "p", Default::default());
    ep.metadata.uid = Some("uid-1".into());
    ep.metadata.resource_version = Some("7".into());
    ep.metadata.finalizers = Some(vec![FINALIZER.to_owned(), "other/keep".to_owned()]);
    let sent = tokio::spawn(async move { requests.delete_endpoint(&ep).await });
    let after = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "uid-1", "resourceVersion": "8", "finalizers": ["other/keep"]}});
    let (method, uri, body) = next(&mut handle, StatusCode::OK, after.clone()).await;
    assert_eq!(
        (method.as_str(), uri.as_str()),
        ("PUT", "/apis/spiderpool.spidernet.io/v2beta1/namespaces/ns/spiderendpoints/p?")
    );
    assert_eq!(body["metadata"]["finalizers"], json!(["other/keep"]));
    assert_eq!(body["metadata"]["resourceVersion"], "7");
    let (method, uri, body) = next(&mut handle, StatusCode::OK, after).await;
    assert_eq!(
        (method.as_str(), uri.as_str()),
        ("DELETE", "/apis/spiderpool.spidernet.io/v2beta1/namespaces/ns/spiderendpoints/p?")
    );
    assert_eq!(body["preconditions"], json!({"resourceVersion": "8", "uid": "uid-1"}));
    assert_eq!(sent.await.unwrap(), Ok(()));
}

#[tokio::test]
async fn no_answer_within_the_time_limit_is_a_failure() {
    let (service, _handle) = pair::<Request<Body>, Response<Body>>();
    let requests = Requests::new(Client::new(service, "default"), Duration::from_millis(50));
    let Err(RequestError::Failed(message)) = requests.get_pool("a").await else {
        panic!("not Failed")
    };
    assert_eq!(message, "get SpiderIPPool a: no answer within 50ms");
}
