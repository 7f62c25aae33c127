//! One full scan: gather every holder of addresses (pool records and
//! SpiderEndpoints), judge each with the core's rules, and release what two
//! observations a grace period apart and a fresh re-read agree on.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use spiderpool_core::allocator::ReleaseOutcome;
use spiderpool_core::gc::{
    Facts, Holder, Observed, ReleaseReason, Verdict, judge, needs_owner, release_holder,
};
use spiderpool_core::model::SpiderEndpoint;
use spiderpool_core::pod::{OwnerFacts, owner_recorded_in, top_controller};
use spiderpool_core::store::{PoolStore, StoreError};

use super::source::PodSnapshot;
use super::{Collector, GcError};
use crate::KubeObject;

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanReport {
    /// Holders found (pod name and UID, from records and endpoints).
    pub holders: usize,
    /// Holders kept.
    pub kept: usize,
    /// Holders whose release waits for its second observation.
    pub waiting: usize,
    /// Addresses released, with their pools.
    pub released: Vec<(String, IpAddr)>,
    /// Releases the re-read from the API server cancelled.
    pub cancelled: usize,
    /// What failed (the holder is looked at again next scan).
    pub errors: Vec<String>,
}

/// What one holder holds.
#[derive(Debug, Default)]
struct Held {
    records: Vec<(String, IpAddr)>,
    endpoint: Option<SpiderEndpoint>,
}

/// What the confirmation of one suspect did.
enum Confirmation {
    /// Released, for this reason.
    Released(ReleaseReason, ReleaseOutcome),
    /// The re-read stopped the release.
    Cancelled(&'static str),
    /// A read or a write failed.
    Failed(String),
}

/// One look at a holder: the pod, the owner and what the rules say.
struct Look {
    pod: Option<PodSnapshot>,
    owner: Option<OwnerFacts>,
    verdict: Verdict,
}

impl Collector {
    /// Runs one full scan now (the first observation of new suspects, the
    /// second of older ones).
    pub async fn scan(&self) -> Result<ScanReport, GcError> {
        let holders = self.holders().await?;
        let nodes = self.node_names().await?;
        let mut report = ScanReport { holders: holders.len(), ..Default::default() };
        let mut suspects = self.suspects.lock().await;
        let grace_ms = u64::try_from(self.options.grace.as_millis()).unwrap_or(u64::MAX);
        let mut confirmed = Vec::new();
        for (holder, held) in &holders {
            let look = match self
                .look(holder, held, self.pods.get(&holder.namespace, &holder.name), Some(&nodes))
                .await
            {
                Ok(look) => look,
                Err(e) => {
                    report.errors.push(format!("{holder}: {e}"));
                    continue;
                }
            };
            let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let release = matches!(look.verdict, Verdict::Release(_));
            match (suspects.observe(holder, release, now_ms, grace_ms), &look.verdict) {
                (Observed::Cleared, Verdict::Keep(why)) => {
                    report.kept += 1;
                    tracing::debug!(holder = %holder, reason = %why, "gc: keep");
                }
                (Observed::First, Verdict::Release(why)) => {
                    report.waiting += 1;
                    tracing::info!(holder = %holder, reason = %why, grace = ?self.options.grace, "gc: suspect; releasing after a second observation");
                }
                (Observed::Waiting { .. }, _) => report.waiting += 1,
                // Confirmed: stays a suspect until released or cancelled, so
                // a failed release is tried again at the next scan.
                _ => confirmed.push((holder, held, look)),
            }
        }
        let limit = self.options.release_concurrency.max(1);
        let mut pending = Vec::with_capacity(confirmed.len());
        for (holder, held, look) in confirmed {
            pending.push(self.confirm_boxed(holder, held, look));
        }
        let outcomes: Vec<(&Holder, Confirmation)> =
            futures::stream::iter(pending).buffer_unordered(limit).collect().await;
        for (holder, outcome) in outcomes {
            if !matches!(outcome, Confirmation::Failed(_)) {
                suspects.forget(holder);
            }
            self.record(holder, outcome, &mut report);
        }
        suspects.retain_seen(&holders.keys().cloned().collect::<BTreeSet<_>>());
        self.counters.suspects.store(suspects.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.counters.scans.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(report)
    }

    /// The second observation agreed: re-read the pod from the API server;
    /// release only if its UID, phase, node and termination are what the
    /// cache showed and the rules still say release. The release is one unit
    /// of work of the store (with group commit, concurrent releases share one
    /// status write per pool).
    async fn confirm(&self, holder: &Holder, held: &Held, first: Look) -> Confirmation {
        let fresh = match self.api.pod_snapshot(&holder.namespace, &holder.name).await {
            Ok(p) => p,
            Err(e) => return Confirmation::Failed(e.to_string()),
        };
        let same = fresh.as_ref().map(PodSnapshot::identity)
            == first.pod.as_ref().map(PodSnapshot::identity);
        let look = match self.look(holder, held, fresh, None).await {
            Ok(look) if same => look,
            Ok(_) => return Confirmation::Cancelled("the Pod changed since the cache showed it"),
            Err(e) => return Confirmation::Failed(e.to_string()),
        };
        let Verdict::Release(reason) = look.verdict else {
            return Confirmation::Cancelled("the re-read Pod keeps its addresses");
        };
        let store = self.allocator.store();
        let owner = look.owner.or(first.owner);
        let endpoint = held.endpoint.is_some();
        let (result, synced) = store
            .unit_of_work(async {
                let result =
                    release_holder(&self.allocator, holder, endpoint, owner, &held.records).await;
                (result, store.sync().await)
            })
            .await;
        match (result, synced) {
            (Ok(outcome), Ok(())) => Confirmation::Released(reason, outcome),
            (Err(e), _) => Confirmation::Failed(e.to_string()),
            (_, Err(e)) => Confirmation::Failed(e.to_string()),
        }
    }

    /// [`Collector::confirm`] as a boxed `Send` future, for running several
    /// side by side.
    fn confirm_boxed<'a>(
        &'a self,
        holder: &'a Holder,
        held: &'a Held,
        first: Look,
    ) -> futures::future::BoxFuture<'a, (&'a Holder, Confirmation)> {
        Box::pin(async move { (holder, self.confirm(holder, held, first).await) })
    }

