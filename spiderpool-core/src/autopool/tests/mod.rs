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

use proptest::prelude::*;

/// One step of the property tests' random histories of auto-pools.
#[derive(Debug, Clone)]
enum Op {
    /// Resize pool `i` to `n` addresses.
    Resize(usize, u64),
    /// A pod of pool `i` takes the `k`-th address no pod holds.
    Hold(usize, u128),
    /// The pod holding the `k`-th held address of pool `i` goes away.
    Release(usize, u128),
}

/// Steps over `pools` pools with sizes and address indexes below `below`:
/// resizes, holds and releases in the ratio 3 : 2 : 1.
fn op(pools: usize, below: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..pools, 0..below).prop_map(|(i, n)| Op::Resize(i, n)),
        2 => (0..pools, 0..u128::from(below)).prop_map(|(i, k)| Op::Hold(i, k)),
        1 => (0..pools, 0..u128::from(below)).prop_map(|(i, k)| Op::Release(i, k)),
    ]
}
