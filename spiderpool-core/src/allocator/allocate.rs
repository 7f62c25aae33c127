//! ADD: pick, record and return addresses.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::endpoint::{Reconciled, allocation_from_endpoint, endpoint_details};
use super::record::{keeping_network, pod_record};
use super::{
    AllocateError, AllocateRequest, Allocation, Allocator, Clock, Jitter, PoolAttempt, Step,
};
use crate::annotation;
use crate::ip::{IpFamily, IpSet, parse_cidr, parse_ip_of};
use crate::model::{IPAllocationDetail, PoolIpAllocation, Route, SpiderEndpoint, SpiderIPPool};
use crate::selection::{self, FilterContext, NicRequest};
use crate::store::{
    AllocationChange, EndpointStore, PoolState, PoolStore, StoreError, reserved_set,
};

/// What a pool gives the pod besides the address.
#[derive(Debug, Clone, PartialEq)]
struct PoolInfo {
    prefix: u8,
    gateway: Option<IpAddr>,
    routes: Vec<Route>,
}

fn pool_info(state: &PoolState) -> Result<PoolInfo, String> {
    let spec = &state.pool.spec;
    let net = parse_cidr(&spec.subnet).map_err(|e| format!("spec.subnet: {e}"))?;
    let gateway = match spec.gateway.as_deref() {
        Some(g) if !g.is_empty() => {
            Some(parse_ip_of(g, state.family).map_err(|e| format!("spec.gateway: {e}"))?)
        }
        _ => None,
    };
    Ok(PoolInfo {
        prefix: net.prefix_len(),
        gateway,
        routes: spec.routes.clone().unwrap_or_default(),
    })
}

/// A record committed during this ADD, for rollback.
struct Committed {
    pool: String,
    ip: IpAddr,
    uid: String,
}

/// One family of one NIC, allocated.
struct Got {
    family: IpFamily,
    pool: String,
    address: IpNet,
    info: PoolInfo,
}

