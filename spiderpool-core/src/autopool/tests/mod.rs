//! Unit and property tests of the auto-pool rules, with Spiderpool's
//! examples where it has them.

#![allow(clippy::unwrap_used)]

mod app;
mod carve;
mod config;
mod props;
mod size;
