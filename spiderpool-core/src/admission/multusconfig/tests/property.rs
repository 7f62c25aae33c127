//! Property tests: mutation is idempotent and never panics on any SMC; what it
//! makes of a well-formed SMC passes validation and renders.

use proptest::option::of;
use proptest::prelude::*;

use super::*;
use crate::model::{
    BondConfig, CoordinatorSpec, MultusCNIConfigSpec, ObjectMeta, Route, SpiderIBSriovCniConfig,
    SpiderIpoibCniConfig, SpiderMacvlanCniConfig, SpiderOvsCniConfig, SpiderSRIOVCniConfig,
    SpiderVlanCniConfig, SpiderpoolPools, Trunk,
};
use crate::multus::render;

fn ctx_run<T>(f: impl FnOnce(&Context<'_>) -> T) -> T {
    let settings = ClusterSettings::default();
    let existing = Existing::default();
    f(&Context { settings: &settings, existing: &existing })
}

fn pools(any_mms: bool) -> impl Strategy<Value = Option<SpiderpoolPools>> {
    let names = prop::collection::vec(prop::sample::select(vec!["v4", "pool-*", ""]), 0..3);
    of((of(any::<bool>()), names.clone(), names).prop_map(move |(mms, v4, v6)| SpiderpoolPools {
        match_master_subnet: if any_mms { mms } else { None },
        ipv4: v4.into_iter().map(String::from).collect(),
        ipv6: v6.into_iter().map(String::from).collect(),
    }))
}

fn masters(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(vec!["ens192", "ens224", "", "eth0"]), 0..max)
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

fn bond() -> impl Strategy<Value = Option<BondConfig>> {
    of((prop::sample::select(vec!["", "bond0"]), -1..8i32, of(Just("miimon=100".to_string())))
        .prop_map(|(name, mode, options)| BondConfig { name: name.into(), mode, options }))
}

fn coordinator() -> impl Strategy<Value = Option<CoordinatorSpec>> {
    let text = |v: Vec<&'static str>| of(prop::sample::select(v).prop_map(String::from));
    of((
        text(vec!["auto", "underlay", "overlay", "disabled"]),
        of(any::<bool>()),
        of(-2..3i64),
        of(0..2000i64),
        text(vec!["", "0a:1b"]),
        text(vec!["", "net1"]),
        of(1000..9000i64),
        prop::collection::vec(Just("169.254.0.0/16".to_string()), 0..2),
        prop::collection::vec(Just(Route::new("10.9.0.0/16", "10.6.0.1")), 0..2),
    )
        .prop_map(|(mode, tune, rp, txq, mac, nic, mtu, hijack, routes)| CoordinatorSpec {
            mode,
            tune_pod_routes: tune,
            pod_rp_filter: rp,
            tx_queue_len: txq,
            pod_mac_prefix: mac,
            pod_default_route_nic: nic,
            veth_mtu: mtu,
            hijack_cidr: hijack,
            policy_routes: routes,
            ..CoordinatorSpec::default()
        }))
}

fn macvlan_section(well_formed: bool) -> impl Strategy<Value = SpiderMacvlanCniConfig> {
    (masters(3), of(-2..4100i32), of(-1..9000i32), bond(), pools(!well_formed)).prop_map(
        move |(mut master, vlan_id, mtu, mut bond, ippools)| {
            if well_formed {
                master.retain(|m| !m.is_empty());
                master.dedup();
                if master.is_empty() {
                    master.push("ens192".into());
                }
                if let Some(b) = bond.as_mut() {
                    b.name = "bond0".into();
                    b.mode = b.mode.clamp(0, 6);
                }
                if master.len() >= 2 && bond.is_none() {
                    bond = Some(BondConfig { name: "bond0".into(), mode: 1, options: None });
                }
            }
            SpiderMacvlanCniConfig {
                master,
                vlan_id: if well_formed { vlan_id.map(|v| v.clamp(0, 4094)) } else { vlan_id },
                mtu: if well_formed { mtu.map(|m| m.max(0)) } else { mtu },
                bond,
                rdma_resource_name: None,
                ippools,
            }
        },
    )
}

/// An SMC of the given `cniType` with its section; `well_formed` keeps every
/// value inside the rules, otherwise anything goes (other sections too).
fn any_smc(well_formed: bool) -> impl Strategy<Value = SpiderMultusConfig> {
    let cni_type = prop::sample::select(vec![
        "macvlan", "ipvlan", "vlan", "sriov", "ib-sriov", "ipoib", "ovs", "custom", "bogus",
    ]);
    let chain = prop::collection::vec(
        prop::sample::select(vec![r#"{"type":"bandwidth"}"#, r#"{"type":"tuning","mtu":1}"#, "{"]),
        0..3,
    );
    (
        cni_type,
        macvlan_section(well_formed),
        (of(prop::sample::select(vec!["manual", "auto", "x"])), -1..9000i64, 0..3usize),
        coordinator(),
        chain,
        (of(any::<bool>()), of(any::<bool>()), any::<bool>()),
    )
        .prop_map(
            move |(
                t,
                mac,
                (vlan_mode, rate, trunks),
                coordinator,
                chain,
                (ec, di, absent_type),
            )| {
                let mut spec = MultusCNIConfigSpec {
                    cni_type: Some(t.to_string()),
                    enable_coordinator: ec,
                    disable_ipam: di,
                    coordinator,
                    ..MultusCNIConfigSpec::default()
                };
                spec.chain_cni_json_data = chain
                    .into_iter()
                    .filter(|c| !well_formed || *c != "{")
                    .map(String::from)
                    .collect();
                let pools = mac.ippools.clone();
                match t {
                    "macvlan" => spec.macvlan = Some(mac),
                    "ipvlan" => spec.ipvlan = Some(mac),
                    "vlan" => {
                        let mode =
                            if well_formed { vlan_mode.filter(|m| *m != "x") } else { vlan_mode };
                        let auto = mode == Some("auto");
                        spec.vlan = Some(SpiderVlanCniConfig {
                            vlan_id: if well_formed && auto { None } else { mac.vlan_id },
                            vlan_mode: mode.map(String::from),
                            master: mac.master,
                            mtu: mac.mtu,
                            bond: mac.bond,
                            rdma_resource_name: None,
                            ippools: pools,
                        });
                    }
                    "sriov" => {
                        spec.sriov = Some(SpiderSRIOVCniConfig {
                            resource_name: Some("spidernet.io/sriov".into()),
                            vlan_id: mac.vlan_id,
                            mtu: mac.mtu,
                            min_tx_rate_mbps: Some(if well_formed {
                                rate.max(0) / 2
                            } else {
                                rate
                            }),
                            max_tx_rate_mbps: Some(if well_formed {
                                rate.max(0)
                            } else {
                                rate / 2
                            }),
                            rdma_isolation: Some(rate % 2 == 0),
                            ippools: pools,
                        })
                    }
                    "ib-sriov" => {
                        spec.ibsriov = Some(SpiderIBSriovCniConfig {
                            resource_name: Some("spidernet.io/ib".into()),
                            ippools: pools,
                            ..SpiderIBSriovCniConfig::default()
                        })
                    }
                    "ipoib" => {
                        spec.ipoib =
                            Some(SpiderIpoibCniConfig { master: "ib0".into(), ippools: pools })
                    }
                    "ovs" => {
                        spec.ovs = Some(SpiderOvsCniConfig {
                            bridge: "br1".into(),
                            vlan: mac.vlan_id,
                            trunk: (0..trunks)
                                .map(|i| Trunk { id: Some(i as u64 * 10), ..Trunk::default() })
                                .collect(),
                            device_id: if rate % 2 == 0 {
                                "0000:81:00.2".into()
                            } else {
                                String::new()
                            },
                            ippools: pools,
                        })
                    }
                    "custom" => spec.custom_cni = Some(r#"{"type":"bridge"}"#.into()),
                    _ => {
                        if !well_formed {
                            spec.macvlan = Some(mac);
                        }
                    }
                }
                if absent_type && (t == "custom" || !well_formed) {
                    spec.cni_type = None;
                }
                SpiderMultusConfig {
                    metadata: ObjectMeta {
                        name: Some("net".into()),
                        namespace: Some("default".into()),
                        uid: Some("uid-net".into()),
                        ..ObjectMeta::default()
                    },
                    spec,
                    ..SpiderMultusConfig::default()
                }
            },
        )
        .prop_filter("well-formed SMCs have a known cniType", move |s| {
            !well_formed || s.spec.cni_type.as_deref() != Some("bogus")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutation_is_idempotent(obj in any_smc(false)) {
        let once = ctx_run(|ctx| {
            let mut o = obj.clone();
            mutate(&mut o, Operation::Create, ctx).unwrap();
            o
        });
        let twice = ctx_run(|ctx| {
            let mut o = once.clone();
            mutate(&mut o, Operation::Update, ctx).unwrap();
            o
        });
        prop_assert_eq!(&once, &twice);
        // Nothing panics on arbitrary input.
        let _ = ctx_run(|ctx| validate(Operation::Create, Some(&once), None, ctx));
        let _ = render(&once);
    }

    #[test]
    fn mutated_well_formed_smcs_validate_and_render(obj in any_smc(true)) {
        let stored = ctx_run(|ctx| {
            let mut o = obj.clone();
            mutate(&mut o, Operation::Create, ctx).unwrap();
            o
        });
        let verdict = ctx_run(|ctx| validate(Operation::Create, Some(&stored), None, ctx));
        prop_assert!(verdict.is_ok(), "{:?}: {}", stored.spec, verdict.unwrap_err());
        let nad = render(&stored);
        prop_assert!(nad.is_ok(), "{:?}", nad);
        let nad = nad.unwrap();
        let config: serde_json::Value =
            serde_json::from_str(nad.spec.config.as_deref().unwrap_or("{}")).unwrap();
        if stored.spec.cni_type.as_deref() != Some("custom") {
            let plugins = config["plugins"].as_array().unwrap();
            let has_coordinator = plugins.iter().any(|p| p["type"] == "coordinator");
            prop_assert_eq!(has_coordinator, stored.spec.coordinator_enabled());
        }
    }
}
