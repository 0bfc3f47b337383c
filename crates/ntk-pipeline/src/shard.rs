//! Shards of one primal feature ridge: the exact sums of a contiguous range
//! of chunks and the validation samples in it ([`Shard`]), computed by
//! [`FeatureRidge::for_chunks`] on any machine, merged in any order, and
//! solved once every chunk is in — the same weights, bit for bit, as one
//! process fitting everything (see [`crate::CHUNK`]).

use std::ops::Range;

use crate::error::{PipelineError, Result};
use crate::map::{AnyMap, Block};
use crate::primal::{ChunkScore, Layout, PrimalSums, Validation};
use crate::ridge::{AnyFitter, FeatureFit, FeatureRidge, Lambda, Targets, finish_primal};
use faer::{Mat, MatRef, Par};
use ntk_solve::FixedGram;

/// The validation samples' features of a shard, in the map's precision.
#[derive(Debug, Clone)]
pub enum ValFeatures {
    /// `f32` features `(D, m)`.
    F32(Mat<f32>),
    /// `f64` features `(D, m)`.
    F64(Mat<f64>),
}

#[derive(Debug, Clone)]
enum AnyShard {
    F32(PrimalSums<f32>),
    F64(PrimalSums<f64>),
}

/// The exact sums of some chunks of a training set (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct Shard(AnyShard);

macro_rules! each {
    ($s:expr, $p:ident => $e:expr) => {
        match $s {
            AnyShard::F32($p) => $e,
            AnyShard::F64($p) => $e,
        }
    };
}

impl Shard {
    /// The problem the shard belongs to.
    pub fn layout(&self) -> Layout {
        each!(&self.0, p => p.layout)
    }
    /// The chunk ranges summed, sorted and disjoint.
    pub fn ranges(&self) -> &[Range<usize>] {
        each!(&self.0, p => &p.ranges)
    }
    /// The chunk ranges of the training set not summed yet.
    pub fn missing(&self) -> Vec<Range<usize>> {
        each!(&self.0, p => p.missing())
    }
    /// The fitting samples' exact sums.
    pub fn sums(&self) -> &FixedGram {
        each!(&self.0, p => &p.sums)
    }
    /// Moves the fitting samples' sums out (for a reduction that consumes
    /// them), leaving an empty sum of the same grid: the validation samples
    /// stay, for [`score`](Self::score) and [`val_sums`](Self::val_sums).
    pub fn take_sums(&mut self) -> FixedGram {
        each!(&mut self.0, p => {
            let empty = FixedGram::new(1, p.layout.outputs, p.sums.scale())
                .expect("a shard has outputs");
            std::mem::replace(&mut p.sums, empty)
        })
    }

