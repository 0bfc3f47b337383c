//! `ntk reproduce cifar` (`cargo xtask reproduce-cifar`): the papers'
//! CIFAR-10 claims, on this machine.
//!
//! - Protocol 2021 (docs/SOURCES.md §P1.4): `cntksketch` features of the 2021
//!   CNTK (3 × [Conv 4×4 VALID, ReLU], GAP, Dense), degree 2; pixels / 255
//!   and channel standardisation with training statistics; targets
//!   one-hot − 0.1.
//! - Protocol 2022 (docs/SOURCES.md §P2.3): `hermite` features of Myrtle-5 with
//!   ExpNormalized (γ = 1) and with ReLU, degree 8; channel
//!   standardisation, per-image centring and unit norm, then ZCA with
//!   regularisation 0.1 fitted on the training images only.
//!
//! Both choose λ on a validation split of the training set (never the test
//! set). Each protocol also runs the exact kernel of the same network on a
//! leading subset (`--exact-train`, `--exact-test`) together with the
//! features at that same n, so the report gives the accuracy of features
//! against exact at equal n, the speed-up measured there, and the exact
//! kernel's time per pair extrapolated to the full problem.

use std::time::Instant;

use crate::cli::CifarArgs;
use crate::ctx::Ctx;
use crate::error::{Result, usage};
use crate::model::Task;
use crate::repro::{Problem, Report, ReportPaths, Split, decades, exact, features, spec};
use dual_activations::Activation;
use ntk_data::cifar::ImageSet;
use ntk_data::preprocess::{ChannelStats, Zca, normalize_samples, scale};
use ntk_features::{Architecture, KernelKind, Method, Shape};
use ntk_solve::metrics::{one_hot, one_hot_centered};
use serde_json::json;

const VAL_FRACTION: f64 = 0.2;
/// ZCA regularisation of the 2022 protocol, relative to `tr(C)/d`.
const ZCA_REG: f64 = 0.1;

/// One network of a protocol with its feature method and degree.
struct Net {
    name: &'static str,
    arch: Architecture,
    method: Method,
    degree: usize,
}

