//! Admission: defaulting (mutate) and validation of every Spiderpool resource,
//! as pure functions over the object, the object it replaces and the objects that
//! already exist.
//!
//! Results are Kubernetes-style: a [`Rejection`] carries a status reason
//! (`Invalid`, `Forbidden`, `AlreadyExists`) and [`FieldError`]s (path, type, bad
//! value, message), so the controller can return them unchanged in an
//! AdmissionReview and `spiderpoolctl validate` can print them as `kubectl` does:
//!
//! ```text
//! spec.ips[0]: Invalid value: "10.7.0.1": not in subnet 10.6.0.0/16
//! ```
//!
//! Cluster settings that change admission are inputs ([`ClusterSettings`]). The
//! rules follow Spiderpool (reference §2.1–2.6), except where DESIGN.md §5 says we
//! do better.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::model::{
    Resource, SpiderCoordinator, SpiderIPPool, SpiderMultusConfig, SpiderReservedIP, SpiderSubnet,
};
use crate::multus::NetworkAttachmentDefinition;

pub mod common;
pub mod coordinator;
pub mod ippool;
pub mod multusconfig;
pub mod names;
pub mod reservedip;
pub mod subnet;
pub mod teardown;

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// A new object.
    Create,
    /// A changed object (`old` is given).
    Update,
    /// An object being deleted (`old` is given, `new` is not).
    Delete,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        })
    }
}

/// Cluster settings that change admission decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// IPv4 is enabled (`enableIPv4`); IPv4 pools, subnets and reserved IPs are
    /// refused otherwise.
    pub enable_ipv4: bool,
    /// IPv6 is enabled (`enableIPv6`).
    pub enable_ipv6: bool,
    /// The SpiderSubnet feature is on (`enableSpiderSubnet`).
    pub enable_spider_subnet: bool,
    /// The delete-protection webhook is on
    /// (`enableValidatingResourcesDeletedWebhook`): pools and subnets with
    /// allocations cannot be deleted.
    pub enable_delete_webhook: bool,
}

impl Default for ClusterSettings {
    /// IPv4 and IPv6 on, SpiderSubnet and delete protection off.
    fn default() -> Self {
        Self {
            enable_ipv4: true,
            enable_ipv6: true,
            enable_spider_subnet: false,
            enable_delete_webhook: false,
        }
    }
}

/// The objects that already exist in the cluster (for overlap checks, name
/// clashes, NAD ownership, IPs in use).
#[derive(Debug, Clone, Default)]
pub struct Existing {
    /// SpiderIPPools.
    pub ippools: Vec<SpiderIPPool>,
    /// SpiderSubnets.
    pub subnets: Vec<SpiderSubnet>,
    /// SpiderReservedIPs.
    pub reserved_ips: Vec<SpiderReservedIP>,
    /// SpiderMultusConfigs.
    pub multus_configs: Vec<SpiderMultusConfig>,
    /// SpiderCoordinators.
    pub coordinators: Vec<SpiderCoordinator>,
    /// NetworkAttachmentDefinitions.
    pub nads: Vec<NetworkAttachmentDefinition>,
}

impl Existing {
    /// Sorts resources into their lists; kinds admission does not consult
    /// (SpiderEndpoint) are dropped.
    pub fn from_resources(resources: impl IntoIterator<Item = Resource>) -> Self {
        let mut out = Existing::default();
        for r in resources {
            out.push(r);
        }
        out
    }

    /// Adds one resource to its list.
    pub fn push(&mut self, resource: Resource) {
        match resource {
            Resource::IPPool(p) => self.ippools.push(p),
            Resource::Subnet(s) => self.subnets.push(s),
            Resource::ReservedIP(r) => self.reserved_ips.push(r),
            Resource::MultusConfig(m) => self.multus_configs.push(*m),
            Resource::Coordinator(c) => self.coordinators.push(c),
            Resource::Endpoint(_) => {}
        }
    }
}

/// What admission reads besides the object.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Cluster settings.
    pub settings: &'a ClusterSettings,
    /// Objects that already exist.
    pub existing: &'a Existing,
}

