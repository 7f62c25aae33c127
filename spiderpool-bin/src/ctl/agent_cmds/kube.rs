//! `spiderpoolctl --kubeconfig`: the object commands against a cluster's API
//! server instead of an agent. Objects are read and written as they are
//! (dynamic objects of the kind table's `apiVersion` and plural); admission is
//! the cluster's (the controller's webhooks), not ctl's.
//!
//! `apply` creates an object, or replaces the stored one (its
//! `resourceVersion` carried over, as `kubectl replace` does; the status of
//! kinds with a status subresource is left to its writers). `delete` of an
//! object held by a finalizer reports it as terminating, with what it waits
//! for.

use std::path::{Path, PathBuf};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::Value;
use spiderpool_core::agent_api::{Action, Applied, ErrorBody, ObjectOutcome};
use spiderpool_core::kind;
use spiderpool_core::model::{
    SpiderEndpoint, SpiderIPPool, SpiderSubnet, parse_controlled_ip_pools,
};

use super::client::{Failed, Unreachable};
use super::target::Objects;

/// A client of one cluster, with its own single-threaded runtime.
pub struct KubeObjects {
    kubeconfig: PathBuf,
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

impl KubeObjects {
    /// A client of the cluster `kubeconfig` names (nothing is sent yet).
    pub fn connect(kubeconfig: &Path) -> Result<KubeObjects, Unreachable> {
        let unreachable = |message: String| Unreachable::Cluster {
            kubeconfig: kubeconfig.display().to_string(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unreachable(format!("starting a runtime: {e}")))?;
        let client = runtime
            .block_on(spiderpool_k8s::connect(Some(kubeconfig)))
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(KubeObjects { kubeconfig: kubeconfig.to_path_buf(), runtime, client })
    }

    /// The dynamic API of `kind` (`namespace` empty: cluster-scoped, or every
    /// namespace when listing).
    fn api(
        &self,
        kind: &str,
        namespace: &str,
    ) -> Result<(Api<DynamicObject>, ApiResource), Failed> {
        let info = kind::lookup(kind).ok_or_else(|| Failed::Refused {
            status: 404,
            body: ErrorBody::Message(format!("unknown kind {kind:?}")),
        })?;
        let resource = spiderpool_k8s::dynamic::api_resource(info);
        let api = if info.namespaced && !namespace.is_empty() {
            Api::namespaced_with(self.client.clone(), namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        };
        Ok((api, resource))
    }

    /// Sorts a failed request: the API server's answer is a refusal, anything
    /// else means the cluster could not be talked to.
    fn failed(&self, e: kube::Error) -> Failed {
        match e {
            kube::Error::Api(status) => Failed::Refused {
                status: if status.code == 0 { 500 } else { status.code },
                body: ErrorBody::Message(status.message),
            },
            e => Failed::Unreachable(Unreachable::Cluster {
                kubeconfig: self.kubeconfig.display().to_string(),
                message: e.to_string(),
            }),
        }
    }
}

/// An object as the commands print it: `apiVersion` and `kind` set (list
/// items come without them), no `managedFields` (as `kubectl get` hides them).
fn shown(object: DynamicObject, resource: &ApiResource) -> Result<Value, Failed> {
    let mut value = serde_json::to_value(object)
        .map_err(|e| Failed::Unreachable(Unreachable::Decode(format!("{}: {e}", resource.kind))))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(resource.api_version.clone()));
        map.insert("kind".into(), Value::String(resource.kind.clone()));
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    Ok(value)
}

/// What a terminating object waits for: a pool's allocated addresses, a
/// subnet's pools.
fn holding(kind: &str, object: &Value) -> Option<usize> {
    let status = object.get("status")?;
    if kind == SpiderIPPool::KIND {
        let count = status.get("allocatedIPCount").and_then(Value::as_u64)?;
        return usize::try_from(count).ok();
    }
    if kind == SpiderSubnet::KIND {
        let pools = status.get("controlledIPPools").and_then(Value::as_str)?;
        return parse_controlled_ip_pools(Some(pools)).ok().map(|p| p.len());
    }
    None
}

fn bad_object(message: String) -> Failed {
    Failed::Refused { status: 400, body: ErrorBody::Message(message) }
}

impl Objects for KubeObjects {
    fn apply(&mut self, object: &Value) -> Result<Applied, Failed> {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let (kind_name, name, namespace) =
            (text("/kind"), text("/metadata/name"), text("/metadata/namespace"));
        if kind_name == SpiderEndpoint::KIND {
            return Err(Failed::Refused {
                status: 403,
                body: ErrorBody::Message(
                    "SpiderEndpoints are written by the agent, not applied".into(),
                ),
            });
        }
        let info = kind::lookup(&kind_name)
            .filter(|i| i.kind == kind_name)
            .ok_or_else(|| bad_object(format!("kind: unknown kind {kind_name:?}")))?;
        if name.is_empty() {
            return Err(bad_object("metadata.name: required".into()));
        }
        let namespace = match (info.namespaced, namespace.is_empty()) {
            (true, true) => "default".to_string(),
            (true, false) => namespace,
            (false, _) => String::new(),
        };
        let (api, _) = self.api(info.kind, &namespace)?;
        let mut wanted: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|e| bad_object(format!("{kind_name} {name}: {e}")))?;
        if info.namespaced {
            wanted.metadata.namespace = Some(namespace.clone());
        }
        let pp = PostParams::default();
        let action = self.runtime.block_on(async {
            match api.get_opt(&name).await? {
                None => api.create(&pp, &wanted).await.map(|_| Action::Created),
                Some(stored) => {
                    wanted.metadata.resource_version = stored.metadata.resource_version;
                    api.replace(&name, &pp, &wanted).await.map(|_| Action::Configured)
                }
            }
        });
        let action = action.map_err(|e| self.failed(e))?;
        Ok(Applied {
            applied: vec![ObjectOutcome {
                action,
                holding: None,
                kind: info.kind.to_string(),
                name,
                namespace,
            }],
        })
    }

