//! The labels, annotation and skeleton of an auto-created SpiderIPPool
//! (Go `ReconcileAutoIPPool`, creation branch), and which existing pool an
//! application reuses.

use std::collections::BTreeMap;

use super::AutoPoolError;
use super::app::{AppRef, auto_pool_name, auto_pool_pod_affinity};
use super::config::IpNumber;
use crate::admission::common::{
    LABEL_IPPOOL_CIDR, LABEL_OWNER_APPLICATION_NAME, LABEL_OWNER_SPIDER_SUBNET, cidr_label_value,
    stored_network,
};
use crate::annotation::{ANNO_IPPOOL_IP_NUMBER, ANNO_IPPOOL_RECLAIM};
use crate::ip::{IpFamily, IpSet};
use crate::model::{
    API_VERSION, FINALIZER, IPPoolSpec, ObjectMeta, OwnerReference, SpiderIPPool, SpiderSubnet,
};
use crate::selector::validate_label_value;

/// Label: the application's group and version, `apps_v1` (`v1` for the core group).
pub const LABEL_OWNER_APPLICATION_GV: &str = "ipam.spidernet.io/owner-application-gv";
/// Label: the application's kind.
pub const LABEL_OWNER_APPLICATION_KIND: &str = "ipam.spidernet.io/owner-application-kind";
/// Label: the application's namespace.
pub const LABEL_OWNER_APPLICATION_NAMESPACE: &str = "ipam.spidernet.io/owner-application-namespace";
/// Label: the application's UID.
pub const LABEL_OWNER_APPLICATION_UID: &str = "ipam.spidernet.io/owner-application-uid";
/// Label: the NIC the pool serves.
pub const LABEL_INTERFACE: &str = "ipam.spidernet.io/interface";
/// Label: the pool's family, `IPv4` or `IPv6`.
pub const LABEL_IP_VERSION: &str = "ipam.spidernet.io/ip-version";
/// Label: `true` when the pool goes with its application (same key as the
/// pod annotation).
pub const LABEL_IPPOOL_RECLAIM: &str = ANNO_IPPOOL_RECLAIM;

/// What identifies one auto-pool: the application, the NIC, the family and
/// the subnet it is carved from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPoolKey<'a> {
    /// The application.
    pub app: &'a AppRef,
    /// The NIC.
    pub interface: &'a str,
    /// The family.
    pub family: IpFamily,
    /// The SpiderSubnet's name.
    pub subnet: &'a str,
}

