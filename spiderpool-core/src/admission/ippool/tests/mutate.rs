//! Defaulting (mutating admission) of SpiderIPPool.

#![allow(clippy::unwrap_used)]

use super::*;

// -------------------------------------------------------------------- mutate --

fn mutated(p: SpiderIPPool, settings: &ClusterSettings, existing: &Existing) -> SpiderIPPool {
    let mut p = p;
    mutate(&mut p, Operation::Create, &Context { settings, existing }).unwrap();
    p
}

#[test]
fn mutate_defaults() {
    let raw = SpiderIPPool::new(
        "p",
        IPPoolSpec {
            subnet: "10.6.0.0/16".into(),
            ips: strs(&["10.6.0.9", "10.6.0.1-10.6.0.5", "10.6.0.6", "10.6.0.1"]),
            exclude_ips: strs(&["10.6.0.3", "10.6.0.2"]),
            ..IPPoolSpec::default()
        },
    );
    let p = mutated(raw, &on(), &Existing::default());
    assert_eq!(p.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    assert_eq!(p.spec.ip_version, Some(4));
    assert_eq!(p.metadata.label(LABEL_IPPOOL_CIDR), Some("10-6-0-0-16"));
    assert_eq!(p.spec.ips, strs(&["10.6.0.1-10.6.0.6", "10.6.0.9"]));
    assert_eq!(p.spec.exclude_ips, strs(&["10.6.0.2-10.6.0.3"]));
    let v6 = mutated(pool("fd00::/64", &[]), &on(), &Existing::default());
    assert_eq!(v6.metadata.label(LABEL_IPPOOL_CIDR), Some("fd00---64"));
}

#[test]
fn mutate_leaves_bad_and_terminating_objects() {
    let bad =
        with(pool("10.6.0.0/16", &["10.6.0.2", "oops", "10.6.0.1"]), |p| p.spec.ip_version = None);
    let bad = with(bad, |p| p.spec.subnet = "nonsense".into());
    let m = mutated(bad.clone(), &on(), &Existing::default());
    assert_eq!(m.spec.ip_version, None);
    assert_eq!(m.spec.ips, bad.spec.ips);
    assert_eq!(m.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    // A bad item keeps the list as written, so validation can name it.
    let m = mutated(pool("10.6.0.0/16", &["10.6.0.2", "oops"]), &on(), &Existing::default());
    assert_eq!(m.spec.ips, strs(&["10.6.0.2", "oops"]));
    let term = with(pool("10.6.0.0/16", &["10.6.0.2", "10.6.0.1"]), |p| {
        p.metadata.deletion_timestamp = Some("t".into());
    });
    assert_eq!(mutated(term.clone(), &on(), &Existing::default()), term);
}

#[test]
fn mutate_adopts_and_inherits_from_subnet() {
    let mut s = subnet_obj("s", "10.6.0.0/16", &["10.6.0.1-10.6.0.100"]);
    s.metadata.uid = Some("sub-uid".into());
    s.spec.gateway = Some("10.6.0.254".into());
    s.spec.routes = vec![Route::new("10.7.0.0/16", "10.6.0.254")];
    let existing =
        Existing { subnets: vec![s, subnet_obj("t", "10.8.0.0/16", &[])], ..Existing::default() };

    let p = mutated(pool("10.6.0.0/16", &["10.6.0.1"]), &subnet_on(), &existing);
    assert_eq!(p.metadata.label(LABEL_OWNER_SPIDER_SUBNET), Some("s"));
    assert_eq!(controller_subnet_name(&p), Some("s"));
    assert_eq!(p.metadata.owner_references.as_ref().unwrap()[0].uid, "sub-uid");
    assert_eq!(p.spec.gateway.as_deref(), Some("10.6.0.254"));
    assert_eq!(p.spec.routes, Some(vec![Route::new("10.7.0.0/16", "10.6.0.254")]));
    assert!(
        validate(
            Operation::Create,
            Some(&p),
            None,
            &Context { settings: &subnet_on(), existing: &existing }
        )
        .is_ok()
    );

    // Explicit gateway and an explicit empty route list are kept.
    let own = with(pool("10.6.0.0/16", &[]), |p| {
        p.spec.gateway = Some("10.6.0.1".into());
        p.spec.routes = Some(vec![]);
    });
    let p = mutated(own, &subnet_on(), &existing);
    assert_eq!(p.spec.gateway.as_deref(), Some("10.6.0.1"));
    assert_eq!(p.spec.routes, Some(vec![]));

    // Feature off: no adoption.
    let p = mutated(pool("10.6.0.0/16", &[]), &on(), &existing);
    assert_eq!(p.metadata.owner_references, None);
    assert_eq!(p.spec.gateway, None);

    // No subnet with that CIDR: nothing to adopt.
    let p = mutated(pool("10.9.0.0/16", &[]), &subnet_on(), &existing);
    assert_eq!(p.metadata.owner_references, None);

    // Controlled by something else: left alone, the rest still defaulted.
    let other = with(pool("10.6.0.0/16", &["10.6.0.2", "10.6.0.1"]), |p| {
        p.metadata.owner_references = Some(vec![OwnerReference {
            kind: "Deployment".into(),
            name: "d".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
    });
    let p = mutated(other, &subnet_on(), &existing);
    assert_eq!(p.metadata.owner_references.as_ref().unwrap().len(), 1);
    assert_eq!(p.metadata.label(LABEL_OWNER_SPIDER_SUBNET), None);
    assert_eq!(p.spec.ips, strs(&["10.6.0.1-10.6.0.2"]));

    // Already adopted and labelled: not touched again (gateway stays removed).
    let adopted = with(pool("10.6.0.0/16", &[]), |p| {
        owned_by(p, "s");
        p.metadata.labels = Some(BTreeMap::from([(LABEL_OWNER_SPIDER_SUBNET.into(), "s".into())]));
    });
    let p = mutated(adopted, &subnet_on(), &existing);
    assert_eq!(p.spec.gateway, None);
}
