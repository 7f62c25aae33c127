//! Candidate selection over many pools.
//!
//! Run with: `cargo bench -p spiderpool-benches --bench selection`
//!
//! 1000 IPv4 pools, a quarter with node affinity, a quarter with namespace
//! names, a quarter with pod affinity; the pod's annotation names every pool by
//! glob (`pool-*`) so each one is expanded, filtered and sorted.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use spiderpool_core::ip::IpFamily;
use spiderpool_core::model::{LabelSelector, SpiderIPPool};
use spiderpool_core::pod::{NamespaceFacts, NodeFacts, PodFacts};
use spiderpool_core::selection::{self, FilterContext, IpamSettings};
use spiderpool_core::store::contract::pool;

fn pools(n: usize) -> Vec<Arc<SpiderIPPool>> {
    (0..n)
        .map(|i| {
            let mut p = pool(
                &format!("pool-{i:04}"),
                &format!("10.{}.{}.0/24", i / 256, i % 256),
                &[&format!("10.{}.{}.1-10.{}.{}.254", i / 256, i % 256, i / 256, i % 256)],
            );
            p.spec.ip_version = Some(4);
            let labels = |k: &str, v: &str| LabelSelector {
                match_labels: Some(BTreeMap::from([(k.to_string(), v.to_string())])),
                ..Default::default()
            };
            match i % 4 {
                0 => {
                    p.spec.node_affinity = Some(labels("zone", if i % 8 == 0 { "a" } else { "b" }))
                }
                1 => p.spec.namespace_name = vec!["default".into(), "other".into()],
                2 => p.spec.pod_affinity = Some(labels("app", "web")),
                _ => {}
            }
            Arc::new(p)
        })
        .collect()
}

fn select(c: &mut Criterion) {
    let pools = pools(1000);
    let pod = PodFacts {
        namespace: "default".into(),
        name: "web-1".into(),
        uid: "u".into(),
        labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
        annotations: BTreeMap::from([(
            "ipam.spidernet.io/ippool".to_string(),
            r#"{"ipv4":["pool-*"]}"#.to_string(),
        )]),
        node: "node1".into(),
        owner: None,
    };
    let ns = NamespaceFacts { name: "default".into(), ..Default::default() };
    let node = NodeFacts {
        name: "node1".into(),
        labels: BTreeMap::from([("zone".to_string(), "a".to_string())]),
    };
    let settings = IpamSettings::default();
    c.bench_function("select_1000_pools", |b| {
        b.iter(|| {
            let reqs = selection::requested_pools(&pod, &ns, &settings, "eth0", &pools).unwrap();
            let by_name: BTreeMap<&str, &Arc<SpiderIPPool>> =
                pools.iter().map(|p| (p.metadata.name_str(), p)).collect();
            let ctx = FilterContext { pod: &pod, namespace: &ns, node: &node, settings: &settings };
            let got = selection::candidates(&reqs[0], IpFamily::V4, &by_name, &ctx).unwrap();
            black_box(got)
        })
    });
}

criterion_group!(benches, select);
criterion_main!(benches);
