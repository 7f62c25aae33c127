//! The application controller's write plan for one auto-pool, reaping,
//! adoption and the ledger's orphan entries.

use std::collections::BTreeMap;

use super::*;
use crate::autopool::{AppRef, AutoPoolKey, LABEL_IPPOOL_RECLAIM, LABEL_OWNER_APPLICATION_UID};
use crate::ip::{IpFamily, IpSet};
use crate::model::{
    IPPoolSpec, IPPoolStatus, ObjectMeta, OwnerReference, PoolIpAllocation, PoolIpAllocations,
    PoolIpPreAllocation, SpiderIPPool, SpiderSubnet, SubnetStatus, render_allocated_ips,
    render_controlled_ip_pools,
};

fn app() -> AppRef {
    AppRef::native("Deployment", "ns", "web", "c7b9e1a4-3f2d-4e8b-9a6c-5d3a1c6f7e21").unwrap()
}

fn subnet(ledger: &[(&str, &[&str], Option<&str>)]) -> SpiderSubnet {
    let mut s = SpiderSubnet { metadata: ObjectMeta::named("sub"), ..SpiderSubnet::default() };
    s.spec.ip_version = Some(4);
    s.spec.subnet = "10.6.0.0/24".into();
    s.spec.ips = vec!["10.6.0.10-10.6.0.20".into()];
    let map: PoolIpPreAllocations = ledger
        .iter()
        .map(|(n, ips, app)| {
            (
                n.to_string(),
                PoolIpPreAllocation {
                    ips: ips.iter().map(|s| s.to_string()).collect(),
                    application: app.map(str::to_string),
                },
            )
        })
        .collect();
    s.status = Some(SubnetStatus {
        controlled_ip_pools: render_controlled_ip_pools(&map),
        ..SubnetStatus::default()
    });
    s
}

fn pool(name: &str, ips: &[&str], held: &[&str]) -> SpiderIPPool {
    let mut p = SpiderIPPool::new(
        name,
        IPPoolSpec {
            subnet: "10.6.0.0/24".into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..IPPoolSpec::default()
        },
    );
    let records: PoolIpAllocations =
        held.iter().map(|ip| (ip.to_string(), PoolIpAllocation::new("ns/p", "u"))).collect();
    p.status =
        Some(IPPoolStatus { allocated_ips: render_allocated_ips(&records), ..Default::default() });
    p
}

fn plan(
    s: &SpiderSubnet,
    existing: Option<&SpiderIPPool>,
    others: &[&SpiderIPPool],
    desired: u64,
) -> Result<CarvePlan, crate::autopool::AutoPoolError> {
    let app = app();
    let key = AutoPoolKey { app: &app, interface: "eth0", family: IpFamily::V4, subnet: "sub" };
    let reserved = IpSet::parse_ranges(IpFamily::V4, &["10.6.0.12"]).unwrap();
    plan_carve(&CarveFacts {
        key: &key,
        pool_name: "auto4-web-eth0-5d3a1",
        subnet: s,
        pool: existing,
        others,
        reserved: &reserved,
        desired,
    })
}

#[test]
fn create_writes_the_ledger_first_around_others_and_reserved() {
    let s = subnet(&[("other", &["10.6.0.10"], None)]);
    // A pool with the subnet's CIDR but not (yet) in the ledger is avoided too.
    let stray = pool("stray", &["10.6.0.11"], &[]);
    let p = plan(&s, None, &[&stray], 3).unwrap();
    assert_eq!(p.resize.ips.to_strings(), ["10.6.0.13-10.6.0.15"]);
    assert_eq!(p.order, WriteOrder::LedgerFirst);
    assert!(p.ledger_changes && p.pool_changes);
    assert_eq!(
        p.controlled["auto4-web-eth0-5d3a1"].application.as_deref(),
        Some("apps_v1_Deployment_ns_web")
    );
    assert_eq!(p.allocated_count, 4, "other's 1 + the new pool's 3");
}

#[test]
fn a_pool_whose_creation_failed_is_created_with_its_ledger_entry() {
    let app = Some("apps_v1_Deployment_ns_web");
    let s = subnet(&[("auto4-web-eth0-5d3a1", &["10.6.0.18-10.6.0.20"], app)]);
    let p = plan(&s, None, &[], 3).unwrap();
    assert_eq!(p.resize.ips.to_strings(), ["10.6.0.18-10.6.0.20"]);
    assert!(!p.ledger_changes && p.pool_changes);
}

#[test]
fn shrink_writes_the_pool_first_and_keeps_held_addresses() {
    let app = Some("apps_v1_Deployment_ns_web");
    let s = subnet(&[("auto4-web-eth0-5d3a1", &["10.6.0.13-10.6.0.17"], app)]);
    let existing =
        pool("auto4-web-eth0-5d3a1", &["10.6.0.13-10.6.0.17"], &["10.6.0.13", "10.6.0.15"]);
    let p = plan(&s, Some(&existing), &[], 2).unwrap();
    assert_eq!(p.resize.ips.to_strings(), ["10.6.0.13", "10.6.0.15"]);
    assert_eq!(p.order, WriteOrder::PoolFirst);
    assert_eq!(p.allocated_count, 2);
    let err = plan(&s, Some(&existing), &[], 1).unwrap_err().to_string();
    assert!(err.contains("cannot shrink from 5 to 1 IPs: pods hold 2"), "{err}");
}

