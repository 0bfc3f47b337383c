//! `ntk reproduce uci NAME` (`cargo xtask reproduce-uci NAME`): the 2021
//! paper's UCI regressions (docs/SOURCES.md §P1.4) with its protocol and without
//! its bugs: 4-fold cross-validation without shuffling (contiguous folds),
//! features standardised with the training fold's statistics, targets
//! standardised likewise (`ct`: centred only), RMSE in the data's units.
//! λ is chosen on a validation split of the training fold and used as
//! chosen (the public code multiplied it by `n` twice). Exact NTK kernel
//! ridge runs on a leading subset of each training fold when the fold is
//! larger than `--exact-train`, and the report says so.

use std::path::PathBuf;
use std::time::Instant;

use crate::arrays::Samples;
use crate::cli::UciArgs;
use crate::ctx::Ctx;
use crate::error::{Result, usage};
use crate::model::Task;
use crate::repro::{Entry, Problem, Report, ReportPaths, Split, decades, exact, features, spec};
use faer::Mat;
use ntk_data::files;
use ntk_data::uci::{Regression, UciDataset};
use ntk_features::{ArchSpec, KernelKind, Method, Shape};
use serde_json::json;

const VAL_FRACTION: f64 = 0.2;

pub(crate) fn run(ctx: &Ctx, a: &UciArgs) -> Result<()> {
    let dataset = UciDataset::by_name(&a.name).ok_or_else(|| {
        usage(format!(
            "unknown UCI dataset '{}'; one of protein, ct, workloads, msd",
            a.name
        ))
    })?;
    let out_dir = a
        .out_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/reproduce/uci").join(dataset.name()));
    let paths = ReportPaths::new(&out_dir, "report", ctx.common.force)?;
    if a.folds < 2 {
        return Err(usage("--folds must be at least 2"));
    }
    if a.dim == 0 || a.exact_train == 1 {
        return Err(usage(
            "--dim must be positive and --exact-train 0 or at least 2",
        ));
    }
    let dir = crate::ctx::data_dir(a.data_dir.clone());
    let file = dir
        .join("uci")
        .join(dataset.name())
        .join(dataset.data_file());
    if !file.is_file() {
        return Err(usage(format!(
            "{} is absent: run `ntk download uci {}` (or `cargo xtask download uci {}`), \
             or place {} there by hand",
            file.display(),
            dataset.name(),
            dataset.name(),
            dataset.data_file()
        )));
    }
    let t0 = Instant::now();
    let text = String::from_utf8(files::read(&file)?)
        .map_err(|_| usage(format!("{} is not UTF-8 text", file.display())))?;
    let data = dataset.parse(&text)?;
    if data.n < 2 * a.folds {
        return Err(usage(format!(
            "{}: {} complete rows, too few for {} folds",
            file.display(),
            data.n,
            a.folds
        )));
    }
    let arch = ArchSpec::parse(&a.arch)?.build(Shape::Vector { dim: data.d })?;
    let folds = a.max_folds.unwrap_or(a.folds).clamp(1, a.folds);
    let grid = decades(-6, 3);
    // Per (network, kernel, method, dim): the entries of every fold.
    let mut per_fold: Vec<Vec<Entry>> = Vec::new();
    for f in 0..folds {
        let p = fold(&data, dataset, a.folds, f, a.max_train, &grid)?;
        let mut row = Vec::new();
        if a.exact_train >= 2 {
            // NNGP and NTK share one kernel computation; both are reported.
            row.extend(exact(
                ctx,
                "fully connected",
                &arch,
                &p,
                a.exact_train,
                p.test.x.n,
            )?);
        }
        for m in [Method::NtkSketch, Method::NtkRf] {
            let s = spec(m, a.dim, KernelKind::Ntk, ctx.common.seed);
            row.push(features(
                ctx,
                "fully connected",
                &arch,
                &p,
                &s,
                p.train.x.n,
            )?);
        }
        per_fold.push(row);
    }
    // The mean over folds of each line (RMSE, seconds, sizes).
    let lines = per_fold.first().map_or(0, Vec::len);
    let k = per_fold.len() as f64;
    let entries: Vec<Entry> = (0..lines)
        .map(|i| {
            let mut e = per_fold[0][i].clone();
            let mean =
                |g: &dyn Fn(&Entry) -> f64| per_fold.iter().map(|r| g(&r[i])).sum::<f64>() / k;
            e.score = mean(&|e| e.score);
            e.val_score = mean(&|e| e.val_score);
            e.seconds_kernel = mean(&|e| e.seconds_kernel);
            e.seconds_solve = mean(&|e| e.seconds_solve);
            e.n_train = mean(&|e| e.n_train as f64).round() as usize;
            e.n_test = mean(&|e| e.n_test as f64).round() as usize;
            e.lambda = (mean(&|e| e.lambda.ln())).exp();
            e
        })
        .collect();
    let total = t0.elapsed().as_secs_f64();
    let exact_note = if a.exact_train >= 2
        && entries.iter().any(|e| {
            e.method == "exact"
                && e.n_train
                    < entries
                        .iter()
                        .filter(|e| e.method != "exact")
                        .map(|e| e.n_train)
                        .max()
                        .unwrap_or(0)
        }) {
        format!(
            "The exact kernels use the first {} rows of each training fold (their solve is cubic in n); the features use the whole fold.",
            a.exact_train
        )
    } else {
        String::new()
    };
    let about = format!(
        "UCI `{}` ({}; {} complete rows, {} non-constant features): {} contiguous folds without shuffling, \
         {} run; features standardised with the training fold's mean and std, targets {} with the training \
         fold's statistics; λ from 1e-6 .. 1e3 (decades) on a {:.0} % validation split of the training fold \
         (seed {}), then refitted on the whole fold. Scores are the mean test RMSE over the folds run, in the \
         target's units; seconds and λ (geometric) are means per fold too.\n\nNetwork: `{}`.",
        dataset.name(),
        dataset.data_file(),
        data.n,
        data.d,
        a.folds,
        folds,
        if dataset == UciDataset::Ct {
            "centred"
        } else {
            "standardised"
        },
        VAL_FRACTION * 100.0,
        ctx.common.seed,
        a.arch
    );
    let folds_json: Vec<_> = per_fold
        .iter()
        .enumerate()
        .map(|(f, r)| {
            json!({
                "fold": f,
                "results": r.iter().map(|e| json!({"method": e.method, "kernel": e.kernel_label(), "dim": e.dim, "rmse": e.score, "lambda": e.lambda, "n_train": e.n_train, "n_test": e.n_test, "seconds": e.seconds()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let report = Report {
        title: &format!("UCI {}: exact NTK and 2021 feature maps", dataset.name()),
        about,
        score_name: "test RMSE",
        higher_is_better: false,
        entries: &entries,
        notes: exact_note,
        meta: json!({
            "command": "reproduce uci",
            "dataset": { "name": dataset.name(), "file": dataset.data_file(), "n": data.n, "d": data.d },
            "protocol": { "folds": a.folds, "folds_run": folds, "shuffle": false, "exact_train": a.exact_train, "max_train": a.max_train },
            "lambda_selection": { "val_fraction": VAL_FRACTION, "seed": ctx.common.seed, "metric": "mse", "grid": grid },
            "architecture": a.arch,
            "features": { "dim": a.dim, "methods": ["ntksketch", "ntkrf"], "dtype": "f32", "seed": ctx.common.seed },
            "folds": folds_json,
            "machine": crate::repro::machine(ctx, a.commit.as_deref()),
        }),
    };
    crate::repro::write(ctx, &paths, &report, total)
}

/// Fold `f` of `k` contiguous folds: the test block and the rest, both
/// standardised with the training part's statistics.
fn fold(
    data: &Regression,
    dataset: UciDataset,
    k: usize,
    f: usize,
    max_train: Option<usize>,
    grid: &[f64],
) -> Result<Problem> {
    let (n, d) = (data.n, data.d);
    // sklearn's KFold: the first n % k folds have one extra row.
    let size = |i: usize| n / k + usize::from(i < n % k);
    let start: usize = (0..f).map(size).sum();
    let end = start + size(f);
    let mut train_rows: Vec<usize> = (0..start).chain(end..n).collect();
    if let Some(m) = max_train {
        train_rows.truncate(m.max(2));
    }
    let test_rows: Vec<usize> = (start..end).collect();
    let ntr = train_rows.len() as f64;
    let mut mean = vec![0.0; d];
    let mut sq = vec![0.0; d];
    let row = |r: usize| &data.x[r * d..(r + 1) * d];
    for &r in &train_rows {
        for (m, v) in mean.iter_mut().zip(row(r)) {
            *m += v / ntr;
        }
    }
    for &r in &train_rows {
        for ((q, v), m) in sq.iter_mut().zip(row(r)).zip(&mean) {
            *q += (v - m).powi(2) / ntr;
        }
    }
    // A feature constant on this fold carries nothing: divide by 1.
    let sd: Vec<f64> = sq
        .iter()
        .map(|v| if *v > 0.0 { v.sqrt() } else { 1.0 })
        .collect();
    let y_mean = train_rows.iter().map(|&r| data.y[r]).sum::<f64>() / ntr;
    let y_var = train_rows
        .iter()
        .map(|&r| (data.y[r] - y_mean).powi(2))
        .sum::<f64>()
        / ntr;
    let y_sd = if dataset == UciDataset::Ct || y_var <= 0.0 {
        1.0
    } else {
        y_var.sqrt()
    };
    let side = |rows: &[usize]| Split {
        x: Samples {
            data: rows
                .iter()
                .flat_map(|&r| (0..d).map(move |j| (r, j)))
                .map(|(r, j)| (data.x[r * d + j] - mean[j]) / sd[j])
                .collect(),
            n: rows.len(),
            shape: Shape::Vector { dim: d },
        },
        y: Mat::from_fn(1, rows.len(), |_, j| (data.y[rows[j]] - y_mean) / y_sd),
        labels: None,
    };
    Ok(Problem {
        train: side(&train_rows),
        test: side(&test_rows),
        task: Task::Regress,
        grid: grid.to_vec(),
        val_fraction: VAL_FRACTION,
        y_scale: y_sd,
    })
}
