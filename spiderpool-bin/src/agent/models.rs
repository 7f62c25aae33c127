//! Spiderpool's agent API models (reference §1.2, `api/v1/agent/openapi.yaml`),
//! field names exact, and the error answers of the API.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `IpamAddArgs`: the body of `POST /v1/ipam/ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamAddArgs {
    /// `containerID` (required).
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `ifName` (required).
    pub if_name: String,
    /// `netNamespace` (required).
    pub net_namespace: String,
    /// `podNamespace` (required).
    pub pod_namespace: String,
    /// `podName` (required).
    pub pod_name: String,
    /// `podUID` (required).
    #[serde(rename = "podUID")]
    pub pod_uid: String,
    /// `defaultIPv4IPPool`: the CNI config's `default_ipv4_ippool`.
    #[serde(rename = "defaultIPv4IPPool", default, skip_serializing_if = "Vec::is_empty")]
    pub default_ipv4_ippool: Vec<String>,
    /// `defaultIPv6IPPool`: the CNI config's `default_ipv6_ippool`.
    #[serde(rename = "defaultIPv6IPPool", default, skip_serializing_if = "Vec::is_empty")]
    pub default_ipv6_ippool: Vec<String>,
    /// `cleanGateway`: no default route through the pool gateway.
    #[serde(default)]
    pub clean_gateway: bool,
    /// `matchMasterSubnet` (SR-IOV only; accepted, not used on one machine).
    #[serde(default)]
    pub match_master_subnet: bool,
    /// `network` (our extension): the CNI network (netconf `name`) of this
    /// ADD, recorded on the records of `ifName` so that CNI GC of a network
    /// frees only its own. Omitted when unknown; Spiderpool ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// `IpConfig`: one address of `IpamAddResponse.ips`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpConfig {
    /// `version`: 4 or 6.
    pub version: i64,
    /// `address`: the IP with the pool's prefix length, e.g. `10.6.212.200/16`.
    pub address: String,
    /// `nic`: the pod interface.
    pub nic: String,
    /// `ipPool`: the pool it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_pool: Option<String>,
    /// `gateway`: the pool's gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// `vlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// `mac` (set only by IaaS providers; never by this agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// `enableGatewayDetection`: the plugin probes the gateway.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_gateway_detection: bool,
    /// `enableIPConflictDetection`: the plugin probes for a conflicting host.
    #[serde(rename = "enableIPConflictDetection", default, skip_serializing_if = "is_false")]
    pub enable_ip_conflict_detection: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `Route` of the agent API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// `ifName`: the pod interface.
    pub if_name: String,
    /// `dst`: destination CIDR.
    pub dst: String,
    /// `gw`: next hop.
    pub gw: String,
}

/// `IpamAddResponse`: the answer of `POST /v1/ipam/ip` (every NIC of the pod;
/// the plugin keeps its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamAddResponse {
    /// `ips`.
    pub ips: Vec<IpConfig>,
    /// `routes`.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// `IpamDelArgs`: the body of `DELETE /v1/ipam/ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamDelArgs {
    /// `containerID` (required).
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `ifName` (required).
    pub if_name: String,
    /// `podNamespace` (required).
    pub pod_namespace: String,
    /// `podName` (required).
    pub pod_name: String,
    /// `podUID` (required).
    #[serde(rename = "podUID")]
    pub pod_uid: String,
    /// `netNamespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_namespace: Option<String>,
    /// `network` (our extension, sent by CNI GC): release only the records
    /// this CNI network (netconf `name`) made for the container, and keep the
    /// pod's other NICs. Absent (every CNI DEL): every NIC of the pod, as
    /// Spiderpool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// `IpamBatchDelArgs`: the body of `DELETE /v1/ipam/ips`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamBatchDelArgs {
    /// `containerID` (required).
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `podNamespace` (required).
    pub pod_namespace: String,
    /// `podName` (required).
    pub pod_name: String,
    /// `podUID` (required).
    #[serde(rename = "podUID")]
    pub pod_uid: String,
    /// `netNamespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_namespace: Option<String>,
    /// `isReleaseConflictIPs`: the caller releases addresses found in conflict
    /// (refused with 521 / 522, reference §4.7).
    #[serde(rename = "isReleaseConflictIPs", default)]
    pub is_release_conflict_ips: bool,
}

/// `GetCoordinatorArgs`: the body of `GET /v1/coordinator/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCoordinatorArgs {
    /// `podName`.
    #[serde(default)]
    pub pod_name: String,
    /// `podNamespace`.
    #[serde(default)]
    pub pod_namespace: String,
}

/// `WorkloadEndpointStatus` of the agent API (`GET /v1/workloadendpoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEndpoint {
    /// `podNamespace`.
    pub pod_namespace: String,
    /// `podName`.
    pub pod_name: String,
    /// `podUID`.
    #[serde(rename = "podUID")]
    pub pod_uid: String,
    /// `node`.
    pub node: String,
    /// `interfaces`.
    pub interfaces: Vec<InterfaceDetail>,
}

