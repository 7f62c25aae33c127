//! `SpiderReservedIP` (`sr`, cluster-scoped, no status): IPs that no pool ever
//! hands out and no subnet ever gives to an auto-created pool.

use serde::{Deserialize, Serialize};

use super::{ObjectMeta, null_default, resource_kind};

/// A `SpiderReservedIP`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiderReservedIP {
    /// `apiVersion` (`spiderpool.spidernet.io/v2beta1`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `kind` (`SpiderReservedIP`).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: ReservedIPSpec,
}

resource_kind!(
    SpiderReservedIP,
    spec = ReservedIPSpec,
    kind = "SpiderReservedIP",
    plural = "spiderreservedips",
    singular = "spiderreservedip",
    short = "sr",
    namespaced = false
);

/// `spec` of a [`SpiderReservedIP`] (Go `ReservedIPSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReservedIPSpec {
    /// `4` or `6`; inferred from `ips[0]` by the mutating webhook when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<i64>,
    /// Single IPs and `a-b` ranges to keep out of every pool.
    #[serde(rename = "ips", default, deserialize_with = "null_default")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn round_trip_and_names() {
        let v = json!({
            "apiVersion": "spiderpool.spidernet.io/v2beta1",
            "kind": "SpiderReservedIP",
            "metadata": {"name": "exclude-ips"},
            "spec": {"ipVersion": 4, "ips": ["172.18.40.40", "172.18.40.50-172.18.40.60"]}
        });
        let r: SpiderReservedIP = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.spec.ip_version, Some(4));
        assert_eq!(r.spec.ips.len(), 2);
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
        assert_eq!(SpiderReservedIP::SHORT_NAME, "sr");
    }

    #[test]
    fn empty_spec_prints_nothing() {
        let r = SpiderReservedIP::new("x", ReservedIPSpec::default());
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({
                "apiVersion": "spiderpool.spidernet.io/v2beta1",
                "kind": "SpiderReservedIP",
                "metadata": {"name": "x"},
                "spec": {}
            })
        );
    }
}
