//! `spiderpoolctl cni`, the chain runner, run as a binary.
//!
//! First with fake plugins (a shell script that records its stdin and
//! environment and answers from files; no root needed): what each plugin
//! receives, the order, the cache, errors and versions. Then, as root, with
//! Debian's plugins and our coordinator in the namespaces of
//! `netns/mod.rs`, checked by read-back and real traffic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns;

use std::path::{Path, PathBuf};
use std::process::Command;

use netns::*;
use serde_json::{Value, json};

const CTL: &str = env!("CARGO_BIN_EXE_spiderpoolctl");
const COORDINATOR: &str = env!("CARGO_BIN_EXE_coordinator");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cni").join(name)
}

/// A directory of the test's own, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(what: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("sp-chain-{what}-{}", unique_tag()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
    fn json(&self, name: &str) -> Value {
        serde_json::from_str(&self.read(name)).unwrap_or(Value::Null)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run produced.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}{}", self.stdout, self.stderr))
    }
    fn text(&self) -> String {
        format!("exit {}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr)
    }
}

fn output(cmd: &mut Command) -> Out {
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// Fake plugins
// ---------------------------------------------------------------------------

/// A plugin directory with fake plugins `fakea`, `fakeb` (and a cache dir).
struct Fake {
    dir: Dir,
}

impl Fake {
    fn new() -> Fake {
        let dir = Dir::new("fake");
        std::fs::create_dir_all(dir.path("bin")).unwrap();
        for name in ["fakea", "fakeb"] {
            let p = dir.path("bin").join(name);
            std::fs::copy(fixture("fake-plugin.sh"), &p).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Fake { dir }
    }

    /// What `plugin` answers to `command` (and its exit code).
    fn answer(&self, plugin: &str, command: &str, out: &Value, rc: i32) {
        self.dir.write(&format!("{plugin}.{command}.out"), &out.to_string());
        self.dir.write(&format!("{plugin}.{command}.rc"), &rc.to_string());
    }

    fn stdin(&self, plugin: &str, command: &str) -> Value {
        self.dir.json(&format!("{plugin}.{command}.stdin"))
    }

    /// The recorded calls, `NAME COMMAND CID IFNAME NETNS ARGS PATH` each, and forgets them.
    fn take_calls(&self) -> Vec<String> {
        let calls = self.dir.read("calls");
        let _ = std::fs::remove_file(self.dir.path("calls"));
        calls.lines().map(str::to_owned).collect()
    }

    fn run(&self, op: &str, conf: &Path, cid: &str, ifname: &str) -> Out {
        self.run_with(op, conf, cid, ifname, &[])
    }

    fn run_with(&self, op: &str, conf: &Path, cid: &str, ifname: &str, more: &[&str]) -> Out {
        let bin = self.dir.path("bin");
        output(
            Command::new(CTL)
                .args(["cni", op])
                .args(more)
                .arg("--conf")
                .arg(conf)
                .args(["--netns", "/var/run/netns/fake", "--ifname", ifname])
                .args(["--container-id", cid, "--args", "K8S_POD_NAME=p;IgnoreUnknown=1"])
                .arg("--cni-path")
                .arg(format!("/nonexistent:{}", bin.display()))
                .arg("--cache-dir")
                .arg(self.dir.path("cache"))
                .env("FAKE_DIR", &self.dir.0),
        )
    }

    fn conf(&self, version: &str, extra: Value) -> PathBuf {
        let mut list = json!({
            "cniVersion": version, "name": "chain",
            "plugins": [{"type": "fakea", "x": 1}, {"type": "fakeb", "prevResult": "dropped"}]
        });
        for (k, v) in extra.as_object().unwrap() {
            list[k] = v.clone();
        }
        self.dir.write(&format!("chain-{version}.conflist"), &list.to_string())
    }
}

fn result_a() -> Value {
    json!({"cniVersion": "0.4.0",
           "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/fake"}],
           "ips": [{"version": "4", "address": "10.1.0.5/24", "interface": 0}]})
}

fn result_b() -> Value {
    json!({"cniVersion": "1.0.0",
           "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/fake"}],
           "ips": [{"address": "10.1.0.5/24", "interface": 0, "gateway": "10.1.0.1"}],
           "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]})
}

