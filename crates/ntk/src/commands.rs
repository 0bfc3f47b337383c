//! The commands. Every output path is checked before any work starts, so
//! a refused overwrite costs nothing.

use std::path::Path;
use std::time::Instant;

use crate::arrays::{Samples, read_labels, read_samples, read_targets};
use crate::cli::{Cli, Command, Common, KernelKind, Reproduction, TaskKind, Training};
use crate::error::{Result, usage};
use crate::featurecmd::{AnyMap, FeatureFit, FeatureSpec, fit_features, predict_features};
use crate::model::{AnyModel, FeatureModel, Model, Task};
use crate::prep::{Prep, PrepFlags};
use crate::report::{Progress, table, write_json};
use faer::{Mat, MatRef, Par};
use ntk_data::files;
use ntk_features::{ArchSpec, Architecture, Kernels, Shape, kernels};
use ntk_solve::metrics::{Metric, Truth, accuracy, argmax, mse, one_hot, r2};
use ntk_solve::select::{
    cross_validate_kernel_ridge, kfold, select_kernel_ridge, validation_split,
};
use ntk_solve::{DiagReg, KernelRidge, MseEnsemble, lambda_from_trace};
use serde_json::{Value, json};

pub(crate) fn run(cli: Cli) -> Result<()> {
    let common = cli.common.clone();
    let threads = match common.threads {
        Some(0) => return Err(usage("--threads must be at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| usage(format!("cannot start {threads} threads: {e}")))?;
    let ctx = Ctx {
        common,
        par: if threads == 1 {
            Par::Seq
        } else {
            Par::rayon(threads)
        },
        threads,
        feature_cache: None,
    };
    pool.install(|| match cli.command {
        Command::Kernel {
            arch,
            x1,
            x2,
            nngp,
            ntk,
            json,
        } => kernel_cmd(
            &ctx,
            &arch,
            &x1,
            x2.as_deref(),
            nngp.as_deref(),
            ntk.as_deref(),
            json.as_deref(),
        ),
        Command::Features {
            arch,
            x,
            dim,
            feature_args,
            kernel,
            out,
            check,
            json,
        } => crate::featurecmd::features_cmd(
            &ctx,
            &arch,
            &x,
            dim,
            &feature_args,
            kernel,
            &out,
            check,
            json.as_deref(),
        ),
        Command::Eval {
            train,
            x_test,
            y_test,
            n_test,
            k_test,
            json,
        } => eval_cmd(
            &ctx,
            &train,
            &TestArgs {
                x: x_test.as_deref(),
                y: y_test.as_deref(),
                n: n_test,
                k: k_test.as_deref(),
            },
            json.as_deref(),
        ),
        Command::Fit { train, model } => fit_cmd(&ctx, &train, &model),
        Command::Predict {
            model,
            x,
            out,
            scores,
        } => predict_cmd(&ctx, &model, &x, &out, scores.as_deref()),
        Command::Arch { arch, input_shape } => arch_cmd(&arch, input_shape.as_deref()),
        Command::Download {
            dataset,
            name,
            data_dir,
            url,
        } => crate::download::run(&ctx, &dataset, name.as_deref(), data_dir, url.as_deref()),
        Command::Reproduce { which } => match which {
            Reproduction::Mnist(a) => crate::repro::mnist::run(&ctx, &a),
            Reproduction::Uci(a) => crate::repro::uci::run(&ctx, &a),
            Reproduction::Cifar(a) => crate::repro::cifar::run(&ctx, &a),
        },
        Command::Demo { out_dir } => match out_dir {
            Some(dir) => crate::demo::run(&ctx, &dir),
            None => {
                let mut own = ctx;
                own.common.force = true;
                crate::demo::run(&own, Path::new(DEFAULT_DEMO_DIR))
            }
        },
    })
}

/// Largest number of classes accepted (one-hot targets are `K × n`).
const MAX_CLASSES: usize = 1 << 16;

/// Where `ntk demo` writes by default (relative to the working directory;
/// `cargo xtask demo` runs from the workspace root).
const DEFAULT_DEMO_DIR: &str = "target/ntk-demo";

#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) common: Common,
    pub(crate) par: Par,
    pub(crate) threads: usize,
    /// Where feature blocks are cached (`None`: computed every time); see
    /// `featurecmd::stream`.
    pub(crate) feature_cache: Option<std::path::PathBuf>,
}

impl Ctx {
    pub(crate) fn say(&self, text: &str) {
        if !self.common.quiet {
            stdout_text(text);
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`ntk … | head` must not panic;
/// the results are already in their files).
pub(crate) fn stdout_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

pub(crate) fn outputs_writable(paths: &[Option<&Path>], force: bool) -> Result<()> {
    for p in paths.iter().flatten() {
        files::check_writable(p, force)?;
    }
    // Two outputs naming the same file would overwrite each other.
    let named: Vec<&Path> = paths.iter().flatten().copied().collect();
    for (i, a) in named.iter().enumerate() {
        if named[i + 1..].contains(a) {
            return Err(usage(format!("{} is given for two outputs", a.display())));
        }
    }
    Ok(())
}

pub(crate) fn build(spec_text: &str, shape: Shape) -> Result<Architecture> {
    Ok(ArchSpec::parse(spec_text)?.build(shape)?)
}

fn same_shape(a: &Samples, b: &Samples, what: &str) -> Result<()> {
    if a.shape != b.shape {
        return Err(usage(format!(
            "{what} has samples of shape {}, the training inputs {}",
            b.shape, a.shape
        )));
    }
    Ok(())
}

pub(crate) fn compute(
    ctx: &Ctx,
    arch: &Architecture,
    x1: &Samples,
    x2: Option<&Samples>,
    label: &str,
) -> Result<Kernels> {
    check_memory(ctx, x1, x2)?;
    let mut progress = Progress::new(label, ctx.common.quiet);
    let k = kernels(
        arch,
        x1.input(),
        x2.map(Samples::input),
        ctx.par,
        &mut |done, total| progress.update(done, total),
    )?;
    progress.finish();
    Ok(k)
}

/// Bytes an exact kernel computation holds at its peak: the two `n1 × n2`
/// output matrices (written to `.npy` row by row, never copied), and the
/// working state: for vectors one block of 256 columns (`q`, `Θ` and the
/// dual's two outputs), for images each worker's `(HW) × (HW)` pair states
/// (`q` and `Θ`, with the window sums' outputs and the first pass of a
/// separable window sum: about five such matrices).
fn exact_bytes(ctx: &Ctx, x1: &Samples, x2: Option<&Samples>) -> f64 {
    let n1 = x1.n as f64;
    let n2 = x2.map_or(n1, |x| x.n as f64);
    let outputs = 2.0 * n1 * n2 * 8.0;
    let state = match x1.shape {
        Shape::Image { h, w, .. } => {
            let p = (h * w) as f64;
            5.0 * p * p * 8.0 * ctx.threads as f64
        }
        Shape::Vector { .. } => 4.0 * n1 * n2.min(256.0) * 8.0,
    };
    outputs + state
}

/// `MemAvailable` of `/proc/meminfo`, in bytes (None where unknown).
fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Refuses, before any work, an exact kernel that cannot fit in memory,
/// naming the estimate and the feature-map alternative; `--force` tries anyway.
fn check_memory(ctx: &Ctx, x1: &Samples, x2: Option<&Samples>) -> Result<()> {
    let need = exact_bytes(ctx, x1, x2);
    let gb = |b: f64| b / 1e9;
    match available_memory() {
        Some(avail) if need > avail && !ctx.common.force => Err(usage(format!(
            "the exact kernel needs about {:.1} GB ({} x {} matrices), more than the {:.1} GB available; \
             use --features D for explicit features (memory linear in n), or --force to try anyway",
            gb(need),
            x1.n,
            x2.map_or(x1.n, |x| x.n),
            gb(avail)
        ))),
        _ => Ok(()),
    }
}

/// The entries of `m` row by row (C order), without a copy.
fn rows(m: MatRef<'_, f64>) -> impl Iterator<Item = f64> + '_ {
    (0..m.nrows()).flat_map(move |i| (0..m.ncols()).map(move |j| m[(i, j)]))
}

/// `(n1, n2)` row-major values of a kernel matrix.
fn row_major(m: MatRef<'_, f64>) -> Vec<f64> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        v.extend((0..m.ncols()).map(|j| m[(i, j)]));
    }
    v
}

fn kernel_cmd(
    ctx: &Ctx,
    arch_text: &str,
    x1: &Path,
    x2: Option<&Path>,
    nngp: Option<&Path>,
    ntk: Option<&Path>,
    json: Option<&Path>,
) -> Result<()> {
    outputs_writable(&[nngp, ntk, json], ctx.common.force)?;
    let t0 = Instant::now();
    let a = read_samples(x1)?;
    let b = x2.map(read_samples).transpose()?;
    if let Some(b) = &b {
        same_shape(&a, b, &x2.expect("given").display().to_string())?;
    }
    let arch = build(arch_text, a.shape)?;
    let k = compute(ctx, &arch, &a, b.as_ref(), "kernel")?;
    let seconds = t0.elapsed().as_secs_f64();
    let shape = [k.nngp.nrows(), k.nngp.ncols()];
    // Rows streamed straight from the column-major matrices: no C-order
    // copy and no file image in memory, so the peak is the two kernels.
    if let Some(p) = nngp {
        files::write_npy_iter(p, &shape, rows(k.nngp.as_ref()), ctx.common.force)?;
    }
    if let Some(p) = ntk {
        files::write_npy_iter(p, &shape, rows(k.ntk.as_ref()), ctx.common.force)?;
    }
    let summary = json!({
        "command": "kernel",
        "architecture": arch.to_string(),
        "x1": x1.display().to_string(),
        "x2": x2.map(|p| p.display().to_string()),
        "shape": shape,
        "nngp": nngp.map(|p| p.display().to_string()),
        "ntk": ntk.map(|p| p.display().to_string()),
        "seconds": seconds,
        "threads": ctx.threads,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(p) = json {
        write_json(p, &summary, ctx.common.force)?;
    }
    ctx.say(&table(&[
        ("kernel", format!("{} x {}", shape[0], shape[1])),
        ("seconds", format!("{seconds:.3}")),
    ]));
    Ok(())
}

/// Training data in memory: inputs, targets `(k, n)`, labels if classifying.
pub(crate) struct Train {
    pub(crate) x: Samples,
    pub(crate) y: Mat<f64>,
    pub(crate) labels: Option<Vec<usize>>,
    pub(crate) task: Task,
}

/// Targets of a data set: `(k, n)` values (one-hot for training labels;
/// empty for test labels) and the class labels if classifying.
struct Targets {
    y: Mat<f64>,
    labels: Option<Vec<usize>>,
}

impl Targets {
    fn n(&self) -> usize {
        self.labels.as_ref().map_or(self.y.ncols(), Vec::len)
    }

    /// The first `n` samples.
    fn first(self, n: usize) -> Self {
        Self {
            y: self.y.subcols(0, n.min(self.y.ncols())).to_owned(),
            labels: self.labels.map(|mut l| {
                l.truncate(n);
                l
            }),
        }
    }
}

fn task_of(t: &Training) -> Task {
    match t.task {
        TaskKind::Classify => Task::Classify,
        TaskKind::Regress => Task::Regress,
    }
}

/// Training targets as read, before `--n-train` and the class checks.
enum RawTargets {
    Labels(Vec<usize>),
    /// `(k, n)`.
    Values(Mat<f64>),
}

impl RawTargets {
    fn read(path: &Path, task: Task) -> Result<Self> {
        Ok(match task {
            Task::Classify => Self::Labels(read_labels(path)?),
            Task::Regress => {
                let (n, k, v) = read_targets(path)?;
                Self::Values(Mat::from_fn(k, n, |i, j| v[j * k + i]))
            }
        })
    }

    fn n(&self) -> usize {
        match self {
            Self::Labels(l) => l.len(),
            Self::Values(y) => y.ncols(),
        }
    }

    /// The first `n` samples' targets: class labels 0..K−1 (2 ≤ K ≤
    /// [`MAX_CLASSES`], K from these samples) as one-hot rows, or values.
    fn first(self, n: usize, what: &str) -> Result<Targets> {
        match self {
            Self::Labels(mut l) => {
                l.truncate(n);
                let classes = l.iter().max().map_or(0, |m| m + 1);
                if classes > MAX_CLASSES {
                    return Err(usage(format!(
                        "{what}: labels must be class indices 0..K-1 with K <= {MAX_CLASSES}, found label {}",
                        classes - 1
                    )));
                }
                if classes < 2 {
                    return Err(usage(format!(
                        "{what}: classification needs at least two classes (labels 0 and 1 at least)"
                    )));
                }
                Ok(Targets {
                    y: one_hot(&l, classes)?,
                    labels: Some(l),
                })
            }
            Self::Values(y) => Ok(Targets {
                y: y.subcols(0, n.min(y.ncols())).to_owned(),
                labels: None,
            }),
        }
    }
}

/// Test targets: labels (classify) or values with `k` columns (regress).
fn test_targets(
    labels: Option<Vec<usize>>,
    path: Option<&Path>,
    task: Task,
    k: usize,
) -> Result<Targets> {
    match (task, labels, path) {
        (Task::Classify, Some(l), _) => Ok(Targets {
            y: Mat::zeros(0, l.len()),
            labels: Some(l),
        }),
        (Task::Classify, None, Some(p)) => {
            let l = read_labels(p)?;
            Ok(Targets {
                y: Mat::zeros(0, l.len()),
                labels: Some(l),
            })
        }
        (Task::Regress, _, Some(p)) => {
            let (n, kt, v) = read_targets(p)?;
            if kt != k {
                return Err(usage(format!(
                    "{} has {kt} target column(s), the training targets {k}",
                    p.display()
                )));
            }
            Ok(Targets {
                y: Mat::from_fn(k, n, |i, j| v[j * k + i]),
                labels: None,
            })
        }
        (Task::Regress, _, None) => Err(usage("CIFAR-10 has class labels: use --task classify")),
        (Task::Classify, None, None) => unreachable!("labels or a file"),
    }
}

/// Range checks of λ, the grid, the folds and the gradient-descent time.
fn check_training_flags(t: &Training) -> Result<()> {
    if let Some(l) = t.lambda
        && !(l.is_finite() && l >= 0.0)
    {
        return Err(usage(format!("--lambda must be finite and >= 0, got {l}")));
    }
    if let Some(r) = t.diag_reg
        && !(r.is_finite() && r >= 0.0)
    {
        return Err(usage(format!(
            "--diag-reg must be finite and >= 0, got {r}"
        )));
    }
    if let Some(time) = t.time
        && (time.is_nan() || time < 0.0)
    {
        return Err(usage(format!("--time must be >= 0 (or inf), got {time}")));
    }
    if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
        return Err(usage(format!(
            "--learning-rate must be finite and > 0, got {}",
            t.learning_rate
        )));
    }
    if let Some(g) = &t.lambda_grid {
        if g.is_empty() || g.iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
            return Err(usage("--lambda-grid values must be finite and >= 0"));
        }
        if !(t.val_fraction > 0.0 && t.val_fraction < 1.0) {
            return Err(usage(format!(
                "--val-fraction must lie strictly between 0 and 1, got {}",
                t.val_fraction
            )));
        }
    }
    if let Some(f) = t.folds
        && f < 2
    {
        return Err(usage(format!("--folds must be at least 2, got {f}")));
    }
    if let Some(r) = t.zca
        && !(r.is_finite() && r >= 0.0)
    {
        return Err(usage(format!("--zca must be finite and >= 0, got {r}")));
    }
    if t.n_train == Some(0) {
        return Err(usage("--n-train must be at least 1"));
    }
    Ok(())
}

fn prep_flags(t: &Training) -> PrepFlags {
    PrepFlags {
        standardize: t.standardize,
        normalize: t.normalize,
        zca: t.zca,
    }
}

fn arch_text(t: &Training) -> Result<&str> {
    t.arch
        .as_deref()
        .ok_or_else(|| usage("--arch is required (unless the kernels are given with --k-train)"))
}

/// CIFAR-10, when `--cifar [DIR]` asks for it.
fn cifar_of(t: &Training) -> Result<Option<ntk_data::cifar::Cifar10>> {
    t.cifar
        .as_ref()
        .map(|d| crate::download::load_cifar10(d.clone()))
        .transpose()
}

/// CIFAR-10 as samples (pixel values 0..255) and labels.
fn cifar_samples(set: &ntk_data::cifar::ImageSet) -> (Samples, Vec<usize>) {
    (
        Samples {
            data: set.data.iter().map(|&v| f64::from(v)).collect(),
            n: set.n,
            shape: Shape::Image {
                h: set.h,
                w: set.w,
                c: set.c,
            },
        },
        set.labels.clone(),
    )
}

/// The first `n` samples of `x` (all without `n`); `flag` names the option.
fn first_samples(mut x: Samples, n: Option<usize>, flag: &str, what: &str) -> Result<Samples> {
    if let Some(n) = n {
        if n > x.n {
            return Err(usage(format!(
                "{flag} {n}: {what} has only {} samples",
                x.n
            )));
        }
        let size = x.data.len() / x.n;
        x.data.truncate(n * size);
        x.n = n;
    }
    Ok(x)
}

/// Inputs and targets must describe the same samples.
fn same_count(xp: &Path, nx: usize, yp: &Path, ny: usize) -> Result<()> {
    if nx == ny {
        Ok(())
    } else {
        Err(usage(format!(
            "{} has {nx} samples but {} has {ny}",
            xp.display(),
            yp.display()
        )))
    }
}

/// The training set (files or CIFAR-10), its first `--n-train` samples,
/// preprocessed with statistics fitted on it.
fn load_train(t: &Training, cifar: Option<&ntk_data::cifar::Cifar10>) -> Result<(Train, Prep)> {
    check_training_flags(t)?;
    let task = task_of(t);
    let (x, raw, xwhat, ywhat) = match cifar {
        Some(c) => {
            if task == Task::Regress {
                return Err(usage("CIFAR-10 has class labels: use --task classify"));
            }
            let (x, l) = cifar_samples(&c.train);
            let what = "the CIFAR-10 training set".to_owned();
            (x, RawTargets::Labels(l), what.clone(), what)
        }
        None => {
            let (xp, yp) = match (&t.x_train, &t.y_train) {
                (Some(x), Some(y)) => (x, y),
                _ => {
                    return Err(usage(
                        "give the training set with --x-train and --y-train, or --cifar [DIR]",
                    ));
                }
            };
            let x = read_samples(xp)?;
            let raw = RawTargets::read(yp, task)?;
            same_count(xp, x.n, yp, raw.n())?;
            (x, raw, xp.display().to_string(), yp.display().to_string())
        }
    };
    let mut x = first_samples(x, t.n_train, "--n-train", &xwhat)?;
    let targets = raw.first(x.n, &ywhat)?;
    let prep = Prep::fit(prep_flags(t), &mut x)?;
    Ok((
        Train {
            x,
            y: targets.y,
            labels: targets.labels,
            task,
        },
        prep,
    ))
}

/// The test set of `ntk eval`: files or CIFAR-10, its first `--n-test`
/// samples, with the training set's preprocessing.
fn load_test(
    data: &Train,
    prep: &Prep,
    cifar: Option<&ntk_data::cifar::Cifar10>,
    test: &TestArgs<'_>,
) -> Result<(Samples, Targets, String)> {
    let (x, targets, what) = match cifar {
        Some(c) => {
            if test.x.is_some() || test.y.is_some() {
                return Err(usage(
                    "--cifar gives the test set too: leave out --x-test and --y-test",
                ));
            }
            let (x, l) = cifar_samples(&c.test);
            let targets = test_targets(Some(l), None, data.task, data.y.nrows())?;
            (x, targets, "the CIFAR-10 test set".to_owned())
        }
        None => {
            let (xp, yp) = match (test.x, test.y) {
                (Some(x), Some(y)) => (x, y),
                _ => return Err(usage("give the test set with --x-test and --y-test")),
            };
            let x = read_samples(xp)?;
            same_shape(&data.x, &x, &xp.display().to_string())?;
            let targets = test_targets(None, Some(yp), data.task, data.y.nrows())?;
            same_count(xp, x.n, yp, targets.n())?;
            (x, targets, xp.display().to_string())
        }
    };
    if test.n == Some(0) {
        return Err(usage("--n-test must be at least 1"));
    }
    let mut x = first_samples(x, test.n, "--n-test", &what)?;
    let targets = targets.first(x.n);
    prep.apply(&mut x, &what)?;
    Ok((x, targets, what))
}

/// The test-set options of `ntk eval`.
pub(crate) struct TestArgs<'a> {
    pub(crate) x: Option<&'a Path>,
    pub(crate) y: Option<&'a Path>,
    pub(crate) n: Option<usize>,
    pub(crate) k: Option<&'a Path>,
}

/// A precomputed kernel matrix from `.npy`: 2-D, finite.
fn read_kernel(path: &Path) -> Result<Mat<f64>> {
    let a = files::read_npy(path)?;
    let what = path.display();
    let (r, c) = match a.shape.as_slice() {
        [r, c] if *r > 0 && *c > 0 => (*r, *c),
        other => {
            return Err(usage(format!(
                "{what}: a kernel matrix must have shape (n1, n2), found {other:?}"
            )));
        }
    };
    // Two copies at the peak (the file's values, then the matrix).
    let v = a.to_f64();
    drop(a);
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        return Err(usage(format!(
            "{what}: non-finite kernel entry at ({}, {})",
            k / c,
            k % c
        )));
    }
    Ok(Mat::from_fn(r, c, |i, j| v[i * c + j]))
}

fn pick_kernel(k: &Kernels, kind: KernelKind) -> MatRef<'_, f64> {
    match kind {
        KernelKind::Ntk => k.ntk.as_ref(),
        KernelKind::Nngp => k.nngp.as_ref(),
    }
}

fn kernel_name(kind: KernelKind) -> &'static str {
    match kind {
        KernelKind::Ntk => "ntk",
        KernelKind::Nngp => "nngp",
    }
}

/// What λ is chosen against: training targets `(k, n)`, labels if
/// classifying.
#[derive(Clone, Copy)]
struct Goal<'a> {
    y: MatRef<'a, f64>,
    labels: Option<&'a [usize]>,
    task: Task,
}

