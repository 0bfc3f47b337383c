#![doc = include_str!("../README.md")]

mod cg;
mod check;
mod dual;
mod ensemble;
mod error;
mod fixed;
mod gram;
mod kernel;
pub mod metrics;
pub mod select;
mod spd;

pub use cg::{
    CgInfo, CgParams, FeatureGram, GramForm, Jacobi, LinearOperator, Nystrom, Preconditioner,
    ShiftedMatrix, conjugate_gradient,
};
pub use dual::DualRidge;
pub use ensemble::{DiagReg, MseEnsemble};
pub use error::{Result, SolveError};
pub use fixed::{FixedGram, FixedScale, PANEL};
pub use gram::{Element, GramAccumulator, RidgePath, predict};
pub use kernel::{KernelPath, KernelRidge, lambda_from_trace};
pub use spd::{COND_LIMIT, Eigen, SolveInfo, SolveMethod, solve_spd};
