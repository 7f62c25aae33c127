//! `spiderpoolctl` against a running agent, over its unix socket (`--socket`):
//! `apply`, `get`, `describe`, `delete` and `release`; or, with
//! `--kubeconfig`, `apply`, `get`, `describe` and `delete` against a cluster's
//! API server ([`target`]), with the same output.
//!
//! Exit codes: 0 success; 1 the agent or API server refused (admission
//! rejection, not found, a failed release); 2 it cannot be reached (the
//! message names the socket or kubeconfig), or the input or flags are bad.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use spiderpool_core::agent_api::{Action, ErrorBody, IpamBatchDelArgs, NO_NAMESPACE};
use spiderpool_core::kind::{self, KindInfo};
use spiderpool_core::model::{SpiderEndpoint, SpiderSubnet};

use self::client::{Failed, TIMEOUT};
use super::input::{self, Location};
use super::output::write_rejection;
use super::{CtlError, EXIT_BAD_INPUT, EXIT_OK, EXIT_REJECTED};
use crate::agent_client::{AgentClient, AgentError};

pub mod client;
pub mod kube;
pub mod table;
pub mod target;

use target::Objects;
pub use target::Target;

/// Arguments of `spiderpoolctl apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// File with the objects: multi-document YAML, a JSON object, array or
    /// `List`; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
}

/// Output format of `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetFormat {
    /// The table with the wide columns.
    Wide,
    /// YAML (a `List` when listing).
    Yaml,
    /// JSON (a `List` with `items` when listing).
    Json,
}

/// Arguments of `spiderpoolctl get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// ippools|subnets|reservedips|endpoints|coordinators|multusconfigs (or
    /// sp, ss, sr, se, scc, smc; also pods, namespaces, nodes).
    #[arg(value_name = "KIND")]
    pub kind: String,
    /// One object's name; all objects when absent.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Namespace of namespaced kinds.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// Every namespace (adds a NAMESPACE column).
    #[arg(short = 'A', long = "all-namespaces", conflicts_with = "name")]
    pub all_namespaces: bool,
    /// Output format; a table when absent.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<GetFormat>,
}

/// Arguments of `spiderpoolctl describe` and `spiderpoolctl delete`.
#[derive(Debug, Args)]
pub struct ObjectArgs {
    /// The kind (as for `get`).
    #[arg(value_name = "KIND")]
    pub kind: String,
    /// The object's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Namespace of namespaced kinds.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

/// Arguments of `spiderpoolctl release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The pod whose addresses are freed, as NAMESPACE/NAME.
    #[arg(long = "pod", value_name = "NS/NAME")]
    pub pod: String,
    /// Only when the allocation belongs to this pod UID.
    #[arg(long = "uid", value_name = "UID", default_value = "")]
    pub uid: String,
}

/// How a failed request ends the command.
enum Failure {
    /// Already reported; exit 1.
    Refused,
    /// Cannot reach the agent, or bad input; exit 2.
    Ctl(CtlError),
}

impl From<CtlError> for Failure {
    fn from(e: CtlError) -> Self {
        Failure::Ctl(e)
    }
}

fn out_err(e: std::io::Error) -> CtlError {
    CtlError::Output(e.to_string())
}

fn finish(result: Result<u8, Failure>, stderr: &mut dyn Write) -> Result<u8, CtlError> {
    match result {
        Ok(code) => Ok(code),
        Err(Failure::Refused) => Ok(EXIT_REJECTED),
        Err(Failure::Ctl(CtlError::Usage(message))) => {
            writeln!(stderr, "error: {message}").map_err(out_err)?;
            Ok(EXIT_BAD_INPUT)
        }
        Err(Failure::Ctl(e)) => Err(e),
    }
}

/// A client of the agent; an unreachable agent is a usage-class failure
/// naming the socket (exit 2).
fn agent(socket: &Path) -> Result<AgentClient, Failure> {
    client::connect(socket).map_err(|e| CtlError::Usage(e.to_string()).into())
}

/// A connection to the target; one that cannot be reached is a usage-class
/// failure naming the socket or kubeconfig (exit 2).
fn open(target: &Target) -> Result<Box<dyn Objects>, Failure> {
    target.open().map_err(|e| CtlError::Usage(e.to_string()).into())
}

