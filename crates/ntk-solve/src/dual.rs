//! Ridge on the Gram matrix of explicit features, `K = ΦᵀΦ`: the dual side
//! of feature ridge, for fewer samples than features.
//!
//! The samples are ordered fitting part first, validation part last, so
//! that the fitting block and the cross block are views of one kernel and
//! the final fit on every sample can extend the chosen candidate's
//! Cholesky factor instead of factoring `n × n` again.
//!
//! `K̂` is computed, so it is within a known distance of the exactly
//! positive semidefinite `ΦᵀΦ`; that distance and the trace bound the
//! condition number of `K̂ + λI` from above without any iteration
//! ([`DualRidge::condition_bound`]). Where the bound is within
//! [`COND_LIMIT`] a Cholesky factorisation in a reused buffer is safe;
//! elsewhere the general [`solve_spd`] (estimate, then eigendecomposition
//! if ill-conditioned) takes over, as for any kernel.

use crate::check;
use crate::error::{Result, SolveError};
use crate::kernel::KernelRidge;
use crate::metrics::{Metric, Truth};
use crate::select::{Selection, pick};
use crate::spd::{COND_LIMIT, solve_spd};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{BlockStructure, matmul as triangular_matmul};
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Kernel ridge on `K = ΦᵀΦ` of features `Φ: (D, n)` whose first `n_fit`
/// columns are the fitting part and the rest the validation part.
#[derive(Debug, Clone)]
pub struct DualRidge {
    /// `ΦᵀΦ`, lower triangle (the strict upper triangle is zero).
    k: Mat<f64>,
    n_fit: usize,
    /// `Σ K̂_ii` as computed.
    trace: f64,
    /// A bound on `‖K̂ − ΦᵀΦ‖₂` (see [`DualRidge::new`]).
    error: f64,
    /// The factor of the fitting block for the λ [`DualRidge::select`] chose.
    kept: Option<(f64, Mat<f64>)>,
}

impl DualRidge {
    /// `K̂ = ΦᵀΦ` (its lower triangle, `n²D` flops).
    ///
    /// Every entry is a sum of `D` products, so (any summation order, with
    /// or without fused multiply-adds) `|K̂_ij − K_ij| ≤ γ_D Σ_d |φ_di φ_dj|`
    /// with `γ_D = Du/(1 − Du)`, `u = 2⁻⁵³`; by Cauchy–Schwarz the error
    /// matrix has Frobenius norm at most `γ_D Σ_i ‖φ_i‖² = γ_D tr K`. The
    /// bound kept is `4γ_m tr K̂` with `m = max(D, n)`: twice that, plus the
    /// rounding of the trace itself (`n` additions) and of `tr K̂` against
    /// `tr K`.
    ///
    /// # Errors
    /// Empty shapes, `n_fit` outside `1..=n`, non-finite features or a
    /// Gram matrix that overflows.
    pub fn new(phi: MatRef<'_, f64>, n_fit: usize, par: Par) -> Result<Self> {
        let (d, n) = (phi.nrows(), phi.ncols());
        check::non_empty("feature dimension", d)?;
        check::non_empty("samples", n)?;
        if n_fit == 0 || n_fit > n {
            return Err(SolveError::InvalidParameter {
                what: "fitting samples",
                value: n_fit as f64,
                reason: "must be in 1..=n",
            });
        }
        check::finite("features", phi)?;
        let mut k = Mat::<f64>::zeros(n, n);
        triangular_matmul(
            k.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            phi.transpose(),
            BlockStructure::Rectangular,
            phi,
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        let trace: f64 = (0..n).map(|i| k[(i, i)]).sum();
        if !trace.is_finite() {
            let worst = (0..n).find(|&i| !k[(i, i)].is_finite()).unwrap_or(0);
            return Err(SolveError::NonFinite {
                what: "Gram matrix of the features",
                row: worst,
                col: worst,
            });
        }
        let m = d.max(n) as f64 * (f64::EPSILON / 2.0);
        let error = 4.0 * m / (1.0 - m) * trace;
        Ok(Self {
            k,
            n_fit,
            trace,
            error,
            kept: None,
        })
    }

    /// Number of samples `n`.
    pub fn samples(&self) -> usize {
        self.k.nrows()
    }

    /// The kernel `K̂` (lower triangle; the strict upper triangle is zero).
    pub fn kernel(&self) -> MatRef<'_, f64> {
        self.k.as_ref()
    }

