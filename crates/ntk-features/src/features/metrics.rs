//! How far features are from a kernel.

use crate::error::{FeatureError, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use sketch_core::Real;

/// `‖Z Zᵀ − K‖_F / ‖K‖_F` for features `z: (D, n)` against a kernel `n × n`.
///
/// # Errors
/// [`FeatureError::DimMismatch`] when the sizes disagree;
/// [`FeatureError::Empty`] for a zero kernel.
pub fn gram_error<T: Real>(z: MatRef<'_, T>, k: MatRef<'_, f64>) -> Result<f64> {
    let n = z.ncols();
    if k.nrows() != n || k.ncols() != n {
        return Err(FeatureError::DimMismatch {
            what: "kernel size (samples of the features)",
            expected: n,
            got: k.nrows(),
        });
    }
    let z64 = Mat::<f64>::from_fn(z.nrows(), n, |i, j| z[(i, j)].as_f64());
    let mut g = Mat::<f64>::zeros(n, n);
    matmul(
        g.as_mut(),
        Accum::Replace,
        z64.transpose(),
        z64.as_ref(),
        1.0,
        Par::Seq,
    );
    let (mut num, mut den) = (0.0, 0.0);
    for j in 0..n {
        for i in 0..n {
            num += (g[(i, j)] - k[(i, j)]).powi(2);
            den += k[(i, j)].powi(2);
        }
    }
    if den == 0.0 {
        return Err(FeatureError::Empty {
            what: "kernel (all zeros)",
        });
    }
    Ok((num / den).sqrt())
}