/// `true` / `false`, as Spiderpool writes booleans into labels.
fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The labels that find an application's pool for one NIC and family (Go
/// `applyAutoIPPool` and the agent's `findAppAutoPool` list pools with
/// these; the agent also adds [`LABEL_OWNER_APPLICATION_UID`]).
pub fn auto_pool_selector_labels(key: &AutoPoolKey<'_>) -> BTreeMap<String, String> {
    let app = key.app;
    [
        (LABEL_OWNER_SPIDER_SUBNET, key.subnet.to_string()),
        (LABEL_OWNER_APPLICATION_GV, app.group_version_label()),
        (LABEL_OWNER_APPLICATION_KIND, app.kind.clone()),
        (LABEL_OWNER_APPLICATION_NAMESPACE, app.namespace.clone()),
        (LABEL_OWNER_APPLICATION_NAME, app.name.clone()),
        (LABEL_IP_VERSION, key.family.to_string()),
        (LABEL_INTERFACE, key.interface.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Every label of a new auto-pool: the selector labels, the application
/// UID, the reclaim flag and the CIDR label of `subnet_cidr`. Each value
/// must be a valid label value (at most 63 characters): an application
/// name or subnet name longer than that cannot be a label, and is an error
/// naming the label and the value rather than a refusal by the API server.
pub fn auto_pool_labels(
    key: &AutoPoolKey<'_>,
    subnet_cidr: &str,
    reclaim: bool,
) -> Result<BTreeMap<String, String>, AutoPoolError> {
    let mut labels = auto_pool_selector_labels(key);
    labels.insert(LABEL_OWNER_APPLICATION_UID.to_string(), key.app.uid.clone());
    labels.insert(LABEL_IPPOOL_RECLAIM.to_string(), bool_label(reclaim).to_string());
    labels.insert(LABEL_IPPOOL_CIDR.to_string(), cidr_label_value(subnet_cidr));
    for (label, value) in &labels {
        validate_label_value(value).map_err(|reason| AutoPoolError::LabelValue {
            label: label.clone(),
            value: value.clone(),
            reason,
        })?;
    }
    Ok(labels)
}

/// The annotations of an auto-pool: `ipam.spidernet.io/ippool-ip-number`
/// with `N` or `+N`, so readers know how the pool is sized.
pub fn auto_pool_annotations(ip_number: IpNumber) -> BTreeMap<String, String> {
    BTreeMap::from([(ANNO_IPPOOL_IP_NUMBER.to_string(), ip_number.to_string())])
}

/// A new auto-pool holding `ips`, carved from `subnet` (Go
/// `ReconcileAutoIPPool` when no pool exists): name from
/// [`auto_pool_name`], labels from [`auto_pool_labels`], the
/// `ippool-ip-number` annotation, the SpiderSubnet as controlling owner
/// (when it has a UID),
/// the finalizer, and a spec with the family, the subnet's CIDR, gateway and
/// routes and the application's pod affinity. The subnet must be of the
/// key's family ([`AutoPoolError::SubnetSpec`] otherwise).
pub fn new_auto_pool(
    key: &AutoPoolKey<'_>,
    subnet: &SpiderSubnet,
    ip_number: IpNumber,
    reclaim: bool,
    ips: &IpSet,
) -> Result<SpiderIPPool, AutoPoolError> {
    let subnet_name = subnet.metadata.name_str();
    match stored_network(subnet.spec.ip_version, &subnet.spec.subnet) {
        Some((family, _)) if family == key.family => {}
        Some((family, _)) => {
            return Err(AutoPoolError::SubnetSpec {
                subnet: subnet_name.to_string(),
                reason: format!("it is an {family} subnet, not {}", key.family),
            });
        }
        None => {
            return Err(AutoPoolError::SubnetSpec {
                subnet: subnet_name.to_string(),
                reason: format!(
                    "spec.subnet {:?} with spec.ipVersion {:?} is not a usable CIDR",
                    subnet.spec.subnet, subnet.spec.ip_version
                ),
            });
        }
    }
    let name = auto_pool_name(&key.app.name, key.family, key.interface, &key.app.uid)?;
    let labels = auto_pool_labels(key, &subnet.spec.subnet, reclaim)?;
    // The API server refuses an owner reference without a UID; a subnet
    // without one (embedded store) owns its pools by label only.
    let owner = subnet.metadata.uid.as_ref().filter(|u| !u.is_empty()).map(|uid| {
        vec![OwnerReference {
            api_version: API_VERSION.to_string(),
            kind: SpiderSubnet::KIND.to_string(),
            name: subnet.metadata.name_str().to_string(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]
    });
    let routes = (!subnet.spec.routes.is_empty()).then(|| subnet.spec.routes.clone());
    Ok(SpiderIPPool {
        api_version: API_VERSION.to_string(),
        kind: SpiderIPPool::KIND.to_string(),
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(labels),
            annotations: Some(auto_pool_annotations(ip_number)),
            finalizers: Some(vec![FINALIZER.to_string()]),
            owner_references: owner,
            ..ObjectMeta::default()
        },
        spec: IPPoolSpec {
            ip_version: Some(i64::from(key.family.version())),
            subnet: subnet.spec.subnet.clone(),
            ips: ips.to_strings(),
            gateway: subnet.spec.gateway.clone(),
            routes,
            pod_affinity: Some(auto_pool_pod_affinity(key.app)),
            ..IPPoolSpec::default()
        },
        status: None,
    })
}

/// Which of the pools listed by [`auto_pool_selector_labels`] the
/// application `app_uid` uses (Go `applyAutoIPPool`): the first that is
/// not a reclaimable pool of an earlier application of the same name (such
/// a pool, labelled `ippool-reclaim: "true"` with another UID, is being
/// deleted). A kept pool (`"false"`) of an earlier application is reused,
/// and its UID and reclaim labels are then rewritten
/// ([`relabel_reused_pool`]). `None`: create a new pool.
pub fn pick_existing_pool<'p>(
    pools: &'p [SpiderIPPool],
    app_uid: &str,
) -> Option<&'p SpiderIPPool> {
    pools.iter().find(|p| {
        let m = &p.metadata;
        !(m.label(LABEL_IPPOOL_RECLAIM) == Some("true")
            && m.label(LABEL_OWNER_APPLICATION_UID) != Some(app_uid))
    })
}

/// Points a reused pool at the current application: its UID label and the
/// reclaim label of the current annotation.
pub fn relabel_reused_pool(pool: &mut SpiderIPPool, app_uid: &str, reclaim: bool) {
    let labels = pool.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(LABEL_OWNER_APPLICATION_UID.to_string(), app_uid.to_string());
    labels.insert(LABEL_IPPOOL_RECLAIM.to_string(), bool_label(reclaim).to_string());
}
