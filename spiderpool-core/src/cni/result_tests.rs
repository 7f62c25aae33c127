use super::*;
use serde_json::json;

fn full() -> Result {
    Result {
        interfaces: vec![
            Interface {
                name: "veth1a2b".into(),
                mac: Some("aa:bb:cc:00:00:01".into()),
                ..Default::default()
            },
            Interface {
                name: "net1".into(),
                mac: Some("0a:1b:0a:06:01:02".into()),
                mtu: Some(1500),
                sandbox: Some("/var/run/netns/p1".into()),
                socket_path: Some("/run/vhost.sock".into()),
                pci_id: Some("0000:00:1f.6".into()),
            },
        ],
        ips: vec![
            IpConfig {
                address: "10.6.1.2/16".parse().unwrap(),
                gateway: Some("10.6.0.1".parse().unwrap()),
                interface: Some(1),
            },
            IpConfig { address: "fd00::2/64".parse().unwrap(), gateway: None, interface: Some(1) },
        ],
        routes: vec![
            Route::new("0.0.0.0/0".parse().unwrap(), Some("10.6.0.1".parse().unwrap())),
            Route {
                dst: "10.10.0.0/16".parse().unwrap(),
                gw: Some("10.6.0.1".parse().unwrap()),
                mtu: Some(1400),
                advmss: Some(1360),
                priority: Some(10),
                table: Some(101),
                scope: Some(0),
            },
        ],
        dns: Dns {
            nameservers: vec!["10.233.0.3".into()],
            domain: None,
            search: vec!["svc".into()],
            options: vec![],
        },
    }
}

#[test]
fn writes_1_1_0_with_every_field() {
    let j = full().to_json(Version::V1_1_0);
    assert_eq!(
        j,
        json!({
            "cniVersion": "1.1.0",
            "interfaces": [
                {"name": "veth1a2b", "mac": "aa:bb:cc:00:00:01"},
                {"name": "net1", "mac": "0a:1b:0a:06:01:02", "mtu": 1500, "sandbox": "/var/run/netns/p1",
                 "socketPath": "/run/vhost.sock", "pciID": "0000:00:1f.6"}
            ],
            "ips": [
                {"interface": 1, "address": "10.6.1.2/16", "gateway": "10.6.0.1"},
                {"interface": 1, "address": "fd00::2/64"}
            ],
            "routes": [
                {"dst": "0.0.0.0/0", "gw": "10.6.0.1"},
                {"dst": "10.10.0.0/16", "gw": "10.6.0.1", "mtu": 1400, "advmss": 1360, "priority": 10,
                 "table": 101, "scope": 0}
            ],
            "dns": {"nameservers": ["10.233.0.3"], "search": ["svc"]}
        })
    );
}

#[test]
fn writes_1_0_0_without_1_1_fields() {
    let j = full().to_json(Version::V1_0_0);
    assert_eq!(j["cniVersion"], "1.0.0");
    assert_eq!(
        j["interfaces"][1],
        json!({"name": "net1", "mac": "0a:1b:0a:06:01:02", "sandbox": "/var/run/netns/p1"})
    );
    assert_eq!(j["routes"][1], json!({"dst": "10.10.0.0/16", "gw": "10.6.0.1"}));
    assert!(j["ips"][0].get("version").is_none());
}

#[test]
fn writes_0_x_with_ip_versions() {
    for v in [Version::V0_3_0, Version::V0_3_1, Version::V0_4_0] {
        let j = full().to_json(v);
        assert_eq!(j["cniVersion"], v.to_string());
        assert_eq!(
            j["ips"][0],
            json!({"version": "4", "interface": 1, "address": "10.6.1.2/16", "gateway": "10.6.0.1"})
        );
        assert_eq!(j["ips"][1], json!({"version": "6", "interface": 1, "address": "fd00::2/64"}));
        assert_eq!(j["routes"][1], json!({"dst": "10.10.0.0/16", "gw": "10.6.0.1"}));
        assert!(j["interfaces"][1].get("pciID").is_none());
    }
}

