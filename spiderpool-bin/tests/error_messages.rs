//! Exact error messages of the coordinator plugin, spiderpoolctl and the
//! agent's store (issue 9 item 14): no stray space where a config error has no
//! value, and each cause (an OS error above all) printed once, also by the
//! printers that walk `source()` (anyhow's `{:#}` in spiderpoolctl, `Caused
//! by:` in the agent). These never need root: every path they name is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use spiderpool_bin::store::EmbeddedStore;
use spiderpool_netlink::Netns;

/// `e`, then each `source()` below it, joined by `: ` (what anyhow's `{:#}`
/// prints).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Runs the coordinator binary with `command`, `netns` and `conf`; returns the
/// error reply.
fn coordinator(command: &str, netns: &str, conf: &Value) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", "0123456789abcdef")
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(conf.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{command} must fail");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn netconf(extra: Value) -> Value {
    let log = std::env::temp_dir().join(format!("sp-errmsg-{}.log", std::process::id()));
    let mut conf = json!({
        "cniVersion": "1.0.0",
        "name": "net",
        "type": "coordinator",
        "logOptions": {"logFile": log},
        "prevResult": {"cniVersion": "1.0.0", "ips": []},
    });
    for (k, v) in extra.as_object().unwrap() {
        conf[k] = v.clone();
    }
    conf
}

#[test]
fn coordinator_netconf_error_has_no_stray_space() {
    let reply = coordinator("ADD", "/var/run/netns/sp-no-such-ns", &netconf(json!({"vethMTU": 0})));
    assert_eq!(reply["code"], 7);
    assert_eq!(
        reply["msg"],
        "invalid network config: coordinator netconf: vethMTU: invalid value 0: must be between 68 and 65535"
    );
}

#[test]
fn coordinator_names_the_missing_namespace_and_its_os_error_once() {
    let reply = coordinator("ADD", "/var/run/netns/sp-no-such-ns", &netconf(json!({})));
    assert_eq!(reply["code"], 5);
    assert_eq!(
        reply["msg"],
        "I/O failure on pod netns: open network namespace /var/run/netns/sp-no-such-ns: \
         No such file or directory (os error 2)"
    );
}

#[test]
fn netlink_errors_print_the_os_error_once_in_a_chain() {
    let e =
        spiderpool_netlink::read_view(&Netns::path("/var/run/netns/sp-no-such-ns")).unwrap_err();
    assert_eq!(
        chain(&e),
        "open network namespace /var/run/netns/sp-no-such-ns: No such file or directory (os error 2)"
    );
}

#[test]
fn spiderpoolctl_prints_the_os_error_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_spiderpoolctl"))
        .args(["validate", "-f", "/nonexistent/sp-pools.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read /nonexistent/sp-pools.yaml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn embedded_store_errors_print_the_os_error_once_in_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"").unwrap();
    let data_dir = file.join("data");
    let Err(e) = EmbeddedStore::open_dir(&data_dir) else {
        panic!("a data dir under a file must fail");
    };
    assert_eq!(
        chain(&e),
        format!(
            "embedded store: cannot create data directory {}: Not a directory (os error 20)",
            data_dir.display()
        )
    );
}
