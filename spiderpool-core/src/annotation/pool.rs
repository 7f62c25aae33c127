//! `ipam.spidernet.io/ippool`, `ipam.spidernet.io/ippools` and the namespace
//! default-pool annotations.

use serde_json::Value;

use super::json;
use super::{ANNO_POD_IPPOOL, ANNO_POD_IPPOOLS, AnnotationError};

/// Value of `ipam.spidernet.io/ippool`: ordered candidate pools per family for
/// the current NIC. Names may be globs (see [`super::is_glob`]).
///
/// Either list may be empty. As in Go, both empty is accepted here (the NIC then
/// has no candidates from this annotation); callers decide what that means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolNames {
    /// IPv4 pool names (`ipv4`), in fallback order.
    pub ipv4: Vec<String>,
    /// IPv6 pool names (`ipv6`), in fallback order.
    pub ipv6: Vec<String>,
}

impl PoolNames {
    /// True when neither family lists a pool.
    pub fn is_empty(&self) -> bool {
        self.ipv4.is_empty() && self.ipv6.is_empty()
    }
}

/// Parses `ipam.spidernet.io/ippool`: `{"ipv4": [..], "ipv6": [..]}`.
///
/// `null` or `{}` yield empty lists (Go accepts both). Anything but an object,
/// or a list that is not an array of strings, is an error.
pub fn parse_pod_ippool(value: &str) -> Result<PoolNames, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(ANNO_POD_IPPOOL, value, reason);
    match json::parse(ANNO_POD_IPPOOL, value)? {
        Value::Null => Ok(PoolNames::default()),
        Value::Object(o) => Ok(PoolNames {
            ipv4: json::string_list(json::field(&o, "ipv4"), "ipv4").map_err(err)?,
            ipv6: json::string_list(json::field(&o, "ipv6"), "ipv6").map_err(err)?,
        }),
        other => Err(err(format!("value must be a JSON object, found {}", json::kind(&other)))),
    }
}

/// One item of `ipam.spidernet.io/ippools`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodIpPoolsItem {
    /// `interface`: the NIC this item is for; `None` (absent or `""`) in the
    /// positional mode where item *i* is the *i*-th NIC.
    pub interface: Option<String>,
    /// `ipv4`: IPv4 pool names in fallback order.
    pub ipv4: Vec<String>,
    /// `ipv6`: IPv6 pool names in fallback order.
    pub ipv6: Vec<String>,
    /// `cleangateway`: do not return the pool gateway's default route for this NIC.
    pub clean_gateway: bool,
}

/// Parses `ipam.spidernet.io/ippools` and applies Go's structural checks
/// (`validateAndMutateMultipleNICAnnotations`):
///
/// - at least one item (an empty list or `null` is an error);
/// - either every item names an `interface` or none does;
/// - named interfaces are unique.
///
/// As in Go, an item listing no pool of either family is accepted. Whether the
/// current NIC is listed is checked by [`ippools_item_for_nic`].
pub fn parse_pod_ippools(value: &str) -> Result<Vec<PodIpPoolsItem>, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(ANNO_POD_IPPOOLS, value, reason);
    let doc = json::parse(ANNO_POD_IPPOOLS, value)?;
    let raw = json::array(ANNO_POD_IPPOOLS, value, &doc)?;
    if raw.is_empty() {
        return Err(err("value requires at least one item".to_string()));
    }
    let mut items: Vec<PodIpPoolsItem> = Vec::with_capacity(raw.len());
    for (i, item) in raw.iter().enumerate() {
        let o = json::object(item, i).map_err(err)?;
        let at = |e: String| err(format!("item {i}: {e}"));
        let interface = json::string(json::field(o, "interface"), "interface").map_err(at)?;
        let parsed = PodIpPoolsItem {
            interface: (!interface.is_empty()).then_some(interface),
            ipv4: json::string_list(json::field(o, "ipv4"), "ipv4").map_err(at)?,
            ipv6: json::string_list(json::field(o, "ipv6"), "ipv6").map_err(at)?,
            clean_gateway: json::boolean(json::field(o, "cleangateway"), "cleangateway")
                .map_err(at)?,
        };
        if let Some(first) = items.first()
            && first.interface.is_some() != parsed.interface.is_some()
        {
            return Err(at(
                "interface must be set either on all items or on none (item 0 differs)".to_string(),
            ));
        }
        if let Some(name) = &parsed.interface
            && items.iter().any(|prev| prev.interface.as_ref() == Some(name))
        {
            return Err(at(format!("interface {name:?} listed twice")));
        }
        items.push(parsed);
    }
    Ok(items)
}

