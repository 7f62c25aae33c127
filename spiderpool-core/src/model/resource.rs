//! Kind-generic access: the [`SpiderResource`] trait and the [`Resource`] enum
//! that holds an object of any of the six kinds.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{
    API_VERSION, CoordinatorSpec, CoordinatorStatus, IPPoolSpec, IPPoolStatus, ModelError,
    MultusCNIConfigSpec, ObjectMeta, ReservedIPSpec, SpiderCoordinator, SpiderEndpoint,
    SpiderIPPool, SpiderMultusConfig, SpiderReservedIP, SpiderSubnet, SubnetSpec, SubnetStatus,
    WorkloadEndpointStatus,
};

/// What every Spiderpool kind has: its names and its metadata.
pub trait SpiderResource: Serialize + DeserializeOwned {
    /// `kind`, e.g. `SpiderIPPool`.
    const KIND: &'static str;
    /// Plural resource name, e.g. `spiderippools`.
    const PLURAL: &'static str;
    /// Singular resource name, e.g. `spiderippool`.
    const SINGULAR: &'static str;
    /// `kubectl` short name, e.g. `sp`.
    const SHORT_NAME: &'static str;
    /// True for namespaced kinds (`SpiderEndpoint`, `SpiderMultusConfig`).
    const NAMESPACED: bool;

    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
    /// The object's metadata, mutably.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;
}

/// An object of any of the six `spiderpool.spidernet.io/v2beta1` kinds.
///
/// Serializes as the inner object. Deserializes (and [`Resource::from_value`]
/// decodes) by dispatching on `apiVersion` and `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Resource {
    /// A `SpiderIPPool`.
    IPPool(SpiderIPPool),
    /// A `SpiderSubnet`.
    Subnet(SpiderSubnet),
    /// A `SpiderReservedIP`.
    ReservedIP(SpiderReservedIP),
    /// A `SpiderEndpoint`.
    Endpoint(SpiderEndpoint),
    /// A `SpiderMultusConfig` (boxed: it is by far the largest kind).
    MultusConfig(Box<SpiderMultusConfig>),
    /// A `SpiderCoordinator`.
    Coordinator(SpiderCoordinator),
}

/// The six kinds, in the order of the variants of [`Resource`].
pub const KINDS: [&str; 6] = [
    SpiderIPPool::KIND,
    SpiderSubnet::KIND,
    SpiderReservedIP::KIND,
    SpiderEndpoint::KIND,
    SpiderMultusConfig::KIND,
    SpiderCoordinator::KIND,
];

impl Resource {
    /// Decodes an untyped object.
    ///
    /// Errors: not an object, `apiVersion` / `kind` missing, unknown kind, wrong
    /// apiVersion, or a field of the wrong JSON type (reported with the path of
    /// the offending field as far as it can be narrowed, e.g. `spec.ipVersion`).
    pub fn from_value(v: Value) -> Result<Resource, ModelError> {
        let obj = match &v {
            Value::Object(obj) => obj,
            other => {
                return Err(ModelError::NotAnObject { found: json_type(other) });
            }
        };
        let kind = string_field(obj, "kind")?;
        if !KINDS.contains(&kind) {
            return Err(ModelError::UnknownKind { kind: kind.to_owned() });
        }
        let api_version = string_field(obj, "apiVersion")?;
        if api_version != API_VERSION {
            return Err(ModelError::WrongApiVersion {
                kind: kind.to_owned(),
                api_version: api_version.to_owned(),
            });
        }
        Ok(match kind {
            SpiderIPPool::KIND => Resource::IPPool(decode(
                v,
                &[
                    |v| locate_section::<IPPoolSpec>(v, "spec"),
                    |v| locate_section::<IPPoolStatus>(v, "status"),
                ],
            )?),
            SpiderSubnet::KIND => Resource::Subnet(decode(
                v,
                &[
                    |v| locate_section::<SubnetSpec>(v, "spec"),
                    |v| locate_section::<SubnetStatus>(v, "status"),
                ],
            )?),
            SpiderReservedIP::KIND => {
                Resource::ReservedIP(decode(v, &[|v| locate_section::<ReservedIPSpec>(v, "spec")])?)
            }
            SpiderEndpoint::KIND => Resource::Endpoint(decode(
                v,
                &[|v| locate_section::<WorkloadEndpointStatus>(v, "status")],
            )?),
            SpiderMultusConfig::KIND => Resource::MultusConfig(Box::new(decode(
                v,
                &[|v| locate_section::<MultusCNIConfigSpec>(v, "spec")],
            )?)),
            _ => Resource::Coordinator(decode(
                v,
                &[
                    |v| locate_section::<CoordinatorSpec>(v, "spec"),
                    |v| locate_section::<CoordinatorStatus>(v, "status"),
                ],
            )?),
        })
    }

