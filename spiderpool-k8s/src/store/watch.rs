//! The watches: kube-runtime watchers of SpiderIPPools, SpiderReservedIPs and
//! SpiderEndpoints, each folded into the [`Tables`](super::state::Tables) by a
//! [`Fold`], and [`Readiness`]: whether each kind has been listed.
//!
//! kube-runtime's `watcher` lists, then watches from the list's
//! `resourceVersion`; when the watch expires (`410 Gone`) or cannot resume it
//! lists again (`Init` … `InitDone`), so no event is lost: a relist replaces
//! what the store holds, and objects missing from it are gone. Errors are
//! retried with kube's default backoff and reported by health until a list
//! succeeds.

use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::store::StoreError;
use tokio::task::AbortHandle;

use super::Shared;
use super::decode::Decoded;
use super::endpoints::{ENDPOINT, EndpointKey};
use super::pools::parse_pool;
use super::state::Relisted;
use super::stats::inc;
use crate::Kind;

/// A watched kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watched {
    Pools,
    ReservedIps,
    Endpoints,
}

impl Watched {
    const ALL: [Watched; 3] = [Watched::Pools, Watched::ReservedIps, Watched::Endpoints];

    fn index(self) -> usize {
        self as usize
    }

    fn plural(self) -> &'static str {
        match self {
            Watched::Pools => "spiderippools",
            Watched::ReservedIps => "spiderreservedips",
            Watched::Endpoints => "spiderendpoints",
        }
    }
}

/// Whether every watched kind has been listed, and the last watch errors.
#[derive(Debug)]
pub(super) struct Readiness {
    listed: tokio::sync::watch::Sender<[bool; 3]>,
    errors: Mutex<[Option<String>; 3]>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            listed: tokio::sync::watch::Sender::new([false; 3]),
            errors: Mutex::new(Default::default()),
        }
    }
}

impl Readiness {
    fn set_error(&self, what: Watched, error: Option<String>) {
        if let Ok(mut errors) = self.errors.lock() {
            errors[what.index()] = error;
        }
    }

    fn listed(&self, what: Watched) {
        self.set_error(what, None);
        self.listed.send_if_modified(|listed| !std::mem::replace(&mut listed[what.index()], true));
    }

    /// `Ok` once every kind has been listed; otherwise what is missing and
    /// the last error of each.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        let listed = *self.listed.borrow();
        if listed.iter().all(|l| *l) {
            return Ok(());
        }
        let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        let missing: Vec<String> = Watched::ALL
            .iter()
            .filter(|w| !listed[w.index()])
            .map(|w| match &errors[w.index()] {
                Some(e) => format!("{} (last error: {e})", w.plural()),
                None => w.plural().to_owned(),
            })
            .collect();
        Err(StoreError::Backend(format!(
            "kubernetes store not ready: waiting for the first list of {}",
            missing.join(", ")
        )))
    }

    /// Waits up to `timeout` for every kind to be listed.
    pub(super) async fn wait(&self, timeout: Duration) -> Result<(), StoreError> {
        if self.check().is_ok() {
            return Ok(());
        }
        let mut listed = self.listed.subscribe();
        let all = listed.wait_for(|l| l.iter().all(|x| *x));
        match tokio::time::timeout(timeout, all).await {
            Ok(Ok(_)) => Ok(()),
            _ => self.check().map_err(|e| match e {
                StoreError::Backend(m) => StoreError::Backend(format!("{m} (after {timeout:?})")),
                other => other,
            }),
        }
    }
}

/// Starts the three watches on `runtime`.
pub(super) fn spawn_all(
    shared: &Arc<Shared>,
    runtime: &tokio::runtime::Handle,
) -> Vec<AbortHandle> {
    vec![
        runtime.spawn(run(shared.clone(), Watched::Pools, PoolFold::default())).abort_handle(),
        runtime
            .spawn(run(shared.clone(), Watched::ReservedIps, ReservedFold::default()))
            .abort_handle(),
        runtime
            .spawn(run(shared.clone(), Watched::Endpoints, EndpointFold::default()))
            .abort_handle(),
    ]
}

/// Folds the watch events of kind `K` into the store.
trait Fold<K: Kind>: Send + 'static {
    /// A relist starts.
    fn relist_start(&mut self);
    /// One object of the relist.
    fn relist_item(&mut self, shared: &Shared, object: Decoded<K>);
    /// The relist is complete: install it.
    fn relist_done(&mut self, shared: &Shared);
    /// An object was added or changed.
    fn apply(&mut self, shared: &Shared, object: Decoded<K>);
    /// An object was deleted.
    fn delete(&mut self, shared: &Shared, object: Decoded<K>);
}

async fn run<K: Kind, F: Fold<K>>(shared: Arc<Shared>, what: Watched, mut fold: F) {
    let api: Api<Decoded<K>> = Api::all(shared.requests.client().clone());
    let mut config = watcher::Config::default();
    if let Some(selector) = shared.options.label_selector() {
        config = config.labels(&selector);
    }
    let mut events = pin!(watcher::watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => fold.relist_start(),
            Ok(Event::InitApply(object)) => fold.relist_item(&shared, object),
            Ok(Event::InitDone) => {
                fold.relist_done(&shared);
                inc(&shared.counters.lists);
                shared.readiness.listed(what);
                tracing::debug!(kind = what.plural(), "listed");
            }
            Ok(Event::Apply(object)) => fold.apply(&shared, object),
            Ok(Event::Delete(object)) => fold.delete(&shared, object),
            Err(error) => {
                inc(&shared.counters.watch_errors);
                if matches!(&error, watcher::Error::WatchError(status) if status.code == 410) {
                    inc(&shared.counters.watch_expiries);
                }
                let message = chain(&error);
                tracing::warn!(kind = what.plural(), error = %message, "watch failed; retrying");
                shared.readiness.set_error(what, Some(message));
            }
        }
    }
}

