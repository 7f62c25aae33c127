//! SpiderIPPool admission (reference §2.1, Go `pkg/ippoolmanager/ippool_mutate.go`,
//! `ippool_validate.go`, `ippool_subnet_validate.go`, `ippool_webhook.go`).
//!
//! - [`mutate`]: finalizer, `ipVersion` from `subnet`, the CIDR label, adoption
//!   by the SpiderSubnet of the same CIDR (owner reference, label, inherited
//!   gateway and routes) when the SpiderSubnet feature is on, merged ranges.
//! - [`validate`]: CREATE, UPDATE and DELETE rules.
//!
//! Where we differ from Go (each also noted at the rule):
//!
//! - every field error of the object is reported, not only the first;
//! - ranges are interval sets, never address lists, so a `/8` or IPv6 `/64`
//!   pool validates instantly (Go expands them and may hang);
//! - route destinations are compared as networks when looking for duplicates;
//! - a name clash is `AlreadyExists` whatever the family (Go only notices it
//!   against pools of the same family);
//! - "IP in use" is checked against the stored (old) object's
//!   `status.allocatedIPs`, which the client cannot change in a spec update;
//! - a pool already controlled by another owner is left alone instead of
//!   aborting the rest of the defaulting (Go's `SetControllerReference` fails
//!   and the remaining steps are skipped).

mod mutate;
mod validate;

#[cfg(test)]
mod tests;

pub use mutate::{controller_subnet_name, mutate};
pub use validate::validate;

/// `kind` used in rejections.
pub(crate) const KIND: &str = "SpiderIPPool";
