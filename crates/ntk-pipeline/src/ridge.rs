//! Ridge on streamed features, on the cheaper side of the normal equations
//! (as scikit-learn's `Ridge`): with at least as many samples as features,
//! the primal `(ΦΦᵀ + λI) W = ΦY` summed exactly chunk by chunk
//! (`ntk_solve::FixedGram`, `D × D`; see `primal`); with at most half as many
//! samples as features, the dual `(ΦᵀΦ + λI) A = Y`, `W = ΦA` (`n × n`, the features
//! kept: `n·D < D²` values). Both give the same weights to rounding, and
//! choose λ the same way: given, or on a seeded validation split of the
//! training set (the validation part's features score the grid; the
//! validation part then joins the fit for the final model). A JSON-able
//! record of the choice, and predictions.

use crate::error::{PipelineError, Result};
use crate::map::{AnyMap, Block, Scalar};
use crate::primal::{CHUNK, ChunkScore, Layout, Primal, PrimalSums, combine};
use crate::stream::{Stream, sample_count};
use faer::linalg::matmul::matmul;
use faer::{Mat, MatRef, Par};
use ntk_solve::DualRidge;
use ntk_solve::GramAccumulator;
use ntk_solve::metrics::{Metric, Truth};
use ntk_solve::select::{Selection, pick, select_kernel_ridge, validation_split};
use serde_json::{Value, json};
use std::ops::Range;

/// What the ridge fits: targets `(k, n)` (one-hot codes or values), and
/// class labels when classifying (λ is then chosen by accuracy, otherwise
/// by MSE).
#[derive(Debug, Clone, Copy)]
pub struct Targets<'a> {
    /// Targets `(k, n)`, one sample per column.
    pub y: MatRef<'a, f64>,
    /// Class labels of the `n` samples (classification only).
    pub labels: Option<&'a [usize]>,
}

impl Targets<'_> {
    /// The metric λ is chosen by.
    pub fn metric(&self) -> Metric {
        if self.labels.is_some() {
            Metric::Accuracy
        } else {
            Metric::Mse
        }
    }
}

/// How λ is set.
#[derive(Debug, Clone, Copy)]
pub enum Lambda<'a> {
    /// Exactly as given.
    Given(f64),
    /// The best of `grid` on a validation split holding out `val_fraction`
    /// of the training set, drawn from `seed`.
    Split {
        /// Candidate λ values.
        grid: &'a [f64],
        /// Fraction held out.
        val_fraction: f64,
        /// Seed of the split.
        seed: u64,
    },
}

/// The name of a selection metric in the JSON records.
pub fn metric_name(metric: Metric) -> &'static str {
    if metric == Metric::Accuracy {
        "accuracy"
    } else {
        "mse"
    }
}

/// Every candidate λ with its validation score, as JSON.
pub fn scores_json(sel: &Selection) -> Vec<Value> {
    sel.scores
        .iter()
        .map(|(l, s)| json!({"lambda": l, "score": s}))
        .collect::<Vec<_>>()
}

/// λ chosen on a seeded validation split of the training set (`n_fit`
/// samples fitted, `n_validation` scored): one record for exact kernels and
/// features alike.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRecord {
    /// Fraction held out.
    pub val_fraction: f64,
    /// Samples fitted while scoring the grid.
    pub n_fit: usize,
    /// Samples scored.
    pub n_validation: usize,
    /// Seed of the split.
    pub seed: u64,
    /// The metric of the scores.
    pub metric: Metric,
    /// The choice and every candidate's score.
    pub selection: Selection,
}

impl SplitRecord {
    /// The record as the CLI's JSON results write it.
    pub fn to_json(&self) -> Value {
        json!({
            "method": "validation split of the training set",
            "val_fraction": self.val_fraction,
            "n_fit": self.n_fit,
            "n_validation": self.n_validation,
            "seed": self.seed,
            "metric": metric_name(self.metric),
            "scores": scores_json(&self.selection),
        })
    }
}

/// How λ was set.
#[derive(Debug, Clone, PartialEq)]
pub enum LambdaRecord {
    /// As given.
    Given,
    /// Chosen on a validation split.
    Split(SplitRecord),
}

impl LambdaRecord {
    /// The record as JSON (`{"method": "given"}` or [`SplitRecord::to_json`]).
    pub fn to_json(&self) -> Value {
        match self {
            Self::Given => json!({ "method": "given" }),
            Self::Split(r) => r.to_json(),
        }
    }
    /// The chosen λ's validation score (`None` when λ was given).
    pub fn validation_score(&self) -> Option<f64> {
        match self {
            Self::Given => None,
            Self::Split(r) => Some(r.selection.score),
        }
    }
}

