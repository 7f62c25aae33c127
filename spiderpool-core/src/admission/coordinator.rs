//! SpiderCoordinator admission (reference §2.6).
//!
//! The rules for a [`CoordinatorSpec`] are public ([`validate_coordinator_spec`],
//! [`default_coordinator_spec`]) because the same spec is the `coordinator`
//! block of a SpiderMultusConfig, validated there with `podCIDRType` optional.
//!
//! Where we deliberately do better than Go's `ValidateCoordinatorSpec`:
//!
//! - every field error is reported, not only the first;
//! - `hijackCIDR` errors name `spec.hijackCIDR[i]` (Go names the field's old
//!   name, `spec.extraCIDR[i]`);
//! - a missing `podCIDRType` / `podRPFilter` is a `Required` error (Go reports
//!   `Unsupported value: ""`);
//! - `policyRoutes` are checked (`dst` an IP or CIDR, `gw` an IP of the same
//!   family); Go only checks them in the plugin, at pod creation;
//! - `vethLinkAddress` must be an IPv4 link-local address (169.254.0.0/16), as
//!   the CRD documentation says; Go only checks that it parses;
//! - `vethMTU` must lie in 68..=65535, `txQueueLen` in 0..=4294967295 and
//!   `hostRuleTable` in 1..=4294967295 but not 253, 254 or 255 (the kernel's
//!   `default`, `main` and `local` tables): values outside these ranges are
//!   rejected by the kernel when the pod is set up, or would overwrite the
//!   node's own routing tables; Go accepts them and fails later;
//! - `podDefaultRouteNIC`, when set, must be a valid interface name.

use std::net::IpAddr;

use super::{Context, FieldError, Operation, Rejection};
use crate::ip::{self, IpFamily, canonical_cidr_string};
use crate::model::{CoordinatorMode, CoordinatorSpec, FINALIZER, PodCidrType, SpiderCoordinator};

/// Default of `mode`.
pub const DEFAULT_MODE: &str = CoordinatorSpec::DEFAULT_MODE;
/// Smallest `vethMTU` the kernel accepts for a veth (`ETH_MIN_MTU`).
pub const MIN_VETH_MTU: i64 = 68;
/// Largest `vethMTU` the kernel accepts for a veth (`ETH_MAX_MTU`).
pub const MAX_VETH_MTU: i64 = 65535;
/// Routing tables `hostRuleTable` may not name: `default` (253), `main` (254)
/// and `local` (255).
pub const RESERVED_ROUTE_TABLES: [i64; 3] = [253, 254, 255];
/// `podRPFilter` values other than "negative" (leave it).
pub const POD_RP_FILTER_VALUES: [&str; 3] = ["0", "1", "2"];

/// The SpiderCoordinator defaults, applied to fields that are absent: `mode`
/// `auto`, `tunePodRoutes` true, `hostRuleTable` 500, `podRPFilter` 0,
/// `txQueueLen` 0, `vethMTU` 1500, and `""` for `podDefaultRouteNIC`,
/// `podMACPrefix` and `vethLinkAddress` (as Spiderpool stores them). Then
/// [`normalize_coordinator_spec`]. `podCIDRType` has no default. Idempotent.
pub fn default_coordinator_spec(spec: &mut CoordinatorSpec) {
    spec.mode.get_or_insert_with(|| DEFAULT_MODE.to_owned());
    spec.tune_pod_routes.get_or_insert(CoordinatorSpec::DEFAULT_TUNE_POD_ROUTES);
    spec.host_rule_table.get_or_insert(CoordinatorSpec::DEFAULT_HOST_RULE_TABLE);
    spec.pod_rp_filter.get_or_insert(CoordinatorSpec::DEFAULT_POD_RP_FILTER);
    spec.tx_queue_len.get_or_insert(CoordinatorSpec::DEFAULT_TX_QUEUE_LEN);
    spec.veth_mtu.get_or_insert(CoordinatorSpec::DEFAULT_VETH_MTU);
    spec.pod_default_route_nic.get_or_insert_with(String::new);
    spec.pod_mac_prefix.get_or_insert_with(String::new);
    spec.veth_link_address.get_or_insert_with(String::new);
    normalize_coordinator_spec(spec);
}