impl Train {
    fn goal(&self) -> Goal<'_> {
        Goal {
            y: self.y.as_ref(),
            labels: self.labels.as_deref(),
            task: self.task,
        }
    }
}

/// λ as given, from `--diag-reg`, or chosen from the grid on a seeded
/// validation split or by seeded k-fold cross-validation of the training
/// set (never the test set). Returns λ and a JSON record of the choice.
fn choose_lambda(
    ctx: &Ctx,
    t: &Training,
    goal: Goal<'_>,
    k: MatRef<'_, f64>,
) -> Result<(f64, Value)> {
    if let Some(l) = t.lambda {
        return Ok((l, json!({ "method": "given" })));
    }
    if let Some(r) = t.diag_reg {
        let l = lambda_from_trace(k, r)?;
        return Ok((
            l,
            json!({ "method": "diag_reg times the mean of the training kernel's diagonal", "diag_reg": r }),
        ));
    }
    let grid = t.lambda_grid.as_ref().expect("clap requires one of them");
    let n = goal.y.ncols();
    let metric = match goal.task {
        Task::Classify => Metric::Accuracy,
        Task::Regress => Metric::Mse,
    };
    let metric_name = if metric == Metric::Accuracy {
        "accuracy"
    } else {
        "mse"
    };
    let scores = |sel: &ntk_solve::select::Selection| {
        sel.scores
            .iter()
            .map(|(l, s)| json!({"lambda": l, "score": s}))
            .collect::<Vec<_>>()
    };
    if let Some(f) = t.folds {
        if f > n {
            return Err(usage(format!(
                "--folds {f}: the training set has only {n} samples"
            )));
        }
        let folds = kfold(n, f, Some(ctx.common.seed))?;
        let sel = cross_validate_kernel_ridge(k, goal.y, goal.labels, &folds, grid, metric)?;
        let record = json!({
            "method": "k-fold cross-validation of the training set (mean validation score)",
            "folds": f,
            "seed": ctx.common.seed,
            "metric": metric_name,
            "scores": scores(&sel),
        });
        return Ok((sel.lambda, record));
    }
    let (tr, val) = validation_split(n, t.val_fraction, ctx.common.seed)?;
    let sub = |r: &[usize], c: &[usize]| Mat::from_fn(r.len(), c.len(), |i, j| k[(r[i], c[j])]);
    let ytr = Mat::from_fn(goal.y.nrows(), tr.len(), |i, j| goal.y[(i, tr[j])]);
    let yval = Mat::from_fn(goal.y.nrows(), val.len(), |i, j| goal.y[(i, val[j])]);
    let lval: Vec<usize> = goal
        .labels
        .map(|l| val.iter().map(|&i| l[i]).collect())
        .unwrap_or_default();
    let truth = match goal.task {
        Task::Classify => Truth::Labels(&lval),
        Task::Regress => Truth::Values(yval.as_ref()),
    };
    let sel = select_kernel_ridge(
        sub(&tr, &tr).as_ref(),
        ytr.as_ref(),
        sub(&tr, &val).as_ref(),
        truth,
        grid,
        metric,
    )?;
    let record = json!({
        "method": "validation split of the training set",
        "val_fraction": t.val_fraction,
        "n_fit": tr.len(),
        "n_validation": val.len(),
        "seed": ctx.common.seed,
        "metric": metric_name,
        "scores": scores(&sel),
    });
    Ok((sel.lambda, record))
}

