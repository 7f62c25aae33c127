//! Protocol tests of the CNI dispatch: `run` driven with a fake environment,
//! in-memory stdin and stdout, and a recording plugin. They check what a
//! runtime sees: the exit code, the JSON on stdout (result, error with its
//! code, VERSION answer) and what the plugin was handed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{Value, json};
use spiderpool_bin::cni::{CniRequest, Command, Plugin, run};
use spiderpool_core::cni::{self, Attachment, CniError, Version};

/// Records every request; ADD returns `prevResult` (or a fixed result when
/// there is none); DEL, CHECK, GC, STATUS return the configured error.
#[derive(Default)]
struct Recorder {
    seen: RefCell<Vec<CniRequest>>,
    fail_with: Option<CniError>,
    versions: Option<Vec<&'static str>>,
}

impl Recorder {
    fn record(&self, req: &CniRequest) -> Result<(), CniError> {
        self.seen.borrow_mut().push(req.clone());
        match &self.fail_with {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
    fn last(&self) -> CniRequest {
        self.seen.borrow().last().cloned().expect("the plugin was called")
    }
    fn calls(&self) -> usize {
        self.seen.borrow().len()
    }
}

fn fixed_result() -> cni::Result {
    cni::Result {
        interfaces: vec![cni::Interface {
            name: "net1".into(),
            mac: Some("0a:1b:0a:06:01:02".into()),
            mtu: Some(1500),
            sandbox: Some("/var/run/netns/pod1".into()),
            ..Default::default()
        }],
        ips: vec![
            cni::IpConfig {
                address: "10.6.1.2/16".parse().unwrap(),
                gateway: Some("10.6.0.1".parse().unwrap()),
                interface: Some(0),
            },
            cni::IpConfig {
                address: "fd00:6::2/64".parse().unwrap(),
                gateway: None,
                interface: Some(0),
            },
        ],
        routes: vec![cni::Route {
            table: Some(101),
            ..cni::Route::new("0.0.0.0/0".parse().unwrap(), Some("10.6.0.1".parse().unwrap()))
        }],
        dns: Default::default(),
    }
}

impl Plugin for Recorder {
    fn supported_versions(&self) -> &[&str] {
        match &self.versions {
            Some(v) => v,
            None => &cni::SUPPORTED_VERSIONS,
        }
    }
    fn add(&self, req: &CniRequest) -> Result<cni::Result, CniError> {
        self.record(req)?;
        Ok(req.prev_result()?.unwrap_or_else(fixed_result))
    }
    fn del(&self, req: &CniRequest) -> Result<(), CniError> {
        // DEL must tolerate a missing or empty prevResult; a malformed one is still an error.
        req.prev_result()?;
        self.record(req)
    }
    fn check(&self, req: &CniRequest) -> Result<(), CniError> {
        self.record(req)
    }
    fn gc(&self, req: &CniRequest) -> Result<(), CniError> {
        self.record(req)
    }
    fn status(&self, req: &CniRequest) -> Result<(), CniError> {
        self.record(req)
    }
}

struct Outcome {
    code: i32,
    stdout: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }
    /// Asserts a CNI error with `code` whose msg contains every needle.
    fn assert_error(&self, code: u32, needles: &[&str]) -> Value {
        assert_eq!(self.code, 1, "exit code; stdout {}", self.stdout);
        let j = self.json();
        assert_eq!(j["code"], code, "{j}");
        let msg = j["msg"].as_str().expect("msg is a string");
        for n in needles {
            assert!(msg.contains(n), "{n:?} not in {msg:?}");
        }
        j
    }
}

fn invoke(plugin: &Recorder, env: &[(&str, &str)], stdin: &str) -> Outcome {
    let vars: HashMap<String, String> =
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = |name: &str| vars.get(name).cloned();
    let mut out = Vec::new();
    let code = run(plugin, &lookup, stdin.as_bytes(), &mut out);
    Outcome { code, stdout: String::from_utf8(out).expect("stdout is UTF-8") }
}

const ADD_ENV: &[(&str, &str)] = &[
    ("CNI_COMMAND", "ADD"),
    ("CNI_CONTAINERID", "0f1e2d3c4b5a69788a9b"),
    ("CNI_NETNS", "/var/run/netns/pod1"),
    ("CNI_IFNAME", "net1"),
    (
        "CNI_ARGS",
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=5a1c-77;K8S_POD_INFRA_CONTAINER_ID=0f1e2d3c4b5a69788a9b",
    ),
    ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
];

fn env_with(
    cmd: &'static str,
    overrides: &[(&'static str, Option<&'static str>)],
) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<(&str, &str)> = ADD_ENV.to_vec();
    env[0].1 = cmd;
    for (k, v) in overrides {
        env.retain(|(name, _)| name != k);
        if let Some(v) = v {
            env.push((k, v));
        }
    }
    env
}

