//! The fully connected path: one GEMM per column block for `⟨x, y⟩/d`, then
//! every step of the plan on a column of pair states.

use super::io::{Diagonal, Kernels, finish};
use crate::error::{FeatureError, Result};
use crate::plan::Plan;
use crate::recursion::{pair_layers, vector_self};
use crate::{Architecture, Input};
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatRef, Par};
use sketch_core::parallel::{map_items, map_tasks};
use std::ops::ControlFlow;

/// A point's variances before each step and its final `(q, Θ)`.
type SelfScalar = (Vec<f64>, f64, f64);

/// Output columns per block of the fully connected path: bounds the Gram
/// block at `n₁·256` values.
pub(crate) const COL_BLOCK: usize = 256;

/// `n₁ × COL_BLOCK` matrices a column block holds: `q`, `Θ` and the dual's
/// two outputs; [`super::kernel_memory`] counts them.
pub(crate) const BLOCK_MATRICES: usize = 4;

/// Copies the strict upper triangle onto the lower one, in cache-friendly tiles.
fn mirror_upper(m: &mut Mat<f64>) {
    let n = m.nrows();
    const T: usize = 64;
    for jb in (0..n).step_by(T) {
        for ib in (jb..n).step_by(T) {
            for j in jb..(jb + T).min(n) {
                for i in ib.max(j + 1)..(ib + T).min(n) {
                    m[(i, j)] = m[(j, i)];
                }
            }
        }
    }
}

/// What the fully connected path needs besides the Gram blocks: every point's
/// own variances before each layer and final `(q, Θ)`.
pub(super) struct FcSelf {
    sa: Vec<SelfScalar>,
    sb: Vec<SelfScalar>,
    /// Layer-major variances of the first input: `pre1[l][i]`.
    pre1: Vec<Vec<f64>>,
}

impl FcSelf {
    /// Every point's own `(K, Θ)`, of the first input and of the second.
    pub(super) fn diags(&self) -> (Diagonal, Diagonal) {
        let own = |v: &[SelfScalar]| v.iter().map(|s| (s.1, s.2)).collect();
        (own(&self.sa), own(&self.sb))
    }
}

pub(super) fn fc_selfs(
    plan: &Plan<'_>,
    a: MatRef<'_, f64>,
    b: Option<MatRef<'_, f64>>,
    par: Par,
) -> Result<FcSelf> {
    let d = a.nrows() as f64;
    let selfs = |x: MatRef<'_, f64>| -> Result<Vec<SelfScalar>> {
        map_tasks(par, x.ncols(), |_, i| {
            vector_self(
                plan,
                (0..x.nrows()).map(|k| x[(k, i)] * x[(k, i)]).sum::<f64>() / d,
            )
        })
        .into_iter()
        .collect()
    };
    let sa = selfs(a)?;
    let sb = match b {
        Some(b) => selfs(b)?,
        None => sa.clone(),
    };
    let pre1 = (0..plan.steps.len())
        .map(|l| sa.iter().map(|s| s.0[l]).collect())
        .collect();
    Ok(FcSelf { sa, sb, pre1 })
}

/// What every column block of one fully connected call shares.
#[derive(Clone, Copy)]
pub(super) struct FcCall<'c, 'p> {
    pub(super) plan: &'c Plan<'p>,
    pub(super) a: MatRef<'c, f64>,
    pub(super) b: MatRef<'c, f64>,
    pub(super) selfs: &'c FcSelf,
    pub(super) par: Par,
}

