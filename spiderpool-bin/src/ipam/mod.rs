//! The `spiderpool` IPAM CNI plugin: a thin client of the agent.
//!
//! - ADD: `POST /v1/ipam/ip` (without Spiderpool's `GET /v1/ipam/healthy`
//!   before it: the allocation's answer tells the same); then, inside the
//!   pod namespace on `CNI_IFNAME` ([`probe`]): the IP-conflict probe and the
//!   gateway probe when the agent stamped `enableIPConflictDetection` /
//!   `enableGatewayDetection` into an address (a conflict or a silent gateway
//!   releases the allocation as DEL does and fails ADD), and always a
//!   gratuitous ARP / unsolicited NA per address (best effort). The result
//!   holds only this interface's addresses (`IP/pool-prefix`, gateway) and
//!   routes, with no `interfaces` (an abbreviated IPAM result).
//! - DEL: `DELETE /v1/ipam/ip` bounded to [`Spiderpool::del_timeout`]; when the
//!   agent is absent, unreachable, slow or failing (5xx), the release is
//!   appended to the journal ([`journal`]) and DEL succeeds. The agent replays
//!   the journal when it starts.
//! - CHECK: `GET /v1/workloadendpoint` has this interface with the addresses
//!   of `prevResult`.
//! - GC: releases allocations of this network's default pools whose container
//!   is in no `cni.dev/valid-attachments` entry; without that key nothing is
//!   released.
//! - STATUS: 50 when the agent does not answer `GET /v1/ipam/healthy`.
//!
//! Logs go to `log_file_path` (default [`config::DEFAULT_LOG_FILE`]), never
//! stdout.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use spiderpool_core::agent_api::{ErrorBody, IpamAddArgs, IpamAddResponse, IpamDelArgs};
use spiderpool_core::cni::{self, CniError};
use spiderpool_core::model::SpiderIPPool;
use spiderpool_netlink::probe::Timing;

use crate::agent_client::{AgentClient, AgentError};
use crate::cni::log::PluginLog;
use crate::cni::{CniRequest, Plugin};
use crate::journal;

pub mod announce;
pub mod config;
pub mod probe;

pub use announce::{ANNOUNCE_ENV, Announce, AnnounceJob, announce_child};
pub use config::IpamConfig;

/// Plugin-specific error codes (CNI codes 100+). Timeouts are code 11.
pub mod codes {
    /// The agent answered with an error; the message is its error body.
    pub const AGENT: u32 = 100;
    /// The agent socket is missing or refuses connections.
    pub const UNREACHABLE: u32 = 101;
    /// The agent's answer has nothing usable for this interface.
    pub const NO_ADDRESS: u32 = 102;
    /// CHECK: the allocation does not match `prevResult`.
    pub const CHECK: u32 = 103;
    /// ADD: another host answered for the allocated address (released).
    pub const IP_CONFLICT: u32 = 104;
    /// ADD: the pool's gateway did not answer (allocation released).
    pub const GATEWAY_UNREACHABLE: u32 = 105;
    /// ADD: a probe the agent asked for could not run (allocation released).
    pub const PROBE: u32 = 106;
}

/// The plugin.
#[derive(Debug, Clone)]
pub struct Spiderpool {
    /// Bound of the health check (STATUS) and of CHECK's and GC's requests.
    pub health_timeout: Duration,
    /// Bound of the allocation.
    pub add_timeout: Duration,
    /// Bound of DEL's release, connect included (≤ 2 s).
    pub del_timeout: Duration,
    /// Deadlines of the ARP/NDP probes (Spiderpool's by default).
    pub probe_timing: Timing,
    /// How ADD announces the addresses when no probe is asked for.
    pub announce: Announce,
}

impl Default for Spiderpool {
    fn default() -> Self {
        Self {
            health_timeout: Duration::from_secs(5),
            add_timeout: Duration::from_secs(60),
            del_timeout: Duration::from_millis(1500),
            probe_timing: Timing::default(),
            announce: Announce::Inline,
        }
    }
}

/// The plugin's name in its log lines.
const PLUGIN: &str = "spiderpool";