#[test]
fn add_injects_name_and_version_and_chains_prev_result_then_del_reverses() {
    let fake = Fake::new();
    fake.answer("fakea", "ADD", &result_a(), 0);
    fake.answer("fakeb", "ADD", &result_b(), 0);
    let conf = fake.conf("1.0.0", json!({}));
    let out = fake.run("add", &conf, "cid1", "eth0");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(out.json(), result_b(), "the last plugin's result is printed");
    assert_eq!(
        fake.stdin("fakea", "ADD"),
        json!({"type": "fakea", "x": 1, "name": "chain", "cniVersion": "1.0.0"})
    );
    let b = fake.stdin("fakeb", "ADD");
    let a_as_1_0 = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/fake"}],
        "ips": [{"address": "10.1.0.5/24", "interface": 0}]});
    assert_eq!(b["prevResult"], a_as_1_0, "fakea's result, converted to the list's version");
    let calls = fake.take_calls();
    let bin = fake.dir.path("bin");
    assert_eq!(
        calls,
        [
            format!(
                "fakea ADD cid1 eth0 /var/run/netns/fake K8S_POD_NAME=p;IgnoreUnknown=1 /nonexistent:{}",
                bin.display()
            ),
            format!(
                "fakeb ADD cid1 eth0 /var/run/netns/fake K8S_POD_NAME=p;IgnoreUnknown=1 /nonexistent:{}",
                bin.display()
            ),
        ]
    );
    let cache = fake.dir.json("cache/results/chain-cid1-eth0");
    assert_eq!(cache["kind"], "cniCacheV1");
    assert_eq!(cache["networkName"], "chain");
    assert_eq!(cache["result"], result_b());

    let out = fake.run("check", &conf, "cid1", "eth0");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(fake.stdin("fakea", "CHECK")["prevResult"], result_b());
    assert_eq!(fake.take_calls().len(), 2);

    let out = fake.run("del", &conf, "cid1", "eth0");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(out.stdout, "", "DEL prints nothing");
    let order: Vec<String> = fake
        .take_calls()
        .iter()
        .map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(order, ["fakeb DEL", "fakea DEL"], "DEL runs in reverse order");
    assert_eq!(fake.stdin("fakea", "DEL")["prevResult"], result_b(), "cached result on DEL");
    assert!(!fake.dir.path("cache/results/chain-cid1-eth0").exists(), "DEL removes the cache");

    let out = fake.run("del", &conf, "cid1", "eth0");
    assert_eq!(out.code, 0, "second DEL: {}", out.text());
    assert!(fake.stdin("fakeb", "DEL").get("prevResult").is_none(), "nothing cached any more");
    assert_eq!(fake.take_calls().len(), 2, "DEL without a cache still runs every plugin");

    let out = fake.run("check", &conf, "cid1", "eth0");
    assert_eq!(out.code, 1, "CHECK without a cached result: {}", out.text());
    assert!(out.stderr.contains("no cached result"), "{}", out.text());
}

#[test]
fn plugin_errors_name_the_plugin_and_the_code() {
    let fake = Fake::new();
    fake.answer("fakea", "ADD", &result_a(), 0);
    let reply = json!({"cniVersion": "1.0.0", "code": 7, "msg": "bad master", "details": "eth9"});
    fake.answer("fakeb", "ADD", &reply, 1);
    let conf = fake.conf("1.0.0", json!({}));
    let out = fake.run("add", &conf, "cid1", "eth0");
    assert_eq!(out.code, 1, "{}", out.text());
    assert_eq!(out.json(), reply, "the plugin's error JSON on stdout");
    assert!(out.stderr.contains("plugin \"fakeb\" (plugins[1])"), "{}", out.text());
    assert!(out.stderr.contains("code 7: bad master (eth9)"), "{}", out.text());
    assert!(!fake.dir.path("cache/results/chain-cid1-eth0").exists(), "no cache after a failure");

    // DEL keeps going after a failure and reports it.
    fake.take_calls();
    fake.answer("fakeb", "DEL", &json!({"code": 11, "msg": "busy"}), 1);
    let out = fake.run("del", &conf, "cid1", "eth0");
    assert_eq!(out.code, 1, "{}", out.text());
    assert_eq!(fake.take_calls().len(), 2, "fakea's DEL runs after fakeb's failed");
    assert!(out.stderr.contains("code 11: busy"), "{}", out.text());

    // A plugin that prints no error JSON.
    std::fs::remove_file(fake.dir.path("fakeb.ADD.out")).unwrap();
    let out = fake.run("add", &conf, "cid2", "eth0");
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(out.stderr.contains("exited with 1 without an error reply"), "{}", out.text());

    // A plugin that hangs is killed after --timeout.
    fake.dir.write("fakeb.ADD.sleep", "30");
    let start = std::time::Instant::now();
    let out = fake.run_with("add", &conf, "cid3", "eth0", &["--timeout", "0.5"]);
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "{:?}", start.elapsed());
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(
        out.stderr.contains("plugin \"fakeb\" (plugins[1]) ADD: killed after"),
        "{}",
        out.text()
    );
    std::fs::remove_file(fake.dir.path("fakeb.ADD.sleep")).unwrap();

    // A plugin that is not installed.
    let missing = fake.dir.write(
        "missing.conf",
        &json!({"cniVersion": "1.0.0", "name": "m", "type": "nosuchplugin"}).to_string(),
    );
    let out = fake.run("add", &missing, "cid1", "eth0");
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(
        out.stderr.contains("plugin \"nosuchplugin\" (plugins[0]): not found"),
        "{}",
        out.text()
    );
    assert!(out.stderr.contains("/nonexistent:"), "names the path searched: {}", out.text());
}

