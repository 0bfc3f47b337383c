//! The primal side of feature ridge, summed so that its bits do not depend
//! on how the samples were split: the training set is cut into chunks of
//! [`CHUNK`] samples at fixed indices, each chunk's `ΦΦᵀ` and `ΦYᵀ` are
//! added exactly (`ntk_solve::FixedGram`) on a grid fixed by the features
//! of the first [`SCALE_SAMPLES`] samples, and the validation part is
//! scored chunk by chunk, the chunks' partial scores summed in chunk order.
//! One process, several processes and merged shards therefore reach the
//! same weights, bit for bit, for any thread count.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::error::{PipelineError, Result};
use crate::map::Scalar;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use ntk_solve::metrics::{Metric, argmax};
use ntk_solve::{FixedGram, FixedScale, GramAccumulator};

/// Samples per chunk of the exact sums: the chunk's features are held
/// (`D × CHUNK` values) until its Gram is added, which costs `D²·CHUNK`
/// multiply-adds against `D²/2` roundings to the grid, so the rounding is a
/// few per cent of the work at this size.
pub const CHUNK: usize = 2048;

/// The first samples, whose features fix the grid of the exact sums
/// ([`FixedScale::from_block`]); every process featurises them.
pub const SCALE_SAMPLES: usize = 256;

/// A chunk's fitting samples while they arrive.
struct Pending<T> {
    z: Mat<T>,
    y: Mat<f64>,
    filled: usize,
}

/// The validation samples of a range of chunks: their features, kept to
/// score the λ grid, then added to the sums.
#[derive(Debug, Clone)]
pub(crate) struct Validation<T> {
    /// Features `(D, m)`.
    pub(crate) z: Mat<T>,
    /// Targets `(k, m)`.
    pub(crate) y: Mat<f64>,
    /// The sample index of each column.
    pub(crate) idx: Vec<usize>,
    /// The class label of each column (empty for regression).
    pub(crate) labels: Vec<usize>,
}

/// Partial validation scores of one chunk for every λ of a grid: what a
/// process holding the chunk's validation samples reports, so that scores
/// summed in chunk order are the same bits wherever the chunks were.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkScore {
    /// The chunk.
    pub chunk: usize,
    /// Sum of squared errors over the chunk's validation samples and the
    /// outputs, per λ.
    pub sse: Vec<f64>,
    /// Correct class predictions per λ (zero for regression).
    pub correct: Vec<usize>,
}

/// The problem a sum belongs to: what shards of one fit share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Samples in the training set.
    pub samples: usize,
    /// Samples per chunk.
    pub chunk: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Outputs (target rows).
    pub outputs: usize,
}

impl Layout {
    /// Chunks of the training set.
    pub fn chunks(&self) -> usize {
        self.samples.div_ceil(self.chunk)
    }
    /// The samples of chunks `c`.
    pub fn samples_of(&self, c: Range<usize>) -> Range<usize> {
        (c.start * self.chunk).min(self.samples)..(c.end * self.chunk).min(self.samples)
    }
}

/// The chunks `[i·C/N, (i+1)·C/N)` of shard `i` of `N` over `C` chunks:
/// contiguous, in order, and their sizes differ by at most one chunk.
pub fn shard_chunks(chunks: usize, shard: usize, shards: usize) -> Range<usize> {
    let at = |i: usize| (i as u128 * chunks as u128 / shards.max(1) as u128) as usize;
    at(shard)..at(shard + 1)
}

