//! The Multus network list, `k8s.v1.cni.cncf.io/networks` (also the syntax of
//! `v1.multus-cni.io/default-network`, see [`super::nad`]).
//!
//! Parsing follows multus-cni `parsePodNetworkAnnotation` /
//! `parsePodNetworkObjectName`: a value containing `[`, `{` or `"` is the JSON
//! list form, anything else the comma form `ns/name@ifname, name2`.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::json;
use super::{ANNO_MULTUS_NETWORKS, AnnotationError};

/// One entry of `k8s.v1.cni.cncf.io/networks` (Multus `NetworkSelectionElement`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkSelection {
    /// `name`: the NetworkAttachmentDefinition name (never empty).
    pub name: String,
    /// `namespace`: the NAD's namespace; `None` means the pod's namespace.
    pub namespace: Option<String>,
    /// `interface` (or the deprecated `interfaceRequest`): the requested pod
    /// interface name; `None` means `net{position + 1}`.
    pub interface: Option<String>,
    /// `ips`: requested addresses, each an IP or a CIDR (validated).
    pub ips: Vec<String>,
    /// `mac`: requested MAC address (validated like Go's `net.ParseMAC`).
    pub mac: Option<String>,
    /// `infiniband-guid`: requested InfiniBand GUID (validated like a MAC).
    pub infiniband_guid: Option<String>,
    /// `default-route`: gateways for which this network gets the default route.
    pub default_route: Vec<IpAddr>,
    /// `cni-args`: extra CNI args passed to the delegate.
    pub cni_args: Option<Map<String, Value>>,
    /// `ipam-claim-reference`: name of an IPAMClaim.
    pub ipam_claim_reference: Option<String>,
}

/// Multus' rule: a value with any of these characters is the JSON form.
pub(super) fn is_json_form(value: &str) -> bool {
    value.contains(['[', '{', '"'])
}

/// Parses `ns/name@ifname` (namespace and interface optional), as multus
/// `parsePodNetworkObjectName` does; returns (namespace, name, interface).
pub(super) fn parse_object_name(
    item: &str,
) -> Result<(Option<String>, String, Option<String>), String> {
    let mut slash = item.split('/');
    let (ns, rest) = match (slash.next(), slash.next(), slash.next()) {
        (Some(rest), None, None) => ("", rest),
        (Some(ns), Some(rest), None) => (ns.trim(), rest),
        _ => return Err(format!("network {item:?} has more than one '/'")),
    };
    let mut at = rest.split('@');
    let (name, iface) = match (at.next(), at.next(), at.next()) {
        (Some(name), None, None) => (name.trim(), ""),
        (Some(name), Some(iface), None) => (name.trim(), iface.trim()),
        _ => return Err(format!("network {item:?} has more than one '@'")),
    };
    for part in [ns, name] {
        // Multus' check of the comma form: the label characters, no length
        // limit.
        if !part.is_empty() && !crate::name::is_dns1123_label_format(part) {
            return Err(format!(
                "{part:?} in network {item:?} must consist of lower case alphanumeric \
                 characters or '-', and must start and end with an alphanumeric character"
            ));
        }
    }
    if name.is_empty() {
        return Err(format!("network {item:?} has an empty name"));
    }
    if !iface.is_empty() {
        super::validate_ifname(iface).map_err(|e| format!("network {item:?}: {e}"))?;
    }
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok((some(ns), name.to_string(), some(iface)))
}

/// Go `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx:..`, `xx-xx-..` or `xxxx.xxxx.xxxx`.
fn is_valid_mac(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |c: &u8| c.is_ascii_hexdigit();
    let sizes = [6, 8, 20];
    if b.len() < 14 {
        return false;
    }
    if b[2] == b':' || b[2] == b'-' {
        if !(b.len() + 1).is_multiple_of(3) || !sizes.contains(&((b.len() + 1) / 3)) {
            return false;
        }
        b.chunks(3).all(|g| g[..2].iter().all(hex) && (g.len() == 2 || g[2] == b[2]))
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) || !sizes.contains(&(2 * (b.len() + 1) / 5)) {
            return false;
        }
        b.chunks(5).all(|g| g[..4].iter().all(hex) && (g.len() == 4 || g[4] == b'.'))
    } else {
        false
    }
}

