//! Times the exact CNTK of 5 × [Conv(3×3, SAME), ReLU] + GAP + Dense on
//! 32×32×3 images (the benchmark network), per image pair, one core
//! and all cores — a quick check beside the criterion benchmark.
//!
//! Run: `cargo run --release -p ntk-features --example cntk_timing [n]`
#![allow(clippy::print_stdout)]

use dual_activations::Activation;
use faer::Par;
use ntk_features::{Architecture, Input, Layer, Padding, kernels};
use std::time::Instant;

fn main() -> Result<(), ntk_features::FeatureError> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let s2 = 2f64.sqrt();
    let mut layers = Vec::new();
    for _ in 0..5 {
        layers.push(Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: s2,
            b_std: Some(0.1),
        });
        layers.push(Layer::Activation(Activation::Relu));
    }
    layers.push(Layer::GlobalAvgPool);
    layers.push(Layer::Dense {
        w_std: s2,
        b_std: Some(0.1),
    });
    let arch = Architecture::new(layers)?;
    let data: Vec<f64> = (0..n * 32 * 32 * 3)
        .map(|k| ((k as f64) * 0.37).sin())
        .collect();
    let pairs = n * (n + 1) / 2;
    for (name, par) in [("seq", Par::Seq), ("rayon", Par::rayon(0))] {
        let t = Instant::now();
        let k = kernels(
            &arch,
            Input::Images {
                data: &data,
                n,
                h: 32,
                w: 32,
                c: 3,
            },
            None,
            par,
            &mut |_, _| {},
        )?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name}: {s:.3} s for {pairs} pairs, {:.1} ms/pair (ntk[0][1] = {:.17e})",
            1e3 * s / pairs as f64,
            k.ntk[(0, 1)]
        );
    }
    Ok(())
}