/// Columns `start..start + cols` of the kernels into `kblock`, `tblock`
/// (`n₁ × cols`); with `upper`, only rows `i ≤ j` (the symmetric case).
/// `scratch` is the Gram buffer reused across blocks.
fn fc_block(
    call: FcCall<'_, '_>,
    start: usize,
    upper: bool,
    scratch: &mut Mat<f64>,
    mut kblock: faer::MatMut<'_, f64>,
    mut tblock: faer::MatMut<'_, f64>,
) -> Result<()> {
    let FcCall {
        plan,
        a,
        b,
        selfs,
        par,
    } = call;
    let (n1, cols, d) = (a.ncols(), kblock.ncols(), a.nrows() as f64);
    // Upper: only rows i ≤ j are needed, so the Gram block needs rows
    // 0..start + cols only: half the GEMM over the whole matrix.
    let rows = if upper { start + cols } else { n1 };
    // One Gram buffer reused across blocks (fresh pages cost page faults).
    if scratch.nrows() < rows || scratch.ncols() < cols {
        *scratch = Mat::zeros(rows.max(scratch.nrows()), cols.max(scratch.ncols()));
    }
    matmul(
        scratch.as_mut().submatrix_mut(0, 0, rows, cols),
        Accum::Replace,
        a.subcols(0, rows).transpose(),
        b.subcols(start, cols),
        1.0 / d,
        par,
    );
    let gram = scratch.as_ref().submatrix(0, 0, rows, cols);
    // Each output column is contiguous (column-major) and independent.
    let fill = |c: usize, kcol: &mut [f64], tcol: &mut [f64]| -> Result<()> {
        let j = start + c;
        let last = if upper { j + 1 } else { n1 };
        let (kcol, tcol) = (&mut kcol[..last], &mut tcol[..last]);
        for (i, v) in kcol.iter_mut().enumerate() {
            *v = gram[(i, c)];
        }
        tcol.iter_mut().for_each(|v| *v = 0.0);
        // Every step on the column of pair states against point `j` of the
        // second input: the duals evaluate the whole column at once.
        let n = kcol.len();
        pair_layers(
            plan,
            kcol,
            tcol,
            |l, qa, qb| {
                qa.copy_from_slice(&selfs.pre1[l][..n]);
                qb.fill(selfs.sb[j].0[l]);
            },
            |_, _, _, _, _, _| Ok(()),
        )
    };
    let columns: Vec<(&mut [f64], &mut [f64])> = kblock
        .rb_mut()
        .col_iter_mut()
        .zip(tblock.rb_mut().col_iter_mut())
        .map(|(kc, tc)| {
            (
                kc.try_as_col_major_mut().expect("owned").as_slice_mut(),
                tc.try_as_col_major_mut().expect("owned").as_slice_mut(),
            )
        })
        .collect();
    let results = map_items(par, columns, |_, c, (kc, tc)| fill(c, kc, tc));
    results.into_iter().collect()
}

