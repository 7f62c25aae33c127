//! SpiderMultusConfig → NetworkAttachmentDefinition: who owns a NAD name,
//! and whether the stored NAD needs a write (reference §7, Spiderpool #4167
//! and #2008).

use std::collections::BTreeMap;

use crate::model::SpiderMultusConfig;
use crate::multus::{NetworkAttachmentDefinition, nad_name};

use super::admitted_before;

/// The SMC that owns `smc`'s NAD name: among the live (not terminating) SMCs
/// of its namespace that render to the same NAD name, the first admitted (by
/// creationTimestamp, then name). `None` when `smc` itself owns it;
/// otherwise the owner's name — `smc` must not touch the NAD (#4167: the
/// later of two SMCs claiming one `multus.spidernet.io/cr-name` is refused,
/// the NAD stays the earlier one's).
pub fn claim_owner<'a>(
    smc: &SpiderMultusConfig,
    same_namespace: impl IntoIterator<Item = &'a SpiderMultusConfig>,
) -> Option<String> {
    let name = nad_name(smc);
    let me = (&smc.metadata.creation_timestamp, smc.metadata.name_str());
    same_namespace
        .into_iter()
        .filter(|o| o.metadata.name_str() != smc.metadata.name_str())
        .filter(|o| o.metadata.namespace == smc.metadata.namespace)
        .filter(|o| !o.metadata.is_terminating() && nad_name(o) == name)
        .filter(|o| {
            admitted_before((&o.metadata.creation_timestamp, o.metadata.name_str()), me).is_lt()
        })
        .min_by(|a, b| {
            admitted_before(
                (&a.metadata.creation_timestamp, a.metadata.name_str()),
                (&b.metadata.creation_timestamp, b.metadata.name_str()),
            )
        })
        .map(|o| o.metadata.name_str().to_owned())
}

/// True when the stored NAD differs from the rendered one in what the
/// controller owns: the annotations (exactly the SMC's, plus the resource
/// name), `spec.config`, and the owner references (exactly the SMC as
/// controller). Labels and other metadata are the user's and left alone.
/// A hand-edited NAD is thus restored, and a changed SMC always reaches its
/// NAD (#2008): the comparison is against what the SMC renders now, never
/// against a remembered generation.
pub fn needs_write(
    desired: &NetworkAttachmentDefinition,
    stored: &NetworkAttachmentDefinition,
) -> bool {
    let annotations =
        |n: &NetworkAttachmentDefinition| n.metadata.annotations.clone().unwrap_or_default();
    let owners =
        |n: &NetworkAttachmentDefinition| n.metadata.owner_references.clone().unwrap_or_default();
    annotations(desired) != annotations(stored)
        || desired.spec.config != stored.spec.config
        || owners(desired) != owners(stored)
}

/// The NAD to write over `stored`: the stored object (its labels, its
/// `resourceVersion` for compare-and-swap) with the controller's parts
/// taken from `desired`.
pub fn merged(
    desired: &NetworkAttachmentDefinition,
    stored: &NetworkAttachmentDefinition,
) -> NetworkAttachmentDefinition {
    let mut out = stored.clone();
    out.metadata.annotations =
        desired.metadata.annotations.clone().filter(|a: &BTreeMap<_, _>| !a.is_empty());
    out.metadata.owner_references = desired.metadata.owner_references.clone();
    out.spec = desired.spec.clone();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::multus::render;

    fn smc(name: &str, at: &str, cr_name: Option<&str>) -> SpiderMultusConfig {
        let mut v = json!({
            "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderMultusConfig",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                         "creationTimestamp": at},
            "spec": {"cniType": "macvlan", "macvlan": {"master": ["eth0"]}}
        });
        if let Some(n) = cr_name {
            v["metadata"]["annotations"] = json!({"multus.spidernet.io/cr-name": n});
        }
        serde_json::from_value(v).unwrap()
    }

    /// Spiderpool #4167: the later SMC claiming a NAD name is refused, also
    /// when both were created in the same second (the name breaks the tie).
    #[test]
    fn the_earlier_smc_keeps_the_nad_name() {
        let a = smc("a", "2025-01-01T00:00:00Z", Some("net"));
        let b = smc("b", "2025-01-01T00:00:00Z", Some("net"));
        let net = smc("net", "2025-01-01T00:00:05Z", None);
        let other = smc("c", "2024-01-01T00:00:00Z", Some("other"));
        let all = [a.clone(), b.clone(), net.clone(), other.clone()];
        assert_eq!(claim_owner(&a, &all), None);
        assert_eq!(claim_owner(&b, &all).as_deref(), Some("a"));
        assert_eq!(claim_owner(&net, &all).as_deref(), Some("a"), "its own name is claimed too");
        assert_eq!(claim_owner(&other, &all), None);
        // The owner is deleted: the next in line takes over.
        let mut gone = a.clone();
        gone.metadata.deletion_timestamp = Some("2025-02-01T00:00:00Z".into());
        let all = [gone, b.clone(), net.clone()];
        assert_eq!(claim_owner(&b, &all), None);
        assert_eq!(claim_owner(&net, &all).as_deref(), Some("b"));
    }

    #[test]
    fn drift_in_owned_parts_needs_a_write_labels_do_not() {
        let desired = render(&smc("a", "t", None)).unwrap();
        assert!(!needs_write(&desired, &desired));
        let mut labelled = desired.clone();
        labelled.metadata.labels = Some([("team".to_string(), "x".to_string())].into());
        assert!(!needs_write(&desired, &labelled));
        let mut edited = desired.clone();
        edited.spec.config = Some("{}".into());
        assert!(needs_write(&desired, &edited));
        let mut annotated = desired.clone();
        annotated.metadata.annotations = Some([("k".to_string(), "v".to_string())].into());
        assert!(needs_write(&desired, &annotated));
        let mut orphan = desired.clone();
        orphan.metadata.owner_references = None;
        assert!(needs_write(&desired, &orphan));
        let fixed = merged(&desired, &labelled_with_rv(&edited));
        assert!(!needs_write(&desired, &fixed));
        assert_eq!(fixed.metadata.resource_version.as_deref(), Some("7"));
    }

    fn labelled_with_rv(n: &NetworkAttachmentDefinition) -> NetworkAttachmentDefinition {
        let mut n = n.clone();
        n.metadata.resource_version = Some("7".into());
        n
    }
}