pub(crate) fn run(ctx: &Ctx, a: &CifarArgs) -> Result<()> {
    let protocols: &[&str] = match a.protocol.as_str() {
        "2021" => &["2021"],
        "2022" => &["2022"],
        "both" => &["2021", "2022"],
        other => {
            return Err(usage(format!(
                "--protocol must be 2021, 2022 or both, got '{other}'"
            )));
        }
    };
    let paths = ReportPaths::new(&a.out_dir, "report", ctx.common.force)?;
    if a.dims.is_empty() || a.dims.contains(&0) {
        return Err(usage("--dims must list positive feature dimensions"));
    }
    if a.train < 10 || a.test == 0 {
        return Err(usage("--train must be at least 10 and --test at least 1"));
    }
    let dir = crate::ctx::data_dir(a.data_dir.clone());
    let data = crate::ctx::load_cifar10(Some(dir.clone()))?;
    if a.train > data.train.n || a.test > data.test.n {
        return Err(usage(format!(
            "--train {} / --test {}: CIFAR-10 has {} / {}",
            a.train, a.test, data.train.n, data.test.n
        )));
    }
    // Features of the full sets are cached in blocks under the data
    // directory, so an interrupted run resumes (`stream::with_stream`).
    let cache = dir.join("cache").join("features");
    let ctx = &Ctx {
        feature_cache: (!a.no_cache).then(|| cache.clone()),
        ..ctx.clone()
    };
    let t0 = Instant::now();
    let idx = |n: usize| (0..n).collect::<Vec<_>>();
    let train = data.train.select(&idx(a.train));
    let test = data.test.select(&idx(a.test));
    let grid = decades(-6, 3);
    let mut entries = Vec::new();
    let mut notes = String::new();
    let mut records = Vec::new();
    for &protocol in protocols {
        let (p, nets) = problem(protocol, &train, &test, &grid)?;
        for net in nets {
            let name = format!("{} {protocol}", net.name);
            let small = a.exact_train >= 10 && a.exact_test > 0;
            let mut exact_rows = Vec::new();
            let mut equal_n = Vec::new();
            if small {
                exact_rows = exact(ctx, &name, &net.arch, &p, a.exact_train, a.exact_test)?;
                let sub = Problem {
                    train: p.train.head(a.exact_train),
                    test: p.test.head(a.exact_test),
                    task: p.task,
                    grid: p.grid.clone(),
                    val_fraction: p.val_fraction,
                    y_scale: 1.0,
                };
                for &d in &a.dims {
                    let mut s = spec(net.method, d, KernelKind::Ntk, ctx.common.seed);
                    s.config.degree = Some(net.degree);
                    s.config.inner_dim = inner(&net, d, a.inner_dim);
                    s.config.inner_dim = inner(&net, d, a.inner_dim);
                    equal_n.push(features(ctx, &name, &net.arch, &sub, &s, a.exact_train)?);
                }
            }
            let mut full = Vec::new();
            for &d in &a.dims {
                let mut s = spec(net.method, d, KernelKind::Ntk, ctx.common.seed);
                s.config.degree = Some(net.degree);
                s.config.inner_dim = inner(&net, d, a.inner_dim);
                full.push(features(ctx, &name, &net.arch, &p, &s, a.train)?);
            }
            if let Some(ex) = exact_rows.iter().find(|e| e.kernel == KernelKind::Ntk) {
                let per_pair = ex.seconds_kernel / ex.pairs.unwrap_or(1.0);
                let (n, m) = (p.train.x.n as f64, p.test.x.n as f64);
                let full_pairs = n * (n + 1.0) / 2.0 + n * m;
                let extrapolated = per_pair * full_pairs;
                notes.push_str(&format!(
                    "**{name}**: exact kernel {:.3} ms per pair on {} threads ({} pairs at n = {} / {}), \
                     so about {} for the full {} / {} images (kernel only).\n",
                    per_pair * 1e3,
                    ctx.threads,
                    ex.pairs.unwrap_or(0.0),
                    ex.n_train,
                    ex.n_test,
                    crate::report::human_seconds(extrapolated),
                    p.train.x.n,
                    p.test.x.n
                ));
                for (small_f, full_f) in equal_n.iter().zip(&full) {
                    notes.push_str(&format!(
                        "- {} D={}: at n = {} accuracy {:.4} against exact {:.4}, {:.1}× faster ({:.2} s against {:.2} s); \
                         on the full set {:.4} in {}, {:.0}× faster than the extrapolated exact kernel.\n",
                        full_f.method,
                        full_f.dim.unwrap_or(0),
                        small_f.n_train,
                        small_f.score,
                        ex.score,
                        ex.seconds() / small_f.seconds(),
                        small_f.seconds(),
                        ex.seconds(),
                        full_f.score,
                        crate::report::human_seconds(full_f.seconds()),
                        extrapolated / full_f.seconds()
                    ));
                    records.push(json!({
                        "network": name,
                        "dim": full_f.dim,
                        "exact_seconds_per_pair": per_pair,
                        "exact_extrapolated_seconds": extrapolated,
                        "speedup_equal_n": ex.seconds() / small_f.seconds(),
                        "speedup_full_extrapolated": extrapolated / full_f.seconds(),
                        "accuracy_exact": ex.score,
                        "accuracy_features_equal_n": small_f.score,
                        "accuracy_features_full": full_f.score,
                    }));
                }
            }
            entries.extend(exact_rows);
            entries.extend(equal_n);
            entries.extend(full);
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let about = format!(
        "CIFAR-10 (the first {} training and {} test images of the official binary batches), protocol(s) {}. \
         2021: pixels / 255, channel standardisation with training statistics, targets one-hot − 0.1, \
         `cntksketch` of 3 × [Conv 4×4 VALID, ReLU], GAP, Dense (degree 2). 2022: channel standardisation, \
         per-image centring and unit norm, ZCA (regularisation {ZCA_REG} · tr(C)/d) fitted on the training images, \
         one-hot targets, `hermite` features of Myrtle-5 with ExpNormalized (γ = 1) and with ReLU (degree 8). \
         λ from 1e-6 .. 1e3 (decades) on a {:.0} % validation split of the training set (seed {}). Exact kernels \
         and the equal-n feature runs use the first {} / {} images.",
        a.train,
        a.test,
        protocols.join(", "),
        VAL_FRACTION * 100.0,
        ctx.common.seed,
        a.exact_train,
        a.exact_test
    );
    let report = Report {
        title: "CIFAR-10: sketched CNTK features against the exact CNTK",
        about,
        score_name: "test accuracy",
        higher_is_better: true,
        entries: &entries,
        notes,
        meta: json!({
            "command": "reproduce cifar",
            "dataset": { "name": "CIFAR-10", "n_train": a.train, "n_test": a.test, "dir": dir.display().to_string() },
            "feature_cache": (!a.no_cache).then(|| cache.display().to_string()),
            "protocols": protocols,
            "exact": { "n_train": a.exact_train, "n_test": a.exact_test },
            "lambda_selection": { "val_fraction": VAL_FRACTION, "seed": ctx.common.seed, "metric": "accuracy", "grid": grid },
            "features": { "dims": a.dims, "dtype": "f32", "seed": ctx.common.seed, "kernel": "ntk" },
            "speedups": records,
            "machine": crate::repro::machine(ctx, a.commit.as_deref()),
        }),
    };
    crate::repro::write(ctx, &paths, &report, total)
}

/// The per-position budget of a network's features at dimension `d`.
fn inner(net: &Net, d: usize, given: Option<usize>) -> Option<usize> {
    given.or((net.method == Method::CntkSketch).then_some(d))
}

/// The preprocessed problem and the networks of one protocol.
fn problem(
    protocol: &str,
    train: &ImageSet,
    test: &ImageSet,
    grid: &[f64],
) -> Result<(Problem, Vec<Net>)> {
    let (mut tr, mut te) = (train.clone(), test.clone());
    let (xtr, xte) = (&mut tr.data, &mut te.data);
    let len = train.image_len();
    let stats = ChannelStats::fit(xtr, train.c)?;
    let (y, yt, nets) = if protocol == "2021" {
        for d in [&mut *xtr, &mut *xte] {
            scale(d, 1.0 / 255.0);
        }
        let stats = ChannelStats::fit(xtr, train.c)?;
        stats.standardize(xtr)?;
        stats.standardize(xte)?;
        let nets = vec![Net {
            name: "CNTK",
            arch: Architecture::cntk_2021(3, 4, std::f64::consts::SQRT_2)?,
            method: Method::CntkSketch,
            degree: 2,
        }];
        (
            one_hot_centered(&train.labels, 10)?,
            one_hot_centered(&test.labels, 10)?,
            nets,
        )
    } else {
        stats.standardize(xtr)?;
        stats.standardize(xte)?;
        normalize_samples(xtr, len)?;
        normalize_samples(xte, len)?;
        let zca = Zca::fit(xtr, len, ZCA_REG)?;
        zca.apply(xtr)?;
        zca.apply(xte)?;
        let myrtle = |act| Architecture::myrtle(5, train.h, std::f64::consts::SQRT_2, None, act);
        let nets = vec![
            Net {
                name: "Myrtle5 ExpNormalized",
                arch: myrtle(Activation::EXP_NORMALIZED)?,
                method: Method::Hermite,
                degree: 8,
            },
            Net {
                name: "Myrtle5 Relu",
                arch: myrtle(Activation::Relu)?,
                method: Method::Hermite,
                degree: 8,
            },
        ];
        (
            one_hot(&train.labels, 10)?,
            one_hot(&test.labels, 10)?,
            nets,
        )
    };
    let shape = Shape::Image {
        h: train.h,
        w: train.w,
        c: train.c,
    };
    Ok((
        Problem {
            train: Split::labelled(&tr, shape, y),
            test: Split::labelled(&te, shape, yt),
            task: Task::Classify,
            grid: grid.to_vec(),
            val_fraction: VAL_FRACTION,
            y_scale: 1.0,
        },
        nets,
    ))
}