/// The plugin's log for a command: `log_file_path` (default
/// [`config::DEFAULT_LOG_FILE`]), each line prefixed with the command, the pod,
/// the container and the interface.
fn open_log(cfg: &IpamConfig, req: &CniRequest) -> PluginLog {
    PluginLog::open(PLUGIN, &cfg.log_file(), PluginLog::command_prefix(req))
}

fn plugin_error(code: u32, msg: impl Into<String>, details: impl Into<String>) -> CniError {
    CniError::Plugin { code, msg: msg.into(), details: details.into() }
}

/// Maps an agent failure to a CNI error: timeouts are 11 (try again), an
/// error answer is 100 with the agent's message (its body is a JSON string),
/// the rest 101 or 102. `what` (`METHOD /path`) prefixes the errors that do
/// not name the request themselves (`Status` and `Decode` do).
fn agent_error(what: &str, e: AgentError) -> CniError {
    match e {
        AgentError::Timeout { .. } => CniError::TryAgainLater { reason: format!("{what}: {e}") },
        AgentError::Io { .. } => plugin_error(codes::UNREACHABLE, format!("{what}: {e}"), ""),
        AgentError::Status { method, path, status, body } => {
            let msg = match body {
                ErrorBody::Message(m) => m,
                other => other.to_json(),
            };
            plugin_error(codes::AGENT, msg, format!("agent {method} {path}: HTTP {status}"))
        }
        AgentError::Decode { .. } => plugin_error(codes::NO_ADDRESS, e.to_string(), ""),
        // The plugin's paths are fixed: cannot happen, but say what it is.
        AgentError::Request { .. } => plugin_error(codes::AGENT, format!("{what}: {e}"), ""),
    }
}

fn no_agent(socket: &Path) -> CniError {
    plugin_error(
        codes::UNREACHABLE,
        format!("agent socket {} (ipam_unix_socket_path) does not exist", socket.display()),
        "",
    )
}

fn parse_net(field: &str, text: &str) -> Result<IpNet, CniError> {
    text.parse::<IpNet>().or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(
        |e| plugin_error(codes::NO_ADDRESS, format!("agent answer {field} {text:?}: {e}"), ""),
    )
}

fn parse_ip(field: &str, text: &str) -> Result<std::net::IpAddr, CniError> {
    text.parse().map_err(|e| {
        plugin_error(codes::NO_ADDRESS, format!("agent answer {field} {text:?}: {e}"), "")
    })
}

/// The abbreviated IPAM result for `ifname` from the agent's answer (every NIC
/// of the pod): an error when the answer has no address for `ifname`.
pub fn result_for(answer: &IpamAddResponse, ifname: &str) -> Result<cni::Result, CniError> {
    let mut result = cni::Result::default();
    for ip in answer.ips.iter().filter(|i| i.nic == ifname) {
        let gateway = match ip.gateway.as_deref().filter(|g| !g.is_empty()) {
            Some(g) => Some(parse_ip("ips[].gateway", g)?),
            None => None,
        };
        result.ips.push(cni::IpConfig {
            address: parse_net("ips[].address", &ip.address)?,
            gateway,
            interface: None,
        });
    }
    if result.ips.is_empty() {
        let nics: Vec<&str> = answer.ips.iter().map(|i| i.nic.as_str()).collect();
        return Err(plugin_error(
            codes::NO_ADDRESS,
            format!(
                "the agent allocated no address for interface {ifname} (addresses for: [{}])",
                nics.join(", ")
            ),
            "",
        ));
    }
    for r in answer.routes.iter().filter(|r| r.if_name == ifname) {
        let gw = if r.gw.is_empty() { None } else { Some(parse_ip("routes[].gw", &r.gw)?) };
        result.routes.push(cni::Route::new(parse_net("routes[].dst", &r.dst)?, gw));
    }
    Ok(result)
}

/// The route GC lists the pools by.
fn pools_path() -> String {
    spiderpool_core::agent_api::objects_path(SpiderIPPool::KIND, None)
}

fn del_args(req: &CniRequest) -> IpamDelArgs {
    IpamDelArgs {
        container_id: req.container_id.clone(),
        if_name: req.ifname.clone(),
        pod_namespace: req.args.pod_namespace.clone().unwrap_or_default(),
        pod_name: req.args.pod_name.clone().unwrap_or_default(),
        pod_uid: req.args.pod_uid.clone().unwrap_or_default(),
        net_namespace: req.netns.clone(),
        network: None,
    }
}

