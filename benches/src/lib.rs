//! Benchmarks of the workspace (criterion; run with `cargo bench -p ntk-bench`).
//!
//! The library part holds shared fixtures: the covariance points every
//! dual-activation benchmark evaluates.

/// Deterministic covariance triples `(q_x, q_y, c)` with correlations spread
/// over `(-1, 1)` and variances over `[0.2, 5]`.
///
/// ```
/// let grid = ntk_bench::covariance_grid(100);
/// assert_eq!(grid.len(), 100);
/// // Every triple is a valid covariance: |c| < sqrt(q_x q_y).
/// assert!(grid.iter().all(|&(qx, qy, c)| qx > 0.0 && qy > 0.0 && c.abs() < (qx * qy).sqrt()));
/// ```
pub fn covariance_grid(n: usize) -> Vec<(f64, f64, f64)> {
    (0..n)
        .map(|i| {
            let t = (i as f64 + 0.5) / n as f64;
            let qx = 0.2 + 4.8 * t;
            let qy = 0.2 + 4.8 * (1.0 - t) * (1.0 - t);
            let rho = (2.0 * t - 1.0) * 0.999;
            (qx, qy, rho * (qx * qy).sqrt())
        })
        .collect()
}
