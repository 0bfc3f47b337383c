//! Sums of `ΦΦᵀ` and `ΦYᵀ` whose bits do not depend on how the samples are
//! split between shards, processes or threads.
//!
//! Floating-point addition is not associative, so a `D × D` Gram summed in
//! `f64` over chunks comes out with different last bits when the chunks are
//! grouped differently (one process against three, shards merged in
//! another order). [`FixedGram`] sums in integers instead:
//!
//! 1. the samples are cut into *chunks* by the caller, at boundaries that
//!    depend only on the sample index (never on the number of workers);
//! 2. each chunk's `Φ_c Φ_cᵀ` is computed in `f64` by panels of [`PANEL`]
//!    columns, one sequential GEMM per panel, so that its bits depend only
//!    on the chunk (any thread count gives the same chunk Gram);
//! 3. every entry is rounded to a fixed grid `q·2^e` (a [`FixedScale`]
//!    chosen once for the whole problem) and added as the integer `q` in
//!    `i128`, where addition is exact and therefore associative.
//!
//! Any grouping of the same chunks gives the same integers, and the final
//! `f64` matrix is a function of them. The grid is `2^−60` of the largest
//! diagonal entry of the first block of samples (see
//! [`FixedScale::from_block`]): rounding to it costs less than the chunk
//! GEMM's own rounding (about `√b·2^−53` relative for `b`-sample chunks),
//! and the `i128` range leaves `2^66` times that entry of headroom, tracked
//! by a bound so that an overflow is an error, never a wrap.

use crate::check;
use crate::error::{Result, SolveError};
use crate::gram::{Element, GramAccumulator};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

/// Columns per panel of the chunk Gram: each panel is one sequential GEMM
/// of `(D − c) × PANEL` entries, the unit of parallelism, and its `f64`
/// buffer (`D × PANEL` values) is the only temporary of a chunk.
pub const PANEL: usize = 256;

/// Bits of the grid below the scale's reference magnitude.
const FRACTION_BITS: i32 = 60;

/// Totals are refused once their bound reaches `2^126` grid units (one bit
/// below `i128::MAX`, so no sum of two admitted totals can wrap).
const LIMIT: f64 = TWO63 * TWO63;

/// The grids of a [`FixedGram`]: an entry `q` of the Gram means `q·2^gram`,
/// an entry of the right-hand side `q·2^cross`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedScale {
    /// Exponent of the Gram's grid.
    pub gram: i32,
    /// Exponent of the right-hand side's grid.
    pub cross: i32,
}

/// `⌊log₂ x⌋` of a positive normal `x`.
fn exponent(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// `2^e` for `|e| ≤ 1022`.
fn pow2(e: i32) -> f64 {
    debug_assert!(e.abs() <= 1022);
    f64::from_bits(((e + 1023) as u64) << 52)
}

impl FixedScale {
    /// The scale of a problem, from the features `phi: (D, b)` and targets
    /// `y: (k, b)` of its first samples (by convention the first
    /// [`PANEL`] samples of the training set, which every process can
    /// featurise for itself): the Gram's grid is `2^−60` of
    /// `m₀ = max_j Σ_i φ_ij²`, the right-hand side's `2^−60` of
    /// `√(m₀ · max_t Σ_i y_ti²)` (its Cauchy–Schwarz bound). A zero
    /// reference falls back to 1.
    ///
    /// # Errors
    /// Shape and non-finite checks; a reference magnitude outside
    /// `[2^−900, 2^900]`, whose grid `f64` cannot scale to.
    pub fn from_block<T: Element>(phi: MatRef<'_, T>, y: MatRef<'_, T>) -> Result<Self> {
        check::same("samples in targets vs features", phi.ncols(), y.ncols())?;
        check::finite("feature block", phi)?;
        check::finite("target block", y)?;
        let sq = |m: MatRef<'_, T>| {
            (0..m.nrows())
                .map(|i| {
                    (0..m.ncols())
                        .map(|j| {
                            let v: f64 = m[(i, j)].into();
                            v * v
                        })
                        .sum::<f64>()
                })
                .fold(0.0f64, f64::max)
        };
        let m0 = sq(phi);
        let y0 = sq(y);
        let reference = |x: f64| -> Result<i32> {
            if x == 0.0 {
                return Ok(-FRACTION_BITS);
            }
            if !(x.is_finite() && (2f64.powi(-900)..=2f64.powi(900)).contains(&x)) {
                return Err(SolveError::InvalidParameter {
                    what: "feature magnitude of the first samples",
                    value: x,
                    reason: "the fixed-point grid needs 2^-900 <= max squared norm <= 2^900",
                });
            }
            Ok(exponent(x) - FRACTION_BITS)
        };
        let gram = reference(m0)?;
        let cross = if y0 == 0.0 {
            reference(m0.sqrt())?
        } else {
            reference((m0 * y0).sqrt())?
        };
        Ok(Self { gram, cross })
    }
}