/// Builds the sums of one range of chunks from blocks of features.
pub(crate) struct Primal<T: Scalar> {
    layout: Layout,
    /// The chunks summed here.
    range: Range<usize>,
    /// Per owned sample (index minus the range's first): its validation
    /// column, if it is in the validation part.
    val_col: Vec<Option<usize>>,
    /// Per owned fitting sample: its column among its chunk's fitting samples.
    slot: Vec<usize>,
    /// Fitting samples per owned chunk.
    fit_count: Vec<usize>,
    seen: Vec<bool>,
    scale_z: Mat<f64>,
    scale_y: Mat<f64>,
    scale_seen: Vec<bool>,
    sum: Option<FixedGram>,
    pending: BTreeMap<usize, Pending<T>>,
    /// A flushed chunk's buffers, reused by the next chunk of the same
    /// size (streaming allocates nothing per chunk).
    spare: Option<Pending<T>>,
    val: Validation<T>,
}

impl<T: Scalar> Primal<T> {
    /// The sums of chunks `range` of `layout`, the validation part being
    /// the samples `val` (of the whole training set) and `labels` the class
    /// labels of every sample (classification).
    pub(crate) fn new(
        layout: Layout,
        range: Range<usize>,
        val: Option<&[usize]>,
        labels: Option<&[usize]>,
    ) -> Self {
        let owned = layout.samples_of(range.clone());
        let first = owned.start;
        let mut val_idx: Vec<usize> = val
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|i| owned.contains(i))
            .collect();
        val_idx.sort_unstable();
        let mut val_col = vec![None; owned.len()];
        for (col, &i) in val_idx.iter().enumerate() {
            val_col[i - first] = Some(col);
        }
        let mut fit_count = vec![0usize; range.len()];
        let mut slot = vec![0usize; owned.len()];
        for i in owned.clone() {
            if val_col[i - first].is_none() {
                let c = i / layout.chunk - range.start;
                slot[i - first] = fit_count[c];
                fit_count[c] += 1;
            }
        }
        let s = SCALE_SAMPLES.min(layout.samples);
        let m = val_idx.len();
        Self {
            layout,
            range,
            val_col,
            slot,
            fit_count,
            seen: vec![false; owned.len()],
            scale_z: Mat::zeros(layout.dim, s),
            scale_y: Mat::zeros(layout.outputs, s),
            scale_seen: vec![false; s],
            sum: None,
            pending: BTreeMap::new(),
            spare: None,
            val: Validation {
                z: Mat::zeros(layout.dim, m),
                y: Mat::zeros(layout.outputs, m),
                labels: labels
                    .map(|l| val_idx.iter().map(|&i| l[i]).collect())
                    .unwrap_or_default(),
                idx: val_idx,
            },
        }
    }

    /// Adds the features `z` of samples `start..start + z.ncols()` with
    /// their targets (the whole training set's `y`): samples of the range,
    /// and the first [`SCALE_SAMPLES`] samples wherever they lie (outside
    /// the range they only set the grid).
    pub(crate) fn add(
        &mut self,
        y: MatRef<'_, f64>,
        start: usize,
        z: MatRef<'_, T>,
        par: Par,
    ) -> Result<()> {
        let dim = self.layout.dim;
        if z.nrows() != dim {
            return Err(PipelineError::Shape {
                what: "feature dimension",
                expected: dim,
                got: z.nrows(),
            });
        }
        let owned = self.layout.samples_of(self.range.clone());
        let first = owned.start;
        for j in 0..z.ncols() {
            let i = start + j;
            let scale = i < self.scale_seen.len();
            if !owned.contains(&i) && !scale {
                return Err(PipelineError::Shape {
                    what: "first sample of the shard's range (a sample outside it was added)",
                    expected: owned.start,
                    got: i,
                });
            }
            if (owned.contains(&i) && self.seen[i - first]) || (scale && self.scale_seen[i]) {
                return Err(PipelineError::Shape {
                    what: "times a sample is added (sample added twice)",
                    expected: 1,
                    got: 2,
                });
            }
            for r in 0..dim {
                let v = z[(r, j)].as_f64();
                if !v.is_finite() {
                    return Err(ntk_solve::SolveError::NonFinite {
                        what: "features",
                        row: r,
                        col: i,
                    }
                    .into());
                }
            }
        }
        let outputs = self.layout.outputs;
        for j in 0..z.ncols() {
            let i = start + j;
            if i < self.scale_seen.len() {
                for r in 0..dim {
                    self.scale_z[(r, i)] = z[(r, j)].as_f64();
                }
                for t in 0..outputs {
                    self.scale_y[(t, i)] = y[(t, i)];
                }
                self.scale_seen[i] = true;
            }
            if !owned.contains(&i) {
                continue;
            }
            self.seen[i - first] = true;
            if let Some(col) = self.val_col[i - first] {
                for r in 0..dim {
                    self.val.z[(r, col)] = z[(r, j)];
                }
                for t in 0..outputs {
                    self.val.y[(t, col)] = y[(t, i)];
                }
                continue;
            }
            let c = i / self.layout.chunk;
            let count = self.fit_count[c - self.range.start];
            let spare = &mut self.spare;
            let pend = self.pending.entry(c).or_insert_with(|| match spare.take() {
                Some(p) if p.z.ncols() == count => p,
                _ => Pending {
                    z: Mat::zeros(dim, count),
                    y: Mat::zeros(outputs, count),
                    filled: 0,
                },
            });
            let s = self.slot[i - first];
            for r in 0..dim {
                pend.z[(r, s)] = z[(r, j)];
            }
            for t in 0..outputs {
                pend.y[(t, s)] = y[(t, i)];
            }
            pend.filled += 1;
        }
        if self.sum.is_none() && self.scale_seen.iter().all(|s| *s) {
            let scale = FixedScale::from_block(self.scale_z.as_ref(), self.scale_y.as_ref())?;
            self.sum = Some(FixedGram::new(dim, outputs, scale)?);
        }
        self.flush(par)
    }

    /// Adds every complete chunk once the grid is known.
    fn flush(&mut self, par: Par) -> Result<()> {
        let Some(sum) = self.sum.as_mut() else {
            return Ok(());
        };
        let done: Vec<usize> = self
            .pending
            .iter()
            .filter(|(c, p)| p.filled == self.fit_count[**c - self.range.start])
            .map(|(c, _)| *c)
            .collect();
        for c in done {
            let mut p = self.pending.remove(&c).expect("a pending chunk");
            let y = Mat::<T>::from_fn(p.y.nrows(), p.y.ncols(), |i, j| T::cast(p.y[(i, j)]));
            sum.add_chunk(p.z.as_ref(), y.as_ref(), par)?;
            p.filled = 0;
            self.spare = Some(p);
        }
        Ok(())
    }

    /// The sums of the range, once every sample of it (and the first
    /// samples, for the grid) was added.
    ///
    /// # Errors
    /// [`PipelineError::Shape`] naming how many samples arrived.
    pub(crate) fn into_sums(self) -> Result<PrimalSums<T>> {
        let missing = self.seen.iter().filter(|s| !**s).count();
        let Some(sums) = self.sum else {
            let s = self.scale_seen.len();
            return Err(PipelineError::Shape {
                what: "first samples added (they set the grid of the sums)",
                expected: s,
                got: self.scale_seen.iter().filter(|x| **x).count(),
            });
        };
        if missing > 0 {
            return Err(PipelineError::Shape {
                what: "samples added before the fit",
                expected: self.seen.len(),
                got: self.seen.len() - missing,
            });
        }
        Ok(PrimalSums {
            layout: self.layout,
            ranges: vec![self.range],
            sums,
            val: self.val,
        })
    }
}