impl<S, C, J> Allocator<S, C, J>
where
    S: PoolStore + EndpointStore,
    C: Clock,
    J: Jitter,
{
    /// Allocates the addresses of one CNI ADD and returns those of every NIC of
    /// the pod (filter with [`Allocation::for_nic`]).
    ///
    /// A repeated ADD for the same pod UID and NIC returns the same addresses.
    /// With the `ipam.spidernet.io/ippools` annotation the first ADD allocates
    /// every listed NIC. Both families of a NIC, and all NICs of one call,
    /// succeed together or nothing is kept.
    pub async fn allocate(&self, req: &AllocateRequest) -> Result<Allocation, AllocateError> {
        for (field, value) in [
            ("pod namespace", &req.pod.namespace),
            ("pod name", &req.pod.name),
            ("pod UID", &req.pod.uid),
            ("interface (CNI_IFNAME)", &req.nic),
        ] {
            if value.is_empty() {
                return Err(AllocateError::Request(format!("{field} is empty")));
            }
        }
        let attempts = self.attempts();
        for attempt in 0..attempts {
            match self.try_allocate(req).await {
                // Another ADD of the same pod wrote the endpoint first: start over
                // from what it wrote.
                Err(AllocateError::Store(e))
                    if e.is_conflict() || matches!(e, StoreError::AlreadyExists { .. }) =>
                {
                    self.backoff(attempt).await;
                }
                other => return other,
            }
        }
        Err(AllocateError::RetriesExhausted {
            what: format!("SpiderEndpoint {}/{}", req.pod.namespace, req.pod.name),
            attempts,
        })
    }

    /// One attempt of an ADD: settle the endpoint the pod has
    /// ([`Allocator::reconcile_endpoint`]), allocate every NIC it does not
    /// record ([`Allocator::allocate_nics`]), attach the annotation's routes,
    /// write the endpoint. A failure after a record was added gives the
    /// records of this attempt back.
    async fn try_allocate(&self, req: &AllocateRequest) -> Result<Allocation, AllocateError> {
        let pod = &req.pod;
        let endpoint = self.store.get_endpoint(&pod.namespace, pod.endpoint_name()).await?;
        let pools = self.store.list_pools().await?;
        let requests =
            || selection::requested_pools(pod, &req.namespace, &req.settings, &req.nic, &pools);
        let endpoint = match self.reconcile_endpoint(req, endpoint, requests).await? {
            Reconciled::Answered(allocation) => return Ok(allocation),
            Reconciled::Allocate(endpoint) => endpoint.map(|ep| *ep),
        };
        let requests = requests()?;
        let todo = unrecorded(&requests, endpoint.as_ref().map(|ep| &ep.value));
        let mut committed = Vec::new();
        let details = match self.allocate_nics(req, &todo, &pools, &mut committed).await {
            Ok(mut details) => attach_custom_routes(pod, &mut details).map(|()| details),
            Err(e) => Err(e),
        };
        let written = match details {
            Ok(details) => self.write_endpoint(req, endpoint, details).await.map_err(Into::into),
            Err(e) => Err(e),
        };
        match written {
            Ok(ep) => allocation_from_endpoint(&ep),
            Err(e) => {
                self.rollback(&committed).await;
                Err(e)
            }
        }
    }

    /// Allocates both families of every NIC of `todo`, in order; the records
    /// added go to `committed` (for a rollback).
    async fn allocate_nics(
        &self,
        req: &AllocateRequest,
        todo: &[&NicRequest],
        pools: &[Arc<SpiderIPPool>],
        committed: &mut Vec<Committed>,
    ) -> Result<Vec<IPAllocationDetail>, AllocateError> {
        let by_name: BTreeMap<&str, &Arc<SpiderIPPool>> =
            pools.iter().map(|p| (p.metadata.name_str(), p)).collect();
        let ctx = FilterContext {
            pod: &req.pod,
            namespace: &req.namespace,
            node: &req.node,
            settings: &req.settings,
        };
        let reserved = self.store.list_reserved_ips().await?;
        let reserved_v4 = reserved_set(&reserved, IpFamily::V4);
        let reserved_v6 = reserved_set(&reserved, IpFamily::V6);
        let mut details = Vec::with_capacity(todo.len());
        for request in todo {
            let mut got = Vec::new();
            for family in selection::families(request, &req.settings) {
                let candidates = selection::candidates(request, family, &by_name, &ctx)?;
                let reserved = match family {
                    IpFamily::V4 => &reserved_v4,
                    IpFamily::V6 => &reserved_v6,
                };
                let nic = &request.nic;
                got.push(
                    self.allocate_family(req, nic, family, &candidates, reserved, committed)
                        .await?,
                );
            }
            details.push(nic_detail(request, &got));
        }
        Ok(details)
    }

    /// Tries the candidate pools of one NIC and family in order.
    async fn allocate_family(
        &self,
        req: &AllocateRequest,
        nic: &str,
        family: IpFamily,
        candidates: &[Arc<SpiderIPPool>],
        reserved: &IpSet,
        committed: &mut Vec<Committed>,
    ) -> Result<Got, AllocateError> {
        let mut tried = Vec::new();
        for pool in candidates {
            let name = pool.metadata.name_str();
            match self.allocate_in_pool(req, nic, name, reserved).await {
                Ok(Ok(Picked { ip, info, fresh })) => {
                    if fresh {
                        committed.push(Committed {
                            pool: name.to_string(),
                            ip,
                            uid: req.pod.uid.clone(),
                        });
                    }
                    let address = IpNet::new(ip, info.prefix).map_err(|e| AllocateError::Pod {
                        pod: req.pod.namespaced_name(),
                        message: e.to_string(),
                    })?;
                    return Ok(Got { family, pool: name.to_string(), address, info });
                }
                Ok(Err(reason)) => tried.push(PoolAttempt { pool: name.to_string(), reason }),
                Err(AllocateError::RetriesExhausted { attempts, .. }) => tried.push(PoolAttempt {
                    pool: name.to_string(),
                    reason: format!("gave up after {attempts} write conflicts"),
                }),
                Err(e) => return Err(e),
            }
        }
        Err(AllocateError::Exhausted { nic: nic.to_string(), family, tried })
    }

    /// One pool: the address this pod holds there for `nic`, or the first free
    /// one, recorded with compare-and-swap. The inner `Err` is why the pool gave
    /// nothing; the bool tells whether a new record was added.
    async fn allocate_in_pool(
        &self,
        req: &AllocateRequest,
        nic: &str,
        pool: &str,
        reserved: &IpSet,
    ) -> Result<Result<Picked, String>, AllocateError> {
        // The record is built per attempt and moved into the change, not cloned.
        let outcome = self
            .update_pool(pool, |state| pick_in_pool(state, pod_record(req, nic), reserved))
            .await;
        match outcome {
            Ok(Some(result)) => Ok(result),
            Ok(None) => Ok(Err("no such SpiderIPPool (deleted meanwhile)".to_string())),
            Err(AllocateError::Store(StoreError::Invalid { message, .. })) => Ok(Err(message)),
            Err(e) => Err(e),
        }
    }

    /// Gives back the records added by a failed ADD. Best effort: whatever it
    /// cannot remove is left to garbage collection.
    async fn rollback(&self, committed: &[Committed]) {
        for c in committed {
            let _ = self.remove_record(&c.pool, c.ip, &c.uid, None, None).await;
        }
    }
}

