//! SpiderSubnet status: `totalIPCount`, `allocatedIPCount` and
//! `controlledIPPools` (reference §2.2), and its finalizer.

use crate::admission::common::stored_network;
use crate::ip::{IpError, IpSet};
use crate::model::{
    ModelError, PoolIpPreAllocation, PoolIpPreAllocations, SpiderIPPool, SpiderSubnet,
};
use crate::store::deletion::owner_subnet;

use super::pool::{FinalizerAction, finalizer_action};

/// What a subnet's status and finalizer should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetPlan {
    /// `status.totalIPCount`: `|ips − excludeIPs|`.
    pub total: i64,
    /// `status.allocatedIPCount`: the addresses handed to its pools (the union
    /// of their `ips` entries in `controlledIPPools`).
    pub allocated: i64,
    /// `status.controlledIPPools`: one entry per pool the subnet controls (its
    /// `spec.ips`), except that entries of auto-created pools (`application`
    /// set) are kept as they are — whether their pool exists or not — since
    /// the auto-pool logic writes them (see `autopool::scale`).
    pub controlled: PoolIpPreAllocations,
    /// The finalizer change: a terminating subnet keeps it while it controls
    /// a pool.
    pub finalizer: FinalizerAction,
}

/// Why a subnet cannot be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SubnetPlanError {
    /// `spec.ipVersion` / `spec.subnet` do not give a family and a CIDR.
    #[error("SpiderSubnet {subnet}: spec.subnet: {value:?} is not a CIDR of spec.ipVersion")]
    Subnet {
        /// Subnet name.
        subnet: String,
        /// The value.
        value: String,
    },
    /// An entry of `spec.ips` or `spec.excludeIPs` does not parse.
    #[error("SpiderSubnet {subnet}: {field}: {cause}")]
    Range {
        /// Subnet name.
        subnet: String,
        /// `spec.ips` or `spec.excludeIPs`.
        field: &'static str,
        /// The parse error.
        cause: IpError,
    },
    /// `status.controlledIPPools` does not parse (left alone: it may hold the
    /// auto-pool logic's records).
    #[error("SpiderSubnet {subnet}: {cause}")]
    Status {
        /// Subnet name.
        subnet: String,
        /// The parse error.
        cause: ModelError,
    },
}

