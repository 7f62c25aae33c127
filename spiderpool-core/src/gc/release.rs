//! Carrying out a collector's release through the allocator, so the pool
//! records and the SpiderEndpoint agree afterwards.

use std::net::IpAddr;

use crate::allocator::{AllocateError, Allocator, Clock, Jitter, ReleaseOutcome, ReleaseRequest};
use crate::pod::OwnerFacts;
use crate::store::{EndpointStore, PoolStore};

use super::Holder;

/// Releases what `holder` holds: through [`Allocator::release`] (every
/// record of its SpiderEndpoint, then the endpoint) when `with_endpoint`,
/// then each of `records` the endpoint did not name, each only if the
/// holder's UID still holds it (compare-and-swap). `owner` is passed on so
/// the allocator's own StatefulSet rule guards the release as well.
/// Returns the addresses freed; keeps going after a failure and reports all
/// failures.
pub async fn release_holder<S, C, J>(
    allocator: &Allocator<S, C, J>,
    holder: &Holder,
    with_endpoint: bool,
    owner: Option<OwnerFacts>,
    records: &[(String, IpAddr)],
) -> Result<ReleaseOutcome, AllocateError>
where
    S: PoolStore + EndpointStore,
    C: Clock,
    J: Jitter,
{
    let mut outcome = ReleaseOutcome::default();
    if with_endpoint {
        let req = ReleaseRequest {
            namespace: holder.namespace.clone(),
            name: holder.name.clone(),
            uid: Some(holder.uid.clone()),
            owner,
            ..Default::default()
        };
        outcome = allocator.release(&req).await?;
        if outcome.kept.is_some() {
            return Ok(outcome);
        }
    }
    let mut errors = Vec::new();
    for (pool, ip) in records {
        if outcome.released.iter().any(|(p, a)| p == pool && a == ip) {
            continue;
        }
        match release_record(allocator, pool, *ip, &holder.uid).await {
            Ok(true) => outcome.released.push((pool.clone(), *ip)),
            Ok(false) => {}
            Err(e) => errors.push(format!("{pool} {ip}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(outcome)
    } else {
        Err(AllocateError::Release { pod: format!("{}/{}", holder.namespace, holder.name), errors })
    }
}

/// Frees the record of `ip` in `pool` if pod UID `uid` still holds it
/// (compare-and-swap with the allocator's conflict retries): true when it
/// did, false when the address is free or held by another UID.
pub async fn release_record<S, C, J>(
    allocator: &Allocator<S, C, J>,
    pool: &str,
    ip: IpAddr,
    uid: &str,
) -> Result<bool, AllocateError>
where
    S: PoolStore + EndpointStore,
    C: Clock,
    J: Jitter,
{
    let removed = allocator.remove_record(pool, ip, uid, None, None).await?;
    Ok(removed == crate::allocator::Removed::Freed)
}
