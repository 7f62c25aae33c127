//! Rules on the metadata of a SpiderMultusConfig: the annotations it reads, the
//! NAD name and who owns that NAD.

use super::mutate::INJECT_ANNOTATIONS;
use super::spec::section_key;
use crate::admission::{Context, FieldError};
use crate::model::{CniType, MultusCNIConfigSpec, SpiderMultusConfig, SpiderpoolPools};
use crate::multus::{NetworkAttachmentDefinition, SUPPORTED_CNI_VERSIONS, nad_name};
use crate::name::dns1123_subdomain;
use crate::selector::validate_label_value;

const CR_NAME: &str = SpiderMultusConfig::ANNOTATION_CR_NAME;
const CNI_VERSION: &str = SpiderMultusConfig::ANNOTATION_CNI_VERSION;

/// The field path of an annotation, `metadata.annotations[<key>]`.
pub fn annotation_path(key: &str) -> String {
    format!("metadata.annotations[{key}]")
}

/// The path naming the NAD: the cr-name annotation when set, else `metadata.name`.
fn nad_name_path(smc: &SpiderMultusConfig) -> String {
    match smc.metadata.annotation(CR_NAME) {
        Some(n) if !n.is_empty() => annotation_path(CR_NAME),
        _ => "metadata.name".to_string(),
    }
}

fn namespace_of(ns: Option<&str>) -> &str {
    ns.unwrap_or("default")
}

/// `multus.spidernet.io/cr-name` and `multus.spidernet.io/cni-version`.
pub(super) fn check_annotations(smc: &SpiderMultusConfig, errs: &mut Vec<FieldError>) {
    if let Some(name) = smc.metadata.annotation(CR_NAME) {
        let path = annotation_path(CR_NAME);
        if name.is_empty() {
            errs.push(FieldError::invalid(
                path,
                name,
                "the NetworkAttachmentDefinition name must not be empty",
            ));
        } else if let Some(why) = dns1123_subdomain(name).first() {
            errs.push(FieldError::invalid(path, name, why.to_string()));
        }
    }
    if let Some(version) = smc.metadata.annotation(CNI_VERSION)
        && !SUPPORTED_CNI_VERSIONS.contains(&version)
    {
        errs.push(FieldError::not_supported(
            annotation_path(CNI_VERSION),
            version,
            SUPPORTED_CNI_VERSIONS,
        ));
    }
}

/// The NAD name cannot change after creation. Go rejects adding and changing
/// `cr-name`; we also reject removing it (which would move the network to a NAD
/// named after the SMC and orphan the old one).
pub(super) fn check_cr_name_unchanged(
    new: &SpiderMultusConfig,
    old: &SpiderMultusConfig,
    errs: &mut Vec<FieldError>,
) {
    let path = annotation_path(CR_NAME);
    match (old.metadata.annotation(CR_NAME), new.metadata.annotation(CR_NAME)) {
        (Some(o), Some(n)) if o != n => errs.push(FieldError::invalid(
            path,
            n,
            format!("the NetworkAttachmentDefinition name cannot be changed from {o:?} to {n:?}"),
        )),
        (None, Some(n)) => errs.push(FieldError::invalid(
            path,
            n,
            format!(
                "cannot be added after creation: the NetworkAttachmentDefinition is {:?}",
                old.metadata.name_str()
            ),
        )),
        (Some(o), None) => errs.push(FieldError::forbidden(
            path,
            format!(
                "cannot be removed after creation: it names the NetworkAttachmentDefinition {o:?}"
            ),
        )),
        _ => {}
    }
}

/// The pod-webhook grouping annotations. Their values become label values, so
/// they must be valid (non-empty) label values. On macvlan, ipvlan, vlan, sriov,
/// ib-sriov and ipoib the network needs at least one default pool, and for
/// `rdma-resource-inject` a resource to inject (`rdmaResourceName` for
/// macvlan/ipvlan/vlan; sriov and ib-sriov always need `resourceName`, ipoib
/// injects by `master`). On ovs and custom they are forbidden.
pub(super) fn check_inject_annotations(
    smc: &SpiderMultusConfig,
    cni_type: Option<CniType>,
    errs: &mut Vec<FieldError>,
) {
    for key in INJECT_ANNOTATIONS {
        let Some(value) = smc.metadata.annotation(key) else {
            continue;
        };
        let path = annotation_path(key);
        if value.is_empty() {
            errs.push(FieldError::invalid(&path, value, "must name a group, not be empty"));
        } else if let Err(why) = validate_label_value(value) {
            errs.push(FieldError::invalid(&path, value, format!("is copied to a label: {why}")));
        }
        let Some(t) = cni_type else { continue };
        let supported = matches!(
            t,
            CniType::Macvlan
                | CniType::Ipvlan
                | CniType::Vlan
                | CniType::Sriov
                | CniType::IbSriov
                | CniType::Ipoib
        );
        if !supported {
            errs.push(FieldError::forbidden(
                path,
                format!(
                    "resource injection is not supported for cniType {t}; \
                     supported: macvlan, ipvlan, vlan, sriov, ib-sriov, ipoib"
                ),
            ));
            continue;
        }
        let Some(section) = section_key(t) else { continue };
        let Some(target) = inject_target(&smc.spec, t) else {
            continue; // the missing section is reported on its own
        };
        if key == SpiderMultusConfig::ANNOTATION_RDMA_RESOURCE_INJECT
            && let Some(rdma) = target.rdma_resource
            && rdma.is_none_or(str::is_empty)
        {
            errs.push(FieldError::required(
                format!("spec.{section}.rdmaResourceName"),
                format!("required by the annotation {key}"),
            ));
        }
        let pools = target.pools;
        let has_pool = pools.is_some_and(|p| !p.ipv4.is_empty() || !p.ipv6.is_empty());
        if !has_pool {
            errs.push(FieldError::required(
                format!("spec.{section}.ippools"),
                format!("at least one IPv4 or IPv6 pool is required by the annotation {key}"),
            ));
        }
    }
}

