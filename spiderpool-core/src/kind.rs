//! The kinds of objects spiderpool-rs knows by name: the six Spiderpool kinds
//! (their names come from [`SpiderResource`], declared once per kind in
//! [`crate::model`]), Multus' NetworkAttachmentDefinition, and the Kubernetes
//! kinds an agent reads pod facts from (Pod, Namespace, Node and the pods'
//! controllers).
//!
//! One table, [`KINDS`], answers every per-kind question: the `apiVersion`,
//! whether objects live in a namespace, the names a user may type for it
//! (`spiderippools`, `sp`, `po`, ...; [`lookup`]) and the rule the API server
//! checks its object names by ([`name_rule`]). The agent's administrative
//! routes and `spiderpoolctl` resolve kinds here; admission checks names here.

use crate::model::{
    API_VERSION, SpiderCoordinator, SpiderEndpoint, SpiderIPPool, SpiderMultusConfig,
    SpiderReservedIP, SpiderResource, SpiderSubnet,
};
use crate::multus::{NAD_API_VERSION, NAD_KIND};
use crate::name::{DNS1123_LABEL_MAX, DNS1123_SUBDOMAIN_MAX, ObjectNameRule};

/// What is known about one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// `kind`, e.g. `SpiderIPPool`.
    pub kind: &'static str,
    /// `apiVersion` of its objects, e.g. `spiderpool.spidernet.io/v2beta1`.
    pub api_version: &'static str,
    /// Plural resource name, e.g. `spiderippools`.
    pub plural: &'static str,
    /// Singular resource name, e.g. `spiderippool`.
    pub singular: &'static str,
    /// `kubectl` short names, e.g. `sp`.
    pub short_names: &'static [&'static str],
    /// Other names accepted (Spiderpool's abbreviations, e.g. `ippools`).
    pub other_names: &'static [&'static str],
    /// Objects live in a namespace.
    pub namespaced: bool,
    /// The API server's rule for object names of this kind.
    pub name_rule: ObjectNameRule,
}

/// DNS-1123 subdomain of at most 253 characters: most kinds' name rule.
const SUBDOMAIN: ObjectNameRule = ObjectNameRule::Subdomain { max: DNS1123_SUBDOMAIN_MAX };

