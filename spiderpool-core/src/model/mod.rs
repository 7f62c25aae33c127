//! The `spiderpool.spidernet.io/v2beta1` resources as plain serde types.

pub mod meta;

pub use meta::{LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference};
