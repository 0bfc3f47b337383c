//! Streaming accumulation of the normal equations `ΦΦᵀ` and `ΦYᵀ`.

use crate::check;
use crate::error::Result;
use crate::spd::{Eigen, SolveInfo, solve_spd};
use faer::linalg::matmul::triangular::BlockStructure;
use faer::linalg::matmul::{matmul, triangular};
use faer::{Accum, Mat, MatRef, Par};

/// A feature or target element type: `f32` or `f64`, accumulated in `f64`.
pub trait Element: Copy + Into<f64> + Send + Sync + 'static + sealed::Sealed {}
impl Element for f32 {}
impl Element for f64 {}
mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// Sums `G = Σ_b Φ_b Φ_bᵀ` (`m × m`) and `B = Σ_b Φ_b Y_bᵀ` (`m × k`) over
/// blocks of samples, in `f64`, so the feature matrix never has to be in
/// memory at once.
///
/// Layout: one sample per column. A block is `Φ_b: (m, b)` with targets
/// `Y_b: (k, b)`.
///
/// The accumulator is a mergeable value: accumulating shards separately and
/// [`merge`](Self::merge)-ing them equals accumulating their union (up to
/// the order of floating-point additions).
///
/// Cost per block: `m²b` multiply-adds for the lower triangle of `G` (a
/// symmetric rank-`b` update) and `mkb` for `B`.
#[derive(Debug, Clone, PartialEq)]
pub struct GramAccumulator {
    gram: Mat<f64>,
    cross: Mat<f64>,
    n: usize,
}

impl GramAccumulator {
    /// An empty accumulator for `dim` features and `outputs` targets.
    ///
    /// # Errors
    /// [`SolveError::Empty`](crate::SolveError::Empty) for a zero dimension.
    pub fn new(dim: usize, outputs: usize) -> Result<Self> {
        check::non_empty("feature dimension", dim)?;
        check::non_empty("number of outputs", outputs)?;
        Ok(Self {
            gram: Mat::zeros(dim, dim),
            cross: Mat::zeros(dim, outputs),
            n: 0,
        })
    }

    /// The accumulator of sums computed elsewhere: `gram` the symmetric
    /// `ΦΦᵀ` (`m × m`, its lower triangle is read), `cross` `ΦYᵀ` (`m × k`),
    /// over `samples` samples (for example from a
    /// [`FixedGram`](crate::FixedGram)).
    ///
    /// # Errors
    /// Empty or mismatched shapes; non-finite entries.
    pub fn from_sums(gram: Mat<f64>, cross: Mat<f64>, samples: usize) -> Result<Self> {
        check::square("accumulated Gram", gram.as_ref())?;
        check::non_empty("number of outputs", cross.ncols())?;
        check::same("rows of the right-hand side", gram.nrows(), cross.nrows())?;
        check::finite("accumulated Gram", gram.as_ref())?;
        check::finite("accumulated right-hand side", cross.as_ref())?;
        Ok(Self {
            gram,
            cross,
            n: samples,
        })
    }

    /// Feature dimension `m`.
    pub fn dim(&self) -> usize {
        self.gram.nrows()
    }
    /// Number of outputs `k`.
    pub fn outputs(&self) -> usize {
        self.cross.ncols()
    }
    /// Samples accumulated so far.
    pub fn samples(&self) -> usize {
        self.n
    }

    /// Adds a block of samples.
    ///
    /// # Errors
    /// [`SolveError::ShapeMismatch`](crate::SolveError::ShapeMismatch) unless `phi` has `dim` rows, `y` has
    /// `outputs` rows and both have the same number of columns;
    /// [`SolveError::NonFinite`](crate::SolveError::NonFinite) for NaN or infinite entries (checked before
    /// anything is added, so a failed call leaves the accumulator unchanged).
    pub fn add_block<T: Element>(
        &mut self,
        phi: MatRef<'_, T>,
        y: MatRef<'_, T>,
        par: Par,
    ) -> Result<()> {
        check::same("feature rows of the block", self.dim(), phi.nrows())?;
        check::same("target rows of the block", self.outputs(), y.nrows())?;
        check::same("samples in targets vs features", phi.ncols(), y.ncols())?;
        check::finite("feature block", phi)?;
        check::finite("target block", y)?;
        if phi.ncols() == 0 {
            return Ok(());
        }
        // f32 blocks are widened once (O(mb), negligible next to the O(m²b) update).
        let phi64 = to_f64(phi);
        let y64 = to_f64(y);
        triangular::matmul(
            self.gram.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            phi64.as_ref(),
            BlockStructure::Rectangular,
            phi64.transpose(),
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        matmul(
            self.cross.as_mut(),
            Accum::Add,
            phi64.as_ref(),
            y64.transpose(),
            1.0,
            par,
        );
        self.n += phi.ncols();
        Ok(())
    }

    /// Adds another accumulator's sums (shards of one dataset).
    ///
    /// # Errors
    /// [`SolveError::ShapeMismatch`](crate::SolveError::ShapeMismatch) for different dimensions or outputs.
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        check::same(
            "feature dimension of merged accumulator",
            self.dim(),
            other.dim(),
        )?;
        check::same(
            "outputs of merged accumulator",
            self.outputs(),
            other.outputs(),
        )?;
        for j in 0..self.dim() {
            for i in j..self.dim() {
                self.gram[(i, j)] += other.gram[(i, j)];
            }
        }
        self.cross += &other.cross;
        self.n += other.n;
        Ok(())
    }

