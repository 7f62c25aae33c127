//! SpiderSubnet admission (reference §2.2, Go `pkg/subnetmanager/subnet_mutate.go`,
//! `subnet_validate.go`, `subnet_webhook.go`).
//!
//! **Feature gate.** Spiderpool serves the SpiderSubnet webhooks only when the
//! SpiderSubnet feature is on, while its webhook configuration always routes
//! SpiderSubnet CREATE and UPDATE to the controller with `failurePolicy: Fail`:
//! with the feature off, every CREATE and UPDATE of a SpiderSubnet is refused.
//! We refuse them too, with a `Forbidden` that says why, and mutate nothing.
//! Two deliberate differences: a terminating subnet may still be updated to
//! drop its finalizer (in Go it would stay stuck), and DELETE follows only the
//! delete-webhook setting.
//!
//! Other differences from Go: every field error is reported, not only the
//! first; ranges are interval sets (a `/8` validates instantly); the name
//! clash is `AlreadyExists` whatever the family; "IPs pre-allocated to a pool"
//! are read from the stored (old) object's `status.controlledIPPools`.

#[cfg(test)]
mod tests;

use super::common::{
    LABEL_SUBNET_CIDR, by_operation, cidr_label_value, cidrs_overlap, ensure_finalizer, go_list,
    infer_ip_version, merge_in_place, set_label, stored_network, stored_total, terminating_update,
    validate_family_and_subnet, validate_gateway, validate_immutable, validate_ranges_in_subnet,
    validate_routes,
};
use super::{Context, FieldError, Operation, Rejection};
use crate::ip::{IpFamily, family_of_cidr, parse_cidr};
use crate::model::SpiderSubnet;

const KIND: &str = "SpiderSubnet";
const JOINTLY: &str =
    "total IP addresses of an Subnet are jointly determined by 'spec.ips' and 'spec.excludeIPs'";
const FEATURE_OFF: &str = "the SpiderSubnet feature is disabled (enableSpiderSubnet=false): SpiderSubnets cannot be \
     created or updated";

/// Defaulting (only with the SpiderSubnet feature on; see the module docs):
///
/// 1. a terminating subnet is left as is;
/// 2. the finalizer `spiderpool.spidernet.io` is added;
/// 3. `spec.ipVersion` is inferred from `spec.subnet` when absent;
/// 4. label `ipam.spidernet.io/subnet-cidr` = subnet with `.`, `:`, `/` → `-`;
/// 5. `ips` and `excludeIPs` are merged into sorted canonical ranges (a list
///    with a bad item is kept as written).
///
/// Never fails: problems are left for validation to report.
pub fn mutate(
    subnet: &mut SpiderSubnet,
    _op: Operation,
    ctx: &Context<'_>,
) -> Result<(), Rejection> {
    if !ctx.settings.enable_spider_subnet || subnet.metadata.is_terminating() {
        return Ok(());
    }
    ensure_finalizer(&mut subnet.metadata);
    if subnet.spec.ip_version.is_none() {
        match infer_ip_version(&subnet.spec.subnet) {
            Some(v) => subnet.spec.ip_version = Some(v),
            None => return Ok(()),
        }
    }
    let Some(family) = subnet.spec.ip_version.and_then(IpFamily::from_version) else {
        return Ok(());
    };
    if !parse_cidr(&subnet.spec.subnet).is_ok_and(|n| family_of_cidr(&n) == family) {
        return Ok(());
    }
    let label = cidr_label_value(&subnet.spec.subnet);
    set_label(&mut subnet.metadata, LABEL_SUBNET_CIDR, &label);
    merge_in_place(family, &mut subnet.spec.ips);
    merge_in_place(family, &mut subnet.spec.exclude_ips);
    Ok(())
}