/// Rewrites every parseable `hijackCIDR` entry and `policyRoutes[].dst` as a
/// canonical CIDR: a bare IP becomes `/32` or `/128`, host bits are cleared,
/// IPv6 is printed in RFC 5952 form. Entries that do not parse are left as
/// they are, for validation to report. Idempotent.
///
/// Go normalises only bare IPs of `hijackCIDR`; clearing host bits too means
/// the stored value is the route the plugin really installs.
pub fn normalize_coordinator_spec(spec: &mut CoordinatorSpec) {
    for cidr in &mut spec.hijack_cidr {
        if let Ok(net) = ip::normalize_ip_or_cidr(cidr) {
            *cidr = canonical_cidr_string(&net);
        }
    }
    for route in &mut spec.policy_routes {
        if let Ok(net) = ip::normalize_ip_or_cidr(&route.dst) {
            route.dst = canonical_cidr_string(&net);
        }
    }
}

/// Every field error of a coordinator spec. `path` is where the spec lives
/// (`spec` for a SpiderCoordinator, `spec.coordinator` in a
/// SpiderMultusConfig); `require_pod_cidr_type` makes `podCIDRType` and
/// `podRPFilter` required (true for a SpiderCoordinator, as in Go).
///
/// One check per field, in the order of the fields; each reports at most one
/// error per value, so every problem is listed.
pub fn validate_coordinator_spec(
    spec: &CoordinatorSpec,
    path: &str,
    require_pod_cidr_type: bool,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(mode_error(path, spec.mode.as_deref()));
    errs.extend(pod_cidr_type_error(path, spec.pod_cidr_type.as_deref(), require_pod_cidr_type));
    errs.extend(hijack_cidr_errors(path, &spec.hijack_cidr));
    for (i, route) in spec.policy_routes.iter().enumerate() {
        errs.extend(validate_policy_route(&format!("{path}.policyRoutes[{i}]"), route));
    }
    errs.extend(mac_prefix_error(path, spec.pod_mac_prefix.as_deref()));
    errs.extend(default_route_nic_error(path, spec.pod_default_route_nic.as_deref()));
    errs.extend(host_rule_table_error(path, spec.host_rule_table));
    errs.extend(pod_rp_filter_error(path, spec.pod_rp_filter, require_pod_cidr_type));
    errs.extend(tx_queue_len_error(path, spec.tx_queue_len));
    errs.extend(veth_link_address_error(path, spec.veth_link_address.as_deref()));
    errs.extend(veth_mtu_error(path, spec.veth_mtu));
    errs
}

/// `mode`: one of [`CoordinatorMode::WIRE_VALUES`] when set.
fn mode_error(path: &str, mode: Option<&str>) -> Option<FieldError> {
    let mode = mode?;
    mode.parse::<CoordinatorMode>().is_err().then(|| {
        FieldError::not_supported(format!("{path}.mode"), mode, CoordinatorMode::WIRE_VALUES)
    })
}

/// `podCIDRType`: one of [`PodCidrType::WIRE_VALUES`]; required when `required`.
fn pod_cidr_type_error(path: &str, value: Option<&str>, required: bool) -> Option<FieldError> {
    let field = format!("{path}.podCIDRType");
    match value {
        None if required => {
            Some(FieldError::required(field, supported_message(PodCidrType::WIRE_VALUES)))
        }
        Some(t) if t.parse::<PodCidrType>().is_err() => {
            Some(FieldError::not_supported(field, t, PodCidrType::WIRE_VALUES))
        }
        _ => None,
    }
}

