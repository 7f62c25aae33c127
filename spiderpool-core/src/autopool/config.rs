//! The pod (and workload pod-template) annotations that ask for auto-pools:
//! `ipam.spidernet.io/subnet`, `ipam.spidernet.io/subnets`,
//! `ipam.spidernet.io/ippool-ip-number` and `ipam.spidernet.io/ippool-reclaim`
//! (Go `GetSubnetAnnoConfig`, `mutateAndValidateSubnetAnno`,
//! `GetPoolIPNumber`, `ShouldReclaimIPPool`).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::annotation::json;
use crate::annotation::{
    ANNO_IPPOOL_IP_NUMBER, ANNO_IPPOOL_RECLAIM, ANNO_SUBNET, ANNO_SUBNETS, AnnotationError,
    validate_ifname,
};
use crate::ip::IpFamily;

/// The interface a `subnet` item without `interface` is for.
pub const DEFAULT_INTERFACE: &str = "eth0";

/// One NIC's choice of SpiderSubnets: an item of `ipam.spidernet.io/subnets`,
/// or the value of `ipam.spidernet.io/subnet`.
///
/// Only the first subnet of each family is kept, as Spiderpool does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetChoice {
    /// The NIC (`interface`; `eth0` when a `subnet` value names none).
    pub interface: String,
    /// The IPv4 SpiderSubnet (first entry of `ipv4`).
    pub ipv4: Option<String>,
    /// The IPv6 SpiderSubnet (first entry of `ipv6`).
    pub ipv6: Option<String>,
}

impl SubnetChoice {
    /// The subnet of `family`, if the item names one.
    pub fn subnet(&self, family: IpFamily) -> Option<&str> {
        match family {
            IpFamily::V4 => self.ipv4.as_deref(),
            IpFamily::V6 => self.ipv6.as_deref(),
        }
    }

