//! Multus' `NetworkAttachmentDefinition` CRD (`k8s.cni.cncf.io/v1`).
//!
//! Not ours: clusters get it with Multus. It is here so that test clusters (and
//! the controller's tests) can install it; `spiderpool-k8s/testdata/` holds the
//! same object as YAML for `kubectl apply`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;

use super::schema::{API_VERSION_DESCRIPTION, KIND_DESCRIPTION};
use crate::{Error, Result};

/// The committed YAML of [`network_attachment_definition_crd`], relative to the
/// crate's directory.
pub const NAD_CRD_FILE: &str = "testdata/k8s.cni.cncf.io_network-attachment-definitions.yaml";

/// Multus' standard NetworkAttachmentDefinition CRD: namespaced, short name
/// `net-attach-def`, `spec.config` a JSON string.
pub fn network_attachment_definition_crd() -> Result<CustomResourceDefinition> {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "network-attachment-definitions.k8s.cni.cncf.io"},
        "spec": {
            "group": "k8s.cni.cncf.io",
            "scope": "Namespaced",
            "names": {
                "plural": "network-attachment-definitions",
                "singular": "network-attachment-definition",
                "kind": "NetworkAttachmentDefinition",
                "listKind": "NetworkAttachmentDefinitionList",
                "shortNames": ["net-attach-def"],
            },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "description": "NetworkAttachmentDefinition is a CRD schema specified by the Network Plumbing Working Group to express the intent for attaching pods to one or more logical or physical networks. More information available at: https://github.com/k8snetworkplumbingwg/multi-net-spec",
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
                        "kind": {"type": "string", "description": KIND_DESCRIPTION},
                        "metadata": {"type": "object"},
                        "spec": {
                            "description": "NetworkAttachmentDefinition spec defines the desired state of a network attachment",
                            "type": "object",
                            "properties": {
                                "config": {
                                    "description": "NetworkAttachmentDefinition config is a JSON-formatted CNI configuration",
                                    "type": "string",
                                },
                            },
                        },
                    },
                }},
            }],
        },
    });
    serde_json::from_value(crd)
        .map_err(|e| Error::Schema { kind: "NetworkAttachmentDefinition", message: e.to_string() })
}
