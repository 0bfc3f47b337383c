//! One criterion binary for the workspace; each module exports a group.
#![allow(unreachable_pub)] // criterion_group! declares `pub fn benches`.
use criterion::criterion_main;

mod benchmarks;

criterion_main!(
    benchmarks::dual::benches,
    benchmarks::exact::benches,
    benchmarks::features::benches,
    benchmarks::sketch::benches,
    benchmarks::solve::benches
);
