//! Admission (`spiderpool_core::admission`): arbitrary objects through mutate and
//! validate, for every operation and cluster setting.
//!
//! Input: one byte of settings, then JSON text holding the object, optionally
//! followed by a line `---` and an "old" object (for UPDATE and DELETE). A fixed
//! set of existing objects (a pool, a subnet, a reserved IP, a coordinator, an
//! SMC and its NAD) is always present, plus the object itself as an existing
//! object, so overlap, name-clash and ownership paths run.
//!
//! Properties: nothing panics or hangs; mutation is idempotent whenever it
//! succeeds; a rejection always names at least one cause or carries a message.
//!
//! Run with: cargo fuzz run -s none --fuzz-dir fuzz admission fuzz/seeds/admission

#![no_main]

use serde_json::{Value, json};
use spiderpool_core::admission::{self, ClusterSettings, Context, Existing, Operation, Rejection};
use spiderpool_core::model::Resource;
use spiderpool_core::multus::NetworkAttachmentDefinition;

fn existing() -> Existing {
    let objects = [
        json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
               "metadata": {"name": "10-6-v4"},
               "spec": {"ipVersion": 4, "subnet": "10.6.0.0/16", "gateway": "10.6.0.1",
                        "ips": ["10.6.212.200-10.6.212.240"]},
               "status": {"allocatedIPs": "{\"10.6.212.200\":{\"pod\":\"default/a\",\"podUid\":\"u\"}}",
                          "allocatedIPCount": 1}}),
        json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderSubnet",
               "metadata": {"name": "s6"},
               "spec": {"ipVersion": 6, "subnet": "fd00::/64", "ips": ["fd00::1-fd00::ff"]}}),
        json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderReservedIP",
               "metadata": {"name": "r"}, "spec": {"ipVersion": 4, "ips": ["10.6.212.201"]}}),
        json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderCoordinator",
               "metadata": {"name": "default"}, "spec": {"podCIDRType": "auto", "mode": "auto"}}),
        json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderMultusConfig",
               "metadata": {"name": "macvlan-ens192", "namespace": "default", "uid": "smc-uid"},
               "spec": {"cniType": "macvlan", "macvlan": {"master": ["ens192"]}}}),
    ];
    let mut out = Existing::from_resources(
        objects.into_iter().filter_map(|v| Resource::from_value(v).ok()),
    );
    let nad: Option<NetworkAttachmentDefinition> = serde_json::from_value(json!({
        "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "macvlan-ens192", "namespace": "default",
                     "ownerReferences": [{"apiVersion": "spiderpool.spidernet.io/v2beta1",
                                          "kind": "SpiderMultusConfig", "name": "macvlan-ens192",
                                          "uid": "smc-uid", "controller": true}]},
        "spec": {"config": "{}"}}))
    .ok();
    out.nads.extend(nad);
    out
}

fn check(r: Result<(), Rejection>) {
    if let Err(rej) = r {
        assert!(
            !rej.causes.is_empty() || !rej.message.is_empty() || matches!(rej.reason, admission::StatusReason::AlreadyExists),
            "a rejection without causes or message: {rej:?}"
        );
        let _ = rej.to_string();
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (new_text, old_text) = match text.split_once("\n---\n") {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let parse = |t: &str| {
        serde_json::from_str::<Value>(t).ok().and_then(|v| Resource::from_value(v).ok())
    };
    let Some(new) = parse(new_text) else { return };
    let old = old_text.and_then(parse);
    let settings = ClusterSettings {
        enable_ipv4: flags & 1 == 0,
        enable_ipv6: flags & 2 == 0,
        enable_spider_subnet: flags & 4 != 0,
        enable_delete_webhook: flags & 8 != 0,
    };
    let mut existing = existing();
    if flags & 16 != 0 {
        existing.push(new.clone());
    }
    let ctx = Context { settings: &settings, existing: &existing };
    let op = match (flags >> 5) % 3 {
        0 => Operation::Create,
        1 => Operation::Update,
        _ => Operation::Delete,
    };

    let mut once = new.clone();
    let first = admission::mutate(&mut once, op, &ctx);
    check(first.clone());
    if first.is_ok() {
        let mut twice = once.clone();
        if admission::mutate(&mut twice, op, &ctx).is_ok() {
            assert_eq!(
                once.to_value().ok(),
                twice.to_value().ok(),
                "mutation is not idempotent"
            );
        }
    }
    match op {
        Operation::Create => check(admission::validate(op, Some(&once), None, &ctx)),
        Operation::Update => {
            check(admission::validate(op, Some(&once), old.as_ref().or(Some(&new)), &ctx))
        }
        Operation::Delete => check(admission::validate(op, None, Some(old.as_ref().unwrap_or(&new)), &ctx)),
    }
});
