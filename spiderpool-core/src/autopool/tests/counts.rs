//! Property test: a SpiderSubnet's status counts, as the subnet
//! reconciler computes them (`reconcile::subnet::plan_subnet`), equal the
//! sum over the pools carved from it, whatever sequence of creates, grows,
//! shrinks, pod allocations and releases made them (third-party pools,
//! which record themselves in `controlledIPPools` as they are carved).

use std::sync::Arc;

use proptest::prelude::*;

use super::{Op, op};

use crate::autopool::*;
use crate::ip::{IpFamily, IpSet};
use crate::model::{ObjectMeta, SpiderIPPool, SpiderSubnet};
use crate::reconcile::subnet::plan_subnet;

const POOLS: usize = 3;

fn plan(i: usize) -> AutoPoolPlan {
    AutoPoolPlan {
        annotation: crate::annotation::ANNO_SUBNET,
        nic: "eth0".into(),
        app: AppRef {
            api_version: "apps.kruise.io/v1alpha1".into(),
            kind: "CloneSet".into(),
            namespace: "ns".into(),
            name: format!("app{i}"),
            uid: format!("00000000-0000-0000-0000-00000000000{i}"),
        },
        ip_number: IpNumber::Fixed(0),
        reclaim: true,
        pools: vec![PlannedPool {
            family: IpFamily::V4,
            subnet: "sub".into(),
            name: format!("auto4-app{i}-eth0-00000"),
        }],
    }
}

/// The `k`-th (mod size) address of `set`, if any.
fn nth(set: &IpSet, k: u128) -> Option<IpSet> {
    let n = set.len();
    (n > 0).then(|| lowest(set, k % n + 1).difference(&lowest(set, k % n)))
}

proptest! {
    #[test]
    fn subnet_counts_equal_the_sum_over_its_pools(ops in prop::collection::vec(op(POOLS, 30), 1..40)) {
        let mut subnet = SpiderSubnet { metadata: ObjectMeta::named("sub"), ..SpiderSubnet::default() };
        subnet.spec.subnet = "10.6.0.0/24".into();
        subnet.spec.ip_version = Some(4);
        subnet.spec.ips = vec!["10.6.0.10-10.6.0.59".into()];
        subnet.spec.exclude_ips = vec!["10.6.0.20-10.6.0.24".into()];
        let reserved = IpSet::parse_ranges(IpFamily::V4, &["10.6.0.30"]).unwrap();
        let plans: Vec<AutoPoolPlan> = (0..POOLS).map(plan).collect();
        let mut pools: Vec<Option<SpiderIPPool>> = vec![None; POOLS];
        let mut held: Vec<IpSet> = vec![IpSet::new(IpFamily::V4); POOLS];
        for op in ops {
            match op {
                Op::Resize(i, n) => {
                    let input = ThirdPartyInput {
                        plan: &plans[i],
                        planned: &plans[i].pools[0],
                        desired: n,
                        subnet: &subnet,
                        existing: pools[i].as_ref(),
                        held: &held[i],
                        reserved: &reserved,
                        other_pools: &IpSet::new(IpFamily::V4),
                    };
                    // Errors (no room, addresses in use) change nothing.
                    if let Ok(ThirdPartyAction::Write { status, pool, .. }) = plan_third_party_pool(&input) {
                        if let Some(status) = status {
                            subnet.status = Some(*status);
                        }
                        pools[i] = Some(*pool);
                    }
                }
                Op::Hold(i, k) => {
                    if let Some(pool) = &pools[i] {
                        let ips = IpSet::parse_ranges(IpFamily::V4, &pool.spec.ips).unwrap();
                        if let Some(one) = nth(&ips.difference(&held[i]), k) {
                            held[i] = held[i].union(&one);
                        }
                    }
                }
                Op::Release(i, k) => {
                    if let Some(one) = nth(&held[i], k) {
                        held[i] = held[i].difference(&one);
                    }
                }
            }
            let live: Vec<Arc<SpiderIPPool>> = pools.iter().flatten().cloned().map(Arc::new).collect();
            let refs: Vec<&SpiderIPPool> = live.iter().map(|p| p.as_ref()).collect();
            let counted = plan_subnet(&subnet, &refs).unwrap();
            let sum: u128 = live.iter().map(|p| pool_size(p).unwrap()).sum();
            prop_assert_eq!(counted.total, 45);
            prop_assert_eq!(u128::try_from(counted.allocated).unwrap(), sum);
            for p in &live {
                let entry = &counted.controlled[p.metadata.name_str()];
                prop_assert_eq!(&entry.ips, &p.spec.ips);
                prop_assert!(entry.application.is_some());
                let ips = IpSet::parse_ranges(IpFamily::V4, &p.spec.ips).unwrap();
                prop_assert!(ips.intersection(&reserved).is_empty());
            }
            if let Some(status) = &subnet.status {
                // What the agent wrote agrees with the reconciler.
                prop_assert_eq!(status.allocated_ip_count, Some(counted.allocated));
                prop_assert_eq!(status.total_ip_count, Some(counted.total));
            }
            for (i, h) in held.iter().enumerate() {
                if let Some(p) = &pools[i] {
                    let ips = IpSet::parse_ranges(IpFamily::V4, &p.spec.ips).unwrap();
                    prop_assert!(h.difference(&ips).is_empty(), "a pod's address was given back");
                }
            }
        }
    }
}