#[test]
fn steady_state_writes_nothing_and_repairs_a_stale_ledger() {
    let app = Some("apps_v1_Deployment_ns_web");
    let s = subnet(&[("auto4-web-eth0-5d3a1", &["10.6.0.13-10.6.0.14"], app)]);
    let existing = pool("auto4-web-eth0-5d3a1", &["10.6.0.13-10.6.0.14"], &[]);
    let p = plan(&s, Some(&existing), &[], 2).unwrap();
    assert!(!p.ledger_changes && !p.pool_changes);
    // The ledger still holds addresses the pool gave back: written again.
    let s = subnet(&[("auto4-web-eth0-5d3a1", &["10.6.0.13-10.6.0.16"], app)]);
    let p = plan(&s, Some(&existing), &[], 2).unwrap();
    assert!(p.ledger_changes && !p.pool_changes);
    assert_eq!(p.controlled["auto4-web-eth0-5d3a1"].ips, ["10.6.0.13-10.6.0.14"]);
}

#[test]
fn no_room_and_bad_subnets_name_the_numbers() {
    let s = subnet(&[("other", &["10.6.0.10-10.6.0.17"], None)]);
    let err = plan(&s, None, &[], 5).unwrap_err().to_string();
    assert!(err.contains("SpiderSubnet sub has 3 free IPs"), "{err}");
    assert!(err.contains("needs 5 more to grow from 0 to 5"), "{err}");
    let mut gone = subnet(&[]);
    gone.metadata.deletion_timestamp = Some("2025-01-01T00:00:00Z".into());
    assert!(plan(&gone, None, &[], 1).unwrap_err().to_string().contains("being deleted"));
    let mut v6 = subnet(&[]);
    v6.spec.ip_version = Some(6);
    v6.spec.subnet = "fd00::/64".into();
    v6.spec.ips = vec!["fd00::10".into()];
    assert!(plan(&v6, None, &[], 1).unwrap_err().to_string().contains("IPv6 subnet"));
    let mut bad = subnet(&[]);
    bad.status = Some(SubnetStatus { controlled_ip_pools: Some("{".into()), ..Default::default() });
    assert!(plan(&bad, None, &[], 1).is_err());
}

#[test]
fn reaping_follows_the_reclaim_label() {
    let mut p = pool("auto4-web-eth0-5d3a1", &[], &[]);
    p.metadata.labels = Some(BTreeMap::from([
        (LABEL_OWNER_APPLICATION_UID.to_string(), "u1".to_string()),
        (LABEL_IPPOOL_RECLAIM.to_string(), "true".to_string()),
    ]));
    assert_eq!(reap_auto_pool(&p, Some("u1")), Reap::Keep);
    assert_eq!(reap_auto_pool(&p, None), Reap::Delete);
    assert_eq!(reap_auto_pool(&p, Some("u2")), Reap::Delete, "a same-named new application");
    p.metadata.labels.as_mut().unwrap().insert(LABEL_IPPOOL_RECLAIM.into(), "false".into());
    assert_eq!(reap_auto_pool(&p, None), Reap::Keep);
}

#[test]
fn adoption_needs_the_same_cidr_and_no_owner() {
    let s = subnet(&[]);
    let mut p = pool("manual", &["10.6.0.10"], &[]);
    assert!(adoptable(&p, &s));
    p.metadata.owner_references = Some(vec![OwnerReference {
        kind: "SpiderSubnet".into(),
        name: "x".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    assert!(!adoptable(&p, &s));
    let mut q = pool("other-cidr", &["10.7.0.10"], &[]);
    q.spec.subnet = "10.7.0.0/24".into();
    assert!(!adoptable(&q, &s));
}

#[test]
fn application_keys_and_orphan_entries() {
    let a = parse_application_key("apps_v1_Deployment_ns_web").unwrap();
    assert_eq!((a.api_version.as_str(), a.kind.as_str()), ("apps/v1", "Deployment"));
    assert_eq!((a.namespace.as_str(), a.name.as_str()), ("ns", "web"));
    let core = parse_application_key("v1_Pod_ns_p").unwrap();
    assert_eq!(core.api_version, "v1");
    assert_eq!(parse_application_key("Deployment_ns_web"), None);
    let s = subnet(&[
        ("live", &["10.6.0.10"], Some("apps_v1_Deployment_ns_a")),
        ("gone", &["10.6.0.11"], Some("batch_v1_Job_ns_b")),
        ("manual", &["10.6.0.12"], None),
    ]);
    let ledger = s.status.unwrap().controlled_pools().unwrap();
    let orphans = orphan_ledger_entries(&ledger, |n| n == "live");
    assert_eq!(orphans.len(), 1);
    assert_eq!((orphans[0].0, orphans[0].1.kind.as_str()), ("gone", "Job"));
}

#[test]
fn orphan_entries_of_gone_or_replaced_applications_are_stale() {
    let uid = "c7b9e1a4-3f2d-4e8b-9a6c-5d3a1c6f7e21";
    assert!(!ledger_entry_stale("auto4-web-eth0-5d3a1", Some(uid)), "pool yet to be created");
    assert!(ledger_entry_stale("auto4-web-eth0-5d3a1", None), "application gone");
    assert!(ledger_entry_stale("auto4-web-eth0-aaaaa", Some(uid)), "an earlier application's");
}
