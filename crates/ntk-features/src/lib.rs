#![doc = include_str!("../README.md")]

mod arch;
mod error;
mod exact;
mod features;
mod parse;
mod plan;
mod recursion;

pub use arch::{Architecture, Layer, Padding, Shape};
pub use error::{FeatureError, Result};
pub use exact::{
    ColumnBlock, Input, Kernels, kernel_blocks, kernel_memory, kernels, kernels_cancellable,
};
pub use features::{
    DEFAULT_POLY_DEGREE, FeatureConfig, FeatureMap, KernelKind, MAX_FEATURE_DEGREE,
    MAX_FEATURE_DIM, MAX_FIT_SAMPLES, Method, Polynomial, ReluPolynomials, Toggle, gram_error,
    ntkrf_width, spectral_error, statistical_dimension,
};
pub use parse::ArchSpec;
pub use plan::MAX_SAMPLE_SIZE;
pub use sketch_core::Real;
