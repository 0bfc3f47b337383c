//! Feature maps on the command line: `ntk features`, and primal ridge on
//! features for `ntk eval` / `ntk fit --features D` (models that `ntk
//! predict` regenerates from the architecture, method, dimension and seed).

use faer::reborrow::{Reborrow, ReborrowMut};
use std::path::Path;
use std::time::Instant;

use crate::arrays::{Samples, read_samples};
use crate::cli::{Calibrate, Dtype, FeatureArgs, KernelKind};
use crate::commands::{Ctx, Train, build, outputs_writable};
use crate::error::{Result, usage};
use crate::model::Task;
use crate::report::{Progress, table, write_json};
use faer::{Mat, MatRef};
use ntk_data::files;
use ntk_data::npy::NpyElement;
use ntk_features::{
    Architecture, FeatureConfig, FeatureMap, Input, Method, Polynomial, Real, ReluPolynomials,
    Shape, gram_error, kernels,
};
use ntk_solve::{Element, GramAccumulator};
use serde_json::{Value, json};

/// Samples per block of features: bounds the memory of one block at
/// `BLOCK·D′` values whatever `n` is.
const BLOCK: usize = 256;

/// Seconds of feature work above which the time estimate is printed.
const ESTIMATE_ABOVE: f64 = 10.0;

/// The feature-map part of a model or a command: everything needed to
/// regenerate the same map (the random matrices are never stored).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeatureSpec {
    pub(crate) config: FeatureConfig,
    pub(crate) dtype: Dtype,
}

impl FeatureSpec {
    pub(crate) fn from_args(
        a: &FeatureArgs,
        dim: usize,
        kernel: KernelKind,
        seed: u64,
    ) -> Result<Self> {
        let method: Method = a.method.parse()?;
        let mut config = FeatureConfig::new(dim, method, kind(kernel), seed);
        config.degree = a.degree;
        if let Some(t) = a.tolerance {
            config.tolerance = t;
        }
        config.inner_dim = a.inner_dim;
        config.node_dim = a.node_dim;
        config.polynomial = a.polynomial.parse()?;
        config.calibrate = match a.calibrate {
            Calibrate::Auto => None,
            Calibrate::On => Some(true),
            Calibrate::Off => Some(false),
        };
        Ok(Self {
            config,
            dtype: a.dtype,
        })
    }

    /// `--polynomial data`: fits `ntksketch`'s arc-cosine polynomials to at
    /// most [`FIT_SAMPLES`] evenly spaced samples of `x` (the training set),
    /// unless the spec already holds them (a model being reused).
    pub(crate) fn fit_polynomials(&mut self, arch: &Architecture, x: &Samples) -> Result<()> {
        if self.config.polynomial != Polynomial::Data || !self.config.data_polynomials.is_empty() {
            return Ok(());
        }
        let Shape::Vector { dim } = x.shape else {
            return Err(usage(
                "--polynomial data fits ntksketch's polynomials to vector inputs; images use cntksketch's fits",
            ));
        };
        let s = x.n.min(FIT_SAMPLES);
        let mut sample = Vec::with_capacity(s * dim);
        for k in 0..s {
            let i = k * x.n / s.max(1);
            sample.extend_from_slice(&x.data[i * dim..(i + 1) * dim]);
        }
        self.config
            .fit_polynomials(arch, MatRef::from_column_major_slice(&sample, dim, s))?;
        Ok(())
    }

    pub(crate) fn to_json(&self) -> Value {
        let c = &self.config;
        json!({
            "method": c.method.name(),
            "dim": c.dim,
            "kernel": match c.kernel { ntk_features::KernelKind::Ntk => "ntk", ntk_features::KernelKind::Nngp => "nngp" },
            "seed": c.seed,
            "degree": c.degree,
            "tolerance": c.tolerance,
            "max_degree": c.max_degree,
            "inner_dim": c.inner_dim,
            "node_dim": c.node_dim,
            "match_tails": c.match_tails,
            "polynomial": c.polynomial.name(),
            "data_polynomials": c
                .data_polynomials
                .iter()
                .map(|p| json!({ "kappa1": p.kappa1, "kappa0": p.kappa0 }))
                .collect::<Vec<_>>(),
            // Resolved, so that a later change of the default keeps the map.
            "calibrate": c.calibrates(),
            "dtype": self.dtype.name(),
        })
    }

