//! Feature maps on the workloads, f32 on all cores, with the
//! baselines that bound them measured in the same run: the plain fast
//! Walsh–Hadamard transform (the arithmetic the maps spend their time in)
//! at the sizes the maps use.
//!
//! - FC depth 3 (Dense(√2, 0.1), ReLU) × 3 + Dense, d = 784, D = 8192,
//!   degree 8, NTK: per vector.
//! - Myrtle-5 (ExpNormalized(γ = 1)), 32×32×3, D = 16384, degree 8, NTK:
//!   per image.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use faer::Par;
use ntk_features::{ArchSpec, FeatureConfig, FeatureMap, KernelKind, Method, Shape};
use sketch_core::transform::{fwht, fwht_portable};
use std::time::Duration;

fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|k| ((((k as f64) * 0.7311).sin() * 43758.5453).fract() - 0.5) as f32)
        .collect()
}

fn features(c: &mut Criterion) {
    let mut group = c.benchmark_group("ntk-features/features/f32");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));

    // Baselines at the lengths inside the FC map (8192 node outputs, 65536
    // for the Hermite expansion): the FWHT the maps use (AVX2 where
    // present), the portable FWHT (a machine-speed reference that SIMD work
    // does not move), and rustfft's complex FFT of the same length (5 n log₂ n
    // flops by convention).
    for n in [8192usize, 65536] {
        let mut x = values(n);
        group.throughput(Throughput::Elements(
            (n * n.trailing_zeros() as usize) as u64,
        ));
        group.bench_function(BenchmarkId::new("fwht_adds", n), |b| {
            b.iter(|| fwht(&mut x))
        });
        group.bench_function(BenchmarkId::new("fwht_portable_adds", n), |b| {
            b.iter(|| fwht_portable(&mut x))
        });
        let fft = rustfft::FftPlanner::<f32>::new().plan_fft_forward(n);
        let mut z: Vec<rustfft::num_complex::Complex<f32>> = values(n)
            .into_iter()
            .map(|v| rustfft::num_complex::Complex::new(v, 0.0))
            .collect();
        let mut scratch =
            vec![rustfft::num_complex::Complex::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        group.throughput(Throughput::Elements(
            (5 * n * n.trailing_zeros() as usize) as u64,
        ));
        group.bench_function(BenchmarkId::new("rustfft_flops", n), |b| {
            b.iter(|| fft.process_with_scratch(&mut z, &mut scratch))
        });
    }

    let fc = "Dense(W_std=1.4142135623730951, b_std=0.1), Relu, \
              Dense(W_std=1.4142135623730951, b_std=0.1), Relu, \
              Dense(W_std=1.4142135623730951, b_std=0.1), Relu, \
              Dense(W_std=1.4142135623730951)";
    let shape = Shape::Vector { dim: 784 };
    let arch = ArchSpec::parse(fc)
        .expect("valid")
        .build(shape)
        .expect("fits");
    let mut cfg = FeatureConfig::new(8192, Method::Hermite, KernelKind::Ntk, 0);
    cfg.degree = Some(8);
    let map = FeatureMap::<f32>::new(&arch, shape, &cfg).expect("valid");
    let n = 256;
    let x = values(n * 784);
    group.throughput(Throughput::Elements(n as u64));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(
        BenchmarkId::from_parameter("fc_relu_depth3_d784_D8192_q8"),
        |b| {
            // One output buffer for every iteration, as a streaming caller keeps it.
            let mut out = faer::Mat::<f32>::zeros(map.dim(), x.len() / map.sample_len());
            b.iter(|| {
                map.apply_into(&x, out.as_mut(), Par::rayon(0), &mut |_, _| {})
                    .expect("finite")
            })
        },
    );

    let conv = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.4142135623730951)";
    let act = "ExpNormalized(gamma=1)";
    let pool = "AvgPool(window_shape=(2, 2), strides=(2, 2))";
    let myrtle = format!(
        "{conv}, {act}, {conv}, {act}, {pool}, {conv}, {act}, {pool}, {conv}, {act}, \
         {pool}, {pool}, {pool}, Flatten, Dense(W_std=1.4142135623730951)"
    );
    let shape = Shape::Image { h: 32, w: 32, c: 3 };
    let arch = ArchSpec::parse(&myrtle)
        .expect("valid")
        .build(shape)
        .expect("fits");
    let mut cfg = FeatureConfig::new(16384, Method::Hermite, KernelKind::Ntk, 0);
    cfg.degree = Some(8);
    let map = FeatureMap::<f32>::new(&arch, shape, &cfg).expect("valid");
    let n = 4;
    let x = values(n * 32 * 32 * 3);
    group.throughput(Throughput::Elements(n as u64));
    group.measurement_time(Duration::from_secs(20));
    group.bench_function(
        BenchmarkId::from_parameter("myrtle5_expnorm_32x32_D16384_q8"),
        |b| {
            // One output buffer for every iteration, as a streaming caller keeps it.
            let mut out = faer::Mat::<f32>::zeros(map.dim(), x.len() / map.sample_len());
            b.iter(|| {
                map.apply_into(&x, out.as_mut(), Par::rayon(0), &mut |_, _| {})
                    .expect("finite")
            })
        },
    );
    group.finish();
}