    /// Counts and logs what a confirmation did.
    fn record(&self, holder: &Holder, outcome: Confirmation, report: &mut ScanReport) {
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        match outcome {
            Confirmation::Released(reason, outcome) => {
                self.counters.released(&reason, outcome.released.len() as u64);
                tracing::info!(holder = %holder, reason = %reason, released = ?outcome.released, kept = ?outcome.kept, "gc: released");
                report.released.extend(outcome.released);
            }
            Confirmation::Cancelled(why) => {
                self.counters.cancelled.fetch_add(1, relaxed);
                report.cancelled += 1;
                tracing::info!(holder = %holder, reason = why, "gc: release cancelled");
            }
            Confirmation::Failed(error) => {
                self.counters.failures.fetch_add(1, relaxed);
                tracing::warn!(holder = %holder, error = %error, "gc: release failed; retried at the next scan");
                report.errors.push(format!("{holder}: {error}"));
            }
        }
    }

    /// Judges `holder` with `pod`; `nodes` is the node list of this scan,
    /// `None` to ask the API server about the pod's node.
    async fn look(
        &self,
        holder: &Holder,
        held: &Held,
        pod: Option<PodSnapshot>,
        nodes: Option<&BTreeSet<String>>,
    ) -> Result<Look, StoreError> {
        let node =
            pod.as_ref().and_then(|p| p.view.spec.node_name.clone()).filter(|n| !n.is_empty());
        let node_exists = match (node, nodes) {
            (None, _) => None,
            (Some(n), Some(all)) => Some(all.contains(&n)),
            (Some(n), None) => Some(self.api.node_exists(&n).await?),
        };
        let view = pod.as_ref().map(|p| &p.view);
        let owner = if needs_owner(holder, view, node_exists) {
            match view {
                Some(v) => top_controller(&self.api, &holder.namespace, v).await?,
                None => None,
            }
            .or(match &held.endpoint {
                Some(ep) => owner_recorded_in(&self.api, ep).await?,
                None => None,
            })
        } else {
            None
        };
        let verdict = judge(&Facts {
            holder,
            pod: view,
            owner: owner.as_ref(),
            deletion_deadline: pod.as_ref().and_then(|p| p.deletion_deadline),
            node_exists,
            now: unix_now(),
            terminating_delay: i64::try_from(self.options.terminating_delay.as_secs())
                .unwrap_or(i64::MAX),
        });
        Ok(Look { pod, owner, verdict })
    }