/// The plan for `subnet` given every pool (the ones it controls are picked
/// by [`owner_subnet`]).
pub fn plan_subnet(
    subnet: &SpiderSubnet,
    pools: &[&SpiderIPPool],
) -> Result<SubnetPlan, SubnetPlanError> {
    let name = subnet.metadata.name_str().to_owned();
    let (family, _) =
        stored_network(subnet.spec.ip_version, &subnet.spec.subnet).ok_or_else(|| {
            SubnetPlanError::Subnet { subnet: name.clone(), value: subnet.spec.subnet.clone() }
        })?;
    let range_err = |field, cause| SubnetPlanError::Range { subnet: name.clone(), field, cause };
    let ips =
        IpSet::parse_ranges(family, &subnet.spec.ips).map_err(|e| range_err("spec.ips", e))?;
    let excluded = IpSet::parse_ranges(family, &subnet.spec.exclude_ips)
        .map_err(|e| range_err("spec.excludeIPs", e))?;
    let old = subnet
        .status
        .clone()
        .unwrap_or_default()
        .controlled_pools()
        .map_err(|cause| SubnetPlanError::Status { subnet: name.clone(), cause })?;
    let mut controlled: PoolIpPreAllocations =
        old.into_iter().filter(|(_, e)| e.application.is_some()).collect();
    for pool in pools.iter().filter(|p| owner_subnet(p) == Some(name.as_str())) {
        let pool_name = pool.metadata.name_str().to_owned();
        // An auto-pool's entry is the application controller's ledger: it
        // is written before the pool grows and after it shrinks, so it is
        // never narrowed here from a pool read a moment earlier or later
        // (that could hand an address the pool is taking out twice).
        if controlled.contains_key(&pool_name) {
            continue;
        }
        controlled.insert(
            pool_name,
            PoolIpPreAllocation { ips: pool.spec.ips.clone(), application: None },
        );
    }
    let mut handed = IpSet::new(family);
    for entry in controlled.values() {
        // Entries that do not parse count nothing (admission keeps pool ips
        // valid; a broken record must not stop the subnet's status).
        if let Ok(set) = IpSet::parse_ranges(family, &entry.ips) {
            handed = handed.union(&set);
        }
    }
    let live = controlled
        .keys()
        .filter(|k| pools.iter().any(|p| p.metadata.name_str() == k.as_str()))
        .count();
    Ok(SubnetPlan {
        total: i64::try_from(ips.difference(&excluded).len()).unwrap_or(i64::MAX),
        allocated: i64::try_from(handed.len()).unwrap_or(i64::MAX),
        finalizer: finalizer_action(&subnet.metadata, live),
        controlled,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{
        IPPoolSpec, OwnerReference, SubnetSpec, SubnetStatus, render_controlled_ip_pools,
    };

    fn subnet() -> SpiderSubnet {
        let mut s = SpiderSubnet::new(
            "s",
            SubnetSpec {
                ip_version: Some(4),
                subnet: "10.6.0.0/16".into(),
                ips: vec!["10.6.0.1-10.6.0.100".into()],
                exclude_ips: vec!["10.6.0.1-10.6.0.10".into()],
                ..Default::default()
            },
        );
        s.metadata.finalizers = Some(vec![crate::model::FINALIZER.into()]);
        s
    }

    fn owned_pool(name: &str, ips: &[&str]) -> SpiderIPPool {
        let mut p = SpiderIPPool::new(
            name,
            IPPoolSpec {
                subnet: "10.6.0.0/16".into(),
                ips: ips.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        );
        p.metadata.owner_references = Some(vec![OwnerReference {
            kind: "SpiderSubnet".into(),
            name: "s".into(),
            controller: Some(true),
            ..Default::default()
        }]);
        p
    }

    #[test]
    fn counts_and_controlled_pools_in_spiderpools_format() {
        let a = owned_pool("a", &["10.6.0.20-10.6.0.29"]);
        let b = owned_pool("b", &["10.6.0.25-10.6.0.34"]);
        let free = SpiderIPPool::new(
            "c",
            IPPoolSpec { subnet: "10.6.0.0/16".into(), ..Default::default() },
        );
        let plan = plan_subnet(&subnet(), &[&a, &b, &free]).unwrap();
        assert_eq!(plan.total, 90);
        assert_eq!(plan.allocated, 15, "the union of the pools' ips");
        assert_eq!(
            render_controlled_ip_pools(&plan.controlled).unwrap(),
            r#"{"a":{"ips":["10.6.0.20-10.6.0.29"]},"b":{"ips":["10.6.0.25-10.6.0.34"]}}"#
        );
        assert_eq!(plan.finalizer, FinalizerAction::Keep);
    }

    #[test]
    fn auto_pool_records_are_kept_and_stale_manual_ones_dropped() {
        let mut s = subnet();
        let text = r#"{"auto":{"ips":["10.6.0.50"],"application":"apps_v1_Deployment_ns_x"},"gone":{"ips":["10.6.0.60"]}}"#;
        s.status =
            Some(SubnetStatus { controlled_ip_pools: Some(text.into()), ..Default::default() });
        let plan = plan_subnet(&s, &[]).unwrap();
        assert_eq!(plan.controlled.keys().collect::<Vec<_>>(), vec!["auto"]);
        assert_eq!(plan.allocated, 1);
    }

    #[test]
    fn terminating_subnet_waits_for_its_pools() {
        let mut s = subnet();
        s.metadata.deletion_timestamp = Some("2025-01-01T00:00:00Z".into());
        let a = owned_pool("a", &["10.6.0.20"]);
        assert_eq!(plan_subnet(&s, &[&a]).unwrap().finalizer, FinalizerAction::Keep);
        assert_eq!(plan_subnet(&s, &[]).unwrap().finalizer, FinalizerAction::Remove);
    }

    #[test]
    fn bad_input_names_the_object_and_field() {
        let mut s = subnet();
        s.spec.ips = vec!["10.6.0.9-10.6.0.1".into()];
        let err = plan_subnet(&s, &[]).unwrap_err().to_string();
        assert!(err.starts_with("SpiderSubnet s: spec.ips: "), "{err}");
        let mut s = subnet();
        s.spec.subnet = "nope".into();
        assert!(plan_subnet(&s, &[]).unwrap_err().to_string().contains("\"nope\""));
        let mut s = subnet();
        s.status =
            Some(SubnetStatus { controlled_ip_pools: Some("{".into()), ..Default::default() });
        assert!(plan_subnet(&s, &[]).unwrap_err().to_string().contains("status.controlledIPPools"));
    }
}
