//! [`EmbeddedStore`]: the allocation store on one `redb` database file.
//!
//! Layout (one table each):
//! - `meta`: `"version"` → the global version counter; every write bumps it
//!   and stores it in the same transaction, so versions only move forward,
//!   across restarts too.
//! - `pools`: pool name → the SpiderIPPool as JSON, *without*
//!   `status.allocatedIPs`.
//! - `pool_versions`: pool name → the version of its last write.
//! - `pool_records`: (pool name, address as `u128`) → one allocation record as
//!   JSON. An allocation writes the records that change, never the whole pool.
//! - `reserved`: name → (version, SpiderReservedIP JSON).
//! - `endpoints`: (namespace, name) → (version, SpiderEndpoint JSON).
//! - `objects`: (kind, namespace, name) → (version, JSON).
//!
//! Durability has two modes, chosen at open ([`SyncMode`]):
//! - [`SyncMode::EveryWrite`] (the default of [`EmbeddedStore::open`]): every
//!   commit uses [`Durability::Immediate`]; when a write returns, it survives a
//!   crash of the process or the machine.
//! - [`SyncMode::Group`] (the agent's): writes are applied to one open write
//!   transaction, not committed (the cache, which every read uses, has them
//!   at once), and [`EmbeddedStore::sync`] commits that transaction with one
//!   fsync ([`Durability::Immediate`]). Callers that run concurrently share
//!   that commit (group commit): the agent answers a request only after its
//!   `sync` returns, so a crash loses only writes nobody was told about. A
//!   request (pool records, then its endpoint, then `sync`) costs one redb
//!   commit, each page it touches written once. The price: a write that
//!   fails half way (redb's failure, never a request's) takes the other
//!   staged writes with it, so it fails the store as an I/O error does (see
//!   the `fault` module).
//!
//! Concurrency: one mutex serialises writers (check, commit or staging,
//! cache update) and the commit of the staged writes;
//! readers take a read lock on the cache and never wait for the disk, except
//! for the short cache update after a commit. A write may block (for redb's
//! write lock, for its fsync): on a multi-threaded tokio runtime it runs in
//! `block_in_place` (the worker hands its other tasks to another thread);
//! on a current-thread runtime (the agent's) and outside a runtime it runs
//! inline: there is no other worker to keep going, and a hop to the
//! blocking pool and back costs two thread wake-ups, more than the write.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use spiderpool_core::ip::u128_to_ip;
use spiderpool_core::model::{PoolIpAllocation, SpiderEndpoint, SpiderIPPool, SpiderReservedIP};
use spiderpool_core::store::{ObjectKey, PoolState, StoreError, Version, Versioned};

use super::fault::Fault;

/// File name of the database inside the agent's data directory.
pub const DB_FILE_NAME: &str = "spiderpool.redb";

pub(super) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
pub(super) const POOLS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("pools");
pub(super) const POOL_VERSIONS: TableDefinition<'_, &str, u64> =
    TableDefinition::new("pool_versions");
pub(super) const POOL_RECORDS: TableDefinition<'_, (&str, u128), &[u8]> =
    TableDefinition::new("pool_records");
pub(super) const RESERVED: TableDefinition<'_, &str, (u64, &[u8])> =
    TableDefinition::new("reserved");
pub(super) const ENDPOINTS: TableDefinition<'_, (&str, &str), (u64, &[u8])> =
    TableDefinition::new("endpoints");
pub(super) const OBJECTS: TableDefinition<'_, (&str, &str, &str), (u64, &[u8])> =
    TableDefinition::new("objects");

const VERSION_KEY: &str = "version";
pub(super) const POOL: &str = "SpiderIPPool";

/// Why the embedded store cannot open. The cause is `source()`, not part of
/// the message: the agent's `main` prints the chain (`Caused by:`), so it
/// appears once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// The data directory cannot be created.
    #[error("embedded store: cannot create data directory {}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database file cannot be created.
    #[error("embedded store: cannot create database {}: {source}", path.display())]
    Create {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// redb cannot open or create the database file (locked by another
    /// process, not a redb file, I/O error).
    #[error("embedded store: cannot open database {}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: redb::DatabaseError,
    },
    /// The database opened but its contents cannot be loaded.
    #[error("embedded store: cannot load database {}", path.display())]
    Load {
        /// The database file.
        path: PathBuf,
        /// What failed, naming the table and key.
        #[source]
        source: StoreError,
    },
}