/// `InterfaceDetail`: one NIC of a [`WorkloadEndpoint`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceDetail {
    /// `interface`.
    pub interface: String,
    /// `ipv4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// `ipv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// `ipv4Pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_pool: Option<String>,
    /// `ipv6Pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_pool: Option<String>,
    /// `ipv4Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_gateway: Option<String>,
    /// `ipv6Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<String>,
    /// `routes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// `mac` (only if set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// `vlan` (only if non-zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
}

/// An error answer: a status code and a JSON body — Spiderpool's `Error` model
/// (a JSON string) for the agent routes, a `Rejection` object for admission.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: serde_json::Value,
}

impl ApiError {
    /// An error whose body is the JSON string `message`.
    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, body: serde_json::Value::String(message.into()) }
    }

    /// 400 with a message naming the bad field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::message(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::message(StatusCode::NOT_FOUND, message)
    }

    /// 500, Spiderpool's answer for every failed operation.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::message(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The message, when the body is a JSON string.
    pub fn text(&self) -> String {
        match &self.body {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Parses a JSON request body into `T`; a failure is a 400 naming the model
/// and the field (`IpamAddArgs: podUID: invalid type: ...`, or
/// `IpamAddArgs: missing field `podUID``).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8], model: &str) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("{model}: empty request body")));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("{model}: {inner}"))
        } else {
            ApiError::bad_request(format!("{model}: field {path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| ApiError::bad_request(format!("{model}: trailing data: {e}")))?;
    Ok(value)
}

/// Checks that required string fields are not empty: 400 naming the first
/// empty one.
pub fn require_non_empty(model: &str, fields: &[(&str, &str)]) -> Result<(), ApiError> {
    for (name, value) in fields {
        if value.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{model}: field {name}: required, must not be empty"
            )));
        }
    }
    Ok(())
}

/// The rule an identifier of the IPAM API follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ident {
    /// A Kubernetes namespace: a DNS-1123 label.
    PodNamespace,
    /// A pod name: a DNS-1123 subdomain.
    PodName,
    /// A pod UID: letters, digits and `-`, at most 128 (the plugin's
    /// `K8S_POD_UID` rule).
    PodUid,
    /// A Linux interface name (the kernel's `dev_valid_name`).
    IfName,
    /// A CNI container ID.
    ContainerId,
}

impl Ident {
    /// Why `value` breaks the rule, if it does.
    fn check(self, value: &str) -> Result<(), String> {
        use spiderpool_core::name;
        let first = |errs: Vec<name::DnsNameError>| {
            errs.into_iter().next().map_or(Ok(()), |e| Err(e.to_string()))
        };
        match self {
            Ident::PodNamespace => first(name::dns1123_label(value)),
            Ident::PodName => first(name::dns1123_subdomain(value)),
            Ident::PodUid => name::pod_uid(value).map_err(|e| e.to_string()),
            Ident::IfName => name::interface_name(value).map_err(|e| e.to_string()),
            Ident::ContainerId => name::container_id(value).map_err(|e| e.to_string()),
        }
    }
}

/// Checks identifiers of a request body (empty ones are skipped: whether a
/// field is required is [`require_non_empty`]'s): 400 naming the first bad
/// field, its value (shortened when long) and the rule, e.g. `IpamAddArgs:
/// field ifName: Invalid value "a/b": contains the forbidden character '/'
/// (an interface name must not contain '/', ':', NUL or whitespace)`.
pub fn check_identifiers(model: &str, fields: &[(&str, Ident, &str)]) -> Result<(), ApiError> {
    for (field, ident, value) in fields {
        if value.is_empty() {
            continue;
        }
        if let Err(reason) = ident.check(value) {
            let shown = spiderpool_core::name::shown(value);
            return Err(ApiError::bad_request(format!(
                "{model}: field {field}: Invalid value {shown:?}: {reason}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let e = parse_body::<IpamAddArgs>(br#"{"containerID":"c"}"#, "IpamAddArgs").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.text().contains("missing field `ifName`"), "{}", e.text());
        let e = parse_body::<IpamAddArgs>(
            br#"{"containerID":"c","ifName":"net1","netNamespace":"n","podNamespace":"ns","podName":"p","podUID":7}"#,
            "IpamAddArgs",
        )
        .unwrap_err();
        assert!(e.text().contains("field podUID: invalid type"), "{}", e.text());
        let e = parse_body::<IpamAddArgs>(b"  ", "IpamAddArgs").unwrap_err();
        assert!(e.text().contains("empty request body"), "{}", e.text());
    }

    #[test]
    fn ip_config_uses_spiderpool_names() {
        let c = IpConfig {
            version: 4,
            address: "10.6.212.200/16".into(),
            nic: "net1".into(),
            ip_pool: Some("10-6-v4".into()),
            gateway: Some("10.6.0.1".into()),
            vlan: Some(0),
            mac: None,
            enable_gateway_detection: false,
            enable_ip_conflict_detection: true,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version":4,"address":"10.6.212.200/16","nic":"net1","ipPool":"10-6-v4","gateway":"10.6.0.1","vlan":0,"enableIPConflictDetection":true})
        );
    }
}