/// Dual coefficients `A` (`n × k`, predictions `Aᵀ K(X, X*)`) of kernel
/// ridge, or of the gradient-descent ensemble at `--time T`.
struct Fitted {
    coefficients: Mat<f64>,
    lambda: f64,
    how: Value,
    solve: Value,
}

fn fit_model(ctx: &Ctx, t: &Training, goal: Goal<'_>, k: MatRef<'_, f64>) -> Result<Fitted> {
    let (lambda, how) = choose_lambda(ctx, t, goal, k)?;
    match t.time {
        // t = ∞ is kernel ridge, solved by Cholesky.
        Some(time) if time.is_finite() => {
            let e = MseEnsemble::new(k, goal.y, DiagReg::Absolute(lambda), t.learning_rate)?;
            Ok(Fitted {
                coefficients: e.weights(time)?,
                lambda,
                how,
                solve: json!({
                    "method": "gradient descent on the MSE (eigendecomposition)",
                    "time": time,
                    "learning_rate": t.learning_rate,
                }),
            })
        }
        _ => {
            let model = KernelRidge::fit(k, goal.y, lambda)?;
            let info = model.info();
            Ok(Fitted {
                coefficients: model.coefficients().to_owned(),
                lambda,
                how,
                solve: json!({
                    "method": format!("{:?}", info.method),
                    "condition_estimate": info.condition_estimate,
                    "time": "inf",
                }),
            })
        }
    }
}

