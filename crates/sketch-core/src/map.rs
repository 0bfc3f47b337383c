//! The `Sketch` trait and the one parallel batch driver.

use crate::error::{Result, SketchError};
use crate::real::Real;
use faer::reborrow::ReborrowMut;
use faer::{Mat, MatRef, Par};
use rustfft::num_complex::Complex;

/// Scratch sizes a map needs for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScratchLen {
    /// Real elements.
    pub real: usize,
    /// Complex elements.
    pub complex: usize,
}

impl ScratchLen {
    /// Both sizes of `a` then `b` laid out one after the other.
    pub fn then(self, b: Self) -> Self {
        Self {
            real: self.real + b.real,
            complex: self.complex + b.complex,
        }
    }
    /// Element-wise maximum (for sub-maps used one after another).
    pub fn max(self, b: Self) -> Self {
        Self {
            real: self.real.max(b.real),
            complex: self.complex.max(b.complex),
        }
    }
}

/// A seeded, oblivious map `R^dim_in → R^dim_out` whose inner products
/// estimate `⟨x, y⟩^degree`: `E⟨S(x), S(y)⟩ = ⟨x, y⟩^degree`, with no further
/// scaling. Complex sketches expose `[Re; Im]`, so `dim_out` counts reals.
///
/// `apply_one` is the sequential per-sample kernel; use [`SketchExt::apply`]
/// for batches (validation, parallelism, determinism).
pub trait Sketch<T: Real>: Send + Sync + core::fmt::Debug {
    /// Input dimension.
    fn dim_in(&self) -> usize;
    /// Output dimension (reals).
    fn dim_out(&self) -> usize;
    /// The degree `p` of the estimated polynomial kernel `⟨x, y⟩^p`.
    fn degree(&self) -> usize;
    /// Scratch needed by [`Sketch::apply_one`].
    fn scratch_len(&self) -> ScratchLen {
        ScratchLen::default()
    }
    /// Writes the sketch of `x` (length `dim_in`) into `out` (length `dim_out`).
    /// Never allocates. The scratch content on entry does not matter.
    ///
    /// # Panics
    /// On any length mismatch (a precondition; the batch API checks shapes).
    fn apply_one(&self, x: &[T], out: &mut [T], real: &mut [T], complex: &mut [Complex<T>]);
}

/// Samples per parallel job: a constant, so results never depend on the
/// machine's thread count.
pub const BLOCK: usize = 64;

/// Batch application for every [`Sketch`], including `dyn Sketch<T>`.
pub trait SketchExt<T: Real>: Sketch<T> {
    /// Sketches every column of `x: (dim_in, n)` into `(dim_out, n)`.
    ///
    /// Columns are processed in fixed blocks of [`BLOCK`] samples, in parallel
    /// when `par` is `Par::Rayon(n)` (on at most `n` threads of the current
    /// rayon pool, see [`parallel`](crate::parallel)). Each output
    /// column depends only on its input column, so the result is bitwise the
    /// same for any thread count and any split of the batch.
    ///
    /// # Errors
    /// [`SketchError::DimMismatch`] for a wrong number of rows;
    /// [`SketchError::NonFinite`] for NaN or infinite data.
    fn apply(&self, x: MatRef<'_, T>, par: Par) -> Result<Mat<T>> {
        apply_impl(self, x, par)
    }
}

impl<T: Real, S: Sketch<T> + ?Sized> SketchExt<T> for S {}

fn apply_impl<T: Real, S: Sketch<T> + ?Sized>(s: &S, x: MatRef<'_, T>, par: Par) -> Result<Mat<T>> {
    check_batch(x, s.dim_in())?;
    let d = s.dim_in();
    let need = s.scratch_len().then(ScratchLen {
        real: d,
        complex: 0,
    });
    Ok(drive(
        x.ncols(),
        s.dim_out(),
        need,
        par,
        |j, out, real, complex| {
            let (copy, real) = real.split_at_mut(d);
            s.apply_one(column(x, j, copy), out, real, complex);
        },
    ))
}

/// Column `j` of `x` as a slice, copying into `buf` only when the column is
/// not contiguous.
pub(crate) fn column<'a, T: Real>(x: MatRef<'a, T>, j: usize, buf: &'a mut [T]) -> &'a [T] {
    let col = x.col(j);
    match col.try_as_col_major() {
        Some(c) => c.as_slice(),
        None => {
            for (i, v) in buf.iter_mut().enumerate() {
                *v = col[i];
            }
            buf
        }
    }
}

/// Runs `f(j, out_column, real_scratch, complex_scratch)` for every sample
/// `j < n` into a fresh `(dim_out, n)` matrix: sequentially for `Par::Seq`,
/// in parallel over fixed blocks of [`BLOCK`] columns for `Par::Rayon`.
pub(crate) fn drive<T: Real>(
    n: usize,
    dim_out: usize,
    need: ScratchLen,
    par: Par,
    f: impl Fn(usize, &mut [T], &mut [T], &mut [Complex<T>]) + Sync,
) -> Mat<T> {
    let mut out = Mat::<T>::zeros(dim_out, n);
    if n == 0 {
        return out;
    }
    let scratch = || {
        (
            vec![T::zero(); need.real],
            vec![Complex::new(T::zero(), T::zero()); need.complex],
        )
    };
    let run =
        |first: usize, mut block: faer::MatMut<'_, T>, buf: &mut (Vec<T>, Vec<Complex<T>>)| {
            for j in 0..block.ncols() {
                let mut oc = block.rb_mut().col_mut(j);
                let out_col = oc
                    .rb_mut()
                    .try_as_col_major_mut()
                    .expect("owned matrices are column-major")
                    .as_slice_mut();
                f(first + j, out_col, &mut buf.0, &mut buf.1);
            }
        };
    // Fixed blocks, so the results do not depend on the split; at most
    // `Par::Rayon(n)`'s n workers, each with its own scratch (without the
    // `rayon` feature, one).
    let scratch = crate::parallel::per_worker(par, scratch);
    let blocks = crate::parallel::col_blocks(out.as_mut(), BLOCK);
    crate::parallel::map_items(par, blocks, |w, b, block| {
        run(b * BLOCK, block, &mut crate::parallel::lock(&scratch, w));
    });
    out
}

/// Shape and finiteness checks of a batch `(dim, n)`.
pub(crate) fn check_batch<T: Real>(x: MatRef<'_, T>, dim: usize) -> Result<()> {
    if x.nrows() != dim {
        return Err(SketchError::DimMismatch {
            what: "input rows",
            expected: dim,
            got: x.nrows(),
        });
    }
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            if !x[(i, j)].is_finite() {
                return Err(SketchError::NonFinite {
                    what: "input",
                    row: i,
                    col: j,
                });
            }
        }
    }
    Ok(())
}

pub(crate) fn nonzero(what: &'static str, v: usize) -> Result<()> {
    if v == 0 {
        Err(SketchError::ZeroDimension { what })
    } else {
        Ok(())
    }
}

/// `1/sqrt(m)` in `T`.
pub(crate) fn inv_sqrt<T: Real>(m: usize) -> T {
    T::cast(1.0 / (m as f64).sqrt())
}
