//! The administrative routes' answers (`/v1/admin/objects`, ours: Spiderpool
//! has no such routes). Objects themselves travel as their JSON: any kind of
//! [`crate::kind::KINDS`], decoded by whoever reads them (a client may ask
//! for a typed object, e.g. [`crate::model::SpiderIPPool`]).

use serde::{Deserialize, Serialize};

/// The answer of `GET /v1/admin/objects/{kind}`: a Kubernetes `List`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectList<T = serde_json::Value> {
    /// `apiVersion`: `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `items`: the objects.
    pub items: Vec<T>,
    /// `kind`: `List`.
    pub kind: String,
}

impl<T> ObjectList<T> {
    /// A `List` of `items`.
    pub fn new(items: Vec<T>) -> Self {
        Self { api_version: "v1".into(), items, kind: "List".into() }
    }
}

/// The answer of `PUT /v1/admin/objects`: what happened to each object, in
/// the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// `applied`.
    pub applied: Vec<ObjectOutcome>,
}

/// What an apply or a delete did to one object (the answer of
/// `DELETE /v1/admin/objects/{kind}/{namespace}/{name}`, one item of
/// [`Applied`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectOutcome {
    /// `action`.
    pub action: Action,
    /// `holding`: with [`Action::Terminating`], the allocation records (a
    /// pool) or the pools holding addresses (a subnet) it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holding: Option<usize>,
    /// `kind`.
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `namespace`: empty for cluster-scoped kinds.
    pub namespace: String,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Apply: it did not exist.
    Created,
    /// Apply: it existed and was replaced.
    Configured,
    /// Delete: it is gone.
    Deleted,
    /// Delete: it is terminating (see [`ObjectOutcome::holding`]).
    Terminating,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The members are declared in alphabetical order: the order the agent's
    /// answers have always had (they were built as `serde_json::Value`s).
    #[test]
    fn answers_keep_their_json() {
        let list: ObjectList = ObjectList::new(vec![serde_json::json!({"b": 1, "a": 2})]);
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"apiVersion":"v1","items":[{"a":2,"b":1}],"kind":"List"}"#
        );
        let created = ObjectOutcome {
            action: Action::Created,
            holding: None,
            kind: "SpiderIPPool".into(),
            name: "p".into(),
            namespace: String::new(),
        };
        let applied = Applied { applied: vec![created.clone()] };
        assert_eq!(
            serde_json::to_string(&applied).unwrap(),
            r#"{"applied":[{"action":"created","kind":"SpiderIPPool","name":"p","namespace":""}]}"#
        );
        let terminating =
            ObjectOutcome { action: Action::Terminating, holding: Some(2), ..created };
        assert_eq!(
            serde_json::to_string(&terminating).unwrap(),
            r#"{"action":"terminating","holding":2,"kind":"SpiderIPPool","name":"p","namespace":""}"#
        );
        let back: ObjectOutcome =
            serde_json::from_str(&serde_json::to_string(&terminating).unwrap()).unwrap();
        assert_eq!(back, terminating);
    }
}