    /// Every holder: the pod (name and UID) of each pool record and each
    /// SpiderEndpoint. A pool or endpoint that does not parse is logged and
    /// skipped.
    async fn holders(&self) -> Result<BTreeMap<Holder, Held>, GcError> {
        let mut holders: BTreeMap<Holder, Held> = BTreeMap::new();
        let store = self.allocator.store();
        for pool in store.list_pools().await? {
            let name = pool.metadata.name_str().to_owned();
            let records = store
                .read_pool(&name, |s| {
                    s.records()
                        .map(|(ip, r)| (ip, r.pod.clone(), r.pod_uid.clone()))
                        .collect::<Vec<_>>()
                })
                .await;
            let records = match records {
                Ok(Some(r)) => r.value,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(pool = %name, error = %e, "gc: pool skipped");
                    continue;
                }
            };
            for (ip, pod, uid) in records {
                let Some((namespace, pod_name)) = pod.split_once('/') else {
                    tracing::warn!(pool = %name, %ip, pod = %pod, "gc: record without namespace/name skipped");
                    continue;
                };
                let holder = Holder { namespace: namespace.into(), name: pod_name.into(), uid };
                holders.entry(holder).or_default().records.push((name.clone(), ip));
            }
        }
        for ep in self.endpoints().await? {
            let holder = Holder {
                namespace: ep.metadata.namespace.clone().unwrap_or_default(),
                name: ep.metadata.name_str().to_owned(),
                uid: ep.status.current.uid.clone(),
            };
            holders.entry(holder).or_default().endpoint = Some(ep);
        }
        Ok(holders)
    }

    /// Every SpiderEndpoint (in the store's label scope); one that does not
    /// decode is logged and skipped.
    async fn endpoints(&self) -> Result<Vec<SpiderEndpoint>, GcError> {
        let resource = ApiResource::erase::<KubeObject<SpiderEndpoint>>(&());
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let mut params = ListParams::default();
        if let Some((k, v)) = &self.options.store.scope_label {
            params = params.labels(&format!("{k}={v}"));
        }
        let list = api
            .list(&params)
            .await
            .map_err(|source| GcError::List { what: "spiderendpoints", source })?;
        let mut out = Vec::with_capacity(list.items.len());
        for item in list.items {
            let name = format!(
                "{}/{}",
                item.metadata.namespace.as_deref().unwrap_or(""),
                item.metadata.name.as_deref().unwrap_or("")
            );
            match serde_json::to_value(&item).and_then(serde_json::from_value::<SpiderEndpoint>) {
                Ok(ep) => out.push(ep),
                Err(e) => {
                    tracing::warn!(endpoint = %name, error = %e, "gc: SpiderEndpoint skipped")
                }
            }
        }
        Ok(out)
    }

    /// The names of every node.
    async fn node_names(&self) -> Result<BTreeSet<String>, GcError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let list = api
            .list_metadata(&ListParams::default())
            .await
            .map_err(|source| GcError::List { what: "nodes", source })?;
        Ok(list.items.into_iter().filter_map(|n| n.metadata.name).collect())
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
