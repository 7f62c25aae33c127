//! Unit and property tests of the auto-pool rules, with Spiderpool's
//! examples where it has them.

#![allow(clippy::unwrap_used)]

mod agent;
mod app;
mod carve;
mod config;
mod counts;
mod props;
mod size;
