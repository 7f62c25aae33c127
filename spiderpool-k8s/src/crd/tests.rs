#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use spiderpool_core::model::KINDS;

use super::*;
use crate::testing::fixtures;

const REGENERATE: &str = "cargo run -p spiderpool-k8s --example crdgen";

fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/spiderpool/crds")
}

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    let version = &crd.spec.versions[0];
    serde_json::to_value(version.schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap())
        .unwrap()
}

/// The committed `charts/spiderpool/crds/*.yaml` and the NAD test CRD are what
/// the code generates; no stale file is left beside them.
#[test]
fn committed_crds_match_generated() {
    let mut stale = Vec::new();
    let mut expected: Vec<(PathBuf, String)> = rendered_files()
        .unwrap()
        .into_iter()
        .map(|(name, yaml)| (crd_dir().join(name), yaml))
        .collect();
    let nad = render_yaml(&network_attachment_definition_crd().unwrap()).unwrap();
    expected.push((Path::new(env!("CARGO_MANIFEST_DIR")).join(NAD_CRD_FILE), nad));
    for (path, yaml) in &expected {
        match std::fs::read_to_string(path) {
            Ok(committed) if &committed == yaml => {}
            Ok(_) => stale.push(format!("{} differs", path.display())),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    for entry in std::fs::read_dir(crd_dir()).unwrap() {
        let path = entry.unwrap().path();
        let ours = path.file_name().unwrap().to_string_lossy().starts_with(GROUP);
        if ours && !expected.iter().any(|(p, _)| p.file_name() == path.file_name()) {
            stale.push(format!("{} is not generated any more", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "the committed CRDs are out of date:\n  {}\nregenerate them with:\n  {REGENERATE}",
        stale.join("\n  ")
    );
}

#[test]
fn names_scope_and_subresources_are_spiderpools() {
    let crds = crds().unwrap();
    let got: Vec<_> = crds
        .iter()
        .map(|c| {
            let v = &c.spec.versions[0];
            (
                c.metadata.name.clone().unwrap(),
                c.spec.names.kind.as_str(),
                c.spec.names.short_names.clone().unwrap(),
                c.spec.scope.as_str(),
                v.subresources.is_some(),
                c.spec.names.categories.clone().unwrap(),
            )
        })
        .collect();
    let sp = |s: &str| vec![s.to_owned()];
    let cat = sp("spiderpool");
    assert_eq!(
        got,
        vec![
            (
                "spiderippools.spiderpool.spidernet.io".into(),
                "SpiderIPPool",
                sp("sp"),
                "Cluster",
                true,
                cat.clone()
            ),
            (
                "spidersubnets.spiderpool.spidernet.io".into(),
                "SpiderSubnet",
                sp("ss"),
                "Cluster",
                true,
                cat.clone()
            ),
            (
                "spiderreservedips.spiderpool.spidernet.io".into(),
                "SpiderReservedIP",
                sp("sr"),
                "Cluster",
                false,
                cat.clone()
            ),
            (
                "spiderendpoints.spiderpool.spidernet.io".into(),
                "SpiderEndpoint",
                sp("se"),
                "Namespaced",
                false,
                cat.clone()
            ),
            (
                "spidermultusconfigs.spiderpool.spidernet.io".into(),
                "SpiderMultusConfig",
                sp("smc"),
                "Namespaced",
                false,
                cat.clone()
            ),
            (
                "spidercoordinators.spiderpool.spidernet.io".into(),
                "SpiderCoordinator",
                sp("scc"),
                "Cluster",
                true,
                cat
            ),
        ]
    );
    assert_eq!(crds.iter().map(|c| c.spec.names.kind.clone()).collect::<Vec<_>>(), KINDS);
    for c in &crds {
        let v = &c.spec.versions[0];
        assert_eq!((v.name.as_str(), v.served, v.storage), ("v2beta1", true, true));
        assert_eq!(c.spec.group, GROUP);
    }
}

#[test]
fn printer_columns_are_spiderpools() {
    let columns = |kind: &str| -> Vec<(String, Option<i32>)> {
        printer_columns(kind).into_iter().map(|c| (c.name, c.priority)).collect()
    };
    let names = |cols: &[(&str, Option<i32>)]| -> Vec<(String, Option<i32>)> {
        cols.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
    };
    assert_eq!(
        columns(SpiderIPPool::KIND),
        names(&[
            ("VERSION", None),
            ("SUBNET", None),
            ("ALLOCATED-IP-COUNT", None),
            ("TOTAL-IP-COUNT", None),
            ("DEFAULT", None),
            ("DISABLE", Some(10)),
            ("NodeName", Some(10)),
            ("MultusName", Some(10)),
            ("APP-NAMESPACE", Some(10)),
        ])
    );
    assert_eq!(
        columns(SpiderSubnet::KIND),
        names(&[
            ("VERSION", None),
            ("SUBNET", None),
            ("ALLOCATED-IP-COUNT", None),
            ("TOTAL-IP-COUNT", None)
        ])
    );
    assert_eq!(columns(SpiderReservedIP::KIND), names(&[("VERSION", None)]));
    assert_eq!(
        columns(SpiderEndpoint::KIND),
        names(&[
            ("INTERFACE", None),
            ("IPV4POOL", None),
            ("IPV4", None),
            ("IPV6POOL", None),
            ("IPV6", None),
            ("NODE", None),
        ])
    );
    assert!(columns(SpiderMultusConfig::KIND).is_empty());
    assert!(columns(SpiderCoordinator::KIND).is_empty());
}

/// Keywords a structural schema for Kubernetes 1.20 must not contain, or that
/// would mean a field is not typed by our model.
const FORBIDDEN: [&str; 8] = [
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "nullable",
    "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields",
    "title",
];

fn walk(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Value::Object(obj) = schema else {
        problems.push(format!("{path}: not an object schema"));
        return;
    };
    for key in FORBIDDEN {
        if obj.contains_key(key) {
            problems.push(format!("{path}: has {key}"));
        }
    }
    match obj.get("type").and_then(Value::as_str) {
        Some("object") => {
            if let Some(Value::Object(props)) = obj.get("properties") {
                for (name, sub) in props {
                    walk(sub, &format!("{path}.{name}"), problems);
                }
            }
            if let Some(sub) = obj.get("additionalProperties") {
                walk(sub, &format!("{path}.*"), problems);
            }
        }
        Some("array") => match obj.get("items") {
            Some(items) => walk(items, &format!("{path}[]"), problems),
            None => problems.push(format!("{path}: array without items")),
        },
        Some("string" | "integer" | "boolean" | "number") => {}
        other => problems.push(format!("{path}: type {other:?}")),
    }
}

/// Every node is typed (structural), and nothing 1.20 rejects or that would
/// leave a field untyped is present.
#[test]
fn schemas_are_structural_for_kubernetes_1_20() {
    let mut problems = Vec::new();
    for c in crds().unwrap().iter().chain([&network_attachment_definition_crd().unwrap()]) {
        walk(&schema_of(c), &c.spec.names.kind, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The paths of `value` that `schema` does not declare (the API server would
/// prune them) or declares with another JSON type.
fn undeclared(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let ty = schema.get("type").and_then(Value::as_str);
    match value {
        Value::Object(map) => {
            if ty != Some("object") {
                out.push(format!("{path}: object where schema says {ty:?}"));
                return;
            }
            for (key, v) in map {
                let sub = schema
                    .get("properties")
                    .and_then(|p| p.get(key))
                    .or_else(|| schema.get("additionalProperties"));
                match sub {
                    Some(sub) => undeclared(sub, v, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: not in the schema")),
                }
            }
        }
        Value::Array(items) => match (ty, schema.get("items")) {
            (Some("array"), Some(sub)) => {
                items.iter().for_each(|v| undeclared(sub, v, &format!("{path}[]"), out));
            }
            _ => out.push(format!("{path}: array where schema says {ty:?}")),
        },
        Value::String(_) if ty == Some("string") => {}
        Value::Bool(_) if ty == Some("boolean") => {}
        Value::Number(n) if ty == Some("integer") && (n.is_i64() || n.is_u64()) => {}
        other => out.push(format!("{path}: {other} where schema says {ty:?}")),
    }
}

/// Every field the core writes, in objects with every field set, is declared in
/// the schema with the right type: nothing the core stores would be pruned.
#[test]
fn every_field_the_core_writes_is_in_the_schema() {
    let objects: Vec<(&str, Value)> = vec![
        (SpiderIPPool::KIND, serde_json::to_value(fixtures::full_ippool("p")).unwrap()),
        (SpiderSubnet::KIND, serde_json::to_value(fixtures::full_subnet("s")).unwrap()),
        (SpiderReservedIP::KIND, serde_json::to_value(fixtures::full_reserved_ip("r")).unwrap()),
        (SpiderEndpoint::KIND, serde_json::to_value(fixtures::full_endpoint("ns", "e")).unwrap()),
        (
            SpiderMultusConfig::KIND,
            serde_json::to_value(fixtures::full_multus_config("ns", "m")).unwrap(),
        ),
        (SpiderCoordinator::KIND, serde_json::to_value(fixtures::full_coordinator("c")).unwrap()),
    ];
    let crds = crds().unwrap();
    let mut problems = Vec::new();
    for (kind, mut value) in objects {
        let crd = crds.iter().find(|c| c.spec.names.kind == kind).unwrap();
        // The API server validates metadata itself (`metadata: {type: object}`).
        value.as_object_mut().unwrap().remove("metadata");
        undeclared(&schema_of(crd), &value, kind, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The fields Spiderpool's CRDs require are required here too (derived from the
/// core's always-written fields), and the ones it leaves optional are optional.
#[test]
fn required_fields_are_spiderpools() {
    let crds = crds().unwrap();
    let required = |kind: &str, path: &[&str]| -> Vec<String> {
        let crd = crds.iter().find(|c| c.spec.names.kind == kind).unwrap();
        let mut node = schema_of(crd);
        for seg in path {
            node = match *seg {
                "[]" => node["items"].clone(),
                name => node["properties"][name].clone(),
            };
        }
        node.get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("SpiderIPPool", &["spec"], &["subnet"]),
        ("SpiderIPPool", &["spec", "routes", "[]"], &["dst", "gw"]),
        ("SpiderIPPool", &["spec", "podAffinity", "matchExpressions", "[]"], &["key", "operator"]),
        ("SpiderIPPool", &["status"], &[]),
        ("SpiderSubnet", &["spec"], &["subnet"]),
        ("SpiderReservedIP", &["spec"], &[]),
        ("SpiderEndpoint", &["status"], &["current", "ownerControllerName", "ownerControllerType"]),
        ("SpiderEndpoint", &["status", "current"], &["ips", "node", "uid"]),
        ("SpiderEndpoint", &["status", "current", "ips", "[]"], &["interface"]),
        ("SpiderMultusConfig", &["spec"], &[]),
        ("SpiderMultusConfig", &["spec", "macvlan"], &["master"]),
        ("SpiderMultusConfig", &["spec", "ipvlan", "bond"], &["mode", "name"]),
        ("SpiderMultusConfig", &["spec", "ovs"], &["bridge"]),
        ("SpiderMultusConfig", &["spec", "sriov"], &[]),
        ("SpiderMultusConfig", &["spec", "coordinator"], &[]),
        ("SpiderCoordinator", &["spec"], &[]),
        ("SpiderCoordinator", &["status"], &["phase"]),
    ];
    for (kind, path, want) in cases {
        let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(required(kind, path), want, "{kind} {path:?}");
    }
}

#[test]
fn defaults_and_enums_are_spiderpools() {
    let crds = crds().unwrap();
    let node = |kind: &str, path: &str| -> Value {
        let crd = crds.iter().find(|c| c.spec.names.kind == kind).unwrap();
        let mut node = schema_of(crd);
        for seg in path.split('.') {
            node = node["properties"][seg].clone();
        }
        node
    };
    assert_eq!(node("SpiderIPPool", "spec.default")["default"], false);
    assert_eq!(node("SpiderIPPool", "spec.disable")["default"], false);
    assert_eq!(node("SpiderIPPool", "spec.ipVersion")["enum"], serde_json::json!([4, 6]));
    assert_eq!(node("SpiderCoordinator", "spec.mode")["default"], "auto");
    assert_eq!(node("SpiderCoordinator", "spec.hostRuleTable")["default"], 500);
    assert_eq!(node("SpiderCoordinator", "spec.tunePodRoutes")["default"], true);
    assert_eq!(node("SpiderMultusConfig", "spec.coordinator.tunePodRoutes")["default"], true);
    assert_eq!(node("SpiderMultusConfig", "spec.cniType")["default"], "custom");
    assert_eq!(node("SpiderMultusConfig", "spec.enableCoordinator")["default"], true);
    assert_eq!(node("SpiderMultusConfig", "spec.ibsriov.linkState")["default"], "enable");
    // No default on a field Spiderpool does not default (derived `Default`s are
    // dropped): `subnet` stays required instead of becoming "".
    assert!(node("SpiderIPPool", "spec.subnet").get("default").is_none());
    assert!(node("SpiderCoordinator", "spec.vethMTU").get("default").is_none());
    // The SpiderCoordinator keeps Spiderpool's numeric defaults; a
    // SpiderMultusConfig does not (a stored 0 would be rendered into the NAD
    // and win over the SpiderCoordinator, issue 9 item 1).
    assert_eq!(node("SpiderCoordinator", "spec.podRPFilter")["default"], 0);
    assert_eq!(node("SpiderCoordinator", "spec.txQueueLen")["default"], 0);
    for path in [
        "spec.coordinator.podRPFilter",
        "spec.coordinator.txQueueLen",
        "spec.macvlan.mtu",
        "spec.ipvlan.mtu",
        "spec.vlan.mtu",
        "spec.sriov.mtu",
    ] {
        assert!(node("SpiderMultusConfig", path).get("default").is_none(), "{path}");
    }
}

#[test]
fn file_names_are_spiderpools() {
    let names: Vec<String> = crds().unwrap().iter().map(file_name).collect();
    assert_eq!(names[0], "spiderpool.spidernet.io_spiderippools.yaml");
    assert_eq!(names[3], "spiderpool.spidernet.io_spiderendpoints.yaml");
}

#[test]
fn nad_crd_is_multus_standard() {
    let nad = network_attachment_definition_crd().unwrap();
    assert_eq!(
        nad.metadata.name.as_deref(),
        Some("network-attachment-definitions.k8s.cni.cncf.io")
    );
    assert_eq!(nad.spec.scope, "Namespaced");
    assert_eq!(nad.spec.names.short_names, Some(vec!["net-attach-def".to_owned()]));
    let schema = schema_of(&nad);
    assert_eq!(schema["properties"]["spec"]["properties"]["config"]["type"], "string");
}