/// The exact sums of some chunks of a training set, with the validation
/// samples among them: what a shard computes, what shards merge into, and
/// what a fit solves once every chunk is in.
#[derive(Debug, Clone)]
pub(crate) struct PrimalSums<T> {
    pub(crate) layout: Layout,
    /// Disjoint chunk ranges, sorted.
    pub(crate) ranges: Vec<Range<usize>>,
    /// The fitting samples' sums.
    pub(crate) sums: FixedGram,
    pub(crate) val: Validation<T>,
}

impl<T: Scalar> PrimalSums<T> {
    /// Adds another shard's sums.
    ///
    /// # Errors
    /// Other layouts or grids; overlapping chunk ranges.
    pub(crate) fn merge(&mut self, other: &Self) -> Result<()> {
        if self.layout != other.layout {
            return Err(PipelineError::ShardMismatch {
                reason: format!(
                    "layouts differ: {:?} against {:?}",
                    self.layout, other.layout
                ),
            });
        }
        for a in &self.ranges {
            for b in &other.ranges {
                if a.start < b.end && b.start < a.end {
                    return Err(PipelineError::ShardMismatch {
                        reason: format!(
                            "chunks {}..{} and {}..{} overlap (a shard given twice?)",
                            a.start, a.end, b.start, b.end
                        ),
                    });
                }
            }
        }
        self.sums.merge(&other.sums)?;
        let m = self.val.idx.len() + other.val.idx.len();
        let (dim, k) = (self.layout.dim, self.layout.outputs);
        let mut z = Mat::<T>::zeros(dim, m);
        let mut y = Mat::<f64>::zeros(k, m);
        let mut cols: Vec<(usize, bool, usize)> = (0..self.val.idx.len())
            .map(|c| (self.val.idx[c], false, c))
            .chain((0..other.val.idx.len()).map(|c| (other.val.idx[c], true, c)))
            .collect();
        cols.sort_unstable();
        let mut idx = Vec::with_capacity(m);
        let mut labels = Vec::new();
        for (col, &(i, theirs, c)) in cols.iter().enumerate() {
            let src = if theirs { &other.val } else { &self.val };
            for r in 0..dim {
                z[(r, col)] = src.z[(r, c)];
            }
            for t in 0..k {
                y[(t, col)] = src.y[(t, c)];
            }
            idx.push(i);
            if !src.labels.is_empty() {
                labels.push(src.labels[c]);
            }
        }
        self.val = Validation { z, y, idx, labels };
        self.ranges.extend(other.ranges.iter().cloned());
        self.ranges.sort_by_key(|r| r.start);
        Ok(())
    }

