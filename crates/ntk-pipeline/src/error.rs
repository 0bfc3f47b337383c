//! The pipeline's error: the libraries' own errors, and what the pipeline
//! itself refuses.

use ntk_features::FeatureError;
use ntk_solve::SolveError;

/// Why a pipeline call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The feature map or the exact kernel refused (including
    /// [`FeatureError::Cancelled`] within a block).
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// The ridge solver refused.
    #[error(transparent)]
    Solve(#[from] SolveError),
    /// A feature spec's JSON is malformed: a missing key, a value of the
    /// wrong type, or an unknown name.
    #[error("{reason}")]
    InvalidSpec {
        /// What is wrong, naming the key.
        reason: String,
    },
    /// Data-fitted polynomials (`polynomial = data`) were asked of image
    /// inputs: they are fitted to vectors only.
    #[error("data-fitted polynomials are fitted to vector inputs; images use cntksketch's fits")]
    PolynomialsNeedVectors,
    /// A block of the other precision than the map's reached a ridge fit.
    #[error("a block of {got} features reached a fit of {expected} features")]
    PrecisionMismatch {
        /// The fit's precision.
        expected: &'static str,
        /// The block's.
        got: &'static str,
    },
    /// The inputs do not hold a whole number of samples of the map's shape,
    /// or the targets do not match them.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// What was checked.
        what: &'static str,
        /// The expected count.
        expected: usize,
        /// The count found.
        got: usize,
    },
    /// Predictions overflowed.
    #[error("predictions are not finite (the model or the inputs overflow)")]
    NonFinitePredictions,
    /// Sums of shards that do not belong together, or an incomplete set.
    #[error("{reason}")]
    ShardMismatch {
        /// What differs or is missing.
        reason: String,
    },
    /// The caller's stop test said stop between two blocks.
    #[error("cancelled by the caller after {done} of {total} samples")]
    Cancelled {
        /// Samples finished.
        done: usize,
        /// Samples in all.
        total: usize,
    },
}

impl PipelineError {
    /// Whether the caller stopped the work (between or within blocks).
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            Self::Cancelled { .. } | Self::Features(FeatureError::Cancelled { .. })
        )
    }
}

/// The pipeline's result.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
