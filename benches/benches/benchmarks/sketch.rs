//! Samples per second of every sketch at d ∈ {384, 3072}, m ∈ {1024, 8192},
//! p ∈ {2, 4, 8}, f32 and f64 (one core, `Par::Seq`), and the papers'
//! FC NTK sketch configuration per input vector.
//!
//! The NTK sketch of Zandieh et al. 2021 (depth 2, q = 2, 8192 features,
//! d = 384) is a degree-2 PolySketch of the unit input with node dimension
//! m/4 − 1 complex, the degree blocks weighted by the polynomial
//! coefficients, and one final SRHT to m/2 − 1 complex, i.e. 8191 reals. The
//! same estimator here: `PolyExpansion` with node dimension 4095 reals (so
//! that 1 + 2·4095 = 8191 pads to 8192 for the final Hadamard transform) and
//! 8191 outputs.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use faer::{Mat, Par};
use sketch_core::{
    CountSketch, GaussianProjection, PolyExpansion, PolySketch, Real, Seed, Sketch, SketchExt,
    Srht, TensorSketch, TensorSrht, Transform,
};
use std::time::Duration;

fn data<T: Real>(d: usize, n: usize) -> Mat<T> {
    Mat::from_fn(d, n, |i, j| {
        T::cast((((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.5) * 0.2)
    })
}

fn grid<T: Real>(c: &mut Criterion, precision: &str) {
    let n = 64;
    let mut group = c.benchmark_group(format!("sketch-core/maps/{precision}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(n as u64));
    for d in [384usize, 3072] {
        let x = data::<T>(d, n);
        for m in [1024usize, 8192] {
            let mut maps: Vec<(String, Box<dyn Sketch<T>>)> = vec![
                (
                    "count_sketch".into(),
                    Box::new(CountSketch::new(d, m, Seed(1)).expect("valid")),
                ),
                (
                    "srht_hadamard".into(),
                    Box::new(Srht::<T>::new(d, m, Transform::Hadamard, Seed(1)).expect("valid")),
                ),
                (
                    "srht_fourier".into(),
                    Box::new(Srht::<T>::new(d, m, Transform::Fourier, Seed(1)).expect("valid")),
                ),
                (
                    "tensor_srht_hadamard_p2".into(),
                    Box::new(
                        TensorSrht::<T>::new(d, d, m, Transform::Hadamard, Seed(1)).expect("valid"),
                    ),
                ),
                (
                    "tensor_srht_fourier_p2".into(),
                    Box::new(
                        TensorSrht::<T>::new(d, d, m, Transform::Fourier, Seed(1)).expect("valid"),
                    ),
                ),
            ];
            if m == 1024 {
                maps.push((
                    "gaussian".into(),
                    Box::new(GaussianProjection::new(d, m, Seed(1)).expect("valid")),
                ));
            }
            for p in [2usize, 4, 8] {
                maps.push((
                    format!("tensor_sketch_p{p}"),
                    Box::new(TensorSketch::<T>::new(d, m, p, Seed(1)).expect("valid")),
                ));
                maps.push((
                    format!("poly_sketch_p{p}"),
                    Box::new(
                        PolySketch::<T>::new(d, m, p, Transform::Hadamard, Seed(1)).expect("valid"),
                    ),
                ));
            }
            for (name, s) in maps {
                group.bench_function(
                    BenchmarkId::from_parameter(format!("{name}_d{d}_m{m}_n{n}")),
                    |b| b.iter(|| s.apply(x.as_ref(), Par::Seq).expect("finite")),
                );
            }
        }
    }
    group.finish();
}

fn ntk_sketch<T: Real>(c: &mut Criterion, precision: &str) {
    let (d, n) = (384usize, 256usize);
    let x = data::<T>(d, n);
    // Depth-2 NTK polynomial fit of the 2021 code (q = 2): only the values'
    // magnitudes matter for speed.
    let beta = [0.705547, 1.245369, 0.625814];
    let s = PolyExpansion::<T>::new(d, 4095, &beta, Some(8191), Seed(3)).expect("valid");
    let mut group = c.benchmark_group(format!("sketch-core/ntk-sketch/{precision}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(n as u64));
    for (label, par) in [("seq", Par::Seq), ("rayon", Par::rayon(0))] {
        group.bench_function(
            BenchmarkId::from_parameter(format!("fc_depth2_q2_d{d}_m8191_n{n}_{label}")),
            |b| b.iter(|| s.apply(x.as_ref(), par).expect("finite")),
        );
    }
    group.finish();
}

fn all(c: &mut Criterion) {
    ntk_sketch::<f32>(c, "f32");
    ntk_sketch::<f64>(c, "f64");
    grid::<f32>(c, "f32");
    grid::<f64>(c, "f64");
}

criterion_group!(benches, all);