impl Spiderpool {
    /// A client of the agent on `socket`; code 101 when there is none.
    fn client(socket: &Path, what: &str) -> Result<AgentClient, CniError> {
        match AgentClient::new(socket) {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(no_agent(socket)),
            Err(e) => Err(agent_error(what, e)),
        }
    }

    /// Checks the agent's health (STATUS) and returns the client.
    fn healthy(&self, socket: &Path) -> Result<AgentClient, CniError> {
        let what = "agent health check";
        let mut agent = Self::client(socket, what)?;
        agent.health(self.health_timeout).map_err(|e| agent_error(what, e))?;
        Ok(agent)
    }

    /// Releases through the agent (a connection of its own, at most
    /// [`Spiderpool::del_timeout`]); returns `Ok(true)` when the agent took
    /// it, `Ok(false)` when it must be journaled, `Err` for a refusal (4xx)
    /// that would fail again on replay.
    fn release(&self, socket: &Path, args: &IpamDelArgs) -> Result<bool, AgentError> {
        let Some(mut agent) = AgentClient::new(socket)? else { return Ok(false) };
        match agent.release(args, self.del_timeout) {
            Ok(()) => Ok(true),
            Err(AgentError::Decode { .. }) => Ok(true),
            Err(AgentError::Status { status, .. }) if status >= 500 => Ok(false),
            Err(e @ AgentError::Status { .. }) => Err(e),
            Err(_) => Ok(false),
        }
    }

    /// DEL's release: through the agent, or into the journal when the agent is
    /// unavailable. Never fails; returns what happened, for messages.
    fn release_or_journal(
        &self,
        cfg: &IpamConfig,
        log: &PluginLog,
        args: &IpamDelArgs,
    ) -> &'static str {
        match self.release(&cfg.socket(), args) {
            Ok(true) => {
                log.line("released");
                "released it"
            }
            Ok(false) => {
                let path = cfg.journal();
                match journal::append(&path, args) {
                    Ok(journal::Appended::Locked) => log.line(&format!(
                        "agent unavailable: release recorded in the journal {}",
                        path.display()
                    )),
                    Ok(journal::Appended::Unlocked) => log.line(&format!(
                        "agent unavailable: release recorded in the journal {} without its lock (busy for {} ms: a replay may miss it)",
                        path.display(),
                        journal::LOCK_WAIT.as_millis()
                    )),
                    Err(e) => log.line(&format!(
                        "agent unavailable and the journal {} (release_journal_path) is not writable: {e}; the address leaks until GC",
                        path.display()
                    )),
                }
                "the agent is unavailable, its release is journaled"
            }
            Err(e) => {
                log.line(&format!("the agent refused the release, not retried: {e}"));
                "the agent refused to release it"
            }
        }
    }

    /// GC's candidates: `(podNamespace, podName, podUID, containerID)` of the
    /// records in `pools` that `network` made and whose container is in no
    /// valid attachment. Records of other networks, and records without a
    /// network (made before it was recorded), are never candidates.
    fn stale_records(
        &self,
        agent: &mut AgentClient,
        pools: &BTreeSet<String>,
        network: &str,
        valid: &BTreeSet<&str>,
        log: &PluginLog,
    ) -> Result<BTreeSet<(String, String, String, String)>, CniError> {
        let list = agent
            .list_objects::<SpiderIPPool>(SpiderIPPool::KIND, None, self.health_timeout)
            .map_err(|e| agent_error(&format!("GET {}", pools_path()), e))?;
        let mut stale = BTreeSet::new();
        for pool in &list.items {
            let name = pool.metadata.name_str();
            if !pools.contains(name) {
                continue;
            }
            let raw = pool.status.as_ref().and_then(|s| s.allocated_ips.as_deref());
            let records = match spiderpool_core::model::parse_allocated_ips(raw) {
                Ok(r) => r,
                Err(e) => {
                    log.line(&format!("GC: pool {name}: status.allocatedIPs unreadable: {e}"));
                    continue;
                }
            };
            for (ip, rec) in records {
                if rec.network.as_deref() != Some(network) {
                    continue;
                }
                let Some(container) = rec.container_id.as_deref().filter(|c| !c.is_empty()) else {
                    continue;
                };
                if valid.contains(container) {
                    continue;
                }
                let Some((ns, pod)) = rec.pod.split_once('/') else {
                    log.line(&format!("GC: pool {name} ip {ip}: pod {:?} is not ns/name", rec.pod));
                    continue;
                };
                stale.insert((
                    ns.to_string(),
                    pod.to_string(),
                    rec.pod_uid.clone(),
                    container.to_string(),
                ));
            }
        }
        Ok(stale)
    }
}

