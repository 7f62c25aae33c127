//! The `coordinator` CNI plugin: plans with `spiderpool_core::coordinator`,
//! applies with `spiderpool-netlink`, and passes `prevResult` through.
//!
//! - ADD: parse the netconf, ask the agent for the cluster config when its
//!   socket exists (and fail when the agent refuses, e.g. the SpiderCoordinator
//!   is not `Synced`), read the pod and host namespaces, plan, apply, print
//!   `prevResult`.
//! - DEL: never fails because the agent is unreachable or not `Synced`
//!   (DESIGN.md §5.5), and succeeds when the namespace or links are gone. It
//!   deletes the host veth only when its alias or MAC proves it is this
//!   container's (`spiderpool_core::coordinator::owner`): container IDs that
//!   share their first 11 characters share the name.
//! - CHECK: plans again on the current state and reports every operation whose
//!   effect is missing (rules, routes, links, neighbours, sysctls, marks).
//! - ADD and CHECK refuse a `CNI_NETNS` that is the plugin's own (the host's)
//!   network namespace with code 4; DEL succeeds there without doing anything.
//! - GC: the coordinator keeps no state of its own beyond links that die with
//!   their namespace or are removed by DEL, so GC has nothing to release.
//! - STATUS: ready whenever the plugin can run; the agent is optional.
//!
//! Logs go to `logOptions.logFile` (default `/var/log/spidernet/coordinator.log`),
//! never to stdout.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spiderpool_core::agent_api::GetCoordinatorArgs;
use spiderpool_core::cni::{self, CniError};
use spiderpool_core::coordinator::mac::host_veth_name;
use spiderpool_core::coordinator::{
    ClusterCoordinatorConfig, CoordinatorNetConf, DelView, EffectiveConfig, ModeSetting, NetnsView,
    PlanInput, ResolvedMode, RoutePlan, Side, VethOwner, host_veth_conflict, merge, plan_add,
    plan_del, veth_owner,
};
use spiderpool_netlink::{Netns, NetnsId, Session};

use crate::agent_client::{self, AgentClient, AgentError};
use crate::cni::{CniRequest, Plugin};

mod log;

pub use log::{DEFAULT_LOG_FILE, Log};

/// Plugin-specific error codes (CNI codes 100+).
pub mod codes {
    /// The agent refused or failed to give the cluster config.
    pub const AGENT: u32 = 100;
    /// Planning failed (mode sanity checks, missing NIC, ...).
    pub const PLAN: u32 = 101;
    /// Applying the plan failed.
    pub const APPLY: u32 = 102;
    /// CHECK found missing rules, routes or links.
    pub const CHECK: u32 = 103;
}

/// The coordinator plugin.
#[derive(Debug, Clone)]
pub struct Coordinator {
    /// The agent socket (`/var/run/spidernet/spiderpool.sock`).
    pub agent_socket: PathBuf,
    /// How long to wait for the agent.
    pub agent_timeout: Duration,
}

impl Default for Coordinator {
    fn default() -> Self {
        Self {
            agent_socket: PathBuf::from(agent_client::DEFAULT_SOCKET),
            agent_timeout: Duration::from_secs(30),
        }
    }
}

fn plugin_error(code: u32, msg: impl Into<String>) -> CniError {
    CniError::Plugin { code, msg: msg.into(), details: String::new() }
}

fn config_error(e: impl std::fmt::Display) -> CniError {
    CniError::InvalidConfig {
        field: "coordinator netconf".into(),
        value: String::new(),
        reason: e.to_string(),
    }
}

/// The non-link-local addresses of every pod link except `lo`.
fn pod_ips(view: &NetnsView) -> Vec<IpAddr> {
    view.addresses
        .iter()
        .filter(|a| a.dev != "lo")
        .map(|a| a.address.addr())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_loopback(),
            IpAddr::V6(v6) => !v6.is_unicast_link_local() && !v6.is_loopback(),
        })
        .collect()
}

fn io_error(what: &str, e: spiderpool_netlink::Error) -> CniError {
    CniError::Io { what: what.into(), reason: e.to_string() }
}

