//! The agent API: the types both sides of `spiderpool-agent`'s unix socket
//! use — the agent's handlers, the IPAM and coordinator plugins, and
//! `spiderpoolctl` — as plain serde types, so that other CNIs and tools can
//! embed them and talk to the agent without this project's binaries. Sending
//! and serving are not here: `spiderpool-bin` has the HTTP client and the
//! server.
//!
//! # Routes
//!
//! HTTP/1.1 with JSON bodies on the agent's unix socket ([`DEFAULT_SOCKET`],
//! mode 0600). Spiderpool's routes (`api/v1/agent/openapi.yaml`) with
//! Spiderpool's model names:
//!
//! | route | request | answer (2xx) |
//! |---|---|---|
//! | `GET /v1/ipam/healthy` ([`HEALTHY`]) | — | [`Empty`] |
//! | `POST /v1/ipam/ip` ([`IPAM_IP`]) | [`IpamAddArgs`] | [`IpamAddResponse`] |
//! | `DELETE /v1/ipam/ip` ([`IPAM_IP`]) | [`IpamDelArgs`] | [`Empty`] |
//! | `DELETE /v1/ipam/ips` ([`IPAM_IPS`]) | [`IpamBatchDelArgs`] | [`Empty`] |
//! | `GET /v1/coordinator/config` ([`COORDINATOR_CONFIG`]) | [`GetCoordinatorArgs`] (body, optional) | [`CoordinatorConfig`] (`CoordinatorConfig`) |
//! | `GET /v1/workloadendpoint?podNamespace=&podName=` ([`workload_endpoint_path`]) | — | [`WorkloadEndpoint`] (`WorkloadEndpointStatus`) |
//!
//! The administrative routes of the embedded store (ours, under
//! [`ADMIN_OBJECTS`]); `{kind}` is any name of a kind in
//! [`crate::kind::KINDS`], `_` the namespace of cluster-scoped kinds:
//!
//! | route | request | answer (2xx) |
//! |---|---|---|
//! | `PUT /v1/admin/objects` | an object, an array of objects or a `List` | [`Applied`] |
//! | `GET /v1/admin/objects/{kind}[?namespace=NS]` ([`objects_path`]) | — | [`ObjectList`] |
//! | `GET /v1/admin/objects/{kind}/{namespace}/{name}` ([`object_path`]) | — | the object |
//! | `DELETE /v1/admin/objects/{kind}/{namespace}/{name}` | — | [`ObjectOutcome`] |
//!
//! Every error answer carries an [`ErrorBody`]: Spiderpool's `Error` model
//! (a JSON string), or an admission [`crate::admission::Rejection`] (422,
//! 403, 409) from the administrative routes.
//!
//! # Our extensions
//!
//! Members Spiderpool does not have, which Spiderpool's agent ignores:
//! - `network` in [`IpamAddArgs`]: the CNI network (netconf `name`) of the
//!   ADD, recorded with the allocation;
//! - `network` in [`IpamDelArgs`]: release only that network's records (CNI
//!   GC);
//! - the `{}` body of answers without a model ([`Empty`]);
//! - the release journal: one [`IpamDelArgs`] per line
//!   ([`IpamDelArgs::journal_line`]), written by the IPAM plugin when the
//!   agent cannot take a DEL and replayed by the agent;
//! - the announce socket beside the agent's ([`announce_socket`]): one
//!   [`Announcement`] datagram per ADD, the pod's namespace attached.

mod admin;
mod announce;
mod error;
mod ipam;
mod workload;

pub use admin::{Action, Applied, ObjectList, ObjectOutcome};
pub use announce::{Announcement, MAX_ANNOUNCEMENT_BYTES, announce_socket};
pub use error::ErrorBody;
pub use ipam::{
    Empty, IpConfig, IpamAddArgs, IpamAddResponse, IpamBatchDelArgs, IpamDelArgs, Route,
};
pub use workload::{GetCoordinatorArgs, InterfaceDetail, WorkloadEndpoint};

/// The answer of `GET /v1/coordinator/config`: Spiderpool's
/// `CoordinatorConfig` model, kept beside the merge that reads it.
pub use crate::coordinator::ClusterCoordinatorConfig as CoordinatorConfig;

/// The agent's default socket.
pub const DEFAULT_SOCKET: &str = "/var/run/spidernet/spiderpool.sock";

/// `GET /v1/ipam/healthy`.
pub const HEALTHY: &str = "/v1/ipam/healthy";
/// `POST|DELETE /v1/ipam/ip`.
pub const IPAM_IP: &str = "/v1/ipam/ip";
/// `DELETE /v1/ipam/ips`.
pub const IPAM_IPS: &str = "/v1/ipam/ips";
/// `GET /v1/coordinator/config`.
pub const COORDINATOR_CONFIG: &str = "/v1/coordinator/config";
/// `GET /v1/workloadendpoint` (with its query: [`workload_endpoint_path`]).
pub const WORKLOAD_ENDPOINT: &str = "/v1/workloadendpoint";
/// `PUT /v1/admin/objects` and the prefix of the other administrative routes.
pub const ADMIN_OBJECTS: &str = "/v1/admin/objects";
/// The namespace segment of cluster-scoped kinds in [`object_path`].
pub const NO_NAMESPACE: &str = "_";

/// `/v1/workloadendpoint?podNamespace=NS&podName=NAME`.
pub fn workload_endpoint_path(namespace: &str, name: &str) -> String {
    format!("{WORKLOAD_ENDPOINT}?podNamespace={}&podName={}", segment(namespace), segment(name))
}

/// `/v1/admin/objects/{kind}`, with `?namespace=NS` when given.
pub fn objects_path(kind: &str, namespace: Option<&str>) -> String {
    let mut path = format!("{ADMIN_OBJECTS}/{}", segment(kind));
    if let Some(ns) = namespace {
        path.push_str(&format!("?namespace={}", segment(ns)));
    }
    path
}

/// `/v1/admin/objects/{kind}/{namespace}/{name}`; `namespace` is
/// [`NO_NAMESPACE`] for cluster-scoped kinds.
pub fn object_path(kind: &str, namespace: &str, name: &str) -> String {
    format!("{ADMIN_OBJECTS}/{}/{}/{}", segment(kind), segment(namespace), segment(name))
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986: letters,
/// digits, `-._~`), so that any value is one path segment or query value.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_each_segment() {
        assert_eq!(
            object_path("SpiderEndpoint", "kube system", "a/b"),
            "/v1/admin/objects/SpiderEndpoint/kube%20system/a%2Fb"
        );
        assert_eq!(
            object_path("SpiderIPPool", NO_NAMESPACE, "10-6-v4"),
            "/v1/admin/objects/SpiderIPPool/_/10-6-v4"
        );
        assert_eq!(objects_path("Pod", None), "/v1/admin/objects/Pod");
        assert_eq!(objects_path("Pod", Some("a&b")), "/v1/admin/objects/Pod?namespace=a%26b");
        assert_eq!(
            workload_endpoint_path("default", "nginx-1"),
            "/v1/workloadendpoint?podNamespace=default&podName=nginx-1"
        );
    }
}
