//! Lenient readings of objects that already exist (stored objects were
//! checked when admitted; bad items are skipped, not reported), and the
//! canonical forms mutation writes.

use ipnet::IpNet;

use crate::ip::{IpFamily, IpRange, IpSet, family_of_cidr, parse_cidr};

/// The `ipVersion` the mutating webhook infers from `subnet` (any CIDR that
/// parses, canonical or not); `None` when `subnet` is not a CIDR.
pub fn infer_ip_version(subnet: &str) -> Option<i64> {
    parse_cidr(subnet).ok().map(|n| i64::from(family_of_cidr(&n).version()))
}

/// The family and network of a stored object's `ipVersion`/`subnet`, leniently
/// (for objects that already exist): `ipVersion` when set, else inferred; the
/// subnet's host bits are ignored. `None` when they do not make sense.
pub fn stored_network(ip_version: Option<i64>, subnet: &str) -> Option<(IpFamily, IpNet)> {
    let net = parse_cidr(subnet).ok()?.trunc();
    let family = family_of_cidr(&net);
    match ip_version.map(IpFamily::from_version) {
        None => Some((family, net)),
        Some(Some(f)) if f == family => Some((family, net)),
        Some(_) => None,
    }
}

/// The usable addresses `ips − excludeIPs` of a stored object, leniently: bad
/// items are skipped (they were reported when the object was admitted).
pub fn stored_total(family: IpFamily, ips: &[String], exclude: &[String]) -> IpSet {
    let lenient = |items: &[String]| {
        let mut set = IpSet::new(family);
        for r in items.iter().filter_map(|s| IpRange::parse_of(s, family).ok()) {
            // Same family by construction: cannot fail.
            let _ = set.insert_range(&r);
        }
        set
    };
    lenient(ips).difference(&lenient(exclude))
}

/// Replaces every item of a range list by the canonical merge of the list
/// (sorted, deduplicated, overlapping and adjacent ranges joined). A list with
/// a bad item is left as written, so validation reports the item at its index.
pub fn merge_in_place(family: IpFamily, items: &mut Vec<String>) {
    if items.is_empty() {
        return;
    }
    if let Ok(merged) = crate::ip::merge_ranges(family, items) {
        *items = merged;
    }
}

/// Renders ranges the way Go prints a `[]string` with `%v`: `[a b-c]`.
pub fn go_list(set: &IpSet) -> String {
    format!("[{}]", set.to_strings().join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn infer_ip_version_table() {
        let cases: &[(&str, Option<i64>)] = &[
            ("10.6.0.0/16", Some(4)),
            ("10.6.0.1/16", Some(4)),
            ("fd00::/64", Some(6)),
            ("10.6.0.0", None),
            ("", None),
        ];
        for (s, v) in cases {
            assert_eq!(infer_ip_version(s), *v, "{s}");
        }
    }

    #[test]
    fn stored_total_never_expands() {
        let set = stored_total(
            IpFamily::V6,
            &strings(&["fd00::-fd00::ffff:ffff:ffff:ffff"]),
            &strings(&["fd00::1"]),
        );
        assert_eq!(set.len(), (1u128 << 64) - 1);
    }

    #[test]
    fn go_list_prints_like_go() {
        let set = IpSet::parse_ranges(IpFamily::V4, &["10.0.0.1", "10.0.0.5-10.0.0.6"]).unwrap();
        assert_eq!(go_list(&set), "[10.0.0.1 10.0.0.5-10.0.0.6]");
    }
}