/// Validation for CREATE, UPDATE and DELETE.
///
/// CREATE rejects (`Invalid` with every field error, unless noted):
///
/// - the SpiderSubnet feature off (`Forbidden` rejection);
/// - `spec.ipVersion` unset, not 4/6, or its family disabled;
/// - `spec.subnet` not a canonical CIDR of that family;
/// - a subnet of the same name exists → `AlreadyExists`;
/// - another subnet of the same family overlaps (identical CIDRs included);
/// - an IPPool of the same family has a different but overlapping subnet
///   (`spec.subnet`);
/// - an IPPool with the same subnet has usable IPs outside the subnet's usable
///   IPs (`spec.ips`);
/// - an item of `spec.ips` / `spec.excludeIPs` not a range inside the subnet;
/// - gateway and route rules as for SpiderIPPool.
///
/// UPDATE: the feature off (`Forbidden`, except that a terminating subnet may
/// be updated, e.g. to drop its finalizer); a terminating subnet that still
/// has the finalizer (`Forbidden`); `ipVersion` / `subnet` changed
/// (`Forbidden`); the field rules above except the CREATE-only checks against
/// other objects; usable IPs no longer covering the IPs the stored subnet's
/// `status.controlledIPPools` hands to a pool (`spec.ips`, `Forbidden`).
///
/// DELETE (only with the delete webhook on): `Forbidden` while
/// `status.allocatedIPCount > 0`.
pub fn validate(
    op: Operation,
    new: Option<&SpiderSubnet>,
    old: Option<&SpiderSubnet>,
    ctx: &Context<'_>,
) -> Result<(), Rejection> {
    by_operation(
        op,
        new,
        old,
        |o| validate_create(o, ctx),
        |n, o| validate_update(n, o, ctx),
        |o| validate_delete(o, ctx),
    )
}

fn validate_create(subnet: &SpiderSubnet, ctx: &Context<'_>) -> Result<(), Rejection> {
    let name = subnet.metadata.name_str();
    if !ctx.settings.enable_spider_subnet {
        return Err(Rejection::forbidden(KIND, name, FEATURE_OFF));
    }
    if ctx.existing.subnets.iter().any(|s| s.metadata.name_str() == name) {
        return Err(Rejection::already_exists(KIND, name));
    }
    let mut errs = Vec::new();
    check_spec(subnet, None, ctx, &mut errs);
    Rejection::check(KIND, name, errs)
}

fn validate_update(
    new: &SpiderSubnet,
    old: &SpiderSubnet,
    ctx: &Context<'_>,
) -> Result<(), Rejection> {
    let name = new.metadata.name_str();
    if let Some(verdict) = terminating_update(KIND, "Subnet", &new.metadata) {
        return verdict;
    }
    if !ctx.settings.enable_spider_subnet {
        return Err(Rejection::forbidden(KIND, name, FEATURE_OFF));
    }
    let mut errs = Vec::new();
    validate_immutable(
        (old.spec.ip_version, &old.spec.subnet),
        (new.spec.ip_version, &new.spec.subnet),
        &mut errs,
    );
    check_spec(new, Some(old), ctx, &mut errs);
    Rejection::check(KIND, name, errs)
}

fn validate_delete(subnet: &SpiderSubnet, ctx: &Context<'_>) -> Result<(), Rejection> {
    if !ctx.settings.enable_delete_webhook {
        return Ok(());
    }
    let count = subnet.status.as_ref().and_then(|s| s.allocated_ip_count).unwrap_or(0);
    if count > 0 {
        return Err(Rejection::forbidden(
            KIND,
            subnet.metadata.name_str(),
            format!("cannot delete a Subnet with allocated IPs({count})"),
        ));
    }
    Ok(())
}

