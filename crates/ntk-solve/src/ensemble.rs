//! Predictions of the infinite ensemble of infinitely wide networks trained
//! by gradient descent on the MSE, at any training time: neural-tangents'
//! `predict.gradient_descent_mse_ensemble`, from one eigendecomposition of
//! the training kernel.

use crate::check;
use crate::error::{Result, SolveError};
use crate::kernel::lambda_from_trace;
use crate::spd::Eigen;
use faer::{Mat, MatRef};

/// How the diagonal regularizer is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiagReg {
    /// Added to the diagonal as given (neural-tangents'
    /// `diag_reg_absolute_scale=True`; `KernelRidge`'s `λ`).
    Absolute(f64),
    /// Times the mean of the training kernel's diagonal, `tr(K)/n`
    /// (neural-tangents' default, `diag_reg_absolute_scale=False`).
    Relative(f64),
}

/// The Gaussian of the outputs of an infinite ensemble trained on
/// `(X, Y)` by gradient flow on `½‖f(X) − Y‖²/N` (`N = n·k` target values)
/// with learning rate `η`, in the kernel's regime (NNGP: Bayesian posterior
/// at `t = ∞`; NTK: trained networks).
///
/// With `K + rI = U diag(s) Uᵀ` and `τ = η t`, the mean on test points is
/// `K(X*, X) U diag(g(s)) Uᵀ Y`, with `g(s) = (1 − e^{−sτ/N})/s`: `1/s` at
/// `t = ∞` (kernel ridge with `λ = r`) and `τ/N` in the limit `s → 0`
/// (neural-tangents divides `expm1(0)` by `0` there and returns NaN).
/// Negative rounding eigenvalues count as 0, as in neural-tangents.
///
/// Layout as [`KernelRidge`](crate::KernelRidge): targets `Y: (k, n)`, one
/// sample per column; cross kernels `K(X, X*): (n, n*)`.
#[derive(Debug, Clone)]
pub struct MseEnsemble {
    eigen: Eigen,
    /// `Uᵀ Yᵀ`, `n × k`.
    coords: Mat<f64>,
    /// `N`, the number of target values.
    targets: f64,
    learning_rate: f64,
    reg: f64,
}

/// `(1 − e^{−s·a})/s` for finite `a ≥ 0` (negative `s` counts as 0),
/// accurate for small `s·a` through `expm1`, and `a` itself at `s = 0`.
fn flow(s: f64, a: f64) -> f64 {
    let x = s.max(0.0) * a;
    if x == 0.0 { a } else { -(-x).exp_m1() / s }
}

