#![doc = include_str!("../README.md")]

mod arch;
mod error;
mod exact;

pub use arch::{Architecture, Layer, Padding, Shape};
pub use error::{FeatureError, Result};
pub use exact::{ColumnBlock, Input, Kernels, kernel_blocks, kernels};
