//! Rules shared by SpiderIPPool and SpiderSubnet admission (reference §2.1,
//! §2.2): `ipVersion` and family checks, the canonical subnet, ranges inside
//! the subnet, gateway and route rules, and the metadata helpers (finalizer,
//! labels, CIDR label values) both mutations use.
//!
//! Every check works on [`IpSet`](crate::ip::IpSet) intervals: no range is ever expanded into an
//! address list, so a `/8` or an IPv6 `/64` validates as fast as a `/30`
//! (DESIGN.md §5.1).
//!
//! The rules live in three sub-modules, re-exported here: `meta` (finalizer,
//! labels, the CIDR label value), `stored` (lenient readings of objects that
//! already exist, canonical range lists) and `spec` (the field rules that push
//! field errors).

mod meta;
mod spec;
mod stored;

use super::{Operation, Rejection, StatusReason};
use crate::model::SpiderResource;

pub use meta::{cidr_label_value, ensure_finalizer, has_finalizer, set_label, terminating_update};
pub use spec::{
    cidrs_overlap, validate_family_and_subnet, validate_gateway, validate_immutable,
    validate_ip_version, validate_ranges_disjoint, validate_ranges_in_subnet, validate_routes,
    validate_selector, validate_subnet,
};
pub use stored::{go_list, infer_ip_version, merge_in_place, stored_network, stored_total};

/// Label on every IPPool: its subnet with `.`, `:` and `/` replaced by `-`.
pub const LABEL_IPPOOL_CIDR: &str = "ipam.spidernet.io/ippool-cidr";
/// Label on every SpiderSubnet: its subnet with `.`, `:` and `/` replaced by `-`.
pub const LABEL_SUBNET_CIDR: &str = "ipam.spidernet.io/subnet-cidr";
/// Label on an IPPool controlled by a SpiderSubnet: the subnet's name.
pub const LABEL_OWNER_SPIDER_SUBNET: &str = "ipam.spidernet.io/owner-spider-subnet";
/// Label that marks an IPPool auto-created for an application.
pub const LABEL_OWNER_APPLICATION_NAME: &str = "ipam.spidernet.io/owner-application-name";
/// The only `podAffinity.matchLabels` keys an auto-created IPPool may carry.
pub const AUTO_POOL_POD_AFFINITY_KEYS: [&str; 5] = [
    "ipam.spidernet.io/app-api-group",
    "ipam.spidernet.io/app-api-version",
    "ipam.spidernet.io/app-kind",
    "ipam.spidernet.io/app-namespace",
    "ipam.spidernet.io/app-name",
];

/// At most this many "IP in use" errors are listed one by one; the rest are
/// counted in one summary error, so removing a large allocated range gives a
/// readable answer.
pub const MAX_LISTED_IPS_IN_USE: usize = 20;

/// A `BadRequest` rejection: the request lacks an object it needs (for
/// example an UPDATE without the old object).
pub fn bad_request(kind: &str, name: &str, message: impl Into<String>) -> Rejection {
    Rejection {
        reason: StatusReason::BadRequest,
        kind: kind.to_owned(),
        name: name.to_owned(),
        message: message.into(),
        causes: Vec::new(),
    }
}

/// Routes a validation to the CREATE, UPDATE or DELETE check, refusing with
/// `BadRequest` when the objects the operation needs are missing (CREATE needs
/// `new`; UPDATE needs `new` and `old`; DELETE takes `old`, else `new`).
pub fn by_operation<T: SpiderResource>(
    op: Operation,
    new: Option<&T>,
    old: Option<&T>,
    create: impl FnOnce(&T) -> Result<(), Rejection>,
    update: impl FnOnce(&T, &T) -> Result<(), Rejection>,
    delete: impl FnOnce(&T) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    let kind = T::KIND;
    let name = new.or(old).map(|o| o.metadata().name_str()).unwrap_or_default();
    match (op, new, old) {
        (Operation::Create, Some(obj), _) => create(obj),
        (Operation::Update, Some(new), Some(old)) => update(new, old),
        (Operation::Delete, _, Some(obj)) | (Operation::Delete, Some(obj), None) => delete(obj),
        (Operation::Update, Some(_), None) => {
            Err(bad_request(kind, name, "UPDATE needs the stored (old) object"))
        }
        _ => Err(bad_request(kind, name, format!("{op} needs the new object"))),
    }
}
