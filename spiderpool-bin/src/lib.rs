//! The spiderpool-rs executables and the code behind them.
//!
//! This crate builds `spiderpool` (the IPAM plugin), `coordinator` (the route
//! plugin), `spiderpool-agent` (the node daemon behind both),
//! `spiderpool-controller` (webhooks and the leader's reconcilers) and
//! `spiderpoolctl` (the CLI). `src/bin/*.rs` are thin `main`s; the code lives
//! in library modules so it can be tested in-process:
//!
//! - [`cni`]: the shared CNI plumbing of both plugins (environment and stdin,
//!   dispatch, error JSON and exit codes, the plugin log);
//! - [`ipam`]: the `spiderpool` IPAM plugin (agent calls, probes, DEL journal);
//! - [`coordinator`]: the `coordinator` plugin (views, plan, apply, CHECK);
//! - [`agent`]: the agent server, generic over its backend (pools, endpoints,
//!   pod facts, SpiderCoordinator), its routes, limits, socket and metrics;
//! - [`agent_client`]: the typed client of the agent API both plugins and
//!   `spiderpoolctl` use;
//! - [`journal`]: the release journal's files, shared by the plugin that
//!   writes them and the agent that replays them;
//! - [`store`]: the embedded store (redb), the agent's default backend;
//! - [`controller`]: `spiderpool-controller`'s wiring (the webhook server over
//!   rustls, certificates, the leader's work, health and metrics);
//! - [`ctl`]: `spiderpoolctl`'s commands;
//! - [`documents`]: splitting a file into Kubernetes objects (YAML, JSON,
//!   `List`), for `spiderpoolctl` and `spiderpool-controller init`;
//! - [`file_mode`]: the modes of the agent's files and directories.
//!
//! What it deliberately does not do: decide anything about Spiderpool
//! resources. Selection, allocation, release rules, pod facts, admission,
//! SpiderMultusConfig rendering and route planning are pure functions of
//! `spiderpool-core`; this crate reads files, sockets and namespaces, calls
//! them and reports the results. No executable's module imports another's:
//! they meet in `agent_client`, `journal` and `cni`.

pub mod agent;
pub mod agent_client;
pub mod cni;
pub mod controller;
pub mod coordinator;
pub mod ctl;
pub mod documents;
pub mod file_mode;
pub mod ipam;
pub mod journal;
pub mod store;