impl Plugin for Spiderpool {
    fn add(&self, req: &CniRequest) -> Result<cni::Result, CniError> {
        let cfg = IpamConfig::from_netconf(&req.raw_config)?;
        let log = open_log(&cfg, req);
        let socket = cfg.socket();
        let outcome = (|| {
            // No health check first (Spiderpool's plugin asks `GET
            // /v1/ipam/healthy` before every allocation): the allocation's
            // own answer says the same — no socket, no answer, or the
            // agent's error naming what it lacks — one round trip sooner.
            let mut agent = Self::client(&socket, "POST /v1/ipam/ip")?;
            let args = IpamAddArgs {
                container_id: req.container_id.clone(),
                if_name: req.ifname.clone(),
                net_namespace: req.netns.clone().unwrap_or_default(),
                pod_namespace: req.args.pod_namespace.clone().unwrap_or_default(),
                pod_name: req.args.pod_name.clone().unwrap_or_default(),
                pod_uid: req.args.pod_uid.clone().unwrap_or_default(),
                default_ipv4_ippool: cfg.default_ipv4_ippool.clone(),
                default_ipv6_ippool: cfg.default_ipv6_ippool.clone(),
                clean_gateway: cfg.clean_gateway,
                match_master_subnet: cfg.match_master_subnet,
                network: Some(req.config.name.clone()).filter(|n| !n.is_empty()),
            };
            let answer: IpamAddResponse = agent
                .allocate(&args, self.add_timeout)
                .map_err(|e| agent_error("POST /v1/ipam/ip", e))?;
            drop(agent);
            let result = result_for(&answer, &req.ifname)?;
            let targets = probe::targets(&answer, &req.ifname)?;
            let probes_asked = targets.iter().any(|t| t.conflict || t.gateway.is_some());
            let Some(netns) = req.netns.as_deref().filter(|n| !n.is_empty()) else {
                log.line(
                    "no CNI_NETNS: IP-conflict/gateway probes and the address announcement skipped",
                );
                return Ok(result);
            };
            if !probes_asked {
                // Nothing to probe and nowhere to announce: nothing to start.
                if !Path::new(netns).exists() {
                    log.line(&format!(
                        "CNI_NETNS {netns} does not exist: the address announcement is skipped"
                    ));
                    return Ok(result);
                }
                let ips: Vec<_> = targets.iter().map(|t| t.ip).collect();
                if announce::hand_off(self.announce, &socket, netns, req, ips, &log) {
                    return Ok(result);
                }
            }
            let line = |m: &str| log.line(m);
            let probed =
                probe::probe_and_announce(netns, &req.ifname, &targets, self.probe_timing, &line);
            if let Err(failure) = probed {
                log.line(&format!("probe failed: {failure:?}; releasing"));
                let release = self.release_or_journal(&cfg, &log, &del_args(req));
                return Err(failure.into_cni(&req.ifname, release));
            }
            Ok(result)
        })();
        match &outcome {
            Ok(r) => {
                let ips: Vec<String> = r.ips.iter().map(|i| i.address.to_string()).collect();
                log.line(&format!("allocated [{}]", ips.join(", ")));
            }
            Err(e) => log.line(&format!("failed: {e}")),
        }
        outcome
    }

    fn del(&self, req: &CniRequest) -> Result<(), CniError> {
        let cfg = IpamConfig::from_netconf(&req.raw_config).unwrap_or_default();
        let log = open_log(&cfg, req);
        let args = del_args(req);
        if args.pod_namespace.is_empty() || args.pod_name.is_empty() {
            log.line("no K8S_POD_NAMESPACE/K8S_POD_NAME in CNI_ARGS: nothing to release");
            return Ok(());
        }
        self.release_or_journal(&cfg, &log, &args);
        Ok(())
    }

