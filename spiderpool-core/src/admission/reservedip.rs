//! SpiderReservedIP admission (reference §2.3). (In progress.)

use super::{Context, Operation, Rejection};
use crate::model::SpiderReservedIP;

/// Defaulting.
pub fn mutate(
    _obj: &mut SpiderReservedIP,
    _op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}

/// Validation for CREATE, UPDATE and DELETE.
pub fn validate(
    _op: Operation,
    _new: Option<&SpiderReservedIP>,
    _old: Option<&SpiderReservedIP>,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}
