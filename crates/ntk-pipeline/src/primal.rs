//! The primal side of feature ridge, summed so that its bits do not depend
//! on how the samples were split: the training set is cut into chunks of
//! [`CHUNK`] samples at fixed indices, each chunk's `ΦΦᵀ` and `ΦYᵀ` are
//! added exactly (`ntk_solve::FixedGram`) on a grid fixed by the features
//! of the first [`SCALE_SAMPLES`] samples, and the validation part is
//! scored chunk by chunk, the chunks' partial scores summed in chunk order.
//! One process, several processes and merged shards therefore reach the
//! same weights, bit for bit, for any thread count.

use std::collections::BTreeMap;

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

/// The validation part: its samples' features, kept to score the λ grid,
/// then added to the sums.
pub(crate) struct Validation<T> {
    /// Features `(D, n_val)`, by position in the split's list.
    pub(crate) z: Mat<T>,
    /// Targets `(k, n_val)`.
    pub(crate) y: Mat<f64>,
    /// The sample index of each position.
    pub(crate) idx: Vec<usize>,
}

/// Partial scores of one chunk for every λ of a grid: squared errors and
/// correct class predictions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChunkScore {
    pub(crate) sse: Vec<f64>,
    pub(crate) correct: Vec<usize>,
}

pub(crate) struct Primal<T: Scalar> {
    dim: usize,
    outputs: usize,
    chunk: usize,
    /// Per sample: its position in the validation part, if it is in it.
    pub(crate) val_of: Vec<Option<usize>>,
    /// Per fitting sample: its column among its chunk's fitting samples.
    slot: Vec<usize>,
    /// Fitting samples per chunk.
    fit_count: Vec<usize>,
    seen: Vec<bool>,
    scale_z: Mat<f64>,
    scale_y: Mat<f64>,
    scale_left: usize,
    sum: Option<FixedGram>,
    pending: BTreeMap<usize, Pending<T>>,
    pub(crate) val: Validation<T>,
}

impl<T: Scalar> Primal<T> {
    pub(crate) fn new(
        dim: usize,
        outputs: usize,
        n: usize,
        chunk: usize,
        val: Option<&[usize]>,
    ) -> Self {
        let chunk = chunk.max(1);
        let mut val_of = vec![None; n];
        let idx = val.map(<[usize]>::to_vec).unwrap_or_default();
        for (p, &i) in idx.iter().enumerate() {
            val_of[i] = Some(p);
        }
        let mut fit_count = vec![0usize; n.div_ceil(chunk)];
        let mut slot = vec![0usize; n];
        for i in 0..n {
            if val_of[i].is_none() {
                let c = i / chunk;
                slot[i] = fit_count[c];
                fit_count[c] += 1;
            }
        }
        let s = SCALE_SAMPLES.min(n);
        let n_val = idx.len();
        Self {
            dim,
            outputs,
            chunk,
            val_of,
            slot,
            fit_count,
            seen: vec![false; n],
            scale_z: Mat::zeros(dim, s),
            scale_y: Mat::zeros(outputs, s),
            scale_left: s,
            sum: None,
            pending: BTreeMap::new(),
            val: Validation {
                z: Mat::zeros(dim, n_val),
                y: Mat::zeros(outputs, n_val),
                idx,
            },
        }
    }

