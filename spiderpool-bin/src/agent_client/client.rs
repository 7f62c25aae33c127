//! [`AgentClient`]: one typed method per route of the agent API.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use spiderpool_core::agent_api::{
    self, ADMIN_OBJECTS, Applied, CoordinatorConfig, Empty, GetCoordinatorArgs, IpamAddArgs,
    IpamAddResponse, IpamBatchDelArgs, IpamDelArgs, ObjectList, ObjectOutcome, WorkloadEndpoint,
};

use super::{AgentError, Session, decode};

/// The agent API, typed: each method sends one request over the client's
/// [`Session`] (the connection is kept for the next call) within the
/// `timeout` it is given, connecting included, and decodes the answer.
#[derive(Debug)]
pub struct AgentClient {
    session: Session,
}

impl AgentClient {
    /// A client of the agent on `socket`; `Ok(None)` when the socket does not
    /// exist (no agent on this machine). Nothing is sent until the first
    /// call.
    pub fn new(socket: &Path) -> Result<Option<Self>, AgentError> {
        Ok(Session::new(socket)?.map(|session| Self { session }))
    }

    /// One request: `body` as JSON when given; the answer decoded as `T`.
    fn call<T: DeserializeOwned>(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> Result<T, AgentError> {
        let payload =
            body.map(serde_json::to_vec).transpose().map_err(|e| AgentError::Request {
                method: method.to_string(),
                path: path.to_string(),
                message: format!("request body: {e}"),
            })?;
        let (status, bytes) = self.session.send(method, path, payload, timeout)?;
        decode(method, path, status, &bytes)
    }

    /// `GET /v1/ipam/healthy`: `Ok` when the agent and its store are ready.
    pub fn health(&mut self, timeout: Duration) -> Result<(), AgentError> {
        self.call::<Empty>("GET", agent_api::HEALTHY, None::<&Empty>, timeout).map(drop)
    }

    /// `POST /v1/ipam/ip`: allocates for a CNI ADD; the answer has every NIC
    /// of the pod.
    pub fn allocate(
        &mut self,
        args: &IpamAddArgs,
        timeout: Duration,
    ) -> Result<IpamAddResponse, AgentError> {
        self.call("POST", agent_api::IPAM_IP, Some(args), timeout)
    }

    /// `DELETE /v1/ipam/ip`: releases for a CNI DEL (or, with
    /// `args.network`, one network's records for CNI GC).
    pub fn release(&mut self, args: &IpamDelArgs, timeout: Duration) -> Result<(), AgentError> {
        self.call::<Empty>("DELETE", agent_api::IPAM_IP, Some(args), timeout).map(drop)
    }

    /// `DELETE /v1/ipam/ips`: releases every address of a pod.
    pub fn release_all(
        &mut self,
        args: &IpamBatchDelArgs,
        timeout: Duration,
    ) -> Result<(), AgentError> {
        self.call::<Empty>("DELETE", agent_api::IPAM_IPS, Some(args), timeout).map(drop)
    }

    /// `GET /v1/coordinator/config`: the cluster's coordinator settings, with
    /// the pod's `default-route-nic` annotation applied.
    pub fn coordinator_config(
        &mut self,
        args: &GetCoordinatorArgs,
        timeout: Duration,
    ) -> Result<CoordinatorConfig, AgentError> {
        self.call("GET", agent_api::COORDINATOR_CONFIG, Some(args), timeout)
    }

    /// `GET /v1/workloadendpoint`: what the pod `namespace/name` holds.
    pub fn workload_endpoint(
        &mut self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<WorkloadEndpoint, AgentError> {
        let path = agent_api::workload_endpoint_path(namespace, name);
        self.call("GET", &path, None::<&Empty>, timeout)
    }

    /// `PUT /v1/admin/objects`: applies an object, an array of objects or a
    /// `List`.
    pub fn apply(
        &mut self,
        objects: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Applied, AgentError> {
        self.call("PUT", ADMIN_OBJECTS, Some(objects), timeout)
    }

    /// `GET /v1/admin/objects/{kind}/{namespace}/{name}`: one object, as `T`
    /// (`serde_json::Value` for any kind). `namespace` is
    /// [`agent_api::NO_NAMESPACE`] for cluster-scoped kinds.
    pub fn get_object<T: DeserializeOwned>(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<T, AgentError> {
        let path = agent_api::object_path(kind, namespace, name);
        self.call("GET", &path, None::<&Empty>, timeout)
    }

    /// `GET /v1/admin/objects/{kind}[?namespace=NS]`: every object of the
    /// kind (of one namespace when given), as `T`.
    pub fn list_objects<T: DeserializeOwned>(
        &mut self,
        kind: &str,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> Result<ObjectList<T>, AgentError> {
        let path = agent_api::objects_path(kind, namespace);
        self.call("GET", &path, None::<&Empty>, timeout)
    }

    /// `DELETE /v1/admin/objects/{kind}/{namespace}/{name}`.
    pub fn delete_object(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<ObjectOutcome, AgentError> {
        let path = agent_api::object_path(kind, namespace, name);
        self.call("DELETE", &path, None::<&Empty>, timeout)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use spiderpool_core::agent_api::{Action, ErrorBody};

    use super::super::fake::serve_once;
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn client(dir: &super::super::fake::tempdir::Dir) -> AgentClient {
        AgentClient::new(&dir.0.join("agent.sock")).unwrap().unwrap()
    }

    #[test]
    fn no_socket_is_no_client() {
        assert!(AgentClient::new(Path::new("/nonexistent/sp.sock")).unwrap().is_none());
    }

    #[test]
    fn coordinator_config_sends_its_args_and_decodes_the_answer() {
        let (dir, server) = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"mode\":\"auto\"}\n",
        );
        let args = GetCoordinatorArgs { pod_name: "p".into(), pod_namespace: "ns".into() };
        let got = client(&dir).coordinator_config(&args, T).unwrap();
        assert_eq!(got.mode, "auto");
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /v1/coordinator/config HTTP/1.1"), "{request}");
        assert!(request.contains("content-type: application/json"), "{request}");
        assert!(request.ends_with(r#"{"podName":"p","podNamespace":"ns"}"#), "{request}");
    }

    #[test]
    fn an_error_answer_carries_the_decoded_body() {
        let (dir, _server) = serve_once(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 23\r\n\r\n\"coordinator not ready\"",
        );
        let err = client(&dir).health(T).unwrap_err();
        assert!(!err.is_transport());
        assert_eq!(
            err.to_string(),
            r#"agent GET /v1/ipam/healthy: HTTP 500: "coordinator not ready""#
        );
        match err {
            AgentError::Status { status, body, .. } => {
                assert_eq!(status, 500);
                assert_eq!(body, ErrorBody::Message("coordinator not ready".into()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_a_decode_error_naming_the_route() {
        let (dir, _server) =
            serve_once("HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"ips\":\"x\"}");
        let err = client(&dir).allocate(&IpamAddArgs::default(), T).unwrap_err();
        assert!(matches!(err, AgentError::Decode { .. }), "{err:?}");
        assert!(err.to_string().starts_with("agent answer to POST /v1/ipam/ip: "), "{err}");
    }

    #[test]
    fn admin_routes_build_their_paths_and_decode_their_answers() {
        let body = r#"{"action":"terminating","holding":2,"kind":"SpiderIPPool","name":"p","namespace":""}"#;
        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        let (dir, server) = serve_once(Box::leak(reply.into_boxed_str()));
        let got = client(&dir).delete_object("SpiderIPPool", "_", "p", T).unwrap();
        assert_eq!((got.action, got.holding), (Action::Terminating, Some(2)));
        let request = server.join().unwrap();
        assert!(request.starts_with("DELETE /v1/admin/objects/SpiderIPPool/_/p HTTP/1.1"));
        assert!(!request.contains("content-type"), "no body: {request}");
    }

    #[test]
    fn a_workload_endpoint_query_is_encoded() {
        let (dir, server) =
            serve_once("HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\n\"gone\"");
        let err = client(&dir).workload_endpoint("default", "a b", T).unwrap_err();
        assert!(matches!(err, AgentError::Status { status: 404, .. }), "{err:?}");
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /v1/workloadendpoint?podNamespace=default&podName=a%20b "),
            "{request}"
        );
    }
}