#[test]
fn versions_check_before_0_4_gc_and_status_need_1_1() {
    let fake = Fake::new();
    fake.answer("fakea", "ADD", &result_a(), 0);
    fake.answer("fakeb", "ADD", &json!({"cniVersion": "0.3.1", "ips": []}), 0);
    let old = fake.conf("0.3.1", json!({}));
    let out = fake.run("add", &old, "cid1", "eth0");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(out.json()["cniVersion"], "0.3.1");
    assert_eq!(fake.stdin("fakeb", "ADD")["prevResult"]["ips"][0]["version"], "4");
    let out = fake.run("check", &old, "cid1", "eth0");
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(out.stderr.contains("cniVersion 0.3.1 does not support CHECK"), "{}", out.text());
    fake.take_calls();
    let out = fake.run("del", &old, "cid1", "eth0");
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(fake.stdin("fakea", "DEL").get("prevResult").is_none(), "no prevResult before 0.4.0");
    for op in ["gc", "status"] {
        let out = fake.run(op, &old, "cid1", "eth0");
        assert_eq!(out.code, 0, "{}", out.text());
        assert!(out.stderr.contains("needs 1.1.0"), "{}", out.text());
    }
    fake.take_calls();

    // 1.1.0: GC gets the cached attachments of this network only.
    let new = fake.conf("1.1.0", json!({}));
    fake.answer("fakeb", "ADD", &result_b(), 0);
    for (cid, ifname) in [("cid1", "eth0"), ("cid2", "net1"), ("cid3", "eth0")] {
        assert_eq!(fake.run("add", &new, cid, ifname).code, 0);
    }
    assert_eq!(fake.run("del", &new, "cid3", "eth0").code, 0);
    fake.take_calls();
    let out = fake.run("gc", &new, "", "");
    assert_eq!(out.code, 0, "{}", out.text());
    let gc = fake.stdin("fakea", "GC");
    assert_eq!(
        gc["cni.dev/valid-attachments"],
        json!([{"containerID": "cid1", "ifname": "eth0"}, {"containerID": "cid2", "ifname": "net1"}])
    );
    assert_eq!(gc["name"], "chain");
    let calls = fake.take_calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[0].starts_with("fakea GC unset unset unset unset "), "{calls:?}");

    fake.answer("fakeb", "STATUS", &json!({"code": 50, "msg": "agent not ready"}), 1);
    let out = fake.run("status", &new, "", "");
    assert_eq!(out.code, 1, "{}", out.text());
    assert_eq!(out.json()["code"], 50);
    assert!(out.stderr.contains("plugin \"fakeb\""), "{}", out.text());

    let disabled = fake.conf("1.1.0", json!({"disableGC": true, "disableCheck": true}));
    for op in ["gc", "check"] {
        let out = fake.run(op, &disabled, "cid1", "eth0");
        assert_eq!(out.code, 0, "{}", out.text());
        assert!(out.stderr.contains("nothing to do"), "{}", out.text());
    }
}

fn single_text() -> String {
    json!({"cniVersion": "0.4.0", "name": "one", "type": "fakea", "k": "v"}).to_string()
}

