//! Feature maps of branching networks (FanOut, parallel, FanInSum,
//! FanInConcat): each layered method approximates the exact kernel (itself
//! equal to neural-tangents, `tests/neural_tangents.rs`), closely enough to
//! tell it from the kernels a wrong fan-in would give; the features do not
//! depend on batching or threads; whole-network methods refuse.
//!
//! Tolerance (docs/NUMERICS.md, "Branching networks"): a feature map of
//! dimension `D` errs at least like a Gaussian projection of the exact
//! features to `D`, whose expected relative Frobenius error is
//! `e₀ = sqrt((1 + tr(K)²/‖K‖²_F)/D)`; each sketched layer adds an error of
//! that order, so the mean over 3 seeds is allowed `1 + layers/2` times
//! `e₀` (measured: 0.5–1.4 e₀ on these networks). Power: the bound must be
//! below a third of the distance to the kernels of the wrong networks (the
//! identity branch dropped, FanInSum averaging instead of adding), so a map
//! that dropped a branch or halved the sum fails.

use faer::{Mat, MatRef, Par};
use ntk_features::{
    ArchSpec, FeatureConfig, FeatureError, FeatureMap, Input, KernelKind, Method, Shape, kernels,
};

/// Pseudo-random values in [−1, 1), deterministic.
fn values(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|k| (((k as f64 + 1.0) * 0.7311 + seed as f64 * 1.37).sin() * 43758.5453).fract())
        .collect()
}

/// `n` vectors of dimension `d` with RMS spread over [0.3, 3].
fn vectors(n: usize, d: usize) -> Vec<f64> {
    let mut x = values(n * d, 5);
    for j in 0..n {
        let v = &mut x[j * d..(j + 1) * d];
        let rms = (v.iter().map(|a| a * a).sum::<f64>() / d as f64).sqrt();
        let target = 0.3 * 10f64.powf(j as f64 / (n - 1) as f64);
        v.iter_mut().for_each(|a| *a *= target / rms);
    }
    x
}

fn exact(text: &str, shape: Shape, x: &[f64], kernel: KernelKind) -> Mat<f64> {
    let arch = ArchSpec::parse(text).unwrap().build(shape).unwrap();
    let input = match shape {
        Shape::Vector { dim } => {
            Input::Vectors(MatRef::from_column_major_slice(x, dim, x.len() / dim))
        }
        Shape::Image { h, w, c } => Input::Images {
            data: x,
            n: x.len() / (h * w * c),
            h,
            w,
            c,
        },
    };
    let k = kernels(&arch, input, None, Par::Seq, &mut |_, _| {}).unwrap();
    match kernel {
        KernelKind::Nngp => k.nngp,
        KernelKind::Ntk => k.ntk,
    }
}

fn rel(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (a - b).norm_l2() / b.norm_l2()
}

fn ideal(k: &Mat<f64>, dim: usize) -> f64 {
    let tr: f64 = (0..k.nrows()).map(|i| k[(i, i)]).sum();
    let f = k.norm_l2();
    ((1.0 + tr * tr / (f * f)) / dim as f64).sqrt()
}

fn features(text: &str, shape: Shape, x: &[f64], c: &FeatureConfig, par: Par) -> Mat<f64> {
    let arch = ArchSpec::parse(text).unwrap().build(shape).unwrap();
    FeatureMap::<f64>::new(&arch, shape, c)
        .unwrap()
        .apply(x, par, &mut |_, _| {})
        .unwrap()
}

/// Checks every method on `net` against the exact kernel and the wrong
/// kernels (`scale` times a network's); `layers` sketched layers.
fn check(
    net: &str,
    wrong: &[(&str, f64)],
    shape: Shape,
    x: &[f64],
    methods: &[Method],
    dim: usize,
    layers: f64,
) {
    for kernel in [KernelKind::Nngp, KernelKind::Ntk] {
        let k = exact(net, shape, x, kernel);
        let bound = (1.0 + layers / 2.0) * ideal(&k, dim);
        for &(w, scale) in wrong {
            let d = rel(&(exact(w, shape, x, kernel) * scale), &k);
            assert!(
                3.0 * bound < d,
                "{kernel:?}: bound {bound} cannot tell {w} (distance {d})"
            );
        }
        for &method in methods {
            let err = (0..3)
                .map(|seed| {
                    let z = features(
                        net,
                        shape,
                        x,
                        &FeatureConfig::new(dim, method, kernel, seed),
                        Par::Seq,
                    );
                    rel(&(z.transpose() * &z), &k)
                })
                .sum::<f64>()
                / 3.0;
            assert!(
                err <= bound,
                "{method:?} {kernel:?} on {net}: error {err} > {bound}"
            );
        }
    }
}