/// The 2021 methods on the peers' workloads (`shared/peers`, W2–W4), f32,
/// with a faer GEMM of the `ntkrf` second layer's shape as baseline.
fn methods_2021(c: &mut Criterion) {
    let mut group = c.benchmark_group("ntk-features/methods2021/f32");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    let relu2 = "Dense(W_std=1.4142135623730951), Relu, Dense(W_std=1.4142135623730951), Relu, \
                 Dense(W_std=1.4142135623730951)";
    let shape = Shape::Vector { dim: 384 };
    let arch = ArchSpec::parse(relu2)
        .expect("valid")
        .build(shape)
        .expect("fits");
    let n = 1024;
    let x = values(n * 384);
    group.throughput(Throughput::Elements(n as u64));
    group.measurement_time(Duration::from_secs(8));
    for (name, method, degree) in [
        ("onepass_L2_q2_d384_D8192", Method::OnePass, Some(2)),
        ("ntksketch_L2_q2_d384_D8192", Method::NtkSketch, Some(2)),
        (
            "ntksketch_data_L2_q2_d384_D8192",
            Method::NtkSketch,
            Some(2),
        ),
        ("ntkrf_L2_d384_D8192", Method::NtkRf, None),
        ("subspace_L2_d384_D8192", Method::Subspace, None),
    ] {
        let mut cfg = FeatureConfig::new(8192, method, KernelKind::Ntk, 0);
        cfg.degree = degree;
        if name.contains("data") {
            // Polynomials fitted on the first 256 vectors (a one-off 0.02 s).
            let x64: Vec<f64> = x[..256 * 384].iter().map(|&v| f64::from(v)).collect();
            let sample = faer::MatRef::from_column_major_slice(&x64, 384, 256);
            cfg.fit_polynomials(&arch, sample).expect("valid");
        }
        let map = FeatureMap::<f32>::new(&arch, shape, &cfg).expect("valid");
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            // One output buffer for every iteration, as a streaming caller keeps it.
            let mut out = faer::Mat::<f32>::zeros(map.dim(), x.len() / map.sample_len());
            b.iter(|| {
                map.apply_into(&x, out.as_mut(), Par::rayon(0), &mut |_, _| {})
                    .expect("finite")
            })
        });
    }
    // Baseline: the GEMM of ntkrf's second layer (m₁ × m₁ weights, 2048 at
    // D = 8192) on 1024 vectors, both cores.
    let m = ntk_features::ntkrf_width(8192);
    let g = faer::Mat::<f32>::from_fn(m, m, |i, j| ((i * 7 + j * 3) % 11) as f32 - 5.0);
    let xs = faer::Mat::<f32>::from_fn(m, n, |i, j| ((i + 2 * j) % 5) as f32 - 2.0);
    let mut z = faer::Mat::<f32>::zeros(m, n);
    group.throughput(Throughput::Elements((2 * m * m * n) as u64));
    group.bench_function(BenchmarkId::new("gemm_flops", m), |b| {
        b.iter(|| {
            faer::linalg::matmul::matmul(
                z.as_mut(),
                faer::Accum::Replace,
                g.as_ref(),
                xs.as_ref(),
                1.0,
                Par::rayon(0),
            )
        })
    });

    let conv = "Conv(filter_shape=(4, 4), padding=VALID, W_std=1.4142135623730951), Relu";
    let cntk = format!("{conv}, {conv}, {conv}, GlobalAvgPool, Dense(W_std=1.4142135623730951)");
    let shape = Shape::Image { h: 32, w: 32, c: 3 };
    let arch = ArchSpec::parse(&cntk)
        .expect("valid")
        .build(shape)
        .expect("fits");
    let n = 4;
    let x = values(n * 32 * 32 * 3);
    group.throughput(Throughput::Elements(n as u64));
    group.measurement_time(Duration::from_secs(10));
    for dim in [4096usize, 16384] {
        let mut cfg = FeatureConfig::new(dim, Method::CntkSketch, KernelKind::Ntk, 0);
        cfg.degree = Some(2);
        let map = FeatureMap::<f32>::new(&arch, shape, &cfg).expect("valid");
        group.bench_function(BenchmarkId::new("cntksketch_L3_f4_q2_32x32", dim), |b| {
            // One output buffer for every iteration, as a streaming caller keeps it.
            let mut out = faer::Mat::<f32>::zeros(map.dim(), x.len() / map.sample_len());
            b.iter(|| {
                map.apply_into(&x, out.as_mut(), Par::rayon(0), &mut |_, _| {})
                    .expect("finite")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, features, methods_2021);