    /// The chunk ranges not yet summed.
    pub(crate) fn missing(&self) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut at = 0;
        for r in &self.ranges {
            if r.start > at {
                out.push(at..r.start);
            }
            at = at.max(r.end);
        }
        if at < self.layout.chunks() {
            out.push(at..self.layout.chunks());
        }
        out
    }

    fn check_complete(&self) -> Result<()> {
        let missing = self.missing();
        if let Some(r) = missing.first() {
            return Err(PipelineError::ShardMismatch {
                reason: format!(
                    "chunks {}..{} of {} (samples {}..{}) are missing: a shard was not merged",
                    r.start,
                    r.end,
                    self.layout.chunks(),
                    self.layout.samples_of(r.clone()).start,
                    self.layout.samples_of(r.clone()).end,
                ),
            });
        }
        Ok(())
    }

    /// The normal equations of the fitting part.
    pub(crate) fn fitting_equations(&self) -> Result<GramAccumulator> {
        self.check_complete()?;
        Ok(self.sums.to_accumulator()?)
    }

    /// The validation columns grouped by chunk, each group in sample
    /// order, groups in chunk order.
    fn val_chunks(&self) -> Vec<(usize, Vec<usize>)> {
        let mut order: Vec<usize> = (0..self.val.idx.len()).collect();
        order.sort_by_key(|&p| self.val.idx[p]);
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for p in order {
            let c = self.val.idx[p] / self.layout.chunk;
            match groups.last_mut() {
                Some((gc, g)) if *gc == c => g.push(p),
                _ => groups.push((c, vec![p])),
            }
        }
        groups
    }

    /// Partial scores of the validation samples by chunk, in chunk order,
    /// for the weights `(D, k)` of every λ.
    pub(crate) fn score_chunks(&self, weights: &[Mat<f64>]) -> Result<Vec<ChunkScore>> {
        let (dim, outputs) = (self.layout.dim, self.layout.outputs);
        let labels = &self.val.labels;
        let mut out = Vec::new();
        for (c, group) in self.val_chunks() {
            let z =
                Mat::<f64>::from_fn(dim, group.len(), |r, j| self.val.z[(r, group[j])].as_f64());
            let mut score = ChunkScore {
                chunk: c,
                sse: vec![0.0; weights.len()],
                correct: vec![0; weights.len()],
            };
            let mut pred = Mat::<f64>::zeros(outputs, group.len());
            for (l, w) in weights.iter().enumerate() {
                // Sequential: the bits of a chunk's predictions depend only
                // on the chunk.
                matmul(
                    pred.as_mut(),
                    Accum::Replace,
                    w.transpose(),
                    z.as_ref(),
                    1.0,
                    Par::Seq,
                );
                let mut sse = 0.0;
                for (j, &p) in group.iter().enumerate() {
                    for t in 0..outputs {
                        sse += (pred[(t, j)] - self.val.y[(t, p)]).powi(2);
                    }
                }
                score.sse[l] = sse;
                if !labels.is_empty() {
                    let am = argmax(pred.as_ref())?;
                    score.correct[l] = group
                        .iter()
                        .zip(&am)
                        .filter(|(p, a)| labels[**p] == **a)
                        .count();
                }
            }
            out.push(score);
        }
        Ok(out)
    }

    /// The validation samples' own sums, chunk by chunk (what
    /// [`all_equations`](Self::all_equations) adds to the fitting part's).
    pub(crate) fn val_sums(&self, par: Par) -> Result<FixedGram> {
        let (dim, outputs) = (self.layout.dim, self.layout.outputs);
        let mut sums = FixedGram::new(dim, outputs, self.sums.scale())?;
        for (_, group) in self.val_chunks() {
            let z = Mat::<T>::from_fn(dim, group.len(), |r, j| self.val.z[(r, group[j])]);
            let y = Mat::<T>::from_fn(outputs, group.len(), |t, j| {
                T::cast(self.val.y[(t, group[j])])
            });
            sums.add_chunk(z.as_ref(), y.as_ref(), par)?;
        }
        Ok(sums)
    }

    /// Adds the validation samples to the sums, chunk by chunk, and
    /// returns the normal equations of every sample.
    pub(crate) fn all_equations(mut self, par: Par) -> Result<GramAccumulator> {
        self.check_complete()?;
        let (dim, outputs) = (self.layout.dim, self.layout.outputs);
        for (_, group) in self.val_chunks() {
            let z = Mat::<T>::from_fn(dim, group.len(), |r, j| self.val.z[(r, group[j])]);
            let y = Mat::<T>::from_fn(outputs, group.len(), |t, j| {
                T::cast(self.val.y[(t, group[j])])
            });
            self.sums.add_chunk(z.as_ref(), y.as_ref(), par)?;
        }
        Ok(self.sums.to_accumulator()?)
    }
}

/// The scores of a λ grid from chunks' partial scores (summed in chunk
/// order, whoever computed them): accuracy, or the mean squared error over
/// `n_val·k` entries.
pub(crate) fn combine(
    metric: Metric,
    grid: &[f64],
    mut parts: Vec<ChunkScore>,
    n_val: usize,
    outputs: usize,
) -> Vec<(f64, f64)> {
    parts.sort_by_key(|s| s.chunk);
    grid.iter()
        .enumerate()
        .map(|(l, &lambda)| {
            let score = match metric {
                Metric::Accuracy => {
                    parts.iter().map(|s| s.correct[l]).sum::<usize>() as f64 / n_val as f64
                }
                _ => {
                    let mut sse = 0.0;
                    for s in &parts {
                        sse += s.sse[l];
                    }
                    sse / (n_val * outputs) as f64
                }
            };
            (lambda, score)
        })
        .collect()
}