fn eval_cmd(ctx: &Ctx, t: &Training, test: &TestArgs<'_>, json_out: Option<&Path>) -> Result<()> {
    outputs_writable(&[json_out], ctx.common.force)?;
    if t.k_train.is_some() {
        return eval_precomputed(ctx, t, test, json_out);
    }
    if test.k.is_some() {
        return Err(usage("--k-test goes with --k-train"));
    }
    let t0 = Instant::now();
    let cifar = cifar_of(t)?;
    let (data, prep) = load_train(t, cifar.as_ref())?;
    let (xt, targets_test, _) = load_test(&data, &prep, cifar.as_ref(), test)?;
    drop(cifar);
    let arch = build(arch_text(t)?, data.x.shape)?;
    let t_load = t0.elapsed().as_secs_f64();
    let (pred, lambda, how, solve, timings, backend) = match t.features {
        Some(dim) => {
            let t1 = Instant::now();
            let (spec, map, fit) = train_on_features(ctx, t, &arch, &data, dim)?;
            let t_fit = t1.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let pred = predict_features(ctx, &map, fit.weights.as_ref(), &xt)?;
            let t_pred = t2.elapsed().as_secs_f64();
            let backend = json!({
                "kind": "features",
                "features": spec.to_json(),
                "dim": fit.dim,
                "degrees": fit.degrees,
                "check": fit.check.map(|(n, e)| json!({"samples": n, "relative_frobenius_error": e})),
            });
            let timings = json!({
                "load": t_load,
                "train_features": fit.seconds_features,
                "fit_total": t_fit,
                "test_features_and_predict": t_pred,
                "total": t0.elapsed().as_secs_f64(),
            });
            (
                pred,
                fit.lambda,
                fit.how,
                json!({"method": "primal ridge on features"}),
                timings,
                backend,
            )
        }
        None => {
            let t1 = Instant::now();
            let k_train = compute(ctx, &arch, &data.x, None, "train kernel")?;
            let t_train_kernel = t1.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let k_cross = compute(ctx, &arch, &data.x, Some(&xt), "test kernel")?;
            let t_test_kernel = t2.elapsed().as_secs_f64();
            let t3 = Instant::now();
            let fitted = fit_model(ctx, t, data.goal(), pick_kernel(&k_train, t.kernel))?;
            let pred = ntk_solve::predict(
                fitted.coefficients.as_ref(),
                pick_kernel(&k_cross, t.kernel),
            )?;
            let t_solve = t3.elapsed().as_secs_f64();
            let timings = json!({
                "load": t_load,
                "train_kernel": t_train_kernel,
                "test_kernel": t_test_kernel,
                "solve_and_predict": t_solve,
                "total": t0.elapsed().as_secs_f64(),
            });
            (
                pred,
                fitted.lambda,
                fitted.how,
                fitted.solve,
                timings,
                json!({"kind": "exact"}),
            )
        }
    };
    let result = json!({
        "command": "eval",
        "architecture": arch.to_string(),
        "arch_argument": t.arch,
        "kernel": kernel_name(t.kernel),
        "backend": backend,
        "task": data.task.name(),
        "n_train": data.x.n,
        "n_test": xt.n,
        "input_shape": data.x.dims()[1..],
        "preprocessing": prep.to_json(),
        "lambda": lambda,
        "lambda_selection": how,
        "solve": solve,
        "threads": ctx.threads,
        "seed": ctx.common.seed,
        "timings_s": timings,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let rows = vec![
        ("architecture", arch.to_string()),
        ("kernel", kernel_name(t.kernel).to_owned()),
        (
            "backend",
            match &result["backend"]["dim"] {
                Value::Null => "exact".to_owned(),
                d => format!("{} features, {}", d, t.feature_args.method),
            },
        ),
        ("train / test", format!("{} / {}", data.x.n, xt.n)),
        ("lambda", format!("{lambda:e}")),
    ];
    report_scores(
        ctx,
        result,
        rows,
        pred.as_ref(),
        &targets_test,
        data.task,
        t0,
        json_out,
    )
}

/// Scores the test predictions `(k, n_test)`, writes the JSON and prints
/// the table.
#[allow(clippy::too_many_arguments)]
fn report_scores(
    ctx: &Ctx,
    mut result: Value,
    mut rows: Vec<(&str, String)>,
    pred: MatRef<'_, f64>,
    truth: &Targets,
    task: Task,
    t0: Instant,
    json_out: Option<&Path>,
) -> Result<()> {
    match task {
        Task::Classify => {
            let acc = accuracy(pred, truth.labels.as_ref().expect("classify"))?;
            result["accuracy"] = json!(acc);
            rows.push(("accuracy", format!("{:.4}", acc)));
        }
        Task::Regress => {
            let m = mse(pred, truth.y.as_ref())?;
            result["mse"] = json!(m);
            result["rmse"] = json!(m.sqrt());
            rows.push(("mse", format!("{m:.6e}")));
            rows.push(("rmse", format!("{:.6e}", m.sqrt())));
            // R² needs a target that varies over the test set.
            if let Ok(r2) = r2(pred, truth.y.as_ref()) {
                result["r2"] = json!(r2);
                rows.push(("r2", format!("{r2:.6}")));
            }
        }
    }
    rows.push(("seconds", format!("{:.3}", t0.elapsed().as_secs_f64())));
    if let Some(p) = json_out {
        write_json(p, &result, ctx.common.force)?;
    }
    ctx.say(&table(&rows));
    Ok(())
}

/// `ntk eval --k-train K --k-test KT`: kernel ridge (or the
/// gradient-descent ensemble) on kernels `ntk kernel` computed before.
fn eval_precomputed(
    ctx: &Ctx,
    t: &Training,
    test: &TestArgs<'_>,
    json_out: Option<&Path>,
) -> Result<()> {
    let t0 = Instant::now();
    check_training_flags(t)?;
    if prep_flags(t).any() {
        return Err(usage(
            "--standardize, --normalize and --zca act on inputs: with --k-train the kernels are given",
        ));
    }
    if test.x.is_some() {
        return Err(usage(
            "with --k-train the test set is --k-test and --y-test (no --x-test)",
        ));
    }
    let kt_path = t.k_train.as_deref().expect("checked by the caller");
    let kx_path = test
        .k
        .ok_or_else(|| usage("--k-train needs --k-test, K(X_train, X_test) as `ntk kernel --x1 TRAIN --x2 TEST` writes it"))?;
    let (yp, ytp) = match (&t.y_train, test.y) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(usage("--k-train needs --y-train and --y-test")),
    };
    let task = task_of(t);
    let raw = RawTargets::read(yp, task)?;
    let outputs = match &raw {
        RawTargets::Values(y) => y.nrows(),
        RawTargets::Labels(_) => 0,
    };
    let truth = test_targets(None, Some(ytp), task, outputs)?;
    let k_train = read_kernel(kt_path)?;
    let k_cross = read_kernel(kx_path)?;
    let (n, m) = (raw.n(), truth.n());
    if k_train.nrows() != n || k_train.ncols() != n {
        return Err(usage(format!(
            "{}: the training kernel must be ({n}, {n}) for the {n} targets of {}, found ({}, {})",
            kt_path.display(),
            yp.display(),
            k_train.nrows(),
            k_train.ncols()
        )));
    }
    if k_cross.nrows() != n || k_cross.ncols() != m {
        let hint = if k_cross.nrows() == m && k_cross.ncols() == n {
            " (it looks transposed: K(X_train, X_test) has one row per training sample)"
        } else {
            ""
        };
        return Err(usage(format!(
            "{}: the test kernel must be (n_train, n_test) = ({n}, {m}), found ({}, {}){hint}",
            kx_path.display(),
            k_cross.nrows(),
            k_cross.ncols()
        )));
    }
    // The first --n-train / --n-test samples: leading blocks of the kernels.
    let n1 = t.n_train.unwrap_or(n);
    let m1 = match test.n {
        Some(0) => return Err(usage("--n-test must be at least 1")),
        Some(v) => v,
        None => m,
    };
    if n1 > n || m1 > m {
        return Err(usage(format!(
            "--n-train {n1} / --n-test {m1}: the kernels have {n} training and {m} test samples"
        )));
    }
    let train = raw.first(n1, &yp.display().to_string())?;
    let truth = truth.first(m1);
    let k_train = k_train.submatrix(0, 0, n1, n1).to_owned();
    let k_cross = k_cross.submatrix(0, 0, n1, m1).to_owned();
    let goal = Goal {
        y: train.y.as_ref(),
        labels: train.labels.as_deref(),
        task,
    };
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let fitted = fit_model(ctx, t, goal, k_train.as_ref())?;
    let pred = ntk_solve::predict(fitted.coefficients.as_ref(), k_cross.as_ref())?;
    let lambda = fitted.lambda;
    let result = json!({
        "command": "eval",
        "backend": {"kind": "precomputed", "k_train": kt_path.display().to_string(), "k_test": kx_path.display().to_string()},
        "task": task.name(),
        "n_train": n1,
        "n_test": m1,
        "lambda": lambda,
        "lambda_selection": fitted.how,
        "solve": fitted.solve,
        "threads": ctx.threads,
        "seed": ctx.common.seed,
        "timings_s": {"load": t_load, "solve_and_predict": t1.elapsed().as_secs_f64(), "total": t0.elapsed().as_secs_f64()},
        "version": env!("CARGO_PKG_VERSION"),
    });
    let rows = vec![
        ("kernel", format!("precomputed, {}", kt_path.display())),
        ("train / test", format!("{n1} / {m1}")),
        ("lambda", format!("{lambda:e}")),
    ];
    report_scores(ctx, result, rows, pred.as_ref(), &truth, task, t0, json_out)
}

/// The feature map of `--features D` and primal ridge on the training set.
fn train_on_features(
    ctx: &Ctx,
    t: &Training,
    arch: &Architecture,
    data: &Train,
    dim: usize,
) -> Result<(FeatureSpec, AnyMap, FeatureFit)> {
    let mut spec = FeatureSpec::from_args(&t.feature_args, dim, t.kernel, ctx.common.seed)?;
    spec.fit_polynomials(arch, &data.x)?;
    let map = AnyMap::new(arch, data.x.shape, &spec)?;
    let fit = fit_features(
        ctx,
        arch,
        &map,
        data,
        t.lambda,
        t.lambda_grid.as_deref(),
        t.val_fraction,
        t.check,
        t.kernel,
    )?;
    Ok((spec, map, fit))
}

fn fit_cmd(ctx: &Ctx, t: &Training, model_path: &Path) -> Result<()> {
    outputs_writable(&[Some(model_path)], ctx.common.force)?;
    if t.k_train.is_some() {
        return Err(usage(
            "--k-train is for `ntk eval`: a saved model computes kernels against new inputs, \
             so `ntk fit` needs --arch and the training inputs",
        ));
    }
    let t0 = Instant::now();
    let cifar = cifar_of(t)?;
    let (data, prep) = load_train(t, cifar.as_ref())?;
    drop(cifar);
    let arch = build(arch_text(t)?, data.x.shape)?;
    let lambda = match t.features {
        Some(dim) => {
            let (spec, _, fit) = train_on_features(ctx, t, &arch, &data, dim)?;
            let model = FeatureModel {
                architecture: arch.to_string(),
                task: data.task,
                lambda: fit.lambda,
                input_shape: data.x.shape,
                spec,
                dim: fit.dim,
                outputs: fit.weights.ncols(),
                weights: row_major(fit.weights.as_ref()),
                prep,
            };
            files::write_new(model_path, &model.to_bytes()?, ctx.common.force)?;
            fit.lambda
        }
        None => {
            let k = compute(ctx, &arch, &data.x, None, "train kernel")?;
            let fitted = fit_model(ctx, t, data.goal(), pick_kernel(&k, t.kernel))?;
            let lambda = fitted.lambda;
            let a = fitted.coefficients.as_ref();
            let model = Model {
                architecture: arch.to_string(),
                kernel: kernel_name(t.kernel).to_owned(),
                task: data.task,
                lambda,
                outputs: a.ncols(),
                coefficients: row_major(a),
                x_train: data.x,
                prep,
            };
            files::write_new(model_path, &model.to_bytes()?, ctx.common.force)?;
            lambda
        }
    };
    ctx.say(&table(&[
        ("model", model_path.display().to_string()),
        ("lambda", format!("{lambda:e}")),
        ("seconds", format!("{:.3}", t0.elapsed().as_secs_f64())),
    ]));
    Ok(())
}

fn predict_cmd(
    ctx: &Ctx,
    model_path: &Path,
    x: &Path,
    out: &Path,
    scores: Option<&Path>,
) -> Result<()> {
    outputs_writable(&[Some(out), scores], ctx.common.force)?;
    let bytes = files::read(model_path)?;
    let mut xs = read_samples(x)?;
    let (pred, task, outputs) =
        match AnyModel::from_bytes(&bytes, &model_path.display().to_string())? {
            AnyModel::Exact(model) => {
                same_shape(&model.x_train, &xs, &x.display().to_string())?;
                model.prep.apply(&mut xs, &x.display().to_string())?;
                let arch = build(&model.architecture, model.input_shape())?;
                let k = compute(ctx, &arch, &model.x_train, Some(&xs), "kernel")?;
                let kind = if model.kernel == "nngp" {
                    KernelKind::Nngp
                } else {
                    KernelKind::Ntk
                };
                let kc = pick_kernel(&k, kind);
                let a = MatRef::from_row_major_slice(
                    &model.coefficients,
                    model.x_train.n,
                    model.outputs,
                );
                (a.transpose() * kc, model.task, model.outputs) // (k, n_new)
            }
            AnyModel::Features(model) => {
                if xs.shape != model.input_shape {
                    return Err(usage(format!(
                        "{} has samples of shape {}, the model was fitted on {}",
                        x.display(),
                        xs.shape,
                        model.input_shape
                    )));
                }
                model.prep.apply(&mut xs, &x.display().to_string())?;
                let arch = build(&model.architecture, model.input_shape)?;
                let map = AnyMap::new(&arch, model.input_shape, &model.spec)?;
                if map.dim() != model.dim {
                    return Err(usage(format!(
                        "{}: the regenerated feature map has {} features, the model {}",
                        model_path.display(),
                        map.dim(),
                        model.dim
                    )));
                }
                let w = MatRef::from_row_major_slice(&model.weights, model.dim, model.outputs);
                (
                    predict_features(ctx, &map, w, &xs)?,
                    model.task,
                    model.outputs,
                )
            }
        };
    let n = xs.n;
    if pred.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(usage(format!(
            "predictions for {} are not finite (the model's coefficients or the kernel overflow)",
            x.display()
        )));
    }
    // (n, k) row-major = the transpose of the (k, n) predictions.
    let raw = row_major(pred.transpose());
    match task {
        Task::Classify => {
            let labels: Vec<i64> = argmax(pred.as_ref())?
                .into_iter()
                .map(|l| l as i64)
                .collect();
            files::write_npy(out, &[n], &labels, ctx.common.force)?;
        }
        Task::Regress => {
            let shape: Vec<usize> = if outputs == 1 {
                vec![n]
            } else {
                vec![n, outputs]
            };
            files::write_npy(out, &shape, &raw, ctx.common.force)?;
        }
    }
    if let Some(p) = scores {
        files::write_npy(p, &[n, outputs], &raw, ctx.common.force)?;
    }
    ctx.say(&table(&[(
        "predictions",
        format!("{n} -> {}", out.display()),
    )]));
    Ok(())
}

