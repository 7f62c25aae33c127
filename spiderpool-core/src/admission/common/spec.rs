//! Field rules of a pool's or subnet's spec: `ipVersion` and the family,
//! the canonical subnet, ranges inside the subnet and disjoint, gateway and
//! route rules, immutable fields and label selectors. Every check pushes
//! Kubernetes-style field errors; none stops at the first.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::admission::{ClusterSettings, FieldError};
use crate::ip::{
    IpFamily, IpRange, IpSet, canonical_cidr_string, cidr_range, family_of_cidr,
    parse_canonical_cidr, parse_cidr, parse_ip_of,
};
use crate::model::{LabelSelector, Route};
use crate::selector;

/// `spec.ipVersion`: set, `4` or `6`, and that family enabled. Returns the
/// family, or the one error (`Invalid` when unset, `NotSupported`,
/// `Forbidden` when the family is disabled).
pub fn validate_ip_version(
    ip_version: Option<i64>,
    settings: &ClusterSettings,
) -> Result<IpFamily, FieldError> {
    const PATH: &str = "spec.ipVersion";
    let Some(v) = ip_version else {
        return Err(FieldError::invalid(
            PATH,
            serde_json::Value::Null,
            "is not generated correctly, 'spec.subnet' may be invalid",
        ));
    };
    let Some(family) = IpFamily::from_version(v) else {
        return Err(FieldError::not_supported(PATH, v, &["4", "6"]));
    };
    match family {
        IpFamily::V4 if !settings.enable_ipv4 => {
            Err(FieldError::forbidden(PATH, "IPv4 is disabled"))
        }
        IpFamily::V6 if !settings.enable_ipv6 => {
            Err(FieldError::forbidden(PATH, "IPv6 is disabled"))
        }
        _ => Ok(family),
    }
}

/// `spec.subnet`: a CIDR of `family` in canonical form.
pub fn validate_subnet(family: IpFamily, subnet: &str) -> Result<IpNet, FieldError> {
    const PATH: &str = "spec.subnet";
    if subnet.is_empty() {
        return Err(FieldError::required(PATH, "must be a CIDR"));
    }
    let net = parse_cidr(subnet).map_err(|e| FieldError::invalid(PATH, subnet, e.to_string()))?;
    if family_of_cidr(&net) != family {
        return Err(FieldError::invalid(PATH, subnet, format!("not an {family} CIDR")));
    }
    parse_canonical_cidr(subnet).map_err(|e| FieldError::invalid(PATH, subnet, e.to_string()))
}

/// [`validate_ip_version`] then [`validate_subnet`]: the family and network,
/// or `None` with the errors pushed. When `ipVersion` is unset because
/// `subnet` is not a CIDR (mutation could not infer it), the subnet's own
/// error is reported too, so the user sees the cause and not only Go's
/// "'spec.subnet' may be invalid".
pub fn validate_family_and_subnet(
    ip_version: Option<i64>,
    subnet: &str,
    settings: &ClusterSettings,
    errs: &mut Vec<FieldError>,
) -> Option<(IpFamily, IpNet)> {
    match validate_ip_version(ip_version, settings) {
        Ok(family) => match validate_subnet(family, subnet) {
            Ok(net) => Some((family, net)),
            Err(e) => {
                errs.push(e);
                None
            }
        },
        Err(e) => {
            errs.push(e);
            if ip_version.is_none()
                && parse_cidr(subnet).is_err()
                && let Err(e) = validate_subnet(IpFamily::V4, subnet)
            {
                errs.push(e);
            }
            None
        }
    }
}

/// True when two networks share an address.
pub fn cidrs_overlap(a: &IpNet, b: &IpNet) -> bool {
    family_of_cidr(a) == family_of_cidr(b) && cidr_range(a).overlaps(&cidr_range(b))
}

/// Checks that every item of a range list (`spec.ips` or `spec.excludeIPs`,
/// named by `path`) is a range of `family` inside `net`; pushes one error per
/// bad item. Returns the union of the items, or `None` when any item is bad.
pub fn validate_ranges_in_subnet(
    path: &str,
    items: &[String],
    family: IpFamily,
    net: &IpNet,
    errs: &mut Vec<FieldError>,
) -> Option<IpSet> {
    let mut set = IpSet::new(family);
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match IpRange::parse_of(item, family) {
            Err(e) => {
                errs.push(FieldError::invalid(at, item, e.to_string()));
                ok = false;
            }
            Ok(r) if !r.is_within(net) => {
                errs.push(FieldError::invalid(
                    at,
                    item,
                    format!("not in subnet {}", canonical_cidr_string(net)),
                ));
                ok = false;
            }
            Ok(r) => {
                // Same family by construction: cannot fail.
                let _ = set.insert_range(&r);
            }
        }
    }
    ok.then_some(set)
}