/// Reads one JSON list element.
fn selection_from_json(o: &Map<String, Value>) -> Result<NetworkSelection, String> {
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let name = json::string(json::field(o, "name"), "name")?;
    if name.is_empty() {
        return Err("name is missing".to_string());
    }
    let mut interface = json::string(json::field(o, "interface"), "interface")?;
    if interface.is_empty() {
        interface = json::string(json::field(o, "interfaceRequest"), "interfaceRequest")?;
    }
    if !interface.is_empty() {
        super::validate_ifname(&interface).map_err(|e| format!("interface: {e}"))?;
    }
    let ips = json::string_list(json::field(o, "ips"), "ips")?;
    for ip in &ips {
        let valid = if ip.contains('/') {
            ip.parse::<ipnet::IpNet>().is_ok()
        } else {
            ip.parse::<IpAddr>().is_ok()
        };
        if !valid {
            return Err(format!("ips: {ip:?} is not an IP address or CIDR"));
        }
    }
    let mac = json::string(json::field(o, "mac"), "mac")?;
    if !mac.is_empty() && !is_valid_mac(&mac) {
        return Err(format!("mac {mac:?} is not a valid MAC address"));
    }
    let guid = json::string(json::field(o, "infiniband-guid"), "infiniband-guid")?;
    if !guid.is_empty() && !is_valid_mac(&guid) {
        return Err(format!("infiniband-guid {guid:?} is not a valid GUID"));
    }
    let default_route = json::string_list(json::field(o, "default-route"), "default-route")?
        .iter()
        .map(|gw| gw.parse().map_err(|_| format!("default-route: {gw:?} is not an IP address")))
        .collect::<Result<Vec<IpAddr>, String>>()?;
    let cni_args = match json::field(o, "cni-args") {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(other) => {
            return Err(format!("cni-args must be an object, found {}", json::kind(other)));
        }
    };
    Ok(NetworkSelection {
        name,
        namespace: opt(json::string(json::field(o, "namespace"), "namespace")?),
        interface: opt(interface),
        ips,
        mac: opt(mac),
        infiniband_guid: opt(guid),
        default_route,
        cni_args,
        ipam_claim_reference: opt(json::string(
            json::field(o, "ipam-claim-reference"),
            "ipam-claim-reference",
        )?),
    })
}

/// Parses a Multus network list (JSON or comma form) for annotation `key`.
pub(super) fn parse_networks_as(
    key: &str,
    value: &str,
) -> Result<Vec<NetworkSelection>, AnnotationError> {
    let err = |reason: String| AnnotationError::invalid(key, value, reason);
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    if !is_json_form(value) {
        return value
            .split(',')
            .enumerate()
            .map(|(i, item)| {
                let (namespace, name, interface) =
                    parse_object_name(item.trim()).map_err(|e| err(format!("item {i}: {e}")))?;
                Ok(NetworkSelection { name, namespace, interface, ..NetworkSelection::default() })
            })
            .collect();
    }
    let doc = json::parse(key, value)?;
    let items = json::array(key, value, &doc)?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let o = json::object(item, i).map_err(err)?;
            selection_from_json(o).map_err(|e| err(format!("item {i}: {e}")))
        })
        .collect()
}

/// Parses `k8s.v1.cni.cncf.io/networks`.
///
/// - JSON form (`[{"name":"macvlan","namespace":"kube-system","interface":"net2"}]`)
///   when the value contains `[`, `{` or `"`; keys match case-insensitively and
///   `mac`, `infiniband-guid`, `ips` and `default-route` are validated as Multus does;
/// - otherwise the comma form (`ns/name@ifname, name2`): items are trimmed, the
///   namespace and name must be DNS-1123 labels.
///
/// In both forms a requested interface must be a name the kernel accepts
/// ([`crate::name::interface_name`]: ≤ 15 bytes, not `.`/`..`, no `/`, `:` or
/// whitespace), as Multus checks it; `net_1`, `Net1` and `eth0.100` are valid.
///
/// An empty (or all-whitespace) value is an empty list. Unlike Multus, an entry
/// with an empty name is rejected here instead of failing the NAD lookup later.
pub fn parse_multus_networks(value: &str) -> Result<Vec<NetworkSelection>, AnnotationError> {
    parse_networks_as(ANNO_MULTUS_NETWORKS, value)
}

