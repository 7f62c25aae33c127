//! SpiderSubnet admission (reference §2.2). (In progress.)

use super::{Context, Operation, Rejection};
use crate::model::SpiderSubnet;

/// Defaulting.
pub fn mutate(
    _obj: &mut SpiderSubnet,
    _op: Operation,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}

/// Validation for CREATE, UPDATE and DELETE.
pub fn validate(
    _op: Operation,
    _new: Option<&SpiderSubnet>,
    _old: Option<&SpiderSubnet>,
    _ctx: &Context<'_>,
) -> Result<(), Rejection> {
    Ok(())
}
