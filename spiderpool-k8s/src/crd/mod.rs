//! The CustomResourceDefinitions of the six `spiderpool.spidernet.io/v2beta1`
//! kinds, generated from the core model, and Multus'
//! `NetworkAttachmentDefinition` CRD.
//!
//! Names, scope, short names, category, printer columns and the status
//! subresource are Spiderpool's; the schemas come from the core types (see
//! [`schema`](self) for how, and `docs/kubernetes.md` for how they differ from
//! Spiderpool's). The committed YAML in `charts/spiderpool/crds/` is
//! [`render_yaml`] of [`crds`]; a test fails when they differ. Regenerate with
//!
//! ```text
//! cargo run -p spiderpool-k8s --example crdgen -- charts/spiderpool/crds
//! ```

mod nad;
mod rules;
mod schema;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use spiderpool_core::model::{
    CATEGORY, GROUP, SpiderCoordinator, SpiderEndpoint, SpiderIPPool, SpiderMultusConfig,
    SpiderReservedIP, SpiderSubnet, VERSION,
};

pub use nad::{NAD_CRD_FILE, network_attachment_definition_crd};

use crate::{Error, Kind, Result};

/// The six CRDs, in the order of the core's `KINDS`.
///
/// Fails only on a bug in the generator or the core's schema attributes (the
/// crate's tests build every CRD).
pub fn crds() -> Result<Vec<CustomResourceDefinition>> {
    Ok(vec![
        crd::<SpiderIPPool>()?,
        crd::<SpiderSubnet>()?,
        crd::<SpiderReservedIP>()?,
        crd::<SpiderEndpoint>()?,
        crd::<SpiderMultusConfig>()?,
        crd::<SpiderCoordinator>()?,
    ])
}

/// The CRD of kind `K`.
pub fn crd<K>() -> Result<CustomResourceDefinition>
where
    K: Kind,
    K::Spec: JsonSchema,
    K::Status: JsonSchema,
{
    let spec = K::HAS_SPEC.then(schema::schema_for::<K::Spec>);
    let status = K::HAS_STATUS.then(schema::schema_for::<K::Status>);
    let mut root = schema::root(K::KIND, K::PLURAL, spec, status);
    let error = |message: String| Error::Schema { kind: K::KIND, message };
    schema::apply(&mut root, &rules::for_kind(K::KIND)).map_err(error)?;
    let open_api_v3_schema: JSONSchemaProps =
        serde_json::from_value(root).map_err(|e| error(e.to_string()))?;
    let columns = printer_columns(K::KIND);

    Ok(CustomResourceDefinition {
        metadata: ObjectMeta { name: Some(crd_name::<K>()), ..ObjectMeta::default() },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.to_owned(),
            names: CustomResourceDefinitionNames {
                categories: Some(vec![CATEGORY.to_owned()]),
                kind: K::KIND.to_owned(),
                list_kind: Some(format!("{}List", K::KIND)),
                plural: K::PLURAL.to_owned(),
                short_names: Some(vec![K::SHORT_NAME.to_owned()]),
                singular: Some(K::SINGULAR.to_owned()),
            },
            scope: if K::NAMESPACED { "Namespaced" } else { "Cluster" }.to_owned(),
            versions: vec![CustomResourceDefinitionVersion {
                additional_printer_columns: (!columns.is_empty()).then_some(columns),
                name: VERSION.to_owned(),
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(open_api_v3_schema),
                }),
                served: true,
                storage: true,
                subresources: K::STATUS_SUBRESOURCE.then(|| CustomResourceSubresources {
                    scale: None,
                    status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
                }),
                ..CustomResourceDefinitionVersion::default()
            }],
            ..CustomResourceDefinitionSpec::default()
        },
        status: None,
    })
}

/// `<plural>.<group>`, the CRD's object name.
pub fn crd_name<K: Kind>() -> String {
    format!("{}.{GROUP}", K::PLURAL)
}

/// The file a CRD is committed as: `<group>_<plural>.yaml`, as Spiderpool names
/// its CRD files (`spiderpool.spidernet.io_spiderippools.yaml`).
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// A CRD as the YAML document that is committed (a `---` line, then the object).
///
/// Whole numbers are written as integers (`minimum: 0`, not the `0.0` that
/// `JSONSchemaProps`' `f64` fields would print).
pub fn render_yaml(crd: &CustomResourceDefinition) -> Result<String> {
    let error = |message: String| Error::Schema { kind: "CustomResourceDefinition", message };
    let mut value = serde_json::to_value(crd).map_err(|e| error(e.to_string()))?;
    integral_floats_to_integers(&mut value);
    let yaml = serde_saphyr::to_string(&value).map_err(|e| error(format!("YAML encoding: {e}")))?;
    Ok(format!("---\n{yaml}"))
}

fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // Exact: |f| < 2^53 and f has no fraction.
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// Every generated file: (file name, contents) for the six CRDs.
pub fn rendered_files() -> Result<Vec<(String, String)>> {
    crds()?.iter().map(|crd| Ok((file_name(crd), render_yaml(crd)?))).collect()
}

/// Spiderpool's `additionalPrinterColumns` of a kind (none for SpiderMultusConfig
/// and SpiderCoordinator). Wide-only columns have priority 10.
fn printer_columns(kind: &str) -> Vec<CustomResourceColumnDefinition> {
    let col = |name: &str, ty: &str, path: &str, description: &str, priority: Option<i32>| {
        CustomResourceColumnDefinition {
            description: Some(description.to_owned()),
            format: None,
            json_path: path.to_owned(),
            name: name.to_owned(),
            priority,
            type_: ty.to_owned(),
        }
    };
    let counts = || {
        vec![
            col("VERSION", "string", ".spec.ipVersion", "ipVersion", None),
            col("SUBNET", "string", ".spec.subnet", "subnet", None),
            col(
                "ALLOCATED-IP-COUNT",
                "integer",
                ".status.allocatedIPCount",
                "allocatedIPCount",
                None,
            ),
            col("TOTAL-IP-COUNT", "integer", ".status.totalIPCount", "totalIPCount", None),
        ]
    };
    match kind {
        SpiderIPPool::KIND => {
            let mut columns = counts();
            columns.extend([
                col("DEFAULT", "boolean", ".spec.default", "default", None),
                col("DISABLE", "boolean", ".spec.disable", "disable", Some(10)),
                col("NodeName", "string", ".spec.nodeName", "nodeName", Some(10)),
                col("MultusName", "string", ".spec.multusName", "multusName", Some(10)),
                col(
                    "APP-NAMESPACE",
                    "string",
                    r".spec.podAffinity.matchLabels['ipam\.spidernet\.io/app\-namespace']",
                    "AppNamespace",
                    Some(10),
                ),
            ]);
            columns
        }
        SpiderSubnet::KIND => counts(),
        SpiderReservedIP::KIND => {
            vec![col("VERSION", "string", ".spec.ipVersion", "ipVersion", None)]
        }
        SpiderEndpoint::KIND => {
            let ip = |field: &str| format!(".status.current.ips[0].{field}");
            vec![
                col("INTERFACE", "string", &ip("interface"), "interface", None),
                col("IPV4POOL", "string", &ip("ipv4Pool"), "ipv4Pool", None),
                col("IPV4", "string", &ip("ipv4"), "ipv4", None),
                col("IPV6POOL", "string", &ip("ipv6Pool"), "ipv6Pool", None),
                col("IPV6", "string", &ip("ipv6"), "ipv6", None),
                col("NODE", "string", ".status.current.node", "node", None),
            ]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
