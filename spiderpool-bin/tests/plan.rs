//! `spiderpoolctl plan`, run as a binary on the scenarios documented in
//! `docs/coordinator.md` (fixtures under `tests/fixtures/plan/`).

#![allow(clippy::unwrap_used)]

mod common;

use common::{ctl, fixture};
use serde_json::json;

/// The documented scenarios and their expected output (`plan/<name>.out`).
const SCENARIOS: [(&str, &[&str]); 4] = [
    ("underlay-eth0", &["--result"]),
    ("overlay-calico-net1", &["--result"]),
    ("overlay-default-route-net1", &["--result"]),
    ("underlay-del", &["--del"]),
];

#[test]
fn documented_scenarios_print_exactly_the_expected_lines() {
    for (name, extra) in SCENARIOS {
        let file = format!("plan/{name}.yaml");
        let mut args = vec!["plan", "-f", file.as_str()];
        args.extend_from_slice(extra);
        let run = ctl(&args, None);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let expected = fixture(&format!("plan/{name}.out"));
        assert_eq!(
            run.stdout.lines().collect::<Vec<_>>(),
            expected.lines().collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn docs_show_the_same_output() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/coordinator.md"))
            .unwrap();
    for (name, _) in SCENARIOS {
        let expected = fixture(&format!("plan/{name}.out"));
        assert!(
            docs.contains(&expected),
            "docs/coordinator.md lacks the output of {name}:\n{expected}"
        );
        let scenario = fixture(&format!("plan/{name}.yaml"));
        if name == "overlay-calico-net1" {
            assert!(docs.contains(&scenario), "docs/coordinator.md lacks the scenario {name}");
        }
    }
}

#[test]
fn underlay_plan_key_lines() {
    let run = ctl(&["plan", "-f", "plan/underlay-eth0.yaml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "# mode underlay, first invoke true, table 101");
    for want in [
        "ip rule add from all lookup 500 priority 1000",
        "ip -n pod rule add from all fwmark 0x1 lookup 100 priority 1000",
        "ip -n pod route add default via 172.100.0.2 dev veth0 src 172.100.0.210 table 100",
        "ip -n pod route add 10.10.0.0/16 via 172.100.0.1 dev eth0",
        "ip route add 172.100.0.210 dev veth4f1c2a9be07 scope link table 500",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in\n{}", run.stdout);
    }
}

#[test]
fn json_output_uses_ip_j_field_names() {
    let run = ctl(&["plan", "-f", "plan/overlay-calico-net1.yaml", "-o", "json"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(
        (v["mode"].clone(), v["firstInvoke"].clone(), v["table"].clone()),
        (json!("overlay"), json!(true), json!(101))
    );
    let ops = v["ops"].as_array().unwrap();
    assert!(
        ops.contains(&json!({
            "side": "pod", "action": "add", "kind": "route", "table": 100,
            "dst": "0.0.0.0/0", "gateway": "169.254.1.1", "dev": "eth0", "scope": "global"
        })),
        "{v:#}"
    );
    assert!(
        ops.contains(&json!({
            "side": "host", "action": "add", "kind": "neigh", "dev": "cali5f3c2b1a0d9",
            "dst": "10.6.212.145", "lladdr": "ee:ee:ee:ee:ee:01", "permanent": true
        })),
        "{v:#}"
    );
    assert!(ops.contains(&json!({"side": "pod", "action": "add", "kind": "rule", "family": 4, "src": "10.6.212.145/32", "table": 101})));
    // The same scenario from standard input, as JSON.
    let yaml: serde_json::Value =
        serde_saphyr::from_str(&fixture("plan/overlay-calico-net1.yaml")).unwrap();
    let run2 = ctl(&["plan", "-f", "-", "-o", "json"], Some(&yaml.to_string()));
    assert_eq!(run2.json(), v);
}

#[test]
fn bad_netconf_and_bad_scenarios_are_named() {
    let text = fixture("plan/underlay-eth0.yaml")
        .replace("mode: auto\n  hijackCIDR", "mode: fast\n  hijackCIDR");
    let run = ctl(&["plan", "-f", "-"], Some(&text));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: <stdin>: netconf: mode: invalid value \"fast\": supported values: auto, underlay, overlay, disable, disabled\n"
    );
    let text = fixture("plan/overlay-calico-net1.yaml").replace("ifName: net1", "ifName: net7");
    let run = ctl(&["plan", "-f", "-"], Some(&text));
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "error: <stdin>: interface \"net7\" does not exist in the pod\n")
    );
    let run = ctl(
        &["plan", "-f", "-"],
        Some("netconf: {}\ncni: {containerID: x, ifName: eth0}\nextra: 1\n"),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown field `extra`"), "{}", run.stderr);
    let run = ctl(&["plan", "-f", "plan/missing.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
}