/// When the embedded store's commits reach the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Every write commits durably before it returns (one fsync per write).
    #[default]
    EveryWrite,
    /// Writes are staged in one open transaction; [`EmbeddedStore::sync`]
    /// commits them at once, with one fsync. A crash loses the writes made
    /// since the last `sync` returned (never a part of one: the commit is
    /// atomic). Closing the store commits what is staged.
    Group,
}

/// What the store serves reads from: the database's contents, decoded.
#[derive(Debug, Default)]
pub(super) struct Cache {
    /// The last committed value of the global version counter.
    pub(super) version: Version,
    pub(super) pools: BTreeMap<String, (Version, PoolState)>,
    pub(super) reserved: BTreeMap<String, Versioned<Arc<SpiderReservedIP>>>,
    pub(super) endpoints: BTreeMap<(String, String), Versioned<SpiderEndpoint>>,
    pub(super) objects: BTreeMap<ObjectKey, Versioned<serde_json::Value>>,
}

/// The embedded store: SpiderIPPools, SpiderReservedIPs, SpiderEndpoints and
/// other objects in one redb database, with an in-memory cache for reads.
/// Open it once per process: redb refuses a second writer of the same file.
///
/// Reads are served from memory on the calling thread. Writes may block
/// (redb's write lock, an fsync): on a multi-threaded tokio runtime they run
/// in `block_in_place`, so the worker's other tasks move to another thread;
/// on a current-thread runtime and outside a runtime they run inline. A
/// write, once started, completes even if its caller stops waiting.
#[derive(Clone)]
pub struct EmbeddedStore {
    pub(super) shared: Arc<Shared>,
}

