#![doc = include_str!("../README.md")]

mod check;
mod error;
mod map;
mod primal;
mod ridge;
mod shard;
mod spec;
mod stream;

pub use check::Check;
pub use error::{PipelineError, Result};
pub use map::{AnyMap, Block, BlockMut, Scalar};
pub use primal::{CHUNK, ChunkScore, Layout, SCALE_SAMPLES, shard_chunks};
pub use ridge::{
    DIRECT_GRID, FeatureFit, FeatureRidge, Lambda, LambdaRecord, SplitRecord, Targets, fit,
    grid_weights, metric_name, predict, scores_json, select_lambda,
};
pub use shard::{Shard, ValFeatures};
pub use spec::{FIT_SAMPLES, FeatureSpec, Options, Precision, fit_sample_indices};
pub use stream::{BLOCK, Cache, Sink, Stream, stream};
