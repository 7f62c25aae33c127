//! ADD: pick, record and return addresses.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::{
    AllocateError, AllocateRequest, AllocatedIp, Allocation, Allocator, Clock, PodRoute,
    PoolAttempt, Step,
};
use crate::annotation;
use crate::ip::{IpFamily, IpSet, parse_cidr, parse_ip_of};
use crate::model::{
    IPAllocationDetail, PodIPAllocation, PoolIpAllocation, Route, SpiderEndpoint, SpiderIPPool,
    WorkloadEndpointStatus,
};
use crate::selection::{self, FilterContext, NicRequest};
use crate::store::{
    AllocationChange, EndpointStore, PoolState, PoolStore, StoreError, Versioned, reserved_set,
};

/// What a pool gives the pod besides the address.
#[derive(Clone)]
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
    pool: String,
    address: IpNet,
    info: PoolInfo,
}

impl<S, C> Allocator<S, C>
where
    S: PoolStore + EndpointStore,
    C: Clock,
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

    async fn try_allocate(&self, req: &AllocateRequest) -> Result<Allocation, AllocateError> {
        let pod = &req.pod;
        let mut endpoint = self.store.get_endpoint(&pod.namespace, &pod.name).await?;
        let pools = self.store.list_pools().await?;
        let requests =
            || selection::requested_pools(pod, &req.namespace, &req.settings, &req.nic, &pools);

        if let Some(ep) = &endpoint {
            let ep_uid = endpoint_uid(&ep.value).to_string();
            let statefulset = pod.is_statefulset_pod();
            let has_nic = endpoint_details(&ep.value).any(|d| d.interface == req.nic);
            if statefulset && pools_changed(&ep.value, &requests()?) {
                // The pod now asks for other pools: give the old addresses back.
                self.release_endpoint_records(&ep.value, &ep_uid, None).await?;
                self.store.delete_endpoint(&pod.namespace, &pod.name, ep.version).await?;
                endpoint = None;
            } else if !statefulset && ep_uid != pod.uid {
                // A same-name pod that is gone: its addresses are no longer live.
                self.release_endpoint_records(&ep.value, &ep_uid, None).await?;
                self.store.delete_endpoint(&pod.namespace, &pod.name, ep.version).await?;
                endpoint = None;
            } else if has_nic {
                if ep_uid == pod.uid || statefulset {
                    if self.rebind(ep, req).await? {
                        let fresh = self.store.get_endpoint(&pod.namespace, &pod.name).await?;
                        let Some(fresh) = fresh else {
                            return Err(conflict(pod));
                        };
                        return allocation_from_endpoint(&fresh.value);
                    }
                    // An address could not be taken back: start over.
                    self.release_endpoint_records(&ep.value, &ep_uid, None).await?;
                    self.store.delete_endpoint(&pod.namespace, &pod.name, ep.version).await?;
                    endpoint = None;
                }
            } else if ep_uid != pod.uid {
                // StatefulSet pod re-created with a NIC not recorded yet: rebind
                // what is recorded, then add the new NIC below.
                if !self.rebind(ep, req).await? {
                    self.release_endpoint_records(&ep.value, &ep_uid, None).await?;
                    self.store.delete_endpoint(&pod.namespace, &pod.name, ep.version).await?;
                    endpoint = None;
                } else {
                    endpoint = self.store.get_endpoint(&pod.namespace, &pod.name).await?;
                }
            }
        }

        let requests = requests()?;
        let recorded: Vec<String> = endpoint
            .as_ref()
            .map(|ep| endpoint_details(&ep.value).map(|d| d.interface.clone()).collect())
            .unwrap_or_default();
        let todo: Vec<&NicRequest> =
            requests.iter().filter(|r| !recorded.contains(&r.nic)).collect();

        let by_name: BTreeMap<&str, &Arc<SpiderIPPool>> =
            pools.iter().map(|p| (p.metadata.name_str(), p)).collect();
        let ctx = FilterContext {
            pod,
            namespace: &req.namespace,
            node: &req.node,
            settings: &req.settings,
        };
        let reserved = self.store.list_reserved_ips().await?;
        let reserved_v4 = reserved_set(&reserved, IpFamily::V4);
        let reserved_v6 = reserved_set(&reserved, IpFamily::V6);

        let mut committed: Vec<Committed> = Vec::new();
        let mut details: Vec<IPAllocationDetail> = Vec::new();
        for request in &todo {
            let mut detail =
                IPAllocationDetail { interface: request.nic.clone(), ..Default::default() };
            let mut gateway_seen = false;
            for family in selection::families(request, &req.settings) {
                let outcome = match selection::candidates(request, family, &by_name, &ctx) {
                    Ok(cands) => {
                        let reserved = match family {
                            IpFamily::V4 => &reserved_v4,
                            IpFamily::V6 => &reserved_v6,
                        };
                        self.allocate_family(
                            req,
                            &request.nic,
                            family,
                            &cands,
                            reserved,
                            &mut committed,
                        )
                        .await
                    }
                    Err(e) => Err(e.into()),
                };
                let got = match outcome {
                    Ok(got) => got,
                    Err(e) => {
                        self.rollback(&committed).await;
                        return Err(e);
                    }
                };
                let address = Some(got.address.to_string());
                let pool = Some(got.pool.clone());
                let gateway = got.info.gateway.map(|g| g.to_string());
                gateway_seen |= gateway.is_some();
                match family {
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
            if gateway_seen {
                detail.clean_gateway = Some(request.clean_gateway);
            }
            details.push(detail);
        }

        if let Err(e) = attach_custom_routes(pod, &mut details) {
            self.rollback(&committed).await;
            return Err(e);
        }

        let written = match endpoint {
            Some(ep) if !details.is_empty() => {
                let mut value = ep.value.clone();
                let status = &mut value.status;
                status.current.uid = pod.uid.clone();
                status.current.node = req.node.name.clone();
                status.current.ips.extend(details);
                self.store.update_endpoint(&value, ep.version).await.map(|_| value)
            }
            Some(ep) => Ok(ep.value),
            None => {
                let value = new_endpoint(req, details);
                self.store.create_endpoint(&value).await.map(|_| value)
            }
        };
        match written {
            Ok(ep) => allocation_from_endpoint(&ep),
            Err(e) => {
                self.rollback(&committed).await;
                Err(e.into())
            }
        }
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
                Ok(Ok((ip, info, fresh))) => {
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
                    return Ok(Got { pool: name.to_string(), address, info });
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
    ) -> Result<Result<(IpAddr, PoolInfo, bool), String>, AllocateError> {
        let record = PoolIpAllocation {
            pod: req.pod.namespaced_name(),
            pod_uid: req.pod.uid.clone(),
            container_id: Some(req.container_id.clone()).filter(|c| !c.is_empty()),
            interface: Some(nic.to_string()),
            node: Some(req.node.name.clone()).filter(|n| !n.is_empty()),
            network: network_of(req, nic),
        };
        let outcome = self
            .update_pool(pool, |state| {
                let info = match pool_info(state) {
                    Ok(info) => info,
                    Err(reason) => return Step::Done(Err(reason)),
                };
                let held = state
                    .records_of_uid(&req.pod.uid)
                    .find(|(_, r)| r.interface.as_deref().is_none_or(|i| i == nic));
                let one = |ip, record: PoolIpAllocation| vec![(ip, record)];
                match held {
                    Some((ip, r)) => {
                        let want = keeping_network(&record, r);
                        if *r == want {
                            return Step::Done(Ok((ip, info, false)));
                        }
                        Step::Write(
                            AllocationChange { update: one(ip, want), ..Default::default() },
                            Ok((ip, info, false)),
                        )
                    }
                    None => match state.first_free(reserved) {
                        Some(ip) => Step::Write(
                            AllocationChange { add: one(ip, record.clone()), ..Default::default() },
                            Ok((ip, info, true)),
                        ),
                        None => Step::Done(Err(
                            "no free address (every address is allocated, excluded or reserved)"
                                .to_string(),
                        )),
                    },
                }
            })
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

    /// Re-points the endpoint's records at this pod (UID, container, node), as
    /// Spiderpool does for StatefulSet pods and repeated ADDs. Returns false when
    /// an address is now held by someone else.
    async fn rebind(
        &self,
        ep: &Versioned<SpiderEndpoint>,
        req: &AllocateRequest,
    ) -> Result<bool, AllocateError> {
        let pod = &req.pod;
        let old_uid = endpoint_uid(&ep.value).to_string();
        let reserved = self.store.list_reserved_ips().await?;
        for detail in endpoint_details(&ep.value) {
            for (addr, pool) in
                [(&detail.ipv4, &detail.ipv4_pool), (&detail.ipv6, &detail.ipv6_pool)]
            {
                let (Some(addr), Some(pool)) = (addr, pool) else { continue };
                let Ok(net) = addr.parse::<IpNet>() else { return Ok(false) };
                let ip = net.addr();
                let reserved = reserved_set(&reserved, IpFamily::of(&ip));
                let record = PoolIpAllocation {
                    pod: pod.namespaced_name(),
                    pod_uid: pod.uid.clone(),
                    container_id: Some(req.container_id.clone()).filter(|c| !c.is_empty()),
                    interface: Some(detail.interface.clone()),
                    node: Some(req.node.name.clone()).filter(|n| !n.is_empty()),
                    network: network_of(req, &detail.interface),
                };
                if !self.rebind_one(pool, ip, &old_uid, record, &reserved).await? {
                    return Ok(false);
                }
            }
        }
        let mut value = ep.value.clone();
        let status = &mut value.status;
        if status.current.uid != pod.uid || status.current.node != req.node.name {
            status.current.uid = pod.uid.clone();
            status.current.node = req.node.name.clone();
            self.store.update_endpoint(&value, ep.version).await?;
        }
        Ok(true)
    }

    async fn rebind_one(
        &self,
        pool: &str,
        ip: IpAddr,
        old_uid: &str,
        record: PoolIpAllocation,
        reserved: &IpSet,
    ) -> Result<bool, AllocateError> {
        let outcome = self
            .update_pool(pool, |state| {
                let one = |record: PoolIpAllocation| vec![(ip, record)];
                match state.record(&ip) {
                    Some(r)
                        if r.pod_uid == old_uid
                            || r.pod_uid == record.pod_uid
                            || r.pod == record.pod =>
                    {
                        let want = keeping_network(&record, r);
                        if *r == want {
                            return Step::Done(true);
                        }
                        Step::Write(
                            AllocationChange { update: one(want), ..Default::default() },
                            true,
                        )
                    }
                    Some(_) => Step::Done(false),
                    None => {
                        // Released meanwhile (for example by GC): take it back if
                        // it is still usable.
                        let usable = state.ips.iter().any(|r| r.contains(&ip))
                            && !state.excluded.contains(&ip)
                            && !reserved.contains(&ip);
                        if usable {
                            Step::Write(
                                AllocationChange { add: one(record.clone()), ..Default::default() },
                                true,
                            )
                        } else {
                            Step::Done(false)
                        }
                    }
                }
            })
            .await;
        match outcome {
            Ok(taken) => Ok(taken.unwrap_or(false)),
            Err(AllocateError::Store(StoreError::Invalid { .. })) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The network to record for `nic`: the ADD's own network on its own NIC,
/// nothing on the other NICs it allocates or rebinds.
fn network_of(req: &AllocateRequest, nic: &str) -> Option<String> {
    req.network.clone().filter(|n| !n.is_empty() && nic == req.nic)
}

/// `record`, with the network `held` records when `record` names none (an ADD
/// of another NIC, or a caller that does not know the network, keeps it).
fn keeping_network(record: &PoolIpAllocation, held: &PoolIpAllocation) -> PoolIpAllocation {
    let mut want = record.clone();
    if want.network.is_none() {
        want.network = held.network.clone();
    }
    want
}

fn conflict(pod: &crate::pod::PodFacts) -> AllocateError {
    AllocateError::Store(StoreError::Conflict {
        kind: "SpiderEndpoint",
        name: pod.namespaced_name(),
        expected: 0,
        actual: None,
    })
}

/// The UID an endpoint records.
pub(super) fn endpoint_uid(ep: &SpiderEndpoint) -> &str {
    ep.status.current.uid.as_str()
}

/// The per-NIC records of an endpoint.
pub(super) fn endpoint_details(ep: &SpiderEndpoint) -> impl Iterator<Item = &IPAllocationDetail> {
    ep.status.current.ips.iter()
}

/// True when a recorded NIC's pool is no longer among the names the pod asks
/// for on that NIC (StatefulSet pods then get fresh addresses).
fn pools_changed(ep: &SpiderEndpoint, requests: &[NicRequest]) -> bool {
    endpoint_details(ep).any(|d| {
        let Some(r) = requests.iter().find(|r| r.nic == d.interface) else { return false };
        let v4 = d.ipv4_pool.as_ref().is_some_and(|p| !r.ipv4.contains(p));
        let v6 = d.ipv6_pool.as_ref().is_some_and(|p| !r.ipv6.contains(p));
        v4 || v6
    })
}

fn new_endpoint(req: &AllocateRequest, details: Vec<IPAllocationDetail>) -> SpiderEndpoint {
    let pod = &req.pod;
    let status = WorkloadEndpointStatus {
        current: PodIPAllocation {
            uid: pod.uid.clone(),
            node: req.node.name.clone(),
            ips: details,
        },
        owner_controller_type: pod.owner_kind().to_string(),
        owner_controller_name: pod.owner_name().to_string(),
    };
    let mut ep = SpiderEndpoint::new(&pod.namespace, &pod.name, status);
    ep.metadata.finalizers = Some(vec![crate::model::FINALIZER.to_string()]);
    ep
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

/// The answer for every NIC an endpoint records.
pub(super) fn allocation_from_endpoint(ep: &SpiderEndpoint) -> Result<Allocation, AllocateError> {
    let mut out = Allocation::default();
    let bad = |what: &str, v: &str| AllocateError::Pod {
        pod: format!(
            "{}/{}",
            ep.metadata.namespace.as_deref().unwrap_or(""),
            ep.metadata.name_str()
        ),
        message: format!("SpiderEndpoint records an invalid {what} {v:?}"),
    };
    for d in endpoint_details(ep) {
        let clean = d.clean_gateway.unwrap_or(false);
        for (family, addr, pool, gw) in [
            (IpFamily::V4, &d.ipv4, &d.ipv4_pool, &d.ipv4_gateway),
            (IpFamily::V6, &d.ipv6, &d.ipv6_pool, &d.ipv6_gateway),
        ] {
            let Some(addr) = addr else { continue };
            let address: IpNet = addr.parse().map_err(|_| bad("address", addr))?;
            let gateway = match gw.as_deref() {
                Some(g) if !g.is_empty() => {
                    Some(parse_ip_of(g, family).map_err(|_| bad("gateway", g))?)
                }
                _ => None,
            };
            if let (Some(gw), false) = (gateway, clean) {
                let dst = match family {
                    IpFamily::V4 => IpNet::V4(Default::default()),
                    IpFamily::V6 => IpNet::V6(Default::default()),
                };
                out.routes.push(PodRoute { nic: d.interface.clone(), dst, gw });
            }
            out.ips.push(AllocatedIp {
                nic: d.interface.clone(),
                address,
                pool: pool.clone().unwrap_or_default(),
                gateway,
                vlan: d.vlan.unwrap_or(0),
            });
        }
        for r in &d.routes {
            let dst: IpNet = r.dst.parse().map_err(|_| bad("route destination", &r.dst))?;
            let gw: IpAddr = r.gw.parse().map_err(|_| bad("route gateway", &r.gw))?;
            out.routes.push(PodRoute { nic: d.interface.clone(), dst, gw });
        }
    }
    Ok(out)
}
