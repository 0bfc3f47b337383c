//! Exact kernels by ranges of output columns ("tiles"), for job arrays and
//! MPI ranks: each tile is computed by the very steps [`kernels`] takes for
//! those columns, so tiles assembled into a matrix give its bits, whatever
//! the split and the thread count.
//!
//! - Vectors: a tile is a range of the 256-column blocks of the fully
//!   connected path (the Gram block of a column block is one GEMM whose
//!   shape depends on the block only).
//! - Images: a tile is any range of columns; every pair is computed alone.
//! - `K(X, X)` with an exchange-symmetric network: only rows `i ≤ j` of
//!   each column are computed ("upper"); the matrix holds them at `(i, j)`
//!   and `(j, i)`, and the diagonal is each point's own recursion, as in
//!   [`kernels`].
//!
//! [`kernels`]: crate::kernels

use super::images::ImagePairs;
use super::io::{Diagonal, Input};
use super::vectors::{COL_BLOCK, FcCall, FcSelf, fc_columns, fc_selfs};
use crate::arch::Architecture;
use crate::error::{FeatureError, Result};
use crate::plan::Plan;
use faer::{Mat, MatRef, Par};
use std::ops::{ControlFlow, Range};

/// Columns `columns` of `K(X1, X2)` and `Θ(X1, X2)`, as
/// [`KernelTiles::compute`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// The output columns (indices into `x2`).
    pub columns: Range<usize>,
    /// Only rows `i ≤ j` of column `j` are held (the symmetric `K(X, X)`);
    /// the matrix's `(j, i)` is the same value.
    pub upper: bool,
    /// NNGP entries: `(i, c)` is `K(x1_i, x2_{start + c})`; `n1` rows, or
    /// `columns.end` when `upper`.
    pub nngp: Mat<f64>,
    /// NTK entries, laid out as `nngp`.
    pub ntk: Mat<f64>,
}

impl Tile {
    /// The rows held in output column `j` (`columns.start <= j < columns.end`).
    #[must_use]
    pub fn rows_of(&self, j: usize) -> usize {
        if self.upper { j + 1 } else { self.nngp.nrows() }
    }
}

enum Work<'a> {
    Vectors {
        a: MatRef<'a, f64>,
        b: MatRef<'a, f64>,
        selfs: FcSelf,
    },
    Images(ImagePairs),
}

/// An exact kernel computation split into column ranges: [`split`]
/// balances them by pair count, [`compute`] computes one.
///
/// [`split`]: KernelTiles::split
/// [`compute`]: KernelTiles::compute
pub struct KernelTiles<'a> {
    plan: Plan<'a>,
    work: Work<'a>,
    n1: usize,
    n2: usize,
    upper: bool,
    unit: usize,
    /// Every point's own `(K, Θ)`, for the symmetric diagonal.
    diag: Diagonal,
}

impl std::fmt::Debug for KernelTiles<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelTiles")
            .field("n1", &self.n1)
            .field("n2", &self.n2)
            .field("upper", &self.upper)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

impl<'a> KernelTiles<'a> {
    /// Checks the inputs as [`kernels`](crate::kernels) does and prepares
    /// what every tile shares (each point's own recursion, on `par`).
    ///
    /// # Errors
    /// As [`kernels`](crate::kernels).
    pub fn new(
        arch: &'a Architecture,
        x1: Input<'a>,
        x2: Option<Input<'a>>,
        par: Par,
    ) -> Result<Self> {
        // As `kernels`: a dual that depends on its arguments' order takes
        // the general path for K(X, X).
        let (plan, x2) = super::prepare(arch, x1, x2)?;
        let upper = x2.is_none();
        let (n1, n2) = (x1.len(), x2.map_or(x1.len(), |x| x.len()));
        let (work, unit, diag) = match (x1, x2) {
            (Input::Vectors(a), _) => {
                let b = match x2 {
                    Some(Input::Vectors(b)) => Some(b),
                    _ => None,
                };
                let selfs = fc_selfs(&plan, a, b, par)?;
                let diag = selfs.diags().0;
                let b = b.unwrap_or(a);
                (Work::Vectors { a, b, selfs }, COL_BLOCK, diag)
            }
            (Input::Images { .. }, _) => {
                let pairs = ImagePairs::new(&plan, x1, x2, par)?;
                let diag = pairs.selfs().0;
                (Work::Images(pairs), 1, diag)
            }
        };
        Ok(Self {
            plan,
            work,
            n1,
            n2,
            upper,
            unit,
            diag,
        })
    }

    /// The output's shape `(n1, n2)`.
    #[must_use]
    pub fn shape(&self) -> (usize, usize) {
        (self.n1, self.n2)
    }

    /// Whether tiles hold only rows `i ≤ j` (the symmetric `K(X, X)`).
    #[must_use]
    pub fn upper(&self) -> bool {
        self.upper
    }

    /// The columns a tile's range is made of: ranges start at a multiple
    /// of it (256 for vectors, 1 for images).
    #[must_use]
    pub fn unit(&self) -> usize {
        self.unit
    }