/// Errors unless both bounds (in grid units) are below [`LIMIT`].
fn within_limit(bg: f64, bc: f64, what: &'static str) -> Result<()> {
    if bg < LIMIT && bc < LIMIT {
        return Ok(());
    }
    Err(SolveError::InvalidParameter {
        what,
        value: bg.max(bc),
        reason: "the exact sums must stay below 2^126 grid units",
    })
}

/// `2^63`.
const TWO63: f64 = 9_223_372_036_854_775_808.0;

/// `round(x·mul)` as an integer, exactly (`|x·mul| < 2^127`).
#[inline]
fn to_fixed(x: f64, mul: f64) -> i128 {
    let y = (x * mul).round_ties_even();
    if y.abs() < TWO63 {
        y as i64 as i128
    } else {
        // y = hi·2^64 + lo with 0 <= lo < 2^64: both parts are exact (lo keeps
        // a subset of y's 53 significant bits).
        let two64 = 2.0 * TWO63;
        let hi = (y / two64).floor();
        let lo = y - hi * two64;
        ((hi as i64 as i128) << 64) + lo as u64 as i128
    }
}

/// The columns `[start, end)` of panel `p` of a `dim × dim` lower triangle.
fn panel_cols(dim: usize, p: usize) -> (usize, usize) {
    (p * PANEL, ((p + 1) * PANEL).min(dim))
}

/// Exact sums of `ΦΦᵀ` (its lower triangle) and `ΦYᵀ` over chunks of
/// samples, in `i128` on the grids of a [`FixedScale`]: the totals, and so
/// the `f64` matrices built from them, are the same bits for any grouping of
/// the same chunks and any thread count (see the module documentation).
///
/// Layout of the triangle: panel `p` holds columns `[256p, 256(p+1))` and
/// rows from `256p` to the end, column-major (the diagonal block is held
/// whole; its upper part is computed and ignored).
#[derive(Debug, Clone)]
pub struct FixedGram {
    dim: usize,
    outputs: usize,
    scale: FixedScale,
    panels: Vec<Vec<i128>>,
    cross: Vec<i128>,
    n: usize,
    bound_gram: f64,
    bound_cross: f64,
    /// A chunk's features in `f64`, kept between chunks so that streaming
    /// allocates nothing per chunk (not part of the value).
    scratch: Vec<f64>,
}

impl PartialEq for FixedGram {
    fn eq(&self, other: &Self) -> bool {
        self.dim == other.dim
            && self.outputs == other.outputs
            && self.scale == other.scale
            && self.n == other.n
            && self.panels == other.panels
            && self.cross == other.cross
    }
}

impl FixedGram {
    /// An empty sum for `dim` features and `outputs` targets.
    ///
    /// # Errors
    /// [`SolveError::Empty`] for a zero dimension.
    pub fn new(dim: usize, outputs: usize, scale: FixedScale) -> Result<Self> {
        check::non_empty("feature dimension", dim)?;
        check::non_empty("number of outputs", outputs)?;
        let panels = (0..dim.div_ceil(PANEL))
            .map(|p| {
                let (c0, c1) = panel_cols(dim, p);
                vec![0i128; (dim - c0) * (c1 - c0)]
            })
            .collect();
        Ok(Self {
            dim,
            outputs,
            scale,
            panels,
            cross: vec![0; dim * outputs],
            n: 0,
            bound_gram: 0.0,
            bound_cross: 0.0,
            scratch: Vec::new(),
        })
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.outputs
    }
    /// Samples summed.
    pub fn samples(&self) -> usize {
        self.n
    }
    /// The grids.
    pub fn scale(&self) -> FixedScale {
        self.scale
    }

