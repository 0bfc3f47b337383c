//! `ntk eval`: kernel ridge (exact, on features, or on precomputed kernels)
//! fitted on the training set and scored on the test set.

use std::path::Path;
use std::time::Instant;

use crate::arrays::{Samples, read_samples, same_shape};
use crate::cli::Training;
use crate::cmd::training::{
    arch_text, check_training_flags, cifar_of, load_train, pick_kernel, prep_flags, ridge, task_of,
    train_on_features,
};
use crate::ctx::{Ctx, build, compute, outputs_writable};
use crate::error::{Result, usage};
use crate::model::Task;
use crate::prep::Prep;
use crate::report::{table, write_json};
use crate::stream::predict_features;
use crate::train::{
    Goal, RawTargets, Targets, Train, cifar_samples, first_samples, fit_model, same_count,
    test_targets,
};
use faer::{Mat, MatRef};
use ntk_data::files;
use ntk_solve::metrics::{accuracy, mse, r2};
use serde_json::{Value, json};

/// `ntk eval`.
pub(crate) fn run(
    ctx: &Ctx,
    t: &Training,
    test: &TestArgs<'_>,
    json_out: Option<&Path>,
) -> Result<()> {
    if ctx.is_root() {
        outputs_writable(&[json_out], ctx.common.force)?;
    }
    if !t.gram.is_empty() {
        return Err(usage(
            "--gram is for ntk fit: solve the accumulators into a model, then ntk predict",
        ));
    }
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
            let pred = match ctx.cluster.as_deref() {
                Some(c) => crate::distributed::predict(c, ctx, &map, fit.weights.as_ref(), &xt)?,
                None => predict_features(ctx, &map, fit.weights.as_ref(), &xt)?,
            };
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
            let fitted = fit_model(ctx, &ridge(t), data.goal(), pick_kernel(&k_train, t.kernel))?;
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
        "kernel": t.kernel.name(),
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
        ("kernel", t.kernel.name().to_owned()),
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
    ScoreReport {
        result,
        rows,
        pred: pred.as_ref(),
        truth: &targets_test,
        task: data.task,
        t0,
        json_out,
    }
    .write(ctx)
}

/// The test predictions of a run and what its report says besides their
/// scores.
struct ScoreReport<'a> {
    /// The run's JSON so far; the scores join it.
    result: Value,
    /// The run's table so far; the scores and the seconds join it.
    rows: Vec<(&'static str, String)>,
    /// Predictions `(k, n_test)`.
    pred: MatRef<'a, f64>,
    truth: &'a Targets,
    task: Task,
    /// When the run started.
    t0: Instant,
    json_out: Option<&'a Path>,
}

impl ScoreReport<'_> {
    /// Scores the test predictions, writes the JSON and prints the table.
    fn write(self, ctx: &Ctx) -> Result<()> {
        let Self {
            mut result,
            mut rows,
            pred,
            truth,
            task,
            t0,
            json_out,
        } = self;
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
        if let Some(p) = json_out
            && ctx.is_root()
        {
            write_json(p, &result, ctx.common.force)?;
        }
        ctx.say(&table(&rows));
        Ok(())
    }
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
    check_symmetric(k_train.as_ref(), kt_path)?;
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
    let fitted = fit_model(ctx, &ridge(t), goal, k_train.as_ref())?;
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
    ScoreReport {
        result,
        rows,
        pred: pred.as_ref(),
        truth: &truth,
        task,
        t0,
        json_out,
    }
    .write(ctx)
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

/// Relative asymmetry `|K_ij − K_ji|` beyond which a training kernel is
/// refused, against the entry's scale `max(√(|K_ii K_jj|), |K_ij|, |K_ji|)`:
/// far above the rounding of any kernel computed in `f32` (sums of a few
/// thousand terms in another order differ by about 1e−6 of their scale)
/// and far below a real mistake (another file, a cross-kernel, a matrix
/// that is not a kernel), which differs by order 1.
const ASYMMETRY: f64 = 1e-4;

/// Refuses a training kernel that is not symmetric beyond rounding, naming
/// the worst pair: ridge on it would silently solve another problem.
fn check_symmetric(k: MatRef<'_, f64>, path: &Path) -> Result<()> {
    let n = k.nrows();
    let mut worst: Option<(usize, usize, f64)> = None;
    for j in 0..n {
        for i in 0..j {
            let (a, b) = (k[(i, j)], k[(j, i)]);
            let scale = (k[(i, i)].abs() * k[(j, j)].abs())
                .sqrt()
                .max(a.abs())
                .max(b.abs());
            let rel = (a - b).abs() / scale;
            if rel > ASYMMETRY && worst.is_none_or(|(_, _, w)| rel > w) {
                worst = Some((i, j, rel));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, j, rel)) => Err(usage(format!(
            "{}: the training kernel is not symmetric: K[{i}, {j}] = {:e} but K[{j}, {i}] = {:e} (relative difference {rel:.1e}); --k-train takes K(X_train, X_train)",
            path.display(),
            k[(i, j)],
            k[(j, i)]
        ))),
    }
}