    /// Pairs computed for `columns` (the cost a split balances).
    #[must_use]
    pub fn pairs(&self, columns: Range<usize>) -> u128 {
        let (a, b) = (columns.start as u128, columns.end as u128);
        if self.upper {
            // Σ_{j=a}^{b-1} (j + 1)
            (b * (b + 1) - a * (a + 1)) / 2
        } else {
            (b - a) * self.n1 as u128
        }
    }

    /// The columns cut into `parts` contiguous ranges of whole units, each
    /// holding about `1/parts` of the pairs (some are empty when there are
    /// more parts than units). Part `p`'s range depends on `parts` and the
    /// shapes only, so every job of an array computes the same split.
    #[must_use]
    pub fn split(&self, parts: usize) -> Vec<Range<usize>> {
        let parts = parts.max(1);
        let total = self.pairs(0..self.n2);
        let units = self.n2.div_ceil(self.unit);
        let mut bounds = vec![0usize];
        let mut u = 0;
        for p in 1..parts {
            // The first unit boundary holding at least p/parts of the pairs.
            let target = total * p as u128;
            while u < units
                && self.pairs(0..(u * self.unit).min(self.n2)) * (parts as u128) < target
            {
                u += 1;
            }
            bounds.push((u * self.unit).min(self.n2));
        }
        bounds.push(self.n2);
        bounds.windows(2).map(|w| w[0]..w[1]).collect()
    }

    /// `columns` cut into pieces of whole units holding at most
    /// `max_entries` entries per kernel each (one unit at least): the
    /// pieces a caller computes and writes one at a time, so that memory
    /// stays bounded whatever the tile.
    #[must_use]
    pub fn pieces(&self, columns: Range<usize>, max_entries: usize) -> Vec<Range<usize>> {
        let rows = if self.upper { columns.end } else { self.n1 }.max(1);
        let width = (max_entries / rows / self.unit).max(1) * self.unit;
        let mut out = Vec::new();
        let mut at = columns.start;
        while at < columns.end {
            let end = at.saturating_add(width).min(columns.end);
            out.push(at..end);
            at = end;
        }
        out
    }

    /// The kernels' columns `columns`, on `par`; `progress(done, total)` as
    /// in [`kernels_cancellable`](crate::kernels_cancellable).
    ///
    /// # Errors
    /// [`FeatureError::Tile`] when `columns` does not start at a multiple
    /// of [`unit`](Self::unit) (or at `n2`) or ends beyond `n2`;
    /// [`FeatureError::NonFiniteOutput`]; [`FeatureError::Cancelled`];
    /// activation errors.
    pub fn compute(
        &self,
        columns: Range<usize>,
        par: Par,
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<Tile> {
        if columns.start > columns.end
            || columns.end > self.n2
            || !(columns.start.is_multiple_of(self.unit) || columns.start == self.n2)
        {
            return Err(FeatureError::Tile {
                reason: format!(
                    "columns {}..{} of {}: a range must start at a multiple of {} and end \
                     within the output",
                    columns.start, columns.end, self.n2, self.unit
                ),
            });
        }
        let (mut nngp, mut ntk) = match &self.work {
            Work::Vectors { a, b, selfs } => {
                let call = FcCall {
                    plan: &self.plan,
                    a: *a,
                    b: *b,
                    selfs,
                    par,
                };
                fc_columns(call, columns.clone(), self.upper, progress)?
            }
            Work::Images(pairs) => {
                let rows = if self.upper { columns.end } else { self.n1 };
                let width = columns.len();
                let mut k = Mat::<f64>::zeros(rows, width);
                let mut t = Mat::<f64>::zeros(rows, width);
                let list: Vec<(usize, usize)> = columns
                    .clone()
                    .flat_map(|j| (0..if self.upper { j + 1 } else { rows }).map(move |i| (i, j)))
                    .collect();
                let start = columns.start;
                pairs.compute(
                    &self.plan,
                    &list,
                    par,
                    &mut |i, j, q, th| {
                        k[(i, j - start)] = q;
                        t[(i, j - start)] = th;
                    },
                    progress,
                )?;
                (k, t)
            }
        };
        let mut tile = Tile {
            columns,
            upper: self.upper,
            nngp: Mat::zeros(0, 0),
            ntk: Mat::zeros(0, 0),
        };
        if self.upper {
            // As `kernels`: each point's own recursion on the diagonal.
            for j in tile.columns.clone() {
                let c = j - tile.columns.start;
                (nngp[(j, c)], ntk[(j, c)]) = self.diag[j];
            }
        }
        let start = tile.columns.start;
        let finite = (0..nngp.ncols()).all(|c| {
            let rows = tile.rows_of(start + c);
            (0..rows).all(|i| nngp[(i, c)].is_finite() && ntk[(i, c)].is_finite())
        });
        if !finite {
            return Err(FeatureError::NonFiniteOutput {
                what: "kernel",
                reason: "an entry overflowed f64 (inputs or W_std too large); rescale the inputs",
            });
        }
        tile.nngp = nngp;
        tile.ntk = ntk;
        Ok(tile)
    }
}