fn conf(version: &str) -> String {
    json!({"cniVersion": version, "name": "macvlan-ens192", "type": "coordinator", "mode": "auto"})
        .to_string()
}

#[test]
fn add_hands_the_plugin_everything_and_prints_the_result() {
    let p = Recorder::default();
    let out = invoke(&p, ADD_ENV, &conf("1.1.0"));
    assert_eq!(out.code, 0, "{}", out.stdout);
    let req = p.last();
    assert_eq!(req.command, Command::Add);
    assert_eq!(req.container_id, "0f1e2d3c4b5a69788a9b");
    assert_eq!(req.netns.as_deref(), Some("/var/run/netns/pod1"));
    assert_eq!(req.ifname, "net1");
    assert_eq!(req.args.pod_name.as_deref(), Some("web-0"));
    assert_eq!(req.args.pod_namespace.as_deref(), Some("default"));
    assert_eq!(req.args.pod_uid.as_deref(), Some("5a1c-77"));
    assert_eq!(req.path, vec![std::path::PathBuf::from("/opt/cni/bin"), "/usr/lib/cni".into()]);
    assert_eq!(req.version, Version::V1_1_0);
    assert_eq!(req.config.extra["mode"], "auto");
    assert_eq!(req.raw_config, conf("1.1.0").into_bytes());
    assert_eq!(out.json(), fixed_result().to_json(Version::V1_1_0));
    assert_eq!(out.json()["routes"][0]["table"], 101);
}

#[test]
fn add_result_is_converted_to_the_config_version() {
    for v in cni::SUPPORTED_VERSIONS {
        let p = Recorder::default();
        let out = invoke(&p, ADD_ENV, &conf(v));
        assert_eq!(out.code, 0, "{v}: {}", out.stdout);
        let j = out.json();
        assert_eq!(j["cniVersion"], v);
        let ip0 = &j["ips"][0];
        let ip1 = &j["ips"][1];
        if v.starts_with("0.") {
            assert_eq!(ip0["version"], "4", "{v}");
            assert_eq!(ip1["version"], "6", "{v}");
        } else {
            assert!(ip0.get("version").is_none(), "{v}");
        }
        let new = v == "1.1.0";
        assert_eq!(j["routes"][0].get("table").is_some(), new, "{v}");
        assert_eq!(j["interfaces"][0].get("mtu").is_some(), new, "{v}");
        assert_eq!(j["ips"][0]["address"], "10.6.1.2/16");
        assert_eq!(j["interfaces"][0]["sandbox"], "/var/run/netns/pod1");
    }
}

#[test]
fn chained_add_passes_prev_result_through_in_the_config_version() {
    // A 0.4.0 prevResult as Debian's macvlan prints it, returned unchanged by the plugin.
    let prev = json!({
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "net1", "mac": "6a:3c:8e:52:d1:0f", "sandbox": "/var/run/netns/pod1"}],
        "ips": [{"version": "4", "interface": 0, "address": "10.6.212.145/16", "gateway": "10.6.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {}
    });
    let stdin =
        json!({"cniVersion": "0.4.0", "name": "n", "type": "coordinator", "prevResult": prev});
    let p = Recorder::default();
    let out = invoke(&p, ADD_ENV, &stdin.to_string());
    assert_eq!(out.code, 0, "{}", out.stdout);
    let mut expected = prev.clone();
    expected.as_object_mut().unwrap().remove("dns");
    assert_eq!(out.json(), expected);
}

#[test]
fn del_tolerates_missing_netns_and_empty_prev_result() {
    for stdin in [
        conf("1.0.0"),
        json!({"cniVersion": "1.0.0", "name": "n", "prevResult": {}}).to_string(),
        json!({"cniVersion": "1.0.0", "name": "n", "prevResult": null}).to_string(),
    ] {
        let p = Recorder::default();
        let out = invoke(&p, &env_with("DEL", &[("CNI_NETNS", None)]), &stdin);
        assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{stdin}");
        assert_eq!(p.last().command, Command::Del);
        assert_eq!(p.last().netns, None);
    }
    // Twice in a row is fine for the dispatch too.
    let p = Recorder::default();
    for _ in 0..2 {
        assert_eq!(invoke(&p, &env_with("DEL", &[]), &conf("0.3.1")).code, 0);
    }
    assert_eq!(p.calls(), 2);
}

#[test]
fn del_with_malformed_prev_result_is_code_6() {
    let p = Recorder::default();
    let stdin =
        json!({"cniVersion": "1.0.0", "name": "n", "prevResult": {"ips": [{"address": "nope"}]}});
    let out = invoke(&p, &env_with("DEL", &[]), &stdin.to_string());
    out.assert_error(6, &["prevResult.ips[0].address", "nope"]);
}

