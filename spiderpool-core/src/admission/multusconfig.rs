//! SpiderMultusConfig admission (reference §2.5). (In progress.)

use super::{Context, Operation, Rejection};
use crate::model::SpiderMultusConfig;

/// Defaulting.
pub fn mutate(
    _obj: &mut SpiderMultusConfig,
    _op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}

/// Validation for CREATE, UPDATE and DELETE.
pub fn validate(
    _op: Operation,
    _new: Option<&SpiderMultusConfig>,
    _old: Option<&SpiderMultusConfig>,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}