#[test]
fn residual_and_concatenating_mlps() {
    let (n, d) = (16, 12);
    let x = vectors(n, d);
    let shape = Shape::Vector { dim: d };
    let block = "FanOut(2), parallel(serial(Relu, Dense(W_std=1.4)), Identity), FanInSum";
    let net = format!("Dense(W_std=1.2), {block}, {block}, Relu, Dense(W_std=1.1)");
    // Wrong: the shortcut dropped; the sum averaged (half the kernel).
    let no_skip =
        "Dense(W_std=1.2), Relu, Dense(W_std=1.4), Relu, Dense(W_std=1.4), Relu, Dense(W_std=1.1)";
    check(
        &net,
        &[(no_skip, 1.0), (&net, 0.5)],
        shape,
        &x,
        &[
            Method::Hermite,
            Method::Random,
            Method::NtkSketch,
            Method::NtkRf,
        ],
        4096,
        3.0,
    );
    // Three branches joined by FanInConcat (the mean of their kernels),
    // with Gelu and a bias: wrong if summed, or if a branch is dropped.
    let cat = "Dense(W_std=1.2, b_std=0.2), FanOut(3), parallel(Dense(W_std=0.9), serial(Gelu, Dense(W_std=1.5, b_std=0.3)), serial(Erf, Dense(W_std=1.1))), FanInConcat, Dense(W_std=1.3), Gelu, Dense";
    let summed = cat.replace("FanInConcat", "FanInSum");
    let two = "Dense(W_std=1.2, b_std=0.2), FanOut(2), parallel(Dense(W_std=0.9), serial(Gelu, Dense(W_std=1.5, b_std=0.3))), FanInConcat, Dense(W_std=1.3), Gelu, Dense";
    check(
        cat,
        &[(&summed, 1.0), (two, 1.0)],
        shape,
        &x,
        &[Method::Hermite, Method::Random],
        4096,
        3.0,
    );
}

#[test]
fn residual_cnn_on_images() {
    let (n, h, w, c) = (8, 6, 6, 2);
    let x = values(n * h * w * c, 9);
    let shape = Shape::Image { h, w, c };
    let net = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.3), FanOut(2), \
               parallel(serial(Relu, Conv(filter_shape=(3, 3), strides=(2, 2), padding=SAME, W_std=1.4)), \
               Conv(filter_shape=(1, 1), strides=(2, 2), padding=SAME)), FanInSum, Relu, GlobalAvgPool, Dense";
    let no_skip = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.3), Relu, \
               Conv(filter_shape=(3, 3), strides=(2, 2), padding=SAME, W_std=1.4), Relu, GlobalAvgPool, Dense";
    check(
        net,
        &[(no_skip, 1.0), (net, 0.5)],
        shape,
        &x,
        &[Method::Hermite, Method::Random, Method::CntkSketch],
        4096,
        3.0,
    );
}

#[test]
fn branching_features_do_not_depend_on_batches_or_threads() {
    let (n, d) = (40, 7);
    let x = vectors(n, d);
    let shape = Shape::Vector { dim: d };
    let net = "Dense(W_std=1.2, b_std=0.1), FanOut(2), parallel(serial(Gelu, Dense(W_std=1.4)), Identity), FanInSum, FanOut(2), parallel(serial(Relu, Dense), Dense(W_std=0.5)), FanInConcat, Dense, Relu, Dense";
    for method in [Method::Hermite, Method::Random] {
        let c = FeatureConfig::new(512, method, KernelKind::Ntk, 3);
        let whole = features(net, shape, &x, &c, Par::Seq);
        let threads = features(net, shape, &x, &c, Par::rayon(2));
        let half = features(net, shape, &x[..20 * d], &c, Par::Seq);
        for j in 0..n {
            for i in 0..whole.nrows() {
                assert_eq!(whole[(i, j)].to_bits(), threads[(i, j)].to_bits());
                if j < 20 {
                    assert_eq!(whole[(i, j)].to_bits(), half[(i, j)].to_bits());
                }
            }
        }
    }
}

#[test]
fn whole_network_methods_refuse_branching_networks() {
    let shape = Shape::Vector { dim: 5 };
    let arch = ArchSpec::parse(
        "Dense, FanOut(2), parallel(serial(Relu, Dense), Identity), FanInSum, Relu, Dense",
    )
    .unwrap()
    .build(shape)
    .unwrap();
    for method in [Method::OnePass, Method::Subspace] {
        let c = FeatureConfig::new(256, method, KernelKind::Ntk, 0);
        match FeatureMap::<f64>::new(&arch, shape, &c) {
            Err(FeatureError::Unsupported { name, reason, .. }) => {
                assert_eq!(name, "FanOut");
                assert!(reason.contains("serial"), "{reason}");
            }
            other => panic!("{method:?}: {other:?}"),
        }
    }
}