#[test]
fn check_runs_from_0_4_0_and_is_refused_before() {
    let p = Recorder::default();
    let out = invoke(&p, &env_with("CHECK", &[]), &conf("0.4.0"));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    assert_eq!(p.last().command, Command::Check);
    let p = Recorder::default();
    let out = invoke(&p, &env_with("CHECK", &[]), &conf("0.3.1"));
    let j = out.assert_error(1, &["0.3.1", "CHECK", "0.4.0"]);
    assert_eq!(j["cniVersion"], "0.3.1");
    assert_eq!(p.calls(), 0);
}

#[test]
fn check_failure_keeps_the_plugin_code() {
    let p = Recorder {
        fail_with: Some(CniError::plugin(
            110,
            "rule from 10.6.1.2 lookup 101 is missing",
            "pod netns",
        )),
        ..Default::default()
    };
    let out = invoke(&p, &env_with("CHECK", &[]), &conf("1.0.0"));
    let j = out.assert_error(110, &["rule from 10.6.1.2 lookup 101"]);
    assert_eq!(j["details"], "pod netns");
    assert_eq!(j["cniVersion"], "1.0.0");
}

#[test]
fn gc_needs_no_attachment_env_and_gets_valid_attachments() {
    let p = Recorder::default();
    let env = [("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")];
    let stdin = json!({
        "cniVersion": "1.1.0", "name": "n", "type": "spiderpool",
        "cni.dev/valid-attachments": [{"containerID": "abc", "ifname": "eth0"}, {"containerID": "def", "ifname": "net1"}]
    });
    let out = invoke(&p, &env, &stdin.to_string());
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    let req = p.last();
    assert_eq!(req.command, Command::Gc);
    assert_eq!(
        (req.container_id.as_str(), req.ifname.as_str(), req.netns.as_deref()),
        ("", "", None)
    );
    assert_eq!(
        req.config.valid_attachments,
        Some(vec![
            Attachment { container_id: "abc".into(), ifname: "eth0".into() },
            Attachment { container_id: "def".into(), ifname: "net1".into() },
        ])
    );
    // Before 1.1.0 there is no GC.
    let out = invoke(&p, &env, &conf("1.0.0"));
    out.assert_error(1, &["GC", "1.1.0"]);
}

#[test]
fn status_ok_and_not_available() {
    let env = [("CNI_COMMAND", "STATUS")];
    let p = Recorder::default();
    let out = invoke(&p, &env, &conf("1.1.0"));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    assert_eq!(p.last().command, Command::Status);

    let p = Recorder {
        fail_with: Some(CniError::NotAvailable {
            reason: "agent socket /var/run/spidernet/spiderpool.sock refused".into(),
        }),
        ..Default::default()
    };
    let j = invoke(&p, &env, &conf("1.1.0")).assert_error(50, &["spiderpool.sock"]);
    assert_eq!(j["cniVersion"], "1.1.0");
    let p = Recorder {
        fail_with: Some(CniError::LimitedConnectivity { reason: "agent down".into() }),
        ..Default::default()
    };
    invoke(&p, &env, &conf("1.1.0")).assert_error(51, &["agent down"]);
    invoke(&Recorder::default(), &env, &conf("0.4.0")).assert_error(1, &["STATUS", "1.1.0"]);
}

