//! Stores the agent runs on, beyond the in-memory store of `spiderpool-core`.
//!
//! [`EmbeddedStore`] is the default store outside Kubernetes (DESIGN §6): one
//! `redb` database file under the agent's data directory, written only by the
//! agent, every change committed durably before the call returns (or, in
//! [`SyncMode::Group`], before the caller's `sync` returns). Reads are
//! served from an in-memory cache of [`spiderpool_core::store::PoolState`]s that
//! is rebuilt from the database when the store opens.
//!
//! What it deliberately does not do: share the database with another writer
//! process (redb locks the file). In [`SyncMode::Group`] the writes made
//! between two `sync`s share one transaction (one commit, one fsync); each
//! caller's checks (versions, free addresses) are made against the cache,
//! which has every staged write, so they do not change.

mod admin;
mod deletion;
mod embedded;
mod endpoints;
mod fault;
mod pools;

pub use embedded::{DB_FILE_NAME, EmbeddedError, EmbeddedStore, SyncMode};
