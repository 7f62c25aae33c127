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

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> =
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[test]
fn command_from_env_requires_a_known_command() {
    assert_eq!(command_from_env(&env_of(&[(CNI_COMMAND, "DEL")])).unwrap(), Command::Del);
    for env in [env_of(&[]), env_of(&[(CNI_COMMAND, "")]), env_of(&[(CNI_COMMAND, "add")])] {
        let e = command_from_env(&env).unwrap_err();
        assert_eq!(e.code().as_u32(), 4);
        assert!(e.to_string().starts_with(CNI_COMMAND), "{e}");
    }
}

#[test]
fn attachment_env_names_every_missing_variable() {
    let none = AttachmentEnv::default();
    assert_eq!(none.missing(Command::Add), [CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME]);
    assert_eq!(none.missing(Command::Check), [CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME]);
    // DEL runs without a netns (the runtime may have none left).
    assert_eq!(none.missing(Command::Del), [CNI_CONTAINERID, CNI_IFNAME]);
    assert!(none.missing(Command::Gc).is_empty() && none.missing(Command::Status).is_empty());
    let e = none.require(Command::Del).unwrap_err();
    assert!(e.to_string().contains("CNI_CONTAINERID,CNI_IFNAME"), "{e}");
    assert_eq!(none.validated(Command::Gc).unwrap(), (String::new(), None, String::new()));
    let set = AttachmentEnv::read(&env_of(&[
        (CNI_CONTAINERID, "abc"),
        (CNI_NETNS, "/run/netns/x"),
        (CNI_IFNAME, "net1"),
    ]));
    assert!(set.require(Command::Add).is_ok());
    assert_eq!(
        set.clone().validated(Command::Add).unwrap(),
        ("abc".to_string(), Some("/run/netns/x".to_string()), "net1".to_string())
    );
    let bad = AttachmentEnv { ifname: Some("a/b".into()), ..set };
    assert!(bad.validated(Command::Add).unwrap_err().to_string().starts_with(CNI_IFNAME));
}

#[test]
fn min_version_per_command() {
    assert_eq!(min_version(Command::Add), None);
    assert_eq!(min_version(Command::Del), None);
    assert_eq!(min_version(Command::Check), Some(Version::V0_4_0));
    assert_eq!(min_version(Command::Gc), Some(Version::V1_1_0));
    assert_eq!(min_version(Command::Status), Some(Version::V1_1_0));
    assert!(check_min_version(Command::Check, Version::V0_4_0, "0.4.0").is_ok());
    let e = check_min_version(Command::Gc, Version::V0_4_0, "0.4.0").unwrap_err();
    assert_eq!(e.code().as_u32(), 1);
    assert!(e.to_string().contains("GC needs cniVersion 1.1.0 or later"), "{e}");
}

#[test]
fn cni_path_drops_empty_items() {
    assert!(cni_path(&env_of(&[])).is_empty());
    let path = cni_path(&env_of(&[(CNI_PATH, ":/opt/cni/bin::/usr/lib/cni:")]));
    assert_eq!(path, [PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]);
}