/// The store's state, shared with the blocking tasks that write.
pub(super) struct Shared {
    pub(super) path: PathBuf,
    /// The database; `None` after an I/O failure until it is reopened (see
    /// the `fault` module).
    pub(super) db: RwLock<Option<Database>>,
    writer: Mutex<()>,
    cache: RwLock<Cache>,
    mode: SyncMode,
    /// The highest version known to be durable; held while a `sync` commits,
    /// so concurrent `sync` calls queue behind one fsync and then find their
    /// writes covered.
    pub(super) durable: Mutex<Version>,
    /// Durable commits made by `sync` ([`SyncMode::Group`]).
    sync_commits: AtomicU64,
    /// [`SyncMode::Group`]: the write transaction holding the writes made
    /// since the last `sync` (each write applied to it, not committed), which
    /// the next `sync` commits with one fsync. One transaction instead of
    /// a non-durable commit per write and an empty durable one: a request's
    /// writes (pool records, endpoint) cost one redb commit and write each
    /// page they touch once. Taken only under `writer`.
    pub(super) pending: Mutex<Option<WriteTransaction>>,
    /// Why the store cannot write, since when (`None` while it can).
    pub(super) fault: Mutex<Option<Fault>>,
    /// Set by a write that failed with an I/O error: the database must be
    /// reopened (and the cache reloaded) once the write has returned.
    pub(super) reopen_needed: AtomicBool,
    /// When the store last recovered from a fault, and the wait it had.
    pub(super) recovered: Mutex<Option<(std::time::Instant, std::time::Duration)>>,
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating when missing) `dir/spiderpool.redb`, creating `dir`
    /// first when needed (mode 0700; an existing directory with a wider mode
    /// is tightened to 0700, with a warning).
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<Self, EmbeddedError> {
        Self::open_dir_with(dir, SyncMode::EveryWrite)
    }

    /// Opens (creating when missing, mode 0600) the database file at `path`
    /// and loads its contents into memory; an existing file with a wider mode
    /// is tightened to 0600, with a warning. A file left by a killed process
    /// opens too: redb recovers the last committed transaction.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EmbeddedError> {
        Self::open_with(path, SyncMode::EveryWrite)
    }

    /// [`EmbeddedStore::open_dir`] with a [`SyncMode`].
    pub fn open_dir_with(dir: impl AsRef<Path>, mode: SyncMode) -> Result<Self, EmbeddedError> {
        let dir = dir.as_ref();
        crate::file_mode::create_private_dir(dir)
            .map_err(|source| EmbeddedError::DataDir { path: dir.to_path_buf(), source })?;
        crate::file_mode::restrict_logged(dir, 0o700, "embedded store's data directory");
        Self::open_with(dir.join(DB_FILE_NAME), mode)
    }

    /// [`EmbeddedStore::open`] with a [`SyncMode`].
    pub fn open_with(path: impl AsRef<Path>, mode: SyncMode) -> Result<Self, EmbeddedError> {
        let path = path.as_ref().to_path_buf();
        // redb initialises an empty file; created here, it is never readable
        // by others, not even between its creation and a chmod.
        crate::file_mode::create_private_file(&path)
            .map_err(|source| EmbeddedError::Create { path: path.clone(), source })?;
        crate::file_mode::restrict_logged(&path, 0o600, "embedded store's database");
        let db = Database::create(&path)
            .map_err(|source| EmbeddedError::Open { path: path.clone(), source })?;
        let shared = Shared {
            path,
            db: RwLock::new(Some(db)),
            writer: Mutex::new(()),
            cache: RwLock::new(Cache::default()),
            mode,
            durable: Mutex::new(0),
            sync_commits: AtomicU64::new(0),
            pending: Mutex::new(None),
            fault: Mutex::new(None),
            reopen_needed: AtomicBool::new(false),
            recovered: Mutex::new(None),
        };
        let load = |s: &Shared| -> Result<Cache, StoreError> {
            s.create_tables()?;
            // Group mode stages the tables' creation; the read below sees
            // committed writes only.
            s.commit_staged("create tables", Durability::None)?;
            s.with_db("begin read", |db| {
                let txn = db.begin_read().map_err(|e| s.backend("begin read", e))?;
                s.load(&txn)
            })
        };
        let cache = load(&shared)
            .map_err(|source| EmbeddedError::Load { path: shared.path.clone(), source })?;
        let loaded = cache.version;
        *shared.write_cache() = cache;
        // Table creation may have committed without an fsync.
        if mode == SyncMode::Group {
            shared
                .sync_through(loaded)
                .map_err(|source| EmbeddedError::Load { path: shared.path.clone(), source })?;
        }
        *shared.durable.lock().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(Self { shared: Arc::new(shared) })
    }

    /// The store's [`SyncMode`].
    pub fn sync_mode(&self) -> SyncMode {
        self.shared.mode
    }

    /// Makes every write that has returned durable. In
    /// [`SyncMode::EveryWrite`] they already are and this returns at once; in
    /// [`SyncMode::Group`] it commits once with an fsync unless a concurrent
    /// `sync` already covered them.
    pub async fn sync(&self) -> Result<(), StoreError> {
        if self.shared.mode == SyncMode::EveryWrite {
            return Ok(());
        }
        // Writes that returned before a failure may have been lost with it:
        // no sync succeeds until the store has recovered.
        self.shared.fault_error()?;
        let target = self.version();
        if self.shared.durable_through(target) {
            return Ok(());
        }
        // On a current-thread runtime the fsync below holds the only thread:
        // first let the tasks that are ready (requests read meanwhile) make
        // their writes, so that this one fsync covers them too. tokio runs a
        // yielded task again only after it has polled for I/O.
        if is_current_thread() {
            tokio::task::yield_now().await;
            if self.shared.durable_through(target) {
                return Ok(());
            }
        }
        self.blocking(move |s: &Shared| s.sync_through(target)).await
    }

    /// How many durable commits `sync` has made since the store was opened
    /// ([`SyncMode::Group`]): one per [`EmbeddedStore::sync`] that found
    /// writes not yet durable (and one at open when it created tables). Each
    /// is one fsync, shared by every write that returned before it.
    pub fn sync_commits(&self) -> u64 {
        self.shared.sync_commits.load(Ordering::Relaxed)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The last committed version (the global counter).
    pub fn version(&self) -> Version {
        self.shared.read_cache().version
    }

    /// Runs a write: in `block_in_place` on a multi-threaded runtime, inline
    /// on a current-thread runtime and outside a runtime.
    pub(super) async fn blocking<R, E>(
        &self,
        f: impl FnOnce(&Shared) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        // A failed store refuses writes at once, except when it is time to
        // try reopening it (see the `fault` module).
        let f = move |s: &Shared| -> Result<R, E> {
            s.writable()?;
            let r = f(s);
            if s.reopen_needed.swap(false, Ordering::SeqCst) {
                s.reopen();
            }
            r
        };
        match tokio::runtime::Handle::try_current() {
            // On a multi-threaded runtime the write runs on this worker, which
            // hands its other tasks to another thread for the time being: no
            // hop to the blocking pool and back, which on a small VM cost
            // more scheduler time than the write itself.
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| f(&self.shared))
            }
            // A current-thread runtime (the agent's with this store) has no
            // other worker: the write runs on its thread, as outside a
            // runtime.
            _ => f(&self.shared),
        }
    }
}