#[test]
fn version_answers_without_reading_stdin() {
    let p = Recorder::default();
    let out = invoke(&p, &[("CNI_COMMAND", "VERSION")], "this is not JSON");
    assert_eq!(out.code, 0);
    assert_eq!(
        out.json(),
        json!({"cniVersion": "1.1.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
    );
    assert_eq!(p.calls(), 0);
    let narrow = Recorder { versions: Some(vec!["1.0.0", "1.1.0"]), ..Default::default() };
    let out = invoke(&narrow, &[("CNI_COMMAND", "VERSION")], "");
    assert_eq!(out.json()["supportedVersions"], json!(["1.0.0", "1.1.0"]));
    // The plugin's own list is enforced too.
    invoke(&narrow, ADD_ENV, &conf("0.4.0")).assert_error(1, &["0.4.0", "1.0.0, 1.1.0"]);
}

#[test]
fn missing_env_is_code_4_naming_the_variables() {
    let cases: &[(&'static str, &[&'static str], &[&str])] = &[
        ("ADD", &["CNI_CONTAINERID"], &["CNI_CONTAINERID", "ADD"]),
        ("ADD", &["CNI_NETNS"], &["CNI_NETNS"]),
        ("ADD", &["CNI_IFNAME", "CNI_NETNS"], &["CNI_NETNS,CNI_IFNAME"]),
        ("CHECK", &["CNI_NETNS"], &["CNI_NETNS", "CHECK"]),
        ("DEL", &["CNI_CONTAINERID"], &["CNI_CONTAINERID", "DEL"]),
        ("DEL", &["CNI_IFNAME"], &["CNI_IFNAME"]),
    ];
    for (cmd, drop, needles) in cases {
        let overrides: Vec<(&'static str, Option<&'static str>)> =
            drop.iter().map(|d| (*d, None)).collect();
        let p = Recorder::default();
        invoke(&p, &env_with(cmd, &overrides), &conf("1.0.0")).assert_error(4, needles);
        assert_eq!(p.calls(), 0, "{cmd} {drop:?}");
    }
    // An empty value counts as unset, as in libcni.
    let p = Recorder::default();
    invoke(&p, &env_with("ADD", &[("CNI_IFNAME", Some(""))]), &conf("1.0.0"))
        .assert_error(4, &["CNI_IFNAME"]);
    invoke(&p, &[], &conf("1.0.0")).assert_error(4, &["CNI_COMMAND"]);
    invoke(&p, &env_with("BOGUS", &[]), &conf("1.0.0")).assert_error(4, &["CNI_COMMAND", "BOGUS"]);
    invoke(&p, &env_with("add", &[]), &conf("1.0.0")).assert_error(4, &["CNI_COMMAND", "\"add\""]);
}

#[test]
fn invalid_env_values_are_code_4_naming_variable_and_value() {
    let cases: &[(&'static str, &'static str, &[&str])] = &[
        ("CNI_IFNAME", "this-name-is-too-long", &["CNI_IFNAME", "this-name-is-too-long", "15"]),
        ("CNI_IFNAME", "net/1", &["CNI_IFNAME", "net/1"]),
        ("CNI_CONTAINERID", "-bad", &["CNI_CONTAINERID", "-bad"]),
        ("CNI_ARGS", "K8S_POD_NAME=Web_0", &["CNI_ARGS", "K8S_POD_NAME", "Web_0"]),
        ("CNI_ARGS", "K8S_POD_NAMESPACE", &["CNI_ARGS", "K8S_POD_NAMESPACE", "KEY=VALUE"]),
    ];
    for (var, value, needles) in cases {
        let p = Recorder::default();
        invoke(&p, &env_with("ADD", &[(var, Some(value))]), &conf("1.0.0"))
            .assert_error(4, needles);
        assert_eq!(p.calls(), 0);
    }
}

#[test]
fn bad_json_is_code_6_and_bad_name_code_7() {
    let p = Recorder::default();
    invoke(&p, ADD_ENV, "{\"cniVersion\": \"1.0.0\", ").assert_error(6, &["network config"]);
    invoke(&p, ADD_ENV, "").assert_error(6, &["network config"]);
    invoke(&p, ADD_ENV, r#"{"cniVersion": "1.0.0", "name": ["x"]}"#)
        .assert_error(6, &["network config"]);
    invoke(&p, ADD_ENV, r#"{"cniVersion": "1.0.0", "type": "coordinator"}"#)
        .assert_error(7, &["name"]);
    invoke(&p, ADD_ENV, r#"{"cniVersion": "1.0.0", "name": "a b"}"#)
        .assert_error(7, &["name", "\"a b\""]);
    assert_eq!(p.calls(), 0);
}

#[test]
fn unsupported_versions_are_code_1() {
    let p = Recorder::default();
    for v in ["0.2.0", "0.1.0", "2.0.0", "1.2.0", "banana"] {
        let j = invoke(&p, ADD_ENV, &conf(v)).assert_error(1, &["cniVersion", v]);
        // The reply cannot be in an unsupported version: it uses the newest one.
        assert_eq!(j["cniVersion"], "1.1.0");
    }
    invoke(&p, ADD_ENV, r#"{"name": "n"}"#).assert_error(1, &["cniVersion", "0.1.0"]);
    assert_eq!(p.calls(), 0);
}

#[test]
fn plugin_errors_keep_their_code_and_config_version() {
    let p = Recorder {
        fail_with: Some(CniError::invalid_config("podMACPrefix", "\"zz:1b\"", "not a MAC prefix")),
        ..Default::default()
    };
    let j = invoke(&p, ADD_ENV, &conf("0.3.1")).assert_error(7, &["podMACPrefix", "zz:1b"]);
    assert_eq!(j["cniVersion"], "0.3.1");
    assert!(j.get("details").is_none());
    let p = Recorder {
        fail_with: Some(CniError::TryAgainLater { reason: "pool busy".into() }),
        ..Default::default()
    };
    invoke(&p, &env_with("DEL", &[]), &conf("1.0.0")).assert_error(11, &["pool busy"]);
}
