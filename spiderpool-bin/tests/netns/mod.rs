//! Test harness: network namespaces and links that tests build, with unique
//! names and guaranteed cleanup, plus a runner for Debian's CNI plugins.
//!
//! Everything happens inside namespaces the test created; the machine's root
//! namespace is never changed (the "node" is a namespace too, and CNI plugins
//! run inside it with `ip netns exec`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Why a netns test cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    if !nix_is_root() {
        return Some("netns tests need root".into());
    }
    for tool in ["ip", "nft", "ping"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return Some(format!("{tool} not installed (scripts/test.sh installs it)"));
        }
    }
    for plugin in ["ptp", "macvlan", "static"] {
        if !cni_bin_dir().join(plugin).exists() {
            return Some(format!(
                "CNI plugin {plugin} not in {} (apt install containernetworking-plugins)",
                cni_bin_dir().display()
            ));
        }
    }
    None
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Where Debian's CNI plugins live.
pub fn cni_bin_dir() -> PathBuf {
    std::env::var_os("CNI_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/cni"))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique tag: pid and a counter, so parallel tests and other
/// processes never collide. Link names built from it stay within 15 bytes.
pub fn unique_tag() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{:x}{n:x}", std::process::id() % 0xffff)
}

/// Runs a command and panics with its output when it fails.
pub fn run(args: &[&str]) -> Output {
    let out =
        Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command, returning whether it succeeded.
pub fn try_run(args: &[&str]) -> bool {
    Command::new(args[0]).args(&args[1..]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// A network namespace deleted on drop (also when the test panics).
pub struct Netns {
    /// Its name under /var/run/netns.
    pub name: String,
}

impl Netns {
    /// Creates `sp-<role>-<tag>` with `lo` up.
    pub fn new(role: &str, tag: &str) -> Netns {
        let name = format!("sp-{role}-{tag}");
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Path for `CNI_NETNS`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// `ip -n NAME ARGS...`, panicking on failure.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// `ip netns exec NAME ARGS...`, panicking on failure.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// `ip netns exec NAME ARGS...`, returning success.
    pub fn try_exec(&self, args: &[&str]) -> bool {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        try_run(&full)
    }

    /// Writes a sysctl inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    /// One ping (1 s timeout) from this namespace; true when answered.
    pub fn ping(&self, dst: &str) -> bool {
        let flag = if dst.contains(':') { "-6" } else { "-4" };
        self.try_exec(&["ping", flag, "-c", "1", "-W", "1", dst])
    }

    /// One ping with a given source address.
    pub fn ping_from(&self, src: &str, dst: &str) -> bool {
        let flag = if dst.contains(':') { "-6" } else { "-4" };
        self.try_exec(&["ping", flag, "-c", "1", "-W", "1", "-I", src, dst])
    }

    /// `ip -j` output parsed as JSON.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        let out = self.ip(&full);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// `ip rule` / `ip route show table all` text, for assertions and messages.
    pub fn show(&self, what: &[&str]) -> String {
        String::from_utf8_lossy(&self.ip(what).stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes every link inside it, and veth peers
        // with them.
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// One CNI plugin invocation.
pub struct CniCall<'a> {
    /// The plugin binary.
    pub plugin: &'a Path,
    /// `CNI_COMMAND`.
    pub command: &'a str,
    /// `CNI_CONTAINERID`.
    pub container_id: &'a str,
    /// The pod namespace (`CNI_NETNS`), if any.
    pub pod: Option<&'a Netns>,
    /// `CNI_IFNAME`.
    pub ifname: &'a str,
    /// `CNI_ARGS`.
    pub args: &'a str,
}

/// Runs one CNI plugin binary inside `host` (the node namespace) with the CNI
/// environment of `call`, feeding `config` on stdin. Returns success, the
/// stdout JSON and the whole output for messages.
pub fn cni(
    host: &Netns,
    call: &CniCall<'_>,
    config: &serde_json::Value,
) -> (bool, serde_json::Value, String) {
    let plugin = call.plugin;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &host.name])
        .arg(plugin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", call.command)
        .env("CNI_CONTAINERID", call.container_id)
        .env("CNI_NETNS", call.pod.map(|p| p.path()).unwrap_or_default())
        .env("CNI_IFNAME", call.ifname)
        .env("CNI_ARGS", call.args)
        .env("CNI_PATH", cni_bin_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", plugin.display()));
    child.stdin.take().unwrap().write_all(config.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), json, format!("{stdout}{stderr}"))
}

/// The test network, all in namespaces of its own:
///
/// ```text
///  client (10.7.0.2/24) ── lan (router: 10.7.0.1, 10.6.0.1) ── node ens (10.6.0.100/16)
///                                                               │  ptp veths ── pod eth0 (10.244.x.y)
///                                                               └─ macvlan   ── pod net1 (10.6.212.x/16)
/// ```
///
/// The node forwards, has a service address 10.233.0.10 on `lo`, and drops
/// forwarded packets that enter from a pod veth with a source outside the pod
/// CIDR 10.244.0.0/16 (as Cilium's anti-spoofing does).
pub struct Lan {
    /// A tag shared by every name of this network.
    pub tag: String,
    /// The client behind the router.
    pub client: Netns,
    /// The router (LAN gateway).
    pub lan: Netns,
    /// The node.
    pub node: Netns,
    /// The node's underlay NIC (macvlan master).
    pub node_nic: String,
}

/// Node address on the underlay.
pub const NODE_IP: &str = "10.6.0.100";
/// Underlay gateway.
pub const LAN_GW: &str = "10.6.0.1";
/// Client behind the router.
pub const CLIENT_IP: &str = "10.7.0.2";
/// Service address the node answers on.
pub const SERVICE_IP: &str = "10.233.0.10";
/// Service CIDR.
pub const SERVICE_CIDR: &str = "10.233.0.0/18";
/// Overlay pod CIDR.
pub const POD_CIDR: &str = "10.244.0.0/16";

impl Lan {
    /// Builds the network.
    pub fn new() -> Lan {
        let tag = unique_tag();
        let client = Netns::new("cl", &tag);
        let lan = Netns::new("lan", &tag);
        let node = Netns::new("node", &tag);
        // client <-> lan
        let (c, cl) = (format!("c{tag}"), format!("cl{tag}"));
        client.ip(&["link", "add", &c, "type", "veth", "peer", "name", &cl, "netns", &lan.name]);
        client.ip(&["addr", "add", &format!("{CLIENT_IP}/24"), "dev", &c]);
        client.ip(&["link", "set", &c, "up"]);
        client.ip(&["route", "add", "default", "via", "10.7.0.1"]);
        lan.ip(&["addr", "add", "10.7.0.1/24", "dev", &cl]);
        lan.ip(&["link", "set", &cl, "up"]);
        // lan <-> node underlay
        let (n, nl) = (format!("e{tag}"), format!("el{tag}"));
        node.ip(&["link", "add", &n, "type", "veth", "peer", "name", &nl, "netns", &lan.name]);
        node.ip(&["addr", "add", &format!("{NODE_IP}/16"), "dev", &n]);
        node.ip(&["link", "set", &n, "up"]);
        node.ip(&["route", "add", "default", "via", LAN_GW]);
        lan.ip(&["addr", "add", &format!("{LAN_GW}/16"), "dev", &nl]);
        lan.ip(&["link", "set", &nl, "up"]);
        lan.sysctl("net.ipv4.ip_forward", "1");
        node.sysctl("net.ipv4.ip_forward", "1");
        node.ip(&["addr", "add", &format!("{SERVICE_IP}/32"), "dev", "lo"]);
        // Anti-spoofing on the node: forwarded packets from pod veths must come
        // from the pod CIDR.
        node.exec(&["nft", "add table inet spoof"]);
        node.exec(&[
            "nft",
            "add chain inet spoof podspoof { type filter hook forward priority 0 ; policy accept ; }",
        ]);
        node.exec(&[
            "nft",
            &format!("add rule inet spoof podspoof iifname \"veth*\" ip saddr != {POD_CIDR} drop"),
        ]);
        Lan { tag, client, lan, node, node_nic: n }
    }

    /// A pod namespace on this node.
    pub fn pod(&self, n: u32) -> Netns {
        Netns::new(&format!("pod{n}"), &self.tag)
    }

    /// `eth0` from Debian's ptp plugin (standing in for Cilium): `ip`/24 inside
    /// the pod, gateway 10.244.N.1 on the host side.
    pub fn add_ptp_eth0(&self, pod: &Netns, container_id: &str, ip: &str) -> serde_json::Value {
        let gw = {
            let mut o: Vec<&str> = ip.split('.').collect();
            o[3] = "1";
            o.join(".")
        };
        let conf = serde_json::json!({
            "cniVersion": "1.0.0", "name": "overlay", "type": "ptp", "ipMasq": false, "mtu": 1500,
            "ipam": {"type": "static", "addresses": [{"address": format!("{ip}/24"), "gateway": gw}],
                     "routes": [{"dst": "0.0.0.0/0"}]}
        });
        let plugin = cni_bin_dir().join("ptp");
        let call = CniCall {
            plugin: &plugin,
            command: "ADD",
            container_id,
            pod: Some(pod),
            ifname: "eth0",
            args: "",
        };
        let (ok, result, text) = cni(&self.node, &call, &conf);
        assert!(ok, "ptp ADD failed: {text}");
        result
    }

    /// `net1` from Debian's macvlan plugin on the node's underlay NIC, with
    /// static IPAM `ip`/16 and gateway 10.6.0.1; with `default_route` the IPAM
    /// result also carries a default route through the gateway, as Spiderpool's
    /// IPAM returns for a pool with a gateway.
    pub fn add_macvlan_net1(
        &self,
        pod: &Netns,
        container_id: &str,
        ip: &str,
        default_route: bool,
    ) -> serde_json::Value {
        let conf = self.macvlan_conf(ip, default_route);
        let plugin = cni_bin_dir().join("macvlan");
        let call = CniCall {
            plugin: &plugin,
            command: "ADD",
            container_id,
            pod: Some(pod),
            ifname: "net1",
            args: "",
        };
        let (ok, result, text) = cni(&self.node, &call, &conf);
        assert!(ok, "macvlan ADD failed: {text}");
        result
    }

    /// The macvlan netconf used by [`Lan::add_macvlan_net1`].
    pub fn macvlan_conf(&self, ip: &str, default_route: bool) -> serde_json::Value {
        let routes = if default_route {
            serde_json::json!([{"dst": "0.0.0.0/0", "gw": LAN_GW}])
        } else {
            serde_json::json!([])
        };
        serde_json::json!({
            "cniVersion": "1.0.0", "name": "macvlan-underlay", "type": "macvlan",
            "master": self.node_nic, "mode": "bridge",
            "ipam": {"type": "static", "addresses": [{"address": format!("{ip}/16"), "gateway": LAN_GW}],
                     "routes": routes}
        })
    }
}

// ---------------------------------------------------------------------------
// IPv6 and dual stack (used by `coordinator_dualstack_netns.rs`). Everything
// below only adds to the IPv4 network above; nothing above changes.
// ---------------------------------------------------------------------------

/// Node address on the underlay, IPv6 (beside [`NODE_IP`]).
pub const NODE_IP6: &str = "fd00:6::100";
/// Underlay gateway on the router, IPv6.
pub const LAN_GW6: &str = "fd00:6::1";
/// Client behind the router, IPv6.
pub const CLIENT_IP6: &str = "fd00:7::2";
/// The router's address on the client subnet, IPv6.
pub const CLIENT_GW6: &str = "fd00:7::1";
/// IPv6 service address the node answers on (on its `lo`).
pub const SERVICE_IP6: &str = "fd00:233::10";
/// IPv6 service CIDR.
pub const SERVICE_CIDR6: &str = "fd00:233::/112";
/// IPv6 overlay pod CIDR (ptp `eth0` addresses are `fd00:244:N::x/64`).
pub const POD_CIDR6: &str = "fd00:244::/48";
/// The comment on the node's IPv6 anti-spoofing rule, to find its counter.
pub const SPOOF6_COMMENT: &str = "spoof6";
/// How long the IPv6 helpers wait for addresses, neighbours and answers.
pub const V6_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Polls `f` every 50 ms until it holds or `limit` (capped at 3 s) has passed;
/// returns whether it held. Never sleeps unbounded.
pub fn poll_until(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let limit = limit.min(std::time::Duration::from_secs(3));
    let start = std::time::Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Netns {
    /// Turns IPv6 duplicate address detection off in this namespace: for
    /// links created from now on (`all` and `default`) and for every link
    /// that already exists (the kernel runs DAD unless both `all` and the
    /// link's own `accept_dad` are below 1). Call it before addresses are
    /// added, or they sit `tentative` (unusable) for a second or more.
    pub fn disable_dad(&self) {
        self.sysctl("net.ipv6.conf.all.accept_dad", "0");
        self.sysctl("net.ipv6.conf.default.accept_dad", "0");
        self.exec(&[
            "sh",
            "-c",
            "for f in /proc/sys/net/ipv6/conf/*/accept_dad; do echo 0 > \"$f\"; done",
        ]);
    }

    /// Waits (bounded, see [`poll_until`]) until no IPv6 address in this
    /// namespace is `tentative`; returns whether that happened in time.
    pub fn wait_ipv6_settled(&self) -> bool {
        poll_until(V6_WAIT, || !self.show(&["-6", "addr"]).contains("tentative"))
    }

    /// Pings `dst` once a few times until answered or [`V6_WAIT`] has passed
    /// (covers neighbour discovery on fresh links). Only for reachability
    /// that must hold; negative checks use [`Netns::ping`].
    pub fn ping_soon(&self, dst: &str) -> bool {
        poll_until(V6_WAIT, || self.ping(dst))
    }

    /// Like [`Netns::ping_soon`] with a source address.
    pub fn ping_from_soon(&self, src: &str, dst: &str) -> bool {
        poll_until(V6_WAIT, || self.ping_from(src, dst))
    }

    /// A pod-like namespace for IPv6 tests: `sp-<role>-<tag>` with `lo` up
    /// and DAD off before any CNI plugin gives it links.
    pub fn new_v6(role: &str, tag: &str) -> Netns {
        let ns = Netns::new(role, tag);
        ns.disable_dad();
        ns
    }
}

impl Lan {
    /// Adds IPv6 to the network built by [`Lan::new`], giving a dual-stack
    /// LAN: client `fd00:7::2/64` behind the router (`fd00:7::1`,
    /// `fd00:6::1`), node `fd00:6::100/64` with default route via the router
    /// and service address `fd00:233::10` on `lo`. DAD is turned off in the
    /// three namespaces first, forwarding on in the router and node, and the
    /// node's anti-spoofing gets an IPv6 twin: forwarded packets from pod
    /// veths whose source is outside [`POD_CIDR6`] are dropped and counted
    /// (see [`Lan::spoof6_drops`]).
    pub fn add_ipv6(&self) {
        let tag = &self.tag;
        for ns in [&self.client, &self.lan, &self.node] {
            ns.disable_dad();
        }
        let (c, cl) = (format!("c{tag}"), format!("cl{tag}"));
        let nl = format!("el{tag}");
        self.client.ip(&["-6", "addr", "add", &format!("{CLIENT_IP6}/64"), "dev", &c]);
        self.client.ip(&["-6", "route", "add", "default", "via", CLIENT_GW6]);
        self.lan.ip(&["-6", "addr", "add", &format!("{CLIENT_GW6}/64"), "dev", &cl]);
        self.lan.ip(&["-6", "addr", "add", &format!("{LAN_GW6}/64"), "dev", &nl]);
        self.node.ip(&["-6", "addr", "add", &format!("{NODE_IP6}/64"), "dev", &self.node_nic]);
        self.node.ip(&["-6", "route", "add", "default", "via", LAN_GW6]);
        self.node.ip(&["-6", "addr", "add", &format!("{SERVICE_IP6}/128"), "dev", "lo"]);
        self.lan.sysctl("net.ipv6.conf.all.forwarding", "1");
        self.node.sysctl("net.ipv6.conf.all.forwarding", "1");
        self.node.exec(&[
            "nft",
            &format!(
                "add rule inet spoof podspoof iifname \"veth*\" ip6 saddr != {POD_CIDR6} counter drop comment \"{SPOOF6_COMMENT}\""
            ),
        ]);
        for ns in [&self.client, &self.lan, &self.node] {
            assert!(ns.wait_ipv6_settled(), "{}: IPv6 addresses still tentative", ns.name);
        }
    }

    /// Packets the node's IPv6 anti-spoofing rule has dropped so far (0 when
    /// [`Lan::add_ipv6`] was not called).
    pub fn spoof6_drops(&self) -> u64 {
        let out = self.node.exec(&["nft", "list", "chain", "inet", "spoof", "podspoof"]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.contains(SPOOF6_COMMENT))
            .and_then(|l| {
                let mut words = l.split_whitespace();
                words.find(|w| *w == "packets")?;
                words.next()?.parse().ok()
            })
            .unwrap_or(0)
    }

    /// A pod namespace on this node with DAD off (see [`Netns::new_v6`]).
    pub fn pod_v6(&self, n: u32) -> Netns {
        Netns::new_v6(&format!("pod{n}"), &self.tag)
    }

    /// `eth0` from Debian's ptp plugin with any mix of addresses: each
    /// `(address/prefix, gateway)` pair becomes a static IPAM address, with a
    /// default route of its family through that gateway (ptp puts the
    /// gateway on the host-side veth as a /32 or /128).
    pub fn add_ptp_eth0_with(
        &self,
        pod: &Netns,
        container_id: &str,
        addrs: &[(&str, &str)],
    ) -> serde_json::Value {
        let (addresses, routes) = static_ipam(addrs, true);
        let conf = serde_json::json!({
            "cniVersion": "1.0.0", "name": "overlay", "type": "ptp", "ipMasq": false, "mtu": 1500,
            "ipam": {"type": "static", "addresses": addresses, "routes": routes}
        });
        self.cni_add(pod, container_id, "ptp", "eth0", &conf)
    }

    /// The macvlan netconf on the node's underlay NIC for any mix of
    /// `(address/prefix, gateway)` pairs; with `default_route` each family
    /// also gets a default route through its gateway.
    pub fn macvlan_conf_with(
        &self,
        addrs: &[(&str, &str)],
        default_route: bool,
    ) -> serde_json::Value {
        let (addresses, routes) = static_ipam(addrs, default_route);
        serde_json::json!({
            "cniVersion": "1.0.0", "name": "macvlan-underlay", "type": "macvlan",
            "master": self.node_nic, "mode": "bridge",
            "ipam": {"type": "static", "addresses": addresses, "routes": routes}
        })
    }

    /// Runs `plugin` ADD for `ifname` in `pod` with `conf`, panicking with
    /// the plugin's output on failure; returns its result.
    pub fn cni_add(
        &self,
        pod: &Netns,
        container_id: &str,
        plugin: &str,
        ifname: &str,
        conf: &serde_json::Value,
    ) -> serde_json::Value {
        let plugin_path = cni_bin_dir().join(plugin);
        let call = CniCall {
            plugin: &plugin_path,
            command: "ADD",
            container_id,
            pod: Some(pod),
            ifname,
            args: "",
        };
        let (ok, result, text) = cni(&self.node, &call, conf);
        assert!(ok, "{plugin} ADD for {ifname} failed: {text}");
        result
    }
}

/// Static IPAM `addresses` and `routes` for `(address/prefix, gateway)` pairs.
fn static_ipam(
    addrs: &[(&str, &str)],
    default_route: bool,
) -> (serde_json::Value, serde_json::Value) {
    let addresses: Vec<serde_json::Value> =
        addrs.iter().map(|(a, gw)| serde_json::json!({"address": a, "gateway": gw})).collect();
    let routes: Vec<serde_json::Value> = if default_route {
        addrs
            .iter()
            .map(|(_, gw)| {
                let dst = if gw.contains(':') { "::/0" } else { "0.0.0.0/0" };
                serde_json::json!({"dst": dst, "gw": gw})
            })
            .collect()
    } else {
        Vec::new()
    };
    (serde_json::Value::from(addresses), serde_json::Value::from(routes))
}

/// `base` (a JSON object) with every key of `extra` added or replaced.
pub fn with_keys(mut base: serde_json::Value, extra: &serde_json::Value) -> serde_json::Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// Runs our `coordinator` binary in `lan`'s node namespace for the pod
/// namespace `pod` (container `cid`, pod name `pod-<cid>`), as [`cni`] does.
pub fn run_coordinator(
    lan: &Lan,
    pod: &Netns,
    cid: &str,
    command: &str,
    ifname: &str,
    conf: &serde_json::Value,
) -> (bool, serde_json::Value, String) {
    let args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-{cid}");
    let call = CniCall {
        plugin: Path::new(env!("CARGO_BIN_EXE_coordinator")),
        command,
        container_id: cid,
        pod: Some(pod),
        ifname,
        args: &args,
    };
    cni(&lan.node, &call, conf)
}
