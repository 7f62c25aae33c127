//! SpiderIPPool admission (reference §2.1). (In progress.)

use super::{Context, Operation, Rejection};
use crate::model::SpiderIPPool;

/// Defaulting: finalizer, `ipVersion`, CIDR label, subnet inheritance, merged ranges.
pub fn mutate(
    _pool: &mut SpiderIPPool,
    _op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}

/// Validation for CREATE, UPDATE and DELETE.
pub fn validate(
    _op: Operation,
    _new: Option<&SpiderIPPool>,
    _old: Option<&SpiderIPPool>,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}