    fn get(&mut self, kind: &str, namespace: &str, name: &str) -> Result<Value, Failed> {
        let (api, resource) = self.api(kind, namespace)?;
        let got = self.runtime.block_on(api.get(name)).map_err(|e| self.failed(e))?;
        shown(got, &resource)
    }

    fn list(&mut self, kind: &str, namespace: Option<&str>) -> Result<Vec<Value>, Failed> {
        let (api, resource) = self.api(kind, namespace.unwrap_or(""))?;
        let list =
            self.runtime.block_on(api.list(&ListParams::default())).map_err(|e| self.failed(e))?;
        list.items.into_iter().map(|o| shown(o, &resource)).collect()
    }

    fn delete(&mut self, kind: &str, namespace: &str, name: &str) -> Result<ObjectOutcome, Failed> {
        let (api, resource) = self.api(kind, namespace)?;
        let done = self.runtime.block_on(api.delete(name, &DeleteParams::default()));
        let done = done.map_err(|e| self.failed(e))?;
        let (action, holding) = match done.left() {
            // Still there: a finalizer holds it.
            Some(object) => {
                let object = shown(object, &resource)?;
                (Action::Terminating, holding(&resource.kind, &object))
            }
            None => (Action::Deleted, None),
        };
        Ok(ObjectOutcome {
            action,
            holding,
            kind: resource.kind,
            name: name.to_string(),
            namespace: namespace.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_map_to_their_api_resources() {
        let pool = spiderpool_k8s::dynamic::api_resource(kind::lookup("sp").unwrap());
        assert_eq!(
            (pool.group.as_str(), pool.version.as_str(), pool.plural.as_str()),
            ("spiderpool.spidernet.io", "v2beta1", "spiderippools")
        );
        let pod = spiderpool_k8s::dynamic::api_resource(kind::lookup("pods").unwrap());
        assert_eq!((pod.group.as_str(), pod.api_version.as_str()), ("", "v1"));
    }

    #[test]
    fn terminating_objects_say_what_they_wait_for() {
        let pool = json!({"status": {"allocatedIPCount": 3}});
        assert_eq!(holding(SpiderIPPool::KIND, &pool), Some(3));
        let subnet = json!({"status": {"controlledIPPools": "{\"a\":{},\"b\":{}}"}});
        assert_eq!(holding(SpiderSubnet::KIND, &subnet), Some(2));
        assert_eq!(holding(SpiderSubnet::KIND, &json!({"status": {}})), None);
    }
}