/// The planner's input of ADD and CHECK for `req`: `pod` (the pod view as
/// read) and the host view for the pod's addresses, read through the
/// session's host socket. (DEL reads less: [`PlanInput::for_del`] in
/// [`del_in_session`].)
async fn plan_input(
    s: &Session,
    req: &CniRequest,
    config: EffectiveConfig,
    pod: NetnsView,
) -> Result<PlanInput, CniError> {
    let ips = pod_ips(&pod);
    let host =
        s.host_view(&ips, config.host_rule_table).await.map_err(|e| io_error("host netns", e))?;
    Ok(PlanInput {
        config,
        container_id: req.container_id.clone(),
        ifname: req.ifname.clone(),
        pod,
        host,
    })
}

/// ADD inside a [`Session`]: read the pod and host views, plan, log, apply.
async fn add_in_session(
    s: &mut Session,
    req: &CniRequest,
    config: EffectiveConfig,
    log: &Log,
) -> Result<(), CniError> {
    let pod_view = s.pod_view().await.map_err(|e| io_error("pod netns", e))?;
    let input = plan_input(s, req, config, pod_view).await?;
    let plan = plan_add(&input).map_err(|e| plugin_error(codes::PLAN, e.to_string()))?;
    let mut lines = vec![format!(
        "ADD {} {}: mode {:?}, first invoke {}, table {}, {} ops",
        req.container_id,
        req.ifname,
        plan.mode,
        plan.first_invoke,
        plan.table,
        plan.ops.len()
    )];
    lines.extend(
        spiderpool_core::coordinator::render::plan_lines(&plan)
            .into_iter()
            .map(|l| format!("  {l}")),
    );
    log.lines(&lines);
    let Err(e) = s.apply(&plan).await else { return Ok(()) };
    log.line(&format!("ADD failed: {e}"));
    // A concurrent ADD of a container whose ID shares the first 11
    // characters may have taken the host veth name since the plan was made:
    // say which container holds it.
    if plan.mode == ResolvedMode::Underlay
        && plan.first_invoke
        && let Ok(now) = s.host_view(&pod_ips(&input.pod), input.config.host_rule_table).await
        && let Some(taken) = host_veth_conflict(&now, &input.pod, &input.container_id)
    {
        return Err(CniError::plugin(codes::APPLY, taken.to_string(), e.to_string()));
    }
    Err(plugin_error(codes::APPLY, e.to_string()))
}

/// Logs why DEL leaves a host veth of this container's name in place.
fn log_foreign_veth(input: &PlanInput, log: &Log) {
    let name = host_veth_name(&input.container_id);
    let Some(link) = input.host.links.iter().find(|l| l.name == name) else { return };
    let holder = match veth_owner(link, &input.container_id) {
        VethOwner::This => return,
        VethOwner::Container(id) => format!("belongs to container {id}"),
        VethOwner::Unmarked => "carries no mark of this container (alias or MAC)".to_owned(),
    };
    log.line(&format!("DEL: host veth {name} {holder}: left in place"));
}

/// DEL inside a [`Session`]. Without `pod_alive` the session's pod side is the
/// host namespace and only host-side operations run.
///
/// Reads only what [`plan_del`] looks at ([`DelView`]): the pod's links and
/// addresses, and the one host link named after the container (a single
/// `RTM_GETLINK` by name), not the full views an ADD reads.
async fn del_in_session(
    s: &mut Session,
    req: &CniRequest,
    config: EffectiveConfig,
    pod_alive: bool,
    log: &Log,
) -> Result<(), CniError> {
    let pod = if pod_alive {
        s.pod_links_and_addresses().await.unwrap_or_else(|e| {
            log.line(&format!("DEL: pod netns unreadable ({e}): host side only"));
            NetnsView::default()
        })
    } else {
        NetnsView::default()
    };
    let host_veth = s
        .host_link(&host_veth_name(&req.container_id))
        .await
        .map_err(|e| io_error("host netns", e))?;
    let view = DelView { pod_links: pod.links, pod_addresses: pod.addresses, host_veth };
    let input = PlanInput::for_del(config, req.container_id.clone(), req.ifname.clone(), view);
    let mut plan = plan_del(&input);
    log_foreign_veth(&input, log);
    if !pod_alive {
        plan.ops.retain(|op| op.side == Side::Host);
    }
    log.line(&format!("DEL {} {}: {} ops", req.container_id, req.ifname, plan.ops.len()));
    s.apply(&plan).await.map_err(|e| {
        log.line(&format!("DEL failed: {e}"));
        plugin_error(codes::APPLY, e.to_string())
    })
}

