//! What the embedded store does when the disk fails under it (full, or an
//! I/O error): after one, redb answers every later write with "previous I/O
//! error" until the database is closed and opened again, and the writes
//! staged since the last `sync` ([`super::SyncMode::Group`]) are gone with
//! the transaction that held them.
//!
//! So, on the first write that fails with an I/O error (in group mode: on
//! any failure of a staged write or of its commit, which loses the writes
//! staged before it too):
//! 1. the store is marked failed, with the reason: writes and `sync` fail at
//!    once naming it, and [`EmbeddedStore::health`] reports it;
//! 2. once that write has returned, the database is reopened and the cache
//!    reloaded from the file, so that what the store serves (pool counts,
//!    records, endpoints) is what is committed, not what was lost;
//! 3. then, at most every [`RETRY`] (doubling up to [`RETRY_MAX`], also
//!    across a recovery followed soon by a new failure), a write or a health
//!    check tries again: open the database if it is closed
//!    (reloading the cache), then commit one small durable write; when it
//!    succeeds, the store is writable again.
//!
//! Versions stay monotonic through a reload (the global counter never goes
//! back), so a compare-and-swap against a version read before the failure
//! can never match different contents after it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase};
use spiderpool_core::store::StoreError;

use super::embedded::{EmbeddedStore, META, Shared};

/// The first wait before a failed store tries to write again.
pub const RETRY: Duration = Duration::from_secs(2);
/// The longest wait between two tries.
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// Key of the recovery probe's write in the `meta` table.
const PROBE_KEY: &str = "probe";

/// Why the store cannot write.
#[derive(Debug)]
pub(super) struct Fault {
    reason: String,
    since: Instant,
    last_try: Instant,
    wait: Duration,
}

/// True for the redb errors that mean the file or the disk failed (as
/// opposed to a bad request or a bug).
fn is_io(e: &redb::Error) -> bool {
    matches!(
        e,
        redb::Error::Io(_)
            | redb::Error::PreviousIo
            | redb::Error::DatabaseClosed
            | redb::Error::Corrupted(_)
            | redb::Error::TransactionPoisoned
            | redb::Error::Backend(_)
    )
}

impl Shared {
    /// Runs `f` on the open database; fails naming the fault while it is
    /// closed.
    pub(super) fn with_db<R>(
        &self,
        op: &str,
        f: impl FnOnce(&Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        match db.as_ref() {
            Some(db) => f(db),
            None => {
                Err(self.fault_error().err().unwrap_or_else(|| self.backend(op, "database closed")))
            }
        }
    }

    /// The error of a failed write; an I/O failure also marks the store
    /// failed and asks for a reopen.
    pub(super) fn failure(&self, op: &str, e: redb::Error) -> StoreError {
        if is_io(&e) {
            self.fail(op, &e, "a write failed with an I/O error");
        }
        self.backend(op, e)
    }

    /// The error of a write or commit that lost the staged writes
    /// ([`super::SyncMode::Group`]): whatever the error, writes other callers
    /// were told had succeeded are gone, so the store fails as for an I/O
    /// error (their `sync` fails; the cache is reloaded from the file).
    pub(super) fn staged_writes_lost(&self, op: &str, e: redb::Error) -> StoreError {
        self.fail(op, &e, "a write or commit failed, losing the writes staged since the last sync");
        self.backend(op, e)
    }

    /// Marks the store failed (once) and asks for a reopen.
    fn fail(&self, op: &str, e: &redb::Error, what: &str) {
        let mut fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        if fault.is_none() {
            tracing::error!(
                db = %self.path.display(),
                error = %format!("{op}: {e}"),
                "embedded store: {what}; refusing writes until a write succeeds again"
            );
            let now = Instant::now();
            // Failing again soon after a recovery (a small write fit, a
            // real one did not): keep backing off instead of starting
            // over.
            let mut last = self.recovered.lock().unwrap_or_else(|e| e.into_inner());
            let wait = match *last {
                Some((at, wait)) if at.elapsed() < RETRY_MAX * 2 => (wait * 2).min(RETRY_MAX),
                _ => RETRY,
            };
            *last = None;
            *fault = Some(Fault { reason: format!("{op}: {e}"), since: now, last_try: now, wait });
        }
        self.reopen_needed.store(true, Ordering::SeqCst);
    }

    /// Aborts the staged writes, if any: they are lost with the failure
    /// that led here (the store is failed, so their `sync` fails).
    fn drop_staged(&self) {
        if let Some(txn) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = txn.abort();
        }
    }

