//! Kernel ridge regression on exact kernel matrices.

use crate::check;
use crate::error::Result;
use crate::spd::{Eigen, SolveInfo, solve_spd};
use faer::{Mat, MatRef};

/// A fitted kernel ridge model: coefficients `A = (K + λI)⁻¹ Yᵀ` (`n × k`).
///
/// Layout: targets `Y: (k, n)`, one sample per column; the training kernel
/// `K: (n, n)`; a cross kernel `K(X_train, X_test): (n, n_test)`, rows indexed
/// by training points. Predictions `Aᵀ K(X_train, X_test)` are `(k, n_test)`.
///
/// `λ` is added to the diagonal exactly as given. For a scale-free choice,
/// [`lambda_from_trace`] turns a ratio into `ratio·tr(K)/n`, which is the
/// convenience some papers use; nothing rescales `λ` behind your back.
#[derive(Debug, Clone)]
pub struct KernelRidge {
    coeffs: Mat<f64>,
    info: SolveInfo,
}

impl KernelRidge {
    /// Fits `(K + λI) A = Yᵀ`.
    ///
    /// # Errors
    /// Shape, emptiness, non-finite and λ checks, and the errors of
    /// [`solve_spd`] (a singular `K` with `λ = 0` is reported with its
    /// eigenvalues).
    pub fn fit(k: MatRef<'_, f64>, y: MatRef<'_, f64>, lambda: f64) -> Result<Self> {
        check::square("kernel matrix", k)?;
        check::same("samples in targets", k.nrows(), y.ncols())?;
        check::non_empty("outputs", y.nrows())?;
        let (coeffs, info) = solve_spd(k, lambda, y.transpose())?;
        Ok(Self { coeffs, info })
    }

    /// The dual coefficients `A` (`n × k`).
    pub fn coefficients(&self) -> MatRef<'_, f64> {
        self.coeffs.as_ref()
    }

    /// How the system was solved.
    pub fn info(&self) -> SolveInfo {
        self.info
    }

    /// Predictions `Aᵀ K_cross` (`k × n_test`) from `K_cross: (n_train, n_test)`.
    ///
    /// # Errors
    /// Shape and non-finite checks.
    pub fn predict(&self, k_cross: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check::same(
            "rows of the cross kernel (training points)",
            self.coeffs.nrows(),
            k_cross.nrows(),
        )?;
        check::finite("cross kernel", k_cross)?;
        Ok(self.coeffs.transpose() * k_cross)
    }
}

/// `ratio·tr(K)/n`: a `λ` on the scale of the kernel's average diagonal.
///
/// # Errors
/// Shape and non-finite checks; [`crate::SolveError::InvalidParameter`] for a
/// negative or non-finite ratio.
pub fn lambda_from_trace(k: MatRef<'_, f64>, ratio: f64) -> Result<f64> {
    check::square("kernel matrix", k)?;
    check::finite("kernel matrix", k)?;
    if !(ratio.is_finite() && ratio >= 0.0) {
        return Err(crate::SolveError::InvalidParameter {
            what: "ratio",
            value: ratio,
            reason: "must be finite and >= 0",
        });
    }
    let n = k.nrows();
    Ok(ratio * (0..n).map(|i| k[(i, i)]).sum::<f64>() / n as f64)
}

/// Kernel ridge for many `λ` from one eigendecomposition `K = U S Uᵀ`:
/// `A(λ) = U (S + λI)⁻¹ Uᵀ Yᵀ`, `O(n²k)` per `λ`.
#[derive(Debug, Clone)]
pub struct KernelPath {
    eigen: Eigen,
    projected: Mat<f64>,
}

impl KernelPath {
    /// Decomposes the training kernel once.
    ///
    /// # Errors
    /// Shape and non-finite checks; [`crate::SolveError::NotPositiveSemidefinite`];
    /// [`crate::SolveError::EigenNoConvergence`].
    pub fn new(k: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<Self> {
        check::square("kernel matrix", k)?;
        check::same("samples in targets", k.nrows(), y.ncols())?;
        check::non_empty("outputs", y.nrows())?;
        check::finite("targets", y)?;
        let eigen = Eigen::new(k)?;
        let projected = eigen.project(y.transpose())?;
        Ok(Self { eigen, projected })
    }

    /// The model for one `λ`, equal to [`KernelRidge::fit`] up to rounding.
    ///
    /// # Errors
    /// λ checks; [`crate::SolveError::Singular`].
    pub fn fit(&self, lambda: f64) -> Result<KernelRidge> {
        let (coeffs, info) = self
            .eigen
            .solve_projected(lambda, self.projected.as_ref())?;
        Ok(KernelRidge { coeffs, info })
    }

    /// Eigenvalues of `K`, ascending.
    pub fn eigenvalues(&self) -> &[f64] {
        self.eigen.eigenvalues()
    }
}