/// `Some(id)` when `path` is the network namespace the plugin runs in: the
/// host's own (`CNI_NETNS` of a misconfigured runtime, or of a caller that
/// wants the coordinator to rewire the node). Compared by namespace
/// identity, not by path.
fn host_netns(path: &str) -> Result<Option<NetnsId>, spiderpool_netlink::Error> {
    let pod = Netns::path(path).id()?;
    Ok((pod == Netns::Current.id()?).then_some(pod))
}

/// ADD and CHECK refuse the host's own namespace (code 4): they would create
/// a veth pair there, set `all.rp_filter`, add `from all lookup
/// <hostRuleTable>` and an nftables table on the node itself.
fn host_netns_refused(path: &str, id: NetnsId) -> CniError {
    CniError::invalid_env(
        "CNI_NETNS",
        Some(path),
        format!(
            "is the network namespace the coordinator runs in ({id}), the host's own: \
             the coordinator only configures pod network namespaces"
        ),
    )
}

impl Coordinator {
    /// Asks the agent for the cluster config. `Ok(None)` without an agent.
    fn cluster_config(
        &self,
        req: &CniRequest,
    ) -> Result<Option<ClusterCoordinatorConfig>, AgentError> {
        let Some(mut agent) = AgentClient::new(&self.agent_socket)? else {
            return Ok(None);
        };
        let args = GetCoordinatorArgs {
            pod_name: req.args.pod_name.clone().unwrap_or_default(),
            pod_namespace: req.args.pod_namespace.clone().unwrap_or_default(),
        };
        agent.coordinator_config(&args, self.agent_timeout).map(Some)
    }

    /// Netconf + agent config, merged. For DEL the agent is optional.
    fn effective(
        &self,
        req: &CniRequest,
        netconf: &CoordinatorNetConf,
        log: &Log,
        strict: bool,
    ) -> Result<EffectiveConfig, CniError> {
        let cluster = match self.cluster_config(req) {
            Ok(c) => c,
            Err(e) if strict => {
                return Err(plugin_error(
                    codes::AGENT,
                    format!("coordinator config from the agent: {e}"),
                ));
            }
            Err(e) => {
                log.line(&format!("agent config unavailable, using the netconf alone: {e}"));
                None
            }
        };
        merge(netconf, cluster.as_ref(), None).map_err(config_error)
    }

    /// The pod namespace of ADD and CHECK: `CNI_NETNS`, which must not be the
    /// host's own namespace (see [`host_netns`]). A path that cannot be
    /// looked at is not refused here: opening it fails later, naming it, as
    /// it always has (and after the agent was asked).
    fn pod_ns(req: &CniRequest) -> Result<Netns, CniError> {
        match req.netns.as_deref() {
            Some(p) if !p.is_empty() => match host_netns(p) {
                Ok(Some(id)) => Err(host_netns_refused(p, id)),
                _ => Ok(Netns::path(p)),
            },
            _ => Err(CniError::InvalidEnvironment {
                var: "CNI_NETNS".into(),
                value: None,
                reason: "required".into(),
            }),
        }
    }

    fn plan(&self, req: &CniRequest, log: &Log) -> Result<(Option<RoutePlan>, Netns), CniError> {
        let netconf = CoordinatorNetConf::from_slice(&req.raw_config).map_err(config_error)?;
        let pod = Self::pod_ns(req)?;
        let config = self.effective(req, &netconf, log, true)?;
        if config.mode == ModeSetting::Disabled {
            return Ok((None, pod));
        }
        let input = spiderpool_netlink::with_session(&pod, &Netns::Current, |s| async move {
            let pod_view = s.pod_view().await.map_err(|e| io_error("pod netns", e));
            Ok(match pod_view {
                Ok(view) => plan_input(&s, req, config, view).await,
                Err(e) => Err(e),
            })
        })
        .map_err(|e| io_error("pod netns", e))??;
        let plan = plan_add(&input).map_err(|e| plugin_error(codes::PLAN, e.to_string()))?;
        Ok((Some(plan), pod))
    }
}

