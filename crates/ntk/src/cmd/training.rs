//! The `Training` flags that `ntk eval` and `ntk fit` share, checked and
//! turned into the engine's values: the training set (files or CIFAR-10,
//! preprocessed), the ridge and its λ rule, the feature map and ridge of
//! `--features D`, and the kernel `--kernel` picks.

use crate::arrays::{Samples, read_samples};
use crate::cli::{TaskKind, Training};
use crate::cmd::features::spec_of;
use crate::ctx::{Ctx, load_cifar10};
use crate::error::{Result, usage};
use crate::inputs::FileSamples;
use crate::model::Task;
use crate::prep::{Prep, PrepFlags};
use crate::stream::{FeatureFit, fit_features};
use crate::train::{RawTargets, Ridge, Train, cifar_samples, first_samples, same_count};
use faer::MatRef;
use ntk_features::{Architecture, KernelKind, Kernels};
use ntk_pipeline::{AnyMap, Check, FeatureSpec};

pub(crate) fn task_of(t: &Training) -> Task {
    match t.task {
        TaskKind::Classify => Task::Classify,
        TaskKind::Regress => Task::Regress,
    }
}

/// Range checks of λ, the grid, the folds and the gradient-descent time.
pub(crate) fn check_training_flags(t: &Training) -> Result<()> {
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
    if t.chunk == 0 {
        return Err(usage("--chunk must be at least 1"));
    }
    if t.n_train == Some(0) {
        return Err(usage("--n-train must be at least 1"));
    }
    Ok(())
}

pub(crate) fn prep_flags(t: &Training) -> PrepFlags {
    PrepFlags {
        standardize: t.standardize,
        normalize: t.normalize,
        zca: t.zca,
    }
}

pub(crate) fn arch_text(t: &Training) -> Result<&str> {
    t.arch
        .as_deref()
        .ok_or_else(|| usage("--arch is required (unless the kernels are given with --k-train)"))
}

/// CIFAR-10, when `--cifar [DIR]` asks for it.
pub(crate) fn cifar_of(t: &Training) -> Result<Option<ntk_data::cifar::Cifar10>> {
    t.cifar
        .as_ref()
        .map(|d| load_cifar10(d.clone()))
        .transpose()
}

/// The training set (files or CIFAR-10), its first `--n-train` samples,
/// preprocessed with statistics fitted on it.
pub(crate) fn load_train(
    t: &Training,
    cifar: Option<&ntk_data::cifar::Cifar10>,
) -> Result<(Train, Prep)> {
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
            // Feature fits of `.npy` inputs read them by rows, never whole
            // (nothing to fit on them first: no preprocessing).
            let npy = xp
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
            if t.features.is_some() && npy && !prep_flags(t).any() {
                let f = FileSamples::open(xp, t.n_train, "--n-train")?;
                let raw = RawTargets::read(yp, task)?;
                same_count(xp, f.all, yp, raw.n())?;
                let targets = raw.first(f.n, &yp.display().to_string())?;
                let x = Samples {
                    data: Vec::new(),
                    n: f.n,
                    shape: f.shape,
                };
                return Ok((
                    Train {
                        x,
                        file: Some(f),
                        y: targets.y,
                        labels: targets.labels,
                        task,
                    },
                    Prep::default(),
                ));
            }
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
            file: None,
            y: targets.y,
            labels: targets.labels,
            task,
        },
        prep,
    ))
}

/// The ridge and λ rule the flags ask for.
pub(crate) fn ridge(t: &Training) -> Ridge<'_> {
    Ridge {
        lambda: t.lambda,
        diag_reg: t.diag_reg,
        grid: t.lambda_grid.as_deref(),
        val_fraction: t.val_fraction,
        folds: t.folds,
        time: t.time,
        learning_rate: t.learning_rate,
        chunk: t.chunk,
    }
}

/// `--polynomial data`: the fit on the pipeline's evenly spaced training
/// samples (read alone when the inputs stay in their file).
pub(crate) fn fit_polynomials(
    spec: &mut FeatureSpec,
    arch: &Architecture,
    data: &Train,
) -> Result<()> {
    let inputs = data.inputs();
    let (n, shape) = (inputs.n(), inputs.shape());
    match inputs {
        crate::inputs::Inputs::Memory(x) => spec.fit_polynomials(arch, &x.data, n, shape)?,
        crate::inputs::Inputs::File(_) => {
            if spec.config.polynomial != ntk_features::Polynomial::Data {
                return Ok(());
            }
            let idx = ntk_pipeline::fit_sample_indices(n);
            let picked = inputs.pick(&idx)?;
            spec.fit_polynomials(arch, &picked, idx.len(), shape)?;
        }
    }
    Ok(())
}

/// The feature map of `--features D` and primal ridge on the training set.
pub(crate) fn train_on_features(
    ctx: &Ctx,
    t: &Training,
    arch: &Architecture,
    data: &Train,
    dim: usize,
) -> Result<(FeatureSpec, AnyMap, FeatureFit)> {
    let mut spec = spec_of(&t.feature_args, dim, t.kernel, ctx.common.seed)?;
    fit_polynomials(&mut spec, arch, data)?;
    let map = AnyMap::new(arch, data.x.shape, &spec)?;
    let check = Check {
        arch,
        samples: t.check,
        seed: ctx.common.seed,
    };
    let fit = match ctx.cluster.as_deref() {
        Some(c) => {
            let (weights, lambda, how, seconds_features) = crate::distributed::fit_features(
                c,
                ctx,
                &map,
                data,
                &ridge(t),
                &format!("{arch}|{}", spec.to_json()),
            )?;
            let check = if ctx.is_root() {
                crate::stream::check_features(&map, data, &check, ctx.par)?
            } else {
                None
            };
            FeatureFit {
                weights,
                lambda,
                how,
                seconds_features,
                check,
                dim: map.dim(),
                degrees: map.degrees(),
            }
        }
        None => fit_features(ctx, &map, data, &ridge(t), &check)?,
    };
    Ok((spec, map, fit))
}

pub(crate) fn pick_kernel(k: &Kernels, kind: KernelKind) -> MatRef<'_, f64> {
    match kind {
        KernelKind::Ntk => k.ntk.as_ref(),
        KernelKind::Nngp => k.nngp.as_ref(),
    }
}