/// Primal ridge weights and how λ was set.
#[derive(Debug, Clone)]
pub struct FeatureFit {
    /// Weights `(D′, k)`: predictions `Wᵀ Z`.
    pub weights: Mat<f64>,
    /// λ of the weights.
    pub lambda: f64,
    /// How λ was set.
    pub record: LambdaRecord,
}

/// Longest λ grid scored by one Cholesky factorisation per value (`n³/3`
/// flops each, on the dual side's `n × n` or the primal side's `D × D`
/// system) rather than one eigendecomposition (about `9n³`): 12
/// factorisations cost less than the eigensolver.
pub const DIRECT_GRID: usize = 12;

/// What the validation part's predictions are scored against: its labels
/// for accuracy, its targets otherwise.
fn validation_truth<'b>(metric: Metric, labels: &'b [usize], y_val: MatRef<'b, f64>) -> Truth<'b> {
    match metric {
        Metric::Accuracy => Truth::Labels(labels),
        _ => Truth::Values(y_val),
    }
}

/// The accumulation in the map's precision.
pub(crate) struct Fitter<T: Scalar> {
    /// The primal normal equations (`D × D`), or `None` on the dual side.
    primal: Option<Primal<T>>,
    /// The dual side: every sample's features in `f64`, `D × n`, the
    /// fitting part first (in sample order), then the validation part in
    /// the split's order (empty on the primal side).
    all: Mat<f64>,
    /// The column of `all` each sample goes to.
    column: Vec<usize>,
    /// The validation part's samples, in the split's order.
    val_idx: Vec<usize>,
}

impl<T: Scalar> Fitter<T> {
    fn new(
        dim: usize,
        targets: Targets<'_>,
        lambda: Lambda<'_>,
        chunk: usize,
        range: Option<Range<usize>>,
    ) -> Result<Self> {
        let n = targets.y.ncols();
        let k = targets.y.nrows();
        let val = match lambda {
            Lambda::Split {
                val_fraction, seed, ..
            } => Some(validation_split(n, val_fraction, seed)?.1),
            Lambda::Given(_) => None,
        };
        // The cheaper side: at most half as many samples as features solve
        // the n × n dual, whose memory (the features, n·D values, and at
        // most about 2.7n² for the kernel and the factors of DualRidge,
        // so at most 1.2D²) then stays below the primal side's (the D × D
        // sums in i128 and in f64 and the solver's copy, over 3D² values);
        // its flops (n²D for ΦᵀΦ, n³/3 per factorisation) are below the
        // primal's (nD² and D³/3).
        if 2 * n > dim {
            // Validates the shapes without allocating the D × D sums yet.
            ntk_solve::FixedGram::new(1, k, ntk_solve::FixedScale { gram: 0, cross: 0 })?;
            if dim == 0 {
                return Err(ntk_solve::SolveError::Empty {
                    what: "feature dimension",
                }
                .into());
            }
            let layout = Layout {
                samples: n,
                chunk: chunk.max(1),
                dim,
                outputs: k,
            };
            let range = range.unwrap_or(0..layout.chunks());
            if range.end > layout.chunks() || range.start > range.end {
                return Err(PipelineError::ShardMismatch {
                    reason: format!(
                        "chunks {}..{} asked of a training set of {} chunks",
                        range.start,
                        range.end,
                        layout.chunks()
                    ),
                });
            }
            return Ok(Self {
                primal: Some(Primal::new(layout, range, val.as_deref(), targets.labels)),
                all: Mat::zeros(0, 0),
                column: Vec::new(),
                val_idx: Vec::new(),
            });
        }
        if range.is_some() {
            return Err(PipelineError::ShardMismatch {
                reason: format!(
                    "{n} samples take the dual side (n <= D/2 = {}): it keeps every feature, \
                     so fit in one process rather than by shards",
                    dim / 2
                ),
            });
        }
        let val_idx = val.unwrap_or_default();
        let n_fit = n - val_idx.len();
        let mut column = vec![usize::MAX; n];
        for (p, &i) in val_idx.iter().enumerate() {
            column[i] = n_fit + p;
        }
        for (next, c) in column.iter_mut().filter(|c| **c == usize::MAX).enumerate() {
            *c = next;
        }
        Ok(Self {
            primal: None,
            all: Mat::<f64>::zeros(dim, n),
            column,
            val_idx,
        })
    }

