//! One full scan: gather every holder of addresses (pool records and
//! SpiderEndpoints), judge each with the core's rules, and release what two
//! observations a grace period apart and a fresh re-read agree on.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use spiderpool_core::allocator::ReleaseOutcome;
use spiderpool_core::gc::{
    Facts, Holder, KeepReason, Observed, ReleaseReason, Verdict, judge, needs_owner, release_holder,
};
use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool};
use spiderpool_core::pod::{OwnerFacts, owner_recorded_in, top_controller};
use spiderpool_core::store::{PoolStore, StoreError};

use super::notes::{
    GC_SKIPPED, IP_RELEASE_FAILED, IP_RELEASED, Note, endpoint_ref, pod_ref, pool_ref,
};
use super::source::PodSnapshot;
use super::stats::SkipReason;
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
    /// Objects and holders skipped (bad objects, no pod UID), each
    /// `kind name: why`; also posted as [`GC_SKIPPED`] events.
    pub skipped: Vec<String>,
}

/// What one holder holds.
#[derive(Debug, Default)]
struct Held {
    records: Vec<(String, IpAddr)>,
    endpoint: Option<SpiderEndpoint>,
}

/// Every holder of one scan, the pools' references, and what was skipped.
#[derive(Default)]
struct Gathered {
    holders: BTreeMap<Holder, Held>,
    pools: BTreeMap<String, ObjectReference>,
    skipped: Vec<(SkipReason, Note)>,
}

impl Gathered {
    fn skip(&mut self, reason: SkipReason, object: ObjectReference, message: String) {
        self.skipped.push((reason, Note::new(object, GC_SKIPPED, message)));
    }

    fn pool_ref(&self, name: &str) -> ObjectReference {
        self.pools.get(name).cloned().unwrap_or_else(|| pool_ref(name, None))
    }
}

/// What the confirmation of one suspect did.
enum Confirmation {
    /// Released, for this reason; `pod_alive`: a Pod with the holder's UID
    /// still exists.
    Released { reason: ReleaseReason, outcome: ReleaseOutcome, pod_alive: bool },
    /// The re-read stopped the release.
    Cancelled(&'static str),
    /// A read or a write failed.
    Failed(String),
}

/// One look at a holder: the pod, the owner and what the rules say.
#[derive(Clone)]
struct Look {
    pod: Option<PodSnapshot>,
    owner: Option<OwnerFacts>,
    verdict: Verdict,
}

impl Collector {
    /// Runs one full scan now (the first observation of new suspects, the
    /// second of older ones); its events are published in the background
    /// (they never delay the next scan; a scan waits for the previous scan's
    /// events first, so at most one batch is in flight). Counted in the
    /// collector's metrics (scans or scan errors, the duration).
    pub async fn scan(&self) -> Result<ScanReport, GcError> {
        let started = std::time::Instant::now();
        let result = self.scan_once().await;
        let counts = match &result {
            Ok((report, _)) => Ok((report.holders as u64, self.suspects.lock().await.len() as u64)),
            Err(_) => Err(()),
        };
        self.metrics.scanned(counts, started.elapsed());
        let (report, notes) = result?;
        let notes = super::notes::merge_warnings(notes);
        let mut publisher = self.publisher.lock().await;
        if let Some(previous) = publisher.take() {
            let _ = previous.await;
        }
        if !notes.is_empty() {
            let (sink, limit) = (self.events.clone(), self.options.release_concurrency);
            *publisher = Some(tokio::spawn(async move {
                super::notes::publish(&sink, notes, limit).await;
            }));
        }
        Ok(report)
    }

