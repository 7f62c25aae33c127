//! ADD and the pod's SpiderEndpoint: what to do with the endpoint a pod
//! already has ([`plan_endpoint`], a pure decision), doing it
//! ([`Allocator::reconcile_endpoint`]), writing the endpoint after an
//! allocation, and reading the answer back from it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::record::{keeping_network, pod_record};
use super::{
    AllocateError, AllocateRequest, AllocatedIp, Allocation, Allocator, Clock, Jitter, PodRoute,
    Step,
};
use crate::ip::{IpFamily, IpSet, parse_ip_of};
use crate::model::{
    IPAllocationDetail, PodIPAllocation, PoolIpAllocation, SpiderEndpoint, WorkloadEndpointStatus,
};
use crate::pod::PodFacts;
use crate::selection::{NicRequest, SelectionError};
use crate::store::{
    AllocationChange, EndpointStore, PoolStore, StoreError, Versioned, reserved_set,
};

/// What an ADD does with the endpoint the pod already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EndpointPlan {
    /// Keep it and allocate the NICs it does not record.
    Keep,
    /// Give its addresses back, delete it and allocate afresh.
    Forget(ForgetReason),
    /// Point its records at this pod; then [`AfterRebind`]. When an address
    /// cannot be taken back, forget the endpoint instead.
    Rebind(AfterRebind),
}

/// Why an endpoint is forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ForgetReason {
    /// A StatefulSet pod now asks for other pools than it holds addresses in.
    PoolsChanged,
    /// The endpoint belongs to a same-name pod that is gone (another UID).
    StalePod,
}

/// What follows a successful rebind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterRebind {
    /// The NIC of the ADD is recorded: answer from the endpoint.
    Answer,
    /// A re-created StatefulSet pod (or a VM's new launcher pod) adds a NIC
    /// the endpoint does not record.
    Extend,
}

/// Decides what an ADD for `nic` of `pod` does with the endpoint `ep` (see
/// [`EndpointPlan`]): a StatefulSet pod keeps its addresses across
/// re-creation unless it now asks for other pools (`requests`, computed only
/// for StatefulSet pods); a KubeVirt VM's launcher pods share the VMI's
/// endpoint and keep its addresses (reference §4.1 step 5); any other pod
/// with another UID is a stale same-name pod; a repeated ADD answers what is
/// recorded.
pub(super) fn plan_endpoint(
    ep: &SpiderEndpoint,
    pod: &PodFacts,
    nic: &str,
    requests: impl FnOnce() -> Result<Vec<NicRequest>, SelectionError>,
) -> Result<EndpointPlan, SelectionError> {
    let same_pod = endpoint_uid(ep) == pod.uid;
    let statefulset = pod.is_statefulset_pod();
    let fixed = statefulset || pod.is_kubevirt_pod();
    let has_nic = endpoint_details(ep).any(|d| d.interface == nic);
    Ok(if statefulset && pools_changed(ep, &requests()?) {
        EndpointPlan::Forget(ForgetReason::PoolsChanged)
    } else if !fixed && !same_pod {
        EndpointPlan::Forget(ForgetReason::StalePod)
    } else if has_nic {
        EndpointPlan::Rebind(AfterRebind::Answer)
    } else if !same_pod {
        EndpointPlan::Rebind(AfterRebind::Extend)
    } else {
        EndpointPlan::Keep
    })
}

/// Where [`Allocator::reconcile_endpoint`] leaves an ADD.
pub(super) enum Reconciled {
    /// The ADD is answered.
    Answered(Allocation),
    /// Allocate the NICs this endpoint (none: a new one) does not record.
    Allocate(Option<Box<Versioned<SpiderEndpoint>>>),
}