/// "Ranges inside `ips` overlap each other": one `Invalid` error at each item
/// that shares an address with an item listed before it, naming that item.
/// Items that do not parse are skipped (reported elsewhere). `O(n log n)`.
pub fn validate_ranges_disjoint(
    path: &str,
    items: &[String],
    family: IpFamily,
    errs: &mut Vec<FieldError>,
) {
    let mut parsed: Vec<(usize, IpRange)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| IpRange::parse_of(s, family).ok().map(|r| (i, r)))
        .collect();
    parsed.sort_by_key(|(i, r)| (r.start_u128(), r.end_u128(), *i));
    // For each item, the earliest-listed item before it in start order whose
    // range reaches its start. Tracking, among ranges seen so far, the one with
    // the furthest end finds an overlapping partner whenever one exists.
    let mut found: BTreeMap<usize, usize> = BTreeMap::new();
    let mut reach: Option<(u128, usize)> = None;
    for &(i, r) in &parsed {
        if let Some((end, j)) = reach
            && end >= r.start_u128()
        {
            let (first, later) = if j < i { (j, i) } else { (i, j) };
            found.entry(later).or_insert(first);
        }
        if reach.is_none_or(|(end, _)| r.end_u128() > end) {
            reach = Some((r.end_u128(), i));
        }
    }
    for (later, first) in found {
        let (Some(item), Some(other)) = (items.get(later), items.get(first)) else { continue };
        errs.push(FieldError::invalid(
            format!("{path}[{later}]"),
            item,
            format!("overlaps with {path}[{first}] {other:?}"),
        ));
    }
}

/// Gateway rules: `spec.gateway` must be an address of `family` inside `net`,
/// and when an item of `spec.ips` contains it, `spec.excludeIPs` must too
/// (the error is at that `spec.ips[i]`).
pub fn validate_gateway(
    gateway: Option<&str>,
    family: IpFamily,
    net: &IpNet,
    ips: &[String],
    exclude: &[String],
    errs: &mut Vec<FieldError>,
) {
    const PATH: &str = "spec.gateway";
    let Some(gw_text) = gateway else { return };
    let gw = match parse_ip_of(gw_text, family) {
        Ok(gw) => gw,
        Err(e) => {
            errs.push(FieldError::invalid(PATH, gw_text, e.to_string()));
            return;
        }
    };
    if !crate::ip::cidr_contains(net, &gw) {
        errs.push(FieldError::invalid(
            PATH,
            gw_text,
            format!("not in subnet {}", canonical_cidr_string(net)),
        ));
        return;
    }
    let excluded =
        exclude.iter().filter_map(|s| IpRange::parse_of(s, family).ok()).any(|r| r.contains(&gw));
    if excluded {
        return;
    }
    for (i, item) in ips.iter().enumerate() {
        if IpRange::parse_of(item, family).is_ok_and(|r| r.contains(&gw)) {
            errs.push(FieldError::invalid(
                format!("spec.ips[{i}]"),
                item,
                format!(
                    "conflicts with 'spec.gateway' {gw_text}, add the gateway IP address to \
                     'spec.excludeIPs' or remove it from 'spec.ips'"
                ),
            ));
        }
    }
}

/// Route rules: `dst` must be a CIDR of `family` other than the default route
/// (`0.0.0.0/0`, `::/0`: "use spec.gateway"), no two routes may have the same
/// destination, and `gw` must be an address inside `net`.
///
/// Better than Go: destinations are compared as networks, so `10.0.0.0/8` and
/// `10.0.0.1/8` (the same network) are duplicates too, and every route's
/// problems are reported, not only the first.
pub fn validate_routes(
    routes: &[Route],
    family: IpFamily,
    net: &IpNet,
    errs: &mut Vec<FieldError>,
) {
    let mut seen: BTreeMap<IpNet, usize> = BTreeMap::new();
    for (i, route) in routes.iter().enumerate() {
        let dst_path = format!("spec.routes[{i}].dst");
        match parse_cidr(&route.dst) {
            Err(e) => errs.push(FieldError::invalid(dst_path, &route.dst, e.to_string())),
            Ok(dst) if family_of_cidr(&dst) != family => errs.push(FieldError::invalid(
                dst_path,
                &route.dst,
                format!("not an {family} CIDR"),
            )),
            Ok(dst) if dst.prefix_len() == 0 => errs.push(FieldError::invalid(
                dst_path,
                &route.dst,
                "please specify 'spec.gateway' to configure the default route",
            )),
            Ok(dst) => {
                let dst = dst.trunc();
                match seen.entry(dst) {
                    std::collections::btree_map::Entry::Occupied(first) => {
                        let mut e = FieldError::duplicate(dst_path, &route.dst);
                        e.message = format!(
                            "duplicate route with the same dst as spec.routes[{}]",
                            first.get()
                        );
                        errs.push(e);
                    }
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(i);
                    }
                }
            }
        }
        let gw_path = format!("spec.routes[{i}].gw");
        match parse_ip_of(&route.gw, family) {
            Err(e) => errs.push(FieldError::invalid(gw_path, &route.gw, e.to_string())),
            Ok(gw) if !crate::ip::cidr_contains(net, &gw) => errs.push(FieldError::invalid(
                gw_path,
                &route.gw,
                format!("not in subnet {}", canonical_cidr_string(net)),
            )),
            Ok(_) => {}
        }
    }
}