    /// Adds one chunk `phi: (D, b)` with targets `y: (k, b)`. The result
    /// depends only on the chunk's values, not on `par`.
    ///
    /// # Errors
    /// Shape and non-finite checks; [`SolveError::InvalidParameter`] when
    /// the totals could leave the `i128` range (features `2^66` times
    /// larger than the first samples'). A failed call changes nothing.
    pub fn add_chunk<T: Element>(
        &mut self,
        phi: MatRef<'_, T>,
        y: MatRef<'_, T>,
        par: Par,
    ) -> Result<()> {
        check::same("feature rows of the chunk", self.dim, phi.nrows())?;
        check::same("target rows of the chunk", self.outputs, y.nrows())?;
        check::same("samples in targets vs features", phi.ncols(), y.ncols())?;
        check::finite("feature chunk", phi)?;
        check::finite("target chunk", y)?;
        let b = phi.ncols();
        if b == 0 {
            return Ok(());
        }
        self.scratch.clear();
        self.scratch
            .extend((0..b).flat_map(|j| (0..self.dim).map(move |i| phi[(i, j)].into())));
        let phi64 = MatRef::from_column_major_slice(&self.scratch, self.dim, b);
        let y64 = Mat::<f64>::from_fn(self.outputs, b, |i, j| y[(i, j)].into());
        let gmul = pow2(-self.scale.gram);
        let cmul = pow2(-self.scale.cross);
        // Bounds before anything is added: |G_ij| <= max_j G_jj, and the
        // right-hand side's entries are computed first (they are small).
        let maxdiag = (0..self.dim)
            .map(|i| (0..b).map(|j| phi64[(i, j)] * phi64[(i, j)]).sum::<f64>())
            .fold(0.0f64, f64::max);
        let mut c = Mat::<f64>::zeros(self.dim, self.outputs);
        matmul(
            c.as_mut(),
            Accum::Replace,
            phi64,
            y64.transpose(),
            1.0,
            Par::Seq,
        );
        let mut maxcross = 0.0f64;
        for t in 0..self.outputs {
            for i in 0..self.dim {
                maxcross = maxcross.max(c[(i, t)].abs());
            }
        }
        // One grid unit of slack per entry for rounding.
        let bg = self.bound_gram + maxdiag * gmul + 1.0;
        let bc = self.bound_cross + maxcross * cmul + 1.0;
        if !(bg < LIMIT && bc < LIMIT) {
            return Err(SolveError::InvalidParameter {
                what: "feature magnitude (relative to the first samples')",
                value: (maxdiag * gmul).max(maxcross * cmul),
                reason: "the exact sums hold features up to 2^66 times the first samples' norms",
            });
        }
        let dim = self.dim;
        let add_panel = |p: usize, panel: &mut [i128]| {
            let (c0, c1) = panel_cols(dim, p);
            let mut t = Mat::<f64>::zeros(dim - c0, c1 - c0);
            matmul(
                t.as_mut(),
                Accum::Replace,
                phi64.subrows(c0, dim - c0),
                phi64.subrows(c0, c1 - c0).transpose(),
                1.0,
                Par::Seq,
            );
            let rows = dim - c0;
            for (j, col) in panel.chunks_exact_mut(rows).enumerate() {
                for (i, q) in col.iter_mut().enumerate() {
                    *q += to_fixed(t[(i, j)], gmul);
                }
            }
        };
        match par {
            Par::Seq => {
                for (p, panel) in self.panels.iter_mut().enumerate() {
                    add_panel(p, panel);
                }
            }
            // One panel per task, handed out one at a time: panels shrink
            // from the first to the last, and dynamic hand-out balances
            // them (rayon's default halving would give one worker the big
            // half).
            _ => self
                .panels
                .par_iter_mut()
                .enumerate()
                .with_max_len(1)
                .for_each(|(p, panel)| add_panel(p, panel)),
        }
        for t in 0..self.outputs {
            for i in 0..self.dim {
                self.cross[t * self.dim + i] += to_fixed(c[(i, t)], cmul);
            }
        }
        self.bound_gram = bg;
        self.bound_cross = bc;
        self.n += b;
        Ok(())
    }