/// An error and its causes in one line, each once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[derive(Default)]
struct PoolFold {
    relist: Vec<Relisted>,
}

impl Fold<SpiderIPPool> for PoolFold {
    fn relist_start(&mut self) {
        self.relist.clear();
    }

    fn relist_item(&mut self, shared: &Shared, object: Decoded<SpiderIPPool>) {
        let (name, rv) = (object.name().to_owned(), object.resource_version().to_owned());
        if shared.lock().pool_at(&name, &rv) {
            self.relist.push((name, rv, None));
            return;
        }
        let (_, _, parsed) = parse_pool(object);
        self.relist.push((name, rv, Some(parsed)));
    }

    fn relist_done(&mut self, shared: &Shared) {
        shared.lock().pools_relisted(std::mem::take(&mut self.relist), Instant::now());
    }

    fn apply(&mut self, shared: &Shared, object: Decoded<SpiderIPPool>) {
        let (name, rv) = (object.name().to_owned(), object.resource_version().to_owned());
        let decoded = object.object.as_ref().ok();
        let Some(ticket) = shared.lock().pool_watch_ticket(&name, &rv, decoded, Instant::now())
        else {
            return;
        };
        // Parsed outside the lock: a large pool takes a while.
        let (_, _, parsed) = parse_pool(object);
        shared.lock().install_watched_pool(&name, ticket, parsed, &rv, Instant::now());
    }

    fn delete(&mut self, shared: &Shared, object: Decoded<SpiderIPPool>) {
        shared.lock().pool_deleted(object.name(), object.resource_version(), Instant::now());
    }
}

/// Decodes an object of a kind the store keeps whole; a failure is recorded in
/// the rejected objects and logged (once per `resourceVersion`).
fn decoded<K: Kind>(
    shared: &Shared,
    kind: &'static str,
    name: String,
    object: Decoded<K>,
) -> Option<K> {
    let mut tables = shared.lock();
    match object.object {
        Ok(object) => {
            tables.rejected.remove(&(kind, name));
            Some(object.into_core())
        }
        Err(reason) => {
            tracing::warn!(kind, name, %reason, "skipping an object that does not decode");
            tables.rejected.insert((kind, name), reason);
            None
        }
    }
}

#[derive(Default)]
struct EndpointFold {
    relist: Vec<(EndpointKey, SpiderEndpoint, String)>,
}

fn endpoint_key(object: &Decoded<SpiderEndpoint>) -> EndpointKey {
    (object.namespace().to_owned(), object.name().to_owned())
}

impl Fold<SpiderEndpoint> for EndpointFold {
    fn relist_start(&mut self) {
        self.relist.clear();
    }

    fn relist_item(&mut self, shared: &Shared, object: Decoded<SpiderEndpoint>) {
        let (key, rv) = (endpoint_key(&object), object.resource_version().to_owned());
        if let Some(ep) = decoded(shared, ENDPOINT, format!("{}/{}", key.0, key.1), object) {
            self.relist.push((key, ep, rv));
        }
    }

    fn relist_done(&mut self, shared: &Shared) {
        shared.lock().endpoints_relisted(std::mem::take(&mut self.relist), Instant::now());
    }

    fn apply(&mut self, shared: &Shared, object: Decoded<SpiderEndpoint>) {
        let (key, rv) = (endpoint_key(&object), object.resource_version().to_owned());
        if let Some(ep) = decoded(shared, ENDPOINT, format!("{}/{}", key.0, key.1), object) {
            shared.lock().endpoint_watched(&key, Some(ep), &rv, Instant::now());
        }
    }

    fn delete(&mut self, shared: &Shared, object: Decoded<SpiderEndpoint>) {
        let (key, rv) = (endpoint_key(&object), object.resource_version().to_owned());
        let mut tables = shared.lock();
        tables.rejected.remove(&(ENDPOINT, format!("{}/{}", key.0, key.1)));
        tables.endpoint_watched(&key, None, &rv, Instant::now());
    }
}

const RESERVED: &str = "SpiderReservedIP";

#[derive(Default)]
struct ReservedFold {
    relist: BTreeMap<String, Arc<SpiderReservedIP>>,
}

impl Fold<SpiderReservedIP> for ReservedFold {
    fn relist_start(&mut self) {
        self.relist.clear();
    }

    fn relist_item(&mut self, shared: &Shared, object: Decoded<SpiderReservedIP>) {
        let name = object.name().to_owned();
        if let Some(reserved) = decoded(shared, RESERVED, name.clone(), object) {
            self.relist.insert(name, Arc::new(reserved));
        }
    }

    fn relist_done(&mut self, shared: &Shared) {
        shared.lock().reserved = std::mem::take(&mut self.relist);
    }

    fn apply(&mut self, shared: &Shared, object: Decoded<SpiderReservedIP>) {
        let name = object.name().to_owned();
        if let Some(reserved) = decoded(shared, RESERVED, name.clone(), object) {
            shared.lock().reserved.insert(name, Arc::new(reserved));
        }
    }

    fn delete(&mut self, shared: &Shared, object: Decoded<SpiderReservedIP>) {
        let mut tables = shared.lock();
        tables.rejected.remove(&(RESERVED, object.name().to_owned()));
        tables.reserved.remove(object.name());
    }
}
