//! Every metric the Grafana dashboard (`charts/spiderpool/dashboards/spiderpool.json`)
//! queries is one the agent or the controller exports.
//!
//! The exports are the real registries (`agent::metrics::Metrics`,
//! `controller::metrics::ControllerMetrics`) encoded as their `/metrics`
//! endpoints encode them, after one observation of each labelled family (a
//! family without a series is not printed). `scripts/cluster-e2e.sh` runs the
//! same rule (`scripts/dashboard-metrics.py`) on the `/metrics` of the running
//! agent and controller of its cluster.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use spiderpool_bin::agent::metrics::{Metrics, PoolCounts};
use spiderpool_bin::controller::metrics::ControllerMetrics;
use spiderpool_k8s::leader::LeaderStatus;

fn dashboard() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/spiderpool/dashboards/spiderpool.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `targets[].expr` of the panels, rows' nested panels included.
fn exprs(panels: &Value, out: &mut Vec<String>) {
    for p in panels.as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push(e.to_owned());
            }
        }
        exprs(&p["panels"], out);
    }
}

/// The `spiderpool_...` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("spiderpool_") {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i..];
        let end = tail.find(|c: char| !word(c)).unwrap_or(tail.len());
        if !before.is_some_and(word) {
            names.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// Sample names of an OpenMetrics text exposition.
fn samples(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

fn exported() -> BTreeSet<String> {
    let agent = Metrics::new();
    agent.allocation(Duration::from_millis(20), Ok(()));
    agent.release(Duration::from_millis(10), Ok(()));
    agent.sync(Duration::from_millis(1));
    agent.set_pools(&[PoolCounts { name: "10-6-v4".into(), total: 41, allocated: 2 }]);
    let controller = ControllerMetrics::default();
    controller.review("validate", "denied", Duration::from_millis(3));
    controller.review("mutate", "patched", Duration::from_millis(2));
    controller.cert_expiry(Some(1_800_000_000));
    controller.leader(&LeaderStatus { is_leader: true, terms: 1, ..Default::default() });
    let mut all = samples(&agent.encode().expect("agent metrics encode"));
    all.extend(samples(&controller.encode().expect("controller metrics encode")));
    all
}

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let d = dashboard();
    let mut all = Vec::new();
    exprs(&d["panels"], &mut all);
    assert!(!all.is_empty(), "the dashboard has no queries");
    let wanted: BTreeSet<String> = all.iter().flat_map(|e| metric_names(e)).collect();
    let have = exported();
    let missing: Vec<&String> = wanted.iter().filter(|n| !have.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics nobody exports: {missing:?}\nexported: {have:?}"
    );
    // Each component has panels: the dashboard covers both.
    assert!(wanted.iter().any(|n| n.starts_with("spiderpool_ipam_")), "{wanted:?}");
    assert!(wanted.iter().any(|n| n.starts_with("spiderpool_controller_")), "{wanted:?}");
}

#[test]
fn the_checker_sees_a_misspelt_metric() {
    // The rule itself: a name that is not exported is found missing.
    let have = exported();
    let names = metric_names("rate(spiderpool_ipam_allocation_countz_total[5m]) + x_spiderpool_y");
    assert_eq!(names, ["spiderpool_ipam_allocation_countz_total"]);
    assert!(!have.contains(&names[0]));
    assert!(have.contains("spiderpool_ipam_allocation_counts_total"), "{have:?}");
}

#[test]
fn every_panel_has_a_datasource_and_unique_id() {
    let d = dashboard();
    let mut ids = BTreeSet::new();
    let mut stack: Vec<&Value> = d["panels"].as_array().into_iter().flatten().collect();
    while let Some(p) = stack.pop() {
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("panel without id: {p}"));
        assert!(ids.insert(id), "panel id {id} twice");
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {id}");
        }
        stack.extend(p["panels"].as_array().into_iter().flatten());
    }
}
