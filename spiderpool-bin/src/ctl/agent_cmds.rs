//! `spiderpoolctl` against a running agent, over its unix socket (`--socket`):
//! `apply`, `get`, `describe`, `delete` and `release`.
//!
//! Exit codes: 0 success; 1 the agent refused (admission rejection, not
//! found, a failed release); 2 the agent cannot be reached (the message names
//! the socket), or the input or flags are bad.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use spiderpool_core::admission::{FieldError, FieldErrorType, Rejection, StatusReason};

use super::input::{self, Location};
use super::output::write_rejection;
use super::{CtlError, EXIT_BAD_INPUT, EXIT_OK, EXIT_REJECTED};
use crate::agent::admin::{KindInfo, lookup_kind};

pub mod client;
pub mod table;

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

/// One request; an unreachable agent becomes a usage-class failure naming the
/// socket (exit 2).
fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), Failure> {
    client::call(socket, method, path, body).map_err(|e| CtlError::Usage(e.to_string()).into())
}

fn message_of(body: &Value) -> String {
    match body {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string()),
        other => other.to_string(),
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

/// An admission `Rejection` decoded from the agent's JSON answer.
fn decode_rejection(body: &Value) -> Option<Rejection> {
    let obj = body.as_object()?;
    let reason = match obj.get("reason")?.as_str()? {
        "Invalid" => StatusReason::Invalid,
        "Forbidden" => StatusReason::Forbidden,
        "AlreadyExists" => StatusReason::AlreadyExists,
        "BadRequest" => StatusReason::BadRequest,
        _ => return None,
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let causes = obj
        .get("causes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| FieldError {
                    field: s(c, "field"),
                    kind: match c.get("type").and_then(Value::as_str) {
                        Some("FieldValueRequired") => FieldErrorType::Required,
                        Some("FieldValueForbidden") => FieldErrorType::Forbidden,
                        Some("FieldValueNotSupported") => FieldErrorType::NotSupported,
                        Some("FieldValueDuplicate") => FieldErrorType::Duplicate,
                        _ => FieldErrorType::Invalid,
                    },
                    value: c.get("badValue").cloned(),
                    message: s(c, "detail"),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Rejection {
        reason,
        kind: s(body, "kind"),
        name: s(body, "name"),
        message: s(body, "message"),
        causes,
    })
}

/// Prints an error answer as `kubectl` does: a `Rejection` with its causes,
/// anything else as `Error from server (<Reason>): <message>`.
fn report(
    stderr: &mut dyn Write,
    location: Option<Location>,
    kind: &str,
    name: &str,
    status: u16,
    body: &Value,
) -> Result<Failure, CtlError> {
    match (decode_rejection(body), location) {
        (Some(r), Some(loc)) => write_rejection(stderr, loc, kind, name, &r)?,
        (Some(r), None) => {
            let mut text = Vec::new();
            write_rejection(&mut text, Location { doc: 1, item: None }, kind, name, &r)?;
            let text = String::from_utf8_lossy(&text).replacen("<doc 1> ", "", 1);
            stderr.write_all(text.as_bytes()).map_err(out_err)?;
        }
        (None, _) => {
            let at = location.map(|l| format!("<{l}> ")).unwrap_or_default();
            writeln!(
                stderr,
                "Error from server ({}): {at}{}",
                reason_for(status),
                message_of(body)
            )
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

fn api_version_of(kind: &str) -> &'static str {
    match kind {
        "SpiderIPPool" | "SpiderSubnet" | "SpiderReservedIP" | "SpiderEndpoint"
        | "SpiderMultusConfig" | "SpiderCoordinator" => "spiderpool.spidernet.io/v2beta1",
        "NetworkAttachmentDefinition" => "k8s.cni.cncf.io/v1",
        "StatefulSet" | "ReplicaSet" | "Deployment" | "DaemonSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "v1",
    }
}

fn kind_info(kind: &str) -> Result<&'static KindInfo, Failure> {
    lookup_kind(kind).ok_or_else(|| {
        CtlError::Usage(format!(
            "KIND: unknown kind {kind:?} (try ippools, subnets, reservedips, endpoints, coordinators, multusconfigs, or sp, ss, sr, se, scc, smc)"
        ))
        .into()
    })
}

fn object_path(info: &KindInfo, namespace: &str, name: &str) -> String {
    let ns = if info.namespaced { namespace } else { "_" };
    format!("/v1/admin/objects/{}/{}/{}", info.kind, segment(ns), segment(name))
}

/// Percent-encodes what cannot appear in a path segment.
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `spiderpoolctl apply -f FILE`: each object is sent on its own, in order;
/// prints `<resource>/<name> created|configured`, or the rejection. Exit 1
/// when any object was refused.
pub fn apply(
    socket: &Path,
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
        let bar = progress(docs.len());
        let mut code = EXIT_OK;
        for doc in &docs {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
            let obj_name =
                doc.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let (status, body) = call(socket, "PUT", "/v1/admin/objects", Some(&doc.value))?;
            let mut out = Vec::new();
            let mut err = Vec::new();
            if (200..300).contains(&status) {
                let applied = body.pointer("/applied/0").unwrap_or(&Value::Null);
                let kind = applied.get("kind").and_then(Value::as_str).unwrap_or(kind);
                let action = applied.get("action").and_then(Value::as_str).unwrap_or("configured");
                let api = doc.value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                writeln!(out, "{}/{obj_name} {action}", resource_name(kind, api))
                    .map_err(out_err)?;
            } else {
                let _refused = report(&mut err, Some(doc.location), kind, obj_name, status, &body)?;
                code = EXIT_REJECTED;
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
    socket: &Path,
    args: &GetArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let info = kind_info(&args.kind)?;
        let (objects, single) = match &args.name {
            Some(name) => {
                let (status, body) =
                    call(socket, "GET", &object_path(info, &args.namespace, name), None)?;
                if !(200..300).contains(&status) {
                    return Err(report(stderr, None, info.kind, name, status, &body)?);
                }
                (vec![body], true)
            }
            None => {
                let mut path = format!("/v1/admin/objects/{}", info.kind);
                if info.namespaced && !args.all_namespaces {
                    path.push_str(&format!("?namespace={}", segment(&args.namespace)));
                }
                let (status, body) = call(socket, "GET", &path, None)?;
                if !(200..300).contains(&status) {
                    return Err(report(stderr, None, info.kind, "", status, &body)?);
                }
                let items = match body.get("items") {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
                (items, false)
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
    socket: &Path,
    args: &ObjectArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let info = kind_info(&args.kind)?;
        let (status, body) =
            call(socket, "GET", &object_path(info, &args.namespace, &args.name), None)?;
        if !(200..300).contains(&status) {
            return Err(report(stderr, None, info.kind, &args.name, status, &body)?);
        }
        stdout.write_all(table::describe(info, &body).as_bytes()).map_err(out_err)?;
        Ok(EXIT_OK)
    })();
    finish(result, stderr)
}

/// `spiderpoolctl delete KIND NAME`: prints `<resource> "<name>" deleted`.
pub fn delete(
    socket: &Path,
    args: &ObjectArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let result = (|| {
        let info = kind_info(&args.kind)?;
        let (status, body) =
            call(socket, "DELETE", &object_path(info, &args.namespace, &args.name), None)?;
        if !(200..300).contains(&status) {
            return Err(report(stderr, None, info.kind, &args.name, status, &body)?);
        }
        let resource = resource_name(info.kind, api_version_of(info.kind));
        let waiting = match (body["action"].as_str(), body["holding"].as_u64()) {
            (Some("terminating"), Some(n)) if info.kind == "SpiderSubnet" => {
                format!(" (terminating until its {n} pool(s) holding addresses are gone)")
            }
            (Some("terminating"), Some(n)) => {
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
/// pool); none when it has no endpoint.
fn held(socket: &Path, ns: &str, name: &str) -> Result<Vec<(String, String, String)>, Failure> {
    let path = format!("/v1/admin/objects/SpiderEndpoint/{}/{}", segment(ns), segment(name));
    let (status, endpoint) = call(socket, "GET", &path, None)?;
    if !(200..300).contains(&status) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for d in endpoint.pointer("/status/current/ips").and_then(Value::as_array).into_iter().flatten()
    {
        let nic = d.get("interface").and_then(Value::as_str).unwrap_or("");
        for (ip_key, pool_key) in [("ipv4", "ipv4Pool"), ("ipv6", "ipv6Pool")] {
            if let Some(ip) = d.get(ip_key).and_then(Value::as_str) {
                let pool = d.get(pool_key).and_then(Value::as_str).unwrap_or("");
                out.push((nic.to_string(), ip.to_string(), pool.to_string()));
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
        let before = held(socket, ns, name)?;
        let body = json!({
            "containerID": "",
            "podNamespace": ns,
            "podName": name,
            "podUID": args.uid,
        });
        let (status, answer) = call(socket, "DELETE", "/v1/ipam/ips", Some(&body))?;
        if !(200..300).contains(&status) {
            return Err(report(stderr, None, "Pod", name, status, &answer)?);
        }
        let after = held(socket, ns, name)?;
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
    fn names_and_paths() {
        assert_eq!(
            resource_name("SpiderIPPool", "spiderpool.spidernet.io/v2beta1"),
            "spiderippool.spiderpool.spidernet.io"
        );
        assert_eq!(resource_name("Pod", "v1"), "pod");
        let info = lookup_kind("se").unwrap();
        assert_eq!(
            object_path(info, "kube system", "a/b"),
            "/v1/admin/objects/SpiderEndpoint/kube%20system/a%2Fb"
        );
        let info = lookup_kind("sp").unwrap();
        assert_eq!(object_path(info, "x", "10-6-v4"), "/v1/admin/objects/SpiderIPPool/_/10-6-v4");
    }

    #[test]
    fn rejection_round_trip() {
        let r = Rejection::invalid(
            "SpiderIPPool",
            "x",
            vec![FieldError::invalid("spec.ips[0]", "10.7.0.1", "not in subnet")],
        );
        let back = decode_rejection(&serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