/// The type of a field error, as in `k8s.io/apimachinery/pkg/util/validation/field`.
/// A type this crate does not know decodes as [`FieldErrorType::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum FieldErrorType {
    /// `FieldValueInvalid`: "Invalid value".
    #[serde(rename = "FieldValueInvalid")]
    #[default]
    Invalid,
    /// `FieldValueRequired`: "Required value".
    #[serde(rename = "FieldValueRequired")]
    Required,
    /// `FieldValueForbidden`: "Forbidden".
    #[serde(rename = "FieldValueForbidden")]
    Forbidden,
    /// `FieldValueNotSupported`: "Unsupported value".
    #[serde(rename = "FieldValueNotSupported")]
    NotSupported,
    /// `FieldValueDuplicate`: "Duplicate value".
    #[serde(rename = "FieldValueDuplicate")]
    Duplicate,
}

impl<'de> Deserialize<'de> for FieldErrorType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(match &*name {
            "FieldValueRequired" => FieldErrorType::Required,
            "FieldValueForbidden" => FieldErrorType::Forbidden,
            "FieldValueNotSupported" => FieldErrorType::NotSupported,
            "FieldValueDuplicate" => FieldErrorType::Duplicate,
            _ => FieldErrorType::Invalid,
        })
    }
}

impl FieldErrorType {
    /// The phrase `kubectl` prints.
    pub fn phrase(self) -> &'static str {
        match self {
            FieldErrorType::Invalid => "Invalid value",
            FieldErrorType::Required => "Required value",
            FieldErrorType::Forbidden => "Forbidden",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Duplicate => "Duplicate value",
        }
    }
}

/// One field that is wrong. Decodes leniently (a missing member is empty),
/// as clients of the agent read it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// Field path, e.g. `spec.ips[0]`.
    #[serde(default)]
    pub field: String,
    /// What kind of problem.
    #[serde(rename = "type", default)]
    pub kind: FieldErrorType,
    /// The offending value, when there is one (a JSON `null` is a value).
    #[serde(
        rename = "badValue",
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<serde_json::Value>,
    /// What is wrong.
    #[serde(rename = "detail", default)]
    pub message: String,
}

/// A member that is present is `Some`, also when it is `null`.
fn present_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

impl FieldError {
    /// An invalid value.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Serialize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorType::Invalid,
            value: serde_json::to_value(value).ok(),
            message: message.into(),
        }
    }

    /// A missing value.
    pub fn required(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorType::Required,
            value: None,
            message: message.into(),
        }
    }

    /// A value that is not allowed here (whatever it is).
    pub fn forbidden(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorType::Forbidden,
            value: None,
            message: message.into(),
        }
    }

    /// A value outside an enumeration.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Serialize,
        supported: &[&str],
    ) -> Self {
        let list = supported.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        Self {
            field: field.into(),
            kind: FieldErrorType::NotSupported,
            value: serde_json::to_value(value).ok(),
            message: format!("supported values: {list}"),
        }
    }

    /// A value listed twice.
    pub fn duplicate(field: impl Into<String>, value: impl Serialize) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorType::Duplicate,
            value: serde_json::to_value(value).ok(),
            message: String::new(),
        }
    }
}

