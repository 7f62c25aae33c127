//! SpiderCoordinator admission (reference §2.6). (In progress.)

use super::{Context, Operation, Rejection};
use crate::model::SpiderCoordinator;

/// Defaulting.
pub fn mutate(
    _obj: &mut SpiderCoordinator,
    _op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}

/// Validation for CREATE, UPDATE and DELETE.
pub fn validate(
    _op: Operation,
    _new: Option<&SpiderCoordinator>,
    _old: Option<&SpiderCoordinator>,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}
