//! Property tests of SpiderIPPool and SpiderSubnet admission:
//!
//! 1. mutation is idempotent (mutating twice gives what mutating once gives),
//!    for well-formed and for messy pools and subnets;
//! 2. whatever mutation produces from a well-formed object (random subnet,
//!    random ranges inside it, optional gateway outside the usable IPs,
//!    optional route) passes validation;
//! 3. merged ranges are canonical (sorted, disjoint, non-adjacent) and cover
//!    exactly the input set;
//! 4. messy objects never make mutate or validate panic, whatever the
//!    operation and settings.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use spiderpool_core::admission::{
    ClusterSettings, Context, Existing, Operation, common::merge_in_place, ippool, subnet,
};
use spiderpool_core::ip::{
    IpFamily, IpRange, IpSet, canonical_cidr_string, cidr_range, parse_cidr, u128_to_ip,
};
use spiderpool_core::model::{IPPoolSpec, Route, SpiderIPPool, SpiderSubnet, SubnetSpec};

/// A random network: family, canonical CIDR text, first value, last value.
#[derive(Clone, Debug)]
struct Net {
    family: IpFamily,
    cidr: String,
    first: u128,
    last: u128,
}

impl Net {
    fn at(&self, offset: u128) -> u128 {
        self.first + offset % (self.last - self.first + 1)
    }
    fn ip(&self, offset: u128) -> String {
        u128_to_ip(self.family, self.at(offset)).to_string()
    }
    fn range(&self, a: u128, b: u128) -> String {
        let (a, b) = (self.at(a), self.at(b));
        IpRange::from_u128(self.family, a.min(b), a.max(b)).unwrap().to_string()
    }
}

fn net() -> impl Strategy<Value = Net> {
    let v4 = (any::<u32>(), 8u8..=30)
        .prop_map(|(addr, len)| format!("{}/{len}", std::net::Ipv4Addr::from(addr)));
    let v6 = (any::<u128>(), 48u8..=124)
        .prop_map(|(addr, len)| format!("{}/{len}", std::net::Ipv6Addr::from(addr)));
    prop_oneof![v4, v6].prop_map(|text| {
        let n = parse_cidr(&text).unwrap().trunc();
        let r = cidr_range(&n);
        Net {
            family: r.family(),
            cidr: canonical_cidr_string(&n),
            first: r.start_u128(),
            last: r.end_u128(),
        }
    })
}

/// Offsets pairs for ranges; small offsets make overlaps and adjacency likely.
fn offsets() -> impl Strategy<Value = Vec<(u128, u128)>> {
    proptest::collection::vec(
        prop_oneof![(0u128..40, 0u128..40), (any::<u128>(), any::<u128>())],
        0..6,
    )
}

/// Parts of a well-formed pool or subnet.
#[derive(Clone, Debug)]
struct Parts {
    net: Net,
    ips: Vec<String>,
    exclude: Vec<String>,
    gateway: Option<String>,
    routes: Option<Vec<Route>>,
    infer_version: bool,
}

fn parts() -> impl Strategy<Value = Parts> {
    (net(), offsets(), offsets(), proptest::option::of(any::<u128>()), any::<bool>(), any::<bool>())
        .prop_map(|(net, ips, exclude, gw, route, infer_version)| {
            let ips: Vec<String> = ips.iter().map(|(a, b)| net.range(*a, *b)).collect();
            let mut exclude: Vec<String> = exclude.iter().map(|(a, b)| net.range(*a, *b)).collect();
            let gateway = gw.map(|g| net.ip(g));
            // A gateway inside `ips` must be excluded to be well formed.
            if let Some(g) = &gateway {
                exclude.push(g.clone());
            }
            let routes = route.then(|| {
                let dst = match net.family {
                    IpFamily::V4 => "192.0.2.0/24".to_owned(),
                    IpFamily::V6 => "2001:db8::/32".to_owned(),
                };
                vec![Route::new(dst, net.ip(1))]
            });
            Parts { net, ips, exclude, gateway, routes, infer_version }
        })
}

fn version(p: &Parts) -> Option<i64> {
    (!p.infer_version).then_some(i64::from(p.net.family.version()))
}