    /// The primal side's sums, once complete.
    pub(crate) fn into_sums(self) -> Result<PrimalSums<T>> {
        match self.primal {
            Some(p) => p.into_sums(),
            None => Err(PipelineError::ShardMismatch {
                reason: "the dual side has no shards".into(),
            }),
        }
    }

    /// The class labels of the validation part (empty for regression).
    fn val_labels(targets: Targets<'_>, val_idx: &[usize]) -> Vec<usize> {
        targets
            .labels
            .map(|l| val_idx.iter().map(|&i| l[i]).collect())
            .unwrap_or_default()
    }

    fn add(&mut self, y: MatRef<'_, f64>, start: usize, z: MatRef<'_, T>, par: Par) -> Result<()> {
        if let Some(p) = self.primal.as_mut() {
            return p.add(y, start, z, par);
        }
        let dim = z.nrows();
        // The dual side keeps every sample (validation ones too: their
        // kernel rows score the grid).
        if dim != self.all.nrows() {
            return Err(PipelineError::Shape {
                what: "feature dimension",
                expected: self.all.nrows(),
                got: dim,
            });
        }
        for j in 0..z.ncols() {
            for i in 0..dim {
                let v = z[(i, j)].as_f64();
                if !v.is_finite() {
                    return Err(ntk_solve::SolveError::NonFinite {
                        what: "features",
                        row: i,
                        col: start + j,
                    }
                    .into());
                }
                self.all[(i, self.column[start + j])] = v;
            }
        }
        Ok(())
    }

    fn finish(self, targets: Targets<'_>, lambda: Lambda<'_>, par: Par) -> Result<FeatureFit> {
        let Some(primal) = self.primal else {
            return self.finish_dual(targets, lambda, par);
        };
        finish_primal(primal.into_sums()?, lambda, par)
    }

    /// The dual side: `K = ΦᵀΦ` of every sample (in `f64`, fitting part
    /// first), λ chosen by kernel ridge on the fitting block scored on the
    /// cross block (the same predictions as the primal path's, to
    /// rounding), then `A = (K + λI)⁻¹ Y` on all samples and `W = ΦA`
    /// ([`DualRidge`]).
    fn finish_dual(self, targets: Targets<'_>, lambda: Lambda<'_>, par: Par) -> Result<FeatureFit> {
        let (k, n) = (targets.y.nrows(), targets.y.ncols());
        let n_fit = n - self.val_idx.len();
        // Targets in the columns' order.
        let mut y = Mat::<f64>::zeros(k, n);
        for (i, &c) in self.column.iter().enumerate() {
            for t in 0..k {
                y[(t, c)] = targets.y[(t, i)];
            }
        }
        let mut dual = DualRidge::new(self.all.as_ref(), n_fit, par)?;
        let (lambda, record) = match lambda {
            Lambda::Given(l) => (l, LambdaRecord::Given),
            Lambda::Split {
                grid,
                val_fraction,
                seed,
            } => {
                let val = &self.val_idx;
                let y_fit = y.as_ref().subcols(0, n_fit);
                let y_val = y.as_ref().subcols(n_fit, n - n_fit);
                let labels = Self::val_labels(targets, val);
                let metric = targets.metric();
                let truth = validation_truth(metric, &labels, y_val);
                // The cheaper route: a Cholesky per candidate for short
                // grids, one eigendecomposition for long ones.
                let sel = if grid.len() <= DIRECT_GRID {
                    dual.select(y_fit, truth, grid, metric, par)?
                } else {
                    select_kernel_ridge(
                        dual.fitting_block(),
                        y_fit,
                        dual.cross_block(),
                        truth,
                        grid,
                        metric,
                    )?
                };
                let record = SplitRecord {
                    val_fraction,
                    n_fit,
                    n_validation: val.len(),
                    seed,
                    metric,
                    selection: sel,
                };
                (record.selection.lambda, LambdaRecord::Split(record))
            }
        };
        let coefficients = dual.solve(y.as_ref(), lambda, par)?;
        let mut weights = Mat::<f64>::zeros(self.all.nrows(), k);
        matmul(
            weights.as_mut(),
            faer::Accum::Replace,
            self.all.as_ref(),
            coefficients.as_ref(),
            1.0,
            par,
        );
        Ok(FeatureFit {
            weights,
            lambda,
            record,
        })
    }
}