/// `hijackCIDR`: every item an IP or CIDR, one error per bad item.
fn hijack_cidr_errors(path: &str, cidrs: &[String]) -> Vec<FieldError> {
    cidrs
        .iter()
        .enumerate()
        .filter_map(|(i, cidr)| {
            ip::normalize_ip_or_cidr(cidr).err().map(|e| {
                FieldError::invalid(format!("{path}.hijackCIDR[{i}]"), cidr, e.to_string())
            })
        })
        .collect()
}

/// `podMACPrefix`: when non-empty, two hex bytes with a unicast first byte.
fn mac_prefix_error(path: &str, prefix: Option<&str>) -> Option<FieldError> {
    let prefix = prefix.filter(|p| !p.is_empty())?;
    let message = check_mac_prefix(prefix).err()?;
    Some(FieldError::invalid(format!("{path}.podMACPrefix"), prefix, message))
}

/// `podDefaultRouteNIC`: when non-empty, a valid interface name.
fn default_route_nic_error(path: &str, nic: Option<&str>) -> Option<FieldError> {
    let nic = nic.filter(|n| !n.is_empty())?;
    let message = check_interface_name(nic).err()?;
    Some(FieldError::invalid(format!("{path}.podDefaultRouteNIC"), nic, message))
}

/// `hostRuleTable`: a kernel table id (1..=4294967295) other than the kernel's
/// own tables ([`RESERVED_ROUTE_TABLES`]).
fn host_rule_table_error(path: &str, table: Option<i64>) -> Option<FieldError> {
    let table = table?;
    let message = if table <= 0 || table > i64::from(u32::MAX) {
        "must be between 1 and 4294967295"
    } else if RESERVED_ROUTE_TABLES.contains(&table) {
        "must not be one of the kernel's tables 253 (default), 254 (main) or 255 (local)"
    } else {
        return None;
    };
    Some(FieldError::invalid(format!("{path}.hostRuleTable"), table, message))
}

/// `podRPFilter`: 0, 1, 2 or negative (leave it); required when `required`.
fn pod_rp_filter_error(path: &str, filter: Option<i64>, required: bool) -> Option<FieldError> {
    let field = format!("{path}.podRPFilter");
    match filter {
        None if required => Some(FieldError::required(
            field,
            "supported values: \"0\", \"1\", \"2\", or negative to leave it",
        )),
        Some(f) if f > 2 => Some(FieldError::not_supported(field, f, &POD_RP_FILTER_VALUES)),
        _ => None,
    }
}

/// `txQueueLen`: 0..=4294967295.
fn tx_queue_len_error(path: &str, len: Option<i64>) -> Option<FieldError> {
    let len = len?;
    let message = if len < 0 {
        "must not be negative"
    } else if len > i64::from(u32::MAX) {
        "must be at most 4294967295"
    } else {
        return None;
    };
    Some(FieldError::invalid(format!("{path}.txQueueLen"), len, message))
}

/// `vethLinkAddress`: when non-empty, an IPv4 link-local address.
fn veth_link_address_error(path: &str, addr: Option<&str>) -> Option<FieldError> {
    let addr = addr.filter(|a| !a.is_empty())?;
    let message = check_veth_link_address(addr).err()?;
    Some(FieldError::invalid(format!("{path}.vethLinkAddress"), addr, message))
}

/// `vethMTU`: [`MIN_VETH_MTU`]..=[`MAX_VETH_MTU`].
fn veth_mtu_error(path: &str, mtu: Option<i64>) -> Option<FieldError> {
    let mtu = mtu?;
    let field = format!("{path}.vethMTU");
    if mtu <= 0 {
        Some(FieldError::invalid(field, mtu, "must be greater than 0"))
    } else if !(MIN_VETH_MTU..=MAX_VETH_MTU).contains(&mtu) {
        let message = format!("must be between {MIN_VETH_MTU} and {MAX_VETH_MTU}");
        Some(FieldError::invalid(field, mtu, message))
    } else {
        None
    }
}

fn supported_message(values: &[&str]) -> String {
    let list = values.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    format!("supported values: {list}")
}