fn pool_of(p: &Parts) -> SpiderIPPool {
    SpiderIPPool::new(
        "p",
        IPPoolSpec {
            ip_version: version(p),
            subnet: p.net.cidr.clone(),
            ips: p.ips.clone(),
            exclude_ips: p.exclude.clone(),
            gateway: p.gateway.clone(),
            routes: p.routes.clone(),
            ..IPPoolSpec::default()
        },
    )
}

fn subnet_of(p: &Parts) -> SpiderSubnet {
    SpiderSubnet::new(
        "s",
        SubnetSpec {
            ip_version: version(p),
            subnet: p.net.cidr.clone(),
            ips: p.ips.clone(),
            exclude_ips: p.exclude.clone(),
            gateway: p.gateway.clone(),
            routes: p.routes.clone().unwrap_or_default(),
            ..SubnetSpec::default()
        },
    )
}

/// A SpiderSubnet covering the whole network, with a route and no gateway, so
/// an adopted pool inherits the route.
fn covering_subnet(net: &Net) -> SpiderSubnet {
    let whole = IpRange::from_u128(net.family, net.first, net.last).unwrap().to_string();
    SpiderSubnet::new(
        "cover",
        SubnetSpec {
            ip_version: Some(i64::from(net.family.version())),
            subnet: net.cidr.clone(),
            ips: vec![whole],
            routes: vec![Route::new(
                match net.family {
                    IpFamily::V4 => "198.51.100.0/24",
                    IpFamily::V6 => "2001:db8:1::/48",
                },
                net.ip(2),
            )],
            ..SubnetSpec::default()
        },
    )
}

fn settings() -> ClusterSettings {
    ClusterSettings { enable_spider_subnet: true, ..ClusterSettings::default() }
}

/// Messy text: valid and invalid items mixed.
fn messy_item() -> impl Strategy<Value = String> {
    prop_oneof![
        "10\\.0\\.0\\.[0-9]{1,3}(-10\\.0\\.0\\.[0-9]{1,3})?",
        "fd00::[0-9a-f]{1,4}(-fd00::[0-9a-f]{1,4})?",
        "[0-9a-f.:/-]{0,12}",
    ]
}