impl KindInfo {
    /// The entry of a Spiderpool kind, from its [`SpiderResource`] names, with
    /// `other_names` besides them. Spiderpool kinds' names are DNS-1123
    /// subdomains.
    const fn spider<R: SpiderResource>(
        short_names: &'static [&'static str],
        other_names: &'static [&'static str],
    ) -> KindInfo {
        KindInfo {
            kind: R::KIND,
            api_version: API_VERSION,
            plural: R::PLURAL,
            singular: R::SINGULAR,
            short_names,
            other_names,
            namespaced: R::NAMESPACED,
            name_rule: SUBDOMAIN,
        }
    }

    /// The entry of a Kubernetes kind.
    const fn kubernetes(
        kind: &'static str,
        api_version: &'static str,
        names: [&'static str; 2],
        short_names: &'static [&'static str],
        namespaced: bool,
        name_rule: ObjectNameRule,
    ) -> KindInfo {
        KindInfo {
            kind,
            api_version,
            plural: names[0],
            singular: names[1],
            short_names,
            other_names: &[],
            namespaced,
            name_rule,
        }
    }

    /// True when `name` names this kind: its kind, plural, singular, a
    /// short name or another name, case-insensitive.
    pub fn is_named(&self, name: &str) -> bool {
        [self.kind, self.plural, self.singular]
            .iter()
            .chain(self.short_names)
            .chain(self.other_names)
            .any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Every kind, Spiderpool's first (in the order of
/// [`crate::model::KINDS`]), then the NetworkAttachmentDefinition, then the
/// Kubernetes kinds.
pub const KINDS: &[KindInfo] = &[
    KindInfo::spider::<SpiderIPPool>(&[SpiderIPPool::SHORT_NAME], &["ippools", "ippool"]),
    KindInfo::spider::<SpiderSubnet>(&[SpiderSubnet::SHORT_NAME], &["subnets", "subnet"]),
    KindInfo::spider::<SpiderReservedIP>(
        &[SpiderReservedIP::SHORT_NAME],
        &["reservedips", "reservedip"],
    ),
    KindInfo::spider::<SpiderEndpoint>(&[SpiderEndpoint::SHORT_NAME], &["endpoints", "endpoint"]),
    KindInfo::spider::<SpiderMultusConfig>(
        &[SpiderMultusConfig::SHORT_NAME],
        &["multusconfigs", "multusconfig"],
    ),
    KindInfo::spider::<SpiderCoordinator>(
        &[SpiderCoordinator::SHORT_NAME],
        &["coordinators", "coordinator"],
    ),
    KindInfo::kubernetes(
        NAD_KIND,
        NAD_API_VERSION,
        ["network-attachment-definitions", "network-attachment-definition"],
        &["net-attach-def", "nad"],
        true,
        SUBDOMAIN,
    ),
    KindInfo::kubernetes("Pod", "v1", ["pods", "pod"], &["po"], true, SUBDOMAIN),
    // A namespace's name is a DNS-1123 label.
    KindInfo::kubernetes(
        "Namespace",
        "v1",
        ["namespaces", "namespace"],
        &["ns"],
        false,
        ObjectNameRule::Label,
    ),
    KindInfo::kubernetes("Node", "v1", ["nodes", "node"], &["no"], false, SUBDOMAIN),
    // A StatefulSet's name becomes its pods' hostnames: a DNS-1123 label.
    KindInfo::kubernetes(
        "StatefulSet",
        "apps/v1",
        ["statefulsets", "statefulset"],
        &["sts"],
        true,
        ObjectNameRule::Label,
    ),
    KindInfo::kubernetes(
        "ReplicaSet",
        "apps/v1",
        ["replicasets", "replicaset"],
        &["rs"],
        true,
        SUBDOMAIN,
    ),
    KindInfo::kubernetes(
        "Deployment",
        "apps/v1",
        ["deployments", "deployment"],
        &["deploy"],
        true,
        SUBDOMAIN,
    ),
    KindInfo::kubernetes(
        "DaemonSet",
        "apps/v1",
        ["daemonsets", "daemonset"],
        &["ds"],
        true,
        SUBDOMAIN,
    ),
    // The `job-name` label carries a Job's name: at most 63 characters.
    KindInfo::kubernetes(
        "Job",
        "batch/v1",
        ["jobs", "job"],
        &[],
        true,
        ObjectNameRule::Subdomain { max: DNS1123_LABEL_MAX },
    ),
    // A CronJob's name plus the 11 characters of its Jobs' suffix fit a
    // label: at most 52 characters.
    KindInfo::kubernetes(
        "CronJob",
        "batch/v1",
        ["cronjobs", "cronjob"],
        &["cj"],
        true,
        ObjectNameRule::Subdomain { max: 52 },
    ),
    // KubeVirt (`kubevirt.io/v1`): a virt-launcher pod's owner and the VM
    // above it, registered in the embedded store like the other owners.
    KindInfo::kubernetes(
        "VirtualMachineInstance",
        "kubevirt.io/v1",
        ["virtualmachineinstances", "virtualmachineinstance"],
        &["vmi", "vmis"],
        true,
        SUBDOMAIN,
    ),
    KindInfo::kubernetes(
        "VirtualMachine",
        "kubevirt.io/v1",
        ["virtualmachines", "virtualmachine"],
        &["vm", "vms"],
        true,
        SUBDOMAIN,
    ),
];

/// The kind `name` names: a kind, plural, singular, short or other name,
/// case-insensitive (`SpiderIPPool`, `spiderippools`, `sp`, `ippools`, `po`).
pub fn lookup(name: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.is_named(name))
}