#[test]
fn nad_and_single_configs_and_bad_input() {
    let fake = Fake::new();
    fake.answer("fakea", "ADD", &result_a(), 0);
    fake.answer("fakeb", "ADD", &result_b(), 0);
    let out = fake.run("add", &fixture("nad-fake.yaml"), "cid1", "net1");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(fake.stdin("fakeb", "ADD")["name"], "fake-net");
    assert_eq!(fake.stdin("fakeb", "ADD")["mode"], "auto");
    assert!(fake.dir.path("cache/results/fake-net-cid1-net1").exists());

    let single = fake.dir.write("single.conf", &single_text());
    let out = fake.run("add", &single, "cid1", "eth0");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(out.json()["cniVersion"], "0.4.0");
    assert_eq!(
        fake.stdin("fakea", "ADD"),
        json!({"cniVersion": "0.4.0", "name": "one", "type": "fakea", "k": "v"})
    );

    // `--conf -` reads standard input (here a NAD in JSON).
    let nad = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "n"}, "spec": {"config": single_text()}});
    let mut child = Command::new(CTL)
        .args(["cni", "add", "--conf", "-", "--netns", "/x", "--ifname", "eth1"])
        .args(["--container-id", "cid9", "--cni-path"])
        .arg(fake.dir.path("bin"))
        .arg("--cache-dir")
        .arg(fake.dir.path("cache"))
        .env("FAKE_DIR", &fake.dir.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(nad.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(fake.dir.path("cache/results/one-cid9-eth1").exists());

    let cases: [(PathBuf, &str, &str, &str); 6] = [
        (fixture("nad-no-config.yaml"), "cid1", "eth0", "spec.config: missing"),
        (fake.dir.write("bad.json", "{\"name\": "), "cid1", "eth0", "invalid"),
        (
            fake.dir.write("noname.conf", r#"{"cniVersion":"1.0.0","plugins":[{"type":"a"}]}"#),
            "cid1",
            "eth0",
            "missing network name",
        ),
        (
            fake.dir.write("v020.conf", r#"{"cniVersion":"0.2.0","name":"n","type":"fakea"}"#),
            "cid1",
            "eth0",
            "\"0.2.0\"",
        ),
        (single.clone(), "bad/id", "eth0", "--container-id \"bad/id\""),
        (single.clone(), "cid1", "a-very-long-ifname", "--ifname \"a-very-long-ifname\""),
    ];
    for (conf, cid, ifname, want) in cases {
        let out = fake.run("add", &conf, cid, ifname);
        assert_eq!(out.code, 2, "{}: {}", conf.display(), out.text());
        assert!(out.stderr.contains(want), "{want:?} in {}", out.text());
    }
    let out = output(Command::new(CTL).args(["cni", "add", "--conf"]).arg(&single));
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("--container-id is required"), "{}", out.text());
}

// ---------------------------------------------------------------------------
// Real plugins in namespaces (root)
// ---------------------------------------------------------------------------

macro_rules! need_netns {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Runs `spiderpoolctl cni` inside the node namespace, as a runtime on the
/// node would, with our binaries' directory first in the CNI path.
struct Runner<'a> {
    lan: &'a Lan,
    dir: Dir,
}

impl<'a> Runner<'a> {
    fn new(lan: &'a Lan) -> Runner<'a> {
        Runner { lan, dir: Dir::new("netns") }
    }

    fn conf(&self, name: &str, conf: &Value) -> PathBuf {
        self.dir.write(name, &conf.to_string())
    }

    fn run(&self, op: &str, conf: &Path, pod: &Netns, cid: &str, ifname: &str) -> Out {
        let ours = Path::new(COORDINATOR).parent().unwrap();
        let cni_path = format!("{}:{}", ours.display(), cni_bin_dir().display());
        let args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-{cid}");
        output(
            Command::new("ip")
                .args(["netns", "exec", &self.lan.node.name, CTL, "cni", op, "--conf"])
                .arg(conf)
                .args(["--netns", &pod.path(), "--ifname", ifname, "--container-id", cid])
                .args(["--args", &args, "--cni-path", &cni_path, "--cache-dir"])
                .arg(self.dir.path("cache")),
        )
    }

    fn ptp_eth0(&self, pod: &Netns, cid: &str, ip: &str, gw: &str) -> PathBuf {
        let conf = self.conf(
            "overlay.conflist",
            &json!({"cniVersion": "1.0.0", "name": "overlay", "plugins": [{
                "type": "ptp", "ipMasq": false, "mtu": 1500,
                "ipam": {"type": "static", "addresses": [{"address": format!("{ip}/24"), "gateway": gw}],
                         "routes": [{"dst": "0.0.0.0/0"}]}}]}),
        );
        let out = self.run("add", &conf, pod, cid, "eth0");
        assert_eq!(out.code, 0, "ptp ADD: {}", out.text());
        conf
    }
}

fn links(ns: &Netns) -> String {
    ns.show(&["-br", "link"])
}

#[test]
fn ptp_conflist_on_eth0_add_check_del_twice() {
    need_netns!();
    let lan = Lan::new();
    let pod = lan.pod(1);
    let cid = format!("{:0>12}1", lan.tag);
    let runner = Runner::new(&lan);
    let conf = runner.ptp_eth0(&pod, &cid, "10.244.1.5", "10.244.1.1");
    let addrs = pod.show(&["-4", "-br", "addr", "show", "eth0"]);
    assert!(addrs.contains("10.244.1.5/24"), "{addrs}");
    assert!(pod.ping(NODE_IP), "pod reaches the node over ptp eth0");
    let out = runner.run("check", &conf, &pod, &cid, "eth0");
    assert_eq!(out.code, 0, "CHECK: {}", out.text());
    let out = runner.run("del", &conf, &pod, &cid, "eth0");
    assert_eq!(out.code, 0, "DEL: {}", out.text());
    assert!(!links(&pod).contains("eth0"), "DEL removes eth0: {}", links(&pod));
    let out = runner.run("del", &conf, &pod, &cid, "eth0");
    assert_eq!(out.code, 0, "second DEL: {}", out.text());
}

#[test]
fn macvlan_and_coordinator_conflist_on_net1() {
    need_netns!();
    let lan = Lan::new();
    let pod = lan.pod(2);
    let cid = format!("{:0>12}2", lan.tag);
    let runner = Runner::new(&lan);
    runner.ptp_eth0(&pod, &cid, "10.244.2.5", "10.244.2.1");
    let log = runner.dir.path("coordinator.log");
    let mut macvlan = lan.macvlan_conf("10.6.212.200", true);
    macvlan.as_object_mut().unwrap().retain(|k, _| k != "cniVersion" && k != "name");
    let conf = runner.conf(
        "macvlan-underlay.conflist",
        &json!({"cniVersion": "1.0.0", "name": "macvlan-underlay", "plugins": [macvlan, {
            "type": "coordinator", "mode": "overlay", "serviceCIDR": [SERVICE_CIDR],
            "overlayPodCIDR": [POD_CIDR], "hijackCIDR": [],
            "logOptions": {"logFile": log.display().to_string()}}]}),
    );
    let out = runner.run("add", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 0, "ADD: {}\nlog: {}", out.text(), runner.dir.read("coordinator.log"));
    let result = out.json();
    assert_eq!(result["cniVersion"], "1.0.0");
    assert_eq!(result["ips"][0]["address"], "10.6.212.200/16", "{result}");
    let rules = pod.show(&["rule"]);
    assert!(rules.contains("from 10.6.212.200 lookup 101"), "coordinator's rule: {rules}");
    let host_500 = lan.node.show(&["route", "show", "table", "500"]);
    assert!(host_500.contains("10.6.212.200 dev veth"), "host route to net1: {host_500}");
    assert!(
        lan.client.ping("10.6.212.200"),
        "client reaches net1 and the reply returns through net1:\n{rules}\n{}",
        pod.show(&["route", "show", "table", "all"])
    );
    let out = runner.run("check", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 0, "CHECK: {}", out.text());

    let out = runner.run("del", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 0, "DEL: {}", out.text());
    assert!(!links(&pod).contains("net1"), "DEL removes net1: {}", links(&pod));
    // Reverse order: the coordinator's DEL (host-side cleanup; the pod's
    // rules go with its namespace) ran while net1 still existed.
    let log = runner.dir.read("coordinator.log");
    assert!(log.contains(&format!("DEL {cid} net1")), "coordinator DEL ran: {log}");
    assert!(links(&pod).contains("eth0"), "the other network's eth0 stays");
    let out = runner.run("del", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 0, "second DEL: {}", out.text());
    // DEL of the overlay network takes eth0's host veth, and with it the
    // node's route to the underlay address.
    let out = runner.run("del", &runner.dir.path("overlay.conflist"), &pod, &cid, "eth0");
    assert_eq!(out.code, 0, "overlay DEL: {}", out.text());
    let host_500 = lan.node.show(&["route", "show", "table", "500"]);
    assert!(!host_500.contains("10.6.212.200"), "{host_500}");
    assert!(!links(&pod).contains("eth0"), "{}", links(&pod));
}

#[test]
fn conflist_0_3_1_through_macvlan_and_static() {
    need_netns!();
    let lan = Lan::new();
    let pod = lan.pod(3);
    let cid = format!("{:0>12}3", lan.tag);
    let runner = Runner::new(&lan);
    let mut macvlan = lan.macvlan_conf("10.6.212.203", true);
    macvlan.as_object_mut().unwrap().retain(|k, _| k != "cniVersion" && k != "name");
    let conf = runner.conf(
        "old.conflist",
        &json!({"cniVersion": "0.3.1", "name": "macvlan-old", "plugins": [macvlan]}),
    );
    let out = runner.run("add", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 0, "ADD: {}", out.text());
    let result = out.json();
    assert_eq!(result["cniVersion"], "0.3.1");
    assert_eq!(result["ips"][0]["version"], "4", "0.3.x results carry ips[].version: {result}");
    assert!(lan.client.ping("10.6.212.203"), "client reaches net1");
    let out = runner.run("check", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 1, "CHECK is refused before 0.4.0: {}", out.text());
    assert!(out.stderr.contains("0.3.1 does not support CHECK"), "{}", out.text());
    let out = runner.run("del", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 0, "DEL: {}", out.text());
    assert!(!links(&pod).contains("net1"), "{}", links(&pod));
    let out = runner.run("del", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 0, "second DEL: {}", out.text());
}

#[test]
fn a_real_plugin_error_is_reported_with_its_code() {
    need_netns!();
    let lan = Lan::new();
    let pod = lan.pod(4);
    let cid = format!("{:0>12}4", lan.tag);
    let runner = Runner::new(&lan);
    let conf = runner.conf(
        "bad.conflist",
        &json!({"cniVersion": "1.0.0", "name": "bad", "plugins": [{
            "type": "macvlan", "master": "nosuchnic0", "mode": "bridge",
            "ipam": {"type": "static", "addresses": [{"address": "10.6.212.204/16"}]}}]}),
    );
    let out = runner.run("add", &conf, &pod, &cid, "net1");
    assert_eq!(out.code, 1, "{}", out.text());
    let code = out.json()["code"].as_u64().expect("the plugin's error JSON has a code");
    assert!(
        out.stderr
            .contains(&format!("plugin \"macvlan\" (plugins[0]) ADD failed with code {code}")),
        "{}",
        out.text()
    );
    let msg = out.json()["msg"].as_str().unwrap_or_default().to_owned();
    assert!(!msg.is_empty() && out.stderr.contains(&msg), "the plugin's message: {}", out.text());
    assert!(!runner.dir.path(&format!("cache/results/bad-{cid}-net1")).exists(), "nothing cached");
}

#[test]
fn capability_args_become_runtime_config_for_declared_capabilities() {
    let fake = Fake::new();
    fake.answer("fakea", "ADD", &result_a(), 0);
    fake.answer("fakeb", "ADD", &result_b(), 0);
    let conf = fake.dir.write(
        "caps.conflist",
        &json!({"cniVersion": "1.0.0", "name": "caps", "plugins": [
            {"type": "fakea", "capabilities": {"mac": true, "ips": false}},
            {"type": "fakeb", "runtimeConfig": {"kept": 1}}]})
        .to_string(),
    );
    let caps = r#"{"mac": "0a:1b:2c:3d:4e:5f", "ips": ["10.1.0.9/24"], "other": 1}"#;
    let out = fake.run_with("add", &conf, "cid1", "eth0", &["--capability-args", caps]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(fake.stdin("fakea", "ADD")["runtimeConfig"], json!({"mac": "0a:1b:2c:3d:4e:5f"}));
    assert_eq!(fake.stdin("fakeb", "ADD")["runtimeConfig"], json!({"kept": 1}), "untouched");
    let out = fake.run_with("del", &conf, "cid1", "eth0", &["--capability-args", caps]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(fake.stdin("fakea", "DEL")["runtimeConfig"], json!({"mac": "0a:1b:2c:3d:4e:5f"}));
    let out = fake.run_with("add", &conf, "cid1", "eth0", &["--capability-args", "[1]"]);
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("--capability-args [1]: expected a JSON object"), "{}", out.text());
}
