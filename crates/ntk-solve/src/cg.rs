//! Matrix-free (preconditioned) conjugate gradients for systems too large to
//! factor, with operators for shifted kernel matrices and feature Gram
//! matrices, and Jacobi and Nyström preconditioners.

use crate::check;
use crate::error::{Result, SolveError};
use crate::gram::Element;
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};
use rand::SeedableRng;

/// A symmetric positive definite linear map `x ↦ Ax` on `R^dim`.
pub trait LinearOperator: Sync {
    /// The dimension.
    fn dim(&self) -> usize;
    /// Writes `A x` into `out` (both of length `dim`).
    fn apply(&self, x: &[f64], out: &mut [f64]);
}

/// An approximate inverse `r ↦ P⁻¹ r`, symmetric positive definite.
pub trait Preconditioner: Sync {
    /// The dimension.
    fn dim(&self) -> usize;
    /// Writes `P⁻¹ r` into `out`.
    fn apply(&self, r: &[f64], out: &mut [f64]);
}

/// `(A + λI)` for a dense symmetric matrix `A` (both triangles read).
#[derive(Debug, Clone, Copy)]
pub struct ShiftedMatrix<'a> {
    a: MatRef<'a, f64>,
    lambda: f64,
}

impl<'a> ShiftedMatrix<'a> {
    /// Wraps `A` and `λ`.
    ///
    /// # Errors
    /// Shape, non-finite and λ checks.
    pub fn new(a: MatRef<'a, f64>, lambda: f64) -> Result<Self> {
        check::square("matrix A", a)?;
        check::finite("matrix A", a)?;
        check::lambda(lambda)?;
        Ok(Self { a, lambda })
    }
}

impl LinearOperator for ShiftedMatrix<'_> {
    fn dim(&self) -> usize {
        self.a.nrows()
    }
    fn apply(&self, x: &[f64], out: &mut [f64]) {
        let xv = MatRef::from_column_major_slice(x, x.len(), 1);
        let y = self.a * xv;
        for (i, o) in out.iter_mut().enumerate() {
            *o = y[(i, 0)] + self.lambda * x[i];
        }
    }
}

/// Which Gram matrix of features `Φ: (m, n)` an operator applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GramForm {
    /// `ΦΦᵀ + λI` on `R^m` (primal ridge).
    Primal,
    /// `ΦᵀΦ + λI` on `R^n` (dual / kernel ridge with the linear kernel of the features).
    Dual,
}

/// The Gram matrix of features, applied without forming it: two passes over
/// `Φ` per product, `f64` accumulation for `f32` features.
#[derive(Debug, Clone, Copy)]
pub struct FeatureGram<'a, T: Element> {
    phi: MatRef<'a, T>,
    lambda: f64,
    form: GramForm,
}

impl<'a, T: Element> FeatureGram<'a, T> {
    /// Wraps features `Φ: (m, n)` (one sample per column).
    ///
    /// # Errors
    /// Emptiness, non-finite and λ checks.
    pub fn new(phi: MatRef<'a, T>, lambda: f64, form: GramForm) -> Result<Self> {
        check::non_empty("feature rows", phi.nrows())?;
        check::non_empty("samples", phi.ncols())?;
        check::finite("features", phi)?;
        check::lambda(lambda)?;
        Ok(Self { phi, lambda, form })
    }
}

impl<T: Element> LinearOperator for FeatureGram<'_, T> {
    fn dim(&self) -> usize {
        match self.form {
            GramForm::Primal => self.phi.nrows(),
            GramForm::Dual => self.phi.ncols(),
        }
    }
    fn apply(&self, x: &[f64], out: &mut [f64]) {
        let (m, n) = (self.phi.nrows(), self.phi.ncols());
        let col_dot =
            |j: usize, v: &[f64]| -> f64 { (0..m).map(|i| self.phi[(i, j)].into() * v[i]).sum() };
        match self.form {
            GramForm::Primal => {
                out.iter_mut()
                    .zip(x)
                    .for_each(|(o, xi)| *o = self.lambda * xi);
                for j in 0..n {
                    let t = col_dot(j, x);
                    for (i, o) in out.iter_mut().enumerate() {
                        *o += t * self.phi[(i, j)].into();
                    }
                }
            }
            GramForm::Dual => {
                let mut v = vec![0.0; m];
                for (j, xj) in x.iter().enumerate() {
                    for (i, vi) in v.iter_mut().enumerate() {
                        *vi += self.phi[(i, j)].into() * xj;
                    }
                }
                for (j, o) in out.iter_mut().enumerate() {
                    *o = col_dot(j, &v) + self.lambda * x[j];
                }
            }
        }
    }
}