/// The refusal of a failed request of the agent client on `socket`.
fn refusal(socket: &Path, e: AgentError) -> Result<(u16, ErrorBody), Failure> {
    refused(client::failed(socket, e))
}

/// The refusal of a failed request (its status and body, to report); an
/// unreachable target is a usage-class failure naming it (exit 2).
fn refused(failed: Failed) -> Result<(u16, ErrorBody), Failure> {
    match failed {
        Failed::Refused { status, body } => Ok((status, body)),
        Failed::Unreachable(u) => Err(CtlError::Usage(u.to_string()).into()),
    }
}

fn reason_for(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "AlreadyExists",
        422 => "Invalid",
        _ => "InternalError",
    }
}

/// Prints an error answer as `kubectl` does: a `Rejection` with its causes,
/// anything else as `Error from server (<Reason>): <message>`.
fn report(
    stderr: &mut dyn Write,
    location: Option<Location>,
    kind: &str,
    name: &str,
    status: u16,
    body: &ErrorBody,
) -> Result<Failure, CtlError> {
    match (body, location) {
        (ErrorBody::Rejection(r), Some(loc)) => write_rejection(stderr, loc, kind, name, r)?,
        (ErrorBody::Rejection(r), None) => {
            let mut text = Vec::new();
            write_rejection(&mut text, Location { doc: 1, item: None }, kind, name, r)?;
            let text = String::from_utf8_lossy(&text).replacen("<doc 1> ", "", 1);
            stderr.write_all(text.as_bytes()).map_err(out_err)?;
        }
        (other, _) => {
            let at = location.map(|l| format!("<{l}> ")).unwrap_or_default();
            writeln!(stderr, "Error from server ({}): {at}{}", reason_for(status), other.message())
                .map_err(out_err)?;
        }
    }
    Ok(Failure::Refused)
}

/// `kubectl`'s name of a kind in messages: `spiderippool.spiderpool.spidernet.io`,
/// `pod`.
fn resource_name(kind: &str, api_version: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    match api_version.split_once('/') {
        Some((group, _)) => format!("{lower}.{group}"),
        None => lower,
    }
}

fn kind_info(kind: &str) -> Result<&'static KindInfo, Failure> {
    kind::lookup(kind).ok_or_else(|| {
        CtlError::Usage(format!(
            "KIND: unknown kind {kind:?} (try ippools, subnets, reservedips, endpoints, coordinators, multusconfigs, or sp, ss, sr, se, scc, smc)"
        ))
        .into()
    })
}

/// The namespace segment of an object of `info`'s kind.
fn namespace_of<'a>(info: &KindInfo, namespace: &'a str) -> &'a str {
    if info.namespaced { namespace } else { NO_NAMESPACE }
}

/// `spiderpoolctl apply -f FILE`: each object is sent on its own, in order;
/// prints `<resource>/<name> created|configured`, or the rejection. Exit 1
/// when any object was refused.
pub fn apply(
    target: &Target,
    args: &ApplyArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let name = input::source_name(&args.file);
        let text = input::read_source(&args.file, stdin)?;
        let docs = input::parse_documents(&name, &text)?;
        if docs.is_empty() {
            return Err(CtlError::Usage(format!("{name}: no objects passed to apply")).into());
        }
        let mut objects = open(target)?;
        let bar = progress(docs.len());
        let mut code = EXIT_OK;
        for doc in &docs {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
            let obj_name =
                doc.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let mut out = Vec::new();
            let mut err = Vec::new();
            match objects.apply(&doc.value) {
                Ok(answer) => {
                    let applied = answer.applied.first();
                    let kind = applied.map_or(kind, |a| a.kind.as_str());
                    let action = match applied.map(|a| a.action) {
                        Some(Action::Created) => "created",
                        _ => "configured",
                    };
                    let api = doc.value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                    writeln!(out, "{}/{obj_name} {action}", resource_name(kind, api))
                        .map_err(out_err)?;
                }
                Err(e) => {
                    let (status, body) = refused(e)?;
                    let location = Some(doc.location);
                    let _refused = report(&mut err, location, kind, obj_name, status, &body)?;
                    code = EXIT_REJECTED;
                }
            }
            let mut write = || -> std::io::Result<()> {
                stdout.write_all(&out)?;
                stdout.flush()?;
                stderr.write_all(&err)
            };
            match &bar {
                Some(bar) => bar.suspend(write),
                None => write(),
            }
            .map_err(out_err)?;
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(code)
    })();
    finish(result, stderr)
}