/// λ and the weights from the exact sums of every chunk: the grid's
/// weights from the fitting part's equations ([`grid_weights`]), scored
/// chunk by chunk; then the validation samples join the sums.
pub(crate) fn finish_primal<T: Scalar>(
    sums: PrimalSums<T>,
    lambda: Lambda<'_>,
    par: Par,
) -> Result<FeatureFit> {
    let (lambda, record) = match lambda {
        Lambda::Given(l) => (l, LambdaRecord::Given),
        Lambda::Split {
            grid,
            val_fraction,
            seed,
        } => {
            let weights = grid_weights(&sums.fitting_equations()?, grid)?;
            let parts = sums.score_chunks(&weights)?;
            let record = select_lambda(
                sums.layout,
                !sums.val.labels.is_empty(),
                sums.val.idx.len(),
                (grid, val_fraction, seed),
                parts,
            )?;
            (record.selection.lambda, LambdaRecord::Split(record))
        }
    };
    // The validation part joins the fit for the final model.
    let (weights, _) = sums.all_equations(par)?.solve(lambda)?;
    Ok(FeatureFit {
        weights,
        lambda,
        record,
    })
}

/// The weights `(D, k)` of every λ of `grid` from the fitting part's
/// normal equations: one Cholesky factorisation per candidate for grids of
/// up to [`DIRECT_GRID`] values (`D³/3` flops each against about `9D³`
/// for the eigendecomposition, and the same bits for any thread count, so
/// that processes with other thread counts choose λ alike), one
/// eigendecomposition for longer grids.
///
/// # Errors
/// The solver's.
pub fn grid_weights(fit: &GramAccumulator, grid: &[f64]) -> Result<Vec<Mat<f64>>> {
    if grid.len() <= DIRECT_GRID {
        return grid
            .iter()
            .map(|&l| Ok(fit.solve(l)?.0))
            .collect::<Result<Vec<_>>>();
    }
    let path = fit.path()?;
    grid.iter()
        .map(|&l| Ok(path.solve(l)?.0))
        .collect::<Result<Vec<_>>>()
}

/// λ chosen from the chunks' partial scores (summed in chunk order, so the
/// same bits wherever the chunks were scored): accuracy when classifying,
/// MSE otherwise; `(grid, val_fraction, seed)` the split's rule.
///
/// # Errors
/// An empty grid.
pub fn select_lambda(
    layout: Layout,
    classify: bool,
    n_val: usize,
    (grid, val_fraction, seed): (&[f64], f64, u64),
    parts: Vec<ChunkScore>,
) -> Result<SplitRecord> {
    let metric = if classify {
        Metric::Accuracy
    } else {
        Metric::Mse
    };
    let scores = combine(metric, grid, parts, n_val, layout.outputs);
    Ok(SplitRecord {
        val_fraction,
        n_fit: layout.samples - n_val,
        n_validation: n_val,
        seed,
        metric,
        selection: pick(metric, scores)?,
    })
}

pub(crate) enum AnyFitter {
    F32(Fitter<f32>),
    F64(Fitter<f64>),
}

/// Primal ridge fed block by block: [`add`](Self::add) each block of the
/// training set's features (in any order, each sample once), then
/// [`finish`](Self::finish). [`fit`] does both over a [`Stream`].
pub struct FeatureRidge<'a> {
    pub(crate) fitter: AnyFitter,
    targets: Targets<'a>,
    lambda: Lambda<'a>,
}

impl core::fmt::Debug for FeatureRidge<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FeatureRidge")
            .field("targets", &self.targets)
            .field("lambda", &self.lambda)
            .finish_non_exhaustive()
    }
}

impl<'a> FeatureRidge<'a> {
    /// Ridge on the features of `map` against `targets`, λ as `lambda` says
    /// (the validation split, if any, is drawn now).
    ///
    /// # Errors
    /// Invalid split fractions; an empty map.
    pub fn new(map: &AnyMap, targets: Targets<'a>, lambda: Lambda<'a>) -> Result<Self> {
        Self::with_chunk(map, targets, lambda, CHUNK)
    }