/// The interface name of each entry, by position: its requested `interface`,
/// else `net{i+1}` (Multus' default naming).
pub fn multus_interface_names(nets: &[NetworkSelection]) -> Vec<String> {
    nets.iter()
        .enumerate()
        .map(|(i, n)| n.interface.clone().unwrap_or_else(|| format!("net{}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sel(ns: Option<&str>, name: &str, iface: Option<&str>) -> NetworkSelection {
        NetworkSelection {
            name: name.to_string(),
            namespace: ns.map(str::to_string),
            interface: iface.map(str::to_string),
            ..NetworkSelection::default()
        }
    }

    #[test]
    fn comma_form() {
        let cases: Vec<(&str, Vec<NetworkSelection>)> = vec![
            ("macvlan", vec![sel(None, "macvlan", None)]),
            (
                "kube-system/macvlan@net2, sriov ,other/ipvlan",
                vec![
                    sel(Some("kube-system"), "macvlan", Some("net2")),
                    sel(None, "sriov", None),
                    sel(Some("other"), "ipvlan", None),
                ],
            ),
            (" ns / a @ eth9 ", vec![sel(Some("ns"), "a", Some("eth9"))]),
            ("a@", vec![sel(None, "a", None)]),
            ("/a", vec![sel(None, "a", None)]),
            ("null", vec![sel(None, "null", None)]), // no JSON marker: a NAD named "null"
            ("", vec![]),
            ("   ", vec![]),
        ];
        for (v, want) in cases {
            assert_eq!(parse_multus_networks(v).unwrap(), want, "{v:?}");
        }
    }

    #[test]
    fn comma_form_rejected() {
        let cases = [
            ("a/b/c", "item 0: network \"a/b/c\" has more than one '/'"),
            ("ok, x@y@z", "item 1: network \"x@y@z\" has more than one '@'"),
            ("Macvlan", "\"Macvlan\" in network \"Macvlan\" must consist of lower case"),
            ("ns/a@eth:1", "interface name \"eth:1\" contains the forbidden character ':'"),
            ("a,,b", "item 1: network \"\" has an empty name"),
            ("a,", "item 1: network \"\" has an empty name"),
            ("ns/@net1", "has an empty name"),
            ("-a", "must start and end"),
        ];
        for (v, want) in cases {
            let msg = parse_multus_networks(v).unwrap_err().to_string();
            assert!(msg.starts_with("k8s.v1.cni.cncf.io/networks: "), "{msg}");
            assert!(msg.contains(want), "{v:?}: {msg}");
        }
    }

    /// Issue 9 item 2: the comma form checked the interface as a DNS label, so
    /// `b@my_if` made the whole annotation unparsable (every NIC lost its NAD
    /// and pool). Multus takes any name the kernel takes there; so do we, with
    /// the same rule as the JSON form.
    #[test]
    fn comma_form_accepts_any_linux_interface_name() {
        let v = "a@net1,b@my_if, ns/c@Net1 ,d@net_1,e@eth0.100,f@x-Y_z.1@";
        assert!(parse_multus_networks(v).is_err(), "two '@' stay an error");
        let v = "a@net1,b@my_if, ns/c@Net1 ,d@net_1,e@eth0.100,f@123456789012345";
        let nets = parse_multus_networks(v).unwrap();
        assert_eq!(
            multus_interface_names(&nets),
            vec!["net1", "my_if", "Net1", "net_1", "eth0.100", "123456789012345"]
        );
        assert_eq!(nets[2], sel(Some("ns"), "c", Some("Net1")));
    }

    /// Both forms run one interface-name rule (the kernel's `dev_valid_name`).
    #[test]
    fn both_forms_share_the_interface_name_rule() {
        let good = ["net1", "my_if", "Net1", "eth0.100", "a", "x-Y_z", "123456789012345", "é1"];
        let bad = [
            ("1234567890123456", "longer than 15 bytes"),
            ("ééééééééé", "longer than 15 bytes"),
            (".", "is not allowed"),
            ("..", "is not allowed"),
            ("a:b", "forbidden character ':'"),
            ("a\\u000bb", "forbidden character '\\u{b}'"),
        ];
        for name in good {
            let comma = parse_multus_networks(&format!("n@{name}")).unwrap();
            let json = parse_multus_networks(&format!(r#"[{{"name":"n","interface":"{name}"}}]"#))
                .unwrap();
            assert_eq!(comma, json, "{name}");
            assert_eq!(comma[0].interface.as_deref(), Some(name));
        }
        for (name, why) in bad {
            let json = format!(r#"[{{"name":"n","interface":"{name}"}}]"#);
            let msg = parse_multus_networks(&json).unwrap_err().to_string();
            assert!(msg.contains(why), "{json}: {msg}");
            assert!(msg.contains("item 0: interface"), "{json}: {msg}");
            let unescaped: String = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            let comma = format!("n@{unescaped}");
            if !unescaped.chars().any(char::is_whitespace) {
                let msg = parse_multus_networks(&comma).unwrap_err().to_string();
                assert!(msg.contains(why), "{comma:?}: {msg}");
            }
        }
        // `interfaceRequest` (deprecated) goes through the same rule.
        let msg = parse_multus_networks(r#"[{"name":"n","interfaceRequest":"a:b"}]"#)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("forbidden character ':'"), "{msg}");
        // Whitespace inside a comma-form interface (items are trimmed, not split).
        let msg = parse_multus_networks("n@a b").unwrap_err().to_string();
        assert!(msg.contains("forbidden character ' '"), "{msg}");
    }

    #[test]
    fn json_form() {
        let v = r#"[{"name":"macvlan","namespace":"kube-system","interface":"net2"},
                    {"name":"sriov","ips":["10.0.0.5/24","fd00::5"],"mac":"02:00:5e:10:00:01",
                     "default-route":["10.0.0.1"],"cni-args":{"k":"v"},"ipam-claim-reference":"c1"},
                    {"Name":"Up_Per","interfaceRequest":"old0","infiniband-guid":"0000.5e00.5301.0203"}]"#;
        let nets = parse_multus_networks(v).unwrap();
        assert_eq!(nets.len(), 3);
        assert_eq!(nets[0], sel(Some("kube-system"), "macvlan", Some("net2")));
        assert_eq!(nets[1].ips, vec!["10.0.0.5/24".to_string(), "fd00::5".to_string()]);
        assert_eq!(nets[1].mac.as_deref(), Some("02:00:5e:10:00:01"));
        assert_eq!(nets[1].default_route, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(nets[1].cni_args.as_ref().unwrap()["k"], "v");
        assert_eq!(nets[1].ipam_claim_reference.as_deref(), Some("c1"));
        // JSON names are not DNS-validated by Multus; deprecated interfaceRequest is honoured
        assert_eq!(nets[2].name, "Up_Per");
        assert_eq!(nets[2].interface.as_deref(), Some("old0"));
        assert_eq!(multus_interface_names(&nets), vec!["net2", "net2", "old0"]);
        assert_eq!(parse_multus_networks("[]").unwrap(), vec![]);
        assert_eq!(
            parse_multus_networks(r#" [ {"name":"a"} ] "#).unwrap(),
            vec![sel(None, "a", None)]
        );
    }

    #[test]
    fn json_form_rejected() {
        let cases = [
            (r#"[{"name":"a"}"#, "invalid JSON"),
            (r#"{"name":"a"}"#, "value must be a JSON array, found an object"),
            (r#""a""#, "value must be a JSON array, found a string"),
            (r#"[null]"#, "item 0 must be a JSON object, found null"),
            (r#"[{"name":"a"},{"namespace":"x"}]"#, "item 1: name is missing"),
            (
                r#"[{"name":"a","mac":"02:00:5e:10:00"}]"#,
                "item 0: mac \"02:00:5e:10:00\" is not a valid MAC address",
            ),
            (r#"[{"name":"a","mac":"02:00-5e:10:00:01"}]"#, "not a valid MAC"),
            (r#"[{"name":"a","infiniband-guid":"zz"}]"#, "not a valid GUID"),
            (
                r#"[{"name":"a","ips":["10.0.0.300"]}]"#,
                "ips: \"10.0.0.300\" is not an IP address or CIDR",
            ),
            (r#"[{"name":"a","ips":["10.0.0.1/40"]}]"#, "is not an IP address or CIDR"),
            (
                r#"[{"name":"a","default-route":["gw"]}]"#,
                "default-route: \"gw\" is not an IP address",
            ),
            (r#"[{"name":"a","cni-args":[1]}]"#, "cni-args must be an object, found an array"),
            (r#"[{"name":7}]"#, "item 0: name must be a string, found a number"),
        ];
        for (v, want) in cases {
            let msg = parse_multus_networks(v).unwrap_err().to_string();
            assert!(msg.starts_with("k8s.v1.cni.cncf.io/networks: "), "{msg}");
            assert!(msg.contains(want), "{v}: {msg}");
        }
    }

    #[test]
    fn mac_formats() {
        for ok in [
            "00:00:5e:00:53:01",
            "00-00-5E-00-53-01",
            "02:00:5e:10:00:00:00:01",
            "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
            "0000.5e00.5301",
            "0200.5e10.0000.0001",
        ] {
            assert!(is_valid_mac(ok), "{ok}");
        }
        for bad in [
            "",
            "00:00:5e:00:53",
            "00:00:5e:00:53:0g",
            "00:00:5e:00:53:01:",
            "0000.5e00.530",
            "00005e005301",
            "00:00:5e:00:53:01:02",
        ] {
            assert!(!is_valid_mac(bad), "{bad}");
        }
    }
}
