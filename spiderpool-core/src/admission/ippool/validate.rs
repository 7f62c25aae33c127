//! SpiderIPPool validation: CREATE, UPDATE and DELETE.

use ipnet::IpNet;

use super::{KIND, controller_subnet_name};
use crate::admission::common::{
    AUTO_POOL_POD_AFFINITY_KEYS, LABEL_OWNER_APPLICATION_NAME, MAX_LISTED_IPS_IN_USE, by_operation,
    cidrs_overlap, go_list, stored_network, stored_total, terminating_update,
    validate_family_and_subnet, validate_gateway, validate_immutable, validate_ranges_disjoint,
    validate_ranges_in_subnet, validate_routes, validate_selector,
};
use crate::admission::{Context, FieldError, Operation, Rejection};
use crate::ip::{IpFamily, IpSet, parse_ip};
use crate::model::{SpiderIPPool, parse_controlled_ip_pools};
use crate::selector;

const JOINTLY: &str =
    "total IP addresses of an IPPool are jointly determined by 'spec.ips' and 'spec.excludeIPs'";

/// Validation for CREATE, UPDATE and DELETE.
///
/// CREATE rejects (`Invalid` with every field error, unless noted):
///
/// - `spec.ipVersion` unset (`Invalid`), not 4/6 (`NotSupported`), or its
///   family disabled (`Forbidden`);
/// - `spec.subnet` not a CIDR of that family or not canonical;
/// - a pool of the same name exists → `AlreadyExists`;
/// - another pool of the same family has a different but overlapping subnet
///   (`spec.subnet`);
/// - an item of `spec.ips` / `spec.excludeIPs` is not a range of the family
///   inside the subnet (`spec.ips[i]`), or items of `spec.ips` overlap each
///   other (`spec.ips[j]`, naming the earlier item);
/// - the usable IPs (`ips − excludeIPs`) overlap those of another pool with
///   the same subnet (`spec.ips`, `Forbidden`);
/// - `spec.gateway` not an address inside the subnet, or inside an item of
///   `spec.ips` (that item is reported) without being in `spec.excludeIPs`;
/// - a route to the default destination ("use spec.gateway"), a duplicate
///   destination (`Duplicate`), a destination that is not a CIDR of the
///   family, a `gw` outside the subnet (`spec.routes[i].dst` / `.gw`);
/// - `spec.podAffinity` present but empty, or invalid; for auto-created pools
///   any `matchLabels` key but the five `ipam.spidernet.io/app-*` keys, or any
///   `matchExpressions`; invalid `spec.nodeAffinity` / `spec.namespaceAffinity`;
/// - with the SpiderSubnet feature on and a controlling SpiderSubnet: usable IPs
///   outside the subnet's usable IPs (`Forbidden`); for auto-created pools,
///   usable IPs different from the subnet's `status.controlledIPPools` record.
///
/// UPDATE applies the same rules (except the name clash and the overlap of
/// subnets, which Spiderpool only checks on CREATE) and also rejects: a change
/// of `ipVersion` or `subnet` (`Forbidden`); removing an IP that the stored
/// pool's `status.allocatedIPs` holds (`spec.ips`, `Forbidden`); any update of
/// a terminating pool that still has the finalizer (`Forbidden` rejection). A
/// terminating pool without the finalizer is not checked.
///
/// DELETE (only with the delete webhook on): `Forbidden` while the pool has
/// allocations (`status.allocatedIPCount > 0` or a non-empty
/// `status.allocatedIPs`).
pub fn validate(
    op: Operation,
    new: Option<&SpiderIPPool>,
    old: Option<&SpiderIPPool>,
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

fn validate_create(pool: &SpiderIPPool, ctx: &Context<'_>) -> Result<(), Rejection> {
    let name = pool.metadata.name_str();
    if ctx.existing.ippools.iter().any(|p| p.metadata.name_str() == name) {
        return Err(Rejection::already_exists(KIND, name));
    }
    let mut errs = Vec::new();
    check_spec(pool, None, ctx, &mut errs);
    Rejection::check(KIND, name, errs)
}

fn validate_update(
    new: &SpiderIPPool,
    old: &SpiderIPPool,
    ctx: &Context<'_>,
) -> Result<(), Rejection> {
    let name = new.metadata.name_str();
    if let Some(verdict) = terminating_update(KIND, "IPPool", &new.metadata) {
        return verdict;
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

fn validate_delete(pool: &SpiderIPPool, ctx: &Context<'_>) -> Result<(), Rejection> {
    if !ctx.settings.enable_delete_webhook {
        return Ok(());
    }
    let status = pool.status.clone().unwrap_or_default();
    let count = status.allocated_ip_count.unwrap_or(0);
    let listed = status.allocations().map(|m| m.len()).unwrap_or(0);
    let in_use = count.max(i64::try_from(listed).unwrap_or(i64::MAX));
    if in_use > 0 {
        return Err(Rejection::forbidden(
            KIND,
            pool.metadata.name_str(),
            format!("cannot delete an IPPool with allocated IPs({in_use})"),
        ));
    }
    Ok(())
}

/// The rules shared by CREATE (`old` is `None`) and UPDATE.
fn check_spec(
    pool: &SpiderIPPool,
    old: Option<&SpiderIPPool>,
    ctx: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    check_affinities(pool, errs);
    let Some((family, net)) =
        validate_family_and_subnet(pool.spec.ip_version, &pool.spec.subnet, ctx.settings, errs)
    else {
        return;
    };
    if old.is_none() {
        check_subnet_overlap(pool, family, &net, ctx, errs);
    }
    let spec = &pool.spec;
    let ips = validate_ranges_in_subnet("spec.ips", &spec.ips, family, &net, errs);
    let exclude =
        validate_ranges_in_subnet("spec.excludeIPs", &spec.exclude_ips, family, &net, errs);
    validate_ranges_disjoint("spec.ips", &spec.ips, family, errs);
    validate_gateway(spec.gateway.as_deref(), family, &net, &spec.ips, &spec.exclude_ips, errs);
    validate_routes(spec.routes.as_deref().unwrap_or_default(), family, &net, errs);
    let (Some(ips), Some(exclude)) = (ips, exclude) else { return };
    let total = ips.difference(&exclude);
    check_pool_overlap(pool, family, &net, &total, ctx, errs);
    if ctx.settings.enable_spider_subnet {
        check_controller_subnet(pool, &total, ctx, errs);
    }
    if let Some(old) = old {
        check_ips_in_use(old, &total, errs);
    }
}

fn is_auto_created(pool: &SpiderIPPool) -> bool {
    pool.metadata.label(LABEL_OWNER_APPLICATION_NAME).is_some()
}

fn check_affinities(pool: &SpiderIPPool, errs: &mut Vec<FieldError>) {
    validate_selector(pool.spec.node_affinity.as_ref(), "spec.nodeAffinity", errs);
    validate_selector(pool.spec.namespace_affinity.as_ref(), "spec.namespaceAffinity", errs);
    let Some(sel) = &pool.spec.pod_affinity else { return };
    if is_auto_created(pool) {
        for key in sel.match_labels.iter().flatten().map(|(k, _)| k) {
            if !AUTO_POOL_POD_AFFINITY_KEYS.contains(&key.as_str()) {
                errs.push(FieldError::invalid(
                    "spec.podAffinity.matchLabels",
                    key,
                    "it's invalid to add additional podAffinity matchLabels for auto-created \
                     SpiderIPPool",
                ));
            }
        }
        if sel.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) {
            errs.push(FieldError::invalid(
                "spec.podAffinity.matchExpressions",
                &sel.match_expressions,
                "it's invalid to add additional podAffinity matchExpressions for auto-created \
                 SpiderIPPool",
            ));
        }
        return;
    }
    validate_selector(Some(sel), "spec.podAffinity", errs);
    if selector::is_empty(sel) {
        errs.push(FieldError::invalid(
            "spec.podAffinity",
            sel,
            "empty podAffinity is invalid for SpiderIPPool",
        ));
    }
}

/// Another pool of the same family whose different subnet overlaps ours
/// (pools with the identical subnet are fine).
fn check_subnet_overlap(
    pool: &SpiderIPPool,
    family: IpFamily,
    net: &IpNet,
    ctx: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    for other in others(pool, ctx) {
        let Some((f, n)) = stored_network(other.spec.ip_version, &other.spec.subnet) else {
            continue;
        };
        if f == family && n != *net && cidrs_overlap(&n, net) {
            errs.push(FieldError::invalid(
                "spec.subnet",
                &pool.spec.subnet,
                format!(
                    "overlap with IPPool {} which 'spec.subnet' is {}",
                    other.metadata.name_str(),
                    other.spec.subnet
                ),
            ));
        }
    }
}

/// The usable IPs overlap those of another pool with the same subnet.
fn check_pool_overlap(
    pool: &SpiderIPPool,
    family: IpFamily,
    net: &IpNet,
    total: &IpSet,
    ctx: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    if total.is_empty() {
        return;
    }
    for other in others(pool, ctx) {
        if stored_network(other.spec.ip_version, &other.spec.subnet) != Some((family, *net)) {
            continue;
        }
        let theirs = stored_total(family, &other.spec.ips, &other.spec.exclude_ips);
        let common = total.intersection(&theirs);
        if !common.is_empty() {
            errs.push(FieldError::forbidden(
                "spec.ips",
                format!(
                    "overlap with IPPool {} in IP ranges {}, {JOINTLY}",
                    other.metadata.name_str(),
                    go_list(&common)
                ),
            ));
        }
    }
}

/// With the SpiderSubnet feature: the pool's usable IPs must lie within its
/// controlling subnet's usable IPs, and an auto-created pool must hold exactly
/// what the subnet recorded for it.
fn check_controller_subnet(
    pool: &SpiderIPPool,
    total: &IpSet,
    ctx: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    let Some(owner) = controller_subnet_name(pool) else { return };
    if total.is_empty() {
        return;
    }
    let Some(subnet) = ctx.existing.subnets.iter().find(|s| s.metadata.name_str() == owner) else {
        errs.push(FieldError::invalid(
            "metadata.ownerReferences",
            owner,
            format!("controller SpiderSubnet {owner} does not exist"),
        ));
        return;
    };
    let family = total.family();
    let subnet_total = match stored_network(subnet.spec.ip_version, &subnet.spec.subnet) {
        Some((f, _)) if f == family => {
            stored_total(family, &subnet.spec.ips, &subnet.spec.exclude_ips)
        }
        _ => IpSet::new(family),
    };
    let outside = total.difference(&subnet_total);
    if !outside.is_empty() {
        errs.push(FieldError::forbidden(
            "spec.ips",
            format!(
                "add some IP ranges {} that are not contained in controller Subnet {owner}, \
                 {JOINTLY}",
                go_list(&outside)
            ),
        ));
        return;
    }
    if !is_auto_created(pool) {
        return;
    }
    let status = subnet.status.clone().unwrap_or_default();
    let recorded = match parse_controlled_ip_pools(status.controlled_ip_pools.as_deref()) {
        Ok(m) => m
            .get(pool.metadata.name_str())
            .map(|a| stored_total(family, &a.ips, &[]))
            .unwrap_or_else(|| IpSet::new(family)),
        Err(e) => {
            errs.push(FieldError::forbidden(
                "spec.ips",
                format!("cannot read the records of controller Subnet {owner}: {e}"),
            ));
            return;
        }
    };
    if recorded != *total {
        errs.push(FieldError::forbidden(
            "spec.ips",
            "it's illegal to update AutoPool.Spec.IPs that are different from corresponding \
             SpiderSubnet.Status.ControlledIPPools",
        ));
    }
}

/// UPDATE: every IP the stored pool has allocated must stay usable.
fn check_ips_in_use(old: &SpiderIPPool, total: &IpSet, errs: &mut Vec<FieldError>) {
    let status = old.status.clone().unwrap_or_default();
    let allocations = match status.allocations() {
        Ok(m) => m,
        Err(e) => {
            errs.push(FieldError::forbidden(
                "spec.ips",
                format!("cannot read the allocated IPs of the stored IPPool: {e}"),
            ));
            return;
        }
    };
    let removed: Vec<_> = allocations
        .iter()
        .filter(|(ip, _)| !parse_ip(ip).is_ok_and(|ip| total.contains(&ip)))
        .collect();
    for (ip, holder) in removed.iter().take(MAX_LISTED_IPS_IN_USE) {
        errs.push(FieldError::forbidden(
            "spec.ips",
            format!(
                "remove an IP address {ip} that is being used by Pod {}, {JOINTLY}",
                holder.pod
            ),
        ));
    }
    if removed.len() > MAX_LISTED_IPS_IN_USE {
        errs.push(FieldError::forbidden(
            "spec.ips",
            format!(
                "and {} more allocated IP addresses would be removed",
                removed.len() - MAX_LISTED_IPS_IN_USE
            ),
        ));
    }
}

/// Existing pools other than `pool` itself (an UPDATE's old self is stored).
fn others<'a>(
    pool: &'a SpiderIPPool,
    ctx: &'a Context<'_>,
) -> impl Iterator<Item = &'a SpiderIPPool> + 'a {
    let name = pool.metadata.name_str();
    ctx.existing.ippools.iter().filter(move |p| p.metadata.name_str() != name)
}
