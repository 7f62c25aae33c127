//! The IPAM routes' models (`/v1/ipam/*`): Spiderpool's `IpamAddArgs`,
//! `IpamAddResponse` (with `IpConfig` and `Route`), `IpamDelArgs` and
//! `IpamBatchDelArgs`, field names exact, plus the release journal's line
//! (one `IpamDelArgs` per line).

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

/// The answer of a route without a model (`GET /v1/ipam/healthy`,
/// `DELETE /v1/ipam/ip`, `DELETE /v1/ipam/ips`): `{}`. Spiderpool sends no
/// body; JSON clients that always decode the answer get an empty object.
/// Any JSON object decodes as it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

impl IpamDelArgs {
    /// The release journal's line for this release: the JSON object and a
    /// newline, written whole by one `write` (see `spiderpool-bin`'s journal).
    pub fn journal_line(&self) -> Vec<u8> {
        // A struct of strings always serializes.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// Decodes one line of the release journal (without its newline).
    pub fn from_journal_line(line: &str) -> Result<IpamDelArgs, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

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

    #[test]
    fn add_args_omit_our_network_extension_when_unknown() {
        let args = IpamAddArgs {
            container_id: "c".into(),
            if_name: "net1".into(),
            net_namespace: "/n".into(),
            pod_namespace: "ns".into(),
            pod_name: "p".into(),
            pod_uid: "u".into(),
            ..IpamAddArgs::default()
        };
        assert_eq!(
            serde_json::to_string(&args).unwrap(),
            r#"{"containerID":"c","ifName":"net1","netNamespace":"/n","podNamespace":"ns","podName":"p","podUID":"u","cleanGateway":false,"matchMasterSubnet":false}"#
        );
        let with = IpamAddArgs { network: Some("macvlan".into()), ..args };
        assert!(serde_json::to_string(&with).unwrap().ends_with(r#","network":"macvlan"}"#));
    }

    #[test]
    fn journal_lines_round_trip_one_per_line() {
        let args = IpamDelArgs {
            container_id: "c1".into(),
            if_name: "net1".into(),
            pod_namespace: "default".into(),
            pod_name: "p".into(),
            pod_uid: "u".into(),
            net_namespace: None,
            network: Some("n".into()),
        };
        let line = args.journal_line();
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            "{\"containerID\":\"c1\",\"ifName\":\"net1\",\"podNamespace\":\"default\",\"podName\":\"p\",\"podUID\":\"u\",\"network\":\"n\"}\n"
        );
        let text = String::from_utf8(line).unwrap();
        assert_eq!(IpamDelArgs::from_journal_line(text.trim_end()).unwrap(), args);
        assert!(IpamDelArgs::from_journal_line("{\"old\":1}").is_err());
    }

    #[test]
    fn empty_answers_are_an_empty_object() {
        assert_eq!(serde_json::to_string(&Empty {}).unwrap(), "{}");
        assert_eq!(serde_json::from_str::<Empty>(r#"{"x":1}"#).unwrap(), Empty {});
    }
}