/// An address a pool gave a NIC.
#[derive(Debug, Clone, PartialEq)]
struct Picked {
    ip: IpAddr,
    info: PoolInfo,
    /// A record was added (not one the pod already held).
    fresh: bool,
}

/// What one read of a pool decides for `record` (a pod's NIC): the address
/// the pod holds there for that NIC (its record rewritten when it changed),
/// else the first free address that is not in `reserved`, else why not.
fn pick_in_pool(
    state: &PoolState,
    record: PoolIpAllocation,
    reserved: &IpSet,
) -> Step<Result<Picked, String>> {
    let info = match pool_info(state) {
        Ok(info) => info,
        Err(reason) => return Step::Done(Err(reason)),
    };
    let nic = record.interface.as_deref().unwrap_or_default();
    let held = state
        .records_of_uid(&record.pod_uid)
        .find(|(_, r)| r.interface.as_deref().is_none_or(|i| i == nic));
    let one = |ip, record: PoolIpAllocation| vec![(ip, record)];
    match held {
        Some((ip, r)) => {
            let want = keeping_network(record, r);
            let picked = Ok(Picked { ip, info, fresh: false });
            if *r == want {
                return Step::Done(picked);
            }
            Step::Write(AllocationChange { update: one(ip, want), ..Default::default() }, picked)
        }
        None => match state.first_free(reserved) {
            Some(ip) => Step::Write(
                AllocationChange { add: one(ip, record), ..Default::default() },
                Ok(Picked { ip, info, fresh: true }),
            ),
            None => Step::Done(Err(
                "no free address (every address is allocated, excluded or reserved)".to_string(),
            )),
        },
    }
}

/// The requests of the NICs `endpoint` does not record yet.
fn unrecorded<'a>(
    requests: &'a [NicRequest],
    endpoint: Option<&SpiderEndpoint>,
) -> Vec<&'a NicRequest> {
    let recorded: Vec<&str> = endpoint
        .map(|ep| endpoint_details(ep).map(|d| d.interface.as_str()).collect())
        .unwrap_or_default();
    requests.iter().filter(|r| !recorded.contains(&r.nic.as_str())).collect()
}