fn messy_pool() -> impl Strategy<Value = SpiderIPPool> {
    (
        prop_oneof![
            Just("10.0.0.0/24".to_owned()),
            Just("fd00::/120".to_owned()),
            "[0-9a-f.:/]{0,12}"
        ],
        proptest::option::of(-1i64..8),
        proptest::collection::vec(messy_item(), 0..5),
        proptest::collection::vec(messy_item(), 0..3),
        proptest::option::of(messy_item()),
    )
        .prop_map(|(subnet, ip_version, ips, exclude_ips, gateway)| {
            SpiderIPPool::new(
                "m",
                IPPoolSpec {
                    ip_version,
                    subnet,
                    ips,
                    exclude_ips,
                    gateway,
                    ..IPPoolSpec::default()
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pool_mutation_is_idempotent(p in parts(), adopt in any::<bool>(), messy in messy_pool()) {
        let existing = Existing {
            subnets: if adopt { vec![covering_subnet(&p.net)] } else { vec![] },
            ..Existing::default()
        };
        let s = settings();
        let ctx = Context { settings: &s, existing: &existing };
        for obj in [pool_of(&p), messy] {
            let mut once = obj.clone();
            ippool::mutate(&mut once, Operation::Create, &ctx).unwrap();
            let mut twice = once.clone();
            ippool::mutate(&mut twice, Operation::Update, &ctx).unwrap();
            prop_assert_eq!(once, twice);
        }
    }

    #[test]
    fn subnet_mutation_is_idempotent(p in parts(), messy in messy_pool()) {
        let existing = Existing::default();
        let s = settings();
        let ctx = Context { settings: &s, existing: &existing };
        let messy = SpiderSubnet::new("m", SubnetSpec {
            ip_version: messy.spec.ip_version,
            subnet: messy.spec.subnet,
            ips: messy.spec.ips,
            exclude_ips: messy.spec.exclude_ips,
            gateway: messy.spec.gateway,
            ..SubnetSpec::default()
        });
        for obj in [subnet_of(&p), messy] {
            let mut once = obj.clone();
            subnet::mutate(&mut once, Operation::Create, &ctx).unwrap();
            let mut twice = once.clone();
            subnet::mutate(&mut twice, Operation::Update, &ctx).unwrap();
            prop_assert_eq!(once, twice);
        }
    }

    #[test]
    fn mutated_well_formed_pool_validates(p in parts(), adopt in any::<bool>()) {
        let existing = Existing {
            subnets: if adopt { vec![covering_subnet(&p.net)] } else { vec![] },
            ..Existing::default()
        };
        let s = settings();
        let ctx = Context { settings: &s, existing: &existing };
        let mut pool = pool_of(&p);
        ippool::mutate(&mut pool, Operation::Create, &ctx).unwrap();
        let result = ippool::validate(Operation::Create, Some(&pool), None, &ctx);
        prop_assert!(result.is_ok(), "{:?}\n{:#?}", result, pool);
        // Re-applying the same object is a valid UPDATE of itself.
        let stored = Existing { ippools: vec![pool.clone()], ..existing.clone() };
        let ctx = Context { settings: &s, existing: &stored };
        let result = ippool::validate(Operation::Update, Some(&pool), Some(&pool), &ctx);
        prop_assert!(result.is_ok(), "{:?}", result);
    }

    #[test]
    fn mutated_well_formed_subnet_validates(p in parts()) {
        let existing = Existing::default();
        let s = settings();
        let ctx = Context { settings: &s, existing: &existing };
        let mut obj = subnet_of(&p);
        subnet::mutate(&mut obj, Operation::Create, &ctx).unwrap();
        let result = subnet::validate(Operation::Create, Some(&obj), None, &ctx);
        prop_assert!(result.is_ok(), "{:?}\n{:#?}", result, obj);
        let result = subnet::validate(Operation::Update, Some(&obj), Some(&obj), &ctx);
        prop_assert!(result.is_ok(), "{:?}", result);
    }

    #[test]
    fn merged_ranges_are_canonical_and_cover_the_input(p in parts()) {
        let family = p.net.family;
        let mut merged = p.ips.clone();
        merge_in_place(family, &mut merged);
        let ranges: Vec<IpRange> =
            merged.iter().map(|s| IpRange::parse_of(s, family).unwrap()).collect();
        for w in ranges.windows(2) {
            // Sorted, disjoint and non-adjacent: a gap of at least one address.
            prop_assert!(w[0].end_u128() + 1 < w[1].start_u128(), "{:?}", merged);
        }
        for (r, s) in ranges.iter().zip(&merged) {
            prop_assert_eq!(&r.to_string(), s, "not printed canonically");
        }
        prop_assert_eq!(
            IpSet::parse_ranges(family, &merged).unwrap(),
            IpSet::parse_ranges(family, &p.ips).unwrap()
        );
        // The pool mutation yields the same lists.
        let existing = Existing::default();
        let s = settings();
        let mut pool = pool_of(&p);
        ippool::mutate(&mut pool, Operation::Create, &Context { settings: &s, existing: &existing })
            .unwrap();
        prop_assert_eq!(pool.spec.ips, merged);
    }

    #[test]
    fn messy_objects_never_panic(
        a in messy_pool(),
        b in messy_pool(),
        flags in any::<[bool; 4]>(),
        op in prop_oneof![Just(Operation::Create), Just(Operation::Update), Just(Operation::Delete)],
    ) {
        let settings = ClusterSettings {
            enable_ipv4: flags[0],
            enable_ipv6: flags[1],
            enable_spider_subnet: flags[2],
            enable_delete_webhook: flags[3],
        };
        let to_subnet = |p: &SpiderIPPool| SpiderSubnet::new(p.metadata.name_str(), SubnetSpec {
            ip_version: p.spec.ip_version,
            subnet: p.spec.subnet.clone(),
            ips: p.spec.ips.clone(),
            exclude_ips: p.spec.exclude_ips.clone(),
            gateway: p.spec.gateway.clone(),
            ..SubnetSpec::default()
        });
        let existing = Existing {
            ippools: vec![a.clone(), b.clone()],
            subnets: vec![to_subnet(&a), to_subnet(&b)],
            ..Existing::default()
        };
        let ctx = Context { settings: &settings, existing: &existing };
        let mut new = a.clone();
        let _ = ippool::mutate(&mut new, op, &ctx);
        let _ = ippool::validate(op, Some(&new), Some(&b), &ctx);
        let _ = ippool::validate(op, None, Some(&b), &ctx);
        let mut s = to_subnet(&a);
        let _ = subnet::mutate(&mut s, op, &ctx);
        let _ = subnet::validate(op, Some(&s), Some(&to_subnet(&b)), &ctx);
    }
}