    /// The object as JSON.
    pub fn to_value(&self) -> Result<Value, ModelError> {
        serde_json::to_value(self).map_err(|e| ModelError::InvalidResource {
            kind: self.kind(),
            name: self.name().to_owned(),
            path: String::new(),
            message: e.to_string(),
        })
    }

    /// The kind, e.g. `SpiderIPPool` (from the variant, not the `kind` field).
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::IPPool(_) => SpiderIPPool::KIND,
            Resource::Subnet(_) => SpiderSubnet::KIND,
            Resource::ReservedIP(_) => SpiderReservedIP::KIND,
            Resource::Endpoint(_) => SpiderEndpoint::KIND,
            Resource::MultusConfig(_) => SpiderMultusConfig::KIND,
            Resource::Coordinator(_) => SpiderCoordinator::KIND,
        }
    }

    /// True for namespaced kinds.
    pub fn is_namespaced(&self) -> bool {
        matches!(self, Resource::Endpoint(_) | Resource::MultusConfig(_))
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Resource::IPPool(r) => &r.metadata,
            Resource::Subnet(r) => &r.metadata,
            Resource::ReservedIP(r) => &r.metadata,
            Resource::Endpoint(r) => &r.metadata,
            Resource::MultusConfig(r) => &r.metadata,
            Resource::Coordinator(r) => &r.metadata,
        }
    }

    /// The object's metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Resource::IPPool(r) => &mut r.metadata,
            Resource::Subnet(r) => &mut r.metadata,
            Resource::ReservedIP(r) => &mut r.metadata,
            Resource::Endpoint(r) => &mut r.metadata,
            Resource::MultusConfig(r) => &mut r.metadata,
            Resource::Coordinator(r) => &mut r.metadata,
        }
    }

    /// `metadata.name`, or `""` when unset.
    pub fn name(&self) -> &str {
        self.metadata().name_str()
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(deserializer)?;
        Resource::from_value(v).map_err(D::Error::custom)
    }
}

impl From<SpiderIPPool> for Resource {
    fn from(r: SpiderIPPool) -> Self {
        Resource::IPPool(r)
    }
}

impl From<SpiderSubnet> for Resource {
    fn from(r: SpiderSubnet) -> Self {
        Resource::Subnet(r)
    }
}

impl From<SpiderReservedIP> for Resource {
    fn from(r: SpiderReservedIP) -> Self {
        Resource::ReservedIP(r)
    }
}

impl From<SpiderEndpoint> for Resource {
    fn from(r: SpiderEndpoint) -> Self {
        Resource::Endpoint(r)
    }
}

impl From<SpiderMultusConfig> for Resource {
    fn from(r: SpiderMultusConfig) -> Self {
        Resource::MultusConfig(Box::new(r))
    }
}

impl From<SpiderCoordinator> for Resource {
    fn from(r: SpiderCoordinator) -> Self {
        Resource::Coordinator(r)
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ModelError> {
    obj.get(field).and_then(Value::as_str).ok_or(ModelError::MissingField { field })
}

/// Finds the path and message of a decoding failure inside one section.
type Locator = fn(&Value) -> Option<(String, String)>;

/// Decodes `v` as `T`; on failure, narrows the error to the section (`metadata`,
/// then the kind's `spec` / `status` through `locators`) and then to the
/// top-level field of that section whose value does not decode.
fn decode<T: SpiderResource>(v: Value, locators: &[Locator]) -> Result<T, ModelError> {
    let err = match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let name = v
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let (path, message) = locate_section::<ObjectMeta>(&v, "metadata")
        .or_else(|| locators.iter().find_map(|locate| locate(&v)))
        .unwrap_or_else(|| (String::new(), err.to_string()));
    Err(ModelError::InvalidResource { kind: T::KIND, name, path, message })
}

/// If `v[section]` does not decode as `X`, the narrowest path and the message.
fn locate_section<X: DeserializeOwned>(v: &Value, section: &str) -> Option<(String, String)> {
    let inner = v.get(section)?;
    let err = serde_json::from_value::<Option<X>>(inner.clone()).err()?;
    // Every field of our section types has a default, so an object holding only
    // one of the fields decodes exactly when that field's value does.
    if let Value::Object(fields) = inner {
        for (key, value) in fields {
            let mut single = Map::new();
            single.insert(key.clone(), value.clone());
            if let Err(e) = serde_json::from_value::<X>(Value::Object(single)) {
                return Some((format!("{section}.{key}"), e.to_string()));
            }
        }
    }
    Some((section.to_owned(), err.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn dispatch_every_kind() {
        for kind in KINDS {
            let v = json!({"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": "x"}});
            let r = Resource::from_value(v).unwrap();
            assert_eq!(r.kind(), kind);
            assert_eq!(r.name(), "x");
            assert_eq!(r.to_value().unwrap()["kind"], json!(kind));
        }
    }

    #[test]
    fn namespaced_kinds() {
        let se = Resource::from(SpiderEndpoint::new("ns", "p", Default::default()));
        assert!(se.is_namespaced());
        assert_eq!(se.namespace(), Some("ns"));
        let smc = Resource::from(SpiderMultusConfig::new("m", Default::default()));
        assert!(smc.is_namespaced());
        assert!(!Resource::from(SpiderIPPool::new("p", Default::default())).is_namespaced());
    }

    #[test]
    fn dispatch_errors() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([1]), "resource: expected a JSON object, found an array"),
            (json!({"apiVersion": API_VERSION}), "resource: field \"kind\" is missing"),
            (
                json!({"apiVersion": API_VERSION, "kind": 5}),
                "resource: field \"kind\" is missing or not a string",
            ),
            (json!({"kind": "SpiderIPPool"}), "resource: field \"apiVersion\" is missing"),
            (json!({"apiVersion": API_VERSION, "kind": "Pod"}), "resource: unknown kind \"Pod\""),
            (
                json!({"apiVersion": "spiderpool.spidernet.io/v1", "kind": "SpiderIPPool"}),
                "SpiderIPPool: apiVersion \"spiderpool.spidernet.io/v1\" is not",
            ),
        ];
        for (v, want) in cases {
            let err = Resource::from_value(v.clone()).unwrap_err().to_string();
            assert!(err.starts_with(want), "{v}: {err}");
        }
    }