fn arch_cmd(text: &str, input: Option<&[usize]>) -> Result<()> {
    let spec = ArchSpec::parse(text)?;
    let shape = match input {
        None => None,
        Some([d]) => Some(Shape::Vector { dim: *d }),
        Some([h, w, c]) => Some(Shape::Image {
            h: *h,
            w: *w,
            c: *c,
        }),
        Some(other) => {
            return Err(usage(format!(
                "--input-shape takes D or H,W,C, got {} numbers",
                other.len()
            )));
        }
    };
    let arch = match (&spec, shape) {
        (_, Some(s)) => spec.build(s)?,
        (ArchSpec::Layers(a), None) => a.clone(),
        (ArchSpec::Myrtle { depth, .. }, None) => {
            return Err(usage(format!(
                "Myrtle{depth} depends on the image size: pass --input-shape H,W,C"
            )));
        }
    };
    let shapes = match shape {
        Some(s) => Some(arch.shapes(s)?),
        None => None,
    };
    // Widths are infinite, so only the spatial layout is a real shape.
    let describe = |s: Shape| match s {
        Shape::Image { h, w, .. } => format!("{h}x{w} positions"),
        Shape::Vector { .. } => "vector".to_owned(),
    };
    let mut out = String::new();
    if let Some(s) = shape {
        out.push_str(&format!("  {:>3}  {:<60} {s}\n", "", "input"));
    }
    for (i, layer) in arch.layers().iter().enumerate() {
        let shown = shapes.as_ref().map(|v| describe(v[i])).unwrap_or_default();
        out.push_str(&format!("  {i:>3}  {:<60} {shown}\n", layer.to_string()));
    }
    stdout_text(&out);
    Ok(())
}
