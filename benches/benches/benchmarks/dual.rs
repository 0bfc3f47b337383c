//! Evaluations per second of dual activations: every closed form, and the
//! numerical routes (Gauss–Hermite rule, Hermite series, adaptive) for tanh.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use dual_activations::{
    Activation, DualActivation, HermiteCoeffs, HermiteConvention, NumericalMethod, registry,
};
use ntk_bench::covariance_grid;
use std::hint::black_box;

fn closed_forms(c: &mut Criterion) {
    let points = covariance_grid(1024);
    let acts = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::AbRelu { a: -0.3, b: 1.1 },
        Activation::Abs,
        Activation::Sign,
        Activation::ERF,
        Activation::SigmoidLike,
        Activation::Gelu,
        Activation::SIN,
        Activation::COS,
        Activation::RBF,
        Activation::EXP,
        Activation::GAUSSIAN,
        Activation::EXP_NORMALIZED,
        Activation::Hermite {
            degree: 4,
            convention: HermiteConvention::Exact,
        },
        Activation::Monomial { degree: 3 },
        Activation::RectifiedMonomial { degree: 2 },
        Activation::Polynomial {
            coef: vec![-0.1, 2.1, 0.0, 0.3, -1.2, -0.5],
        },
        Activation::Gabor,
    ];
    let mut group = c.benchmark_group("dual-activations/closed-form/f64");
    group.throughput(Throughput::Elements(points.len() as u64));
    for act in acts {
        let id = BenchmarkId::from_parameter(format!("{}_n{}", act.stax_name(), points.len()));
        let d = DualActivation::new(act).expect("valid");
        group.bench_function(id, |b| {
            b.iter(|| {
                let mut acc = 0.0;
                for &(qx, qy, cc) in &points {
                    let v = d
                        .eval(black_box(qx), black_box(qy), black_box(cc))
                        .expect("finite");
                    acc += v.k + v.k_dot;
                }
                acc
            })
        });
    }
    group.finish();
}

fn numerical(c: &mut Criterion) {
    let tanh = registry::by_name("tanh").expect("registered");
    let mut group = c.benchmark_group("dual-activations/numerical/f64");
    let points = covariance_grid(64);
    group.throughput(Throughput::Elements(points.len() as u64));
    for method in [
        NumericalMethod::GaussHermite { deg: 25 },
        NumericalMethod::GaussHermite { deg: 150 },
        NumericalMethod::HermiteSeries { degree: 32 },
    ] {
        let d = DualActivation::new(Activation::Numerical {
            function: tanh.clone(),
            method,
        })
        .expect("valid");
        let id = BenchmarkId::from_parameter(
            format!("tanh_{method:?}_n{}", points.len()).replace([' ', '{', '}', ':'], ""),
        );
        group.bench_function(id, |b| {
            b.iter(|| {
                points
                    .iter()
                    .map(|&(x, y, cc)| d.eval(x, y, cc).expect("finite").k)
                    .sum::<f64>()
            })
        });
    }
    // Hermite series with coefficients computed once per norm (the way a
    // kernel matrix uses them): the per-pair cost is one Horner sum.
    let d = DualActivation::new(Activation::Numerical {
        function: tanh.clone(),
        method: NumericalMethod::HermiteSeries { degree: 32 },
    })
    .expect("valid");
    let cx = HermiteCoeffs::new(&d, 1.1, 32).expect("coefficients");
    let cy = HermiteCoeffs::new(&d, 0.8, 32).expect("coefficients");
    group.bench_function(
        BenchmarkId::from_parameter(format!("tanh_series_cached_q32_n{}", points.len())),
        |b| {
            b.iter(|| {
                points
                    .iter()
                    .map(|&(_, _, cc)| {
                        cx.dual_with(&cy, (cc / 5.0).clamp(-1.0, 1.0))
                            .expect("valid")
                            .k
                    })
                    .sum::<f64>()
            })
        },
    );
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        BenchmarkId::from_parameter("tanh_coefficients_q32_n1"),
        |b| {
            b.iter(|| {
                HermiteCoeffs::new(&d, black_box(1.1), 32)
                    .expect("coefficients")
                    .tail()
            })
        },
    );
    group.finish();
    let mut slow = c.benchmark_group("dual-activations/adaptive/f64");
    slow.sample_size(10);
    slow.throughput(Throughput::Elements(1));
    let ad = DualActivation::new(Activation::Numerical {
        function: tanh,
        method: NumericalMethod::Adaptive { abs_tol: 1e-12 },
    })
    .expect("valid");
    slow.bench_function(BenchmarkId::from_parameter("tanh_adaptive_1e-12_n1"), |b| {
        b.iter(|| ad.eval(black_box(1.0), 0.7, 0.3).expect("finite").k)
    });
    slow.finish();
}

criterion_group!(benches, closed_forms, numerical);