/// Columns `cols` of the kernels (`n₁ × |cols|`, or `cols.end × |cols|`
/// with only rows `i ≤ j` filled when `upper`), by the column blocks of
/// [`fc`]: `cols.start` must be a multiple of [`COL_BLOCK`], so every block
/// is the one [`fc`] computes, with the same bits. The diagonal is left as
/// computed (the caller puts each point's own recursion there).
pub(super) fn fc_columns(
    call: FcCall<'_, '_>,
    cols: std::ops::Range<usize>,
    upper: bool,
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<(Mat<f64>, Mat<f64>)> {
    debug_assert!(cols.start.is_multiple_of(COL_BLOCK) || cols.is_empty());
    let rows = if upper { cols.end } else { call.a.ncols() };
    let width = cols.len();
    let mut nngp = Mat::<f64>::zeros(rows, width);
    let mut ntk = Mat::<f64>::zeros(rows, width);
    let mut scratch = Mat::<f64>::zeros(0, 0);
    let mut at = 0;
    while at < width {
        let w = COL_BLOCK.min(width - at);
        fc_block(
            call,
            cols.start + at,
            upper,
            &mut scratch,
            nngp.as_mut().subcols_mut(at, w),
            ntk.as_mut().subcols_mut(at, w),
        )?;
        at += w;
        if progress(at, width).is_break() && at < width {
            return Err(FeatureError::Cancelled {
                done: at,
                total: width,
            });
        }
    }
    Ok((nngp, ntk))
}

pub(super) fn fc(
    plan: &Plan<'_>,
    a: MatRef<'_, f64>,
    b: Option<MatRef<'_, f64>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<Kernels> {
    let sym = b.is_none();
    let selfs = fc_selfs(plan, a, b, par)?;
    let b = b.unwrap_or(a);
    // The whole matrix is the columns 0..n2 (for `K(X, X)` their rows
    // `i ≤ j`, mirrored below): the tiles' computation, over all columns.
    let call = FcCall {
        plan,
        a,
        b,
        selfs: &selfs,
        par,
    };
    let (mut nngp, mut ntk) = fc_columns(call, 0..b.ncols(), sym, progress)?;
    if sym {
        mirror_upper(&mut nngp);
        mirror_upper(&mut ntk);
    }
    let (d1, d2) = selfs.diags();
    Ok(finish(nngp, ntk, sym, d1.into_iter(), d2.into_iter()))
}

/// Columns `start..start + nngp.ncols()` of `K(X1, X2)`, as produced by
/// [`kernel_blocks`].
#[derive(Debug)]
pub struct ColumnBlock<'a> {
    /// First column (index into `x2`).
    pub start: usize,
    /// NNGP block, `n1 × cols`.
    pub nngp: MatRef<'a, f64>,
    /// NTK block, `n1 × cols`.
    pub ntk: MatRef<'a, f64>,
}

/// Fully connected kernels streamed in column blocks of `block` columns of
/// `x2`, so memory stays `O((n1 + n2)·block)` whatever the sizes (for
/// `K(X, X)` on 100 000 points, pass `x2 = x1`: full blocks are computed).
/// `sink` receives each block in order; an error from it stops the stream.
///
/// # Errors
/// As [`kernels`](crate::kernels); [`FeatureError::Empty`] for `block = 0`; whatever `sink` returns.
pub fn kernel_blocks(
    arch: &Architecture,
    x1: MatRef<'_, f64>,
    x2: MatRef<'_, f64>,
    block: usize,
    par: Par,
    sink: &mut dyn FnMut(ColumnBlock<'_>) -> Result<()>,
) -> Result<()> {
    if block == 0 {
        return Err(FeatureError::Empty { what: "block size" });
    }
    let (i1, i2) = (Input::Vectors(x1), Input::Vectors(x2));
    i1.validate("x1")?;
    i2.validate("x2")?;
    if x1.nrows() != x2.nrows() {
        return Err(FeatureError::DimMismatch {
            what: "x2's feature dimension must equal x1's",
            expected: x1.nrows(),
            got: x2.nrows(),
        });
    }
    let plan = Plan::new(arch, i1.shape())?;
    let selfs = fc_selfs(&plan, x1, Some(x2), par)?;
    let n2 = x2.ncols();
    let mut start = 0;
    let mut scratch = Mat::<f64>::zeros(0, 0);
    while start < n2 {
        let cols = block.min(n2 - start);
        let mut k = Mat::<f64>::zeros(x1.ncols(), cols);
        let mut t = Mat::<f64>::zeros(x1.ncols(), cols);
        fc_block(
            FcCall {
                plan: &plan,
                a: x1,
                b: x2,
                selfs: &selfs,
                par,
            },
            start,
            false,
            &mut scratch,
            k.as_mut(),
            t.as_mut(),
        )?;
        if k.col_iter()
            .chain(t.col_iter())
            .any(|c| c.iter().any(|v| !v.is_finite()))
        {
            return Err(FeatureError::NonFiniteOutput {
                what: "kernel",
                reason: "an entry overflowed f64 (inputs or W_std too large); rescale the inputs",
            });
        }
        sink(ColumnBlock {
            start,
            nngp: k.as_ref(),
            ntk: t.as_ref(),
        })?;
        start += cols;
    }
    Ok(())
}
