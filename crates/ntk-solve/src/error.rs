//! The error type of this crate.

/// Everything that can go wrong in a solve. Failures carry the numbers
/// needed to understand them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// A matrix holds NaN or an infinity.
    #[error("{what} holds a non-finite value at ({row}, {col})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
    },
    /// Two inputs disagree in a dimension.
    #[error("{what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// Which dimension of which input.
        what: &'static str,
        /// The size required.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// An input has no rows, no columns, or no samples.
    #[error("{what} is empty")]
    Empty {
        /// Which input.
        what: &'static str,
    },
    /// The ridge parameter is negative or not finite.
    #[error("ridge parameter lambda = {lambda} must be finite and >= 0")]
    InvalidLambda {
        /// The value given.
        lambda: f64,
    },
    /// An option is out of range.
    #[error("invalid {what} = {value}: {reason}")]
    InvalidParameter {
        /// The option.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The valid range.
        reason: &'static str,
    },
    /// The system is singular to working precision (typically λ = 0 with
    /// fewer independent samples than features).
    #[error(
        "system is singular: smallest eigenvalue {smallest_eigenvalue:e} vs largest {largest_eigenvalue:e} (lambda = {lambda})"
    )]
    Singular {
        /// Smallest eigenvalue of the shifted matrix.
        smallest_eigenvalue: f64,
        /// Largest eigenvalue of the shifted matrix.
        largest_eigenvalue: f64,
        /// The shift used.
        lambda: f64,
    },
    /// The matrix has a clearly negative eigenvalue: it is not a Gram or
    /// kernel matrix.
    #[error(
        "matrix is not positive semidefinite: eigenvalue {smallest_eigenvalue:e} (largest {largest_eigenvalue:e})"
    )]
    NotPositiveSemidefinite {
        /// Smallest eigenvalue found.
        smallest_eigenvalue: f64,
        /// Largest eigenvalue found.
        largest_eigenvalue: f64,
    },
    /// The eigendecomposition did not converge.
    #[error("symmetric eigendecomposition did not converge")]
    EigenNoConvergence,
    /// Conjugate gradients stopped before reaching the tolerance.
    #[error(
        "conjugate gradients did not converge: relative residual {rel_residual:e} after {iterations} iterations"
    )]
    NotConverged {
        /// Iterations run.
        iterations: usize,
        /// Final `‖b − Ax‖/‖b‖`.
        rel_residual: f64,
    },
}

/// `Result` with [`SolveError`] as the default error.
pub type Result<T, E = SolveError> = core::result::Result<T, E>;
