use std::collections::BTreeMap;

use crate::annotation::{
    ANNO_IPPOOL_IP_NUMBER, ANNO_IPPOOL_RECLAIM, ANNO_SUBNET, ANNO_SUBNETS, AnnotationError,
};
use crate::autopool::*;
use crate::ip::IpFamily;

fn annos(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn choice(interface: &str, v4: Option<&str>, v6: Option<&str>) -> SubnetChoice {
    SubnetChoice { interface: interface.into(), ipv4: v4.map(Into::into), ipv6: v6.map(Into::into) }
}

fn key_and_msg(e: AnnotationError) -> (String, String, String) {
    let msg = e.to_string();
    let AnnotationError::Invalid { annotation, value, .. } = e;
    (annotation, value, msg)
}

/// Spiderpool's own example (docs/usage/spider-subnet.md): one NIC, both families.
#[test]
fn subnet_single_nic_examples() {
    let got = parse_subnet(r#"{"ipv4":["subnet-demo-v4"],"ipv6":["subnet-demo-v6"]}"#).unwrap();
    assert_eq!(got, choice("eth0", Some("subnet-demo-v4"), Some("subnet-demo-v6")));
    // only the first subnet of a family is used; keys match case-insensitively;
    // unknown keys are ignored; null lists are empty
    let got = parse_subnet(r#"{"Interface":"net1","IPv4":["a","b"],"ipv6":null,"ippools":["x"]}"#)
        .unwrap();
    assert_eq!(got, choice("net1", Some("a"), None));
    let got = parse_subnet(r#"{"interface":"","ipv6":["v6"]}"#).unwrap();
    assert_eq!(got, choice("eth0", None, Some("v6")));
}

#[test]
fn subnet_rejected() {
    let cases = [
        ("", "invalid JSON"),
        ("wrong-input", "invalid JSON"),
        ("null", "value must be a JSON object, found null"),
        (r#"["a"]"#, "value must be a JSON object, found an array"),
        (r#"{"interface":"eth0"}"#, "at least one of ipv4 and ipv6 must name a SpiderSubnet"),
        (r#"{"ipv4":[],"ipv6":[]}"#, "at least one of ipv4 and ipv6"),
        (r#"{"ipv4":[""]}"#, "ipv4[0] must name a SpiderSubnet, found an empty string"),
        (r#"{"ipv6":[""]}"#, "ipv6[0] must name a SpiderSubnet"),
        (r#"{"ipv4":["sub*"]}"#, r#"ipv4[0] "sub*" is not a SpiderSubnet name"#),
        (r#"{"ipv4":["10.0.0.0/16"]}"#, "is not a SpiderSubnet name"),
        (r#"{"ipv4":"a"}"#, "ipv4 must be an array of strings, found a string"),
        (r#"{"interface":3,"ipv4":["a"]}"#, "interface must be a string, found a number"),
        (r#"{"interface":"a:b","ipv4":["a"]}"#, r#"interface: interface name "a:b""#),
    ];
    for (v, want) in cases {
        let (key, value, msg) = key_and_msg(parse_subnet(v).unwrap_err());
        assert_eq!(key, ANNO_SUBNET, "{v}");
        assert_eq!(value, v);
        assert!(msg.starts_with("ipam.spidernet.io/subnet: "), "{msg}");
        assert!(msg.contains(want), "{v}: {msg}");
    }
}

/// Spiderpool's multi-NIC example (docs/usage/spider-subnet.md).
#[test]
fn subnets_multi_nic_example() {
    let v = r#"[{"interface":"eth0","ipv4":["subnet-demo-v4-1"],"ipv6":["subnet-demo-v6-1"]},
                {"interface":"net1","ipv4":["subnet-demo-v4-2"],"ipv6":["subnet-demo-v6-2"]}]"#;
    let got = parse_subnets(v).unwrap();
    assert_eq!(
        got,
        vec![
            choice("eth0", Some("subnet-demo-v4-1"), Some("subnet-demo-v6-1")),
            choice("net1", Some("subnet-demo-v4-2"), Some("subnet-demo-v6-2")),
        ]
    );
    // one family per NIC, and the same family on different subnets is fine
    let got =
        parse_subnets(r#"[{"interface":"eth0","ipv4":["a"]},{"interface":"net1","ipv6":["a"]}]"#)
            .unwrap();
    assert_eq!(got.len(), 2);
}

#[test]
fn subnets_rejected() {
    let cases = [
        ("wrong-inputs", "invalid JSON"),
        ("[]", "value requires at least one item"),
        ("null", "value requires at least one item"),
        ("{}", "value must be a JSON array, found an object"),
        ("[1]", "item 0 must be a JSON object, found a number"),
        (r#"[{"ipv4":["a"]}]"#, "item 0: interface must be specified"),
        (r#"[{"interface":"eth0","ipv4":[""]}]"#, "item 0: ipv4[0] must name a SpiderSubnet"),
        (r#"[{"interface":"eth0","ipv6":[""]}]"#, "item 0: ipv6[0] must name a SpiderSubnet"),
        (r#"[{"interface":"eth0","ipv4":[],"ipv6":[]}]"#, "item 0: at least one of ipv4 and ipv6"),
        (
            r#"[{"interface":"eth0","ipv4":["subnet1"]},{"interface":"eth1","ipv4":["subnet1"]}]"#,
            r#"item 1: IPv4 SpiderSubnet "subnet1" is already used by interface "eth0"; one subnet cannot serve two interfaces"#,
        ),
        (
            r#"[{"interface":"eth0","ipv6":["s6"]},{"interface":"net1","ipv4":["a"],"ipv6":["s6"]}]"#,
            r#"item 1: IPv6 SpiderSubnet "s6" is already used by interface "eth0""#,
        ),
        (
            r#"[{"interface":"eth0","ipv6":["subnet-v6-1"]},{"interface":"eth0","ipv6":["subnet-v6-2"]}]"#,
            r#"item 1: interface "eth0" is already used by item 0"#,
        ),
    ];
    for (v, want) in cases {
        let (key, value, msg) = key_and_msg(parse_subnets(v).unwrap_err());
        assert_eq!(key, ANNO_SUBNETS, "{v}");
        assert_eq!(value, v);
        assert!(msg.starts_with("ipam.spidernet.io/subnets: "), "{msg}");
        assert!(msg.contains(want), "{v}: {msg}");
    }
}

#[test]
fn ip_number_values() {
    let ok = [
        ("5", IpNumber::Fixed(5)),
        ("0", IpNumber::Fixed(0)),
        ("007", IpNumber::Fixed(7)),
        ("+1", IpNumber::Flexible(1)),
        ("+0", IpNumber::Flexible(0)),
        ("-0", IpNumber::Fixed(0)),
        ("+-00", IpNumber::Flexible(0)),
        ("18446744073709551615", IpNumber::Fixed(u64::MAX)),
    ];
    for (v, want) in ok {
        assert_eq!(parse_ip_number(v).unwrap(), want, "{v}");
    }
    assert_eq!(IpNumber::Fixed(5).to_string(), "5");
    assert_eq!(IpNumber::Flexible(2).to_string(), "+2");
    let bad = [
        ("-1", "must be equal to or greater than 0"),
        ("+-3", "must be equal to or greater than 0"),
        ("a", "must be a number of IPs"),
        ("", "must be a number of IPs"),
        ("+", "must be a number of IPs"),
        ("++1", "must be a number of IPs"),
        ("1+2", "must be a number of IPs"),
        ("5+", "must be a number of IPs"),
        (" 5", "must be a number of IPs"),
        ("-", "must be a number of IPs"),
        ("1.5", "must be a number of IPs"),
        ("18446744073709551616", "too large"),
    ];
    for (v, want) in bad {
        let (key, value, msg) = key_and_msg(parse_ip_number(v).unwrap_err());
        assert_eq!(key, ANNO_IPPOOL_IP_NUMBER);
        assert_eq!(value, v);
        assert!(msg.contains(want) && msg.contains(&format!("{v:?}")), "{v}: {msg}");
    }
}

#[test]
fn reclaim_values_follow_go_parse_bool() {
    for v in ["1", "t", "T", "TRUE", "true", "True"] {
        assert!(parse_reclaim(v).unwrap(), "{v}");
    }
    for v in ["0", "f", "F", "FALSE", "false", "False"] {
        assert!(!parse_reclaim(v).unwrap(), "{v}");
    }
    for v in ["", "yes", "tRUE", " true", "wrong-input"] {
        let (key, value, msg) = key_and_msg(parse_reclaim(v).unwrap_err());
        assert_eq!((key.as_str(), value.as_str()), (ANNO_IPPOOL_RECLAIM, v));
        assert!(msg.contains("must be a boolean"), "{msg}");
    }
}

#[test]
fn config_from_annotations() {
    let subnets =
        r#"[{"interface":"eth0","ipv4":["default-v4-subnet"],"ipv6":["default-v6-subnet"]}]"#;
    // none: default IPAM mode
    assert_eq!(parse_auto_pool_config(&annos(&[]), 1).unwrap(), None);
    assert_eq!(parse_auto_pool_config(&annos(&[(ANNO_IPPOOL_IP_NUMBER, "5")]), 1).unwrap(), None);
    // defaults: flexible with the cluster default, reclaimed
    let c = parse_auto_pool_config(&annos(&[(ANNO_SUBNETS, subnets)]), 0).unwrap().unwrap();
    assert_eq!(c.source, ANNO_SUBNETS);
    assert_eq!(c.ip_number, IpNumber::Flexible(0));
    assert!(c.reclaim);
    assert_eq!(c.nics, vec![choice("eth0", Some("default-v4-subnet"), Some("default-v6-subnet"))]);
    // fixed 5, reclaim false
    let c = parse_auto_pool_config(
        &annos(&[
            (ANNO_SUBNETS, subnets),
            (ANNO_IPPOOL_IP_NUMBER, "5"),
            (ANNO_IPPOOL_RECLAIM, "false"),
        ]),
        3,
    )
    .unwrap()
    .unwrap();
    assert_eq!((c.ip_number, c.reclaim), (IpNumber::Fixed(5), false));
    // subnets wins over subnet
    let c = parse_auto_pool_config(
        &annos(&[(ANNO_SUBNETS, subnets), (ANNO_SUBNET, "not even json")]),
        1,
    )
    .unwrap()
    .unwrap();
    assert_eq!(c.source, ANNO_SUBNETS);
    let c = parse_auto_pool_config(
        &annos(&[(ANNO_SUBNET, r#"{"ipv4":["s"]}"#), (ANNO_IPPOOL_IP_NUMBER, "+2")]),
        1,
    )
    .unwrap()
    .unwrap();
    assert_eq!(c.source, ANNO_SUBNET);
    assert_eq!(c.ip_number, IpNumber::Flexible(2));
    // each bad annotation is reported under its own key
    for (pairs, key) in [
        (vec![(ANNO_SUBNETS, "wrong-inputs")], ANNO_SUBNETS),
        (vec![(ANNO_SUBNET, "wrong-input")], ANNO_SUBNET),
        (vec![(ANNO_SUBNETS, subnets), (ANNO_IPPOOL_IP_NUMBER, "a")], ANNO_IPPOOL_IP_NUMBER),
        (vec![(ANNO_SUBNETS, subnets), (ANNO_IPPOOL_IP_NUMBER, "-1")], ANNO_IPPOOL_IP_NUMBER),
        (vec![(ANNO_SUBNETS, subnets), (ANNO_IPPOOL_RECLAIM, "wrong-input")], ANNO_IPPOOL_RECLAIM),
    ] {
        let (got, _, _) = key_and_msg(parse_auto_pool_config(&annos(&pairs), 0).unwrap_err());
        assert_eq!(got, key, "{pairs:?}");
    }
}

#[test]
fn item_for_nic() {
    let c = parse_auto_pool_config(
        &annos(&[(
            ANNO_SUBNETS,
            r#"[{"interface":"eth0","ipv4":["a"]},{"interface":"net1","ipv6":["b"]}]"#,
        )]),
        0,
    )
    .unwrap()
    .unwrap();
    assert_eq!(c.for_nic("net1").unwrap().ipv6.as_deref(), Some("b"));
    let msg = c.for_nic("net2").unwrap_err().to_string();
    assert_eq!(
        msg,
        r#"ipam.spidernet.io/subnets: interface "net2" is not listed (the value is for ["eth0", "net1"])"#
    );
    // the single form is for its interface (eth0 by default) only
    let c =
        parse_auto_pool_config(&annos(&[(ANNO_SUBNET, r#"{"ipv4":["a"]}"#)]), 0).unwrap().unwrap();
    assert!(c.for_nic("eth0").is_ok());
    let msg = c.for_nic("net1").unwrap_err().to_string();
    assert!(msg.starts_with("ipam.spidernet.io/subnet: "), "{msg}");
}

#[test]
fn families_follow_the_enabled_ones() {
    let dual = choice("eth0", Some("s4"), Some("s6"));
    assert_eq!(
        dual.subnets_for(ANNO_SUBNET, true, true).unwrap(),
        vec![(IpFamily::V4, "s4"), (IpFamily::V6, "s6")]
    );
    // a subnet of a disabled family is ignored
    assert_eq!(dual.subnets_for(ANNO_SUBNET, true, false).unwrap(), vec![(IpFamily::V4, "s4")]);
    assert_eq!(dual.subnets_for(ANNO_SUBNET, false, false).unwrap(), vec![]);
    // an enabled family without a subnet is an error
    let v4 = choice("net1", Some("s4"), None);
    let msg = v4.subnets_for(ANNO_SUBNETS, true, true).unwrap_err().to_string();
    assert_eq!(
        msg,
        r#"ipam.spidernet.io/subnets: interface "net1" names no IPv6 SpiderSubnet, but IPv6 is enabled"#
    );
    assert!(choice("eth0", None, Some("s6")).subnets_for(ANNO_SUBNET, true, false).is_err());
}
