#![doc = include_str!("../README.md")]

mod arch;
mod error;
mod exact;
mod parse;
mod plan;

pub use arch::{Architecture, Layer, Padding, Shape};
pub use error::{FeatureError, Result};
pub use exact::{ColumnBlock, Input, Kernels, kernel_blocks, kernels};
pub use parse::ArchSpec;
pub use plan::MAX_SAMPLE_SIZE;
