//! Normal-equation accumulation against faer's plain GEMM on the same
//! machine and in the same process, and the end-to-end workload
//! (n = 20 000, m = 8192, 10 outputs: accumulate, then solve).
//!
//! Throughput is reported in elements = floating-point operations, so
//! criterion's "elem/s" reads as flop/s. The symmetric update computes only
//! the lower triangle: `m(m+1)b` flops per block of `b` samples, against `2m²b`
//! for the full GEMM baseline.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use ntk_solve::GramAccumulator;
use std::hint::black_box;

fn block(m: usize, b: usize, seed: u64) -> Mat<f64> {
    // A cheap deterministic pseudo-random fill (the values do not matter for speed).
    Mat::from_fn(m, b, |i, j| {
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (j as u64 + seed).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        ((h >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    })
}

fn accumulation(c: &mut Criterion) {
    let par = Par::rayon(0);
    let mut group = c.benchmark_group("ntk-solve/accumulate/f64");
    group.sample_size(10);
    for (m, b) in [(2048usize, 1000usize), (8192, 1000)] {
        let phi = block(m, b, 1);
        let y = block(10, b, 2);
        let mut dst = Mat::<f64>::zeros(m, m);
        group.throughput(Throughput::Elements((2 * m * m * b) as u64));
        group.bench_function(
            BenchmarkId::from_parameter(format!("gemm_baseline_m{m}_b{b}")),
            |bench| {
                bench.iter(|| {
                    matmul(
                        dst.as_mut(),
                        Accum::Add,
                        phi.as_ref(),
                        phi.transpose(),
                        1.0,
                        par,
                    )
                })
            },
        );
        let mut acc = GramAccumulator::new(m, 10).expect("dims");
        group.throughput(Throughput::Elements(
            (m * (m + 1) * b + 2 * m * 10 * b) as u64,
        ));
        group.bench_function(
            BenchmarkId::from_parameter(format!("accumulate_f64_m{m}_b{b}_k10")),
            |bench| {
                bench.iter(|| {
                    acc.add_block(black_box(phi.as_ref()), y.as_ref(), par)
                        .expect("finite")
                })
            },
        );
        let phi32: Mat<f32> = Mat::from_fn(m, b, |i, j| phi[(i, j)] as f32);
        let y32: Mat<f32> = Mat::from_fn(10, b, |i, j| y[(i, j)] as f32);
        group.bench_function(
            BenchmarkId::from_parameter(format!("accumulate_f32_m{m}_b{b}_k10")),
            |bench| {
                bench.iter(|| {
                    acc.add_block(black_box(phi32.as_ref()), y32.as_ref(), par)
                        .expect("finite")
                })
            },
        );
        // The exact (fixed-point) sums feature ridge uses: panel GEMMs in
        // parallel, each rounded to the grid and added in i128.
        let scale = ntk_solve::FixedScale::from_block(
            phi32.as_ref().subcols(0, 256),
            y32.as_ref().subcols(0, 256),
        )
        .expect("finite");
        let mut exact = ntk_solve::FixedGram::new(m, 10, scale).expect("dims");
        group.bench_function(
            BenchmarkId::from_parameter(format!("exact_f32_m{m}_b{b}_k10")),
            |bench| {
                bench.iter(|| {
                    exact
                        .add_chunk(black_box(phi32.as_ref()), y32.as_ref(), par)
                        .expect("finite")
                })
            },
        );
    }
    group.finish();
}

fn end_to_end(c: &mut Criterion) {
    let (n, m, k, b) = (20_000usize, 8192usize, 10usize, 1000usize);
    let par = Par::rayon(0);
    // Four distinct blocks cycled: the flop count of 20 000 samples without
    // holding 1.3 GB of features.
    let blocks: Vec<(Mat<f64>, Mat<f64>)> = (0..4)
        .map(|s| (block(m, b, 10 + s), block(k, b, 20 + s)))
        .collect();
    let mut group = c.benchmark_group("ntk-solve/end-to-end/f64");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(
        BenchmarkId::from_parameter(format!("accumulate_solve_n{n}_m{m}_k{k}")),
        |bench| {
            bench.iter(|| {
                let mut acc = GramAccumulator::new(m, k).expect("dims");
                for i in 0..n / b {
                    let (p, y) = &blocks[i % blocks.len()];
                    acc.add_block(p.as_ref(), y.as_ref(), par).expect("finite");
                }
                acc.solve(1e-3).expect("solvable").0
            })
        },
    );
    group.finish();
}

criterion_group!(benches, accumulation, end_to_end);
