//! One criterion binary for the workspace; each module exports a group.
use criterion::criterion_main;

mod benchmarks;

criterion_main!(benchmarks::dual::benches);