/// The diagonal (Jacobi) preconditioner `P = diag(A)`.
#[derive(Debug, Clone)]
pub struct Jacobi {
    inv: Vec<f64>,
}

impl Jacobi {
    /// From the diagonal of the operator.
    ///
    /// # Errors
    /// [`SolveError::InvalidParameter`] for a non-positive or non-finite entry.
    pub fn new(diagonal: &[f64]) -> Result<Self> {
        check::non_empty("diagonal", diagonal.len())?;
        if let Some(&d) = diagonal.iter().find(|d| !(d.is_finite() && **d > 0.0)) {
            return Err(SolveError::InvalidParameter {
                what: "diagonal entry",
                value: d,
                reason: "must be finite and > 0",
            });
        }
        Ok(Self {
            inv: diagonal.iter().map(|d| 1.0 / d).collect(),
        })
    }
}

impl Preconditioner for Jacobi {
    fn dim(&self) -> usize {
        self.inv.len()
    }
    fn apply(&self, r: &[f64], out: &mut [f64]) {
        out.iter_mut()
            .zip(r)
            .zip(&self.inv)
            .for_each(|((o, r), d)| *o = r * d);
    }
}

/// Nyström preconditioner for `K + λI`: with `r` landmark columns `S` drawn
/// from a seeded ChaCha stream, `P = C W⁺ Cᵀ + λI` with `C = K[:, S]`,
/// `W = K[S, S]`, applied by the Woodbury identity
/// `P⁻¹ v = (v − C (λW + CᵀC)⁻¹ Cᵀ v)/λ` in `O(nr)` per product.
#[derive(Debug, Clone)]
pub struct Nystrom {
    c: Mat<f64>,
    inner: faer::linalg::solvers::Llt<f64>,
    lambda: f64,
}

impl Nystrom {
    /// Builds the preconditioner from `rank` landmarks.
    ///
    /// # Errors
    /// Shape and non-finite checks; [`SolveError::InvalidParameter`] unless
    /// `λ > 0` and `1 ≤ rank ≤ n`; [`SolveError::NotPositiveSemidefinite`]
    /// if the small inner matrix cannot be factored even with a jitter.
    pub fn new(k: MatRef<'_, f64>, lambda: f64, rank: usize, seed: u64) -> Result<Self> {
        check::square("kernel matrix", k)?;
        check::finite("kernel matrix", k)?;
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(SolveError::InvalidParameter {
                what: "lambda",
                value: lambda,
                reason: "the Nyström preconditioner needs lambda > 0",
            });
        }
        let n = k.nrows();
        if rank == 0 || rank > n {
            return Err(SolveError::InvalidParameter {
                what: "rank",
                value: rank as f64,
                reason: "must be in 1..=n",
            });
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut landmarks = rand::seq::index::sample(&mut rng, n, rank).into_vec();
        landmarks.sort_unstable();
        let c = Mat::from_fn(n, rank, |i, j| k[(i, landmarks[j])]);
        let w = Mat::from_fn(rank, rank, |i, j| k[(landmarks[i], landmarks[j])]);
        let ctc = c.transpose() * &c;
        let mut inner = Mat::from_fn(rank, rank, |i, j| lambda * w[(i, j)] + ctc[(i, j)]);
        let scale = (0..rank).map(|i| inner[(i, i)].abs()).fold(0.0, f64::max);
        let mut jitter = 0.0;
        for _ in 0..8 {
            if let Ok(llt) = inner.llt(Side::Lower) {
                return Ok(Self {
                    c,
                    inner: llt,
                    lambda,
                });
            }
            // Rounding can make λW + CᵀC numerically indefinite; a jitter of
            // 1e-14..1e-7 of its scale restores definiteness without changing
            // the preconditioner's quality.
            jitter = if jitter == 0.0 {
                1e-14 * scale
            } else {
                jitter * 10.0
            };
            for i in 0..rank {
                inner[(i, i)] += jitter;
            }
        }
        Err(SolveError::NotPositiveSemidefinite {
            smallest_eigenvalue: f64::NAN,
            largest_eigenvalue: scale,
        })
    }
}

impl Preconditioner for Nystrom {
    fn dim(&self) -> usize {
        self.c.nrows()
    }
    fn apply(&self, r: &[f64], out: &mut [f64]) {
        let rv = MatRef::from_column_major_slice(r, r.len(), 1);
        let t = self.c.transpose() * rv;
        let z = self.inner.solve(&t);
        let cz = &self.c * &z;
        for (i, o) in out.iter_mut().enumerate() {
            *o = (r[i] - cz[(i, 0)]) / self.lambda;
        }
    }
}