    async fn scan_once(&self) -> Result<(ScanReport, Vec<Note>), GcError> {
        let gathered = self.holders().await?;
        let nodes = self.node_names().await?;
        let holders = &gathered.holders;
        let mut report = ScanReport { holders: holders.len(), ..Default::default() };
        let mut notes = Vec::new();
        for (reason, note) in &gathered.skipped {
            self.metrics.skipped(*reason);
            report.skipped.push(note.message.clone());
            notes.push(note.clone());
        }
        let mut suspects = self.suspects.lock().await;
        let grace_ms = u64::try_from(self.options.grace.as_millis()).unwrap_or(u64::MAX);
        let mut confirmed = Vec::new();
        for (holder, held) in holders {
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
                    if *why == KeepReason::NoUid {
                        self.metrics.skipped(SkipReason::NoUid);
                        let message = format!(
                            "GC skips {}/{}: no pod UID is recorded, so its addresses are never collected (bypassed the agent?)",
                            holder.namespace, holder.name
                        );
                        report.skipped.push(message.clone());
                        for object in holder_objects(holder, held, &gathered) {
                            notes.push(Note::new(object, GC_SKIPPED, message.clone()));
                        }
                    }
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
        for (holder, held, outcome) in self.confirm_all(confirmed).await {
            if !matches!(outcome, Confirmation::Failed(_)) {
                suspects.forget(holder);
            }
            notes.extend(self.record(holder, held, &gathered, outcome, &mut report));
        }
        suspects.retain_seen(&holders.keys().cloned().collect::<BTreeSet<_>>());
        Ok((report, notes))
    }

    /// Confirms the suspects, `release_concurrency` side by side. A release
    /// that fails is tried once more at once (fresh re-read included): a
    /// 409 from a concurrent writer — Kubernetes' garbage collector marking
    /// the same SpiderEndpoint deleted — then costs a request, not a grace
    /// period until the next scan.
    async fn confirm_all<'a>(
        &'a self,
        confirmed: Vec<(&'a Holder, &'a Held, Look)>,
    ) -> Vec<(&'a Holder, &'a Held, Confirmation)> {
        let limit = self.options.release_concurrency.max(1);
        let mut firsts = BTreeMap::new();
        let mut pending = Vec::with_capacity(confirmed.len());
        for (holder, held, look) in confirmed {
            firsts.insert(holder, look.clone());
            pending.push(self.confirm_boxed(holder, held, look));
        }
        let outcomes: Vec<(&Holder, &Held, Confirmation)> =
            futures::stream::iter(pending).buffer_unordered(limit).collect().await;
        let mut done = Vec::with_capacity(outcomes.len());
        let mut again = Vec::new();
        for (holder, held, outcome) in outcomes {
            match (outcome, firsts.remove(holder)) {
                (Confirmation::Failed(error), Some(first)) => {
                    tracing::debug!(holder = %holder, %error, "gc: release failed; trying once more");
                    again.push(self.confirm_boxed(holder, held, first));
                }
                (outcome, _) => done.push((holder, held, outcome)),
            }
        }
        let retried: Vec<(&Holder, &Held, Confirmation)> =
            futures::stream::iter(again).buffer_unordered(limit).collect().await;
        done.extend(retried);
        done
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
        let pod_alive = look
            .pod
            .as_ref()
            .is_some_and(|p| p.view.metadata.uid.as_deref() == Some(holder.uid.as_str()));
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
            (Ok(outcome), Ok(())) => Confirmation::Released { reason, outcome, pod_alive },
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
    ) -> futures::future::BoxFuture<'a, (&'a Holder, &'a Held, Confirmation)> {
        Box::pin(async move { (holder, held, self.confirm(holder, held, first).await) })
    }

