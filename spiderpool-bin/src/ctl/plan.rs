//! `spiderpoolctl plan`: the coordinator's plan for a scenario file, offline
//! and without root (see `docs/coordinator.md`).
//!
//! The scenario (YAML or JSON) holds `netconf` (the coordinator netconf as in
//! a NAD), optional `clusterConfig` (the agent's `GET /v1/coordinator/config`
//! answer), `cni` (`containerID`, `ifName`, `podName`, `podNamespace`,
//! optional `podAnnotations`), `pod` (a `NetnsView`) and `host` (a
//! `HostView`). Output: `ip` command lines (`-o ip`) or the plan as JSON
//! (`-o json`); `--result` adds the pod's and host's rules and tables after
//! the plan (simulated). Exit 1 when the netconf is invalid or no plan can be
//! made, 2 when the scenario cannot be read.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::Deserialize;
use serde_json::Value;
use spiderpool_core::coordinator::render::{
    plan_lines, route_lines, route_lines_of, rule_lines, table_name,
};
use spiderpool_core::coordinator::{
    ClusterCoordinatorConfig, CoordinatorNetConf, HostView, NetnsView, PlanInput, RoutePlan,
    apply_to_view, merge, plan_add, plan_del,
};
use spiderpool_core::ip::IpFamily;

use super::input::{parse_documents, read_source, source_name};
use super::{CtlError, EXIT_OK, EXIT_REJECTED, PlanArgs, PlanFormat};

/// The pod annotation that names the default-route NIC.
pub const DEFAULT_ROUTE_NIC_ANNOTATION: &str = "ipam.spidernet.io/default-route-nic";

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// The coordinator netconf, as in a NAD's plugin list.
    pub netconf: Value,
    /// What the agent would return; absent = no agent.
    #[serde(default)]
    pub cluster_config: Option<ClusterCoordinatorConfig>,
    /// The CNI arguments.
    pub cni: CniArgs,
    /// The pod's netns.
    #[serde(default)]
    pub pod: NetnsView,
    /// The host's netns.
    #[serde(default)]
    pub host: HostView,
}

/// The CNI arguments of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CniArgs {
    /// `CNI_CONTAINERID`.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub if_name: String,
    /// `K8S_POD_NAME`.
    #[serde(default)]
    pub pod_name: String,
    /// `K8S_POD_NAMESPACE`.
    #[serde(default)]
    pub pod_namespace: String,
    /// The pod's annotations (`ipam.spidernet.io/default-route-nic`).
    #[serde(default)]
    pub pod_annotations: BTreeMap<String, String>,
}

/// Runs `spiderpoolctl plan`.
pub fn run(
    args: &PlanArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let name = source_name(&args.file);
    let text = read_source(&args.file, stdin)?;
    let docs = parse_documents(&name, &text)?;
    let [doc] = docs.as_slice() else {
        return Err(CtlError::Usage(format!(
            "{name}: expected one scenario, found {} documents",
            docs.len()
        )));
    };
    let scenario: Scenario =
        serde_json::from_value(doc.value.clone()).map_err(|e| CtlError::Decode {
            source_name: name.clone(),
            location: doc.location,
            message: format!("scenario: {e}"),
        })?;
    let plan = match make_plan(&scenario, args.del) {
        Ok(p) => p,
        Err(message) => {
            writeln!(stderr, "error: {name}: {message}").map_err(CtlError::output)?;
            return Ok(EXIT_REJECTED);
        }
    };
    let mut out = match args.output {
        PlanFormat::Ip => plan_lines(&plan.0).join("\n") + "\n",
        PlanFormat::Json => serde_json::to_string_pretty(&plan.0).map_err(CtlError::output)? + "\n",
    };
    if args.result {
        let (pod, host) = apply_to_view(&scenario.pod, &scenario.host, &plan.0);
        out.push_str(&result_text(&pod, &host, plan.1));
    }
    stdout.write_all(out.as_bytes()).map_err(CtlError::output)?;
    Ok(EXIT_OK)
}

/// The plan and the host rule table, or the error message.
fn make_plan(s: &Scenario, del: bool) -> Result<(RoutePlan, u32), String> {
    let netconf =
        CoordinatorNetConf::from_value(&s.netconf).map_err(|e| format!("netconf: {e}"))?;
    let annotation = s.cni.pod_annotations.get(DEFAULT_ROUTE_NIC_ANNOTATION).map(String::as_str);
    let config =
        merge(&netconf, s.cluster_config.as_ref(), annotation).map_err(|e| e.to_string())?;
    let table = config.host_rule_table;
    let input = PlanInput {
        config,
        container_id: s.cni.container_id.clone(),
        ifname: s.cni.if_name.clone(),
        pod: s.pod.clone(),
        host: s.host.clone(),
    };
    let plan = if del { plan_del(&input) } else { plan_add(&input).map_err(|e| e.to_string())? };
    Ok((plan, table))
}

/// `ip rule` and `ip route show table T` of the pod (every table with
/// routes, main first) and of the host (rules and the host rule table), per
/// family that has any.
fn result_text(pod: &NetnsView, host: &HostView, host_table: u32) -> String {
    let mut out = String::new();
    for family in [IpFamily::V4, IpFamily::V6] {
        let flag = if family == IpFamily::V6 { " -6" } else { "" };
        let mut tables: Vec<u32> =
            pod.routes.iter().filter(|r| r.family() == family).map(|r| r.table).collect();
        tables.sort_by_key(|t| (*t != 254, *t));
        tables.dedup();
        let rules = rule_lines(&pod.rules, family);
        if tables.is_empty() && rules.is_empty() {
            continue;
        }
        section(&mut out, &format!("pod: ip{flag} rule"), &rules);
        for t in tables {
            section(
                &mut out,
                &format!("pod: ip{flag} route show table {}", table_name(t)),
                &route_lines(pod, t, family),
            );
        }
        let host_rules = rule_lines(&host.rules, family);
        let host_routes = route_lines_of(&host.routes, host_table, family);
        if !host_rules.is_empty() || !host_routes.is_empty() {
            section(&mut out, &format!("host: ip{flag} rule"), &host_rules);
            section(
                &mut out,
                &format!("host: ip{flag} route show table {host_table}"),
                &host_routes,
            );
        }
    }
    out
}

fn section(out: &mut String, title: &str, lines: &[String]) {
    out.push_str(&format!("# {title}\n"));
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
}