/// Stopping rules of [`conjugate_gradient`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgParams {
    /// Stop when `‖b − Ax‖ ≤ rel_tol·‖b‖` (per right-hand side).
    pub rel_tol: f64,
    /// Give up after this many iterations.
    pub max_iters: usize,
}

impl Default for CgParams {
    fn default() -> Self {
        Self {
            rel_tol: 1e-10,
            max_iters: 1000,
        }
    }
}

/// Convergence record of one right-hand side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgInfo {
    /// Iterations run.
    pub iterations: usize,
    /// `‖b − Ax‖/‖b‖` recomputed from the returned solution.
    pub rel_residual: f64,
}

/// Solves `A X = B` (`B: (dim, k)`) column by column by (preconditioned)
/// conjugate gradients from `X = 0`.
///
/// # Errors
/// Shape and non-finite checks; [`SolveError::InvalidParameter`] for a
/// non-positive tolerance; [`SolveError::NotConverged`] with the worst
/// column's residual when `max_iters` is not enough.
pub fn conjugate_gradient(
    op: &dyn LinearOperator,
    precond: Option<&dyn Preconditioner>,
    b: MatRef<'_, f64>,
    params: CgParams,
) -> Result<(Mat<f64>, Vec<CgInfo>)> {
    let n = op.dim();
    check::same("rows of the right-hand side", n, b.nrows())?;
    check::finite("right-hand side", b)?;
    if let Some(p) = precond {
        check::same("preconditioner dimension", n, p.dim())?;
    }
    if !(params.rel_tol.is_finite() && params.rel_tol > 0.0) {
        return Err(SolveError::InvalidParameter {
            what: "rel_tol",
            value: params.rel_tol,
            reason: "must be finite and > 0",
        });
    }
    let mut x_all = Mat::zeros(n, b.ncols());
    let mut infos = Vec::with_capacity(b.ncols());
    let dot = |a: &[f64], c: &[f64]| a.iter().zip(c).map(|(x, y)| x * y).sum::<f64>();
    let (mut x, mut r, mut z, mut p, mut ap) = (
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    );
    for col in 0..b.ncols() {
        let rhs: Vec<f64> = (0..n).map(|i| b[(i, col)]).collect();
        let bnorm = dot(&rhs, &rhs).sqrt();
        x.iter_mut().for_each(|v| *v = 0.0);
        if bnorm == 0.0 {
            infos.push(CgInfo {
                iterations: 0,
                rel_residual: 0.0,
            });
            continue;
        }
        r.copy_from_slice(&rhs);
        let precondition = |r: &[f64], z: &mut [f64]| match precond {
            Some(pc) => pc.apply(r, z),
            None => z.copy_from_slice(r),
        };
        precondition(&r, &mut z);
        p.copy_from_slice(&z);
        let mut rz = dot(&r, &z);
        let mut iters = 0;
        while iters < params.max_iters && dot(&r, &r).sqrt() > params.rel_tol * bnorm {
            op.apply(&p, &mut ap);
            let pap = dot(&p, &ap);
            if pap.is_nan() || pap <= 0.0 {
                return Err(SolveError::NotPositiveSemidefinite {
                    smallest_eigenvalue: pap,
                    largest_eigenvalue: f64::NAN,
                });
            }
            let alpha = rz / pap;
            x.iter_mut().zip(&p).for_each(|(xi, pi)| *xi += alpha * pi);
            r.iter_mut()
                .zip(&ap)
                .for_each(|(ri, api)| *ri -= alpha * api);
            precondition(&r, &mut z);
            let rz_new = dot(&r, &z);
            let beta = rz_new / rz;
            rz = rz_new;
            p.iter_mut()
                .zip(&z)
                .for_each(|(pi, zi)| *pi = zi + beta * *pi);
            iters += 1;
        }
        // The recursively updated residual drifts; report the true one.
        op.apply(&x, &mut ap);
        let true_res = rhs
            .iter()
            .zip(&ap)
            .map(|(b, a)| (b - a).powi(2))
            .sum::<f64>()
            .sqrt()
            / bnorm;
        if true_res > params.rel_tol * 10.0 {
            return Err(SolveError::NotConverged {
                iterations: iters,
                rel_residual: true_res,
            });
        }
        for (i, v) in x.iter().enumerate() {
            x_all[(i, col)] = *v;
        }
        infos.push(CgInfo {
            iterations: iters,
            rel_residual: true_res,
        });
    }
    Ok((x_all, infos))
}