    /// The (family, subnet) pairs to carve pools from, in the order IPv4,
    /// IPv6, for the enabled families (Go `processNext`): an enabled family
    /// the item names no subnet for is an error; a subnet of a disabled
    /// family is ignored. `annotation` names the annotation the item came
    /// from, for the error.
    pub fn subnets_for(
        &self,
        annotation: &str,
        enable_ipv4: bool,
        enable_ipv6: bool,
    ) -> Result<Vec<(IpFamily, &str)>, AnnotationError> {
        let mut out = Vec::with_capacity(2);
        for (family, enabled) in [(IpFamily::V4, enable_ipv4), (IpFamily::V6, enable_ipv6)] {
            if !enabled {
                continue;
            }
            match self.subnet(family) {
                Some(subnet) => out.push((family, subnet)),
                None => {
                    return Err(AnnotationError::invalid(
                        annotation,
                        &self.interface,
                        format!(
                            "interface {:?} names no {family} SpiderSubnet, but {family} is \
                             enabled",
                            self.interface
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Size of an auto-created pool (`ipam.spidernet.io/ippool-ip-number`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpNumber {
    /// `"N"`: exactly `N` addresses, whatever the replicas.
    Fixed(u64),
    /// `"+N"`: the application's replicas plus `N` spare addresses.
    Flexible(u64),
}

impl fmt::Display for IpNumber {
    /// The annotation form Spiderpool writes on the pool: `N` or `+N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpNumber::Fixed(n) => write!(f, "{n}"),
            IpNumber::Flexible(n) => write!(f, "+{n}"),
        }
    }
}

/// Everything the auto-pool annotations of one pod template say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPoolConfig {
    /// The annotation the NICs came from: [`ANNO_SUBNETS`] or [`ANNO_SUBNET`].
    pub source: &'static str,
    /// One entry per NIC, in the annotation's order; interfaces are unique
    /// and no subnet serves two NICs.
    pub nics: Vec<SubnetChoice>,
    /// The pool size rule.
    pub ip_number: IpNumber,
    /// Delete the pools with the application (`ippool-reclaim`, default true).
    pub reclaim: bool,
}

impl AutoPoolConfig {
    /// The item for NIC `nic`. With `ipam.spidernet.io/subnets` the NIC must
    /// be listed; with `ipam.spidernet.io/subnet` the value must be for that
    /// NIC (its `interface`, `eth0` by default) — Go uses the single item for
    /// any NIC and then waits for a pool that is never created.
    pub fn for_nic(&self, nic: &str) -> Result<&SubnetChoice, AnnotationError> {
        if let Some(item) = self.nics.iter().find(|item| item.interface == nic) {
            return Ok(item);
        }
        let listed: Vec<&str> = self.nics.iter().map(|i| i.interface.as_str()).collect();
        Err(AnnotationError::invalid(
            self.source,
            nic,
            format!("interface {nic:?} is not listed (the value is for {listed:?})"),
        ))
    }
}

/// Reads the auto-pool annotations from a pod's (or pod template's)
/// annotations, as Go `GetSubnetAnnoConfig` does.
///
/// `Ok(None)` when neither `ipam.spidernet.io/subnets` nor
/// `ipam.spidernet.io/subnet` is present (`subnets` wins when both are).
/// Without `ippool-ip-number` the size is flexible with
/// `default_flexible` spare addresses (the cluster's
/// `clusterSubnetAutoPoolDefaultRedundantIPNumber`); without
/// `ippool-reclaim` pools are reclaimed.
pub fn parse_auto_pool_config(
    annotations: &BTreeMap<String, String>,
    default_flexible: u64,
) -> Result<Option<AutoPoolConfig>, AnnotationError> {
    let (source, nics) = if let Some(v) = annotations.get(ANNO_SUBNETS) {
        (ANNO_SUBNETS, parse_subnets(v)?)
    } else if let Some(v) = annotations.get(ANNO_SUBNET) {
        (ANNO_SUBNET, vec![parse_subnet(v)?])
    } else {
        return Ok(None);
    };
    let ip_number = match annotations.get(ANNO_IPPOOL_IP_NUMBER) {
        Some(v) => parse_ip_number(v)?,
        None => IpNumber::Flexible(default_flexible),
    };
    let reclaim = match annotations.get(ANNO_IPPOOL_RECLAIM) {
        Some(v) => parse_reclaim(v)?,
        None => true,
    };
    Ok(Some(AutoPoolConfig { source, nics, ip_number, reclaim }))
}

/// Parses `ipam.spidernet.io/subnet`:
/// `{"interface":"eth0","ipv4":["subnet-a"],"ipv6":["subnet-b"]}`.
///
/// `interface` defaults to `eth0`; at least one family must name a subnet;
/// only the first subnet of a family is used and it must not be empty.
pub fn parse_subnet(value: &str) -> Result<SubnetChoice, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(ANNO_SUBNET, value, reason);
    let o = match json::parse(ANNO_SUBNET, value)? {
        Value::Object(o) => o,
        other => {
            return Err(err(format!("value must be a JSON object, found {}", json::kind(&other))));
        }
    };
    let mut item = subnet_item(&o).map_err(err)?;
    if item.interface.is_empty() {
        item.interface = DEFAULT_INTERFACE.to_string();
    }
    Ok(item)
}

/// Parses `ipam.spidernet.io/subnets`:
/// `[{"interface":"eth0","ipv4":["a"]},{"interface":"net1","ipv4":["b"]}]`.
///
/// At least one item; every item names its `interface` (Go accepts a
/// missing one, which can match no NIC) and at least one subnet; interfaces
/// are unique and no subnet is used for two interfaces.
pub fn parse_subnets(value: &str) -> Result<Vec<SubnetChoice>, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(ANNO_SUBNETS, value, reason);
    let doc = json::parse(ANNO_SUBNETS, value)?;
    let raw = json::array(ANNO_SUBNETS, value, &doc)?;
    if raw.is_empty() {
        return Err(err("value requires at least one item".to_string()));
    }
    let mut items: Vec<SubnetChoice> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let at = |e: String| err(format!("item {i}: {e}"));
        let o = json::object(entry, i).map_err(err)?;
        let item = subnet_item(o).map_err(at)?;
        if item.interface.is_empty() {
            return Err(at("interface must be specified".to_string()));
        }
        if let Some(j) = items.iter().position(|prev| prev.interface == item.interface) {
            return Err(at(format!("interface {:?} is already used by item {j}", item.interface)));
        }
        for family in [IpFamily::V4, IpFamily::V6] {
            let Some(subnet) = item.subnet(family) else { continue };
            if let Some(prev) = items.iter().find(|prev| prev.subnet(family) == Some(subnet)) {
                return Err(at(format!(
                    "{family} SpiderSubnet {subnet:?} is already used by interface {:?}; one \
                     subnet cannot serve two interfaces",
                    prev.interface
                )));
            }
        }
        items.push(item);
    }
    Ok(items)
}

/// One item's fields: `interface` (checked when set), the first subnet of
/// `ipv4` and `ipv6`, at least one of them.
fn subnet_item(o: &Map<String, Value>) -> Result<SubnetChoice, String> {
    let interface = json::string(json::field(o, "interface"), "interface")?;
    if !interface.is_empty() {
        validate_ifname(&interface).map_err(|e| format!("interface: {e}"))?;
    }
    let ipv4 = first_subnet(o, "ipv4")?;
    let ipv6 = first_subnet(o, "ipv6")?;
    if ipv4.is_none() && ipv6.is_none() {
        return Err("at least one of ipv4 and ipv6 must name a SpiderSubnet".to_string());
    }
    Ok(SubnetChoice { interface, ipv4, ipv6 })
}

/// The first entry of list `what`, which must be a valid SpiderSubnet name
/// (a DNS-1123 subdomain; no wildcards).
fn first_subnet(o: &Map<String, Value>, what: &str) -> Result<Option<String>, String> {
    let list = json::string_list(json::field(o, what), what)?;
    let Some(first) = list.into_iter().next() else { return Ok(None) };
    if first.is_empty() {
        return Err(format!("{what}[0] must name a SpiderSubnet, found an empty string"));
    }
    if let Some(e) = crate::name::dns1123_subdomain(&first).first() {
        return Err(format!("{what}[0] {first:?} is not a SpiderSubnet name: {e}"));
    }
    Ok(Some(first))
}

/// Parses `ipam.spidernet.io/ippool-ip-number`: `"N"` (fixed) or `"+N"`
/// (flexible), `N` a decimal number ≥ 0.
///
/// Go reads the text after the first `+` wherever it is, so `"1+2"` means
/// `+2` there; here the `+` must lead.
pub fn parse_ip_number(value: &str) -> Result<IpNumber, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(ANNO_IPPOOL_IP_NUMBER, value, reason);
    let (flexible, digits) = match value.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if let Some(d) = digits.strip_prefix('-')
        && !d.is_empty()
        && d.bytes().all(|b| b.is_ascii_digit())
    {
        // Go's Atoi reads "-0" as 0.
        if d.bytes().all(|b| b == b'0') {
            return Ok(if flexible { IpNumber::Flexible(0) } else { IpNumber::Fixed(0) });
        }
        return Err(err(format!("value {value:?} must be equal to or greater than 0")));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!(
            "value {value:?} must be a number of IPs \"N\" (fixed) or \"+N\" (replicas plus N)"
        )));
    }
    let n: u64 =
        digits.parse().map_err(|_| err(format!("value {value:?} is too large a number of IPs")))?;
    Ok(if flexible { IpNumber::Flexible(n) } else { IpNumber::Fixed(n) })
}

/// Parses `ipam.spidernet.io/ippool-reclaim` as Go's `strconv.ParseBool`:
/// `1`, `t`, `T`, `TRUE`, `true`, `True` and `0`, `f`, `F`, `FALSE`,
/// `false`, `False`.
pub fn parse_reclaim(value: &str) -> Result<bool, AnnotationError> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(AnnotationError::invalid(
            ANNO_IPPOOL_RECLAIM,
            value,
            format!("value {value:?} must be a boolean (\"true\" or \"false\")"),
        )),
    }
}
