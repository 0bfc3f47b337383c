#![doc = include_str!("../README.md")]

mod count_sketch;
mod error;
mod expansion;
mod map;
pub mod parallel;
mod patch;
mod poly_sketch;
mod real;
pub mod reference;
mod seed;
mod simd;
mod srht;
mod tensor_sketch;
pub mod transform;

pub use count_sketch::{CountSketch, GaussianProjection};
pub use error::{Result, SketchError};
pub use expansion::PolyExpansion;
pub use map::{BLOCK, ScratchLen, Sketch, SketchExt};
pub use patch::PatchSrht;
pub use poly_sketch::PolySketch;
pub use real::Real;
/// Complex numbers of the scratch buffers (`rustfft`'s `num_complex`).
pub use rustfft::num_complex;
pub use seed::Seed;
#[doc(hidden)]
pub use simd::Rows32;
pub use srht::{Srht, TensorSrht, Transform};
pub use tensor_sketch::TensorSketch;
