//! Where `spiderpoolctl apply|get|describe|delete` send their requests: the
//! agent's administrative routes over its unix socket (`--socket`, the
//! default), or a cluster's API server (`--kubeconfig`). Both answer with the
//! same types, so every command prints the same output either way.

use std::path::{Path, PathBuf};

use serde_json::Value;
use spiderpool_core::agent_api::{Applied, ObjectOutcome};

use super::client::{self, Failed, TIMEOUT};
use super::kube::KubeObjects;
use crate::agent_client::AgentClient;

/// Where the objects are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The agent listening on this unix socket.
    Agent(PathBuf),
    /// The API server of this kubeconfig.
    Kubernetes(PathBuf),
}

/// The object operations the commands need, over either target.
pub trait Objects {
    /// Creates or replaces one object.
    fn apply(&mut self, object: &Value) -> Result<Applied, Failed>;
    /// One object (`namespace` empty for cluster-scoped kinds).
    fn get(&mut self, kind: &str, namespace: &str, name: &str) -> Result<Value, Failed>;
    /// Every object of `kind` (of one namespace when given).
    fn list(&mut self, kind: &str, namespace: Option<&str>) -> Result<Vec<Value>, Failed>;
    /// Deletes one object.
    fn delete(&mut self, kind: &str, namespace: &str, name: &str) -> Result<ObjectOutcome, Failed>;
}

impl Target {
    /// A connection to the target; `Err` when it cannot be reached at all.
    pub fn open(&self) -> Result<Box<dyn Objects>, client::Unreachable> {
        match self {
            Target::Agent(socket) => Ok(Box::new(AgentObjects {
                socket: socket.clone(),
                client: client::connect(socket)?,
            })),
            Target::Kubernetes(kubeconfig) => Ok(Box::new(KubeObjects::connect(kubeconfig)?)),
        }
    }

    /// The agent socket, for the commands only the agent serves (`release`).
    pub fn agent_socket(&self) -> Option<&Path> {
        match self {
            Target::Agent(socket) => Some(socket),
            Target::Kubernetes(_) => None,
        }
    }
}

/// The agent's administrative routes.
struct AgentObjects {
    socket: PathBuf,
    client: AgentClient,
}

impl Objects for AgentObjects {
    fn apply(&mut self, object: &Value) -> Result<Applied, Failed> {
        self.client.apply(object, TIMEOUT).map_err(|e| client::failed(&self.socket, e))
    }

    fn get(&mut self, kind: &str, namespace: &str, name: &str) -> Result<Value, Failed> {
        let got = self.client.get_object::<Value>(kind, namespace, name, TIMEOUT);
        got.map_err(|e| client::failed(&self.socket, e))
    }

    fn list(&mut self, kind: &str, namespace: Option<&str>) -> Result<Vec<Value>, Failed> {
        let got = self.client.list_objects::<Value>(kind, namespace, TIMEOUT);
        got.map(|l| l.items).map_err(|e| client::failed(&self.socket, e))
    }

    fn delete(&mut self, kind: &str, namespace: &str, name: &str) -> Result<ObjectOutcome, Failed> {
        let done = self.client.delete_object(kind, namespace, name, TIMEOUT);
        done.map_err(|e| client::failed(&self.socket, e))
    }
}
