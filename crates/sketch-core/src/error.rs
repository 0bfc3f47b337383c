//! The error type of this crate.

/// Everything that can go wrong when building or applying a sketch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SketchError {
    /// An input's dimension does not match the sketch.
    #[error("{what}: expected {expected}, got {got}")]
    DimMismatch {
        /// Which dimension.
        what: &'static str,
        /// The sketch's dimension.
        expected: usize,
        /// The input's.
        got: usize,
    },
    /// A dimension is zero.
    #[error("{what} must be at least 1")]
    ZeroDimension {
        /// Which dimension.
        what: &'static str,
    },
    /// A degree of 0 (the constant term is handled outside the sketches).
    #[error("degree must be at least 1, got {degree}")]
    InvalidDegree {
        /// The degree given.
        degree: usize,
    },
    /// NaN or infinity in the data.
    #[error("{what} holds a non-finite value at ({row}, {col})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Row (coordinate).
        row: usize,
        /// Column (sample).
        col: usize,
    },
    /// Any other out-of-range option.
    #[error("invalid {what} = {value}: {reason}")]
    InvalidParameter {
        /// The option.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The valid range.
        reason: &'static str,
    },
}

/// `Result` with [`SketchError`] as the default error.
pub type Result<T, E = SketchError> = core::result::Result<T, E>;
