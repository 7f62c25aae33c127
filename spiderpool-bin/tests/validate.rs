//! `spiderpoolctl validate`, run as a binary. Most tests rely on the
//! SpiderReservedIP and SpiderCoordinator rules; the `pool` ones on the
//! SpiderIPPool rules (`admission::ippool`).

#![allow(clippy::unwrap_used)]

mod common;

use common::{ctl, fixture};
use serde_json::json;

#[test]
fn multi_document_yaml_is_mutated_and_printed() {
    let run = ctl(&["validate", "-f", "reservedips.yaml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let docs = run.yaml_docs();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["metadata"]["name"], "exclude-routers");
    assert_eq!(
        docs[0]["spec"],
        json!({"ipVersion": 4, "ips": ["10.6.212.200", "10.6.212.250-10.6.212.254"]})
    );
    assert_eq!(docs[1]["spec"], json!({"ipVersion": 6, "ips": ["fd00:10:6::fe"]}));
    assert!(run.stdout.contains("\n---\n"), "{}", run.stdout);
}

#[test]
fn quick_start_coordinator_gets_defaults_once() {
    let run = ctl(&["validate", "-f", "coordinator-default.yaml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let docs = run.yaml_docs();
    let scc = &docs[0];
    assert_eq!(scc["metadata"]["finalizers"], json!(["spiderpool.spidernet.io"]));
    assert_eq!(
        scc["spec"],
        json!({
            "mode": "auto", "podCIDRType": "calico", "hijackCIDR": ["169.254.0.0/16"],
            "podMACPrefix": "", "tunePodRoutes": true, "podDefaultRouteNIC": "",
            "hostRuleTable": 500, "podRPFilter": 0, "txQueueLen": 0, "vethLinkAddress": "",
            "vethMTU": 1500
        })
    );
}

#[test]
fn rejection_prints_every_cause_as_kubectl_does() {
    let run = ctl(&["validate", "-f", "coordinator-invalid.yaml"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr_lines(),
        [
            r#"Error from server (Invalid): <doc 1> SpiderCoordinator "default" is invalid:"#,
            r#"spec.podCIDRType: Unsupported value: "flannel": supported values: "auto", "cluster", "calico", "cilium", "none""#,
            r#"spec.hijackCIDR[1]: Invalid value: "10.233.0.0/33": invalid CIDR "10.233.0.0/33": prefix length 33 exceeds 32"#,
            r#"spec.podMACPrefix: Invalid value: "01:00": not a unicast MAC: the lowest bit of the first byte must be 0"#,
            "spec.vethMTU: Invalid value: 0: must be greater than 0",
        ]
    );
}

#[test]
fn empty_required_list_is_a_rejection() {
    let run = ctl(&["validate", "-f", "reservedip-empty.yaml"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr_lines(),
        [
            r#"Error from server (Invalid): <doc 1> SpiderReservedIP "nothing" is invalid:"#,
            "spec.ips: Required value: requires at least one item",
        ]
    );
}

#[test]
fn stdin_gives_the_same_result_as_a_file() {
    let from_file = ctl(&["validate", "-f", "reservedips.yaml"], None);
    let from_stdin = ctl(&["validate", "-f", "-"], Some(&fixture("reservedips.yaml")));
    assert_eq!(from_stdin.code, 0, "{from_stdin:?}");
    assert_eq!(from_stdin.stdout, from_file.stdout);
}

#[test]
fn output_is_a_fixed_point() {
    // What validate prints is accepted unchanged when fed back.
    for fixture_name in ["reservedips.yaml", "coordinator-default.yaml", "list.json"] {
        let first = ctl(&["validate", "-f", fixture_name], None);
        assert_eq!(first.code, 0, "{first:?}");
        let second = ctl(&["validate", "-f", "-"], Some(&first.stdout));
        assert_eq!(second.code, 0, "{second:?}");
        assert_eq!(second.stdout, first.stdout, "{fixture_name}");
    }
}

#[test]
fn json_output_one_object_or_a_list() {
    let run = ctl(&["validate", "-f", "coordinator-default.yaml", "-o", "json"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["kind"], "SpiderCoordinator");
    assert_eq!(v["spec"]["vethMTU"], 1500);

    let run = ctl(&["validate", "-f", "reservedips.yaml", "-o", "json"], None);
    let v = run.json();
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["items"][1]["spec"]["ipVersion"], 6);
}

#[test]
fn json_list_input() {
    let run = ctl(&["validate", "-f", "list.json", "-o", "json"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["items"][0]["spec"], json!({"ipVersion": 4, "ips": ["10.6.0.2-10.6.0.3"]}));
    assert_eq!(v["items"][1]["spec"]["mode"], "disable");
    assert_eq!(v["items"][1]["spec"]["hijackCIDR"], json!(["10.96.0.10/32"]));
}

#[test]
fn rejections_name_the_item_of_a_list() {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderReservedIP",
         "metadata": {"name": "ok"}, "spec": {"ips": ["10.0.0.1"]}},
        {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderReservedIP",
         "metadata": {"name": "bad"}, "spec": {"ipVersion": 4, "ips": ["10.0.0.1", "fd00::1"]}}
    ]});
    let run = ctl(&["validate", "-f", "-"], Some(&list.to_string()));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr_lines(),
        [
            r#"Error from server (Invalid): <doc 1 item 2> SpiderReservedIP "bad" is invalid:"#,
            r#"spec.ips[1]: Invalid value: "fd00::1": "fd00::1" is not IPv4"#,
        ]
    );
    // The accepted object is still printed.
    assert_eq!(run.yaml_docs().len(), 1);
}

#[test]
fn bad_input_exits_2_naming_document_kind_name_and_field() {
    let run = ctl(&["validate", "-f", "malformed.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error: malformed.yaml: invalid YAML"), "{}", run.stderr);
    assert!(run.stderr.contains("line 4"), "{}", run.stderr);

    let run = ctl(&["validate", "-f", "unknown-kind.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "", "nothing is admitted when the input is bad");
    assert!(
        run.stderr.starts_with(r#"error: unknown-kind.yaml: doc 2: SpiderPool "typo": resource: unknown kind "SpiderPool""#),
        "{}",
        run.stderr
    );

    let run = ctl(&["validate", "-f", "wrong-type.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with(r#"error: wrong-type.yaml: doc 1: SpiderReservedIP "r": spec.ipVersion: invalid type: string "four""#),
        "{}",
        run.stderr
    );

    let run = ctl(&["validate", "-f", "no-such-file.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error: cannot read no-such-file.yaml: "), "{}", run.stderr);

    let run = ctl(&["validate", "-f", "-"], Some("{\"kind\": "));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error: <stdin>: invalid JSON"), "{}", run.stderr);

    let run = ctl(&["validate", "-f", "-"], Some(""));
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr, "error: <stdin>: no objects\n");

    // A NAD is not admitted by Spiderpool.
    let run = ctl(&["validate", "-f", "existing.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("doc 2: NetworkAttachmentDefinition \"macvlan-ens192\""),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["validate", "-f", "reservedips.yaml", "--enable-ipv4=maybe"][..],
        &["validate", "-f", "reservedips.yaml", "--operation", "patch"],
        &["validate", "-f", "reservedips.yaml", "--only", "both"],
        &["validate", "-f", "reservedips.yaml", "-o", "xml"],
        &["validate"],
        &["validate", "-f", "-", "--existing", "-"],
        &["validate", "-f", "reservedip-new-v6.yaml", "--operation", "update"],
        &["validate", "-f", "reservedips.yaml", "--old", "reservedip-old.yaml"],
    ] {
        let run = ctl(args, Some(""));
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn cluster_settings_flags() {
    let run = ctl(&["validate", "-f", "reservedips.yaml", "--enable-ipv6=false"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr_lines(),
        [
            r#"Error from server (Invalid): <doc 2> SpiderReservedIP "exclude-routers-v6" is invalid:"#,
            "spec.ipVersion: Forbidden: IPv6 is disabled",
        ]
    );
    let docs = run.yaml_docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["metadata"]["name"], "exclude-routers");
    // `--flag` alone means true; `=true` / `=false` are accepted everywhere.
    let run = ctl(
        &[
            "validate",
            "-f",
            "reservedips.yaml",
            "--enable-ipv4=true",
            "--enable-ipv6",
            "--enable-spider-subnet=false",
            "--enable-delete-webhook",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn only_mutate_and_only_validate() {
    // Defaulting alone does not judge the object.
    let run = ctl(&["validate", "-f", "coordinator-invalid.yaml", "--only", "mutate"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let docs = run.yaml_docs();
    assert_eq!(docs[0]["spec"]["mode"], "auto");
    assert_eq!(docs[0]["spec"]["vethMTU"], 0);
    // Validation alone sees the object as given: ipVersion was never inferred.
    let run = ctl(&["validate", "-f", "reservedips.yaml", "--only", "validate"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("spec.ipVersion: Required value"), "{}", run.stderr);
    // ...and prints the accepted objects unchanged.
    let run = ctl(&["validate", "-f", "reservedip-old.yaml", "--only", "validate"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.yaml_docs()[0]["spec"], json!({"ipVersion": 4, "ips": ["10.6.212.254"]}));
}

#[test]
fn update_with_old_checks_immutable_fields() {
    let run = ctl(
        &[
            "validate",
            "-f",
            "reservedip-new-v6.yaml",
            "--operation",
            "update",
            "--old",
            "reservedip-old.yaml",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr_lines(),
        [
            r#"Error from server (Invalid): <doc 1> SpiderReservedIP "exclude-routers" is invalid:"#,
            "spec.ipVersion: Forbidden: field is immutable",
        ]
    );
    // Changing the IPs is an allowed update.
    let run = ctl(
        &[
            "validate",
            "-f",
            "reservedips.yaml",
            "--operation",
            "update",
            "--old",
            "reservedip-old.yaml",
        ],
        None,
    );
    assert_eq!(run.code, 2, "exclude-routers-v6 has no old object: {run:?}");
    assert!(
        run.stderr.contains(r#"doc 2: SpiderReservedIP "exclude-routers-v6": no object"#),
        "{}",
        run.stderr
    );
    let new = fixture("reservedip-old.yaml").replace("10.6.212.254", "10.6.212.253");
    let run = ctl(
        &["validate", "-f", "-", "--operation", "update", "--old", "reservedip-old.yaml"],
        Some(&new),
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn delete_of_a_reserved_ip_is_allowed() {
    let run = ctl(
        &[
            "validate",
            "-f",
            "reservedip-old.yaml",
            "--operation",
            "delete",
            "--enable-delete-webhook=true",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "", "nothing is stored by a delete");
}

#[test]
fn delete_of_a_pool_in_use_is_allowed_without_the_webhook() {
    let run = ctl(&["validate", "-f", "ippool-old.yaml", "--operation", "delete"], None);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn existing_files_may_hold_nads() {
    let run = ctl(
        &[
            "validate",
            "-f",
            "reservedips.yaml",
            "--existing",
            "existing.yaml",
            "--existing",
            "reservedip-old.yaml",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let run = ctl(&["validate", "-f", "reservedips.yaml", "--existing", "wrong-type.yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error: wrong-type.yaml: doc 1: "), "{}", run.stderr);
}

#[test]
fn update_of_a_pool_subnet_is_rejected() {
    let run = ctl(
        &[
            "validate",
            "-f",
            "ippool-new-subnet.yaml",
            "--operation",
            "update",
            "--old",
            "ippool-old.yaml",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            r#"Error from server (Invalid): <doc 1> SpiderIPPool "10-6-v4" is invalid:"#
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.lines().any(|l| l.starts_with("spec.subnet: ")), "{}", run.stderr);
}

#[test]
fn delete_of_a_pool_in_use_is_forbidden_with_the_webhook() {
    let run = ctl(
        &[
            "validate",
            "-f",
            "ippool-old.yaml",
            "--operation",
            "delete",
            "--enable-delete-webhook=true",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            r#"Error from server (Forbidden): <doc 1> SpiderIPPool "10-6-v4" is forbidden: "#
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn pools_in_one_file_see_each_other() {
    // The second pool overlaps the first one's IPs in the same subnet.
    let two = format!(
        "{}---\n{}",
        fixture("existing.yaml").split("---").next().unwrap(),
        fixture("existing.yaml")
            .split("---")
            .next()
            .unwrap()
            .replace("name: 10-6-v4", "name: other")
    );
    let run = ctl(&["validate", "-f", "-"], Some(&two));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(r#"Error from server (Invalid): <doc 2> SpiderIPPool "other""#),
        "{}",
        run.stderr
    );
}
