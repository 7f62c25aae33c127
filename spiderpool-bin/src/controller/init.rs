//! `spiderpool-controller init`: the step Spiderpool runs as a Helm hook
//! (`spiderpool-init`). It reads the objects the chart rendered (a file of
//! YAML documents or a `List`: the default SpiderCoordinator and the default
//! pools) and creates each one that does not exist yet
//! (`spiderpool_k8s::reconcile::init`: admission's defaults and checks
//! first, existing objects and users' edits left alone).
//!
//! The API server refuses the creates while the controller's webhooks are
//! not serving yet (their `failurePolicy` is `Fail`), so the step tries
//! again every [`RETRY`] until `--timeout`, and then fails naming the last
//! error.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use spiderpool_core::admission::ClusterSettings;
use spiderpool_core::model::{SpiderCoordinator, SpiderIPPool};
use spiderpool_k8s::reconcile::init::{InitOptions, InitReport, init};

use serde_json::Value;

use crate::documents::{Document, split_documents};

/// Time between attempts.
pub const RETRY: Duration = Duration::from_secs(2);

/// The objects of `text` (from `name`) as the init step's options; an
/// object of another kind, a second coordinator or one that does not decode
/// is an error naming it.
pub fn init_options(
    name: &str,
    text: &str,
    settings: ClusterSettings,
) -> anyhow::Result<InitOptions> {
    let docs = split_documents(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut options = InitOptions { coordinator: None, pools: Vec::new(), settings };
    for Document { location, value } in docs {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        let object = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let at = format!("{name}: {location} ({kind} {object})");
        match kind.as_str() {
            SpiderCoordinator::KIND => {
                if options.coordinator.is_some() {
                    bail!("{at}: a second SpiderCoordinator (the init step creates one)");
                }
                let scc = serde_json::from_value(value).with_context(|| at.clone())?;
                options.coordinator = Some(scc);
            }
            SpiderIPPool::KIND => {
                options.pools.push(serde_json::from_value(value).with_context(|| at.clone())?)
            }
            other => bail!(
                "{at}: kind {other:?}: the init step creates a SpiderCoordinator and SpiderIPPools only"
            ),
        }
    }
    Ok(options)
}

/// Reads `objects` and creates what is missing, trying again until
/// `timeout` while the API server (or its webhooks) refuse.
pub async fn run_init(
    client: kube::Client,
    objects: &Path,
    timeout: Duration,
    settings: ClusterSettings,
) -> anyhow::Result<InitReport> {
    let name = objects.display().to_string();
    let text = std::fs::read_to_string(objects).with_context(|| format!("--objects {name}"))?;
    let options = init_options(&name, &text, settings)?;
    let start = Instant::now();
    loop {
        match init(client.clone(), &options).await {
            Ok(report) => return Ok(report),
            Err(e) if start.elapsed() < timeout => {
                tracing::warn!(error = %e, "init: not done yet, trying again");
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => bail!("init: gave up after {:?}: {e}", timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_list_of_the_default_coordinator_and_pools_becomes_the_options() {
        let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: spiderpool.spidernet.io/v2beta1
  kind: SpiderCoordinator
  metadata: {name: default}
  spec: {podCIDRType: auto}
- apiVersion: spiderpool.spidernet.io/v2beta1
  kind: SpiderIPPool
  metadata: {name: default-v4-ippool}
  spec: {subnet: 10.6.0.0/16, ips: [10.6.212.200-10.6.212.240], default: true}
"#;
        let options = init_options("objects.yaml", text, ClusterSettings::default()).unwrap();
        assert_eq!(options.coordinator.unwrap().metadata.name_str(), "default");
        assert_eq!(options.pools.len(), 1);
        assert_eq!(options.pools[0].metadata.name_str(), "default-v4-ippool");
    }

    #[test]
    fn other_kinds_and_a_second_coordinator_are_refused_by_name() {
        let other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        let e = init_options("o.yaml", other, ClusterSettings::default()).unwrap_err();
        assert!(e.to_string().contains("kind \"ConfigMap\""), "{e}");
        let two = "kind: SpiderCoordinator\nmetadata: {name: a}\n---\nkind: SpiderCoordinator\nmetadata: {name: b}\n";
        let e = init_options("o.yaml", two, ClusterSettings::default()).unwrap_err();
        assert!(e.to_string().contains("a second SpiderCoordinator"), "{e}");
    }
}
