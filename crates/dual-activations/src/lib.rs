#![doc = include_str!("../README.md")]

mod activation;
mod batch;
mod dual;
mod error;
mod hermite;
mod numerical;
pub mod polyfit;
pub mod quadrature;
pub mod registry;
pub mod special;
pub mod taylor;

pub use activation::{
    Activation, HermiteConvention, MAX_POLY_DEGREE, NumericalFn, NumericalMethod,
    SIGMOID_LIKE_SCALE, ScalarFn,
};
pub use dual::{COV_REL_TOL, Dual, DualActivation, MAX_SERIES_DEGREE};
pub use error::{DualError, Result};
pub use hermite::{HermiteCoeffs, hermite_values};
pub use registry::CustomFn;
pub use taylor::TaylorCoeffs;