    /// Adds the features `z` of samples `start..start + z.ncols()` with
    /// their targets (the whole training set's `y`).
    pub(crate) fn add(
        &mut self,
        y: MatRef<'_, f64>,
        start: usize,
        z: MatRef<'_, T>,
        par: Par,
    ) -> Result<()> {
        if z.nrows() != self.dim {
            return Err(PipelineError::Shape {
                what: "feature dimension",
                expected: self.dim,
                got: z.nrows(),
            });
        }
        for j in 0..z.ncols() {
            let i = start + j;
            if self.seen[i] {
                return Err(PipelineError::Shape {
                    what: "times a sample is added (sample added twice)",
                    expected: 1,
                    got: 2,
                });
            }
            for r in 0..self.dim {
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
        let mut full = Vec::new();
        for j in 0..z.ncols() {
            let i = start + j;
            self.seen[i] = true;
            if i < self.scale_z.ncols() {
                for r in 0..self.dim {
                    self.scale_z[(r, i)] = z[(r, j)].as_f64();
                }
                for t in 0..self.outputs {
                    self.scale_y[(t, i)] = y[(t, i)];
                }
                self.scale_left -= 1;
            }
            if let Some(p) = self.val_of[i] {
                for r in 0..self.dim {
                    self.val.z[(r, p)] = z[(r, j)];
                }
                for t in 0..self.outputs {
                    self.val.y[(t, p)] = y[(t, i)];
                }
                continue;
            }
            let c = i / self.chunk;
            let (dim, outputs, count) = (self.dim, self.outputs, self.fit_count[c]);
            let pend = self.pending.entry(c).or_insert_with(|| Pending {
                z: Mat::zeros(dim, count),
                y: Mat::zeros(outputs, count),
                filled: 0,
            });
            let s = self.slot[i];
            for r in 0..dim {
                pend.z[(r, s)] = z[(r, j)];
            }
            for t in 0..outputs {
                pend.y[(t, s)] = y[(t, i)];
            }
            pend.filled += 1;
            if pend.filled == count {
                full.push(c);
            }
        }
        if self.sum.is_none() && self.scale_left == 0 {
            self.set_scale(FixedScale::from_block(
                self.scale_z.as_ref(),
                self.scale_y.as_ref(),
            )?)?;
        }
        self.flush(par)
    }

    fn set_scale(&mut self, scale: FixedScale) -> Result<()> {
        self.sum = Some(FixedGram::new(self.dim, self.outputs, scale)?);
        Ok(())
    }

    /// Adds every complete chunk once the grid is known.
    fn flush(&mut self, par: Par) -> Result<()> {
        let Some(sum) = self.sum.as_mut() else {
            return Ok(());
        };
        let done: Vec<usize> = self
            .pending
            .iter()
            .filter(|(c, p)| p.filled == self.fit_count[**c])
            .map(|(c, _)| *c)
            .collect();
        for c in done {
            let p = self.pending.remove(&c).expect("a pending chunk");
            let y = Mat::<T>::from_fn(p.y.nrows(), p.y.ncols(), |i, j| T::cast(p.y[(i, j)]));
            sum.add_chunk(p.z.as_ref(), y.as_ref(), par)?;
        }
        Ok(())
    }

    /// Errors unless every sample was added.
    fn check_complete(&self) -> Result<()> {
        let missing = self.seen.iter().filter(|s| !**s).count();
        if missing > 0 || self.sum.is_none() {
            return Err(PipelineError::Shape {
                what: "samples added before the fit",
                expected: self.seen.len(),
                got: self.seen.len() - missing,
            });
        }
        Ok(())
    }

    /// The normal equations of the fitting part.
    pub(crate) fn fitting_equations(&self) -> Result<GramAccumulator> {
        self.check_complete()?;
        Ok(self.sum.as_ref().expect("complete").to_accumulator()?)
    }

    /// The validation part's positions grouped by chunk, each group in
    /// sample order, groups in chunk order.
    fn val_chunks(&self) -> Vec<(usize, Vec<usize>)> {
        let mut order: Vec<usize> = (0..self.val.idx.len()).collect();
        order.sort_by_key(|&p| self.val.idx[p]);
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for p in order {
            let c = self.val.idx[p] / self.chunk;
            match groups.last_mut() {
                Some((gc, g)) if *gc == c => g.push(p),
                _ => groups.push((c, vec![p])),
            }
        }
        groups
    }

    /// Partial scores of the validation part by chunk, in chunk order, for
    /// the weights `(D, k)` of every λ; `labels` are the validation
    /// positions' class labels (empty for regression).
    pub(crate) fn score_chunks(
        &self,
        weights: &[Mat<f64>],
        labels: &[usize],
    ) -> Result<Vec<(usize, ChunkScore)>> {
        let mut out = Vec::new();
        for (c, group) in self.val_chunks() {
            let z = Mat::<f64>::from_fn(self.dim, group.len(), |r, j| {
                self.val.z[(r, group[j])].as_f64()
            });
            let mut score = ChunkScore {
                sse: vec![0.0; weights.len()],
                correct: vec![0; weights.len()],
            };
            let mut pred = Mat::<f64>::zeros(self.outputs, group.len());
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
                    for t in 0..self.outputs {
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
            out.push((c, score));
        }
        Ok(out)
    }

    /// Adds the validation part to the sums, chunk by chunk, and returns
    /// the normal equations of every sample.
    pub(crate) fn all_equations(mut self, par: Par) -> Result<GramAccumulator> {
        self.check_complete()?;
        let groups = self.val_chunks();
        let sum = self.sum.as_mut().expect("complete");
        for (_, group) in groups {
            let z = Mat::<T>::from_fn(self.dim, group.len(), |r, j| self.val.z[(r, group[j])]);
            let y = Mat::<T>::from_fn(self.outputs, group.len(), |t, j| {
                T::cast(self.val.y[(t, group[j])])
            });
            sum.add_chunk(z.as_ref(), y.as_ref(), par)?;
        }
        Ok(sum.to_accumulator()?)
    }
}

/// The scores of a λ grid from chunks' partial scores (summed in chunk
/// order, whoever computed them): accuracy, or the mean squared error over
/// `n_val·k` entries.
pub(crate) fn combine(
    metric: Metric,
    grid: &[f64],
    mut parts: Vec<(usize, ChunkScore)>,
    n_val: usize,
    outputs: usize,
) -> Vec<(f64, f64)> {
    parts.sort_by_key(|(c, _)| *c);
    grid.iter()
        .enumerate()
        .map(|(l, &lambda)| {
            let score = match metric {
                Metric::Accuracy => {
                    parts.iter().map(|(_, s)| s.correct[l]).sum::<usize>() as f64 / n_val as f64
                }
                _ => {
                    let mut sse = 0.0;
                    for (_, s) in &parts {
                        sse += s.sse[l];
                    }
                    sse / (n_val * outputs) as f64
                }
            };
            (lambda, score)
        })
        .collect()
}