impl MseEnsemble {
    /// Decomposes `K(X, X) + rI` once.
    ///
    /// # Errors
    /// Shape, emptiness and non-finite checks;
    /// [`SolveError::InvalidParameter`] for a negative or non-finite
    /// regularizer or learning rate; the errors of the eigendecomposition
    /// ([`SolveError::NotPositiveSemidefinite`] for a kernel with a clearly
    /// negative eigenvalue).
    pub fn new(
        k: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        reg: DiagReg,
        learning_rate: f64,
    ) -> Result<Self> {
        check::square("kernel matrix", k)?;
        check::same("samples in targets", k.nrows(), y.ncols())?;
        check::non_empty("outputs", y.nrows())?;
        check::finite("kernel matrix", k)?;
        check::finite("targets", y)?;
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(SolveError::InvalidParameter {
                what: "learning rate",
                value: learning_rate,
                reason: "must be finite and > 0",
            });
        }
        let n = k.nrows();
        let r = match reg {
            DiagReg::Absolute(r) | DiagReg::Relative(r) if !(r.is_finite() && r >= 0.0) => {
                return Err(SolveError::InvalidParameter {
                    what: "diagonal regularizer",
                    value: r,
                    reason: "must be finite and >= 0",
                });
            }
            DiagReg::Absolute(r) => r,
            DiagReg::Relative(r) => lambda_from_trace(k, r)?,
        };
        let shifted = Mat::from_fn(n, n, |i, j| k[(i, j)] + if i == j { r } else { 0.0 });
        let eigen = Eigen::new(shifted.as_ref())?;
        let coords = eigen.project(y.transpose())?;
        Ok(Self {
            eigen,
            coords,
            targets: (n * y.nrows()) as f64,
            learning_rate,
            reg: r,
        })
    }

    /// The regularizer added to the diagonal, in absolute units.
    pub fn regularizer(&self) -> f64 {
        self.reg
    }

    /// Eigenvalues of `K + rI`, ascending.
    pub fn eigenvalues(&self) -> &[f64] {
        self.eigen.eigenvalues()
    }

    /// `τ/N` for time `t` (`∞` stays `∞`).
    fn scaled_time(&self, t: f64) -> Result<f64> {
        if t.is_nan() || t < 0.0 {
            return Err(SolveError::InvalidParameter {
                what: "training time",
                value: t,
                reason: "must be >= 0 (f64::INFINITY for the end of training)",
            });
        }
        Ok(t * self.learning_rate / self.targets)
    }

    fn gains(&self, a: f64) -> Result<Vec<f64>> {
        if a.is_infinite() {
            // At t = ∞ every direction must be resolvable: `1/s`, with the
            // singular-system check of the eigendecomposition (whose
            // matrix already holds r).
            return match self.eigen.inverse_shifted(0.0) {
                Ok((inv, _)) => Ok(inv),
                Err(SolveError::Singular {
                    smallest_eigenvalue,
                    largest_eigenvalue,
                    ..
                }) => Err(SolveError::Singular {
                    smallest_eigenvalue,
                    largest_eigenvalue,
                    lambda: self.reg,
                }),
                Err(e) => Err(e),
            };
        }
        Ok(self
            .eigen
            .eigenvalues()
            .iter()
            .map(|&s| flow(s, a))
            .collect())
    }

    /// Dual weights `A(t) = U diag(g(s)) Uᵀ Yᵀ` (`n × k`): the mean on test
    /// points is `A(t)ᵀ K(X, X*)`. `t = f64::INFINITY` is the end of training.
    ///
    /// # Errors
    /// [`SolveError::InvalidParameter`] for a negative or NaN time;
    /// [`SolveError::Singular`] at `t = ∞` when `K + rI` is singular.
    pub fn weights(&self, t: f64) -> Result<Mat<f64>> {
        let g = self.gains(self.scaled_time(t)?)?;
        let c = &self.coords;
        let scaled = Mat::from_fn(c.nrows(), c.ncols(), |i, j| c[(i, j)] * g[i]);
        Ok(self.eigen.eigenvectors() * &scaled)
    }

    /// Mean outputs `(k, n*)` at time `t` on test points with cross kernel
    /// `K(X, X*): (n, n*)` of the same regime.
    ///
    /// # Errors
    /// As [`weights`](Self::weights); shape and non-finite checks.
    pub fn mean(&self, k_cross: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        self.check_cross(k_cross)?;
        Ok(self.weights(t)?.transpose() * k_cross)
    }

    /// A cross kernel `(n, n*)` with one row per training point, finite.
    fn check_cross(&self, k_cross: MatRef<'_, f64>) -> Result<()> {
        check::same(
            "rows of the cross kernel (training points)",
            self.coords.nrows(),
            k_cross.nrows(),
        )?;
        check::finite("cross kernel", k_cross)
    }

    /// NNGP regime only: the posterior covariance of the outputs at time `t`,
    /// `K** − K*ᵀ U diag(h(s)) Uᵀ K*` with `h(s) = (1 − e^{−2sτ/N})/s` (one
    /// output; outputs are independent with the same covariance), from the
    /// NNGP cross kernel `K*: (n, n*)` and the test kernel `K**: (n*, n*)`.
    /// The ensemble must have been built on the NNGP training kernel.
    ///
    /// # Errors
    /// As [`mean`](Self::mean); shape checks of `K**`.
    pub fn nngp_covariance(
        &self,
        k_cross: MatRef<'_, f64>,
        k_test: MatRef<'_, f64>,
        t: f64,
    ) -> Result<Mat<f64>> {
        let p = self.projected_cross(k_cross, t)?;
        check::square("test kernel", k_test)?;
        check::same(
            "test points of the test kernel",
            k_cross.ncols(),
            k_test.nrows(),
        )?;
        check::finite("test kernel", k_test)?;
        Ok(Mat::from_fn(k_test.nrows(), k_test.ncols(), |i, j| {
            k_test[(i, j)] - (0..p.nrows()).map(|l| p[(l, i)] * p[(l, j)]).sum::<f64>()
        }))
    }

    /// NNGP regime only: the diagonal of
    /// [`nngp_covariance`](Self::nngp_covariance) from the test points'
    /// own variances `K(x*, x*)`, without the `n* × n*` test kernel. Values
    /// below 0 by rounding are returned as 0.
    ///
    /// # Errors
    /// As [`nngp_covariance`](Self::nngp_covariance).
    pub fn nngp_variance(
        &self,
        k_cross: MatRef<'_, f64>,
        k_test_diag: &[f64],
        t: f64,
    ) -> Result<Vec<f64>> {
        let p = self.projected_cross(k_cross, t)?;
        check::same("test variances", k_cross.ncols(), k_test_diag.len())?;
        if let Some(j) = k_test_diag.iter().position(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "test variances",
                row: j,
                col: 0,
            });
        }
        Ok((0..k_cross.ncols())
            .map(|j| {
                let explained = (0..p.nrows()).map(|l| p[(l, j)] * p[(l, j)]).sum::<f64>();
                (k_test_diag[j] - explained).max(0.0)
            })
            .collect())
    }

    /// NTK regime only (an ensemble built on the NTK training kernel Θ):
    /// the covariance of the trained networks' outputs at time `t`, which
    /// also depends on the NNGP of the initialisation,
    /// `K** + Bᵀ K B − Bᵀ K* − K*ᵀ B` with `B = U diag(g(s)) Uᵀ Θ*`
    /// (neural-tangents' formula; at `t = ∞`, `B = (Θ + rI)⁻¹ Θ*`), from the
    /// NTK cross kernel `Θ*: (n, n*)`, the NNGP training kernel `K: (n, n)`,
    /// cross kernel `K*: (n, n*)` and test kernel `K**: (n*, n*)`.
    ///
    /// # Errors
    /// As [`mean`](Self::mean); shape and non-finite checks of the NNGP blocks.
    pub fn ntk_covariance(
        &self,
        ntk_cross: MatRef<'_, f64>,
        nngp_train: MatRef<'_, f64>,
        nngp_cross: MatRef<'_, f64>,
        nngp_test: MatRef<'_, f64>,
        t: f64,
    ) -> Result<Mat<f64>> {
        let n = self.coords.nrows();
        check::same(
            "rows of the NTK cross kernel (training points)",
            n,
            ntk_cross.nrows(),
        )?;
        check::finite("NTK cross kernel", ntk_cross)?;
        check::square("NNGP training kernel", nngp_train)?;
        check::same("rows of the NNGP training kernel", n, nngp_train.nrows())?;
        check::same("rows of the NNGP cross kernel", n, nngp_cross.nrows())?;
        check::same(
            "test points of the NNGP cross kernel",
            ntk_cross.ncols(),
            nngp_cross.ncols(),
        )?;
        check::square("NNGP test kernel", nngp_test)?;
        check::same(
            "test points of the NNGP test kernel",
            ntk_cross.ncols(),
            nngp_test.nrows(),
        )?;
        for (what, m) in [
            ("NNGP training kernel", nngp_train),
            ("NNGP cross kernel", nngp_cross),
            ("NNGP test kernel", nngp_test),
        ] {
            check::finite(what, m)?;
        }
        let g = self.gains(self.scaled_time(t)?)?;
        let p = self.eigen.project(ntk_cross)?;
        let scaled = Mat::from_fn(p.nrows(), p.ncols(), |i, j| p[(i, j)] * g[i]);
        let b = self.eigen.eigenvectors() * &scaled;
        let kb = nngp_train * &b;
        let btkb = b.transpose() * &kb;
        let btk = b.transpose() * nngp_cross;
        Ok(Mat::from_fn(
            nngp_test.nrows(),
            nngp_test.ncols(),
            |i, j| nngp_test[(i, j)] + btkb[(i, j)] - btk[(i, j)] - btk[(j, i)],
        ))
    }

    /// `diag(sqrt(h(s))) Uᵀ K*`, so that the explained covariance is `PᵀP`.
    fn projected_cross(&self, k_cross: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        self.check_cross(k_cross)?;
        let h = self.gains(2.0 * self.scaled_time(t)?)?;
        let p = self.eigen.project(k_cross)?;
        Ok(Mat::from_fn(p.nrows(), p.ncols(), |i, j| {
            p[(i, j)] * h[i].sqrt()
        }))
    }
}