/// Files with more objects than this show a progress bar (on a terminal).
const PROGRESS_MIN_OBJECTS: usize = 20;

/// A progress bar on standard error for `n` objects, only when standard error
/// is a terminal and `n` is large enough for it to matter.
fn progress(n: usize) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if n <= PROGRESS_MIN_OBJECTS || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(u64::try_from(n).unwrap_or(u64::MAX));
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("applying [{bar:30}] {pos}/{len} {elapsed}")
    {
        bar.set_style(style.progress_chars("#>-"));
    }
    Some(bar)
}

/// `spiderpoolctl get KIND [NAME]`.
pub fn get(
    target: &Target,
    args: &GetArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let info = kind_info(&args.kind)?;
        let mut target = open(target)?;
        let (objects, single) = match &args.name {
            Some(name) => {
                let ns = namespace_of(info, &args.namespace);
                match target.get(info.kind, ns, name) {
                    Ok(object) => (vec![object], true),
                    Err(e) => {
                        let (status, body) = refused(e)?;
                        return Err(report(stderr, None, info.kind, name, status, &body)?);
                    }
                }
            }
            None => {
                let ns = (info.namespaced && !args.all_namespaces).then_some(&*args.namespace);
                match target.list(info.kind, ns) {
                    Ok(items) => (items, false),
                    Err(e) => {
                        let (status, body) = refused(e)?;
                        return Err(report(stderr, None, info.kind, "", status, &body)?);
                    }
                }
            }
        };
        let text = match args.output {
            Some(GetFormat::Json) | Some(GetFormat::Yaml) => {
                let value = if single {
                    objects.into_iter().next().unwrap_or(Value::Null)
                } else {
                    json!({"apiVersion": "v1", "kind": "List", "items": objects})
                };
                if args.output == Some(GetFormat::Json) {
                    let mut t = serde_json::to_string_pretty(&value).map_err(CtlError::output)?;
                    t.push('\n');
                    t
                } else {
                    serde_saphyr::to_string(&value).map_err(CtlError::output)?
                }
            }
            format => {
                if objects.is_empty() {
                    let scope = if info.namespaced && !args.all_namespaces {
                        format!(" in {} namespace", args.namespace)
                    } else {
                        String::new()
                    };
                    writeln!(stderr, "No resources found{scope}.").map_err(out_err)?;
                    return Ok(EXIT_OK);
                }
                let wide = format == Some(GetFormat::Wide);
                table::table(info, &objects, wide, info.namespaced && args.all_namespaces)
            }
        };
        stdout.write_all(text.as_bytes()).map_err(out_err)?;
        Ok(EXIT_OK)
    })();
    finish(result, stderr)
}

/// `spiderpoolctl describe KIND NAME`.
pub fn describe(
    target: &Target,
    args: &ObjectArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let info = kind_info(&args.kind)?;
        let ns = namespace_of(info, &args.namespace);
        let object = match open(target)?.get(info.kind, ns, &args.name) {
            Ok(object) => object,
            Err(e) => {
                let (status, body) = refused(e)?;
                return Err(report(stderr, None, info.kind, &args.name, status, &body)?);
            }
        };
        stdout.write_all(table::describe(info, &object).as_bytes()).map_err(out_err)?;
        Ok(EXIT_OK)
    })();
    finish(result, stderr)
}

