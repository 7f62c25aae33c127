//! Step 1 of selection: the pool names each NIC asks for, from the first
//! source present in Spiderpool's precedence (reference §4.2), with globs
//! expanded against the pools of the family.

use std::collections::HashSet;
use std::sync::Arc;

use super::{CandidateSource, IpamSettings, NicRequest, SelectionError};
use crate::annotation::{self, PoolNames};
use crate::ip::IpFamily;
use crate::model::SpiderIPPool;
use crate::pod::{NamespaceFacts, PodFacts};
use crate::store::pool_family;

/// Step 1: the pool names each NIC asks for. With the `ippools` annotation this is
/// every NIC the annotation lists (Spiderpool allocates all of them in the first
/// ADD); otherwise only `nic`. Families disabled in `settings` are dropped.
pub fn requested_pools(
    pod: &PodFacts,
    namespace: &NamespaceFacts,
    settings: &IpamSettings,
    nic: &str,
    pools: &[Arc<SpiderIPPool>],
) -> Result<Vec<NicRequest>, SelectionError> {
    let mut requests = raw_requests(pod, namespace, settings, nic, pools)?;
    for r in &mut requests {
        if !settings.enable_ipv4 {
            r.ipv4.clear();
        }
        if !settings.enable_ipv6 {
            r.ipv6.clear();
        }
    }
    // An `ippools` item without pools (for example the overlay's eth0 in the
    // positional form) asks nothing for its NIC; only the NIC being added must
    // get something.
    requests.retain(|r| r.nic == nic || !r.ipv4.is_empty() || !r.ipv6.is_empty());
    for r in &mut requests {
        if r.ipv4.is_empty() && r.ipv6.is_empty() {
            return Err(SelectionError::NoEnabledFamily { nic: r.nic.clone(), origin: r.origin });
        }
        r.ipv4 = expand(&r.ipv4, IpFamily::V4, pools, &r.nic, r.origin)?;
        r.ipv6 = expand(&r.ipv6, IpFamily::V6, pools, &r.nic, r.origin)?;
    }
    Ok(requests)
}

/// The names of the first source present, as written (globs unexpanded, every
/// family): the `ippools` annotation gives one request per listed NIC; every
/// other source gives one request for `nic`.
fn raw_requests(
    pod: &PodFacts,
    namespace: &NamespaceFacts,
    settings: &IpamSettings,
    nic: &str,
    pools: &[Arc<SpiderIPPool>],
) -> Result<Vec<NicRequest>, SelectionError> {
    if let Some(plan) = crate::autopool::plan_auto_pools(pod, settings, nic)? {
        return match &settings.auto_pools {
            Some(resolved) if resolved.nic == nic => Ok(vec![resolved.clone()]),
            _ => Err(SelectionError::AutoPoolUnresolved {
                nic: nic.to_string(),
                annotation: plan.annotation,
            }),
        };
    }
    if let Some(value) = pod.annotation(annotation::ANNO_POD_IPPOOLS) {
        return pod_ippools_requests(pod, value, nic);
    }
    let (names, origin) = if let Some(value) = pod.annotation(annotation::ANNO_POD_IPPOOL) {
        (annotation::parse_pod_ippool(value)?, CandidateSource::PodIpPool)
    } else if let Some(names) = namespace_default_names(namespace)? {
        (names, CandidateSource::NamespaceDefault)
    } else if let Some(names) = cni_config_names(settings) {
        (names, CandidateSource::CniConfig)
    } else if let Some(names) = cluster_default_names(pools) {
        (names, CandidateSource::ClusterDefault)
    } else {
        return Err(SelectionError::NoSelectionRule { nic: nic.to_string() });
    };
    Ok(vec![NicRequest {
        nic: nic.to_string(),
        clean_gateway: settings.clean_gateway,
        ipv4: names.ipv4,
        ipv6: names.ipv6,
        origin,
    }])
}