    /// The fitting block `K̂[fit, fit]` (lower triangle).
    pub fn fitting_block(&self) -> MatRef<'_, f64> {
        self.k.as_ref().submatrix(0, 0, self.n_fit, self.n_fit)
    }

    /// The cross block `K̂[fit, validation]`, `(n_fit, n − n_fit)`.
    pub fn cross_block(&self) -> MatRef<'_, f64> {
        let n = self.samples();
        self.k
            .as_ref()
            .submatrix(self.n_fit, 0, n - self.n_fit, self.n_fit)
            .transpose()
    }

    /// An upper bound on the 2-norm condition number of `K̂ + λI` (and of
    /// any principal block of it): the exact `ΦᵀΦ` has its eigenvalues in
    /// `[0, tr K]` and `K̂` is within `e` of it, so they lie in
    /// `[−e, tr K̂ + 2e]`. Infinite when `λ ≤ e`.
    pub fn condition_bound(&self, lambda: f64) -> f64 {
        if lambda <= self.error {
            return f64::INFINITY;
        }
        (self.trace + 2.0 * self.error + lambda) / (lambda - self.error)
    }

    /// Scores every `λ` of the grid by validation: for each, the Cholesky
    /// factor of the fitting block `K̂_ff + λI` in one reused buffer
    /// (`n_fit³/3` flops), the validation predictions `K̂_vf A`, their
    /// score. The best candidate's factor is kept for [`DualRidge::solve`].
    /// A `λ` whose [`condition_bound`](Self::condition_bound) exceeds
    /// [`COND_LIMIT`], or whose factorisation fails, is scored through
    /// [`KernelRidge::fit`] (its estimate and, if ill-conditioned, the
    /// eigendecomposition), as for any kernel.
    ///
    /// # Errors
    /// Grid and shape checks, no validation part, non-finite targets,
    /// metric errors, the errors of [`KernelRidge::fit`].
    pub fn select(
        &mut self,
        y_fit: MatRef<'_, f64>,
        truth: Truth<'_>,
        lambdas: &[f64],
        metric: Metric,
        par: Par,
    ) -> Result<Selection> {
        check::non_empty("lambda grid", lambdas.len())?;
        lambdas.iter().try_for_each(|&l| check::lambda(l))?;
        check::same("samples in targets", self.n_fit, y_fit.ncols())?;
        check::non_empty("outputs", y_fit.nrows())?;
        check::non_empty("validation samples", self.samples() - self.n_fit)?;
        check::finite("targets", y_fit)?;
        self.kept = None;
        let nf = self.n_fit;
        let mut buf = Mat::<f64>::zeros(0, 0);
        let mut best: Option<(f64, Mat<f64>)> = None;
        let mut scores = Vec::with_capacity(lambdas.len());
        for &l in lambdas {
            let factored = self.condition_bound(l) <= COND_LIMIT && {
                if buf.nrows() != nf {
                    buf = Mat::zeros(nf, nf);
                }
                shifted_factor(buf.as_mut(), self.fitting_block(), l, par).is_ok()
            };
            let pred = if factored {
                let mut a = y_fit.transpose().to_owned();
                cholesky_solve(buf.as_ref(), a.as_mut(), par);
                // Validation predictions (k, n_val) = Aᵀ K̂_fv = (K̂_vf A)ᵀ.
                let mut p = Mat::<f64>::zeros(self.samples() - nf, a.ncols());
                matmul(
                    p.as_mut(),
                    Accum::Replace,
                    self.cross_block().transpose(),
                    a.as_ref(),
                    1.0,
                    par,
                );
                p.transpose().to_owned()
            } else {
                KernelRidge::fit(self.fitting_block(), y_fit, l)?.predict(self.cross_block())?
            };
            scores.push((l, metric.score(pred.as_ref(), truth)?));
            if factored && pick(metric, scores.clone())?.lambda.to_bits() == l.to_bits() {
                let spare = best
                    .take()
                    .map(|(_, m)| m)
                    .unwrap_or_else(|| Mat::zeros(0, 0));
                best = Some((l, core::mem::replace(&mut buf, spare)));
            }
        }
        let sel = pick(metric, scores)?;
        self.kept = best.filter(|(l, _)| l.to_bits() == sel.lambda.to_bits());
        Ok(sel)
    }

    /// The dual coefficients `A = (K̂ + λI)⁻¹ Yᵀ` on every sample (`n × k`,
    /// from targets `Y: (k, n)`). After [`select`](Self::select) chose this
    /// `λ`, the factor extends the kept one of the fitting block:
    /// `L₂₁ = K̂_vf L₁₁⁻ᵀ` (a triangular solve) and `L₂₂` the Cholesky
    /// factor of the Schur complement `K̂_vv + λI − L₂₁L₂₁ᵀ`: for a 20 %
    /// validation part `n_f²n_v + n_v²n_f + n_v³/3` flops, about half of
    /// the `n³/3` of a factorisation from scratch. Otherwise
    /// the whole `K̂ + λI` is factored; beyond [`COND_LIMIT`] (by the bound)
    /// or on a failed factorisation, [`solve_spd`] solves it.
    ///
    /// # Errors
    /// Shape, λ and non-finite checks; the errors of [`solve_spd`].
    pub fn solve(&mut self, y: MatRef<'_, f64>, lambda: f64, par: Par) -> Result<Mat<f64>> {
        check::lambda(lambda)?;
        check::same("samples in targets", self.samples(), y.ncols())?;
        check::non_empty("outputs", y.nrows())?;
        check::finite("targets", y)?;
        // The kept factor serves this λ only; dropped otherwise, so that
        // it does not sit beside a whole new factorisation.
        let kept = self
            .kept
            .take()
            .filter(|(l, _)| l.to_bits() == lambda.to_bits());
        if self.condition_bound(lambda) <= COND_LIMIT {
            let n = self.samples();
            let mut f = Mat::<f64>::zeros(n, n);
            let done = match kept {
                Some((_, l11)) => self.extend(f.as_mut(), l11.as_ref(), lambda, par),
                None => shifted_factor(f.as_mut(), self.k.as_ref(), lambda, par).is_ok(),
            };
            if done {
                let mut a = y.transpose().to_owned();
                cholesky_solve(f.as_ref(), a.as_mut(), par);
                return Ok(a);
            }
        }
        Ok(solve_spd(self.k.as_ref(), lambda, y.transpose())?.0)
    }

    /// Writes into `f` (`n × n`) the factor of `K̂ + λI` whose leading
    /// block is `l11`; `false` if the Schur complement is not positive
    /// definite in floating point.
    fn extend(&self, mut f: MatMut<'_, f64>, l11: MatRef<'_, f64>, lambda: f64, par: Par) -> bool {
        let (n, nf) = (self.samples(), self.n_fit);
        let nv = n - nf;
        for j in 0..nf {
            for i in j..nf {
                f[(i, j)] = l11[(i, j)];
            }
        }
        let k = self.k.as_ref();
        f.rb_mut()
            .submatrix_mut(nf, 0, nv, nf)
            .copy_from(k.submatrix(nf, 0, nv, nf));
        // L₂₁ L₁₁ᵀ = K̂_vf, i.e. L₁₁ L₂₁ᵀ = K̂_fv.
        let (top, bottom) = f.rb_mut().split_at_row_mut(nf);
        let (mut l21, mut f22) = bottom.split_at_col_mut(nf);
        solve_lower_triangular_in_place(
            top.rb().submatrix(0, 0, nf, nf),
            l21.rb_mut().transpose_mut(),
            par,
        );
        for j in 0..nv {
            for i in j..nv {
                f22[(i, j)] = k[(nf + i, nf + j)] + if i == j { lambda } else { 0.0 };
            }
        }
        triangular_matmul(
            f22.rb_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            l21.rb(),
            BlockStructure::Rectangular,
            l21.rb().transpose(),
            BlockStructure::Rectangular,
            -1.0,
            par,
        );
        factor_in_place(f22, par).is_ok()
    }
}

