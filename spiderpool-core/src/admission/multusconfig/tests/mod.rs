//! Tests of SpiderMultusConfig admission: a table per rule (`rules`, `meta`),
//! defaulting (`mutate`) and property tests (`property`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::*;
use crate::admission::{ClusterSettings, Existing, FieldErrorType};

mod meta;
mod mutate;
mod property;
mod rules;

/// An SMC `default/net` (uid `uid-net`) with this spec.
fn smc(spec: Value) -> SpiderMultusConfig {
    named("net", json!({}), spec)
}

/// An SMC `default/<name>` (uid `uid-<name>`) with annotations and spec.
fn named(name: &str, annotations: Value, spec: Value) -> SpiderMultusConfig {
    serde_json::from_value(json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderMultusConfig",
        "metadata": {
            "name": name, "namespace": "default", "uid": format!("uid-{name}"),
            "annotations": annotations,
        },
        "spec": spec,
    }))
    .unwrap()
}

/// An SMC `default/net` with annotations.
fn annotated(annotations: Value, spec: Value) -> SpiderMultusConfig {
    named("net", annotations, spec)
}

fn macvlan() -> Value {
    json!({"cniType": "macvlan", "macvlan": {"master": ["ens192"], "ippools": {"ipv4": ["v4"]}}})
}

fn validate_with(
    op: Operation,
    new: &SpiderMultusConfig,
    old: Option<&SpiderMultusConfig>,
    existing: &Existing,
) -> Result<(), Rejection> {
    let settings = ClusterSettings::default();
    let ctx = Context { settings: &settings, existing };
    validate(op, Some(new), old, &ctx)
}

/// The expected causes of a case: (path, type), in order; empty = accepted.
type Want = &'static [(&'static str, FieldErrorType)];

/// Asserts the outcome: accepted when `want` is empty, else rejected as
/// `Invalid` with exactly these (path, type) causes, in order.
fn expect(case: &str, got: Result<(), Rejection>, want: &[(&str, FieldErrorType)]) {
    match got {
        Ok(()) => assert!(want.is_empty(), "{case}: accepted, want {want:?}"),
        Err(r) => {
            assert!(!want.is_empty(), "{case}: rejected: {r}");
            assert_eq!(r.reason, StatusReason::Invalid, "{case}: {r}");
            assert_eq!(r.kind, "SpiderMultusConfig");
            let got: Vec<_> = r.causes.iter().map(|c| (c.field.as_str(), c.kind)).collect();
            assert_eq!(got, want, "{case}: {r}");
            for c in r.causes.iter().filter(|c| c.kind != FieldErrorType::Duplicate) {
                assert!(!c.message.is_empty(), "{case}: {c} has no message");
            }
        }
    }
}

/// Runs a table of CREATE cases against an empty cluster.
fn table(cases: &[(&str, SpiderMultusConfig, Want)]) {
    for (case, obj, want) in cases {
        expect(case, validate_with(Operation::Create, obj, None, &Existing::default()), want);
    }
}
