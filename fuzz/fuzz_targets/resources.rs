//! The `v2beta1` resource model (`spiderpool_core::model`), the
//! `status.allocatedIPs` string and label selectors (`spiderpool_core::selector`).
//!
//! Input: UTF-8 text, decoded as JSON and, separately, as YAML (with tight
//! serde-saphyr budgets so alias bombs and deep nesting stay cheap), then
//! decoded as a resource and round-tripped through `to_value`.
//!
//! Run with: cargo fuzz run -s none --fuzz-dir fuzz resources fuzz/seeds/resources

#![no_main]

use std::collections::BTreeMap;

use serde_json::Value;
use spiderpool_core::model::{
    LabelSelector, Resource, parse_allocated_ips, parse_controlled_ip_pools, render_allocated_ips,
    render_controlled_ip_pools,
};
use spiderpool_core::selector;

/// YAML limits: far above anything a 4 KiB input needs for real resources,
/// far below what makes an alias bomb or a nesting storm slow.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 20_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_recorded_anchor_events: 20_000,
            max_recorded_anchor_bytes: 1 << 20,
            max_depth: 48,
            max_documents: 16,
            max_nodes: 20_000,
            max_total_scalar_bytes: 1 << 20,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
        },
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        value(v);
    }
    if let Ok(v) = serde_saphyr::from_str_with_options::<Value>(text, yaml_options()) {
        value(v);
    }

    if let Ok(m) = parse_allocated_ips(Some(text)) {
        let rendered = render_allocated_ips(&m);
        assert_eq!(rendered.is_none(), m.is_empty());
        assert_eq!(parse_allocated_ips(rendered.as_deref()).as_ref(), Ok(&m), "allocatedIPs");
    }
    if let Ok(m) = parse_controlled_ip_pools(Some(text)) {
        let rendered = render_controlled_ip_pools(&m);
        assert_eq!(parse_controlled_ip_pools(rendered.as_deref()).as_ref(), Ok(&m));
    }
});

/// A decoded document: as a resource (with round trip) and as a selector.
fn value(v: Value) {
    if let Ok(r) = Resource::from_value(v.clone()) {
        let out = r.to_value().expect("a decoded resource encodes");
        let back = Resource::from_value(out.clone()).expect("an encoded resource decodes");
        assert_eq!(back, r, "from_value(to_value(r)) == r");
        assert_eq!(back.to_value().as_ref(), Ok(&out), "to_value is stable");
        assert_eq!(r.kind(), out["kind"].as_str().unwrap_or_default());
        let _ = (r.name(), r.namespace(), r.is_namespaced());
    }

    // The document itself, or its `selector` field, as a label selector; the
    // labels to match are its `labels` field, else its own matchLabels.
    let sel_value = v.get("selector").cloned().unwrap_or_else(|| v.clone());
    let Ok(sel) = serde_json::from_value::<LabelSelector>(sel_value) else { return };
    let labels: BTreeMap<String, String> = v
        .get("labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .or_else(|| sel.match_labels.clone())
        .unwrap_or_default();
    let valid = selector::validate(&sel, "spec.selector");
    let matched = selector::matches(&sel, &labels);
    assert_eq!(valid.is_ok(), matched.is_ok(), "matches errs exactly when validate does");
    let _ = selector::is_empty(&sel);
    if valid.is_ok() {
        let compiled = selector::compile(&sel, "spec.selector").expect("valid selector compiles");
        assert_eq!(matched.as_ref().ok(), Some(&compiled.matches(&labels)));
        if sel.match_expressions.as_ref().is_none_or(Vec::is_empty) {
            let own = sel.match_labels.clone().unwrap_or_default();
            assert_eq!(selector::matches(&sel, &own), Ok(true), "matchLabels match themselves");
        }
        if compiled.is_everything() {
            assert_eq!(matched, Ok(true));
        }
    }
}