/// The rules shared by CREATE (`old` is `None`) and UPDATE.
fn check_spec(
    subnet: &SpiderSubnet,
    old: Option<&SpiderSubnet>,
    ctx: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    let Some((family, net)) =
        validate_family_and_subnet(subnet.spec.ip_version, &subnet.spec.subnet, ctx.settings, errs)
    else {
        return;
    };
    let spec = &subnet.spec;
    let ips = validate_ranges_in_subnet("spec.ips", &spec.ips, family, &net, errs);
    let exclude =
        validate_ranges_in_subnet("spec.excludeIPs", &spec.exclude_ips, family, &net, errs);
    validate_gateway(spec.gateway.as_deref(), family, &net, &spec.ips, &spec.exclude_ips, errs);
    validate_routes(&spec.routes, family, &net, errs);
    let total = match (ips, exclude) {
        (Some(ips), Some(exclude)) => Some(ips.difference(&exclude)),
        _ => None,
    };
    match old {
        None => check_against_others(subnet, family, &net, total.as_ref(), ctx, errs),
        Some(old) => {
            if let Some(total) = &total {
                check_controlled_pools(old, total, errs);
            }
        }
    }
}

/// CREATE: overlapping subnets, IPPools with a different overlapping subnet,
/// and IPPools with the same subnet holding IPs the subnet would not.
fn check_against_others(
    subnet: &SpiderSubnet,
    family: IpFamily,
    net: &ipnet::IpNet,
    total: Option<&crate::ip::IpSet>,
    ctx: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    let name = subnet.metadata.name_str();
    for other in ctx.existing.subnets.iter().filter(|s| s.metadata.name_str() != name) {
        let Some((f, n)) = stored_network(other.spec.ip_version, &other.spec.subnet) else {
            continue;
        };
        if f == family && cidrs_overlap(&n, net) {
            errs.push(FieldError::invalid(
                "spec.subnet",
                &subnet.spec.subnet,
                format!(
                    "overlap with Subnet {} which 'spec.subnet' is {}",
                    other.metadata.name_str(),
                    other.spec.subnet
                ),
            ));
        }
    }
    for pool in &ctx.existing.ippools {
        let Some((f, n)) = stored_network(pool.spec.ip_version, &pool.spec.subnet) else {
            continue;
        };
        if f != family {
            continue;
        }
        let pool_name = pool.metadata.name_str();
        if n != *net {
            if cidrs_overlap(&n, net) {
                errs.push(FieldError::invalid(
                    "spec.subnet",
                    &subnet.spec.subnet,
                    format!(
                        "overlap with SpiderIPPool '{pool_name}' resource 'spec.subnet' {}",
                        pool.spec.subnet
                    ),
                ));
            }
            continue;
        }
        let Some(total) = total else { continue };
        let outside =
            stored_total(family, &pool.spec.ips, &pool.spec.exclude_ips).difference(total);
        if !outside.is_empty() {
            errs.push(FieldError::invalid(
                "spec.ips",
                &subnet.spec.ips,
                format!(
                    "SpiderIPPool '{pool_name}' owns some IP addresses {} that SpiderSubnet \
                     '{name}' can't control",
                    go_list(&outside)
                ),
            ));
        }
    }
}

/// UPDATE: the IPs the stored subnet handed to its pools must stay usable.
fn check_controlled_pools(
    old: &SpiderSubnet,
    total: &crate::ip::IpSet,
    errs: &mut Vec<FieldError>,
) {
    let status = old.status.clone().unwrap_or_default();
    let pools = match status.controlled_pools() {
        Ok(p) => p,
        Err(e) => {
            errs.push(FieldError::forbidden(
                "spec.ips",
                format!("cannot read the controlled IPPools of the stored Subnet: {e}"),
            ));
            return;
        }
    };
    for (pool, pre) in &pools {
        let held = stored_total(total.family(), &pre.ips, &[]);
        let removed = held.difference(total);
        if !removed.is_empty() {
            errs.push(FieldError::forbidden(
                "spec.ips",
                format!(
                    "remove some IP ranges {} that is being used by IPPool {pool}, {JOINTLY}",
                    go_list(&removed)
                ),
            ));
        }
    }
}
