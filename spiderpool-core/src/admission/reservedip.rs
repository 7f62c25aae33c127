//! SpiderReservedIP admission (reference §2.3).
//!
//! Mutation infers `ipVersion` from `ips[0]` and merges `ips` into canonical
//! ranges; validation checks the family (set, 4 or 6, enabled), each entry, and
//! that `ipVersion` does not change. There is no DELETE rule.
//!
//! Where we deliberately do better than Go: every field error is reported (Go
//! stops at the first); when `ipVersion` is missing, entries that are not IP
//! ranges at all are still reported by index; the mutation error for an empty
//! `ips` is returned as an `Invalid` rejection instead of being logged.

use super::{Context, FieldError, Operation, Rejection};
use crate::ip::{self, IpFamily, IpRange};
use crate::model::SpiderReservedIP;

/// Defaulting (CREATE and UPDATE): infers `ipVersion` from `ips[0]` when it is
/// absent and merges `ips` (sorted, deduplicated, adjacent and overlapping
/// ranges joined). Entries that do not parse are left as they are, for
/// validation to report. A terminating object and DELETE are left alone.
///
/// Errors: an empty `ips` is `Invalid` (`spec.ips: Required value`).
pub fn mutate(
    obj: &mut SpiderReservedIP,
    op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    if op == Operation::Delete || obj.metadata.is_terminating() {
        return Ok(());
    }
    let spec = &mut obj.spec;
    let Some(first) = spec.ips.first() else {
        return Err(Rejection::invalid(
            SpiderReservedIP::KIND,
            obj.metadata.name_str(),
            vec![FieldError::required("spec.ips", "requires at least one item")],
        ));
    };
    if spec.ip_version.is_none()
        && let Ok(range) = IpRange::parse(first)
    {
        spec.ip_version = Some(i64::from(range.family().version()));
    }
    if let Some(family) = spec.ip_version.and_then(IpFamily::from_version)
        && let Ok(merged) = ip::merge_ranges(family, &spec.ips)
    {
        spec.ips = merged;
    }
    Ok(())
}

/// Every field error of a SpiderReservedIP's spec under `settings`.
fn validate_spec(obj: &SpiderReservedIP, ctx: &Context<'_>) -> Vec<FieldError> {
    let spec = &obj.spec;
    let mut errs = Vec::new();
    let family = match spec.ip_version {
        None => {
            errs.push(FieldError::required(
                "spec.ipVersion",
                "not inferred: 'spec.ips' is empty or 'spec.ips[0]' is not an IP range",
            ));
            None
        }
        Some(v) => match IpFamily::from_version(v) {
            None => {
                errs.push(FieldError::not_supported("spec.ipVersion", v, &["4", "6"]));
                None
            }
            Some(IpFamily::V4) if !ctx.settings.enable_ipv4 => {
                errs.push(FieldError::forbidden("spec.ipVersion", "IPv4 is disabled"));
                None
            }
            Some(IpFamily::V6) if !ctx.settings.enable_ipv6 => {
                errs.push(FieldError::forbidden("spec.ipVersion", "IPv6 is disabled"));
                None
            }
            Some(f) => Some(f),
        },
    };
    if spec.ips.is_empty() {
        errs.push(FieldError::required("spec.ips", "requires at least one item"));
    }
    for (i, item) in spec.ips.iter().enumerate() {
        let parsed = match family {
            Some(f) => IpRange::parse_of(item, f),
            None => IpRange::parse(item),
        };
        if let Err(e) = parsed {
            errs.push(FieldError::invalid(format!("spec.ips[{i}]"), item, e.to_string()));
        }
    }
    errs
}

/// Validation. CREATE: the spec rules. UPDATE: a terminating object that was
/// already terminating cannot change (`Forbidden`); `ipVersion` is immutable;
/// the spec rules. DELETE: always allowed.
pub fn validate(
    op: Operation,
    new: Option<&SpiderReservedIP>,
    old: Option<&SpiderReservedIP>,
    ctx: &Context<'_>,
) -> Result<(), Rejection> {
    let Some(new) = new else { return Ok(()) };
    let name = new.metadata.name_str();
    let mut errs = Vec::new();
    match op {
        Operation::Delete => return Ok(()),
        Operation::Create => {}
        Operation::Update => {
            if let Some(old) = old {
                if new.metadata.is_terminating() {
                    if old.metadata.is_terminating() {
                        return Err(Rejection::forbidden(
                            SpiderReservedIP::KIND,
                            name,
                            "cannot update a terminating SpiderReservedIP",
                        ));
                    }
                    // The deletion itself.
                    return Ok(());
                }
                if let (Some(was), Some(is)) = (old.spec.ip_version, new.spec.ip_version)
                    && was != is
                {
                    errs.push(FieldError::forbidden("spec.ipVersion", "field is immutable"));
                }
            }
        }
    }
    errs.extend(validate_spec(new, ctx));
    Rejection::check(SpiderReservedIP::KIND, name, errs)
}

#[cfg(test)]
mod tests;