    /// The full symmetric `G = ΦΦᵀ`.
    pub fn gram(&self) -> Mat<f64> {
        let m = self.dim();
        Mat::from_fn(m, m, |i, j| {
            if i >= j {
                self.gram[(i, j)]
            } else {
                self.gram[(j, i)]
            }
        })
    }

    /// `B = ΦYᵀ` (`m × k`).
    pub fn cross(&self) -> MatRef<'_, f64> {
        self.cross.as_ref()
    }

    /// Ridge weights `W = (G + λI)⁻¹ B` (`m × k`); predictions are `Wᵀ Φ`.
    ///
    /// # Errors
    /// [`SolveError::Empty`](crate::SolveError::Empty) before any sample; λ checks; the errors of
    /// [`solve_spd`] (a singular system with `λ = 0` carries its eigenvalues).
    pub fn solve(&self, lambda: f64) -> Result<(Mat<f64>, SolveInfo)> {
        check::non_empty("accumulated samples", self.n)?;
        solve_spd(self.gram.as_ref(), lambda, self.cross.as_ref())
    }

    /// One eigendecomposition of `G` for a whole grid of `λ`.
    ///
    /// # Errors
    /// [`SolveError::Empty`](crate::SolveError::Empty) before any sample; [`SolveError::EigenNoConvergence`](crate::SolveError::EigenNoConvergence).
    pub fn path(&self) -> Result<RidgePath> {
        check::non_empty("accumulated samples", self.n)?;
        let eigen = Eigen::new(self.gram.as_ref())?;
        let projected = eigen.project(self.cross.as_ref())?;
        Ok(RidgePath { eigen, projected })
    }
}

fn to_f64<T: Element>(m: MatRef<'_, T>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].into())
}

/// Primal ridge for many `λ` at the cost of one eigendecomposition
/// `G = U S Uᵀ`: `W(λ) = U (S + λI)⁻¹ Uᵀ B`, `O(m²k)` per `λ`; predictions on
/// a validation block cost `O(mk·n_val)` per `λ` after one projection.
#[derive(Debug, Clone)]
pub struct RidgePath {
    eigen: Eigen,
    projected: Mat<f64>,
}

impl RidgePath {
    /// The weights for one `λ`, equal to [`GramAccumulator::solve`] up to rounding.
    ///
    /// # Errors
    /// λ checks; [`SolveError::Singular`](crate::SolveError::Singular).
    pub fn solve(&self, lambda: f64) -> Result<(Mat<f64>, SolveInfo)> {
        self.eigen.solve_projected(lambda, self.projected.as_ref())
    }

    /// Eigenvalues of `G`, ascending.
    pub fn eigenvalues(&self) -> &[f64] {
        self.eigen.eigenvalues()
    }

    /// Projects validation features `Φ_val: (m, n_val)` once, for [`Self::predict_projected`].
    ///
    /// # Errors
    /// Shape and non-finite checks.
    pub fn project<T: Element>(&self, phi: MatRef<'_, T>) -> Result<Mat<f64>> {
        check::finite("validation features", phi)?;
        let phi64 = to_f64(phi);
        self.eigen.project(phi64.as_ref())
    }

    /// Predictions `W(λ)ᵀ Φ_val` (`k × n_val`) from `P = Uᵀ Φ_val`.
    ///
    /// # Errors
    /// λ checks, shape checks, [`SolveError::Singular`](crate::SolveError::Singular).
    pub fn predict_projected(&self, lambda: f64, p: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check::same(
            "rows of projected features",
            self.eigenvalues().len(),
            p.nrows(),
        )?;
        let (inv, _) = self.eigen.inverse_shifted(lambda)?;
        let c = &self.projected;
        let scaled = Mat::from_fn(c.nrows(), c.ncols(), |i, j| c[(i, j)] * inv[i]);
        Ok(scaled.transpose() * p)
    }
}

/// Predictions `Wᵀ Φ` (`k × n`) of ridge weights `W: (m, k)` on features `Φ: (m, n)`.
///
/// # Errors
/// Shape and non-finite checks.
pub fn predict<T: Element>(w: MatRef<'_, f64>, phi: MatRef<'_, T>) -> Result<Mat<f64>> {
    check::same("feature rows", w.nrows(), phi.nrows())?;
    check::finite("features", phi)?;
    Ok(w.transpose() * to_f64(phi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SolveError;

    #[test]
    fn merge_rejects_mismatched_shapes() {
        let mut a = GramAccumulator::new(3, 2).unwrap();
        let b = GramAccumulator::new(4, 2).unwrap();
        assert!(matches!(a.merge(&b), Err(SolveError::ShapeMismatch { .. })));
    }
}