    #[test]
    fn bad_field_is_located() {
        let cases = [
            (
                json!({"apiVersion": API_VERSION, "kind": "SpiderIPPool",
                       "metadata": {"name": "p"}, "spec": {"subnet": "10.0.0.0/8", "ipVersion": "four"}}),
                "spec.ipVersion",
                "four",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": "SpiderIPPool",
                       "metadata": {"name": "p"}, "status": {"allocatedIPs": {"10.0.0.1": {}}}}),
                "status.allocatedIPs",
                "map",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": "SpiderMultusConfig",
                       "metadata": {"name": "m", "labels": ["a"]}}),
                "metadata.labels",
                "sequence",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": "SpiderEndpoint",
                       "metadata": {"name": "e"}, "status": {"current": {"ips": "x"}}}),
                "status.current",
                "\"x\"",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": "SpiderCoordinator",
                       "metadata": {"name": "default"}, "spec": "auto"}),
                "spec",
                "\"auto\"",
            ),
        ];
        for (v, path, fragment) in cases {
            let err = Resource::from_value(v).unwrap_err();
            match &err {
                ModelError::InvalidResource { path: p, message, .. } => {
                    assert_eq!(p, path, "{err}");
                    assert!(message.contains(fragment), "{err}");
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    fn json_leaf() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ]
        .prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any value put into any spec field either decodes or is reported at a
        /// `spec.<field>` path naming that field.
        #[test]
        fn bad_spec_values_are_located(
            kind_index in 0usize..6,
            field in proptest::sample::select(vec![
                "ipVersion", "subnet", "ips", "routes", "podAffinity", "default",
                "cniType", "macvlan", "coordinator", "chainCNIJsonData",
                "mode", "hijackCIDR", "policyRoutes", "vethMTU", "unknownField",
            ]),
            value in json_leaf(),
        ) {
            let kind = KINDS[kind_index];
            let mut v = json!({"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": "n"}});
            let section = if kind == SpiderEndpoint::KIND { "status" } else { "spec" };
            v[section] = json!({ field: value });
            match Resource::from_value(v) {
                Ok(r) => proptest::prop_assert_eq!(r.kind(), kind),
                Err(ModelError::InvalidResource { path, kind: k, name, .. }) => {
                    proptest::prop_assert_eq!(k, kind);
                    proptest::prop_assert_eq!(name, "n");
                    proptest::prop_assert_eq!(path, format!("{section}.{field}"));
                }
                Err(other) => proptest::prop_assert!(false, "unexpected error {}", other),
            }
        }
    }

    #[test]
    fn serde_round_trip_through_resource() {
        let pool = SpiderIPPool::new(
            "p",
            IPPoolSpec { subnet: "10.0.0.0/8".into(), ..Default::default() },
        );
        let text = serde_json::to_string(&Resource::from(pool.clone())).unwrap();
        let back: Resource = serde_json::from_str(&text).unwrap();
        assert_eq!(back, Resource::IPPool(pool));
        let err =
            serde_json::from_str::<Resource>(r#"{"kind":"Nope","apiVersion":"v1"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown kind \"Nope\""), "{err}");
    }
}