#[test]
fn round_trips_through_every_version() {
    let full = full();
    let new = Result::from_json(&full.to_json(Version::V1_1_0), Version::V1_1_0, "r").unwrap();
    assert_eq!(new, full);
    // Older versions lose exactly the 1.1.0 fields.
    let mut old = full.clone();
    for i in &mut old.interfaces {
        i.mtu = None;
        i.socket_path = None;
        i.pci_id = None;
    }
    for r in &mut old.routes {
        *r = Route::new(r.dst, r.gw);
    }
    for v in [Version::V0_3_0, Version::V0_3_1, Version::V0_4_0, Version::V1_0_0] {
        assert_eq!(Result::from_json(&full.to_json(v), v, "r").unwrap(), old, "{v}");
    }
}

#[test]
fn reads_go_plugin_output() {
    // What Debian's macvlan prints at 0.4.0 (Go libcni always writes "dns": {}).
    let j = json!({
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "net1", "mac": "6a:3c:8e:52:d1:0f", "sandbox": "/var/run/netns/t"}],
        "ips": [{"version": "4", "interface": 0, "address": "10.6.212.145/16", "gateway": "10.6.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {}
    });
    let r = Result::from_json(&j, Version::V0_4_0, "prevResult").unwrap();
    assert_eq!(r.ips[0].interface, Some(0));
    assert_eq!(r.interface_index("net1", Some("/var/run/netns/t")), Some(0));
    assert!(r.dns.is_empty());
    assert_eq!(r.routes[0].gw, None);
    // Re-emitted at 1.0.0: no version tag, no empty dns.
    let out = r.to_json(Version::V1_0_0);
    assert_eq!(
        out["ips"][0],
        json!({"interface": 0, "address": "10.6.212.145/16", "gateway": "10.6.0.1"})
    );
    assert!(out.get("dns").is_none());
}

#[test]
fn abbreviated_ipam_result_has_no_interfaces() {
    let a = full().abbreviated();
    assert!(a.interfaces.is_empty());
    assert!(a.ips.iter().all(|ip| ip.interface.is_none()));
    let j = a.to_json(Version::V1_0_0);
    assert!(j.get("interfaces").is_none());
    assert_eq!(j["ips"][0], json!({"address": "10.6.1.2/16", "gateway": "10.6.0.1"}));
    let j = a.to_json(Version::V1_1_0);
    assert_eq!(Result::from_json(&j, Version::V1_1_0, "ipam").unwrap(), a);
}

#[test]
fn bad_content_is_code_6_naming_path_and_value() {
    let cases = [
        (json!({"ips": [{"address": "10.0.0.300/24"}]}), "p.ips[0].address", "10.0.0.300/24"),
        (json!({"ips": [{"address": "10.0.0.3"}]}), "p.ips[0].address", "10.0.0.3"),
        (json!({"ips": [{"address": "10.0.0.3/24", "gateway": "x"}]}), "p.ips[0].gateway", "\"x\""),
        (json!({"routes": [{"dst": "0.0.0.0/0", "gw": "1.2.3"}]}), "p.routes[0].gw", "1.2.3"),
        (
            json!({"ips": [{"version": "6", "address": "10.0.0.3/24"}]}),
            "p.ips[0].version",
            "10.0.0.3/24",
        ),
        (
            json!({"ips": [{"address": "10.0.0.3/24", "interface": 2}]}),
            "p.ips[0].interface",
            "index 2",
        ),
        (json!({"ips": "nope"}), "p", "invalid type"),
    ];
    for (j, path, value) in cases {
        let e = Result::from_json(&j, Version::V0_4_0, "p").unwrap_err();
        assert_eq!(e.code().as_u32(), 6, "{e}");
        let text = e.to_string();
        assert!(text.contains(path) && text.contains(value), "{text}");
    }
    // 1.0.0 results have no version tag to check.
    let j = json!({"ips": [{"version": "6", "address": "10.0.0.3/24"}]});
    assert!(Result::from_json(&j, Version::V1_0_0, "p").is_ok());
    let e = Result::from_json(&json!({}), Version::new(0, 2, 0), "prevResult").unwrap_err();
    assert_eq!(e.code().as_u32(), 1);
}
