//! The Multus NetworkAttachmentDefinition resource.

use serde::{Deserialize, Serialize};

use crate::model::ObjectMeta;

/// `apiVersion` of a NetworkAttachmentDefinition.
pub const NAD_API_VERSION: &str = "k8s.cni.cncf.io/v1";
/// `kind` of a NetworkAttachmentDefinition.
pub const NAD_KIND: &str = "NetworkAttachmentDefinition";

/// A Multus NetworkAttachmentDefinition (namespaced).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAttachmentDefinition {
    /// `k8s.cni.cncf.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `NetworkAttachmentDefinition`.
    #[serde(default)]
    pub kind: String,
    /// Metadata (annotations such as `k8s.v1.cni.cncf.io/resourceName`, owner reference).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The CNI configuration.
    #[serde(default)]
    pub spec: NadSpec,
}

/// `spec` of a NetworkAttachmentDefinition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NadSpec {
    /// The CNI configuration (a network config or conflist) as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}
