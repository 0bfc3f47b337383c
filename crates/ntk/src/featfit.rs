//! Feature maps at work, for `ntk features`, `eval`, `fit`, `predict` and
//! the experiments: [`AnyMap`] in either precision, features streamed in
//! blocks of samples (optionally through a content-addressed cache), primal
//! ridge on them with λ chosen on a validation split, predictions, and the
//! check against the exact kernel.

use faer::reborrow::{Reborrow, ReborrowMut};
use std::path::Path;
use std::time::Instant;

use crate::arrays::Samples;
use crate::ctx::Ctx;
use crate::error::{Result, usage};
use crate::featspec::{FeatureSpec, Precision};
use crate::model::Task;
use crate::report::{Progress, human_seconds, table};
use crate::train::{Ridge, Train, split_record};
use faer::{Mat, MatRef};
use ntk_data::files;
use ntk_data::npy::NpyElement;
use ntk_features::{Architecture, FeatureMap, Input, KernelKind, Real, Shape, gram_error, kernels};
use ntk_solve::{Element, GramAccumulator};
use serde_json::{Value, json};

/// Samples per block of features: bounds the memory of one block at
/// `BLOCK·D′` values whatever `n` is.
const BLOCK: usize = 256;

/// Seconds of feature work above which the time estimate is printed.
const ESTIMATE_ABOVE: f64 = 10.0;

/// A feature map in the precision the user asked for.
pub(crate) enum AnyMap {
    F32(FeatureMap<f32>),
    F64(FeatureMap<f64>),
}

impl AnyMap {
    pub(crate) fn new(arch: &Architecture, shape: Shape, spec: &FeatureSpec) -> Result<Self> {
        Ok(match spec.dtype {
            Precision::F32 => Self::F32(FeatureMap::new(arch, shape, &spec.config)?),
            Precision::F64 => Self::F64(FeatureMap::new(arch, shape, &spec.config)?),
        })
    }
    pub(crate) fn dim(&self) -> usize {
        match self {
            Self::F32(m) => m.dim(),
            Self::F64(m) => m.dim(),
        }
    }
    pub(crate) fn degrees(&self) -> Vec<usize> {
        match self {
            Self::F32(m) => m.degrees(),
            Self::F64(m) => m.degrees(),
        }
    }
}

/// Features of samples `start..start + out.ncols()` of `x` into `out` (`(D′, len)`).
fn block_into<T: Real>(
    ctx: &Ctx,
    map: &FeatureMap<T>,
    x: &Samples,
    start: usize,
    out: faer::MatMut<'_, T>,
) -> Result<()> {
    let size = map.sample_len();
    let len = out.ncols();
    let data: Vec<T> = x.data[start * size..(start + len) * size]
        .iter()
        .map(|v| T::cast(*v))
        .collect();
    Ok(map.apply_into(&data, out, ctx.par, &mut |_, _| {})?)
}

