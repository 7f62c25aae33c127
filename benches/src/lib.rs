//! Criterion benchmarks for spiderpool-rs live in `benches/`; this library is empty.