    pub(crate) fn from_json(
        v: &Value,
        bad: &dyn Fn(&str) -> crate::error::CliError,
    ) -> Result<Self> {
        let get = |k: &str| v.get(k).ok_or_else(|| bad(&format!("features lack '{k}'")));
        let uint = |k: &str| -> Result<usize> {
            get(k)?
                .as_u64()
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(|| bad(&format!("features '{k}' is not a whole number")))
        };
        let opt_uint = |k: &str| -> Result<Option<usize>> {
            match get(k)? {
                Value::Null => Ok(None),
                _ => uint(k).map(Some),
            }
        };
        let text = |k: &str| -> Result<&str> {
            get(k)?
                .as_str()
                .ok_or_else(|| bad(&format!("features '{k}' is not a string")))
        };
        let method: Method = text("method")?
            .parse()
            .map_err(|_| bad("unknown feature method"))?;
        let kernel = match text("kernel")? {
            "ntk" => ntk_features::KernelKind::Ntk,
            "nngp" => ntk_features::KernelKind::Nngp,
            other => return Err(bad(&format!("unknown feature kernel '{other}'"))),
        };
        let dtype = match text("dtype")? {
            "f32" => Dtype::F32,
            "f64" => Dtype::F64,
            other => return Err(bad(&format!("unknown feature dtype '{other}'"))),
        };
        let seed = get("seed")?
            .as_u64()
            .ok_or_else(|| bad("features 'seed' is not a whole number"))?;
        let mut config = FeatureConfig::new(uint("dim")?, method, kernel, seed);
        config.degree = opt_uint("degree")?;
        config.tolerance = get("tolerance")?
            .as_f64()
            .ok_or_else(|| bad("features 'tolerance' is not a number"))?;
        config.max_degree = uint("max_degree")?;
        config.inner_dim = opt_uint("inner_dim")?;
        config.node_dim = opt_uint("node_dim")?;
        config.match_tails = match get("match_tails")? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            _ => return Err(bad("features 'match_tails' is not a boolean or null")),
        };
        // Absent in models written before the 2021 methods: the default.
        config.polynomial = match v.get("polynomial") {
            None => ntk_features::Polynomial::default(),
            Some(p) => p
                .as_str()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad("features 'polynomial' is not fit, taylor or data"))?,
        };
        // Absent in models written before data-fitted polynomials: none.
        config.data_polynomials = match v.get("data_polynomials") {
            None => Vec::new(),
            Some(Value::Array(layers)) => {
                let coeffs = |l: &Value, k: &str| -> Result<Vec<f64>> {
                    l.get(k)
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                        .ok_or_else(|| {
                            bad(&format!(
                                "features 'data_polynomials' entry lacks a numeric '{k}' array"
                            ))
                        })
                };
                layers
                    .iter()
                    .map(|l| {
                        Ok(ReluPolynomials {
                            kappa1: coeffs(l, "kappa1")?,
                            kappa0: coeffs(l, "kappa0")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            Some(_) => return Err(bad("features 'data_polynomials' is not an array")),
        };
        // Absent in models written before calibration existed: their
        // features were not calibrated.
        config.calibrate = match v.get("calibrate") {
            None => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(bad("features 'calibrate' is not a boolean")),
        };
        Ok(Self { config, dtype })
    }
}

/// Samples `--polynomial data` fits on: enough for the correlations' spread
/// (the fit sees `s(s + 1)/2` pairs), cheap (`O(s²·L)`).
const FIT_SAMPLES: usize = 256;

fn kind(k: KernelKind) -> ntk_features::KernelKind {
    match k {
        KernelKind::Ntk => ntk_features::KernelKind::Ntk,
        KernelKind::Nngp => ntk_features::KernelKind::Nngp,
    }
}

/// A feature map in the precision the user asked for.
pub(crate) enum AnyMap {
    F32(FeatureMap<f32>),
    F64(FeatureMap<f64>),
}

impl AnyMap {
    pub(crate) fn new(arch: &Architecture, shape: Shape, spec: &FeatureSpec) -> Result<Self> {
        Ok(match spec.dtype {
            Dtype::F32 => Self::F32(FeatureMap::new(arch, shape, &spec.config)?),
            Dtype::F64 => Self::F64(FeatureMap::new(arch, shape, &spec.config)?),
        })
    }
    pub(crate) fn dim(&self) -> usize {
        match self {
            Self::F32(m) => m.dim(),
            Self::F64(m) => m.dim(),
        }
    }
    fn degrees(&self) -> Vec<usize> {
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
fn stream<T: Real + NpyElement>(
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

/// The exact kernel on `count` seeded samples of `x` against the features'
/// Gram matrix on the same samples: `‖ZZᵀ − K‖_F/‖K‖_F`.
fn check_error<T: Real>(
    ctx: &Ctx,
    arch: &Architecture,
    map: &FeatureMap<T>,
    x: &Samples,
    count: usize,
    kernel: KernelKind,
) -> Result<Option<(usize, f64)>> {
    let count = count.min(x.n);
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
    let k = kernels(arch, input, None, ctx.par, &mut |_, _| {})?;
    let z = block(ctx, map, &sub, 0, sub.n)?;
    let kk = match kernel {
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

/// `12.3 s`, `4.5 min`, `2.1 h`.
pub(crate) fn human_seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Bytes a value of the dtype takes.
fn width(d: Dtype) -> usize {
    match d {
        Dtype::F32 => 4,
        Dtype::F64 => 8,
    }
}

fn human_bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

/// `ntk features`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn features_cmd(
    ctx: &Ctx,
    arch_text: &str,
    x_path: &Path,
    dim: usize,
    args: &FeatureArgs,
    kernel: KernelKind,
    out: &Path,
    check: usize,
    json_out: Option<&Path>,
) -> Result<()> {
    outputs_writable(&[Some(out), json_out], ctx.common.force)?;
    let t0 = Instant::now();
    let x = read_samples(x_path)?;
    let arch = build(arch_text, x.shape)?;
    let mut spec = FeatureSpec::from_args(args, dim, kernel, ctx.common.seed)?;
    spec.fit_polynomials(&arch, &x)?;
    let map = AnyMap::new(&arch, x.shape, &spec)?;
    let d_out = map.dim();
    let bytes = (x.n as f64) * (d_out as f64) * width(spec.dtype) as f64;
    ctx.say(&table(&[
        (
            "features",
            format!("{} x {d_out} ({})", x.n, spec.dtype.name()),
        ),
        (
            "memory",
            format!("about {} for the output", human_bytes(bytes)),
        ),
    ]));
    let t1 = Instant::now();
    match &map {
        AnyMap::F32(m) => run_features(ctx, m, &x, out, d_out)?,
        AnyMap::F64(m) => run_features(ctx, m, &x, out, d_out)?,
    }
    let t_features = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let checked = match &map {
        AnyMap::F32(m) => check_error(ctx, &arch, m, &x, check, kernel)?,
        AnyMap::F64(m) => check_error(ctx, &arch, m, &x, check, kernel)?,
    };
    let t_check = t2.elapsed().as_secs_f64();
    let mut rows = vec![
        ("architecture", arch.to_string()),
        ("method", spec.config.method.name().to_owned()),
        ("output", format!("{} x {d_out} -> {}", x.n, out.display())),
        ("seconds", format!("{t_features:.3}")),
        (
            "per sample",
            format!("{:.3} ms", 1e3 * t_features / x.n as f64),
        ),
    ];
    if d_out < dim {
        // Say why the output is narrower than asked, and what widens it.
        let why = match x.shape {
            Shape::Image { .. } => format!(
                "the last layer holds {d_out} values per sample (the per-position budget); --inner-dim M raises it"
            ),
            Shape::Vector { .. } => format!("this map's output has at most {d_out} coordinates"),
        };
        rows.push((
            "note",
            format!("{d_out} features, not the {dim} requested: {why}"),
        ));
    }
    if let Some((n, e)) = checked {
        rows.push((
            "check",
            format!("relative error {:.3} % on {n} samples", 100.0 * e),
        ));
    }
    let summary = json!({
        "command": "features",
        "architecture": arch.to_string(),
        "x": x_path.display().to_string(),
        "n": x.n,
        "dim": d_out,
        "requested_dim": dim,
        "degrees": map.degrees(),
        "features": spec.to_json(),
        "out": out.display().to_string(),
        "check": checked.map(|(n, e)| json!({"samples": n, "relative_frobenius_error": e, "seconds": t_check})),
        "timings_s": { "features": t_features, "total": t0.elapsed().as_secs_f64() },
        "threads": ctx.threads,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(p) = json_out {
        write_json(p, &summary, ctx.common.force)?;
    }
    ctx.say(&table(&rows));
    Ok(())
}

/// Features of all of `x`, written to `out` as `(n, D′)`.
fn run_features<T: Real + NpyElement>(
    ctx: &Ctx,
    map: &FeatureMap<T>,
    x: &Samples,
    out: &Path,
    d_out: usize,
) -> Result<()> {
    // (n, D′) row-major is the column-major (D′, n) matrix.
    let mut all: Vec<T> = Vec::with_capacity(x.n * d_out);
    stream(ctx, map, x, "features", &mut |_, z| {
        for j in 0..z.ncols() {
            all.extend((0..z.nrows()).map(|i| z[(i, j)]));
        }
        Ok(())
    })?;
    files::write_npy(out, &[x.n, d_out], &all, ctx.common.force)?;
    Ok(())
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

#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_features(
    ctx: &Ctx,
    arch: &Architecture,
    map: &AnyMap,
    data: &Train,
    lambda: Option<f64>,
    grid: Option<&[f64]>,
    val_fraction: f64,
    check: usize,
    kernel: KernelKind,
) -> Result<FeatureFit> {
    match map {
        AnyMap::F32(m) => fit_generic(
            ctx,
            arch,
            m,
            data,
            lambda,
            grid,
            val_fraction,
            check,
            kernel,
        ),
        AnyMap::F64(m) => fit_generic(
            ctx,
            arch,
            m,
            data,
            lambda,
            grid,
            val_fraction,
            check,
            kernel,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn fit_generic<T: Real + Element + NpyElement>(
    ctx: &Ctx,
    arch: &Architecture,
    map: &FeatureMap<T>,
    data: &Train,
    lambda: Option<f64>,
    grid: Option<&[f64]>,
    val_fraction: f64,
    check: usize,
    kernel: KernelKind,
) -> Result<FeatureFit> {
    use ntk_solve::metrics::{Metric, Truth};
    let n = data.x.n;
    let dim = map.dim();
    let k = data.y.nrows();
    let mut acc = GramAccumulator::new(dim, k)?;
    let (val_of, n_val): (Vec<Option<usize>>, usize) = match grid {
        Some(_) => {
            let (_, val) = ntk_solve::select::validation_split(n, val_fraction, ctx.common.seed)?;
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
    let (lambda, how) = match (lambda, grid) {
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
            let record = json!({
                "method": "validation split of the training set",
                "val_fraction": val_fraction,
                "n_fit": n - n_val,
                "n_validation": n_val,
                "seed": ctx.common.seed,
                "metric": if metric == Metric::Accuracy { "accuracy" } else { "mse" },
                "scores": sel.scores.iter().map(|(l, s)| json!({"lambda": l, "score": s})).collect::<Vec<_>>(),
            });
            // The validation part joins the fit for the final model.
            let yv = Mat::<T>::from_fn(k, n_val, |i, j| T::cast(y_val[(i, j)]));
            acc.add_block(phi_val.as_ref(), yv.as_ref(), ctx.par)?;
            (sel.lambda, record)
        }
        (None, None) => return Err(usage("give --lambda or --lambda-grid")),
    };
    let (weights, _) = acc.solve(lambda)?;
    let check = check_error(ctx, arch, map, &data.x, check, kernel)?;
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
