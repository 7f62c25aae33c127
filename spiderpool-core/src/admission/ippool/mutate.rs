//! SpiderIPPool defaulting.

use crate::admission::common::{
    LABEL_IPPOOL_CIDR, LABEL_OWNER_SPIDER_SUBNET, cidr_label_value, ensure_finalizer,
    infer_ip_version, merge_in_place, set_label,
};
use crate::admission::{Context, Operation, Rejection};
use crate::ip::{IpFamily, family_of_cidr, parse_cidr};
use crate::model::{API_VERSION, OwnerReference, SpiderIPPool, SpiderSubnet};

/// Defaulting, in Spiderpool's order:
///
/// 1. a terminating pool is left as is;
/// 2. the finalizer `spiderpool.spidernet.io` is added;
/// 3. `spec.ipVersion` is inferred from `spec.subnet` when absent (nothing
///    further happens when `subnet` is not a CIDR: validation rejects it);
/// 4. label `ipam.spidernet.io/ippool-cidr` = subnet with `.`, `:`, `/` → `-`;
/// 5. with the SpiderSubnet feature on, the SpiderSubnet with the same CIDR
///    becomes the pool's controller owner, label
///    `ipam.spidernet.io/owner-spider-subnet` names it, and the pool inherits
///    its `gateway` (when the pool has none) and `routes` (when the pool's
///    `routes` is absent — an explicit `[]` keeps the pool route-less);
/// 6. `ips` and `excludeIPs` are merged into sorted canonical ranges (a list
///    with a bad item is kept as written so validation can name the item).
///
/// Never fails: like Spiderpool, problems are left for validation to report.
pub fn mutate(pool: &mut SpiderIPPool, _op: Operation, ctx: &Context<'_>) -> Result<(), Rejection> {
    if pool.metadata.is_terminating() {
        return Ok(());
    }
    ensure_finalizer(&mut pool.metadata);
    if pool.spec.ip_version.is_none() {
        match infer_ip_version(&pool.spec.subnet) {
            Some(v) => pool.spec.ip_version = Some(v),
            None => return Ok(()),
        }
    }
    let Some(family) = pool.spec.ip_version.and_then(IpFamily::from_version) else {
        return Ok(());
    };
    if !parse_cidr(&pool.spec.subnet).is_ok_and(|n| family_of_cidr(&n) == family) {
        return Ok(());
    }
    let label = cidr_label_value(&pool.spec.subnet);
    set_label(&mut pool.metadata, LABEL_IPPOOL_CIDR, &label);
    if ctx.settings.enable_spider_subnet {
        adopt(pool, &label, ctx);
    }
    merge_in_place(family, &mut pool.spec.ips);
    merge_in_place(family, &mut pool.spec.exclude_ips);
    Ok(())
}

/// The name of the SpiderSubnet that controls `pool` (its controller owner
/// reference of kind `SpiderSubnet`), if any.
pub fn controller_subnet_name(pool: &SpiderIPPool) -> Option<&str> {
    pool.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .filter(|r| r.kind == SpiderSubnet::KIND)
        .map(|r| r.name.as_str())
}

/// Step 5 of [`mutate`]. Like Go, a pool whose owner label already names its
/// controller is not touched again (so a gateway removed later is not
/// re-inherited).
fn adopt(pool: &mut SpiderIPPool, label: &str, ctx: &Context<'_>) {
    let controller = pool
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .cloned();
    if let Some(c) = &controller
        && pool.metadata.label(LABEL_OWNER_SPIDER_SUBNET) == Some(c.name.as_str())
    {
        return;
    }
    // Spiderpool lists subnets by their CIDR label and takes the first (the
    // API server lists by name). Objects given to us offline may lack the
    // label, so compare the label value computed from `spec.subnet`.
    let Some(subnet) = ctx
        .existing
        .subnets
        .iter()
        .filter(|s| cidr_label_value(&s.spec.subnet) == label)
        .min_by(|a, b| a.metadata.name_str().cmp(b.metadata.name_str()))
    else {
        return;
    };
    let name = subnet.metadata.name_str();
    match &controller {
        // Owned by something else: Go's SetControllerReference fails here.
        Some(c) if !(c.kind == SpiderSubnet::KIND && c.name == name) => return,
        Some(_) => {}
        None => {
            let refs = pool.metadata.owner_references.get_or_insert_with(Vec::new);
            refs.retain(|r| !(r.kind == SpiderSubnet::KIND && r.name == name));
            refs.push(OwnerReference {
                api_version: API_VERSION.to_owned(),
                kind: SpiderSubnet::KIND.to_owned(),
                name: name.to_owned(),
                uid: subnet.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        }
    }
    set_label(&mut pool.metadata, LABEL_OWNER_SPIDER_SUBNET, name);
    if pool.spec.gateway.is_none() {
        pool.spec.gateway.clone_from(&subnet.spec.gateway);
    }
    if pool.spec.routes.is_none() && !subnet.spec.routes.is_empty() {
        pool.spec.routes = Some(subnet.spec.routes.clone());
    }
}