/// The conventional name of the pod's `index`-th NIC: `eth0` for 0, else `net{index}`
/// (Multus names additional NICs `net1`, `net2`, … by position).
pub fn default_nic_name(index: usize) -> String {
    if index == 0 { "eth0".to_string() } else { format!("net{index}") }
}

/// The position of a conventionally named NIC: `eth0` is 0, `net{N}` (N ≥ 1,
/// no leading zero) is N; any other name has no position.
pub fn nic_index_from_name(nic: &str) -> Option<usize> {
    if nic == "eth0" {
        return Some(0);
    }
    let digits = nic.strip_prefix("net")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The NIC each item of a parsed `ippools` value is for: its `interface`, or in
/// the positional mode [`default_nic_name`] of its index.
pub fn ippools_nic_names(items: &[PodIpPoolsItem]) -> Vec<String> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| item.interface.clone().unwrap_or_else(|| default_nic_name(i)))
        .collect()
}

/// The `ippools` item for NIC `nic`.
///
/// With named items the NIC must be listed (Go: "interface X must be
/// specified"). Without names, item *i* is the *i*-th NIC: the position is
/// `nic_index` when given, else derived from the name (`eth0` → 0, `netN` → N).
/// Errors carry the NIC name as the offending value.
pub fn ippools_item_for_nic<'a>(
    items: &'a [PodIpPoolsItem],
    nic: &str,
    nic_index: Option<usize>,
) -> Result<&'a PodIpPoolsItem, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(ANNO_POD_IPPOOLS, nic, reason);
    let Some(first) = items.first() else {
        return Err(err("value requires at least one item".to_string()));
    };
    if first.interface.is_some() {
        return items
            .iter()
            .find(|item| item.interface.as_deref() == Some(nic))
            .ok_or_else(|| err(format!("interface {nic:?} must be specified")));
    }
    let Some(index) = nic_index.or_else(|| nic_index_from_name(nic)) else {
        return Err(err(format!(
            "items name no interface, so NIC {nic:?} must be eth0 or netN to be mapped to an \
             item by position"
        )));
    };
    items.get(index).ok_or_else(|| {
        err(format!(
            "NIC {nic:?} is interface number {index} but only {} item(s) are listed",
            items.len()
        ))
    })
}

