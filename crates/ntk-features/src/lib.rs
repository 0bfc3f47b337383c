#![doc = include_str!("../README.md")]

mod arch;
mod error;
mod exact;
mod features;
mod layers;
mod parse;
mod plan;
mod recursion;
mod shape;

pub use arch::Architecture;
pub use error::{FeatureError, Result};
pub use exact::{
    ColumnBlock, Input, KernelTiles, Kernels, Tile, kernel_blocks, kernel_memory, kernels,
    kernels_cancellable,
};
pub use features::{
    DEFAULT_POLY_DEGREE, FeatureConfig, FeatureMap, KernelKind, MAX_FEATURE_DEGREE,
    MAX_FEATURE_DIM, MAX_FIT_SAMPLES, Method, Polynomial, ReluPolynomials, Toggle, gram_error,
    ntkrf_width, spectral_error, statistical_dimension,
};
pub use layers::{Layer, Padding};
pub use parse::ArchSpec;
pub use plan::MAX_SAMPLE_SIZE;
pub use shape::Shape;
pub use sketch_core::Real;