/// The endpoint's record of one NIC from what each family got: address,
/// pool and gateway per family, the pools' routes, and `cleanGateway` when
/// a pool has a gateway.
fn nic_detail(request: &NicRequest, got: &[Got]) -> IPAllocationDetail {
    let mut detail = IPAllocationDetail { interface: request.nic.clone(), ..Default::default() };
    for got in got {
        let address = Some(got.address.to_string());
        let pool = Some(got.pool.clone());
        let gateway = got.info.gateway.map(|g| g.to_string());
        match got.family {
            IpFamily::V4 => {
                detail.ipv4 = address;
                detail.ipv4_pool = pool;
                detail.ipv4_gateway = gateway;
            }
            IpFamily::V6 => {
                detail.ipv6 = address;
                detail.ipv6_pool = pool;
                detail.ipv6_gateway = gateway;
            }
        }
        detail.routes.extend(got.info.routes.iter().cloned());
    }
    if detail.ipv4_gateway.is_some() || detail.ipv6_gateway.is_some() {
        detail.clean_gateway = Some(request.clean_gateway);
    }
    detail
}

/// `ipam.spidernet.io/routes`: each route goes to the NIC whose allocated subnet
/// holds its gateway; routes matching no NIC are dropped, as in Spiderpool.
fn attach_custom_routes(
    pod: &crate::pod::PodFacts,
    details: &mut [IPAllocationDetail],
) -> Result<(), AllocateError> {
    let Some(value) = pod.annotation(annotation::ANNO_POD_ROUTES) else { return Ok(()) };
    let routes = annotation::parse_routes(value)
        .map_err(|e| AllocateError::Pod { pod: pod.namespaced_name(), message: e.to_string() })?;
    for route in routes {
        let holder = details.iter_mut().find(|d| {
            [&d.ipv4, &d.ipv6]
                .into_iter()
                .flatten()
                .any(|a| a.parse::<IpNet>().is_ok_and(|net| net.trunc().contains(&route.gw)))
        });
        if let Some(d) = holder {
            d.routes.push(Route { dst: route.dst.to_string(), gw: route.gw.to_string() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::selection::CandidateSource;
    use crate::store::contract::pool;

    fn nic_request(nic: &str, clean_gateway: bool) -> NicRequest {
        NicRequest {
            nic: nic.into(),
            clean_gateway,
            ipv4: vec!["p4".into()],
            ipv6: vec!["p6".into()],
            origin: CandidateSource::CniConfig,
        }
    }

    fn got(family: IpFamily, address: &str, gateway: Option<&str>) -> Got {
        Got {
            family,
            pool: format!("p{}", if family == IpFamily::V4 { 4 } else { 6 }),
            address: address.parse().unwrap(),
            info: PoolInfo {
                prefix: 0,
                gateway: gateway.map(|g| g.parse().unwrap()),
                routes: vec![Route { dst: "10.9.0.0/16".into(), gw: "10.6.0.254".into() }],
            },
        }
    }

    fn record(uid: &str, nic: &str, network: Option<&str>) -> PoolIpAllocation {
        PoolIpAllocation {
            pod: "ns/p".into(),
            pod_uid: uid.into(),
            container_id: Some("c1".into()),
            interface: Some(nic.into()),
            node: None,
            network: network.map(str::to_string),
        }
    }

    #[test]
    fn unrecorded_leaves_out_the_nics_the_endpoint_holds() {
        let requests = [nic_request("net1", false), nic_request("net2", false)];
        let all: Vec<&str> = unrecorded(&requests, None).iter().map(|r| r.nic.as_str()).collect();
        assert_eq!(all, ["net1", "net2"]);
        let mut ep = SpiderEndpoint::default();
        ep.status
            .current
            .ips
            .push(IPAllocationDetail { interface: "net1".into(), ..Default::default() });
        let left: Vec<&str> =
            unrecorded(&requests, Some(&ep)).iter().map(|r| r.nic.as_str()).collect();
        assert_eq!(left, ["net2"]);
    }

    #[test]
    fn a_nic_detail_holds_both_families_and_clean_gateway_only_with_a_gateway() {
        let dual = [
            got(IpFamily::V4, "10.6.0.10/16", Some("10.6.0.1")),
            got(IpFamily::V6, "fd00::10/64", None),
        ];
        let d = nic_detail(&nic_request("net1", true), &dual);
        assert_eq!(d.interface, "net1");
        assert_eq!(d.ipv4.as_deref(), Some("10.6.0.10/16"));
        assert_eq!(d.ipv4_pool.as_deref(), Some("p4"));
        assert_eq!(d.ipv4_gateway.as_deref(), Some("10.6.0.1"));
        assert_eq!(d.ipv6.as_deref(), Some("fd00::10/64"));
        assert_eq!(d.ipv6_gateway, None);
        assert_eq!(d.routes.len(), 2, "each pool's routes");
        assert_eq!(d.clean_gateway, Some(true));
        let no_gateway =
            nic_detail(&nic_request("net1", true), &[got(IpFamily::V6, "fd00::1/64", None)]);
        assert_eq!(no_gateway.clean_gateway, None);
    }

    #[test]
    fn a_pool_gives_the_held_address_else_the_first_free_one() {
        let mut p = pool("p", "10.6.0.0/16", &["10.6.0.10-10.6.0.11"]);
        p.spec.gateway = Some("10.6.0.1".into());
        let mut state = PoolState::from_pool(p).unwrap();
        let none = IpSet::new(IpFamily::V4);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();

        // Nothing held: the first free address, as a new record.
        let want = record("u1", "net1", Some("n1"));
        let Step::Write(change, Ok(picked)) = pick_in_pool(&state, want.clone(), &none) else {
            panic!("expected a write")
        };
        assert_eq!((picked.ip, picked.fresh), (ip("10.6.0.10"), true));
        assert_eq!(picked.info.gateway, Some(ip("10.6.0.1")));
        assert_eq!(change.add, vec![(ip("10.6.0.10"), want.clone())]);
        state.apply(&change).unwrap();

        // Held with the same record: nothing to write.
        let Step::Done(Ok(again)) = pick_in_pool(&state, want.clone(), &none) else { panic!() };
        assert_eq!((again.ip, again.fresh), (ip("10.6.0.10"), false));

        // Held, asked without a network: the record is rewritten (new
        // container) and keeps the network it has.
        let mut newer = record("u1", "net1", None);
        newer.container_id = Some("c2".into());
        let Step::Write(change, Ok(kept)) = pick_in_pool(&state, newer, &none) else { panic!() };
        assert!(!kept.fresh);
        assert_eq!(change.update[0].1.network.as_deref(), Some("n1"));
        assert_eq!(change.update[0].1.container_id.as_deref(), Some("c2"));

        // Another pod: the next free address, skipping reserved ones.
        let mut reserved = IpSet::new(IpFamily::V4);
        reserved.insert_u128(crate::ip::ip_to_u128(ip("10.6.0.11")));
        let other = record("u2", "net1", None);
        let Step::Done(Err(why)) = pick_in_pool(&state, other, &reserved) else { panic!() };
        assert!(why.contains("no free address"), "{why}");
    }

    #[test]
    fn a_pool_with_a_broken_gateway_gives_nothing_and_says_why() {
        let mut p = pool("p", "10.6.0.0/16", &["10.6.0.10"]);
        p.spec.gateway = Some("nope".into());
        let state = PoolState::from_pool(p).unwrap();
        let r = record("u1", "net1", None);
        let Step::Done(Err(why)) = pick_in_pool(&state, r, &IpSet::new(IpFamily::V4)) else {
            panic!()
        };
        assert!(why.starts_with("spec.gateway"), "{why}");
    }
}