    fn check(&self, req: &CniRequest) -> Result<(), CniError> {
        let cfg = IpamConfig::from_netconf(&req.raw_config)?;
        let socket = cfg.socket();
        let prev = req.prev_result()?.ok_or_else(|| CniError::InvalidConfig {
            field: "prevResult".into(),
            value: "null".into(),
            reason: "CHECK needs the result of the ADD".into(),
        })?;
        let ns = req.args.pod_namespace.clone().unwrap_or_default();
        let name = req.args.pod_name.clone().unwrap_or_default();
        let path = spiderpool_core::agent_api::workload_endpoint_path(&ns, &name);
        let what = format!("GET {path}");
        let wep = Self::client(&socket, &what)?
            .workload_endpoint(&ns, &name, self.health_timeout)
            .map_err(|e| match e {
                AgentError::Decode { .. } => plugin_error(codes::CHECK, e.to_string(), ""),
                e => agent_error(&what, e),
            })?;
        let Some(nic) = wep.interfaces.iter().find(|i| i.interface == req.ifname) else {
            return Err(plugin_error(
                codes::CHECK,
                format!("pod {ns}/{name} holds no address for interface {}", req.ifname),
                "",
            ));
        };
        let held: BTreeSet<String> = [&nic.ipv4, &nic.ipv6]
            .into_iter()
            .flatten()
            .filter_map(|a| parse_net("ipv4/ipv6", a).ok())
            .map(|n| n.to_string())
            .collect();
        let ours = |i: &cni::IpConfig| match i.interface {
            None => true,
            Some(idx) => prev.interfaces.get(idx).is_none_or(|itf| itf.name == req.ifname),
        };
        let expected: BTreeSet<String> =
            prev.ips.iter().filter(|i| ours(i)).map(|i| i.address.to_string()).collect();
        if held == expected {
            Ok(())
        } else {
            Err(plugin_error(
                codes::CHECK,
                format!(
                    "interface {}: prevResult has [{}] but the agent records [{}]",
                    req.ifname,
                    expected.into_iter().collect::<Vec<_>>().join(", "),
                    held.into_iter().collect::<Vec<_>>().join(", ")
                ),
                "",
            ))
        }
    }

    fn gc(&self, req: &CniRequest) -> Result<(), CniError> {
        let cfg = IpamConfig::from_netconf(&req.raw_config)?;
        let log = open_log(&cfg, req);
        let Some(valid) = req.config.valid_attachments.as_ref() else {
            log.line("no cni.dev/valid-attachments: nothing released");
            return Ok(());
        };
        let pools: BTreeSet<String> =
            cfg.default_ipv4_ippool.iter().chain(&cfg.default_ipv6_ippool).cloned().collect();
        if pools.is_empty() {
            log.line("no default_ipv4_ippool/default_ipv6_ippool: this network's pools are unknown, nothing released");
            return Ok(());
        }
        let containers: BTreeSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
        let socket = cfg.socket();
        let network = req.config.name.as_str();
        let mut agent = Self::client(&socket, &format!("GET {}", pools_path()))?;
        let stale = self.stale_records(&mut agent, &pools, network, &containers, &log)?;
        let mut failures = Vec::new();
        for (ns, pod, uid, container) in stale {
            let args = IpamDelArgs {
                container_id: container.clone(),
                if_name: String::new(),
                pod_namespace: ns.clone(),
                pod_name: pod.clone(),
                pod_uid: uid,
                net_namespace: None,
                network: Some(network.to_string()),
            };
            let released = agent
                .release(&args, self.health_timeout)
                .map_err(|e| agent_error("DELETE /v1/ipam/ip", e));
            match released {
                Ok(_) => log.line(&format!("GC released {ns}/{pod} container {container}")),
                Err(e) => {
                    log.line(&format!("GC {ns}/{pod} container {container}: {e}"));
                    failures.push(format!("{ns}/{pod} container {container}: {e}"));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(plugin_error(
                codes::AGENT,
                format!("GC: {} release(s) failed", failures.len()),
                failures.join("; "),
            ))
        }
    }

    fn status(&self, req: &CniRequest) -> Result<(), CniError> {
        let cfg = IpamConfig::from_netconf(&req.raw_config)?;
        self.healthy(&cfg.socket())
            .map(drop)
            .map_err(|e| CniError::NotAvailable { reason: e.to_string() })
    }
}