/// The entry of `kind` (its exact `kind` name).
pub fn by_kind(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The name rule of `kind`, as the API server's validation for it (current
/// Kubernetes): Namespace and StatefulSet names are DNS-1123 labels, CronJob
/// names subdomains of at most 52 characters, Job names at most 63; every
/// other kind — the Spiderpool custom resources, NetworkAttachmentDefinition,
/// Pod, Node, Deployment, ReplicaSet, DaemonSet, and kinds not in [`KINDS`] —
/// uses DNS-1123 subdomains.
pub fn name_rule(kind: &str) -> ObjectNameRule {
    by_kind(kind).map_or(SUBDOMAIN, |k| k.name_rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KINDS as SPIDER_KINDS;

    #[test]
    fn spiderpool_kinds_come_first_with_their_resource_names() {
        let first: Vec<&str> = KINDS.iter().take(SPIDER_KINDS.len()).map(|k| k.kind).collect();
        assert_eq!(first, SPIDER_KINDS);
        let pool = lookup("sp").map(|k| k.kind);
        assert_eq!(pool, Some(SpiderIPPool::KIND));
        for name in ["SpiderIPPool", "spiderippools", "SpiderIPPools", "spiderippool", "ippools"] {
            assert_eq!(lookup(name).map(|k| k.kind), Some("SpiderIPPool"), "{name}");
        }
        assert_eq!(lookup("se").map(|k| (k.kind, k.namespaced)), Some(("SpiderEndpoint", true)));
        assert_eq!(lookup("scc").map(|k| k.api_version), Some(API_VERSION));
    }

    #[test]
    fn kubernetes_kinds_have_their_short_names_and_groups() {
        for (name, kind, api_version, namespaced) in [
            ("po", "Pod", "v1", true),
            ("ns", "Namespace", "v1", false),
            ("no", "Node", "v1", false),
            ("sts", "StatefulSet", "apps/v1", true),
            ("rs", "ReplicaSet", "apps/v1", true),
            ("deploy", "Deployment", "apps/v1", true),
            ("ds", "DaemonSet", "apps/v1", true),
            ("jobs", "Job", "batch/v1", true),
            ("cj", "CronJob", "batch/v1", true),
            ("nad", "NetworkAttachmentDefinition", "k8s.cni.cncf.io/v1", true),
            ("net-attach-def", "NetworkAttachmentDefinition", "k8s.cni.cncf.io/v1", true),
            ("vmi", "VirtualMachineInstance", "kubevirt.io/v1", true),
            ("vm", "VirtualMachine", "kubevirt.io/v1", true),
        ] {
            let k = lookup(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!((k.kind, k.api_version, k.namespaced), (kind, api_version, namespaced));
        }
        assert_eq!(lookup("services"), None);
    }

    #[test]
    fn every_name_names_one_kind() {
        let mut seen = std::collections::BTreeMap::new();
        for k in KINDS {
            for n in [k.kind, k.plural, k.singular].iter().chain(k.short_names).chain(k.other_names)
            {
                let before = seen.insert(n.to_ascii_lowercase(), k.kind);
                assert!(before.is_none_or(|b| b == k.kind), "{n}: {before:?} and {}", k.kind);
            }
        }
    }

    #[test]
    fn kinds_pick_the_api_servers_rule() {
        assert_eq!(name_rule("Namespace"), ObjectNameRule::Label);
        assert_eq!(name_rule("StatefulSet"), ObjectNameRule::Label);
        assert_eq!(name_rule("SpiderIPPool"), ObjectNameRule::Subdomain { max: 253 });
        assert_eq!(name_rule("Unknown"), ObjectNameRule::Subdomain { max: 253 });
        assert!(name_rule("Pod").check("a.b").is_empty());
        assert!(!name_rule("Namespace").check("a.b").is_empty());
        let cron = name_rule("CronJob");
        assert!(cron.check(&"a".repeat(52)).is_empty());
        assert_eq!(cron.check(&"a".repeat(53)), [crate::name::DnsNameError::TooLong { max: 52 }]);
        assert_eq!(name_rule("Job"), ObjectNameRule::Subdomain { max: 63 });
    }
}