/// True on the thread of a current-thread tokio runtime.
fn is_current_thread() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

impl Shared {
    /// True when every commit up to version `target` is durable.
    fn durable_through(&self, target: Version) -> bool {
        *self.durable.lock().unwrap_or_else(|e| e.into_inner()) >= target
    }

    /// Makes the writes up to version `target` durable: commits the staged
    /// writes with an fsync (an empty durable commit when none are staged,
    /// which persists earlier non-durable commits), skipped when a `sync`
    /// that finished meanwhile covered them.
    pub(super) fn sync_through(&self, target: Version) -> Result<(), StoreError> {
        // No write stages into the transaction while it commits.
        let _writer = self.writer();
        let mut durable = self.durable.lock().unwrap_or_else(|e| e.into_inner());
        if *durable >= target {
            return Ok(());
        }
        // Everything written before this point is covered by the commit
        // below.
        let covered = self.read_cache().version.max(target);
        if !self.commit_staged("sync", Durability::Immediate)? {
            self.with_db("sync", |db| {
                let mut txn = db.begin_write().map_err(|e| self.failure("sync", e.into()))?;
                txn.set_durability(Durability::Immediate).map_err(|e| self.backend("sync", e))?;
                txn.commit().map_err(|e| self.failure("sync", e.into()))
            })?;
        }
        self.sync_commits.fetch_add(1, Ordering::Relaxed);
        *durable = covered;
        Ok(())
    }

