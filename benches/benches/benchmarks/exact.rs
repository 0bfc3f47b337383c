//! Exact kernels on the workloads, with the inputs of
//! `tools/bench_nt_exact.py` (neural-tangents, the same machine), all
//! `K(X, X)` in f64 on all cores: the FC NTK of depth 3 on 2000 × 784; the
//! CNTK of 5 × [Conv(3×3, SAME), ReLU], GAP on 20 images of 32×32×3; and
//! Conv(3×3, SAME), ReLU, GAP, Dense on 500 images of 8×8×1 (small images),
//! smooth synthetic ones and the embedded digits (real, half zero), with
//! and without bias.

use criterion::{BenchmarkId, Criterion, criterion_group};
use dual_activations::Activation;
use faer::{Mat, Par};
use ntk_features::{Architecture, Input, Layer, Padding, kernels};
use std::time::Duration;

fn exact(c: &mut Criterion) {
    let s2 = 2f64.sqrt();
    let mut group = c.benchmark_group("ntk-features/exact/f64");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));

    let mut fc = Vec::new();
    for _ in 0..3 {
        fc.push(Layer::Dense {
            w_std: s2,
            b_std: Some(0.1),
        });
        fc.push(Layer::Activation(Activation::Relu));
    }
    fc.push(Layer::Dense {
        w_std: s2,
        b_std: Some(0.1),
    });
    let fc = Architecture::new(fc).expect("valid");
    let (n, d) = (2000usize, 784usize);
    let x = Mat::from_fn(d, n, |i, j| {
        (((i * 7 + j * 13) as f64) * 0.61).sin() * (1.0 + (j % 10) as f64 * 0.1)
    });
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(
        BenchmarkId::from_parameter("fc_ntk_depth3_n2000_d784"),
        |b| {
            b.iter(|| {
                kernels(
                    &fc,
                    Input::Vectors(x.as_ref()),
                    None,
                    Par::rayon(0),
                    &mut |_, _| {},
                )
                .expect("finite")
            })
        },
    );

    let mut conv = Vec::new();
    for _ in 0..5 {
        conv.push(Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: s2,
            b_std: Some(0.0),
        });
        conv.push(Layer::Activation(Activation::Relu));
    }
    conv.push(Layer::GlobalAvgPool);
    conv.push(Layer::Dense {
        w_std: s2,
        b_std: Some(0.0),
    });
    let conv = Architecture::new(conv).expect("valid");
    let imgs: Vec<f64> = (0..20 * 32 * 32 * 3)
        .map(|k| (k as f64 * 0.37).cos())
        .collect();
    group.measurement_time(Duration::from_secs(60));
    group.bench_function(
        BenchmarkId::from_parameter("cntk_depth5_gap_n20_32x32x3"),
        |b| {
            b.iter(|| {
                kernels(
                    &conv,
                    Input::Images {
                        data: &imgs,
                        n: 20,
                        h: 32,
                        w: 32,
                        c: 3,
                    },
                    None,
                    Par::rayon(0),
                    &mut |_, _| {},
                )
                .expect("finite")
            })
        },
    );
    let small = Architecture::new(vec![
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: s2,
            b_std: Some(0.1),
        },
        Layer::Activation(Activation::Relu),
        Layer::GlobalAvgPool,
        Layer::Dense {
            w_std: s2,
            b_std: None,
        },
    ])
    .expect("valid");
    let small_imgs: Vec<f64> = (0..500 * 64).map(|k| (k as f64 * 0.37).cos()).collect();
    group.measurement_time(Duration::from_secs(40));
    group.bench_function(BenchmarkId::from_parameter("cntk_small_n500_8x8x1"), |b| {
        b.iter(|| {
            kernels(
                &small,
                Input::Images {
                    data: &small_imgs,
                    n: 500,
                    h: 8,
                    w: 8,
                    c: 1,
                },
                None,
                Par::rayon(0),
                &mut |_, _| {},
            )
            .expect("finite")
        })
    });
    // The same network on real images: the first 500 embedded digits
    // (pixel values / 16, half of them zero), without bias (positions whose
    // window is all zeros have zero variance) and with `b_std = 0.1`; the
    // workload of `tools/bench_nt_exact.py 5`.
    let digits = ntk_data::digits::load();
    let digit_imgs: Vec<f64> = digits.data[..500 * 64]
        .iter()
        .map(|&v| f64::from(v) / 16.0)
        .collect();
    for (name, b_std) in [
        ("cntk_digits_n500_8x8x1_nobias", None),
        ("cntk_digits_n500_8x8x1_bias", Some(0.1)),
    ] {
        let arch = Architecture::new(vec![
            Layer::Conv {
                filter: (3, 3),
                strides: (1, 1),
                padding: Padding::Same,
                w_std: 1.414,
                b_std,
            },
            Layer::Activation(Activation::Relu),
            Layer::GlobalAvgPool,
            Layer::Dense {
                w_std: 1.414,
                b_std: None,
            },
        ])
        .expect("valid");
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                kernels(
                    &arch,
                    Input::Images {
                        data: &digit_imgs,
                        n: 500,
                        h: 8,
                        w: 8,
                        c: 1,
                    },
                    None,
                    Par::rayon(0),
                    &mut |_, _| {},
                )
                .expect("finite")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, exact);
