//! The command line's side of the feature pipeline (`ntk_pipeline`): a
//! [`Stream`] from the run's context (blocks of `ntk_pipeline::BLOCK`
//! samples, a progress bar, the time estimate after the first block, and
//! the on-disk block cache of `ntk reproduce cifar`), and the flags of a
//! feature ridge turned into the pipeline's targets and λ rule.

use std::path::Path;
use std::time::Instant;

use crate::arrays::Samples;
use crate::ctx::Ctx;
use crate::error::{CliError, Result, usage};
use crate::inputs::Inputs;
use crate::model::Task;
use crate::report::{Progress, human_seconds, table};
use crate::train::{Ridge, Train};
use faer::{Mat, MatMut, MatRef};
use ntk_data::files;
use ntk_data::npy::NpyElement;
use ntk_features::Real;
use ntk_pipeline::{AnyMap, Block, BlockMut, Cache, Check, FeatureRidge, Lambda, Stream, Targets};
use serde_json::Value;

/// Seconds of feature work above which the time estimate is printed.
const ESTIMATE_ABOVE: f64 = 10.0;

/// Progress after a block: the bar, and after the first block a time
/// estimate when the whole is long enough to wait for.
fn report_block(ctx: &Ctx, progress: &mut Progress, first: &mut bool, done: usize, total: usize) {
    let per = progress.elapsed() / done as f64;
    if *first && done < total && per * total as f64 > ESTIMATE_ABOVE {
        // The first block times the rest (samples cost the same); only
        // work long enough to wait for is announced.
        ctx.say(&table(&[(
            "estimate",
            format!(
                "about {} for {total} samples (from the first {done})",
                human_seconds(per * total as f64),
            ),
        )]));
    }
    *first = false;
    progress.update(done, total);
}

/// Runs `work` on a [`Stream`] of `ctx` over `x`: its progress bar is
/// labelled `label`, and blocks come from `ctx.feature_cache` when present.
pub(crate) fn with_stream<R>(
    ctx: &Ctx,
    x: &Samples,
    label: &str,
    work: impl FnOnce(&mut Stream<'_, CliError>) -> Result<R>,
) -> Result<R> {
    let mut progress = Progress::new(label, ctx.common.quiet);
    let mut first = true;
    let mut on_block =
        |done: usize, total: usize| report_block(ctx, &mut progress, &mut first, done, total);
    let mut cache = ctx.feature_cache.as_deref().map(|dir| DiskCache { dir, x });
    let mut s = Stream::new(ctx.par);
    s.progress = Some(&mut on_block);
    s.cache = cache.as_mut().map(|c| c as &mut dyn Cache<CliError>);
    let r = work(&mut s)?;
    progress.finish();
    Ok(r)
}

/// FNV-1a, 64 bits: a stable fingerprint (std's `DefaultHasher` may change
/// between Rust releases, which would only cost cache misses, but a fixed
/// function keeps cache names meaningful across builds).
pub(crate) fn fingerprint(bytes: impl IntoIterator<Item = u8>) -> u64 {
    fnv_more(FNV_OFFSET, bytes)
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a continued from the state `h` over more bytes.
pub(crate) fn fnv_more(h: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(h, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A content-addressed cache of feature blocks in `dir` (one directory per
/// feature map, chosen by the caller): a block is named by the fingerprint
/// of its input values and its length, stored as an `(len, D′)` `.npy` in
/// the map's precision and written atomically (temporary file, then
/// rename). A block that is present with the right shape is read instead of
/// computed, so an interrupted run resumes where it stopped; a damaged or
/// mismatched file is recomputed and replaced. Values round-trip exactly,
/// so cached and computed features are equal.
struct DiskCache<'a> {
    dir: &'a Path,
    x: &'a Samples,
}

impl DiskCache<'_> {
    /// The file of the block of `len` samples from `start`.
    fn path(&self, start: usize, len: usize) -> std::path::PathBuf {
        let size = self.x.data.len() / self.x.n.max(1);
        let input = &self.x.data[start * size..(start + len) * size];
        let key = fingerprint(input.iter().flat_map(|v| v.to_bits().to_le_bytes()));
        self.dir.join(format!("{key:016x}-{len}.npy"))
    }

    fn load_into<T: Real + NpyElement>(&self, start: usize, mut out: MatMut<'_, T>) -> bool {
        let (dim, len) = (out.nrows(), out.ncols());
        if let Ok(a) = files::read_npy(&self.path(start, len))
            && a.shape == [len, dim]
            && a.dtype() == T::DTYPE
        {
            let v = a.to_f64();
            for j in 0..len {
                for i in 0..dim {
                    out[(i, j)] = T::cast(v[j * dim + i]);
                }
            }
            return true;
        }
        false
    }

    fn save_from<T: Real + NpyElement>(&self, start: usize, z: MatRef<'_, T>) -> Result<()> {
        let (dim, len) = (z.nrows(), z.ncols());
        let mut rows: Vec<T> = Vec::with_capacity(dim * len);
        for j in 0..len {
            rows.extend((0..dim).map(|i| z[(i, j)]));
        }
        // The cache belongs to the program: replacing a damaged block is not
        // overwriting anything a user wrote.
        files::write_npy(&self.path(start, len), &[len, dim], &rows, true)?;
        Ok(())
    }
}

impl Cache<CliError> for DiskCache<'_> {
    fn load(&mut self, start: usize, out: BlockMut<'_>) -> Result<bool> {
        Ok(match out {
            BlockMut::F32(m) => self.load_into(start, m),
            BlockMut::F64(m) => self.load_into(start, m),
        })
    }
    fn save(&mut self, start: usize, z: Block<'_>) -> Result<()> {
        match z {
            Block::F32(m) => self.save_from(start, m),
            Block::F64(m) => self.save_from(start, m),
        }
    }
}

/// The λ rule of a feature ridge: as given, or on a validation split drawn
/// from `seed`.
pub(crate) fn feature_lambda<'a>(ridge: &Ridge<'a>, seed: u64) -> Result<Lambda<'a>> {
    match (ridge.lambda, ridge.grid) {
        (Some(l), _) => Ok(Lambda::Given(l)),
        (None, Some(grid)) => Ok(Lambda::Split {
            grid,
            val_fraction: ridge.val_fraction,
            seed,
        }),
        (None, None) => Err(usage("give --lambda or --lambda-grid")),
    }
}