    /// `Err` naming the fault while the store cannot write.
    pub(super) fn fault_error(&self) -> Result<(), StoreError> {
        match &*self.fault.lock().unwrap_or_else(|e| e.into_inner()) {
            None => Ok(()),
            Some(f) => Err(StoreError::Backend(format!(
                "redb {}: cannot write (for {} s): {}; retrying every {} s",
                self.path.display(),
                f.since.elapsed().as_secs(),
                f.reason,
                f.wait.as_secs()
            ))),
        }
    }

    /// Before a write or a health check: `Ok` when the store can write. A
    /// failed store tries to recover when its wait is over.
    pub(super) fn writable(&self) -> Result<(), StoreError> {
        let due = match &*self.fault.lock().unwrap_or_else(|e| e.into_inner()) {
            None => return Ok(()),
            Some(f) => f.last_try.elapsed() >= f.wait,
        };
        if due {
            self.recover();
        }
        self.fault_error()
    }

    /// Closes the database, opens it again and reloads the cache from it
    /// (right after a failure: the cache then holds what is committed).
    /// Leaves the database closed when that fails.
    pub(super) fn reopen(&self) {
        let _writer = self.writer();
        let mut durable = self.durable.lock().unwrap_or_else(|e| e.into_inner());
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        self.drop_staged();
        // Closed first: redb refuses a second open of the file.
        *db = None;
        match self.open_and_load() {
            Ok((opened, loaded)) => {
                let mut cache = self.write_cache();
                let on_disk = loaded.version;
                let version = cache.version.max(on_disk);
                let lost = cache.version.saturating_sub(on_disk);
                *cache = loaded;
                cache.version = version;
                *durable = version;
                *db = Some(opened);
                tracing::warn!(
                    db = %self.path.display(),
                    version_on_disk = on_disk,
                    versions_lost = lost,
                    "embedded store: database reopened, cache reloaded from what is committed"
                );
            }
            Err(e) => {
                tracing::error!(db = %self.path.display(), error = %e, "embedded store: cannot reopen the database");
                self.note_try(&format!("reopen: {e}"));
            }
        }
    }

    fn open_and_load(&self) -> Result<(Database, super::embedded::Cache), StoreError> {
        let db = Database::create(&self.path).map_err(|e| self.backend("reopen", e))?;
        let txn = db.begin_read().map_err(|e| self.backend("begin read", e))?;
        let cache = self.load(&txn)?;
        drop(txn);
        Ok((db, cache))
    }

    /// One try to make the store writable again: reopen when needed, then a
    /// small durable write; on success the fault is cleared.
    fn recover(&self) {
        if let Some(f) = self.fault.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            f.last_try = Instant::now();
        }
        let closed = self.db.read().unwrap_or_else(|e| e.into_inner()).is_none();
        if closed || self.reopen_needed.swap(false, Ordering::SeqCst) {
            self.reopen();
        }
        // The probe below opens a write transaction of its own.
        self.drop_staged();
        let probe = self.with_db("probe", |db| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let run = || -> Result<(), redb::Error> {
                let mut txn = db.begin_write()?;
                txn.set_durability(Durability::Immediate)?;
                txn.open_table(META)?.insert(PROBE_KEY, secs)?;
                txn.commit()?;
                Ok(())
            };
            run().map_err(|e| self.backend("probe write", e))
        });
        match probe {
            Ok(()) => {
                let fault = self.fault.lock().unwrap_or_else(|e| e.into_inner()).take();
                let since = fault.as_ref().map(|f| f.since.elapsed().as_secs());
                *self.recovered.lock().unwrap_or_else(|e| e.into_inner()) =
                    fault.map(|f| (Instant::now(), f.wait));
                tracing::info!(db = %self.path.display(), failed_for_s = since, "embedded store: writes succeed again");
            }
            Err(e) => {
                // The failed probe poisoned the database: closed, and
                // opened again by the next try.
                *self.db.write().unwrap_or_else(|e| e.into_inner()) = None;
                self.note_try(&e.to_string());
            }
        }
    }

    /// Records a failed try: its error becomes the reason, and the wait
    /// before the next one doubles.
    fn note_try(&self, reason: &str) {
        if let Some(f) = self.fault.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            f.reason = reason.to_string();
            f.wait = (f.wait * 2).min(RETRY_MAX);
        }
    }
}

impl EmbeddedStore {
    /// `Ok` when the store can write; otherwise why not, for how long, and
    /// when it tries again. A failed store whose wait is over tries to
    /// recover first (on the blocking pool inside a runtime).
    pub async fn health(&self) -> Result<(), StoreError> {
        if self.shared.fault_error().is_ok() {
            return Ok(());
        }
        self.blocking(|_| Ok::<(), StoreError>(())).await
    }
}