/// FNV-1a, 64 bits: a stable fingerprint (std's `DefaultHasher` may change
/// between Rust releases, which would only cost cache misses, but a fixed
/// function keeps cache names meaningful across builds).
pub(crate) fn fingerprint(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// As [`block_into`], through a content-addressed cache in `dir` (one
/// directory per feature map, chosen by the caller): the block is named by
/// the fingerprint of its input values and its length, stored as an
/// `(len, D′)` `.npy` in the map's precision and written atomically
/// (temporary file, then rename). A block that is present with the right
/// shape is read instead of computed, so an interrupted run resumes where
/// it stopped; a damaged or mismatched file is recomputed and replaced.
/// Values round-trip exactly, so cached and computed features are equal.
fn cached_block_into<T: Real + NpyElement>(
    ctx: &Ctx,
    dir: &Path,
    map: &FeatureMap<T>,
    x: &Samples,
    start: usize,
    mut out: faer::MatMut<'_, T>,
) -> Result<()> {
    let size = map.sample_len();
    let (dim, len) = (out.nrows(), out.ncols());
    let input = &x.data[start * size..(start + len) * size];
    let key = fingerprint(input.iter().flat_map(|v| v.to_bits().to_le_bytes()));
    let path = dir.join(format!("{key:016x}-{len}.npy"));
    if let Ok(a) = files::read_npy(&path)
        && a.shape == [len, dim]
        && a.dtype() == T::DTYPE
    {
        let v = a.to_f64();
        for j in 0..len {
            for i in 0..dim {
                out[(i, j)] = T::cast(v[j * dim + i]);
            }
        }
        return Ok(());
    }
    block_into(ctx, map, x, start, out.rb_mut())?;
    let mut rows: Vec<T> = Vec::with_capacity(dim * len);
    for j in 0..len {
        rows.extend((0..dim).map(|i| out[(i, j)]));
    }
    // The cache belongs to the program: replacing a damaged block is not
    // overwriting anything a user wrote.
    files::write_npy(&path, &[len, dim], &rows, true)?;
    Ok(())
}

/// Features of samples `start..start + len` of `x`, `(D′, len)`.
fn block<T: Real>(
    ctx: &Ctx,
    map: &FeatureMap<T>,
    x: &Samples,
    start: usize,
    len: usize,
) -> Result<Mat<T>> {
    let mut z = Mat::<T>::zeros(map.dim(), len);
    block_into(ctx, map, x, start, z.as_mut())?;
    Ok(z)
}

/// Streams the features of every sample of `x` in blocks to `sink(start, block)`.
pub(crate) fn stream<T: Real + NpyElement>(
    ctx: &Ctx,
    map: &FeatureMap<T>,
    x: &Samples,
    label: &str,
    sink: &mut dyn FnMut(usize, MatRef<'_, T>) -> Result<()>,
) -> Result<()> {
    let mut progress = Progress::new(label, ctx.common.quiet);
    // One block buffer for the whole stream (no page faults per block).
    let mut z = Mat::<T>::zeros(map.dim(), BLOCK.min(x.n));
    let mut start = 0;
    while start < x.n {
        let len = BLOCK.min(x.n - start);
        let mut zb = z.as_mut().subcols_mut(0, len);
        match &ctx.feature_cache {
            Some(dir) => cached_block_into(ctx, dir, map, x, start, zb.rb_mut())?,
            None => block_into(ctx, map, x, start, zb.rb_mut())?,
        }
        let per = progress.elapsed() / len as f64;
        if start == 0 && len < x.n && per * x.n as f64 > ESTIMATE_ABOVE {
            // The first block times the rest (samples cost the same); only
            // work long enough to wait for is announced.
            ctx.say(&table(&[(
                "estimate",
                format!(
                    "about {} for {} samples (from the first {len})",
                    human_seconds(per * x.n as f64),
                    x.n
                ),
            )]));
        }
        sink(start, zb.rb())?;
        start += len;
        progress.update(start, x.n);
    }
    progress.finish();
    Ok(())
}

/// `--check N`: the exact kernel of `arch` on `samples` seeded training
/// samples against the features' Gram matrix on the same samples (fewer
/// than 2 skip it).
pub(crate) struct Check<'a> {
    pub(crate) arch: &'a Architecture,
    pub(crate) samples: usize,
    pub(crate) kernel: KernelKind,
}

/// The [`Check`] of the features of `x`: `‖ZZᵀ − K‖_F/‖K‖_F` on its samples.
pub(crate) fn check_error<T: Real>(
    ctx: &Ctx,
    check: &Check<'_>,
    map: &FeatureMap<T>,
    x: &Samples,
) -> Result<Option<(usize, f64)>> {
    let count = check.samples.min(x.n);
    if count < 2 {
        return Ok(None);
    }
    // A seeded choice of distinct samples (the same every run).
    let (_, picked) =
        ntk_solve::select::validation_split(x.n, count as f64 / x.n as f64, ctx.common.seed)
            .unwrap_or_else(|_| (Vec::new(), (0..count).collect()));
    let mut picked = picked;
    picked.truncate(count);
    let size = map.sample_len();
    let mut data = Vec::with_capacity(picked.len() * size);
    for &i in &picked {
        data.extend_from_slice(&x.data[i * size..(i + 1) * size]);
    }
    let sub = Samples {
        data,
        n: picked.len(),
        shape: x.shape,
    };
    let input: Input<'_> = sub.input();
    let k = kernels(check.arch, input, None, ctx.par, &mut |_, _| {})?;
    let z = block(ctx, map, &sub, 0, sub.n)?;
    let kk = match check.kernel {
        KernelKind::Ntk => k.ntk.as_ref(),
        KernelKind::Nngp => k.nngp.as_ref(),
    };
    // An all-zero kernel (zero inputs, no bias) has no relative error.
    match gram_error(z.as_ref(), kk) {
        Ok(e) => Ok(Some((sub.n, e))),
        Err(ntk_features::FeatureError::Empty { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Primal ridge on features: the accumulated normal equations of the
/// training set, λ chosen on a validation split (features of the
/// validation part are kept, those of the fitting part only accumulated).
pub(crate) struct FeatureFit {
    pub(crate) weights: Mat<f64>,
    pub(crate) lambda: f64,
    pub(crate) how: Value,
    pub(crate) seconds_features: f64,
    pub(crate) check: Option<(usize, f64)>,
    pub(crate) dim: usize,
    pub(crate) degrees: Vec<usize>,
}

/// Primal ridge on the features of `map` for the training set `data`, λ as
/// `ridge` says, then the [`Check`] of the features.
pub(crate) fn fit_features(
    ctx: &Ctx,
    map: &AnyMap,
    data: &Train,
    ridge: &Ridge<'_>,
    check: &Check<'_>,
) -> Result<FeatureFit> {
    match map {
        AnyMap::F32(m) => fit_generic(ctx, m, data, ridge, check),
        AnyMap::F64(m) => fit_generic(ctx, m, data, ridge, check),
    }
}

fn fit_generic<T: Real + Element + NpyElement>(
    ctx: &Ctx,
    map: &FeatureMap<T>,
    data: &Train,
    ridge: &Ridge<'_>,
    check: &Check<'_>,
) -> Result<FeatureFit> {
    use ntk_solve::metrics::{Metric, Truth};
    let n = data.x.n;
    let dim = map.dim();
    let k = data.y.nrows();
    let mut acc = GramAccumulator::new(dim, k)?;
    let (val_of, n_val): (Vec<Option<usize>>, usize) = match ridge.grid {
        Some(_) => {
            let (_, val) =
                ntk_solve::select::validation_split(n, ridge.val_fraction, ctx.common.seed)?;
            let mut of = vec![None; n];
            for (p, &i) in val.iter().enumerate() {
                of[i] = Some(p);
            }
            (of, val.len())
        }
        None => (vec![None; n], 0),
    };
    let mut phi_val = Mat::<T>::zeros(dim, n_val);
    let mut y_val = Mat::<f64>::zeros(k, n_val);
    let mut val_idx = vec![0usize; n_val];
    let t = Instant::now();
    stream(ctx, map, &data.x, "train features", &mut |start, z| {
        let fit_cols: Vec<usize> = (0..z.ncols())
            .filter(|&j| val_of[start + j].is_none())
            .collect();
        if !fit_cols.is_empty() {
            let zf = Mat::<T>::from_fn(dim, fit_cols.len(), |i, c| z[(i, fit_cols[c])]);
            let yf = Mat::<T>::from_fn(k, fit_cols.len(), |i, c| {
                T::cast(data.y[(i, start + fit_cols[c])])
            });
            acc.add_block(zf.as_ref(), yf.as_ref(), ctx.par)?;
        }
        for j in 0..z.ncols() {
            if let Some(p) = val_of[start + j] {
                for i in 0..dim {
                    phi_val[(i, p)] = z[(i, j)];
                }
                for i in 0..k {
                    y_val[(i, p)] = data.y[(i, start + j)];
                }
                val_idx[p] = start + j;
            }
        }
        Ok(())
    })?;
    let seconds_features = t.elapsed().as_secs_f64();
    let (lambda, how) = match (ridge.lambda, ridge.grid) {
        (Some(l), _) => (l, json!({ "method": "given" })),
        (None, Some(grid)) => {
            let labels: Vec<usize> = data
                .labels
                .as_ref()
                .map(|l| val_idx.iter().map(|&i| l[i]).collect())
                .unwrap_or_default();
            let (truth, metric) = match data.task {
                Task::Classify => (Truth::Labels(&labels), Metric::Accuracy),
                Task::Regress => (Truth::Values(y_val.as_ref()), Metric::Mse),
            };
            let sel = ntk_solve::select::select_ridge(&acc, phi_val.as_ref(), truth, grid, metric)?;
            let record = split_record(ctx, ridge.val_fraction, n - n_val, n_val, metric, &sel);
            // The validation part joins the fit for the final model.
            let yv = Mat::<T>::from_fn(k, n_val, |i, j| T::cast(y_val[(i, j)]));
            acc.add_block(phi_val.as_ref(), yv.as_ref(), ctx.par)?;
            (sel.lambda, record)
        }
        (None, None) => return Err(usage("give --lambda or --lambda-grid")),
    };
    let (weights, _) = acc.solve(lambda)?;
    let check = check_error(ctx, check, map, &data.x)?;
    Ok(FeatureFit {
        weights,
        lambda,
        how,
        seconds_features,
        check,
        dim,
        degrees: map.degrees(),
    })
}

/// Predictions `(k, n)` of primal weights `(D′, k)` on the features of `x`.
pub(crate) fn predict_features(
    ctx: &Ctx,
    map: &AnyMap,
    w: MatRef<'_, f64>,
    x: &Samples,
) -> Result<Mat<f64>> {
    let mut pred = Mat::<f64>::zeros(w.ncols(), x.n);
    let mut sink = |start: usize, z: MatRef<'_, f64>| -> Result<()> {
        let p = ntk_solve::predict(w, z)?;
        for j in 0..p.ncols() {
            for i in 0..p.nrows() {
                pred[(i, start + j)] = p[(i, j)];
            }
        }
        Ok(())
    };
    match map {
        AnyMap::F32(m) => stream(ctx, m, x, "test features", &mut |s, z| {
            let z64 = Mat::<f64>::from_fn(z.nrows(), z.ncols(), |i, j| f64::from(z[(i, j)]));
            sink(s, z64.as_ref())
        })?,
        AnyMap::F64(m) => stream(ctx, m, x, "test features", &mut |s, z| sink(s, z))?,
    }
    if pred.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(usage(
            "predictions are not finite (the model or the inputs overflow)",
        ));
    }
    Ok(pred)
}