    /// The validation samples' features `(D, m)`.
    pub fn val_features(&self) -> Block<'_> {
        match &self.0 {
            AnyShard::F32(p) => Block::F32(p.val.z.as_ref()),
            AnyShard::F64(p) => Block::F64(p.val.z.as_ref()),
        }
    }
    /// The validation samples' targets `(k, m)`.
    pub fn val_targets(&self) -> MatRef<'_, f64> {
        each!(&self.0, p => p.val.y.as_ref())
    }
    /// The validation samples' indices in the training set, ascending.
    pub fn val_indices(&self) -> &[usize] {
        each!(&self.0, p => &p.val.idx)
    }
    /// The validation samples' class labels (empty for regression).
    pub fn val_labels(&self) -> &[usize] {
        each!(&self.0, p => &p.val.labels)
    }

    /// A shard from its parts (as read back from a file).
    ///
    /// # Errors
    /// [`PipelineError::ShardMismatch`] for parts that disagree: sums of
    /// another dimension, validation samples outside the ranges, out of
    /// order, or of inconsistent counts.
    pub fn from_parts(
        layout: Layout,
        ranges: Vec<Range<usize>>,
        sums: FixedGram,
        val_z: ValFeatures,
        val_y: Mat<f64>,
        val_idx: Vec<usize>,
        val_labels: Vec<usize>,
    ) -> Result<Self> {
        let bad = |reason: String| Err(PipelineError::ShardMismatch { reason });
        if sums.dim() != layout.dim || sums.outputs() != layout.outputs {
            return bad(format!(
                "sums of {} features and {} outputs in a problem of {} and {}",
                sums.dim(),
                sums.outputs(),
                layout.dim,
                layout.outputs
            ));
        }
        if layout.chunk == 0 || layout.samples == 0 {
            return bad("a problem without samples or chunks".into());
        }
        let mut at = 0;
        for r in &ranges {
            if r.start < at || r.start >= r.end || r.end > layout.chunks() {
                return bad(format!(
                    "chunk ranges {ranges:?} are not sorted, disjoint and within 0..{}",
                    layout.chunks()
                ));
            }
            at = r.end;
        }
        let (zr, zc) = match &val_z {
            ValFeatures::F32(z) => (z.nrows(), z.ncols()),
            ValFeatures::F64(z) => (z.nrows(), z.ncols()),
        };
        let m = val_idx.len();
        if zr != layout.dim
            || zc != m
            || val_y.nrows() != layout.outputs
            || val_y.ncols() != m
            || !(val_labels.is_empty() || val_labels.len() == m)
        {
            return bad(format!(
                "validation parts of shapes ({zr}, {zc}), ({}, {}), {} labels for {m} samples",
                val_y.nrows(),
                val_y.ncols(),
                val_labels.len()
            ));
        }
        let owned = |i: usize| {
            ranges
                .iter()
                .any(|r| layout.samples_of(r.clone()).contains(&i))
        };
        if val_idx.windows(2).any(|w| w[0] >= w[1]) || val_idx.iter().any(|&i| !owned(i)) {
            return bad("validation indices are not ascending within the shard's chunks".into());
        }
        let fitted = ranges
            .iter()
            .map(|r| layout.samples_of(r.clone()).len())
            .sum::<usize>();
        if sums.samples() + m != fitted {
            return bad(format!(
                "{} fitted and {m} validation samples in chunks holding {fitted}",
                sums.samples()
            ));
        }
        let (y, idx, labels) = (val_y, val_idx, val_labels);
        Ok(Self(match val_z {
            ValFeatures::F32(z) => AnyShard::F32(assemble(layout, ranges, sums, z, y, idx, labels)),
            ValFeatures::F64(z) => AnyShard::F64(assemble(layout, ranges, sums, z, y, idx, labels)),
        }))
    }

    /// Adds another shard of the same problem (exact: any order gives the
    /// same bits).
    ///
    /// # Errors
    /// [`PipelineError::ShardMismatch`] for another layout, precision or
    /// grid, or overlapping chunks.
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        match (&mut self.0, &other.0) {
            (AnyShard::F32(a), AnyShard::F32(b)) => a.merge(b),
            (AnyShard::F64(a), AnyShard::F64(b)) => a.merge(b),
            _ => Err(PipelineError::ShardMismatch {
                reason: "shards of f32 and f64 features".into(),
            }),
        }
    }

    /// Partial validation scores of the shard's chunks for the weights
    /// `(D, k)` of every λ of a grid ([`crate::grid_weights`]), for
    /// [`crate::select_lambda`] wherever the other shards are.
    ///
    /// # Errors
    /// Weights of another shape.
    pub fn score(&self, weights: &[Mat<f64>]) -> Result<Vec<ChunkScore>> {
        for w in weights {
            let l = self.layout();
            if w.nrows() != l.dim || w.ncols() != l.outputs {
                return Err(PipelineError::Shape {
                    what: "weights (rows) of a grid",
                    expected: l.dim,
                    got: w.nrows(),
                });
            }
        }
        each!(&self.0, p => p.score_chunks(weights))
    }

    /// The shard's validation samples' exact sums: added to the fitting
    /// parts' sums of every shard, they make the final model's equations.
    ///
    /// # Errors
    /// As [`FixedGram::add_chunk`].
    pub fn val_sums(&self, par: Par) -> Result<FixedGram> {
        each!(&self.0, p => p.val_sums(par))
    }

    /// λ (given, or chosen on the validation samples) and the weights, once
    /// every chunk is in.
    ///
    /// # Errors
    /// [`PipelineError::ShardMismatch`] naming the missing chunks; the
    /// selection's and the solver's errors.
    pub fn finish(self, lambda: Lambda<'_>, par: Par) -> Result<FeatureFit> {
        each!(self.0, p => finish_primal(p, lambda, par))
    }
}

/// A shard's sums from its parts, in either precision.
fn assemble<T>(
    layout: Layout,
    ranges: Vec<Range<usize>>,
    sums: FixedGram,
    z: Mat<T>,
    y: Mat<f64>,
    idx: Vec<usize>,
    labels: Vec<usize>,
) -> PrimalSums<T> {
    PrimalSums {
        layout,
        ranges,
        sums,
        val: Validation { z, y, idx, labels },
    }
}

impl<'a> FeatureRidge<'a> {
    /// Primal ridge on the chunks `range` only (of [`crate::CHUNK`]
    /// samples unless `chunk` says otherwise): add the range's samples and
    /// the first [`crate::SCALE_SAMPLES`] samples (which set the grid of
    /// the sums), then [`into_shard`](Self::into_shard).
    ///
    /// # Errors
    /// As [`FeatureRidge::new`]; a range beyond the training set; a problem
    /// on the dual side (`2n ≤ D`), which keeps every feature and is fitted
    /// in one process.
    pub fn for_chunks(
        map: &AnyMap,
        targets: Targets<'a>,
        lambda: Lambda<'a>,
        chunk: usize,
        range: Range<usize>,
    ) -> Result<Self> {
        Self::build(map, targets, lambda, chunk, Some(range))
    }

    /// The sums of the range, once its samples (and the first ones) are in.
    ///
    /// # Errors
    /// Missing samples; a ridge on the dual side.
    pub fn into_shard(self) -> Result<Shard> {
        match self.fitter {
            AnyFitter::F32(f) => Ok(Shard(AnyShard::F32(f.into_sums()?))),
            AnyFitter::F64(f) => Ok(Shard(AnyShard::F64(f.into_sums()?))),
        }
    }
}
