//! The machine's vector rates for the two inner loops of the exact image
//! path — the batched ReLU dual and a masked slice add — in cache, on one
//! thread and on every thread at once (two vCPUs may share one core's
//! vector units), and the arithmetic bound they give for a CNTK workload
//! (docs/NUMERICS.md, "An arithmetic bound").
//!
//! Run: `cargo run --release -p ntk-features --example exact_bound`
#![allow(clippy::print_stdout)]

use dual_activations::{Activation, DualActivation};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Instant;

/// Entries per batch: one 8×8 image pair's state (64² position pairs).
const BATCH: usize = 4096;
const REPS: usize = 20_000;

fn relu_rate(threads: usize) -> f64 {
    let qx: Vec<f64> = (0..BATCH)
        .map(|i| 1.0 + 0.5 * (i as f64 * 0.1).sin())
        .collect();
    let qy: Vec<f64> = (0..BATCH)
        .map(|i| 1.2 + 0.5 * (i as f64 * 0.37).cos())
        .collect();
    let c: Vec<f64> = (0..BATCH)
        .map(|i| 0.9 * (i as f64 * 0.013).sin() * (qx[i] * qy[i]).sqrt())
        .collect();
    let relu = DualActivation::new(Activation::Relu).expect("relu");
    let t = Instant::now();
    (0..threads).into_par_iter().for_each(|_| {
        let (mut k, mut kd) = (vec![0.0; BATCH], vec![0.0; BATCH]);
        for _ in 0..REPS {
            relu.eval_many(&qx, &qy, &c, &mut k, &mut kd)
                .expect("valid");
            black_box(&k);
        }
    });
    // Aggregate nanoseconds per entry over all threads.
    t.elapsed().as_secs_f64() * 1e9 / (threads * REPS * BATCH) as f64
}

#[inline(always)]
fn masked_add(dst: &mut [f64], src: &[f64], mask: &[f64]) {
    for ((d, s), k) in dst.iter_mut().zip(src).zip(mask) {
        *d += s * k;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn masked_add_avx2(dst: &mut [f64], src: &[f64], mask: &[f64]) {
    masked_add(dst, src, mask);
}

fn add_rate(threads: usize) -> f64 {
    // Rows of 56 (an interior row of an 8×8 state) over a 32 KB state.
    let len = 56;
    let src: Vec<f64> = (0..BATCH + 64).map(|i| (i as f64 * 0.3).sin()).collect();
    let mask: Vec<f64> = (0..64).map(|i| f64::from(u8::from(i % 8 != 0))).collect();
    let t = Instant::now();
    (0..threads).into_par_iter().for_each(|_| {
        let mut dst = vec![0.0; BATCH];
        for _ in 0..REPS {
            for r in 0..BATCH / 64 {
                let d = &mut dst[r * 64..r * 64 + len];
                let s = &src[r * 64 + 9..r * 64 + 9 + len];
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    #[allow(unsafe_code)]
                    // SAFETY: AVX2 detected on this line.
                    unsafe {
                        masked_add_avx2(d, s, &mask[..len]);
                    }
                    continue;
                }
                masked_add(d, s, &mask[..len]);
            }
            black_box(&dst);
        }
    });
    t.elapsed().as_secs_f64() * 1e9 / (threads * REPS * (BATCH / 64) * len) as f64
}

fn main() {
    let threads = rayon::current_num_threads();
    let (d1, a1) = (relu_rate(1), add_rate(1));
    let (dn, an) = (relu_rate(threads), add_rate(threads));
    println!(
        "ReLU dual (batches of {BATCH}): {d1:.2} ns/entry on 1 thread, {dn:.2} ns/entry aggregate on {threads}"
    );
    println!(
        "masked add (rows of 56):         {a1:.3} ns/entry on 1 thread, {an:.3} ns/entry aggregate on {threads}"
    );
    for (name, n, side, c, convs) in [
        ("500 × 8×8×1, Conv-ReLU-GAP-Dense", 500.0, 8, 1, 1),
        ("20 × 32×32×3, 5 × [Conv-ReLU], GAP, Dense", 20.0, 32, 3, 5),
    ] {
        let (duals, adds) = counts(side, c, convs);
        let pairs = n * (n + 1.0) / 2.0;
        let per_pair = duals * dn + adds * an;
        println!(
            "{name}: {duals:.0} dual and {adds:.0} add entries per pair; bound {:.3} ms per pair per thread, \
             {:.2} s for {pairs} pairs on {threads} threads",
            per_pair / 1e6 * threads as f64,
            per_pair * pairs / 1e9
        );
    }
}

/// Entry operations per image pair of `convs` × [Conv 3×3 SAME stride 1,
/// ReLU], GAP, Dense on `side × side × c` images (docs/NUMERICS.md):
/// (dual evaluations, add-like entries).
fn counts(side: usize, c: usize, convs: usize) -> (f64, f64) {
    let p2 = ((side * side) as f64).powi(2);
    // A 3×3 tap (dr, dc) reads inside the image from (side−|dr|)(side−|dc|)
    // positions on each image: that many squared position pairs.
    let per_axis: f64 = [1usize, 0, 1]
        .iter()
        .map(|&d| ((side - d) as f64).powi(2))
        .sum();
    let conv_q = per_axis * per_axis;
    let mut adds = c as f64 * p2; // the input Gram matrix
    for layer in 0..convs {
        // Θ is zero before the first convolution: only q is summed there.
        adds += conv_q * if layer == 0 { 1.0 } else { 2.0 };
        adds += 3.0 * p2; // q ← s·q + b², Θ ← q + s·Θ
        adds += 3.0 * p2; // the ReLU's variance rows (2) and Θ·K̇ (1)
    }
    adds += 2.0 * p2; // GAP of q and Θ
    (convs as f64 * p2, adds)
}
