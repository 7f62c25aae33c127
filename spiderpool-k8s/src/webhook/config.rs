//! The Mutating- and ValidatingWebhookConfiguration that send our kinds to
//! the controller (what the Helm chart installs; tests register them
//! pointing at a controller on loopback).
//!
//! Both match only `spiderpool.spidernet.io/v2beta1` and only the kinds with
//! admission rules, so a controller that is down can never block anything
//! else in the cluster. Both fail closed (`failurePolicy: Fail`): an object
//! admitted without defaulting lacks the `spiderpool.spidernet.io` finalizer
//! (a pool could then be deleted with addresses still in use), and one
//! admitted without validation could overlap another pool — for our own
//! kinds a refusal while the controller is away is the safe answer.
//! SpiderEndpoints are not matched: the agents write them on every pod
//! start, they have no rules, and pod start-up must not depend on the
//! controller.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ObjectMeta;
use spiderpool_core::model::{
    GROUP, SpiderCoordinator, SpiderIPPool, SpiderMultusConfig, SpiderReservedIP, SpiderSubnet,
    VERSION,
};

/// Path of the mutating webhook.
pub const MUTATE_PATH: &str = "/webhook/mutate";
/// Path of the validating webhook.
pub const VALIDATE_PATH: &str = "/webhook/validate";
/// Default name of both configurations (Spiderpool's).
pub const DEFAULT_CONFIGURATION_NAME: &str = "spiderpool-controller";

/// The resources the webhooks match: every kind with admission rules.
pub const RESOURCES: [&str; 5] = [
    SpiderIPPool::PLURAL,
    SpiderSubnet::PLURAL,
    SpiderReservedIP::PLURAL,
    SpiderMultusConfig::PLURAL,
    SpiderCoordinator::PLURAL,
];

/// Where the API server reaches the webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The controller's Service (in a cluster).
    Service {
        /// Namespace of the Service.
        namespace: String,
        /// Name of the Service.
        name: String,
        /// Port of the Service.
        port: i32,
    },
    /// A base URL such as `https://127.0.0.1:5722` (tests, out-of-cluster).
    Url(String),
}

/// What goes into the two configurations.
#[derive(Debug, Clone)]
pub struct ConfigurationSpec {
    /// Name of both configurations.
    pub name: String,
    /// Where the webhooks are.
    pub target: Target,
    /// The CA bundle (empty: the controller fills it in generated mode).
    pub ca_bundle: Vec<u8>,
    /// Also validate DELETE (Spiderpool's
    /// `enableValidatingResourcesDeletedWebhook`).
    pub validate_delete: bool,
    /// Only objects with these labels (tests scope their webhooks this way).
    pub object_selector: Option<BTreeMap<String, String>>,
    /// Labels of the configurations themselves.
    pub labels: BTreeMap<String, String>,
}

impl ConfigurationSpec {
    fn client_config(&self, path: &str) -> WebhookClientConfig {
        let ca_bundle = (!self.ca_bundle.is_empty()).then(|| ByteString(self.ca_bundle.clone()));
        match &self.target {
            Target::Service { namespace, name, port } => WebhookClientConfig {
                ca_bundle,
                service: Some(ServiceReference {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    path: Some(path.to_owned()),
                    port: Some(*port),
                }),
                url: None,
            },
            Target::Url(base) => WebhookClientConfig {
                ca_bundle,
                service: None,
                url: Some(format!("{}{path}", base.trim_end_matches('/'))),
            },
        }
    }

    fn rules(&self, delete: bool) -> Vec<RuleWithOperations> {
        let mut operations = vec!["CREATE".to_owned(), "UPDATE".to_owned()];
        if delete {
            operations.push("DELETE".to_owned());
        }
        vec![RuleWithOperations {
            api_groups: Some(vec![GROUP.to_owned()]),
            api_versions: Some(vec![VERSION.to_owned()]),
            operations: Some(operations),
            resources: Some(RESOURCES.iter().map(|r| (*r).to_owned()).collect()),
            scope: Some("*".to_owned()),
        }]
    }

    fn meta(&self) -> ObjectMeta {
        ObjectMeta {
            name: Some(self.name.clone()),
            labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
            ..Default::default()
        }
    }

    fn selector(&self) -> Option<LabelSelector> {
        self.object_selector
            .as_ref()
            .map(|m| LabelSelector { match_labels: Some(m.clone()), match_expressions: None })
    }

    /// The MutatingWebhookConfiguration.
    pub fn mutating(&self) -> MutatingWebhookConfiguration {
        MutatingWebhookConfiguration {
            metadata: self.meta(),
            webhooks: Some(vec![MutatingWebhook {
                name: format!("mutate.{GROUP}"),
                admission_review_versions: vec!["v1".to_owned()],
                client_config: self.client_config(MUTATE_PATH),
                failure_policy: Some("Fail".to_owned()),
                match_policy: Some("Equivalent".to_owned()),
                object_selector: self.selector(),
                reinvocation_policy: Some("Never".to_owned()),
                rules: Some(self.rules(false)),
                side_effects: "None".to_owned(),
                timeout_seconds: Some(10),
                ..Default::default()
            }]),
        }
    }

    /// The ValidatingWebhookConfiguration.
    pub fn validating(&self) -> ValidatingWebhookConfiguration {
        ValidatingWebhookConfiguration {
            metadata: self.meta(),
            webhooks: Some(vec![ValidatingWebhook {
                name: format!("validate.{GROUP}"),
                admission_review_versions: vec!["v1".to_owned()],
                client_config: self.client_config(VALIDATE_PATH),
                failure_policy: Some("Fail".to_owned()),
                match_policy: Some("Equivalent".to_owned()),
                object_selector: self.selector(),
                rules: Some(self.rules(self.validate_delete)),
                side_effects: "None".to_owned(),
                timeout_seconds: Some(10),
                ..Default::default()
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_match_only_our_group_and_fail_closed() {
        let spec = ConfigurationSpec {
            name: DEFAULT_CONFIGURATION_NAME.into(),
            target: Target::Service {
                namespace: "kube-system".into(),
                name: "spiderpool-controller".into(),
                port: 5722,
            },
            ca_bundle: Vec::new(),
            validate_delete: false,
            object_selector: None,
            labels: BTreeMap::new(),
        };
        let m = serde_json::to_value(spec.mutating()).unwrap();
        let hook = &m["webhooks"][0];
        assert_eq!(hook["rules"][0]["apiGroups"], serde_json::json!(["spiderpool.spidernet.io"]));
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["clientConfig"]["service"]["path"], MUTATE_PATH);
        assert!(hook["clientConfig"].get("caBundle").is_none());
        assert!(!hook["rules"][0]["resources"].to_string().contains("spiderendpoints"));
        let v = serde_json::to_value(spec.validating()).unwrap();
        assert_eq!(
            v["webhooks"][0]["rules"][0]["operations"],
            serde_json::json!(["CREATE", "UPDATE"])
        );
    }
}
