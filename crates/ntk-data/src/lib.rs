#![doc = include_str!("../README.md")]

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
