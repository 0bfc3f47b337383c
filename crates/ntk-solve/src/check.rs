//! Input validation shared by every entry point.

use crate::error::{Result, SolveError};
use faer::MatRef;

/// Errors unless every entry is finite.
pub(crate) fn finite<T: Copy + Into<f64>>(what: &'static str, m: MatRef<'_, T>) -> Result<()> {
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            if !m[(i, j)].into().is_finite() {
                return Err(SolveError::NonFinite {
                    what,
                    row: i,
                    col: j,
                });
            }
        }
    }
    Ok(())
}

pub(crate) fn same(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(SolveError::ShapeMismatch {
            what,
            expected,
            got,
        })
    }
}

pub(crate) fn non_empty(what: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        Err(SolveError::Empty { what })
    } else {
        Ok(())
    }
}

pub(crate) fn lambda(lambda: f64) -> Result<()> {
    if lambda.is_finite() && lambda >= 0.0 {
        Ok(())
    } else {
        Err(SolveError::InvalidLambda { lambda })
    }
}

pub(crate) fn square(what: &'static str, m: MatRef<'_, f64>) -> Result<()> {
    non_empty(what, m.nrows())?;
    same(what, m.nrows(), m.ncols())
}
