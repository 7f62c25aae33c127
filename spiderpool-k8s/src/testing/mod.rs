//! Test support (feature `testing`): fixtures of every kind.

pub mod fixtures;
