use super::*;

#[test]
fn commands_parse_exactly() {
    for c in
        [Command::Add, Command::Del, Command::Check, Command::Gc, Command::Status, Command::Version]
    {
        assert_eq!(Command::parse(c.as_str()), Some(c));
    }
    assert_eq!(Command::parse("add"), None);
    assert_eq!(Command::parse("GET"), None);
    assert!(Command::Del.is_per_attachment() && !Command::Gc.is_per_attachment());
}

#[test]
fn ifname_rules_follow_libcni() {
    for ok in ["eth0", "net1", "a", "veth1234567890a", "ens192.100"] {
        assert!(validate_ifname(ok).is_ok(), "{ok}");
    }
    for (bad, why) in [
        ("veth1234567890ab", "longer than 15"),
        (".", ". or .."),
        ("..", ". or .."),
        ("a/b", "'/'"),
        ("a:b", "'/'"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
    ] {
        let e = validate_ifname(bad).unwrap_err();
        assert_eq!(e.code().as_u32(), 4);
        let msg = e.to_string();
        assert!(msg.starts_with("CNI_IFNAME") && msg.contains(&format!("{bad:?}")), "{msg}");
        assert!(msg.contains(why), "{msg}");
    }
}

#[test]
fn container_id_rules_follow_libcni() {
    for ok in ["abc", "0f1e2d3c4b5a", "a_b.c-d"] {
        assert!(validate_container_id(ok).is_ok(), "{ok}");
    }
    for bad in ["-abc", "_x", "a b", "a/b", "ä"] {
        let e = validate_container_id(bad).unwrap_err();
        assert_eq!(e.code().as_u32(), 4);
        assert!(e.to_string().starts_with("CNI_CONTAINERID"), "{e}");
    }
}

#[test]
fn fail_prints_the_reply_and_returns_1() {
    let mut out = Vec::new();
    let code = fail(&CniError::plugin(101, "agent unreachable", "socket /x"), "0.4.0", &mut out);
    assert_eq!(code, 1);
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"cniVersion": "0.4.0", "code": 101, "msg": "agent unreachable", "details": "socket /x"})
    );
}
