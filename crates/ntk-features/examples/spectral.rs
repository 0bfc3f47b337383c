//! Spectral error of `subspace` (and other) features against the exact
//! kernel, beside the statistical dimension:
//! `cargo run --release -p ntk-features --example spectral -- [method] [n] [d]`.
//! Inputs: i.i.d. N(0, 1) vectors; network Dense(√2), Relu, Dense(√2),
//! Relu, Dense(√2); λ as fractions of tr(K)/n.
#![allow(clippy::print_stdout)]

use faer::{MatRef, Par};
use ntk_features::{
    ArchSpec, FeatureConfig, FeatureMap, Input, KernelKind, Method, Shape, kernels, spectral_error,
    statistical_dimension,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let method: Method = args
        .first()
        .map_or(Method::Subspace, |s| s.parse().unwrap());
    let n: usize = args.get(1).map_or(300, |s| s.parse().unwrap());
    let d: usize = args.get(2).map_or(64, |s| s.parse().unwrap());
    let u = |k: usize| {
        (((k as f64 + 0.5) * 0.7311).sin() * 43758.5453)
            .fract()
            .abs()
            .max(1e-300)
    };
    let x: Vec<f64> = (0..n * d)
        .map(|k| (-2.0 * u(2 * k).ln()).sqrt() * (2.0 * std::f64::consts::PI * u(2 * k + 1)).cos())
        .collect();
    let a = "Dense(W_std=1.4142135623730951), Relu, Dense(W_std=1.4142135623730951), Relu, \
             Dense(W_std=1.4142135623730951)";
    let shape = Shape::Vector { dim: d };
    let arch = ArchSpec::parse(a).unwrap().build(shape).unwrap();
    let k = kernels(
        &arch,
        Input::Vectors(MatRef::from_column_major_slice(&x, d, n)),
        None,
        Par::rayon(0),
        &mut |_, _| {},
    )
    .unwrap()
    .ntk;
    let mean_diag = (0..n).map(|i| k[(i, i)]).sum::<f64>() / n as f64;
    let xf: Vec<f32> = x.iter().map(|v| *v as f32).collect();
    println!("method {method}, n = {n}, d = {d}; λ in units of tr(K)/n = {mean_diag:.4}");
    println!("| λ/(tr K/n) | s_λ | D | ε (seeds 0, 1, 2) |");
    for frac in [1e-3, 1e-2, 1e-1] {
        let lambda = frac * mean_diag;
        let s = statistical_dimension(k.as_ref(), lambda).unwrap();
        for dim in [1024usize, 4096, 16384] {
            let eps: Vec<String> = (0..3)
                .map(|seed| {
                    let c = FeatureConfig::new(dim, method, KernelKind::Ntk, seed);
                    let map = FeatureMap::<f32>::new(&arch, shape, &c).unwrap();
                    let z = map.apply(&xf, Par::rayon(0), &mut |_, _| {}).unwrap();
                    format!(
                        "{:.3}",
                        spectral_error(z.as_ref(), k.as_ref(), lambda).unwrap()
                    )
                })
                .collect();
            println!("| {frac:e} | {s:.1} | {dim} | {} |", eps.join(", "));
        }
    }
}
