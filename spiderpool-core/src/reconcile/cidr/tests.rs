use super::*;

const KUBEADM: &str = "apiServer:\n  certSANs: []\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: 10.244.0.0/16,fd00:10:244::/56\n  serviceSubnet: \"10.96.0.0/12\"\n";

fn facts() -> CidrFacts {
    CidrFacts {
        kubeadm_config_name: "kube-system/kubeadm-config".into(),
        cilium_config_name: "kube-system/cilium-config".into(),
        ..Default::default()
    }
}

fn synced(s: &CoordinatorStatus) -> (Vec<&str>, Vec<&str>) {
    assert_eq!(s.phase, "Synced", "{}", s.reason);
    (
        s.overlay_pod_cidr.iter().map(String::as_str).collect(),
        s.service_cidr.iter().map(String::as_str).collect(),
    )
}

#[test]
fn kubeadm_config_gives_both_cidrs() {
    let f = CidrFacts { kubeadm_cluster_configuration: Some(KUBEADM.into()), ..facts() };
    let s = coordinator_status(Some("cluster"), &f);
    assert_eq!(synced(&s), (vec!["10.244.0.0/16", "fd00:10:244::/56"], vec!["10.96.0.0/12"]));
}

#[test]
fn controller_manager_flags_then_nodes_are_fallbacks() {
    let args = [
        "kube-controller-manager",
        "--cluster-cidr=10.1.0.0/16",
        "--service-cluster-ip-range=10.2.0.0/16,bad",
    ]
    .map(String::from)
    .to_vec();
    let f = CidrFacts {
        kubeadm_cluster_configuration: Some("networking: {}\n".into()),
        controller_manager_args: Some(args),
        node_pod_cidrs: vec!["10.1.7.0/24".into()],
        ..facts()
    };
    assert_eq!(
        synced(&coordinator_status(Some("cluster"), &f)),
        (vec!["10.1.0.0/16"], vec!["10.2.0.0/16"])
    );
    let f = CidrFacts {
        node_pod_cidrs: vec!["10.1.7.0/24".into(), "10.1.8.0/24".into(), "10.1.7.0/24".into()],
        service_cidr_api: Some(vec!["10.3.0.0/16".into()]),
        ..facts()
    };
    assert_eq!(
        synced(&coordinator_status(Some("cluster"), &f)),
        (vec!["10.1.7.0/24", "10.1.8.0/24"], vec!["10.3.0.0/16"])
    );
}

/// The reason says exactly what was looked at and what is missing.
#[test]
fn not_ready_reasons_name_what_is_missing() {
    let s = coordinator_status(Some("cluster"), &facts());
    assert_eq!(s.phase, "NotReady");
    assert!(s.overlay_pod_cidr.is_empty() && s.service_cidr.is_empty());
    assert_eq!(
        s.reason,
        "service CIDR unknown: no ServiceCIDR API; ConfigMap kube-system/kubeadm-config not found; no pod labelled component=kube-controller-manager"
    );
    let f = CidrFacts { service_cidr_api: Some(vec!["10.96.0.0/12".into()]), ..facts() };
    assert_eq!(
        coordinator_status(Some("cluster"), &f).reason,
        "podCIDRType cluster: the cluster's pod CIDR is unknown: ConfigMap kube-system/kubeadm-config not found; no pod labelled component=kube-controller-manager; no node has spec.podCIDRs"
    );
    // `none` needs no pod CIDR (Spiderpool is NotReady here, reference §11.12).
    assert_eq!(synced(&coordinator_status(Some("none"), &f)), (vec![], vec!["10.96.0.0/12"]));
    let s = coordinator_status(Some("cilium"), &f);
    assert_eq!(s.reason, "podCIDRType cilium: ConfigMap kube-system/cilium-config not found");
    let s = coordinator_status(Some("calico"), &f);
    assert!(s.reason.contains("ippools.crd.projectcalico.org"), "{}", s.reason);
    let s = coordinator_status(Some("weave"), &f);
    assert!(s.reason.starts_with("spec.podCIDRType: "), "{}", s.reason);
}

