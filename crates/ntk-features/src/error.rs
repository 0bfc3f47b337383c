//! The error type of this crate.

use dual_activations::DualError;

/// Everything that can go wrong when describing a network or computing its kernels.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// The architecture is invalid on its own.
    #[error("layer {layer} ({name}): {reason}")]
    InvalidArchitecture {
        /// Index of the offending layer.
        layer: usize,
        /// Its stax name.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The branches of a network do not fit together (a `parallel` with
    /// more or fewer branches than its inputs, a fan-out never joined,
    /// branches of different spatial shapes at a fan-in, a `FanInSum` of
    /// inputs that are not Gaussian).
    #[error("{}layer {layer} ({name}): {reason}", column.map(|c| format!("column {c}, ")).unwrap_or_default())]
    Branching {
        /// Where the layer starts in the architecture string, if parsed.
        column: Option<usize>,
        /// Index of the layer (depth-first, see `Architecture::walk`).
        layer: usize,
        /// Its stax name.
        name: &'static str,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The architecture does not fit the input.
    #[error("layer {layer} ({name}) does not fit its input {input}: {reason}")]
    ShapeMismatch {
        /// Index of the offending layer.
        layer: usize,
        /// Its stax name.
        name: &'static str,
        /// The input shape it receives.
        input: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The two inputs disagree, or a buffer has the wrong length.
    #[error("{what}: expected {expected}, got {got}")]
    DimMismatch {
        /// Which dimension.
        what: &'static str,
        /// Required.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// An input has no samples or no features.
    #[error("{what} is empty")]
    Empty {
        /// Which input.
        what: &'static str,
    },
    /// NaN or infinity in an input.
    #[error("{what} holds a non-finite value at sample {sample}, index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Sample index.
        sample: usize,
        /// Flat index inside the sample.
        index: usize,
    },
    /// A dual activation failed (a parameter, an infinite kernel, an overflow).
    #[error("layer {layer}: {source}")]
    Activation {
        /// Index of the activation layer.
        layer: usize,
        /// The underlying error.
        #[source]
        source: DualError,
    },
    /// A size beyond what this crate computes (an absurd input or window).
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// Which size.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A feature-map method cannot represent a layer of the architecture.
    #[error("layer {layer} ({name}) is not supported by the `{method}` feature map: {reason}")]
    Unsupported {
        /// Index of the layer.
        layer: usize,
        /// Its stax name.
        name: &'static str,
        /// The method.
        method: &'static str,
        /// Why, and what to use instead.
        reason: String,
    },
    /// An option of a feature map is out of range.
    #[error("invalid feature-map option {what}: {reason}")]
    InvalidOption {
        /// The option.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A computed result is not finite.
    #[error("non-finite {what}: {reason}")]
    NonFiniteOutput {
        /// What was computed.
        what: &'static str,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// A sketch could not be built (dimensions out of range).
    #[error("sketch: {0}")]
    Sketch(#[from] sketch_core::SketchError),
    /// A tile of [`crate::KernelTiles`] that is not a range of its units.
    #[error("kernel tile: {reason}")]
    Tile {
        /// Why.
        reason: String,
    },
    /// The caller's progress callback asked to stop (an interrupt).
    #[error("cancelled by the caller after {done} of {total} units of work")]
    Cancelled {
        /// Units (pairs, column blocks or samples) finished.
        done: usize,
        /// Units in all.
        total: usize,
    },
    /// An architecture string does not parse.
    #[error("column {column}: expected {expected}, found {found}")]
    Parse {
        /// 1-based character column of the problem.
        column: usize,
        /// What the parser expected.
        expected: String,
        /// What it found.
        found: String,
    },
}

/// `Result` with [`FeatureError`] as the default error.
pub type Result<T, E = FeatureError> = core::result::Result<T, E>;