    /// [`new`](Self::new) with chunks of `chunk` samples instead of
    /// [`CHUNK`] (tests use small ones so that chunks straddle shards).
    /// Fits of one problem agree bit for bit only at equal chunk sizes.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_chunk(
        map: &AnyMap,
        targets: Targets<'a>,
        lambda: Lambda<'a>,
        chunk: usize,
    ) -> Result<Self> {
        Self::build(map, targets, lambda, chunk, None)
    }

    pub(crate) fn build(
        map: &AnyMap,
        targets: Targets<'a>,
        lambda: Lambda<'a>,
        chunk: usize,
        range: Option<Range<usize>>,
    ) -> Result<Self> {
        let dim = map.dim();
        let r = range.clone();
        let fitter = match map {
            AnyMap::F32(_) => AnyFitter::F32(Fitter::new(dim, targets, lambda, chunk, r)?),
            AnyMap::F64(_) => AnyFitter::F64(Fitter::new(dim, targets, lambda, chunk, range)?),
        };
        Ok(Self {
            fitter,
            targets,
            lambda,
        })
    }

    /// Adds the features `z` of samples `start..start + z.ncols()`.
    ///
    /// # Errors
    /// A block of the other precision or beyond the targets; the
    /// accumulator's shape and finiteness checks.
    pub fn add(&mut self, start: usize, z: Block<'_>, par: Par) -> Result<()> {
        let n = self.targets.y.ncols();
        if start + z.ncols() > n {
            return Err(PipelineError::Shape {
                what: "samples of the targets",
                expected: n,
                got: start + z.ncols(),
            });
        }
        let y = self.targets.y;
        match (&mut self.fitter, z) {
            (AnyFitter::F32(f), Block::F32(z)) => f.add(y, start, z, par),
            (AnyFitter::F64(f), Block::F64(z)) => f.add(y, start, z, par),
            (f, z) => Err(PipelineError::PrecisionMismatch {
                expected: match f {
                    AnyFitter::F32(_) => "f32",
                    AnyFitter::F64(_) => "f64",
                },
                got: z.precision().name(),
            }),
        }
    }

    /// Chooses λ (if asked) and solves for the weights.
    ///
    /// # Errors
    /// The selection's and the solver's errors.
    pub fn finish(self, par: Par) -> Result<FeatureFit> {
        match self.fitter {
            AnyFitter::F32(f) => f.finish(self.targets, self.lambda, par),
            AnyFitter::F64(f) => f.finish(self.targets, self.lambda, par),
        }
    }
}

/// Primal ridge on the features of `map` for the training inputs `x`
/// (sample-major) and `targets`, the features streamed as `s` says.
///
/// # Errors
/// Inputs and targets of different sample counts; as [`FeatureRidge`] and
/// [`AnyMap::stream`].
pub fn fit<X: Copy + Into<f64>, E: From<PipelineError>>(
    map: &AnyMap,
    x: &[X],
    targets: Targets<'_>,
    lambda: Lambda<'_>,
    s: &mut Stream<'_, E>,
) -> Result<FeatureFit, E> {
    let mut ridge = FeatureRidge::new(map, targets, lambda)?;
    let n = sample_count(x.len(), map.sample_len())?;
    if n != targets.y.ncols() {
        return Err(PipelineError::Shape {
            what: "samples of the targets",
            expected: n,
            got: targets.y.ncols(),
        }
        .into());
    }
    let par = s.par;
    map.stream(x, s, &mut |start, z| Ok(ridge.add(start, z, par)?))?;
    Ok(ridge.finish(par)?)
}

/// Predictions `(k, n)` of primal weights `w: (D′, k)` on the features of
/// `x` (sample-major), streamed as `s` says.
///
/// # Errors
/// Weights of another dimension than the map's; non-finite predictions;
/// as [`AnyMap::stream`].
pub fn predict<X: Copy + Into<f64>, E: From<PipelineError>>(
    map: &AnyMap,
    w: MatRef<'_, f64>,
    x: &[X],
    s: &mut Stream<'_, E>,
) -> Result<Mat<f64>, E> {
    let n = sample_count(x.len(), map.sample_len())?;
    let mut pred = Mat::<f64>::zeros(w.ncols(), n);
    map.stream(x, s, &mut |start, z| {
        let p = match z {
            Block::F32(z) => ntk_solve::predict(w, z),
            Block::F64(z) => ntk_solve::predict(w, z),
        }
        .map_err(PipelineError::from)?;
        pred.as_mut().subcols_mut(start, p.ncols()).copy_from(&p);
        Ok(())
    })?;
    if pred.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(PipelineError::NonFinitePredictions.into());
    }
    Ok(pred)
}
