//! Datasets for neural-kernel experiments.
//!
//! - [`npy`] and [`csv`]: array files in and out (typed errors for every
//!   malformed input, never a panic);
//! - [`cifar`]: the CIFAR-10 binary batches, parsed to NHWC images;
//! - [`uci`]: the UCI regression sets of the 2021 sketching paper, with the
//!   public loader's bugs fixed;
//! - [`preprocess`]: scaling, per-channel standardisation, per-image
//!   normalisation and ZCA whitening with training statistics only;
//! - [`digits`]: the 1797 8×8 handwritten digits, embedded in the binary so
//!   a demo runs offline;
//! - `mnist` (feature `mnist`, on by default): 5000 embedded MNIST digits
//!   for the offline MNIST reproduction.
//!
//! - `download` (feature `download`, on by default): verified HTTP(S)
//!   downloads and archive extraction.
//!
//! Parsers take bytes or readers; file-system and network access live only
//! in [`files`] and `download`.

mod error;

pub mod cifar;
pub mod csv;
pub mod digits;
#[cfg(feature = "download")]
pub mod download;
pub mod files;
#[cfg(feature = "mnist")]
pub mod mnist;
pub mod npy;
pub mod preprocess;
pub mod uci;

pub use error::{DataError, Result};