/// `spiderpoolctl delete KIND NAME`: prints `<resource> "<name>" deleted`.
pub fn delete(
    target: &Target,
    args: &ObjectArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let info = kind_info(&args.kind)?;
        let ns = namespace_of(info, &args.namespace);
        let outcome = match open(target)?.delete(info.kind, ns, &args.name) {
            Ok(outcome) => outcome,
            Err(e) => {
                let (status, body) = refused(e)?;
                return Err(report(stderr, None, info.kind, &args.name, status, &body)?);
            }
        };
        let resource = resource_name(info.kind, info.api_version);
        let waiting = match (outcome.action, outcome.holding) {
            (Action::Terminating, Some(n)) if info.kind == SpiderSubnet::KIND => {
                format!(" (terminating until its {n} pool(s) holding addresses are gone)")
            }
            (Action::Terminating, Some(n)) => {
                format!(" (terminating until its {n} allocated address(es) are released)")
            }
            _ => String::new(),
        };
        writeln!(stdout, "{resource} {:?} deleted{waiting}", args.name).map_err(out_err)?;
        Ok(EXIT_OK)
    })();
    finish(result, stderr)
}

/// The addresses a pod's SpiderEndpoint records, as (interface, address,
/// pool); none when it has no endpoint (or the agent refuses to say).
fn held(
    socket: &Path,
    agent: &mut AgentClient,
    ns: &str,
    name: &str,
) -> Result<Vec<(String, String, String)>, Failure> {
    let endpoint = match agent.get_object::<SpiderEndpoint>(SpiderEndpoint::KIND, ns, name, TIMEOUT)
    {
        Ok(endpoint) => endpoint,
        Err(e) => {
            let _refused = refusal(socket, e)?;
            return Ok(Vec::new());
        }
    };
    let mut out = Vec::new();
    for d in endpoint.status.current.ips {
        for (ip, pool) in [(d.ipv4, d.ipv4_pool), (d.ipv6, d.ipv6_pool)] {
            if let Some(ip) = ip {
                out.push((d.interface.clone(), ip, pool.unwrap_or_default()));
            }
        }
    }
    Ok(out)
}

/// `spiderpoolctl release --pod NS/NAME [--uid UID]`: frees every address the
/// pod holds (`DELETE /v1/ipam/ips`, StatefulSet members included) and prints
/// what was freed, read from the pod's SpiderEndpoint before.
pub fn release(
    socket: &Path,
    args: &ReleaseArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let Some((ns, name)) =
            args.pod.split_once('/').filter(|(n, p)| !n.is_empty() && !p.is_empty())
        else {
            return Err(
                CtlError::Usage(format!("--pod: {:?} is not NAMESPACE/NAME", args.pod)).into()
            );
        };
        let mut agent = agent(socket)?;
        let before = held(socket, &mut agent, ns, name)?;
        let args = IpamBatchDelArgs {
            pod_namespace: ns.to_string(),
            pod_name: name.to_string(),
            pod_uid: args.uid.clone(),
            ..IpamBatchDelArgs::default()
        };
        if let Err(e) = agent.release_all(&args, TIMEOUT) {
            let (status, body) = refusal(socket, e)?;
            return Err(report(stderr, None, "Pod", name, status, &body)?);
        }
        let after = held(socket, &mut agent, ns, name)?;
        let released: Vec<_> = before.iter().filter(|h| !after.contains(h)).collect();
        if released.is_empty() {
            writeln!(stdout, "pod {ns}/{name}: nothing released").map_err(out_err)?;
        }
        for (nic, ip, pool) in released {
            writeln!(stdout, "pod {ns}/{name}: released {ip} ({nic}, pool {pool})")
                .map_err(out_err)?;
        }
        for (nic, ip, pool) in &after {
            writeln!(stdout, "pod {ns}/{name}: still holds {ip} ({nic}, pool {pool})")
                .map_err(out_err)?;
        }
        Ok(EXIT_OK)
    })();
    finish(result, stderr)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_and_namespaces() {
        assert_eq!(
            resource_name("SpiderIPPool", "spiderpool.spidernet.io/v2beta1"),
            "spiderippool.spiderpool.spidernet.io"
        );
        assert_eq!(resource_name("Pod", "v1"), "pod");
        let info = kind::lookup("se").unwrap();
        assert_eq!(namespace_of(info, "kube system"), "kube system");
        let info = kind::lookup("sp").unwrap();
        assert_eq!(namespace_of(info, "x"), "_");
        assert_eq!(
            resource_name(info.kind, info.api_version),
            "spiderippool.spiderpool.spidernet.io"
        );
    }
}
