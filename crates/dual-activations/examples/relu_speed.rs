//! Throughput of `eval_many` for ReLU (a quick check beside the criterion
//! benchmark). Run: `cargo run --release -p dual-activations --example relu_speed`
#![allow(clippy::print_stdout)]
use dual_activations::{Activation, DualActivation};
use std::time::Instant;

fn main() -> Result<(), dual_activations::DualError> {
    let n = 1 << 20;
    let qx: Vec<f64> = (0..n)
        .map(|i| 1.0 + 0.5 * ((i as f64) * 0.1).sin())
        .collect();
    let qy: Vec<f64> = (0..n)
        .map(|i| 1.2 + 0.5 * ((i as f64) * 0.37).cos())
        .collect();
    let c: Vec<f64> = (0..n)
        .map(|i| 0.9 * ((i as f64) * 0.013).sin() * (qx[i] * qy[i]).sqrt())
        .collect();
    let (mut k, mut kd) = (vec![0.0; n], vec![0.0; n]);
    let relu = DualActivation::new(Activation::Relu)?;
    for _ in 0..3 {
        let t = Instant::now();
        for chunk in 0..(n / 1024) {
            let r = chunk * 1024..(chunk + 1) * 1024;
            relu.eval_many(
                &qx[r.clone()],
                &qy[r.clone()],
                &c[r.clone()],
                &mut k[r.clone()],
                &mut kd[r],
            )?;
        }
        let s = t.elapsed().as_secs_f64();
        println!("{:.2} ns per entry (k[7] = {})", 1e9 * s / n as f64, k[7]);
    }
    Ok(())
}