    /// Commits the staged writes ([`SyncMode::Group`]) with `durability`;
    /// `Ok(false)` when none are staged. The caller holds `writer`. A failed
    /// commit loses every staged write, so it fails the store (see the
    /// `fault` module) whatever the error.
    pub(super) fn commit_staged(
        &self,
        op: &str,
        durability: Durability,
    ) -> Result<bool, StoreError> {
        let staged = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut txn) = staged else {
            return Ok(false);
        };
        let committed = match txn.set_durability(durability) {
            Ok(()) => txn.commit().map_err(redb::Error::from),
            Err(e) => Err(redb::Error::from(e)),
        };
        committed.map_err(|e| self.staged_writes_lost(op, e))?;
        Ok(true)
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let next = self.with_db("begin read", |db| {
            let txn = db.begin_read().map_err(|e| self.backend("begin read", e))?;
            match txn.open_table(META) {
                Ok(t) => Ok(t
                    .get(VERSION_KEY)
                    .map_err(|e| self.backend("read meta", e))?
                    .map_or(0, |g| g.value())),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
                Err(e) => Err(self.backend("open table meta", e)),
            }
        })?;
        self.transact("create tables", next, |txn| {
            txn.open_table(POOLS)?;
            txn.open_table(POOL_VERSIONS)?;
            txn.open_table(POOL_RECORDS)?;
            txn.open_table(RESERVED)?;
            txn.open_table(ENDPOINTS)?;
            txn.open_table(OBJECTS)?;
            Ok(())
        })
    }

    pub(super) fn load(&self, txn: &ReadTransaction) -> Result<Cache, StoreError> {
        let mut cache = Cache::default();
        let meta = txn.open_table(META).map_err(|e| self.backend("open table meta", e))?;
        cache.version = meta
            .get(VERSION_KEY)
            .map_err(|e| self.backend("read meta", e))?
            .map_or(0, |g| g.value());
        let pools = txn.open_table(POOLS).map_err(|e| self.backend("open table pools", e))?;
        let mut names = Vec::new();
        for entry in pools.iter().map_err(|e| self.backend("scan pools", e))? {
            let (k, _) = entry.map_err(|e| self.backend("scan pools", e))?;
            names.push(k.value().to_string());
        }
        for name in names {
            if let Some(p) = self.load_pool(txn, &name)? {
                cache.pools.insert(name, p);
            }
        }
        let reserved =
            txn.open_table(RESERVED).map_err(|e| self.backend("open table reserved", e))?;
        for entry in reserved.iter().map_err(|e| self.backend("scan reserved", e))? {
            let (k, v) = entry.map_err(|e| self.backend("scan reserved", e))?;
            let (version, bytes) = v.value();
            let name = k.value().to_string();
            let value: SpiderReservedIP = decode("reserved", &name, bytes)?;
            cache.reserved.insert(name, Versioned { version, value: Arc::new(value) });
        }
        let endpoints =
            txn.open_table(ENDPOINTS).map_err(|e| self.backend("open table endpoints", e))?;
        for entry in endpoints.iter().map_err(|e| self.backend("scan endpoints", e))? {
            let (k, v) = entry.map_err(|e| self.backend("scan endpoints", e))?;
            let (ns, name) = k.value();
            let (version, bytes) = v.value();
            let value: SpiderEndpoint = decode("endpoints", &format!("{ns}/{name}"), bytes)?;
            cache
                .endpoints
                .insert((ns.to_string(), name.to_string()), Versioned { version, value });
        }
        let objects = txn.open_table(OBJECTS).map_err(|e| self.backend("open table objects", e))?;
        for entry in objects.iter().map_err(|e| self.backend("scan objects", e))? {
            let (k, v) = entry.map_err(|e| self.backend("scan objects", e))?;
            let (kind, ns, name) = k.value();
            let (version, bytes) = v.value();
            let value: serde_json::Value =
                decode("objects", &format!("{kind}/{ns}/{name}"), bytes)?;
            cache.objects.insert(ObjectKey::new(kind, ns, name), Versioned { version, value });
        }
        Ok(cache)
    }

    /// Reads one pool, its version and its records from the database.
    fn load_pool(
        &self,
        txn: &ReadTransaction,
        name: &str,
    ) -> Result<Option<(Version, PoolState)>, StoreError> {
        let pools = txn.open_table(POOLS).map_err(|e| self.backend("open table pools", e))?;
        let Some(bytes) = pools.get(name).map_err(|e| self.backend("read pools", e))? else {
            return Ok(None);
        };
        let mut pool: SpiderIPPool = decode("pools", name, bytes.value())?;
        if let Some(status) = pool.status.as_mut() {
            status.allocated_ips = None;
        }
        let mut state = PoolState::from_pool(pool).map_err(|e| StoreError::Invalid {
            kind: POOL,
            name: name.to_string(),
            message: format!("table pools: {e}"),
        })?;
        let versions = txn
            .open_table(POOL_VERSIONS)
            .map_err(|e| self.backend("open table pool_versions", e))?;
        let version = versions
            .get(name)
            .map_err(|e| self.backend("read pool_versions", e))?
            .map(|g| g.value())
            .ok_or_else(|| {
                self.backend("read pool_versions", format!("pool {name}: no version"))
            })?;
        let records =
            txn.open_table(POOL_RECORDS).map_err(|e| self.backend("open table pool_records", e))?;
        let mut add = Vec::new();
        let range = records
            .range((name, 0u128)..=(name, u128::MAX))
            .map_err(|e| self.backend("scan pool_records", e))?;
        for entry in range {
            let (k, v) = entry.map_err(|e| self.backend("scan pool_records", e))?;
            let (_, ip) = k.value();
            let addr = u128_to_ip(state.family, ip);
            let record: PoolIpAllocation =
                decode("pool_records", &format!("{name}/{addr}"), v.value())?;
            add.push((addr, record));
        }
        state.restore(add)?;
        Ok(Some((version, state)))
    }

    /// Re-reads one pool from the database into the cache (used only if the
    /// cache refused a change the database took, which the pre-commit check
    /// rules out).
    pub(super) fn reload_pool(&self, cache: &mut Cache, name: &str) -> Result<(), StoreError> {
        // A read transaction sees committed writes only.
        self.commit_staged("reload pool", Durability::None)?;
        let loaded = self.with_db("begin read", |db| {
            let txn = db.begin_read().map_err(|e| self.backend("begin read", e))?;
            self.load_pool(&txn, name)
        })?;
        match loaded {
            Some(p) => cache.pools.insert(name.to_string(), p),
            None => cache.pools.remove(name),
        };
        Ok(())
    }

    /// A backend error naming the database file and the operation.
    pub(super) fn backend(&self, op: &str, e: impl fmt::Display) -> StoreError {
        StoreError::Backend(format!("redb {}: {op}: {e}", self.path.display()))
    }

    /// Serialises writers; held from the version check to the cache update.
    pub(super) fn writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn read_cache(&self) -> RwLockReadGuard<'_, Cache> {
        // The cache is only changed after a commit, by complete insertions
        // and removals, so a panic elsewhere cannot leave it half-written.
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write_cache(&self) -> RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one write transaction that also stores `next` as the global
    /// version, and commits it (durably in [`SyncMode::EveryWrite`]). Nothing
    /// is written when `f` fails.
    pub(super) fn transact<R>(
        &self,
        op: &str,
        next: Version,
        f: impl FnOnce(&WriteTransaction) -> Result<R, redb::Error>,
    ) -> Result<R, StoreError> {
        let run = |txn: &WriteTransaction| -> Result<R, redb::Error> {
            txn.open_table(META)?.insert(VERSION_KEY, next)?;
            f(txn)
        };
        if self.mode == SyncMode::Group {
            return self.stage(op, run);
        }
        self.with_db(op, |db| {
            let mut txn = db.begin_write().map_err(|e| self.failure(op, e.into()))?;
            txn.set_durability(Durability::Immediate).map_err(|e| self.backend(op, e))?;
            match run(&txn) {
                Ok(r) => {
                    txn.commit().map_err(|e| self.failure(op, e.into()))?;
                    Ok(r)
                }
                Err(e) => {
                    let _ = txn.abort();
                    Err(self.failure(op, e))
                }
            }
        })
    }

    /// [`SyncMode::Group`]: applies `run` to the staged transaction (begun
    /// here when none is open), without committing. A write that fails half
    /// way cannot be taken back alone: the transaction, with the writes
    /// staged before it, is aborted and the store fails (see
    /// [`Shared::staged_writes_lost`]) — every such failure is redb's (an
    /// I/O error, a corrupted file), never a request's.
    fn stage<R>(
        &self,
        op: &str,
        run: impl FnOnce(&WriteTransaction) -> Result<R, redb::Error>,
    ) -> Result<R, StoreError> {
        self.with_db(op, |db| {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let txn = match pending.take() {
                Some(txn) => txn,
                None => db.begin_write().map_err(|e| self.failure(op, e.into()))?,
            };
            match run(&txn) {
                Ok(r) => {
                    *pending = Some(txn);
                    Ok(r)
                }
                Err(e) => {
                    drop(pending);
                    let _ = txn.abort();
                    Err(self.staged_writes_lost(op, e))
                }
            }
        })
    }
}

impl Drop for Shared {
    /// Writes staged and never synced (nobody was told about them) are
    /// still committed when the store closes.
    fn drop(&mut self) {
        let staged = self.pending.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(txn) = staged
            && let Err(e) = txn.commit()
        {
            tracing::warn!(db = %self.path.display(), error = %e, "embedded store: the writes staged at close could not be committed");
        }
    }
}

/// Decodes a JSON value of a table, naming the table and key when it does not
/// parse.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    table: &str,
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Backend(format!("table {table}: key {key}: {e}")))
}

/// Encodes a value as JSON.
pub(super) fn encode<T: serde::Serialize>(
    kind: &'static str,
    name: &str,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Invalid {
        kind,
        name: name.to_string(),
        message: format!("cannot encode as JSON: {e}"),
    })
}