/// The Cholesky factor of `a + λI` (lower triangle of `a` read) written
/// into the lower triangle of `dst`.
fn shifted_factor(
    mut dst: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    lambda: f64,
    par: Par,
) -> core::result::Result<(), llt::factor::LltError> {
    let n = a.nrows();
    for j in 0..n {
        for i in j..n {
            dst[(i, j)] = a[(i, j)] + if i == j { lambda } else { 0.0 };
        }
    }
    factor_in_place(dst, par)
}

fn factor_in_place(
    a: MatMut<'_, f64>,
    par: Par,
) -> core::result::Result<(), llt::factor::LltError> {
    let n = a.nrows();
    let mut mem = MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f64>(
        n,
        par,
        Default::default(),
    ));
    llt::factor::cholesky_in_place(
        a,
        Default::default(),
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map(|_| ())
}

/// `(LLᵀ)⁻¹ b` in place, `L` the lower triangle of `l`.
fn cholesky_solve(l: MatRef<'_, f64>, b: MatMut<'_, f64>, par: Par) {
    let mut mem = MemBuffer::new(llt::solve::solve_in_place_scratch::<f64>(
        l.nrows(),
        b.ncols(),
        par,
    ));
    llt::solve::solve_in_place(l, b, par, MemStack::new(&mut mem));
}