/// One `policyRoutes` item: `dst` an IP or CIDR, `gw` an IP, same family.
fn validate_policy_route(path: &str, route: &crate::model::Route) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let dst = if route.dst.is_empty() {
        errs.push(FieldError::required(format!("{path}.dst"), "an IP or CIDR"));
        None
    } else {
        match ip::normalize_ip_or_cidr(&route.dst) {
            Ok(net) => Some(net),
            Err(e) => {
                errs.push(FieldError::invalid(format!("{path}.dst"), &route.dst, e.to_string()));
                None
            }
        }
    };
    let gw = if route.gw.is_empty() {
        errs.push(FieldError::required(format!("{path}.gw"), "an IP address"));
        None
    } else {
        match ip::parse_ip(&route.gw) {
            Ok(gw) => Some(gw),
            Err(e) => {
                errs.push(FieldError::invalid(format!("{path}.gw"), &route.gw, e.to_string()));
                None
            }
        }
    };
    if let (Some(dst), Some(gw)) = (dst, gw) {
        let dst_family = ip::family_of_cidr(&dst);
        let gw_family = IpFamily::of(&gw);
        if dst_family != gw_family {
            errs.push(FieldError::invalid(
                format!("{path}.gw"),
                &route.gw,
                format!("is {gw_family} but dst {} is {dst_family}", route.dst),
            ));
        }
    }
    errs
}

/// `hh:hh` with hex digits, and the first byte unicast (lowest bit 0).
fn check_mac_prefix(prefix: &str) -> Result<(), String> {
    let invalid = || "not a valid MAC prefix: expected two hex bytes like \"0a:1b\"".to_owned();
    let (first, second) = prefix.split_once(':').ok_or_else(invalid)?;
    let byte = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u8::from_str_radix(s, 16).ok())
            .flatten()
    };
    let first = byte(first).ok_or_else(invalid)?;
    byte(second).ok_or_else(invalid)?;
    if first & 1 != 0 {
        return Err("not a unicast MAC: the lowest bit of the first byte must be 0".to_owned());
    }
    Ok(())
}

/// Linux's `dev_valid_name` ([`crate::name::interface_name`]), the reason
/// as text for a field error.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    crate::name::interface_name(name).map_err(|e| e.to_string())
}

/// An IPv4 link-local address (169.254.0.0/16).
fn check_veth_link_address(addr: &str) -> Result<(), String> {
    match ip::parse_ip(addr) {
        Err(_) => Err("not a valid IP address".to_owned()),
        Ok(IpAddr::V4(v4)) if v4.is_link_local() => Ok(()),
        Ok(_) => Err("must be an IPv4 link-local address (169.254.0.0/16)".to_owned()),
    }
}

/// Defaulting (CREATE and UPDATE): [`default_coordinator_spec`] and the
/// finalizer. A terminating object and DELETE are left alone. `podCIDRType` is
/// not defaulted; validation reports it missing. Never fails.
pub fn mutate(
    obj: &mut SpiderCoordinator,
    op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    if op == Operation::Delete || obj.metadata.is_terminating() {
        return Ok(());
    }
    default_coordinator_spec(&mut obj.spec);
    let finalizers = obj.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == FINALIZER) {
        finalizers.push(FINALIZER.to_owned());
    }
    Ok(())
}

/// Validation: CREATE and UPDATE check the new spec with
/// [`validate_coordinator_spec`] (`podCIDRType` required); DELETE is always
/// allowed, as in Go.
pub fn validate(
    op: Operation,
    new: Option<&SpiderCoordinator>,
    _old: Option<&SpiderCoordinator>,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    let (Operation::Create | Operation::Update, Some(new)) = (op, new) else {
        return Ok(());
    };
    Rejection::check(
        SpiderCoordinator::KIND,
        new.metadata.name_str(),
        validate_coordinator_spec(&new.spec, "spec", true),
    )
}

#[cfg(test)]
mod tests;
