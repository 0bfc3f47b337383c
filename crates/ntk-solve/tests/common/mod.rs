//! Seeded data and a dense reference solver written independently of faer.
#![allow(dead_code, unreachable_pub, clippy::needless_range_loop)]

use faer::Mat;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Gaussian-ish entries (sum of uniforms), seeded.
pub fn random(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(rows, cols, |_, _| {
        (0..4).map(|_| rng.random::<f64>() - 0.5).sum::<f64>()
    })
}

/// Features whose Gram matrix has a decaying spectrum: columns of
/// `diag(1, 1/2, 1/3, …) · random`.
pub fn decaying(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    let r = random(rows, cols, seed);
    Mat::from_fn(rows, cols, |i, j| r[(i, j)] / (i + 1) as f64)
}

/// Gauss–Jordan with partial pivoting: solves `A X = B` densely.
pub fn gauss_jordan(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    let n = a.nrows();
    let k = b.ncols();
    let mut m: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| a[(i, j)])
                .chain((0..k).map(|j| b[(i, j)]))
                .collect()
        })
        .collect();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))
            .unwrap();
        m.swap(c, p);
        let d = m[c][c];
        for v in m[c].iter_mut() {
            *v /= d;
        }
        for r in 0..n {
            if r != c {
                let f = m[r][c];
                for j in 0..n + k {
                    m[r][j] -= f * m[c][j];
                }
            }
        }
    }
    Mat::from_fn(n, k, |i, j| m[i][n + j])
}

/// `A Aᵀ` computed by plain loops.
pub fn aat(a: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.nrows(), |i, j| {
        (0..a.ncols()).map(|t| a[(i, t)] * a[(j, t)]).sum()
    })
}

/// `A Bᵀ` by plain loops.
pub fn abt(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), b.nrows(), |i, j| {
        (0..a.ncols()).map(|t| a[(i, t)] * b[(j, t)]).sum()
    })
}

/// Largest absolute entry of `a − b`, relative to the largest of `b`.
pub fn rel_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let mut d = 0.0f64;
    let mut s = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            d = d.max((a[(i, j)] - b[(i, j)]).abs());
            s = s.max(b[(i, j)].abs());
        }
    }
    d / s.max(f64::MIN_POSITIVE)
}