impl Plugin for Coordinator {
    fn add(&self, req: &CniRequest) -> Result<cni::Result, CniError> {
        let log = log::for_request(req);
        let prev = req.prev_result()?.ok_or_else(|| CniError::InvalidConfig {
            field: "prevResult".into(),
            value: "null".into(),
            reason: "coordinator must run as a chained plugin after the main CNI".into(),
        })?;
        let netconf = CoordinatorNetConf::from_slice(&req.raw_config).map_err(config_error)?;
        let pod = Self::pod_ns(req)?;
        let config = self.effective(req, &netconf, &log, true)?;
        if config.mode == ModeSetting::Disabled {
            log.line(&format!("ADD {} {}: mode disabled", req.container_id, req.ifname));
            return Ok(prev);
        }
        // One dedicated thread reads both namespaces, and the plan is applied
        // through the same sockets (one thread start instead of three).
        let log_ref = &log;
        spiderpool_netlink::with_session(&pod, &Netns::Current, |mut s| async move {
            Ok(add_in_session(&mut s, req, config, log_ref).await)
        })
        .map_err(|e| io_error("pod netns", e))??;
        Ok(prev)
    }

    fn del(&self, req: &CniRequest) -> Result<(), CniError> {
        let log = log::for_request(req);
        let live_path = req.netns.as_deref().filter(|p| !p.is_empty() && Path::new(p).exists());
        // ADD refuses the host's own namespace, so there is nothing of ours
        // to remove there: succeed (DEL is idempotent) and change nothing.
        if let Some(path) = live_path
            && let Ok(Some(id)) = host_netns(path)
        {
            log.line(&format!(
                "DEL {} {}: CNI_NETNS {path} is the host's own network namespace ({id}): nothing to do",
                req.container_id, req.ifname
            ));
            return Ok(());
        }
        let netconf = match CoordinatorNetConf::from_slice(&req.raw_config) {
            Ok(n) => n,
            Err(e) => {
                log.line(&format!("DEL with an invalid netconf ({e}): cleaning up with defaults"));
                CoordinatorNetConf::default()
            }
        };
        let config = self.effective(req, &netconf, &log, false)?;
        if config.mode == ModeSetting::Disabled {
            return Ok(());
        }
        if let Some(path) = live_path {
            let log_ref = &log;
            let cfg = config.clone();
            match spiderpool_netlink::with_session(
                &Netns::path(path),
                &Netns::Current,
                |mut s| async move { Ok(del_in_session(&mut s, req, cfg, true, log_ref).await) },
            ) {
                Ok(outcome) => return outcome,
                // The namespace went away (or cannot be entered) between the
                // check and the open: clean up the host side only.
                Err(e) => log.line(&format!("DEL: pod netns unusable ({e}): host side only")),
            }
        }
        // The pod side is gone with its namespace; never run pod-side
        // operations in the host namespace.
        let log_ref = &log;
        spiderpool_netlink::with_session(&Netns::Current, &Netns::Current, |mut s| async move {
            Ok(del_in_session(&mut s, req, config, false, log_ref).await)
        })
        .map_err(|e| io_error("host netns", e))?
    }

    fn check(&self, req: &CniRequest) -> Result<(), CniError> {
        let log = log::for_request(req);
        if req.prev_result()?.is_none() {
            return Err(CniError::InvalidConfig {
                field: "prevResult".into(),
                value: "null".into(),
                reason: "CHECK needs the result of the ADD".into(),
            });
        }
        let (plan, pod) = self.plan(req, &log)?;
        let Some(plan) = plan else { return Ok(()) };
        let observed = spiderpool_netlink::observe(&plan, &pod, &Netns::Current).map_err(|e| {
            CniError::Io { what: "reading the namespaces".into(), reason: e.to_string() }
        })?;
        let missing = spiderpool_core::coordinator::check::check(&plan, &observed);
        if missing.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = missing
            .iter()
            .map(|m| format!("{:?} {} {}: {}", m.side, m.action, m.kind, m.what))
            .collect();
        log.line(&format!("CHECK failed: {}", list.join("; ")));
        Err(CniError::Plugin {
            code: codes::CHECK,
            msg: format!("{} coordinator operation(s) missing", missing.len()),
            details: list.join("; "),
        })
    }

    fn gc(&self, _req: &CniRequest) -> Result<(), CniError> {
        Ok(())
    }

    fn status(&self, _req: &CniRequest) -> Result<(), CniError> {
        Ok(())
    }
}