    /// Counts and logs what a confirmation did; returns its events.
    fn record(
        &self,
        holder: &Holder,
        held: &Held,
        gathered: &Gathered,
        outcome: Confirmation,
        report: &mut ScanReport,
    ) -> Vec<Note> {
        match outcome {
            Confirmation::Released { reason, outcome, pod_alive } => {
                self.metrics.released(&reason, outcome.released.len() as u64);
                tracing::info!(holder = %holder, reason = %reason, released = ?outcome.released, kept = ?outcome.kept, "gc: released");
                let notes = release_notes(holder, &reason, &outcome.released, pod_alive, gathered);
                report.released.extend(outcome.released);
                notes
            }
            Confirmation::Cancelled(why) => {
                self.metrics.cancelled();
                report.cancelled += 1;
                tracing::info!(holder = %holder, reason = why, "gc: release cancelled");
                Vec::new()
            }
            Confirmation::Failed(error) => {
                self.metrics.failed();
                tracing::warn!(holder = %holder, error = %error, "gc: release failed; retried at the next scan");
                let message = format!(
                    "GC could not release the addresses of Pod {}/{} (uid {}): {error}; tried again at the next scan",
                    holder.namespace, holder.name, holder.uid
                );
                report.errors.push(format!("{holder}: {error}"));
                holder_objects(holder, held, gathered)
                    .into_iter()
                    .map(|o| Note::new(o, IP_RELEASE_FAILED, message.clone()))
                    .collect()
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
    /// SpiderEndpoint. A pool or endpoint that does not parse and a record
    /// that names no `namespace/name` are skipped and reported.
    async fn holders(&self) -> Result<Gathered, GcError> {
        let mut gathered = Gathered::default();
        let store = self.allocator.store();
        for pool in store.list_pools().await? {
            let name = pool.metadata.name_str().to_owned();
            let reference = pool_ref(&name, pool.metadata.uid.clone());
            gathered.pools.insert(name.clone(), reference.clone());
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
                    let message = format!("GC skips SpiderIPPool {name}: {e}");
                    gathered.skip(SkipReason::InvalidPool, reference, message);
                    continue;
                }
            };
            for (ip, pod, uid) in records {
                let Some((namespace, pod_name)) = pod.split_once('/') else {
                    tracing::warn!(pool = %name, %ip, pod = %pod, "gc: record without namespace/name skipped");
                    let message = format!(
                        "GC skips the record of {ip} in SpiderIPPool {name}: status.allocatedIPs[{ip}].pod {pod:?} is not namespace/name"
                    );
                    gathered.skip(SkipReason::InvalidRecord, reference.clone(), message);
                    continue;
                };
                let holder = Holder { namespace: namespace.into(), name: pod_name.into(), uid };
                gathered.holders.entry(holder).or_default().records.push((name.clone(), ip));
            }
        }
        self.rejected_pools(&mut gathered).await;
        for ep in self.endpoints(&mut gathered).await? {
            let holder = Holder {
                namespace: ep.metadata.namespace.clone().unwrap_or_default(),
                name: ep.metadata.name_str().to_owned(),
                uid: ep.status.current.uid.clone(),
            };
            gathered.holders.entry(holder).or_default().endpoint = Some(ep);
        }
        Ok(gathered)
    }

    /// The pools the store rejected (they do not parse: bypassed admission)
    /// are skipped — their records cannot be read — and reported.
    async fn rejected_pools(&self, gathered: &mut Gathered) {
        let resource = ApiResource::erase::<KubeObject<SpiderIPPool>>(&());
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let pool_kind = SpiderIPPool::KIND;
        for rejected in self.allocator.store().rejected() {
            if rejected.kind != pool_kind || gathered.pools.contains_key(&rejected.name) {
                continue;
            }
            // The UID, so that `kubectl describe` lists the event.
            let uid = match tokio::time::timeout(
                self.options.request_timeout,
                api.get_metadata_opt(&rejected.name),
            )
            .await
            {
                Ok(Ok(Some(meta))) => meta.metadata.uid,
                Ok(Ok(None)) => continue,
                _ => None,
            };
            let message = format!(
                "GC skips SpiderIPPool {}: {}; its addresses are not collected until it is fixed",
                rejected.name, rejected.reason
            );
            gathered.skip(SkipReason::InvalidPool, pool_ref(&rejected.name, uid), message);
        }
    }

    /// Every SpiderEndpoint (in the store's label scope); one that does not
    /// decode is skipped and reported.
    async fn endpoints(&self, gathered: &mut Gathered) -> Result<Vec<SpiderEndpoint>, GcError> {
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
            let namespace = item.metadata.namespace.clone().unwrap_or_default();
            let name = item.metadata.name.clone().unwrap_or_default();
            let uid = item.metadata.uid.clone();
            match serde_json::to_value(&item).and_then(serde_json::from_value::<SpiderEndpoint>) {
                Ok(ep) => out.push(ep),
                Err(e) => {
                    tracing::warn!(endpoint = %format!("{namespace}/{name}"), error = %e, "gc: SpiderEndpoint skipped");
                    let message = format!(
                        "GC skips SpiderEndpoint {namespace}/{name}: it does not decode: {e}"
                    );
                    let object = endpoint_ref(&namespace, &name, uid);
                    gathered.skip(SkipReason::InvalidEndpoint, object, message);
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

/// The objects a holder's failure or skip is reported on: its
/// SpiderEndpoint, else the pools of its records.
fn holder_objects(holder: &Holder, held: &Held, gathered: &Gathered) -> Vec<ObjectReference> {
    if let Some(ep) = &held.endpoint {
        return vec![endpoint_ref(&holder.namespace, &holder.name, ep.metadata.uid.clone())];
    }
    let pools: BTreeSet<&str> = held.records.iter().map(|(p, _)| p.as_str()).collect();
    pools.into_iter().map(|p| gathered.pool_ref(p)).collect()
}

/// The events of a release: one on each pool addresses were freed from, and
/// one on the Pod when it still exists with the holder's UID.
fn release_notes(
    holder: &Holder,
    reason: &ReleaseReason,
    released: &[(String, IpAddr)],
    pod_alive: bool,
    gathered: &Gathered,
) -> Vec<Note> {
    let mut by_pool: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (pool, ip) in released {
        by_pool.entry(pool.as_str()).or_default().push(ip.to_string());
    }
    let pod = format!("Pod {}/{} (uid {})", holder.namespace, holder.name, holder.uid);
    let mut notes: Vec<Note> = by_pool
        .iter()
        .map(|(pool, ips)| {
            let message = format!(
                "GC released {} of {pod} from SpiderIPPool {pool}: {} ({reason})",
                ips.join(", "),
                reason.label()
            );
            Note::new(gathered.pool_ref(pool), IP_RELEASED, message)
        })
        .collect();
    if pod_alive && !released.is_empty() {
        let all: Vec<String> = released.iter().map(|(p, ip)| format!("{ip} ({p})")).collect();
        let message = format!("GC released {}: {} ({reason})", all.join(", "), reason.label());
        notes.push(Note::new(
            pod_ref(&holder.namespace, &holder.name, &holder.uid),
            IP_RELEASED,
            message,
        ));
    }
    notes
}