    /// Adds another sum over other chunks (shards of one dataset): exact,
    /// so merging in any order gives the same bits.
    ///
    /// # Errors
    /// [`SolveError::ShapeMismatch`] for other dimensions, outputs or grids;
    /// [`SolveError::InvalidParameter`] when the totals could leave the
    /// `i128` range.
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        check::same("feature dimension of merged sums", self.dim, other.dim)?;
        check::same("outputs of merged sums", self.outputs, other.outputs)?;
        if self.scale != other.scale {
            return Err(SolveError::InvalidParameter {
                what: "fixed-point grid exponent of merged sums",
                value: f64::from(other.scale.gram),
                reason: "sums of one problem share the grid of its first samples",
            });
        }
        let bg = self.bound_gram + other.bound_gram;
        let bc = self.bound_cross + other.bound_cross;
        within_limit(bg, bc, "magnitude of merged sums")?;
        for (a, b) in self.panels.iter_mut().zip(&other.panels) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += *y;
            }
        }
        for (x, y) in self.cross.iter_mut().zip(&other.cross) {
            *x += *y;
        }
        self.bound_gram = bg;
        self.bound_cross = bc;
        self.n += other.n;
        Ok(())
    }

    /// The totals as integers: the triangle's panels in order (each
    /// column-major, see the type's documentation), then the right-hand
    /// side column-major (`D × k`). For files and message passing.
    pub fn words(&self) -> impl Iterator<Item = i128> + '_ {
        self.panels
            .iter()
            .flat_map(|p| p.iter().copied())
            .chain(self.cross.iter().copied())
    }

    /// Adds `words` to this sum's words `start..start + words.len()` (in
    /// the order of [`words`](Self::words)): a slab of another sum of the
    /// same problem, for reductions that never hold two whole sums. Call
    /// [`absorb`](Self::absorb) after the last slab.
    ///
    /// # Errors
    /// [`SolveError::ShapeMismatch`] for words beyond the sum;
    /// [`SolveError::InvalidParameter`] when an entry would leave the
    /// `i128` range (the sum is then unusable).
    pub fn add_words(&mut self, start: usize, words: &[i128]) -> Result<()> {
        let total = Self::word_count(self.dim, self.outputs);
        if start + words.len() > total {
            return Err(SolveError::ShapeMismatch {
                what: "words of a slab (end)",
                expected: total,
                got: start + words.len(),
            });
        }
        let overflow = || SolveError::InvalidParameter {
            what: "magnitude of merged sums",
            value: f64::INFINITY,
            reason: "an exact sum left the i128 range",
        };
        let mut at = 0usize;
        let mut w = words;
        let mut pos = start;
        for part in self
            .panels
            .iter_mut()
            .map(Vec::as_mut_slice)
            .chain(std::iter::once(self.cross.as_mut_slice()))
        {
            let len = part.len();
            if w.is_empty() {
                break;
            }
            if pos < at + len {
                let from = pos - at;
                let k = (len - from).min(w.len());
                for (x, y) in part[from..from + k].iter_mut().zip(&w[..k]) {
                    *x = x.checked_add(*y).ok_or_else(overflow)?;
                }
                w = &w[k..];
                pos += k;
            }
            at += len;
        }
        Ok(())
    }

    /// Counts the `samples` of a sum whose words were added by
    /// [`add_words`](Self::add_words), and refreshes the overflow bounds
    /// from the totals.
    ///
    /// # Errors
    /// [`SolveError::InvalidParameter`] for totals beyond `2^126` units.
    pub fn absorb(&mut self, samples: usize) -> Result<()> {
        let max = |v: &[i128]| {
            v.iter()
                .map(|q| q.unsigned_abs() as f64)
                .fold(0.0f64, f64::max)
        };
        let bg = self.panels.iter().map(|p| max(p)).fold(0.0f64, f64::max);
        let bc = max(&self.cross);
        within_limit(bg, bc, "magnitude of merged sums")?;
        self.bound_gram = bg;
        self.bound_cross = bc;
        self.n += samples;
        Ok(())
    }

    /// The number of integers [`words`](Self::words) yields.
    pub fn word_count(dim: usize, outputs: usize) -> usize {
        (0..dim.div_ceil(PANEL))
            .map(|p| {
                let (c0, c1) = panel_cols(dim, p);
                (dim - c0) * (c1 - c0)
            })
            .sum::<usize>()
            + dim * outputs
    }

    /// The inverse of [`words`](Self::words): a sum of `n` samples.
    ///
    /// # Errors
    /// [`SolveError::ShapeMismatch`] for a wrong number of words;
    /// [`SolveError::InvalidParameter`] for totals beyond `2^126` units.
    pub fn from_words(
        dim: usize,
        outputs: usize,
        scale: FixedScale,
        n: usize,
        words: impl IntoIterator<Item = i128>,
    ) -> Result<Self> {
        let mut s = Self::new(dim, outputs, scale)?;
        let mut it = words.into_iter();
        let mut got = 0usize;
        let mut fill = |dst: &mut [i128], bound: &mut f64| {
            for q in dst.iter_mut() {
                match it.next() {
                    Some(v) => {
                        *q = v;
                        *bound = bound.max(v.unsigned_abs() as f64);
                        got += 1;
                    }
                    None => return,
                }
            }
        };
        let (mut bg, mut bc) = (0.0, 0.0);
        for p in &mut s.panels {
            fill(p, &mut bg);
        }
        fill(&mut s.cross, &mut bc);
        let extra = it.count();
        check::same(
            "words of a fixed-point sum",
            Self::word_count(dim, outputs),
            got + extra,
        )?;
        within_limit(bg, bc, "magnitude of stored sums")?;
        s.bound_gram = bg;
        s.bound_cross = bc;
        s.n = n;
        Ok(s)
    }

    /// The `f64` normal equations of the totals (each entry the integer
    /// rounded once to `f64`, then scaled by a power of two), ready for
    /// [`GramAccumulator::solve`] and [`GramAccumulator::path`].
    ///
    /// # Errors
    /// [`SolveError::Empty`] before any sample.
    pub fn to_accumulator(&self) -> Result<GramAccumulator> {
        check::non_empty("accumulated samples", self.n)?;
        let gs = pow2(self.scale.gram);
        let cs = pow2(self.scale.cross);
        let mut gram = Mat::<f64>::zeros(self.dim, self.dim);
        for (p, panel) in self.panels.iter().enumerate() {
            let (c0, c1) = panel_cols(self.dim, p);
            let rows = self.dim - c0;
            for j in c0..c1 {
                for i in j..self.dim {
                    let v = panel[(j - c0) * rows + (i - c0)] as f64 * gs;
                    gram[(i, j)] = v;
                    gram[(j, i)] = v;
                }
            }
        }
        let cross = Mat::<f64>::from_fn(self.dim, self.outputs, |i, t| {
            self.cross[t * self.dim + i] as f64 * cs
        });
        GramAccumulator::from_sums(gram, cross, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_fixed_is_exact_on_both_sides_of_two_to_the_63() {
        for &y in &[
            0.0,
            -1.0,
            3.0e18,
            -9.3e18,
            2f64.powi(100) + 2f64.powi(48),
            -(2f64.powi(120) - 2f64.powi(68)),
        ] {
            let q = to_fixed(y, 1.0);
            // i128 -> f64 is exact here: every y has at most 53 bits.
            assert_eq!(q as f64, y, "{y}");
        }
        // Rounding to the grid: ties to even.
        assert_eq!(to_fixed(2.5, 1.0), 2);
        assert_eq!(to_fixed(-3.5, 1.0), -4);
    }
}
