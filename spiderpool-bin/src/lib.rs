//! The spiderpool-rs executables and the code behind them.
//!
//! Today this crate builds one binary, `spiderpoolctl`, whose commands live in
//! the [`ctl`] library module so that they can be tested in-process and reused;
//! `src/bin/spiderpoolctl.rs` is a thin `main`. The other executables
//! (`spiderpool` IPAM plugin, `coordinator`, `spiderpool-agent`,
//! `spiderpool-controller`) follow the same pattern: [`controller`] holds the
//! controller's wiring.
//!
//! What it deliberately does not do: decide anything about Spiderpool resources.
//! Admission (defaulting and validation) and SpiderMultusConfig rendering are
//! pure functions of `spiderpool-core`; this crate reads files, calls them and
//! prints the results.

pub mod agent;
pub mod agent_client;
pub mod cni;
pub mod controller;
pub mod coordinator;
pub mod ctl;
pub mod file_mode;
pub mod ipam;
pub mod journal;
pub mod store;