#[test]
fn cilium_modes() {
    let base = CidrFacts { service_cidr_api: Some(vec!["10.96.0.0/12".into()]), ..facts() };
    let cm = |pairs: &[(&str, &str)]| {
        Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    };
    let f = CidrFacts {
        cilium_config: cm(&[
            ("ipam", "cluster-pool"),
            ("cluster-pool-ipv4-cidr", "10.0.0.0/8 10.9.0.0/16"),
            ("cluster-pool-ipv6-cidr", "fd85:ee78:d8a6:8607::/64"),
        ]),
        ..base.clone()
    };
    assert_eq!(
        synced(&coordinator_status(Some("cilium"), &f)).0,
        vec!["10.0.0.0/8", "10.9.0.0/16", "fd85:ee78:d8a6:8607::/64"]
    );
    let f = CidrFacts { cilium_config: cm(&[("ipam", "eni")]), ..base.clone() };
    assert!(
        coordinator_status(Some("cilium"), &f)
            .reason
            .contains("unsupported Cilium IPAM mode \"eni\"")
    );
    let f = CidrFacts {
        cilium_config: cm(&[("ipam", "multi-pool")]),
        cilium_pod_ip_pools: Some(vec!["10.20.0.0/16".into()]),
        ..base.clone()
    };
    assert_eq!(synced(&coordinator_status(Some("cilium"), &f)).0, vec!["10.20.0.0/16"]);
    let f = CidrFacts {
        cilium_config: cm(&[("ipam", "kubernetes")]),
        node_pod_cidrs: vec!["10.1.0.0/24".into()],
        ..base
    };
    assert_eq!(synced(&coordinator_status(Some("cilium"), &f)).0, vec!["10.1.0.0/24"]);
}

#[test]
fn calico_pools_enabled_only() {
    let pool = |name: &str, cidr: &str, disabled| CalicoPool {
        name: name.into(),
        cidr: cidr.into(),
        disabled,
    };
    let f = CidrFacts {
        service_cidr_api: Some(vec!["10.96.0.0/12".into()]),
        calico_pools: Some(vec![
            pool("a", "192.168.0.0/16", false),
            pool("b", "10.5.0.0/16", true),
        ]),
        ..facts()
    };
    assert_eq!(synced(&coordinator_status(Some("calico"), &f)).0, vec!["192.168.0.0/16"]);
    assert_eq!(
        synced(&coordinator_status(Some("auto"), &f)).0,
        vec!["192.168.0.0/16"],
        "auto sees Calico"
    );
    let f = CidrFacts { calico_pools: Some(vec![pool("b", "10.5.0.0/16", true)]), ..f };
    assert!(coordinator_status(Some("calico"), &f).reason.contains("no enabled Calico IPPool"));
}

#[test]
fn auto_from_the_cni_config_directory() {
    let files = |list: &[(&str, &str)]| {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>()
    };
    let dir = files(&[
        ("00-multus.conf", r#"{"name":"multus-cni-network"}"#),
        ("10-calico.conflist", r#"{"name":"k8s-pod-network","plugins":[]}"#),
        ("20-cilium.conflist", r#"{"name":"cilium"}"#),
        ("README", "x"),
    ]);
    assert_eq!(default_cni_network(&dir).as_deref(), Some("k8s-pod-network"));
    assert_eq!(default_cni_network(&files(&[("05-x.conf", "not json")])), None);
    let cluster = ClusterCidrs::default();
    let with = |net: &str| CidrFacts { default_cni_network: Some(net.into()), ..facts() };
    assert_eq!(
        resolve_type(Some("auto"), &with("k8s-pod-network"), &cluster),
        Ok(PodCidrType::Calico)
    );
    assert_eq!(resolve_type(Some("auto"), &with("cilium"), &cluster), Ok(PodCidrType::Cilium));
    assert_eq!(resolve_type(Some("auto"), &with("flannel"), &cluster), Ok(PodCidrType::Cluster));
    assert_eq!(resolve_type(Some("auto"), &with("weave"), &cluster), Ok(PodCidrType::None));
    let cilium = CidrFacts { cilium_config: Some(BTreeMap::new()), ..facts() };
    assert_eq!(resolve_type(Some("auto"), &cilium, &cluster), Ok(PodCidrType::Cilium));
    let known = ClusterCidrs { pod: vec!["10.0.0.0/16".into()], service: vec![] };
    assert_eq!(resolve_type(Some("auto"), &facts(), &known), Ok(PodCidrType::Cluster));
    assert_eq!(resolve_type(Some("auto"), &facts(), &cluster), Ok(PodCidrType::None));
}

#[test]
fn parsers_drop_invalid_entries() {
    assert_eq!(
        parse_kubeadm("podSubnet: nope\nserviceSubnet: 10.96.0.1/12\n"),
        (vec![], vec!["10.96.0.0/12".to_string()])
    );
    let args = ["--cluster-cidr", "--cluster-cidrs=10.0.0.0/8"].map(String::from);
    assert_eq!(parse_controller_manager(&args), (vec![], vec![]));
}
