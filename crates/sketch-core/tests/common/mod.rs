//! Shared helpers: seeded data and a one-sample application.
#![allow(dead_code, unreachable_pub)]

use faer::{Mat, Par};
use rand::{Rng, SeedableRng};
use sketch_core::{Sketch, SketchExt};

pub fn vector(d: usize, seed: u64) -> Vec<f64> {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..d).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()
}

pub fn batch(d: usize, n: usize, seed: u64) -> Mat<f64> {
    let v = vector(d * n, seed);
    Mat::from_fn(d, n, |i, j| v[j * d + i])
}

/// The sketch of one vector through the batch API.
pub fn one(s: &dyn Sketch<f64>, x: &[f64]) -> Vec<f64> {
    let m = Mat::from_fn(x.len(), 1, |i, _| x[i]);
    let out = s.apply(m.as_ref(), Par::Seq).unwrap();
    (0..out.nrows()).map(|i| out[(i, 0)]).collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn norm2(a: &[f64]) -> f64 {
    dot(a, a)
}

/// `M v` for a dense matrix.
pub fn matvec(m: &Mat<f64>, v: &[f64]) -> Vec<f64> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)] * v[j]).sum())
        .collect()
}

/// The largest entrywise difference of two vectors of the same length (a
/// length mismatch, such as an empty reference, is a failure, not 0; a NaN
/// anywhere gives NaN, which fails every `<` comparison, where `f64::max`
/// would have dropped it).
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "compared vectors differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, |m: f64, d| {
            if m.is_nan() || d.is_nan() {
                f64::NAN
            } else {
                m.max(d)
            }
        })
}