/// Parses a namespace default-pool annotation (`key` is
/// [`super::ANNO_NS_DEFAULT_IPV4_IPPOOL`] or [`super::ANNO_NS_DEFAULT_IPV6_IPPOOL`]):
/// a JSON array of pool names. `null` yields an empty list.
pub fn parse_namespace_default_pools(
    key: &str,
    value: &str,
) -> Result<Vec<String>, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(key, value, reason);
    match json::parse(key, value)? {
        Value::Null => Ok(Vec::new()),
        v @ Value::Array(_) => json::string_list(Some(&v), "value").map_err(err),
        other => Err(err(format!(
            "value must be a JSON array of pool names, found {}",
            json::kind(&other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::{ANNO_NS_DEFAULT_IPV4_IPPOOL, ANNO_NS_DEFAULT_IPV6_IPPOOL};
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn reason(e: AnnotationError) -> (String, String) {
        let msg = e.to_string();
        let AnnotationError::Invalid { annotation, .. } = e;
        (annotation, msg)
    }

    #[test]
    fn ippool_accepted() {
        let cases: [(&str, &[&str], &[&str]); 8] = [
            (r#"{"ipv4":["a","b*"],"ipv6":["c"]}"#, &["a", "b*"], &["c"]),
            (r#"{"ipv4":["a"]}"#, &["a"], &[]),
            (r#"{"ipv6":["c"]}"#, &[], &["c"]),
            (r#"{}"#, &[], &[]),
            ("null", &[], &[]),
            (r#"{"IPv4":["a"],"IPV6":null}"#, &["a"], &[]),
            (r#" {"ipv4":[],"other":42} "#, &[], &[]),
            (r#"{"ipv4":["x"],"ipv4pools":["ignored"]}"#, &["x"], &[]),
        ];
        for (v, v4, v6) in cases {
            let got = parse_pod_ippool(v).unwrap();
            assert_eq!(got, PoolNames { ipv4: names(v4), ipv6: names(v6) }, "{v}");
        }
        assert!(parse_pod_ippool("{}").unwrap().is_empty());
    }

    #[test]
    fn ippool_rejected() {
        let cases = [
            ("", "invalid JSON"),
            ("{", "invalid JSON"),
            (r#"{"ipv4":["a"]} x"#, "invalid JSON"),
            (r#"["a"]"#, "value must be a JSON object, found an array"),
            (r#""a""#, "found a string"),
            (r#"{"ipv4":"a"}"#, "ipv4 must be an array of strings, found a string"),
            (r#"{"ipv6":[1]}"#, "ipv6[0] must be a string, found a number"),
            (r#"{"ipv4":["a",null]}"#, "ipv4[1] must be a string, found null"),
        ];
        for (v, want) in cases {
            let (key, msg) = reason(parse_pod_ippool(v).unwrap_err());
            assert_eq!(key, ANNO_POD_IPPOOL);
            assert!(msg.starts_with("ipam.spidernet.io/ippool: "), "{msg}");
            assert!(msg.contains(want), "{v}: {msg}");
        }
    }

    #[test]
    fn ippools_accepted() {
        let v = r#"[{"interface":"eth0","ipv4":["a"],"ipv6":["b"],"cleangateway":true},
                    {"interface":"net1","ipv4":["c"],"cleangateway":false}]"#;
        let items = parse_pod_ippools(v).unwrap();
        assert_eq!(
            items,
            vec![
                PodIpPoolsItem {
                    interface: Some("eth0".into()),
                    ipv4: names(&["a"]),
                    ipv6: names(&["b"]),
                    clean_gateway: true
                },
                PodIpPoolsItem {
                    interface: Some("net1".into()),
                    ipv4: names(&["c"]),
                    ipv6: vec![],
                    clean_gateway: false
                },
            ]
        );
        // unnamed mode, "" counts as unnamed, an item without families is accepted (Go)
        let items =
            parse_pod_ippools(r#"[{"ipv4":["a"]},{"interface":"","ipv6":["b"]},{}]"#).unwrap();
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| i.interface.is_none()));
        assert_eq!(ippools_nic_names(&items), names(&["eth0", "net1", "net2"]));
        // cleangateway null means false; keys match case-insensitively
        let items = parse_pod_ippools(r#"[{"Interface":"net1","CleanGateway":null}]"#).unwrap();
        assert_eq!(items[0].interface.as_deref(), Some("net1"));
        assert!(!items[0].clean_gateway);
    }

    #[test]
    fn ippools_rejected() {
        let cases = [
            ("[]", "value requires at least one item"),
            ("null", "value requires at least one item"),
            ("{}", "value must be a JSON array, found an object"),
            ("[", "invalid JSON"),
            ("[1]", "item 0 must be a JSON object, found a number"),
            (r#"[{"interface":"eth0"},null]"#, "item 1 must be a JSON object, found null"),
            (
                r#"[{"interface":"eth0"},{"interface":"net1"},{"interface":"net1"}]"#,
                r#"item 2: interface "net1" listed twice"#,
            ),
            (
                r#"[{"interface":"net1"},{"interface":"net1"}]"#,
                r#"item 1: interface "net1" listed twice"#,
            ),
            (
                r#"[{"interface":"eth0"},{"ipv4":["a"]}]"#,
                "item 1: interface must be set either on all items or on none",
            ),
            (
                r#"[{"ipv4":["a"]},{"interface":"net1"}]"#,
                "item 1: interface must be set either on all items or on none",
            ),
            (r#"[{"interface":5}]"#, "item 0: interface must be a string, found a number"),
            (
                r#"[{"interface":"eth0","cleangateway":"yes"}]"#,
                "item 0: cleangateway must be a boolean",
            ),
            (
                r#"[{"interface":"eth0","ipv6":{}}]"#,
                "item 0: ipv6 must be an array of strings, found an object",
            ),
        ];
        for (v, want) in cases {
            let (key, msg) = reason(parse_pod_ippools(v).unwrap_err());
            assert_eq!(key, ANNO_POD_IPPOOLS);
            assert!(msg.starts_with("ipam.spidernet.io/ippools: "), "{msg}");
            assert!(msg.contains(want), "{v}: {msg}");
        }
    }

    #[test]
    fn item_for_nic_named() {
        let items = parse_pod_ippools(
            r#"[{"interface":"net1","ipv4":["n1"]},{"interface":"eth0","ipv4":["e0"]}]"#,
        )
        .unwrap();
        assert_eq!(ippools_item_for_nic(&items, "eth0", None).unwrap().ipv4, names(&["e0"]));
        // the name wins over any position
        assert_eq!(ippools_item_for_nic(&items, "net1", Some(0)).unwrap().ipv4, names(&["n1"]));
        let msg = ippools_item_for_nic(&items, "net2", Some(2)).unwrap_err().to_string();
        assert_eq!(msg, r#"ipam.spidernet.io/ippools: interface "net2" must be specified"#);
    }

    #[test]
    fn item_for_nic_positional() {
        let items = parse_pod_ippools(r#"[{"ipv4":["p0"]},{"ipv4":["p1"]}]"#).unwrap();
        let table: [(&str, Option<usize>, Result<&str, &str>); 7] = [
            ("eth0", None, Ok("p0")),
            ("net1", None, Ok("p1")),
            ("net2", None, Err("only 2 item(s)")),
            ("eth1", None, Err("must be eth0 or netN")),
            ("net01", None, Err("must be eth0 or netN")),
            ("eth1", Some(1), Ok("p1")),
            ("whatever", Some(5), Err("interface number 5 but only 2 item(s)")),
        ];
        for (nic, idx, want) in table {
            match (ippools_item_for_nic(&items, nic, idx), want) {
                (Ok(item), Ok(pool)) => assert_eq!(item.ipv4, names(&[pool]), "{nic}"),
                (Err(e), Err(text)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(text) && msg.contains(nic), "{nic}: {msg}");
                }
                (got, want) => panic!("{nic}: got {got:?}, want {want:?}"),
            }
        }
        assert!(ippools_item_for_nic(&[], "eth0", None).is_err());
    }

    #[test]
    fn nic_names_and_indexes() {
        for (i, name) in [(0, "eth0"), (1, "net1"), (2, "net2"), (12, "net12")] {
            assert_eq!(default_nic_name(i), name);
            assert_eq!(nic_index_from_name(name), Some(i));
        }
        for name in ["", "net", "net0", "net01", "eth1", "net-1", "netx", "net1a", "Net1"] {
            assert_eq!(nic_index_from_name(name), None, "{name}");
        }
        assert_eq!(nic_index_from_name("net99999999999999999999999"), None);
    }

    #[test]
    fn namespace_defaults() {
        let ok: [(&str, &[&str]); 4] = [
            (r#"["pool1","pool2","wild*"]"#, &["pool1", "pool2", "wild*"]),
            ("[]", &[]),
            ("null", &[]),
            (r#" ["p"] "#, &["p"]),
        ];
        for (v, want) in ok {
            assert_eq!(
                parse_namespace_default_pools(ANNO_NS_DEFAULT_IPV4_IPPOOL, v).unwrap(),
                names(want)
            );
        }
        let bad = [
            ("pool1", "invalid JSON"),
            (r#"{"ipv4":["a"]}"#, "value must be a JSON array of pool names, found an object"),
            (r#""pool1""#, "found a string"),
            (r#"["a",2]"#, "value[1] must be a string, found a number"),
        ];
        for (v, want) in bad {
            let msg = parse_namespace_default_pools(ANNO_NS_DEFAULT_IPV6_IPPOOL, v)
                .unwrap_err()
                .to_string();
            assert!(msg.starts_with("ipam.spidernet.io/default-ipv6-ippool: "), "{msg}");
            assert!(msg.contains(want), "{v}: {msg}");
        }
    }
}
