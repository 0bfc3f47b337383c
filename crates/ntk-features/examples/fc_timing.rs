//! Times the exact FC NTK of depth 3 on 2000 × 784 sequentially and on all
//! cores (a quick check beside the criterion benchmark).
//!
//! Run: `cargo run --release -p ntk-features --example fc_timing`
#![allow(clippy::print_stdout)]

use dual_activations::Activation;
use faer::{Mat, Par};
use ntk_features::{Architecture, Input, Layer, kernels};
use std::time::Instant;

fn main() -> Result<(), ntk_features::FeatureError> {
    let s2 = 2f64.sqrt();
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
    let arch = Architecture::new(fc)?;
    let x = Mat::from_fn(784, 2000, |i, j| {
        (((i * 7 + j * 13) as f64) * 0.61).sin() * (1.0 + (j % 10) as f64 * 0.1)
    });
    for (name, par) in [("seq", Par::Seq), ("rayon", Par::rayon(0))] {
        let t = Instant::now();
        let k = kernels(&arch, Input::Vectors(x.as_ref()), None, par, &mut |_, _| {})?;
        println!(
            "{name}: {:.3} s (ntk[0][1] = {})",
            t.elapsed().as_secs_f64(),
            k.ntk[(0, 1)]
        );
    }
    Ok(())
}