/// `spec.ipVersion` and `spec.subnet` cannot change on UPDATE (`Forbidden`).
/// An `ipVersion` that is unset on either side is not a change (Go's rule).
pub fn validate_immutable(
    old: (Option<i64>, &str),
    new: (Option<i64>, &str),
    errs: &mut Vec<FieldError>,
) {
    if let (Some(o), Some(n)) = (old.0, new.0)
        && o != n
    {
        errs.push(FieldError::forbidden(
            "spec.ipVersion",
            format!("is not changeable ({o} → {n})"),
        ));
    }
    if old.1 != new.1 {
        errs.push(FieldError::forbidden(
            "spec.subnet",
            format!("is not changeable ({:?} → {:?})", old.1, new.1),
        ));
    }
}

/// Validates an optional label selector at `path`; `Invalid` errors carry the
/// full path of the bad key, operator or value.
pub fn validate_selector(sel: Option<&LabelSelector>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(sel) = sel else { return };
    if let Err(selector::SelectorError::Invalid { path, value, reason }) =
        selector::validate(sel, path)
    {
        errs.push(FieldError::invalid(path, value, reason));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn v4net(s: &str) -> IpNet {
        parse_cidr(s).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn ip_version_table() {
        let on = ClusterSettings::default();
        let v4_off = ClusterSettings { enable_ipv4: false, ..on.clone() };
        let v6_off = ClusterSettings { enable_ipv6: false, ..on.clone() };
        assert_eq!(validate_ip_version(Some(4), &on), Ok(IpFamily::V4));
        assert_eq!(validate_ip_version(Some(6), &on), Ok(IpFamily::V6));
        use crate::admission::FieldErrorType as T;
        let cases: &[(Option<i64>, &ClusterSettings, T)] = &[
            (None, &on, T::Invalid),
            (Some(5), &on, T::NotSupported),
            (Some(4), &v4_off, T::Forbidden),
            (Some(6), &v6_off, T::Forbidden),
        ];
        for (v, s, t) in cases {
            let e = validate_ip_version(*v, s).unwrap_err();
            assert_eq!((e.field.as_str(), e.kind), ("spec.ipVersion", *t), "{v:?}");
        }
    }

    #[test]
    fn subnet_table() {
        assert!(validate_subnet(IpFamily::V4, "10.6.0.0/16").is_ok());
        assert!(validate_subnet(IpFamily::V6, "fd00::/64").is_ok());
        for (f, s) in [
            (IpFamily::V4, "10.6.0.1/16"),
            (IpFamily::V4, "fd00::/64"),
            (IpFamily::V6, "FD00::/64"),
            (IpFamily::V4, "10.6.0.0"),
            (IpFamily::V4, ""),
        ] {
            let e = validate_subnet(f, s).unwrap_err();
            assert_eq!(e.field, "spec.subnet", "{s}");
        }
    }

    #[test]
    fn disjoint_reports_later_item_naming_earlier() {
        let items = strings(&["10.0.0.5-10.0.0.9", "10.0.0.1-10.0.0.3", "10.0.0.3", "10.0.0.9"]);
        let mut errs = Vec::new();
        validate_ranges_disjoint("spec.ips", &items, IpFamily::V4, &mut errs);
        let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("spec.ips[2]", "overlaps with spec.ips[1] \"10.0.0.1-10.0.0.3\""),
                ("spec.ips[3]", "overlaps with spec.ips[0] \"10.0.0.5-10.0.0.9\""),
            ]
        );
        let mut errs = Vec::new();
        let adjacent = strings(&["10.0.0.1-10.0.0.3", "10.0.0.4"]);
        validate_ranges_disjoint("spec.ips", &adjacent, IpFamily::V4, &mut errs);
        assert!(errs.is_empty());
    }

    #[test]
    fn ranges_in_subnet_collects_every_bad_item() {
        let mut errs = Vec::new();
        let items = strings(&["10.6.0.1", "10.7.0.1", "x", "fd00::1"]);
        let set = validate_ranges_in_subnet(
            "spec.ips",
            &items,
            IpFamily::V4,
            &v4net("10.6.0.0/16"),
            &mut errs,
        );
        assert!(set.is_none());
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.ips[1]", "spec.ips[2]", "spec.ips[3]"]);
        assert_eq!(
            errs[0].to_string(),
            r#"spec.ips[1]: Invalid value: "10.7.0.1": not in subnet 10.6.0.0/16"#
        );
    }
}