/// The pipeline's targets of a training set: values, and labels when
/// classifying.
pub(crate) fn feature_targets(data: &Train) -> Targets<'_> {
    Targets {
        y: data.y.as_ref(),
        labels: match data.task {
            Task::Classify => data.labels.as_deref(),
            Task::Regress => None,
        },
    }
}

/// Streams the features of the samples `segments` of `inputs` (read range
/// by range when they stay in their file) to `sink(first sample, block)`,
/// with one progress bar over all of them.
pub(crate) fn stream_inputs(
    ctx: &Ctx,
    map: &AnyMap,
    inputs: Inputs<'_>,
    segments: &[std::ops::Range<usize>],
    label: &str,
    sink: &mut dyn FnMut(usize, Block<'_>) -> Result<()>,
) -> Result<()> {
    let total: usize = segments.iter().map(|r| r.len()).sum();
    let mut progress = Progress::new(label, ctx.common.quiet);
    let mut before = 0;
    let mut first = true;
    for seg in segments {
        inputs.each_range(seg.start, seg.end, &mut |start, values| {
            let base = before + (start - seg.start);
            let mut on_block = |done: usize, _: usize| {
                report_block(ctx, &mut progress, &mut first, base + done, total);
            };
            let mut s = Stream::new(ctx.par);
            s.progress = Some(&mut on_block);
            map.stream(values, &mut s, &mut |st, z| sink(start + st, z))
        })?;
        before += seg.len();
    }
    progress.finish();
    Ok(())
}

/// Featurises what the shard of chunks `range` (of `chunk` samples) sums
/// — the first samples, which fix the grid of the exact sums, where the
/// range does not hold them, then the range — into `fr`, and returns the
/// shard's sums.
pub(crate) fn featurise_shard(
    ctx: &Ctx,
    map: &AnyMap,
    data: &Train,
    mut fr: FeatureRidge<'_>,
    range: std::ops::Range<usize>,
    chunk: usize,
) -> Result<ntk_pipeline::Shard> {
    let inputs = data.inputs();
    let n = inputs.n();
    let (a, b) = ((range.start * chunk).min(n), (range.end * chunk).min(n));
    let s = ntk_pipeline::SCALE_SAMPLES.min(n);
    let mut segments = Vec::new();
    if a > 0 {
        segments.push(0..s.min(a));
    }
    if b < s {
        segments.push(b..s);
    }
    if b > a {
        segments.push(a..b);
    }
    stream_inputs(
        ctx,
        map,
        inputs,
        &segments,
        "shard features",
        &mut |start, z| Ok(fr.add(start, z, ctx.par)?),
    )?;
    Ok(fr.into_shard()?)
}

/// The `--check` of a feature fit: the exact kernel on a few seeded
/// training samples (read alone when the inputs stay in their file).
pub(crate) fn check_features(
    map: &AnyMap,
    data: &Train,
    check: &Check<'_>,
    par: faer::Par,
) -> Result<Option<(usize, f64)>> {
    let inputs = data.inputs();
    Ok(match inputs {
        Inputs::Memory(x) => check.error(map, &x.data, par)?,
        Inputs::File(_) => check.error_on(map, &inputs.pick(&check.picks(inputs.n()))?, par)?,
    })
}

/// FNV-1a of the training inputs and targets as `f64` bytes, read range by
/// range: what shards and ranks compare to know they share their data.
pub(crate) fn data_fingerprint(data: &Train) -> Result<u64> {
    let mut h = FNV_OFFSET;
    let inputs = data.inputs();
    inputs.each_range(0, inputs.n(), &mut |_, v| {
        h = fnv_more(h, v.iter().flat_map(|x| x.to_le_bytes()));
        Ok(())
    })?;
    for col in data.y.col_iter() {
        h = fnv_more(h, col.iter().flat_map(|x| x.to_le_bytes()));
    }
    Ok(h)
}

/// Primal ridge on features and what the reports say about it.
pub(crate) struct FeatureFit {
    pub(crate) weights: Mat<f64>,
    pub(crate) lambda: f64,
    /// The JSON record of λ's choice.
    pub(crate) how: Value,
    pub(crate) seconds_features: f64,
    pub(crate) check: Option<(usize, f64)>,
    pub(crate) dim: usize,
    pub(crate) degrees: Vec<usize>,
}

/// Primal ridge on the features of `map` for the training set `data`, λ as
/// `ridge` says, then `check` of the features.
pub(crate) fn fit_features(
    ctx: &Ctx,
    map: &AnyMap,
    data: &Train,
    ridge: &Ridge<'_>,
    check: &Check<'_>,
) -> Result<FeatureFit> {
    let lambda = feature_lambda(ridge, ctx.common.seed)?;
    let mut fitter = FeatureRidge::with_chunk(map, feature_targets(data), lambda, ridge.chunk)?;
    let t = Instant::now();
    match data.inputs() {
        Inputs::Memory(x) => with_stream(ctx, x, "train features", |s| {
            map.stream(&x.data, s, &mut |start, z| {
                Ok(fitter.add(start, z, ctx.par)?)
            })
        })?,
        inputs @ Inputs::File(_) => stream_inputs(
            ctx,
            map,
            inputs,
            std::slice::from_ref(&(0..inputs.n())),
            "train features",
            &mut |start, z| Ok(fitter.add(start, z, ctx.par)?),
        )?,
    }
    let seconds_features = t.elapsed().as_secs_f64();
    let fit = fitter.finish(ctx.par)?;
    let check = check_features(map, data, check, ctx.par)?;
    Ok(FeatureFit {
        weights: fit.weights,
        lambda: fit.lambda,
        how: fit.record.to_json(),
        seconds_features,
        check,
        dim: map.dim(),
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
    with_stream(ctx, x, "test features", |s| {
        ntk_pipeline::predict(map, w, &x.data, s)
    })
}
