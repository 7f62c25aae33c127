//! Printer columns (Spiderpool's `additionalPrinterColumns`), tables laid out
//! as `kubectl get` does, and the `describe` text.

use serde_json::Value;
use spiderpool_core::admission::common::{stored_network, stored_total};
use spiderpool_core::kind::KindInfo;

/// A cell: a value at a JSON pointer rendered as `kubectl` renders a
/// `jsonPath` column (strings bare, arrays and objects as compact JSON, absent
/// or empty as nothing).
fn cell(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A boolean with the CRD's schema default `false` (the API server fills it
/// in; the embedded store keeps the object as applied).
fn flag(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        None | Some(Value::Null) => "false".into(),
        Some(_) => cell(obj, pointer),
    }
}

/// The label `ipam.spidernet.io/app-namespace` of an auto-created pool.
fn app_namespace(obj: &Value) -> String {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get("ipam.spidernet.io/app-namespace"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The node of an endpoint: `status.current.node`, else `ips[0].node`.
fn endpoint_node(obj: &Value) -> String {
    let node = cell(obj, "/status/current/node");
    if node.is_empty() { cell(obj, "/status/current/ips/0/node") } else { node }
}

/// The STATUS column of pools and subnets, as `kubectl get namespaces` shows
/// it: `Terminating` once a deletion is pending (the object waits for its
/// addresses or pools to go), `Active` otherwise.
fn lifecycle(obj: &Value) -> String {
    let terminating = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    if terminating { "Terminating" } else { "Active" }.to_string()
}

/// Column headers and the cells of one object, for `kind` (a canonical kind
/// name). `wide` adds the wide columns.
pub fn columns(kind: &str, wide: bool) -> Vec<&'static str> {
    let mut cols = vec!["NAME"];
    match kind {
        "SpiderIPPool" => {
            cols.extend([
                "VERSION",
                "SUBNET",
                "ALLOCATED-IP-COUNT",
                "TOTAL-IP-COUNT",
                "DEFAULT",
                "STATUS",
            ]);
            if wide {
                cols.extend(["DISABLE", "NODENAME", "MULTUSNAME", "APP-NAMESPACE"]);
            }
        }
        "SpiderSubnet" => {
            cols.extend(["VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "STATUS"]);
        }
        "SpiderReservedIP" => cols.push("VERSION"),
        "SpiderEndpoint" => {
            cols.extend(["INTERFACE", "IPV4POOL", "IPV4", "IPV6POOL", "IPV6", "NODE"]);
        }
        "SpiderCoordinator" => cols.extend(["MODE", "PHASE"]),
        "SpiderMultusConfig" => cols.extend(["CNITYPE", "MASTER"]),
        "Pod" => cols.extend(["NODE", "UID"]),
        _ => {}
    }
    cols
}

/// The cells of one object, matching [`columns`].
pub fn row(kind: &str, obj: &Value, wide: bool) -> Vec<String> {
    let mut cells = vec![cell(obj, "/metadata/name")];
    let c = |p: &str| cell(obj, p);
    match kind {
        "SpiderIPPool" => {
            cells.extend([
                c("/spec/ipVersion"),
                c("/spec/subnet"),
                c("/status/allocatedIPCount"),
                c("/status/totalIPCount"),
                flag(obj, "/spec/default"),
                lifecycle(obj),
            ]);
            if wide {
                cells.extend([
                    flag(obj, "/spec/disable"),
                    c("/spec/nodeName"),
                    c("/spec/multusName"),
                    app_namespace(obj),
                ]);
            }
        }
        "SpiderSubnet" => cells.extend([
            c("/spec/ipVersion"),
            c("/spec/subnet"),
            c("/status/allocatedIPCount"),
            c("/status/totalIPCount"),
            lifecycle(obj),
        ]),
        "SpiderReservedIP" => cells.push(c("/spec/ipVersion")),
        "SpiderEndpoint" => cells.extend([
            c("/status/current/ips/0/interface"),
            c("/status/current/ips/0/ipv4Pool"),
            c("/status/current/ips/0/ipv4"),
            c("/status/current/ips/0/ipv6Pool"),
            c("/status/current/ips/0/ipv6"),
            endpoint_node(obj),
        ]),
        "SpiderCoordinator" => cells.extend([c("/spec/mode"), c("/status/phase")]),
        "SpiderMultusConfig" => {
            let ty = c("/spec/cniType");
            let master =
                if ty.is_empty() { String::new() } else { c(&format!("/spec/{ty}/master")) };
            cells.extend([ty, master]);
        }
        "Pod" => cells.extend([c("/spec/nodeName"), c("/metadata/uid")]),
        _ => {}
    }
    cells
}

/// Lays out a table as `kubectl get` does: every column but the last padded
/// to its widest cell plus three spaces.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            text.push_str(cell);
            if i + 1 < n {
                let pad = widths[i] + 3 - cell.chars().count();
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

/// The table of `objects`, with a NAMESPACE column first when
/// `with_namespace`.
pub fn table(info: &KindInfo, objects: &[Value], wide: bool, with_namespace: bool) -> String {
    let mut header = columns(info.kind, wide);
    if with_namespace {
        header.insert(0, "NAMESPACE");
    }
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            let mut r = row(info.kind, o, wide);
            if with_namespace {
                r.insert(0, cell(o, "/metadata/namespace"));
            }
            r
        })
        .collect();
    render(&header, &rows)
}

/// A usage bar: `[#####---------------] 12/41 (29%)` (20 cells, rounded down).
pub fn usage_bar(allocated: u128, total: u128) -> String {
    const WIDTH: u128 = 20;
    let (filled, percent) = if total > 0 {
        let a = allocated.min(total);
        // Saturating: an IPv6 range may hold up to 2^128 addresses.
        (a.saturating_mul(WIDTH) / total, allocated.saturating_mul(100) / total)
    } else {
        (0, 0)
    };
    let filled = usize::try_from(filled).unwrap_or(0);
    let empty = usize::try_from(WIDTH).unwrap_or(0).saturating_sub(filled);
    format!("[{}{}] {allocated}/{total} ({percent}%)", "#".repeat(filled), "-".repeat(empty))
}

/// The true number of usable addresses of a pool or subnet (`spec.ips` minus
/// `spec.excludeIPs`), computed from its spec: `status.totalIPCount` is an
/// int64 and saturates at 9223372036854775807 (an IPv6 /64 has 2^64). Falls
/// back to `status.totalIPCount` when the spec does not parse.
fn true_total(obj: &Value) -> u128 {
    let strings = |p: &str| -> Vec<String> {
        obj.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let version = obj.pointer("/spec/ipVersion").and_then(Value::as_i64);
    let subnet = obj.pointer("/spec/subnet").and_then(Value::as_str).unwrap_or("");
    match stored_network(version, subnet) {
        Some((family, _)) => {
            stored_total(family, &strings("/spec/ips"), &strings("/spec/excludeIPs")).len()
        }
        None => count(obj, "/status/totalIPCount"),
    }
}

/// A non-negative count at `pointer` (0 when absent).
fn count(obj: &Value, pointer: &str) -> u128 {
    obj.pointer(pointer).and_then(Value::as_u64).map_or(0, u128::from)
}

/// The `Terminating:` line of a pool or subnet being deleted.
fn terminating_line(kind: &str, obj: &Value) -> Option<String> {
    let at = obj.pointer("/metadata/deletionTimestamp").and_then(Value::as_str)?;
    let until = if kind == "SpiderIPPool" {
        let n = count(obj, "/status/allocatedIPCount");
        let noun = if n == 1 { "address is" } else { "addresses are" };
        format!("until its {n} allocated {noun} released")
    } else {
        "until the pools it controls are gone".to_string()
    };
    Some(format!("since {at}, {until}"))
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("<cannot render: {e}>\n"))
}

/// The allocation records of a pool (`status.allocatedIPs`, a JSON string),
/// as a table sorted by address; `None` when there are none.
fn allocations(obj: &Value) -> Option<String> {
    let text = obj.pointer("/status/allocatedIPs").and_then(Value::as_str)?;
    let map: serde_json::Map<String, Value> = serde_json::from_str(text).ok()?;
    if map.is_empty() {
        return None;
    }
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by_key(|(ip, _)| ip.parse::<std::net::IpAddr>().ok());
    let rows: Vec<Vec<String>> = entries
        .into_iter()
        .map(|(ip, rec)| {
            vec![
                ip.clone(),
                cell(rec, "/pod"),
                cell(rec, "/podUid"),
                cell(rec, "/interface"),
                cell(rec, "/containerID"),
                cell(rec, "/node"),
            ]
        })
        .collect();
    Some(render(&["IP", "POD", "POD UID", "INTERFACE", "CONTAINER", "NODE"], &rows))
}

/// The `describe` text of one object: name, namespace, kind, labels and
/// annotations, the spec, then for pools and subnets a usage bar and (pools)
/// the allocation records, then the rest of the status.
pub fn describe(info: &KindInfo, obj: &Value) -> String {
    let mut out = String::new();
    let field = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!("{:<14}{value}\n", format!("{label}:")));
    };
    field(&mut out, "Name", &cell(obj, "/metadata/name"));
    if info.namespaced {
        field(&mut out, "Namespace", &cell(obj, "/metadata/namespace"));
    }
    field(&mut out, "Kind", info.kind);
    field(&mut out, "API Version", &cell(obj, "/apiVersion"));
    for (label, pointer) in
        [("Labels", "/metadata/labels"), ("Annotations", "/metadata/annotations")]
    {
        match obj.pointer(pointer).and_then(Value::as_object).filter(|m| !m.is_empty()) {
            Some(m) => {
                let mut first = true;
                for (k, v) in m {
                    let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    let label = if first { label } else { "" };
                    if first {
                        field(&mut out, label, &format!("{k}={v}"));
                    } else {
                        out.push_str(&format!("{:<14}{k}={v}\n", ""));
                    }
                    first = false;
                }
            }
            None => field(&mut out, label, "<none>"),
        }
    }
    if let Some(spec) = obj.get("spec") {
        out.push_str("Spec:\n");
        out.push_str(&indent(&yaml(spec), 2));
    }
    let mut status = obj.get("status").cloned();
    if matches!(info.kind, "SpiderIPPool" | "SpiderSubnet") {
        if let Some(line) = terminating_line(info.kind, obj) {
            field(&mut out, "Terminating", &line);
        }
        field(
            &mut out,
            "Usage",
            &usage_bar(count(obj, "/status/allocatedIPCount"), true_total(obj)),
        );
    }
    if info.kind == "SpiderIPPool" {
        out.push_str("Allocations:\n");
        match allocations(obj) {
            Some(t) => out.push_str(&indent(&t, 2)),
            None => out.push_str("  <none>\n"),
        }
        if let Some(Value::Object(s)) = status.as_mut() {
            s.remove("allocatedIPs");
        }
    }
    match status {
        Some(Value::Object(s)) if !s.is_empty() => {
            out.push_str("Status:\n");
            out.push_str(&indent(&yaml(&Value::Object(s)), 2));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bar_and_layout() {
        assert_eq!(usage_bar(12, 41), "[#####---------------] 12/41 (29%)");
        assert_eq!(usage_bar(0, 0), "[--------------------] 0/0 (0%)");
        assert_eq!(usage_bar(41, 41), "[####################] 41/41 (100%)");
        let t = render(&["NAME", "V", "LAST"], &[vec!["a".into(), "".into(), "".into()]]);
        assert_eq!(t, "NAME   V   LAST\na\n");
    }

    #[test]
    fn describe_shows_the_true_size_of_a_saturated_ipv6_pool() {
        let info = spiderpool_core::kind::lookup("sp").unwrap();
        let pool = serde_json::json!({"metadata": {"name": "v6"},
            "spec": {"ipVersion": 6, "subnet": "fd00::/64", "ips": ["fd00::-fd00::ffff:ffff:ffff:ffff"],
                     "excludeIPs": ["fd00::"]},
            "status": {"allocatedIPCount": 3, "totalIPCount": i64::MAX}});
        let text = describe(info, &pool);
        assert!(text.contains("3/18446744073709551615 (0%)"), "{text}");
        assert!(!text.contains("9223372036854775807 ("), "{text}");
    }

    #[test]
    fn terminating_pools_and_subnets_show_it() {
        let info = spiderpool_core::kind::lookup("sp").unwrap();
        let pool = serde_json::json!({"metadata": {"name": "p",
            "deletionTimestamp": "2025-01-01T00:00:00Z", "finalizers": ["spiderpool.spidernet.io"]},
            "spec": {"ipVersion": 4, "subnet": "10.6.0.0/16", "ips": ["10.6.0.1-10.6.0.9"]},
            "status": {"allocatedIPCount": 2, "totalIPCount": 9}});
        assert_eq!(row("SpiderIPPool", &pool, false)[6], "Terminating");
        let text = describe(info, &pool);
        assert!(
            text.contains("Terminating:  since 2025-01-01T00:00:00Z, until its 2 allocated addresses are released"),
            "{text}"
        );
        let live = serde_json::json!({"metadata": {"name": "q"}, "spec": {}});
        assert_eq!(row("SpiderIPPool", &live, false)[6], "Active");
        assert_eq!(row("SpiderSubnet", &live, false)[5], "Active");
    }

    #[test]
    fn rows_of_the_other_kinds() {
        let subnet = serde_json::json!({"metadata": {"name": "s"},
            "spec": {"ipVersion": 6, "subnet": "fd00::/64"},
            "status": {"allocatedIPCount": 3, "totalIPCount": 10}});
        assert_eq!(
            row("SpiderSubnet", &subnet, false),
            ["s", "6", "fd00::/64", "3", "10", "Active"]
        );
        let sr = serde_json::json!({"metadata": {"name": "r"}, "spec": {"ipVersion": 4}});
        assert_eq!(row("SpiderReservedIP", &sr, true), ["r", "4"]);
        let scc = serde_json::json!({"metadata": {"name": "default"},
            "spec": {"mode": "auto"}, "status": {"phase": "Synced"}});
        assert_eq!(row("SpiderCoordinator", &scc, false), ["default", "auto", "Synced"]);
        let pool = serde_json::json!({"metadata": {"name": "p",
            "labels": {"ipam.spidernet.io/app-namespace": "team"}},
            "spec": {"ipVersion": 4, "subnet": "10.6.0.0/16", "default": true,
                     "nodeName": ["n1", "n2"], "multusName": []}});
        assert_eq!(
            row("SpiderIPPool", &pool, true),
            [
                "p",
                "4",
                "10.6.0.0/16",
                "",
                "",
                "true",
                "Active",
                "false",
                "[\"n1\",\"n2\"]",
                "",
                "team"
            ]
        );
        assert_eq!(columns("SpiderIPPool", true).len(), 11);
        let ep = serde_json::json!({"metadata": {"name": "e"}, "status": {"current": {
            "ips": [{"interface": "net1", "ipv6": "fd00::2/64", "ipv6Pool": "v6", "node": "n9"}]}}});
        assert_eq!(
            row("SpiderEndpoint", &ep, false),
            ["e", "net1", "", "", "v6", "fd00::2/64", "n9"]
        );
    }
}
