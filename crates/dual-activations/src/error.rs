//! The error type of this crate.

/// Everything that can go wrong when evaluating a dual activation.
///
/// Payloads are structured (names, values and bounds), never prose.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DualError {
    /// An input number (variance, covariance, norm, correlation) is NaN or infinite.
    #[error("{what} is not finite ({value})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A variance or norm is negative.
    #[error("{what} is negative ({value})")]
    Negative {
        /// Which input.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// The covariance exceeds `sqrt(q_x q_y)` by more than rounding allows.
    #[error("covariance {c} exceeds sqrt(q_x q_y) = {bound} beyond rounding")]
    CovarianceOutOfRange {
        /// The covariance given.
        c: f64,
        /// `sqrt(q_x q_y)`.
        bound: f64,
    },
    /// A correlation lies outside `[-1, 1]` beyond rounding.
    #[error("correlation {rho} lies outside [-1, 1]")]
    CorrelationOutOfRange {
        /// The correlation given.
        rho: f64,
    },
    /// An activation parameter is invalid.
    #[error("invalid parameter `{param}` = {value} of {activation}: {reason}")]
    InvalidParameter {
        /// The activation (neural-tangents' stax name).
        activation: &'static str,
        /// The parameter name.
        param: &'static str,
        /// The value given.
        value: f64,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The expectation defining the kernel is infinite at these variances
    /// (for example `Gaussian` with `b > 0` and `4 b q >= 1`).
    #[error("the dual kernel of {activation} is infinite here: {reason}")]
    InfiniteExpectation {
        /// The activation.
        activation: &'static str,
        /// Which condition fails.
        reason: &'static str,
    },
    /// The true value is finite but does not fit in an `f64`.
    #[error("the dual kernel of {activation} overflows f64 at these variances")]
    Overflow {
        /// The activation.
        activation: &'static str,
    },
    /// The activation has no pointwise form (only a kernel), so the requested
    /// operation is impossible.
    #[error("{activation} has no pointwise function; {operation} needs one")]
    NoPointwiseFunction {
        /// The activation.
        activation: &'static str,
        /// What was asked for.
        operation: &'static str,
    },
    /// No activation of this name is in the registry.
    #[error("unknown activation `{name}` (known: {known})")]
    UnknownActivation {
        /// The name asked for.
        name: String,
        /// The registry's names, comma separated.
        known: &'static str,
    },
    /// A degree (quadrature order, expansion degree) is out of the supported range.
    #[error("{what} = {value} is out of range {min}..={max}")]
    DegreeOutOfRange {
        /// Which degree.
        what: &'static str,
        /// The value given.
        value: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// Slices passed together have different lengths.
    #[error("slice lengths differ: expected {expected}, got {got}")]
    LengthMismatch {
        /// The length of the covariance slice.
        expected: usize,
        /// The other length.
        got: usize,
    },
    /// Adaptive quadrature did not reach its tolerance.
    #[error(
        "adaptive quadrature did not converge for {what}: error estimate {error:e} > tolerance {tolerance:e}"
    )]
    NoConvergence {
        /// What was integrated.
        what: &'static str,
        /// Achieved error estimate.
        error: f64,
        /// Requested tolerance.
        tolerance: f64,
    },
    /// A constrained polynomial fit (nonnegative, monotone coefficients)
    /// found no solution: its quadratic program did not terminate or its
    /// optimality system was singular.
    #[error("the {what} polynomial fit failed: {reason}; a lower degree fits")]
    FitFailed {
        /// Which fit.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The pointwise activation returned a non-finite value at a quadrature node.
    #[error("activation {activation} is not finite at t = {t}")]
    NonFiniteActivation {
        /// The activation.
        activation: String,
        /// The argument.
        t: f64,
    },
}

/// `Result` with [`DualError`] as the default error.
pub type Result<T, E = DualError> = core::result::Result<T, E>;
