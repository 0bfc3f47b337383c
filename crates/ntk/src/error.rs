//! One error type for the binary; `main` prints it on one line (plus a
//! hint line for downloads) and exits non-zero.

use ntk_data::DataError;
use ntk_features::FeatureError;
use ntk_solve::SolveError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("architecture: {0}")]
    Arch(#[from] FeatureError),
    #[error("solver: {0}")]
    Solve(#[from] SolveError),
    #[error("{0}")]
    Usage(String),
}

impl From<ntk_pipeline::PipelineError> for CliError {
    fn from(e: ntk_pipeline::PipelineError) -> Self {
        use ntk_pipeline::PipelineError as P;
        match e {
            P::Features(e) => Self::Arch(e),
            P::Solve(e) => Self::Solve(e),
            P::PolynomialsNeedVectors => usage(
                "--polynomial data fits ntksketch's polynomials to vector inputs; images use cntksketch's fits",
            ),
            e => usage(e.to_string()),
        }
    }
}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

pub(crate) fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}
