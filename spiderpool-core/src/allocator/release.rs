//! DEL: free what a pod holds, and only what it holds.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::endpoint::{endpoint_details, endpoint_uid};
use super::{AllocateError, Allocator, Clock, Jitter, Step};
use crate::model::SpiderEndpoint;
use crate::pod::{OwnerFacts, kubevirt_keeps_addresses, statefulset_keeps_addresses};
use crate::store::{AllocationChange, EndpointStore, PoolStore, StoreError, Versioned};

/// One release request: one CNI DEL (which releases every NIC of the pod, as
/// Spiderpool does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID, when known (`K8S_POD_UID`). When set, an endpoint of another
    /// UID is left alone.
    pub uid: Option<String>,
    /// `CNI_CONTAINERID`, when known. When set, a record that names another
    /// container (a newer sandbox of the same pod) is left alone.
    pub container_id: Option<String>,
    /// The pod's top controller, when known (StatefulSet members keep their
    /// addresses while their ordinal is below the replica count; a KubeVirt
    /// pod's addresses go by its VirtualMachineInstance, kept while the VMI or
    /// its VM lives).
    pub owner: Option<OwnerFacts>,
    /// Only the records this CNI network (netconf `name`) made, when set (CNI
    /// GC of that network): records of other networks, and records without a
    /// network, are kept, and so are the endpoint's NICs that hold them.
    pub network: Option<String>,
}

/// What a release did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// Addresses freed, with their pools.
    pub released: Vec<(String, IpAddr)>,
    /// Why some or all addresses were kept, if they were.
    pub kept: Option<String>,
}

impl ReleaseRequest {
    /// The SpiderEndpoint this release reads: the KubeVirt
    /// VirtualMachineInstance's for a virt-launcher pod, the pod's otherwise
    /// (see [`crate::pod::PodFacts::endpoint_name`]).
    pub fn endpoint_name(&self) -> &str {
        match &self.owner {
            Some(o) if o.is_kubevirt() => o.name.as_str(),
            _ => self.name.as_str(),
        }
    }
}

