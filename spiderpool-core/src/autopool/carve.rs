//! Which of a SpiderSubnet's addresses an auto-pool holds after it is
//! created or resized (Go `preAllocateIPsFromSubnet`).
//!
//! - **Grow** (and create): the pool keeps what it has and takes the
//!   *lowest* addresses of the subnet that are free: in the subnet's
//!   `ips − excludeIPs`, not held by any other pool carved from (or
//!   adopted by) the subnet, and not a SpiderReservedIP.
//! - **Shrink**: the pool gives back its *lowest* addresses that no pod
//!   holds, and only when enough are free to reach the new size at once;
//!   otherwise nothing changes and the caller retries later (Go
//!   `ErrFreeIPsNotEnough`). An address a pod holds is never given back.
//!
//! Everything is interval arithmetic on [`IpSet`]: an IPv6 `/64` subnet
//! costs as much as a `/30`.

use super::AutoPoolError;
use crate::admission::common::{stored_network, stored_total};
use crate::ip::{IpFamily, IpRange, IpSet};
use crate::model::{PoolIpPreAllocations, SpiderSubnet};

/// The facts a resize is decided on, all of one family.
#[derive(Debug, Clone, Copy)]
pub struct ResizeInput<'a> {
    /// The pool's name, for errors.
    pub pool: &'a str,
    /// The SpiderSubnet's name, for errors.
    pub subnet: &'a str,
    /// The subnet's usable addresses: `spec.ips − spec.excludeIPs`.
    pub subnet_ips: &'a IpSet,
    /// The pool's addresses now (empty for a new pool). Spiderpool takes
    /// them from the subnet's `status.controlledIPPools` entry of the pool.
    pub current: &'a IpSet,
    /// Addresses other pools of the subnet hold (every other
    /// `controlledIPPools` entry, and any other pool with the same CIDR).
    pub others: &'a IpSet,
    /// SpiderReservedIP addresses of the family.
    pub reserved: &'a IpSet,
    /// Addresses of this pool allocated to pods (`status.allocatedIPs`).
    pub held: &'a IpSet,
    /// The size the pool must have.
    pub desired: u64,
}

/// The outcome of a resize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resize {
    /// The pool's addresses afterwards.
    pub ips: IpSet,
    /// Addresses taken from the subnet.
    pub added: IpSet,
    /// Addresses given back to the subnet.
    pub removed: IpSet,
}

impl Resize {
    /// True when nothing changes.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The subnet addresses a pool may take now: `subnet_ips − others −
/// reserved − current`.
pub fn free_addresses(input: &ResizeInput<'_>) -> IpSet {
    input.subnet_ips.difference(input.others).difference(input.reserved).difference(input.current)
}

/// The addresses of `set` a shrinking pool may give back: those no pod holds.
pub fn releasable_addresses(current: &IpSet, held: &IpSet) -> IpSet {
    current.difference(held)
}

/// The lowest `n` addresses of `set` (all of it when it holds fewer), in
/// `O(intervals)`.
pub fn lowest(set: &IpSet, n: u128) -> IpSet {
    let mut out = IpSet::new(set.family());
    let mut left = n;
    for r in set.ranges() {
        if left == 0 {
            break;
        }
        // r.len() >= 1; take min(left, len) addresses from its start.
        let take = left.min(r.len());
        let end = r.start_u128() + (take - 1);
        if let Ok(part) = IpRange::from_u128(set.family(), r.start_u128(), end) {
            // Same family as `out`, so insertion cannot fail.
            let _ = out.insert_range(&part);
        }
        left -= take;
    }
    out
}

/// Resizes a pool to `input.desired` addresses (see the module docs).
///
/// Errors: [`AutoPoolError::FamilyMismatch`] when the sets are not all of
/// the subnet's family, [`AutoPoolError::SubnetExhausted`] when the subnet has fewer
/// free addresses than the pool must take, [`AutoPoolError::FreeIpsNotEnough`]
/// when pods hold too many of the pool's addresses to shrink it. Nothing is
/// decided half-way: on error the pool stays as it is.
pub fn resize_pool(input: &ResizeInput<'_>) -> Result<Resize, AutoPoolError> {
    let family = input.subnet_ips.family();
    let sets = [input.current, input.others, input.reserved, input.held];
    if let Some(odd) = sets.iter().find(|s| s.family() != family) {
        return Err(AutoPoolError::FamilyMismatch {
            subnet: input.subnet.to_string(),
            pool: input.pool.to_string(),
            subnet_family: family,
            other: odd.family(),
        });
    }
    let have = input.current.len();
    let want = u128::from(input.desired);
    if want > have {
        let need = want - have;
        let free = free_addresses(input);
        if free.len() < need {
            return Err(AutoPoolError::SubnetExhausted {
                subnet: input.subnet.to_string(),
                pool: input.pool.to_string(),
                desired: input.desired,
                current: have,
                needed: need,
                free: free.len(),
            });
        }
        let added = lowest(&free, need);
        let ips = input.current.union(&added);
        return Ok(Resize { ips, added, removed: IpSet::new(family) });
    }
    let give_back = have - want;
    if give_back == 0 {
        return Ok(Resize {
            ips: input.current.clone(),
            added: IpSet::new(family),
            removed: IpSet::new(family),
        });
    }
    let releasable = releasable_addresses(input.current, input.held);
    if releasable.len() < give_back {
        return Err(AutoPoolError::FreeIpsNotEnough {
            pool: input.pool.to_string(),
            desired: input.desired,
            current: have,
            in_use: have - releasable.len(),
        });
    }
    let removed = lowest(&releasable, give_back);
    let ips = input.current.difference(&removed);
    Ok(Resize { ips, added: IpSet::new(family), removed })
}

/// The family and usable addresses (`spec.ips − spec.excludeIPs`) of a
/// stored SpiderSubnet, read leniently as the other rules read stored
/// objects (a bad item offers no address, which is safe); `None` when its
/// `ipVersion` and `subnet` make no sense.
pub fn subnet_usable_ips(subnet: &SpiderSubnet) -> Option<(IpFamily, IpSet)> {
    let (family, _) = stored_network(subnet.spec.ip_version, &subnet.spec.subnet)?;
    Some((family, stored_total(family, &subnet.spec.ips, &subnet.spec.exclude_ips)))
}

/// Splits the subnet's decoded `status.controlledIPPools` into the
/// addresses recorded for `pool` (its `current`) and those of every other
/// pool (`others`).
///
/// Read strictly: an entry that does not parse as ranges of `family` is an
/// error naming the subnet, the entry and the value. Skipping it could hand
/// another pool's addresses out a second time.
pub fn split_controlled(
    subnet: &str,
    controlled: &PoolIpPreAllocations,
    pool: &str,
    family: IpFamily,
) -> Result<(IpSet, IpSet), AutoPoolError> {
    let mut current = IpSet::new(family);
    let mut others = IpSet::new(family);
    for (name, entry) in controlled {
        let ips = IpSet::parse_ranges(family, &entry.ips).map_err(|e| {
            AutoPoolError::ControlledEntry {
                subnet: subnet.to_string(),
                pool: name.clone(),
                value: format!("{:?}", entry.ips),
                reason: e.to_string(),
            }
        })?;
        if name == pool {
            current = ips;
        } else {
            others = others.union(&ips);
        }
    }
    Ok((current, others))
}