/// One request per item of the pod's `ipam.spidernet.io/ippools` annotation
/// (`value`); `nic` must be among them ([`SelectionError::NicNotListed`]).
fn pod_ippools_requests(
    pod: &PodFacts,
    value: &str,
    nic: &str,
) -> Result<Vec<NicRequest>, SelectionError> {
    let items = annotation::parse_pod_ippools(value)?;
    let networks = match pod.annotation(annotation::ANNO_MULTUS_NETWORKS) {
        Some(v) => annotation::parse_multus_networks(v).unwrap_or_default(),
        None => Vec::new(),
    };
    let positional = annotation::multus_interface_names(&networks);
    let out: Vec<NicRequest> = items
        .iter()
        .enumerate()
        .map(|(i, item)| NicRequest {
            nic: ippools_item_nic(item.interface.as_deref(), i, &positional),
            clean_gateway: item.clean_gateway,
            ipv4: item.ipv4.clone(),
            ipv6: item.ipv6.clone(),
            origin: CandidateSource::PodIpPools,
        })
        .collect();
    if !out.iter().any(|r| r.nic == nic) {
        return Err(SelectionError::NicNotListed {
            nic: nic.to_string(),
            origin: CandidateSource::PodIpPools,
        });
    }
    Ok(out)
}

/// The NIC of the `index`-th `ippools` item: its `interface` when named;
/// otherwise `eth0` for the first item and, for the others, the Multus NIC at
/// the same position (`positional`, the names of the Multus networks in
/// order), else the conventional `net{index}`.
fn ippools_item_nic(interface: Option<&str>, index: usize, positional: &[String]) -> String {
    match interface {
        Some(n) => n.to_string(),
        None if index == 0 => annotation::default_nic_name(0),
        None => positional
            .get(index - 1)
            .cloned()
            .unwrap_or_else(|| annotation::default_nic_name(index)),
    }
}

/// The namespace's `default-ipv4-ippool` / `default-ipv6-ippool` annotations,
/// or `None` when neither is set or both name nothing.
fn namespace_default_names(
    namespace: &NamespaceFacts,
) -> Result<Option<PoolNames>, SelectionError> {
    let ns_v4 = namespace.annotations.get(annotation::ANNO_NS_DEFAULT_IPV4_IPPOOL);
    let ns_v6 = namespace.annotations.get(annotation::ANNO_NS_DEFAULT_IPV6_IPPOOL);
    if ns_v4.is_none() && ns_v6.is_none() {
        return Ok(None);
    }
    let parse = |key: &str, v: Option<&String>| match v {
        Some(v) => annotation::parse_namespace_default_pools(key, v),
        None => Ok(Vec::new()),
    };
    let ipv4 = parse(annotation::ANNO_NS_DEFAULT_IPV4_IPPOOL, ns_v4)?;
    let ipv6 = parse(annotation::ANNO_NS_DEFAULT_IPV6_IPPOOL, ns_v6)?;
    Ok(non_empty(PoolNames { ipv4, ipv6 }))
}

/// The CNI config's `default_ipv4_ippool` / `default_ipv6_ippool`, or `None`
/// when both are empty.
fn cni_config_names(settings: &IpamSettings) -> Option<PoolNames> {
    non_empty(PoolNames {
        ipv4: settings.default_ipv4_ippool.clone(),
        ipv6: settings.default_ipv6_ippool.clone(),
    })
}

/// The pools with `spec.default: true`, per family, by name order (pools whose
/// family cannot be told are skipped), or `None` when there are none.
fn cluster_default_names(pools: &[Arc<SpiderIPPool>]) -> Option<PoolNames> {
    let mut names = PoolNames::default();
    let mut defaults: Vec<&Arc<SpiderIPPool>> =
        pools.iter().filter(|p| p.spec.default == Some(true)).collect();
    defaults.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for p in defaults {
        match pool_family(p) {
            Ok(IpFamily::V4) => names.ipv4.push(p.metadata.name_str().to_string()),
            Ok(IpFamily::V6) => names.ipv6.push(p.metadata.name_str().to_string()),
            Err(_) => {}
        }
    }
    non_empty(names)
}

/// `Some(names)` unless both families are empty: an empty level does not count
/// as present, the next one is tried.
fn non_empty(names: PoolNames) -> Option<PoolNames> {
    (!names.ipv4.is_empty() || !names.ipv6.is_empty()).then_some(names)
}

