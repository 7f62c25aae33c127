//! Table tests, one per rule of reference §2.1: accepted and rejected cases,
//! asserting the status reason and each field error's exact path and type.

#![allow(clippy::unwrap_used)]

mod create;
mod lifecycle;
mod mutate;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;
use crate::admission::common::{
    LABEL_IPPOOL_CIDR, LABEL_OWNER_APPLICATION_NAME, LABEL_OWNER_SPIDER_SUBNET, infer_ip_version,
};
use crate::admission::{
    ClusterSettings, Context, Existing, FieldErrorType as T, Operation, Rejection, StatusReason,
};
use crate::model::{
    FINALIZER, IPPoolSpec, IPPoolStatus, LabelSelector, LabelSelectorRequirement, OwnerReference,
    PoolIpAllocation, PoolIpAllocations, PoolIpPreAllocation, PoolIpPreAllocations, Route,
    SpiderIPPool, SpiderSubnet, SubnetSpec, SubnetStatus, render_controlled_ip_pools,
};

// ------------------------------------------------------------------ fixtures --

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A pool named `p` as mutation would leave it (ipVersion set).
fn pool(subnet: &str, ips: &[&str]) -> SpiderIPPool {
    named("p", subnet, ips)
}

fn named(name: &str, subnet: &str, ips: &[&str]) -> SpiderIPPool {
    SpiderIPPool::new(
        name,
        IPPoolSpec {
            ip_version: infer_ip_version(subnet),
            subnet: subnet.into(),
            ips: strs(ips),
            ..IPPoolSpec::default()
        },
    )
}

fn with(mut p: SpiderIPPool, f: impl FnOnce(&mut SpiderIPPool)) -> SpiderIPPool {
    f(&mut p);
    p
}

fn subnet_obj(name: &str, cidr: &str, ips: &[&str]) -> SpiderSubnet {
    SpiderSubnet::new(
        name,
        SubnetSpec {
            ip_version: infer_ip_version(cidr),
            subnet: cidr.into(),
            ips: strs(ips),
            ..SubnetSpec::default()
        },
    )
}

fn owned_by(p: &mut SpiderIPPool, subnet: &str) {
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: crate::model::API_VERSION.into(),
        kind: "SpiderSubnet".into(),
        name: subnet.into(),
        uid: "u".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
}

fn allocated(p: &mut SpiderIPPool, ips: &[&str]) {
    let mut m = PoolIpAllocations::new();
    for ip in ips {
        m.insert((*ip).into(), PoolIpAllocation::new(format!("default/pod-{ip}"), "uid"));
    }
    let mut status = IPPoolStatus::default();
    status.set_allocations(&m);
    p.status = Some(status);
}

fn sel(labels: &[(&str, &str)], exprs: &[(&str, &str, &[&str])]) -> LabelSelector {
    LabelSelector {
        match_labels: (!labels.is_empty())
            .then(|| labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        match_expressions: (!exprs.is_empty()).then(|| {
            exprs
                .iter()
                .map(|(k, op, vals)| LabelSelectorRequirement {
                    key: (*k).into(),
                    operator: (*op).into(),
                    values: (!vals.is_empty()).then(|| strs(vals)),
                })
                .collect()
        }),
    }
}

fn on() -> ClusterSettings {
    ClusterSettings::default()
}

fn subnet_on() -> ClusterSettings {
    ClusterSettings { enable_spider_subnet: true, ..ClusterSettings::default() }
}

fn run(
    op: Operation,
    new: Option<&SpiderIPPool>,
    old: Option<&SpiderIPPool>,
    settings: &ClusterSettings,
    existing: &Existing,
) -> Result<(), Rejection> {
    validate(op, new, old, &Context { settings, existing })
}

fn create(
    new: &SpiderIPPool,
    settings: &ClusterSettings,
    existing: &Existing,
) -> Result<(), Rejection> {
    run(Operation::Create, Some(new), None, settings, existing)
}

/// What a case expects.
#[derive(Debug)]
enum Want {
    Ok,
    /// `Invalid` with exactly these (field, type) pairs, in order.
    Invalid(&'static [(&'static str, T)]),
    Reason(StatusReason),
}

fn check(case: &str, got: Result<(), Rejection>, want: &Want) {
    match (want, got) {
        (Want::Ok, Ok(())) => {}
        (Want::Invalid(fields), Err(r)) => {
            assert_eq!(r.reason, StatusReason::Invalid, "{case}: {r}");
            let got: Vec<_> = r.causes.iter().map(|c| (c.field.as_str(), c.kind)).collect();
            assert_eq!(got, fields.to_vec(), "{case}: {r}");
            assert_eq!(r.kind, "SpiderIPPool");
        }
        (Want::Reason(reason), Err(r)) => assert_eq!(r.reason, *reason, "{case}: {r}"),
        (want, got) => panic!("{case}: want {want:?}, got {got:?}"),
    }
}

fn table(cases: Vec<(&str, SpiderIPPool, Want)>, settings: &ClusterSettings, existing: &Existing) {
    for (name, p, want) in cases {
        check(name, create(&p, settings, existing), &want);
    }
}
