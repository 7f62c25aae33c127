//! Unit tests of the `PUT` steps of [`super`].

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

#[test]
fn identify_resolves_the_kind_and_defaults_the_namespace() {
    let mut pod = json!({"kind": "pod", "metadata": {"name": "p"}});
    let t = identify(&mut pod, None).unwrap();
    assert_eq!((t.info.kind, t.namespace.as_str(), t.name.as_str()), ("Pod", "default", "p"));
    assert_eq!(pod["metadata"]["namespace"], "default");
    let mut pool = json!({"kind": "sp", "metadata": {"name": "a", "namespace": "x"}});
    let t = identify(&mut pool, Some(2)).unwrap();
    assert_eq!(
        (t.info.kind, t.namespace.as_str(), t.kind_name.as_str()),
        ("SpiderIPPool", "", "sp")
    );
}

#[test]
fn identify_refuses_with_the_items_field() {
    let status = |mut v: Value, index| identify(&mut v, index).unwrap_err().status;
    let no_kind = json!({"metadata": {"name": "a"}});
    assert_eq!(status(no_kind.clone(), Some(1)), StatusCode::BAD_REQUEST);
    let err = identify(&mut no_kind.clone(), Some(1)).unwrap_err();
    assert!(format!("{:?}", err.body).contains("items[1].kind: required"), "{:?}", err.body);
    assert_eq!(
        status(json!({"kind": "Nope", "metadata": {"name": "a"}}), None),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(json!({"kind": "SpiderIPPool", "metadata": {}}), None),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(json!({"kind": "SpiderIPPool", "metadata": {"name": "Bad_Name"}}), None),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        status(json!({"kind": "SpiderEndpoint", "metadata": {"name": "e"}}), None),
        StatusCode::FORBIDDEN
    );
}

#[test]
fn carry_deletion_keeps_the_stored_state_only() {
    let pool = |deleting: bool| {
        let mut meta = json!({"name": "a"});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            meta["deletionGracePeriodSeconds"] = json!(0);
        }
        Resource::from_value(json!({
            "apiVersion": "spiderpool.spidernet.io/v2beta1",
            "kind": "SpiderIPPool",
            "metadata": meta,
            "spec": {"subnet": "10.0.0.0/24"},
        }))
        .unwrap()
    };
    // A create starts no deletion.
    let mut new = pool(true);
    carry_deletion(&mut new, None);
    assert!(new.metadata().deletion_timestamp.is_none());
    // An update neither starts one...
    let mut new = pool(true);
    carry_deletion(&mut new, Some(&pool(false)));
    assert!(new.metadata().deletion_timestamp.is_none());
    // ... nor clears one.
    let mut new = pool(false);
    carry_deletion(&mut new, Some(&pool(true)));
    assert!(new.metadata().deletion_timestamp.is_some());
}