/// Expands globs against the pools of `family` (by name order), keeps plain
/// names as they are, and rejects a plain name listed twice. A pool a glob
/// yields again is kept only at its first place. A non-empty list that expands
/// to nothing (only globs, none matching) is [`SelectionError::NoPoolMatches`]:
/// the family was asked for, so it must not silently drop out.
fn expand(
    names: &[String],
    family: IpFamily,
    pools: &[Arc<SpiderIPPool>],
    nic: &str,
    origin: CandidateSource,
) -> Result<Vec<String>, SelectionError> {
    let mut plain = HashSet::new();
    for n in names.iter().filter(|n| !annotation::is_glob(n)) {
        if !plain.insert(n.as_str()) {
            return Err(SelectionError::DuplicatePool {
                nic: nic.to_string(),
                family,
                pool: n.clone(),
                origin,
            });
        }
    }
    if !names.iter().any(|n| annotation::is_glob(n)) {
        return Ok(names.to_vec());
    }
    let mut of_family: Vec<&str> = pools
        .iter()
        .filter(|p| pool_family(p).ok() == Some(family))
        .map(|p| p.metadata.name_str())
        .collect();
    of_family.sort_unstable();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for n in names {
        if annotation::is_glob(n) {
            for candidate in &of_family {
                let hit = annotation::glob_match(n, candidate).map_err(|e| {
                    SelectionError::BadPattern {
                        nic: nic.to_string(),
                        pattern: n.clone(),
                        reason: e.to_string(),
                        origin,
                    }
                })?;
                if hit && !plain.contains(candidate) && seen.insert(candidate.to_string()) {
                    out.push(candidate.to_string());
                }
            }
        } else if seen.insert(n.clone()) {
            out.push(n.clone());
        }
    }
    if out.is_empty() {
        return Err(SelectionError::NoPoolMatches {
            nic: nic.to_string(),
            family,
            patterns: names.to_vec(),
            origin,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::store::contract::pool;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn ippools_item_nic_prefers_interface_then_position_then_convention() {
        let positional = strings(&["net1", "macvlan0"]);
        assert_eq!(ippools_item_nic(Some("ens5"), 1, &positional), "ens5");
        assert_eq!(ippools_item_nic(None, 0, &positional), "eth0");
        assert_eq!(ippools_item_nic(None, 2, &positional), "macvlan0");
        assert_eq!(ippools_item_nic(None, 3, &positional), "net3");
    }

    #[test]
    fn namespace_default_names_absent_or_empty_is_no_level() {
        let ns = |pairs: &[(&str, &str)]| NamespaceFacts {
            annotations: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        };
        assert_eq!(namespace_default_names(&ns(&[])).unwrap(), None);
        let empty = ns(&[(annotation::ANNO_NS_DEFAULT_IPV4_IPPOOL, "[]")]);
        assert_eq!(namespace_default_names(&empty).unwrap(), None);
        let v6 = ns(&[(annotation::ANNO_NS_DEFAULT_IPV6_IPPOOL, r#"["v6-a"]"#)]);
        assert_eq!(
            namespace_default_names(&v6).unwrap(),
            Some(PoolNames { ipv4: vec![], ipv6: strings(&["v6-a"]) })
        );
        let bad = ns(&[(annotation::ANNO_NS_DEFAULT_IPV4_IPPOOL, "{")]);
        assert!(namespace_default_names(&bad).is_err());
    }

    #[test]
    fn cni_config_names_empty_is_no_level() {
        assert_eq!(cni_config_names(&IpamSettings::default()), None);
        let settings =
            IpamSettings { default_ipv6_ippool: strings(&["v6-a"]), ..IpamSettings::default() };
        assert_eq!(
            cni_config_names(&settings),
            Some(PoolNames { ipv4: vec![], ipv6: strings(&["v6-a"]) })
        );
    }

    #[test]
    fn cluster_default_names_sorts_by_name_per_family() {
        let mut pools = Vec::new();
        for (name, subnet, default) in [
            ("v4-b", "10.2.0.0/24", true),
            ("v4-a", "10.1.0.0/24", true),
            ("v4-c", "10.3.0.0/24", false),
            ("v6-a", "fd00:1::/64", true),
        ] {
            let mut p = pool(name, subnet, &[]);
            p.spec.default = Some(default);
            pools.push(Arc::new(p));
        }
        assert_eq!(
            cluster_default_names(&pools),
            Some(PoolNames { ipv4: strings(&["v4-a", "v4-b"]), ipv6: strings(&["v6-a"]) })
        );
        assert_eq!(cluster_default_names(&pools[2..3]), None);
    }
}
