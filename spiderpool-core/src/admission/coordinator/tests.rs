//! Table tests of SpiderCoordinator admission, one per rule.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn default_spec_validates() {
    let mut spec = CoordinatorSpec { pod_cidr_type: Some("auto".into()), ..Default::default() };
    default_coordinator_spec(&mut spec);
    assert!(validate_coordinator_spec(&spec, "spec", true).is_empty());
}