impl fmt::Display for FieldError {
    /// `kubectl`'s form: `spec.ips[0]: Invalid value: "10.7.0.1": not in subnet 10.6.0.0/16`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.kind.phrase())?;
        match (&self.value, self.kind) {
            (_, FieldErrorType::Required | FieldErrorType::Forbidden) | (None, _) => {}
            (Some(v), _) => write!(f, ": {}", render_value(v))?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

fn render_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The status reason of a rejection (`metav1.StatusReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusReason {
    /// 422: the object is invalid.
    Invalid,
    /// 403: the operation is not allowed on this object now.
    Forbidden,
    /// 409: an object of that name exists.
    AlreadyExists,
    /// 400: the request cannot be understood.
    BadRequest,
}

impl StatusReason {
    /// The HTTP status code that goes with the reason.
    pub fn code(self) -> u16 {
        match self {
            StatusReason::Invalid => 422,
            StatusReason::Forbidden => 403,
            StatusReason::AlreadyExists => 409,
            StatusReason::BadRequest => 400,
        }
    }
}

/// Admission said no. Decodes back from its JSON (the agent's answer to a
/// refused apply or delete) with `reason` required and the rest defaulted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Why, in one word.
    pub reason: StatusReason,
    /// Kind of the object.
    #[serde(default)]
    pub kind: String,
    /// Name of the object.
    #[serde(default)]
    pub name: String,
    /// A message when there are no field errors (Forbidden, AlreadyExists).
    #[serde(default)]
    pub message: String,
    /// The fields that are wrong.
    #[serde(default)]
    pub causes: Vec<FieldError>,
}

impl Rejection {
    /// An `Invalid` rejection with field errors.
    pub fn invalid(kind: &str, name: &str, causes: Vec<FieldError>) -> Self {
        Self {
            reason: StatusReason::Invalid,
            kind: kind.into(),
            name: name.into(),
            message: String::new(),
            causes,
        }
    }

    /// A `Forbidden` rejection.
    pub fn forbidden(kind: &str, name: &str, message: impl Into<String>) -> Self {
        Self {
            reason: StatusReason::Forbidden,
            kind: kind.into(),
            name: name.into(),
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// An `AlreadyExists` rejection.
    pub fn already_exists(kind: &str, name: &str) -> Self {
        Self {
            reason: StatusReason::AlreadyExists,
            kind: kind.into(),
            name: name.into(),
            message: String::new(),
            causes: Vec::new(),
        }
    }

    /// `Ok(())` when `causes` is empty, else an `Invalid` rejection.
    pub fn check(kind: &str, name: &str, causes: Vec<FieldError>) -> Result<(), Rejection> {
        if causes.is_empty() { Ok(()) } else { Err(Self::invalid(kind, name, causes)) }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            StatusReason::AlreadyExists => {
                write!(f, "{} {:?} already exists", self.kind, self.name)?;
            }
            StatusReason::Forbidden => {
                write!(f, "{} {:?} is forbidden: {}", self.kind, self.name, self.message)?;
            }
            StatusReason::Invalid | StatusReason::BadRequest => {
                write!(f, "{} {:?} is invalid", self.kind, self.name)?;
                if !self.message.is_empty() {
                    write!(f, ": {}", self.message)?;
                }
            }
        }
        for (i, c) in self.causes.iter().enumerate() {
            write!(f, "{}{c}", if i == 0 { ": " } else { ", " })?;
        }
        Ok(())
    }
}

/// Defaulting for any kind. SpiderEndpoint has no webhook and is left as is.
pub fn mutate(obj: &mut Resource, op: Operation, ctx: &Context<'_>) -> Result<(), Rejection> {
    match obj {
        Resource::IPPool(p) => ippool::mutate(p, op, ctx),
        Resource::Subnet(s) => subnet::mutate(s, op, ctx),
        Resource::ReservedIP(r) => reservedip::mutate(r, op, ctx),
        Resource::MultusConfig(m) => multusconfig::mutate(m, op, ctx),
        Resource::Coordinator(c) => coordinator::mutate(c, op, ctx),
        Resource::Endpoint(_) => Ok(()),
    }
}

/// Validation for any kind. `new` is the object for CREATE and UPDATE; `old` is
/// the stored object for UPDATE and DELETE. CREATE and UPDATE first check
/// `metadata.name` (and `metadata.namespace`) as the API server does
/// ([`names`]); a bad name is the only error reported then.
pub fn validate(
    op: Operation,
    new: Option<&Resource>,
    old: Option<&Resource>,
    ctx: &Context<'_>,
) -> Result<(), Rejection> {
    let Some(subject) = new.or(old) else {
        return Err(Rejection {
            reason: StatusReason::BadRequest,
            kind: String::new(),
            name: String::new(),
            message: format!("{op} needs an object"),
            causes: Vec::new(),
        });
    };
    let kind = subject.kind();
    if let (Operation::Create | Operation::Update, Some(new)) = (op, new) {
        // The API server checks the name before any webhook.
        names::check_names(kind, new.name(), new.namespace(), new.is_namespaced())?;
    }
    let name = subject.name().to_string();
    let mismatch = || Rejection {
        reason: StatusReason::BadRequest,
        kind: kind.to_string(),
        name: name.clone(),
        message: "the old object is of another kind".into(),
        causes: Vec::new(),
    };
    macro_rules! pair {
        ($variant:ident, $module:ident) => {{
            let new = match new {
                Some(Resource::$variant(x)) => Some(std::borrow::Borrow::borrow(x)),
                Some(_) => return Err(mismatch()),
                None => None,
            };
            let old = match old {
                Some(Resource::$variant(x)) => Some(std::borrow::Borrow::borrow(x)),
                Some(_) => return Err(mismatch()),
                None => None,
            };
            $module::validate(op, new, old, ctx)
        }};
    }
    match subject {
        Resource::IPPool(_) => pair!(IPPool, ippool),
        Resource::Subnet(_) => pair!(Subnet, subnet),
        Resource::ReservedIP(_) => pair!(ReservedIP, reservedip),
        Resource::MultusConfig(_) => pair!(MultusConfig, multusconfig),
        Resource::Coordinator(_) => pair!(Coordinator, coordinator),
        Resource::Endpoint(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_print_as_kubectl_does() {
        let e = FieldError::invalid("spec.ips[0]", "10.7.0.1", "not in subnet 10.6.0.0/16");
        assert_eq!(
            e.to_string(),
            r#"spec.ips[0]: Invalid value: "10.7.0.1": not in subnet 10.6.0.0/16"#
        );
        let e = FieldError::required("spec.subnet", "");
        assert_eq!(e.to_string(), "spec.subnet: Required value");
        let e = FieldError::not_supported("spec.cniType", "foo", &["macvlan", "ipvlan"]);
        assert_eq!(
            e.to_string(),
            r#"spec.cniType: Unsupported value: "foo": supported values: "macvlan", "ipvlan""#
        );
        let e = FieldError::invalid("spec.vethMTU", 0, "must be greater than 0");
        assert_eq!(e.to_string(), "spec.vethMTU: Invalid value: 0: must be greater than 0");
        let e = FieldError::forbidden("spec.ipVersion", "field is immutable");
        assert_eq!(e.to_string(), "spec.ipVersion: Forbidden: field is immutable");
    }

    #[test]
    fn rejections_print_reason_kind_name_and_causes() {
        let r = Rejection::invalid(
            "SpiderIPPool",
            "p",
            vec![
                FieldError::required("spec.subnet", "must be set"),
                FieldError::duplicate("spec.routes[1].dst", "10.0.0.0/8"),
            ],
        );
        assert_eq!(
            r.to_string(),
            r#"SpiderIPPool "p" is invalid: spec.subnet: Required value: must be set, spec.routes[1].dst: Duplicate value: "10.0.0.0/8""#
        );
        assert_eq!(
            Rejection::already_exists("SpiderIPPool", "p").to_string(),
            r#"SpiderIPPool "p" already exists"#
        );
        assert_eq!(StatusReason::AlreadyExists.code(), 409);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["causes"][0]["type"], "FieldValueRequired");
        assert_eq!(json["reason"], "Invalid");
    }

    #[test]
    fn rejections_decode_back_leniently() {
        let r = Rejection::invalid(
            "SpiderIPPool",
            "x",
            vec![
                FieldError::invalid("spec.ips[0]", "10.7.0.1", "not in subnet"),
                FieldError::invalid("spec.x", serde_json::Value::Null, "null is a value"),
                FieldError::required("spec.subnet", ""),
            ],
        );
        let back: Rejection = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let back: Rejection = serde_json::from_value(serde_json::json!({
            "reason": "Forbidden",
            "causes": [{"type": "FieldValueTooLong", "field": "f"}]
        }))
        .unwrap();
        assert_eq!(back.reason, StatusReason::Forbidden);
        assert_eq!(back.causes[0].kind, FieldErrorType::Invalid);
        assert_eq!(back.causes[0].value, None);
        assert!(
            serde_json::from_value::<Rejection>(serde_json::json!({"reason": "Gone"})).is_err()
        );
        assert!(serde_json::from_value::<Rejection>(serde_json::json!({"kind": "X"})).is_err());
    }
}
