//! DEL: free what a pod holds, and only what it holds.

use std::net::IpAddr;

use ipnet::IpNet;

use super::allocate::{endpoint_details, endpoint_uid};
use super::{AllocateError, Allocator, Clock, Step};
use crate::model::SpiderEndpoint;
use crate::pod::{OwnerFacts, statefulset_keeps_addresses};
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
    /// addresses while their ordinal is below the replica count).
    pub owner: Option<OwnerFacts>,
}

/// What a release did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// Addresses freed, with their pools.
    pub released: Vec<(String, IpAddr)>,
    /// Why some or all addresses were kept, if they were.
    pub kept: Option<String>,
}

impl<S, C> Allocator<S, C>
where
    S: PoolStore + EndpointStore,
    C: Clock,
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
        let Some(ep) = self.store.get_endpoint(&req.namespace, &req.name).await? else {
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
        let (released, held_elsewhere, errors) =
            self.release_records(&ep.value, &ep_uid, req.container_id.as_deref()).await;
        if !errors.is_empty() {
            return Err(AllocateError::Release {
                pod: format!("{}/{}", req.namespace, req.name),
                errors,
            });
        }
        if held_elsewhere {
            return Ok(ReleaseOutcome {
                released,
                kept: Some("a newer container of the pod holds the addresses".into()),
            });
        }
        self.delete_endpoint_if_same(&ep).await?;
        Ok(ReleaseOutcome { released, kept: None })
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
        let (_, _, errors) = self.release_records(ep, uid, container).await;
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

    /// Returns what was freed, whether a record was held by another container,
    /// and every error.
    async fn release_records(
        &self,
        ep: &SpiderEndpoint,
        uid: &str,
        container: Option<&str>,
    ) -> (Vec<(String, IpAddr)>, bool, Vec<String>) {
        let mut released = Vec::new();
        let mut held_elsewhere = false;
        let mut errors = Vec::new();
        for d in endpoint_details(ep) {
            for (addr, pool) in [(&d.ipv4, &d.ipv4_pool), (&d.ipv6, &d.ipv6_pool)] {
                let (Some(addr), Some(pool)) = (addr, pool) else { continue };
                let Ok(net) = addr.parse::<IpNet>() else {
                    errors.push(format!("interface {}: invalid address {addr:?}", d.interface));
                    continue;
                };
                match self.remove_record(pool, net.addr(), uid, container).await {
                    Ok(Removed::Freed) => released.push((pool.clone(), net.addr())),
                    Ok(Removed::NotHeld) => {}
                    Ok(Removed::OtherContainer) => held_elsewhere = true,
                    Err(e) => errors.push(format!("{pool} {}: {e}", net.addr())),
                }
            }
        }
        (released, held_elsewhere, errors)
    }

    /// Removes the record of `ip` in `pool` if `uid` holds it (and `container`,
    /// when both sides know it), with compare-and-swap retries.
    pub(super) async fn remove_record(
        &self,
        pool: &str,
        ip: IpAddr,
        uid: &str,
        container: Option<&str>,
    ) -> Result<Removed, AllocateError> {
        let removed = self
            .update_pool(pool, |state| match state.record(&ip) {
                Some(r) if r.pod_uid != uid => Step::Done(Removed::NotHeld),
                Some(r) => match (container, r.container_id.as_deref()) {
                    (Some(want), Some(have)) if !want.is_empty() && want != have => {
                        Step::Done(Removed::OtherContainer)
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
pub(super) enum Removed {
    /// The record was removed.
    Freed,
    /// The pod does not hold the address (already free, or someone else's).
    NotHeld,
    /// The pod holds it under another container ID.
    OtherContainer,
}