impl<S, C, J> Allocator<S, C, J>
where
    S: PoolStore + EndpointStore,
    C: Clock,
    J: Jitter,
{
    /// Releases what a pod holds. Idempotent: releasing twice, or a pod that
    /// holds nothing, succeeds. Keeps going after a failure and reports all
    /// failures at the end.
    pub async fn release(&self, req: &ReleaseRequest) -> Result<ReleaseOutcome, AllocateError> {
        let attempts = self.attempts();
        for attempt in 0..attempts {
            match self.try_release(req).await {
                Err(AllocateError::Store(e)) if e.is_conflict() => self.backoff(attempt).await,
                other => return other,
            }
        }
        Err(AllocateError::RetriesExhausted {
            what: format!("SpiderEndpoint {}/{}", req.namespace, req.name),
            attempts,
        })
    }

    async fn try_release(&self, req: &ReleaseRequest) -> Result<ReleaseOutcome, AllocateError> {
        let Some(ep) = self.store.get_endpoint(&req.namespace, req.endpoint_name()).await? else {
            return Ok(ReleaseOutcome {
                kept: Some("no SpiderEndpoint: nothing recorded for this pod".into()),
                ..Default::default()
            });
        };
        let ep_uid = endpoint_uid(&ep.value).to_string();
        if let Some(uid) = &req.uid
            && !uid.is_empty()
            && *uid != ep_uid
        {
            return Ok(ReleaseOutcome {
                kept: Some(format!("SpiderEndpoint belongs to pod UID {ep_uid}, not {uid}")),
                ..Default::default()
            });
        }
        if let Some(owner) = &req.owner
            && owner.kind == "StatefulSet"
            && statefulset_keeps_addresses(&req.name, owner.statefulset.as_ref())
        {
            return Ok(ReleaseOutcome {
                kept: Some(format!(
                    "StatefulSet {} still counts this pod as a member: addresses kept",
                    owner.name
                )),
                ..Default::default()
            });
        }
        if let Some(owner) = &req.owner
            && owner.is_kubevirt()
            && kubevirt_keeps_addresses(owner.kubevirt.as_ref())
        {
            return Ok(ReleaseOutcome {
                kept: Some(format!(
                    "the KubeVirt VirtualMachineInstance {} or its VirtualMachine still exists: addresses kept",
                    owner.name
                )),
                ..Default::default()
            });
        }
        let network = req.network.as_deref().filter(|n| !n.is_empty());
        let freed =
            self.release_records(&ep.value, &ep_uid, req.container_id.as_deref(), network).await;
        if !freed.errors.is_empty() {
            return Err(AllocateError::Release {
                pod: format!("{}/{}", req.namespace, req.name),
                errors: freed.errors,
            });
        }
        let released = freed.released;
        if network.is_some() && !freed.kept_nics.is_empty() {
            // Only this network's NICs go; the endpoint keeps the others.
            self.keep_only_nics(&ep, &freed.kept_nics).await?;
            let kept: Vec<&str> = freed.kept_nics.iter().map(String::as_str).collect();
            return Ok(ReleaseOutcome {
                released,
                kept: Some(format!(
                    "records of other networks or containers kept on {}",
                    kept.join(", ")
                )),
            });
        }
        if freed.held_elsewhere {
            return Ok(ReleaseOutcome {
                released,
                kept: Some("a newer container of the pod holds the addresses".into()),
            });
        }
        self.delete_endpoint_if_same(&ep).await?;
        Ok(ReleaseOutcome { released, kept: None })
    }

    /// Drops the endpoint's NICs not in `nics` (compare-and-swap).
    async fn keep_only_nics(
        &self,
        ep: &Versioned<SpiderEndpoint>,
        nics: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let mut value = ep.value.clone();
        let ips = &mut value.status.current.ips;
        let before = ips.len();
        ips.retain(|d| nics.contains(&d.interface));
        if ips.len() == before {
            return Ok(());
        }
        self.store.update_endpoint(&value, ep.version).await.map(drop)
    }

    async fn delete_endpoint_if_same(
        &self,
        ep: &Versioned<SpiderEndpoint>,
    ) -> Result<(), StoreError> {
        let ns = ep.value.metadata.namespace.as_deref().unwrap_or("");
        self.store.delete_endpoint(ns, ep.value.metadata.name_str(), ep.version).await
    }

    /// Frees the endpoint's records that `uid` (and `container`, when given)
    /// hold, failing on the first error. Used by ADD when it replaces an
    /// endpoint.
    pub(super) async fn release_endpoint_records(
        &self,
        ep: &SpiderEndpoint,
        uid: &str,
        container: Option<&str>,
    ) -> Result<(), AllocateError> {
        let errors = self.release_records(ep, uid, container, None).await.errors;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AllocateError::Release {
                pod: format!(
                    "{}/{}",
                    ep.metadata.namespace.as_deref().unwrap_or(""),
                    ep.metadata.name_str()
                ),
                errors,
            })
        }
    }

    /// Frees the endpoint's records that `uid` holds (and `container` and
    /// `network`, when given); see [`Freed`].
    async fn release_records(
        &self,
        ep: &SpiderEndpoint,
        uid: &str,
        container: Option<&str>,
        network: Option<&str>,
    ) -> Freed {
        let mut out = Freed::default();
        for d in endpoint_details(ep) {
            for (addr, pool) in [(&d.ipv4, &d.ipv4_pool), (&d.ipv6, &d.ipv6_pool)] {
                let (Some(addr), Some(pool)) = (addr, pool) else { continue };
                let Ok(net) = addr.parse::<IpNet>() else {
                    out.errors.push(format!("interface {}: invalid address {addr:?}", d.interface));
                    continue;
                };
                match self.remove_record(pool, net.addr(), uid, container, network).await {
                    Ok(Removed::Freed) => out.released.push((pool.clone(), net.addr())),
                    Ok(Removed::NotHeld) => {}
                    Ok(Removed::OtherContainer) => {
                        out.held_elsewhere = true;
                        out.kept_nics.insert(d.interface.clone());
                    }
                    Ok(Removed::OtherNetwork) => {
                        out.kept_nics.insert(d.interface.clone());
                    }
                    Err(e) => out.errors.push(format!("{pool} {}: {e}", net.addr())),
                }
            }
        }
        out
    }

    /// Removes the record of `ip` in `pool` if `uid` holds it (and `container`,
    /// when both sides know it, and `network`, when given), with
    /// compare-and-swap retries.
    pub(crate) async fn remove_record(
        &self,
        pool: &str,
        ip: IpAddr,
        uid: &str,
        container: Option<&str>,
        network: Option<&str>,
    ) -> Result<Removed, AllocateError> {
        let removed = self
            .update_pool(pool, |state| match state.record(&ip) {
                Some(r) if r.pod_uid != uid => Step::Done(Removed::NotHeld),
                Some(r) => match (container, r.container_id.as_deref()) {
                    (Some(want), Some(have)) if !want.is_empty() && want != have => {
                        Step::Done(Removed::OtherContainer)
                    }
                    _ if network.is_some_and(|n| r.network.as_deref() != Some(n)) => {
                        Step::Done(Removed::OtherNetwork)
                    }
                    _ => Step::Write(
                        AllocationChange {
                            remove: vec![(ip, uid.to_string())],
                            ..Default::default()
                        },
                        Removed::Freed,
                    ),
                },
                None => Step::Done(Removed::NotHeld),
            })
            .await?;
        Ok(removed.unwrap_or(Removed::NotHeld))
    }
}

/// What [`Allocator::remove_record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removed {
    /// The record was removed.
    Freed,
    /// The pod does not hold the address (already free, or someone else's).
    NotHeld,
    /// The pod holds it under another container ID.
    OtherContainer,
    /// The record belongs to another CNI network, or to none (a scoped
    /// release keeps it).
    OtherNetwork,
}

/// What [`Allocator::release_records`] did.
#[derive(Debug, Default)]
struct Freed {
    /// Addresses freed, with their pools.
    released: Vec<(String, IpAddr)>,
    /// A record was held by another container of the pod.
    held_elsewhere: bool,
    /// The endpoint's NICs that still hold a record (another container's or
    /// another network's).
    kept_nics: BTreeSet<String>,
    /// Every failure.
    errors: Vec<String>,
}
