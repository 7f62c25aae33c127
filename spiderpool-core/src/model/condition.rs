//! Status conditions (Kubernetes `metav1.Condition`), and the one Spiderpool
//! objects carry here: a SpiderIPPool that overlaps a pool admitted before it
//! (Spiderpool #746) is marked `Overlapping` and allocates nothing.

use serde::{Deserialize, Serialize};

use super::null_default;

/// One status condition (`metav1.Condition`: `type`, `status`, `reason`,
/// `message`, `lastTransitionTime`, `observedGeneration`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type, e.g. `Overlapping`.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    /// Why, in one CamelCase word.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for people.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The `metadata.generation` the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// True when `status` is `True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// Condition type on a SpiderIPPool that overlaps a pool admitted before it:
/// `status: "True"` rules the pool out for allocation (its `message` names
/// the earlier pool).
pub const CONDITION_OVERLAPPING: &str = "Overlapping";