/// What resource injection reads from the section of the `cniType`.
struct InjectTarget<'a> {
    pools: Option<&'a SpiderpoolPools>,
    /// `rdmaResourceName` for macvlan/ipvlan/vlan; `None` where the section has
    /// none (the resource comes from `resourceName` or `master`).
    rdma_resource: Option<Option<&'a str>>,
}

fn inject_target(spec: &MultusCNIConfigSpec, t: CniType) -> Option<InjectTarget<'_>> {
    fn shared<'a>(
        pools: &'a Option<SpiderpoolPools>,
        rdma: &'a Option<String>,
    ) -> InjectTarget<'a> {
        InjectTarget { pools: pools.as_ref(), rdma_resource: Some(rdma.as_deref()) }
    }
    fn other(pools: &Option<SpiderpoolPools>) -> InjectTarget<'_> {
        InjectTarget { pools: pools.as_ref(), rdma_resource: None }
    }
    match t {
        CniType::Macvlan => {
            spec.macvlan.as_ref().map(|s| shared(&s.ippools, &s.rdma_resource_name))
        }
        CniType::Ipvlan => spec.ipvlan.as_ref().map(|s| shared(&s.ippools, &s.rdma_resource_name)),
        CniType::Vlan => spec.vlan.as_ref().map(|s| shared(&s.ippools, &s.rdma_resource_name)),
        CniType::Sriov => spec.sriov.as_ref().map(|s| other(&s.ippools)),
        CniType::IbSriov => spec.ibsriov.as_ref().map(|s| other(&s.ippools)),
        CniType::Ipoib => spec.ipoib.as_ref().map(|s| other(&s.ippools)),
        _ => None,
    }
}

/// The NAD this SMC renders must not belong to another SMC: an existing NAD of
/// that name in the namespace owned by a SpiderMultusConfig of another name or
/// UID is refused (an unowned NAD is taken over). We also refuse a name another
/// existing SMC of the namespace already renders, which Go lets the two SMCs
/// fight over.
pub(super) fn check_nad_owner(
    smc: &SpiderMultusConfig,
    ctx: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    let name = nad_name(smc);
    let ns = namespace_of(smc.metadata.namespace.as_deref());
    let path = nad_name_path(smc);
    for nad in &ctx.existing.nads {
        if nad.metadata.name_str() != name || namespace_of(nad.metadata.namespace.as_deref()) != ns
        {
            continue;
        }
        if let Some(owner) = other_smc_owner(nad, smc) {
            errs.push(FieldError::invalid(
                &path,
                &name,
                format!(
                    "NetworkAttachmentDefinition {ns}/{name} already exists and belongs to \
                     SpiderMultusConfig {owner:?}"
                ),
            ));
        }
    }
    for other in &ctx.existing.multus_configs {
        let same_ns = namespace_of(other.metadata.namespace.as_deref()) == ns;
        if same_ns
            && other.metadata.name_str() != smc.metadata.name_str()
            && nad_name(other) == name
        {
            errs.push(FieldError::invalid(
                &path,
                &name,
                format!(
                    "SpiderMultusConfig {ns}/{} already renders NetworkAttachmentDefinition {ns}/{name}",
                    other.metadata.name_str()
                ),
            ));
        }
    }
}

/// The name of the SpiderMultusConfig other than `smc` that owns `nad`, if any.
/// A UID is compared only when both sides have one (a new SMC has none yet).
fn other_smc_owner<'a>(
    nad: &'a NetworkAttachmentDefinition,
    smc: &SpiderMultusConfig,
) -> Option<&'a str> {
    let uid = smc.metadata.uid.as_deref().filter(|u| !u.is_empty());
    nad.metadata.owner_references.iter().flatten().find_map(|o| {
        let is_smc = o.kind == SpiderMultusConfig::KIND;
        let other_name = o.name != smc.metadata.name_str();
        let other_uid = uid.is_some_and(|u| !o.uid.is_empty() && o.uid != u);
        (is_smc && (other_name || other_uid)).then_some(o.name.as_str())
    })
}