impl<S, C, J> Allocator<S, C, J>
where
    S: PoolStore + EndpointStore,
    C: Clock,
    J: Jitter,
{
    /// Carries out [`plan_endpoint`] for the endpoint the pod has, if any.
    pub(super) async fn reconcile_endpoint(
        &self,
        req: &AllocateRequest,
        endpoint: Option<Versioned<SpiderEndpoint>>,
        requests: impl FnOnce() -> Result<Vec<NicRequest>, SelectionError>,
    ) -> Result<Reconciled, AllocateError> {
        let pod = &req.pod;
        let Some(ep) = endpoint else {
            return Ok(Reconciled::Allocate(None));
        };
        let then = match plan_endpoint(&ep.value, pod, &req.nic, requests)? {
            EndpointPlan::Keep => return Ok(Reconciled::Allocate(Some(Box::new(ep)))),
            EndpointPlan::Forget(_) => {
                self.forget_endpoint(pod, &ep).await?;
                return Ok(Reconciled::Allocate(None));
            }
            EndpointPlan::Rebind(then) => then,
        };
        if !self.rebind(&ep, req).await? {
            // An address could not be taken back: start over.
            self.forget_endpoint(pod, &ep).await?;
            return Ok(Reconciled::Allocate(None));
        }
        let fresh = self.store.get_endpoint(&pod.namespace, pod.endpoint_name()).await?;
        match (then, fresh) {
            (AfterRebind::Answer, Some(fresh)) => {
                Ok(Reconciled::Answered(allocation_from_endpoint(&fresh.value)?))
            }
            (AfterRebind::Answer, None) => Err(conflict(pod)),
            (AfterRebind::Extend, fresh) => Ok(Reconciled::Allocate(fresh.map(Box::new))),
        }
    }

    /// Releases the records of `ep` (those its own UID holds), then deletes
    /// it (compare-and-swap on the version read).
    pub(super) async fn forget_endpoint(
        &self,
        pod: &PodFacts,
        ep: &Versioned<SpiderEndpoint>,
    ) -> Result<(), AllocateError> {
        self.release_endpoint_records(&ep.value, endpoint_uid(&ep.value), None).await?;
        self.store.delete_endpoint(&pod.namespace, pod.endpoint_name(), ep.version).await?;
        Ok(())
    }

    /// Writes the endpoint after an ADD allocated `details`: the existing one
    /// extended ([`extended_endpoint`]), left alone when nothing was added, or
    /// a new one ([`new_endpoint`]).
    pub(super) async fn write_endpoint(
        &self,
        req: &AllocateRequest,
        endpoint: Option<Versioned<SpiderEndpoint>>,
        details: Vec<IPAllocationDetail>,
    ) -> Result<SpiderEndpoint, StoreError> {
        match endpoint {
            Some(ep) if !details.is_empty() => {
                let value = extended_endpoint(&ep.value, req, details);
                self.store.update_endpoint(&value, ep.version).await.map(|_| value)
            }
            Some(ep) => Ok(ep.value),
            None => {
                let value = new_endpoint(req, details);
                self.store.create_endpoint(&value).await.map(|_| value)
            }
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
                let record = pod_record(req, &detail.interface);
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
                        let want = keeping_network(record.clone(), r);
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
                        let usable = state.ips().iter().any(|r| r.contains(&ip))
                            && !state.excluded().contains(&ip)
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

/// The conflict an ADD reports when the endpoint vanished under it (the
/// retry loop of [`Allocator::allocate`] starts over).
fn conflict(pod: &PodFacts) -> AllocateError {
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

/// The endpoint of a pod's first ADD.
pub(super) fn new_endpoint(
    req: &AllocateRequest,
    details: Vec<IPAllocationDetail>,
) -> SpiderEndpoint {
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
    let mut ep = SpiderEndpoint::new(&pod.namespace, pod.endpoint_name(), status);
    ep.metadata.finalizers = Some(vec![crate::model::FINALIZER.to_string()]);
    ep.metadata.owner_references = endpoint_owner(pod).map(|o| vec![o]);
    ep
}

/// The owner reference of a pod's new SpiderEndpoint, as Spiderpool sets it
/// (reference §2.4, §4.6): the Pod (`v1`, its name and UID), so that the
/// endpoint is garbage-collected with the pod — except for StatefulSet and
/// KubeVirt (`VirtualMachineInstance`) pods, whose endpoints must outlive the
/// pod to give its successor the same addresses. `None` as well when the UID
/// is unknown. No `controller` or `blockOwnerDeletion` (Go's
/// `controllerutil.SetOwnerReference`).
pub fn endpoint_owner(pod: &PodFacts) -> Option<crate::model::OwnerReference> {
    const KEEP_BEYOND_POD: [&str; 2] = ["StatefulSet", "VirtualMachineInstance"];
    if pod.uid.is_empty() || KEEP_BEYOND_POD.contains(&pod.owner_kind()) {
        return None;
    }
    Some(crate::model::OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.name.clone(),
        uid: pod.uid.clone(),
        controller: None,
        block_owner_deletion: None,
    })
}

/// `ep` with the NICs of `details` added, recorded for this pod's UID and
/// node.
pub(super) fn extended_endpoint(
    ep: &SpiderEndpoint,
    req: &AllocateRequest,
    details: Vec<IPAllocationDetail>,
) -> SpiderEndpoint {
    let mut value = ep.clone();
    let current = &mut value.status.current;
    current.uid = req.pod.uid.clone();
    current.node = req.node.name.clone();
    current.ips.extend(details);
    value
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::pod::{OwnerFacts, StatefulSetFacts};
    use crate::selection::CandidateSource;
    use crate::store::MemoryStore;
    use crate::store::contract::pool;

    fn req(uid: &str, nic: &str, statefulset: bool) -> AllocateRequest {
        let owner = statefulset.then(|| OwnerFacts {
            kind: "StatefulSet".into(),
            name: "db".into(),
            uid: None,
            api_version: None,
            statefulset: Some(StatefulSetFacts { replicas: 3, ordinal_start: None }),
            kubevirt: None,
        });
        AllocateRequest {
            pod: PodFacts {
                namespace: "ns".into(),
                name: "db-0".into(),
                uid: uid.into(),
                owner,
                ..Default::default()
            },
            nic: nic.into(),
            ..Default::default()
        }
    }

    fn detail(nic: &str, v4: &str, pool: &str) -> IPAllocationDetail {
        IPAllocationDetail {
            interface: nic.into(),
            ipv4: Some(v4.into()),
            ipv4_pool: Some(pool.into()),
            ..Default::default()
        }
    }

    /// An endpoint of pod UID `u1` holding 10.6.0.10 of pool `p` on `net1`.
    fn endpoint() -> SpiderEndpoint {
        new_endpoint(&req("u1", "net1", false), vec![detail("net1", "10.6.0.10/16", "p")])
    }

    fn asks_for(pool: &str) -> Result<Vec<NicRequest>, SelectionError> {
        Ok(vec![NicRequest {
            nic: "net1".into(),
            clean_gateway: false,
            ipv4: vec![pool.into()],
            ipv6: vec![],
            origin: CandidateSource::ClusterDefault,
        }])
    }

    #[test]
    fn the_endpoint_plan_follows_spiderpool() {
        use AfterRebind::*;
        use EndpointPlan::*;
        use ForgetReason::*;
        let ep = endpoint();
        let never = || -> Result<Vec<NicRequest>, SelectionError> { panic!("not a StatefulSet") };
        let cases = [
            ("repeated ADD", req("u1", "net1", false), Rebind(Answer)),
            ("same pod, new NIC", req("u1", "net2", false), Keep),
            ("stale same-name pod", req("u2", "net1", false), Forget(StalePod)),
            ("re-created StatefulSet member", req("u2", "net1", true), Rebind(Answer)),
            ("StatefulSet member with a new NIC", req("u2", "net2", true), Rebind(Extend)),
            ("StatefulSet repeated ADD, new NIC", req("u1", "net2", true), Keep),
        ];
        for (what, r, want) in cases {
            let got = if r.pod.is_statefulset_pod() {
                plan_endpoint(&ep, &r.pod, &r.nic, || asks_for("p"))
            } else {
                plan_endpoint(&ep, &r.pod, &r.nic, never)
            };
            assert_eq!(got.unwrap(), want, "{what}");
        }
        let moved = req("u1", "net1", true);
        assert_eq!(
            plan_endpoint(&ep, &moved.pod, "net1", || asks_for("q")).unwrap(),
            Forget(PoolsChanged)
        );
    }

    #[test]
    fn pools_changed_looks_only_at_recorded_nics_and_families() {
        let ep = endpoint();
        assert!(!pools_changed(&ep, &asks_for("p").unwrap()));
        assert!(pools_changed(&ep, &asks_for("q").unwrap()));
        let mut other_nic = asks_for("q").unwrap();
        other_nic[0].nic = "net9".into();
        assert!(!pools_changed(&ep, &other_nic));
    }

    #[test]
    fn new_endpoints_are_owned_by_the_pod_unless_they_must_outlive_it() {
        let mut pod = PodFacts {
            namespace: "ns".into(),
            name: "web-1".into(),
            uid: "u1".into(),
            ..PodFacts::default()
        };
        let owner = endpoint_owner(&pod).unwrap();
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str()),
            ("v1", "Pod", "web-1")
        );
        assert_eq!((owner.uid.as_str(), owner.controller), ("u1", None));
        for (kind, owned) in [
            ("Deployment", true),
            ("DaemonSet", true),
            ("CronJob", true),
            ("StatefulSet", false),
            ("VirtualMachineInstance", false),
        ] {
            pod.owner = Some(crate::pod::OwnerFacts {
                kind: kind.into(),
                name: "x".into(),
                ..Default::default()
            });
            assert_eq!(endpoint_owner(&pod).is_some(), owned, "{kind}");
        }
        pod.owner = None;
        pod.uid.clear();
        assert_eq!(endpoint_owner(&pod), None, "no UID, no reference");
    }

    #[test]
    fn a_new_endpoint_records_the_pod_and_an_extended_one_takes_the_new_uid() {
        let mut r = req("u1", "net1", true);
        r.node.name = "n1".into();
        let ep = new_endpoint(&r, vec![detail("net1", "10.6.0.10/16", "p")]);
        assert_eq!(ep.status.current.uid, "u1");
        assert_eq!(ep.status.current.node, "n1");
        assert_eq!(ep.status.owner_controller_type, "StatefulSet");
        assert_eq!(ep.status.owner_controller_name, "db");
        assert_eq!(ep.metadata.finalizers, Some(vec![crate::model::FINALIZER.to_string()]));
        assert_eq!(ep.metadata.owner_references, None, "a StatefulSet pod's endpoint outlives it");

        let mut again = req("u2", "net2", true);
        again.node.name = "n2".into();
        let grown = extended_endpoint(&ep, &again, vec![detail("net2", "10.7.0.1/16", "q")]);
        assert_eq!(grown.status.current.uid, "u2");
        assert_eq!(grown.status.current.node, "n2");
        let nics: Vec<&str> = endpoint_details(&grown).map(|d| d.interface.as_str()).collect();
        assert_eq!(nics, ["net1", "net2"]);
    }

    #[test]
    fn forgetting_an_endpoint_frees_its_records_and_deletes_it() {
        let store = MemoryStore::new();
        store.put_pool(pool("p", "10.6.0.0/16", &["10.6.0.10-10.6.0.20"])).unwrap();
        let a = Allocator::new(store);
        let r = AllocateRequest {
            settings: crate::selection::IpamSettings {
                default_ipv4_ippool: vec!["p".into()],
                ..Default::default()
            },
            ..req("u1", "net1", false)
        };
        pollster::block_on(a.allocate(&r)).unwrap();
        let ep = pollster::block_on(a.store().get_endpoint("ns", "db-0")).unwrap().unwrap();
        pollster::block_on(a.forget_endpoint(&r.pod, &ep)).unwrap();
        assert!(pollster::block_on(a.store().get_endpoint("ns", "db-0")).unwrap().is_none());
        let status = a.store().get_pool("p").unwrap().value.status.unwrap();
        assert_eq!(status.allocated_ip_count, Some(0));
        // A stale version is a conflict: the caller's retry starts over.
        let e = pollster::block_on(a.forget_endpoint(&r.pod, &ep)).unwrap_err();
        assert!(matches!(e, AllocateError::Store(ref s) if s.is_conflict()), "{e}");
    }

    #[test]
    fn the_answer_lists_addresses_and_default_routes_unless_clean() {
        let mut d = detail("net1", "10.6.0.10/16", "p");
        d.ipv4_gateway = Some("10.6.0.1".into());
        d.clean_gateway = Some(false);
        let mut clean = detail("net2", "10.7.0.10/16", "q");
        clean.ipv4_gateway = Some("10.7.0.1".into());
        clean.clean_gateway = Some(true);
        let ep = new_endpoint(&req("u1", "net1", false), vec![d, clean]);
        let got = allocation_from_endpoint(&ep).unwrap();
        assert_eq!(got.ips.len(), 2);
        assert_eq!(got.routes.len(), 1);
        assert_eq!(got.routes[0].nic, "net1");
        let broken = new_endpoint(&req("u1", "net1", false), vec![detail("net1", "x", "p")]);
        assert!(allocation_from_endpoint(&broken).unwrap_err().to_string().contains("\"x\""));
    }
}
