//! SpiderMultusConfig admission (reference §2.5): defaulting and validation.
//!
//! All field errors of an object are collected. Paths use the JSON keys of the
//! resource (`spec.macvlan.master[1]`, `spec.ovs.trunk[0].maxID`,
//! `metadata.annotations[multus.spidernet.io/cr-name]`), where Go names its own
//! struct fields (`spec.macvlanConfig`) and stops at the first error.
//!
//! Where we deliberately do better than Go, the rule's doc comment says so:
//! `tunePodRoutes` defaults to `true` in a given coordinator block (DESIGN.md
//! §5.4), `cni-version` `1.1.0` is accepted (DESIGN.md §4), removing `cr-name` is
//! refused like changing it, interface names are checked, `customCNI` and
//! `chainCNIJsonData` entries must be JSON objects (the latter with a `type`),
//! `matchMasterSubnet` is refused wherever it would be ignored, ovs trunk ids stop
//! at 4094, `maxTxRateMbps: 0` (no limit) never conflicts with `minTxRateMbps`,
//! and two SMCs may not render the same NAD.

mod meta;
mod mutate;
mod spec;

pub use meta::annotation_path;
pub use mutate::{INJECT_ANNOTATIONS, default_smc, default_smc_coordinator};
pub use spec::{MAX_BOND_MODE, MAX_IFNAME_LEN, MAX_VLAN_ID, check_ifname, section_key};

use super::{Context, FieldError, Operation, Rejection, StatusReason};
use crate::model::SpiderMultusConfig;

const KIND: &str = SpiderMultusConfig::KIND;

/// Defaulting: [`default_smc`] on CREATE and UPDATE; nothing on DELETE. Never
/// fails (as in Spiderpool, a bad object is left for validation to reject).
pub fn mutate(
    obj: &mut SpiderMultusConfig,
    op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    if op != Operation::Delete {
        default_smc(obj);
    }
    Ok(())
}

/// Validation for CREATE and UPDATE (DELETE is always allowed: the NAD goes with
/// its owner). Rejections are `Invalid` with every field error found:
///
/// - annotations: `cr-name` a non-empty DNS-1123 subdomain, immutable on UPDATE
///   (not added, changed or removed); `cni-version` one of
///   [`crate::multus::SUPPORTED_CNI_VERSIONS`]; the resource-inject annotations
///   (see the `meta` rules);
/// - the NAD name is not owned by another SMC, nor rendered by one;
/// - `spec`: `cniType` supported; its section present, the other sections
///   absent; per-type rules (masters, bond, vlanID, MTU, vlanMode, resourceName,
///   TX rates, linkState, ipoib master, ovs bridge and trunks); `customCNI` and
///   `chainCNIJsonData` JSON; the `coordinator` block.
pub fn validate(
    op: Operation,
    new: Option<&SpiderMultusConfig>,
    old: Option<&SpiderMultusConfig>,
    ctx: &Context<'_>,
) -> Result<(), Rejection> {
    if op == Operation::Delete {
        return Ok(());
    }
    let Some(smc) = new else {
        return Err(Rejection {
            reason: StatusReason::BadRequest,
            kind: KIND.to_string(),
            name: old.map(|o| o.metadata.name_str().to_string()).unwrap_or_default(),
            message: format!("{op} needs the new object"),
            causes: Vec::new(),
        });
    };
    Rejection::check(KIND, smc.metadata.name_str(), field_errors(op, smc, old, ctx))
}

/// Every field error of `smc` (empty when it is valid).
pub fn field_errors(
    op: Operation,
    smc: &SpiderMultusConfig,
    old: Option<&SpiderMultusConfig>,
    ctx: &Context<'_>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    meta::check_annotations(smc, &mut errs);
    if op == Operation::Update
        && let Some(old) = old
    {
        meta::check_cr_name_unchanged(smc, old, &mut errs);
    }
    let cni_type = spec::check_spec(&smc.spec, &mut errs);
    meta::check_inject_annotations(smc, cni_type, &mut errs);
    if let Some(c) = &smc.spec.coordinator {
        errs.extend(super::coordinator::validate_coordinator_spec(c, "spec.coordinator", false));
    }
    meta::check_nad_owner(smc, ctx, &mut errs);
    errs
}

#[cfg(test)]
mod tests;
