//! `ntk demo`: the offline main job. Exact NNGP and NTK kernel ridge on the
//! embedded 8×8 digits (fully connected and convolutional) beside primal
//! ridge on feature maps of the same NTKs at a few dimensions (`hermite`
//! and the 2021 methods `ntksketch`, `cntksketch`), λ chosen on a
//! validation split of the training set; a table on stdout, JSON, Markdown
//! and an SVG plot (accuracy against seconds, log scale) on disk. It runs
//! on the engine of the reproductions (`crate::repro`).

use std::path::Path;
use std::time::Instant;

use crate::ctx::Ctx;
use crate::error::Result;
use crate::model::Task;
use crate::repro::{self, Problem, Report, ReportPaths, Split};
use ntk_data::digits;
use ntk_data::preprocess::ChannelStats;
use ntk_features::{ArchSpec, KernelKind, Method, Shape};
use ntk_solve::metrics::one_hot;
use ntk_solve::select::validation_split;
use serde_json::json;

/// Training images of the fixed split (the rest, 797, are the test set).
const N_TRAIN: usize = 1000;
/// The convolutional kernels use the first images of the training split
/// only: their cost is `(64 positions)²` per pair, and the demo must stay
/// under a minute on two cores.
const N_TRAIN_CONV: usize = 200;
const SPLIT_SEED: u64 = 2026;
const VAL_FRACTION: f64 = 0.2;

const FC: &str =
    "Dense(W_std=1.414, b_std=0.1), Relu, Dense(W_std=1.414, b_std=0.1), Relu, Dense(W_std=1.414)";
const CNN: &str = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, \
    AvgPool(window_shape=(2, 2), strides=(2, 2)), \
    Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, GlobalAvgPool, Dense(W_std=1.414)";

/// Feature dimensions shown beside the exact kernels.
const FEATURE_DIMS: [usize; 2] = [256, 1024];

/// Where `ntk demo` writes by default (relative to the working directory;
/// `cargo xtask demo` runs from the workspace root).
const DEFAULT_DEMO_DIR: &str = "target/ntk-demo";

/// `ntk demo [--out-dir DIR]`.
pub(crate) fn run(ctx: &Ctx, out_dir: Option<&Path>) -> Result<()> {
    match out_dir {
        Some(dir) => run_in(ctx, dir),
        None => {
            // The default directory belongs to the demo: replaced without --force.
            let mut own = ctx.clone();
            own.common.force = true;
            run_in(&own, Path::new(DEFAULT_DEMO_DIR))
        }
    }
}

fn run_in(ctx: &Ctx, out_dir: &Path) -> Result<()> {
    let paths = ReportPaths::new(out_dir, "demo", ctx.common.force)?;
    let t0 = Instant::now();
    let all = digits::load();
    // Fixed, seeded split; the validation part of `validation_split` is the test set here.
    let (train_idx, test_idx) =
        validation_split(all.n, 1.0 - N_TRAIN as f64 / all.n as f64, SPLIT_SEED)?;
    let mut train = all.select(&train_idx);
    let mut test = all.select(&test_idx);
    // Pixels 0..16; standardised with training statistics only.
    let stats = ChannelStats::fit(&train.data, 1)?;
    stats.standardize(&mut train.data)?;
    stats.standardize(&mut test.data)?;
    let split = |s: &ntk_data::cifar::ImageSet, shape: Shape| -> Result<Split> {
        Ok(Split::labelled(s, shape, one_hot(&s.labels, 10)?))
    };
    let mut entries = Vec::new();
    for (name, arch_text, image) in [("fully connected", FC, false), ("convolutional", CNN, true)] {
        let shape = if image {
            Shape::Image { h: 8, w: 8, c: 1 }
        } else {
            Shape::Vector { dim: 64 }
        };
        let p = Problem {
            train: split(&train, shape)?,
            test: split(&test, shape)?,
            task: Task::Classify,
            grid: repro::decades(-7, 1),
            val_fraction: VAL_FRACTION,
            y_scale: 1.0,
        };
        let arch = ArchSpec::parse(arch_text)?.build(shape)?;
        let exact_n: &[usize] = if image {
            &[N_TRAIN_CONV]
        } else {
            &[N_TRAIN, N_TRAIN_CONV]
        };
        for &n in exact_n {
            entries.extend(repro::exact(ctx, name, &arch, &p, n, p.test.x.n)?);
        }
        let methods = if image {
            [Method::Hermite, Method::CntkSketch]
        } else {
            [Method::Hermite, Method::NtkSketch]
        };
        for m in methods {
            for dim in FEATURE_DIMS {
                let mut s = repro::spec(m, dim, KernelKind::Ntk, ctx.common.seed);
                if m == Method::Hermite {
                    s.config.degree = Some(8);
                }
                entries.push(repro::features(ctx, name, &arch, &p, &s, N_TRAIN)?);
            }
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let about = format!(
        "Digits 8x8 (UCI optdigits as shipped by scikit-learn, embedded, 1797 images): {N_TRAIN} train / {} test \
         (split seed {SPLIT_SEED}), standardised with training statistics; λ from 1e-7 .. 1e1 on a {:.0} % \
         validation split of the training set (seed {}). Exact convolutional kernels on the first {N_TRAIN_CONV} \
         training images (their cost is 64² position pairs per image pair).\n\nFully connected: `{FC}`.\n\n\
         Convolutional: `{CNN}`.",
        test.n,
        VAL_FRACTION * 100.0,
        ctx.common.seed
    );
    let report = Report {
        title: "Digits 8x8: exact kernels and feature maps",
        about,
        score_name: "test accuracy",
        higher_is_better: true,
        entries: &entries,
        notes: String::new(),
        meta: json!({
            "command": "demo",
            "dataset": {
                "name": "UCI optdigits (scikit-learn load_digits), embedded",
                "n": all.n,
                "n_train": N_TRAIN,
                "n_test": test.n,
                "split_seed": SPLIT_SEED,
                "preprocessing": "standardised with the training mean and std",
            },
            "lambda_selection": { "val_fraction": VAL_FRACTION, "seed": ctx.common.seed, "metric": "accuracy", "grid": repro::decades(-7, 1) },
            "architectures": { "fully connected": FC, "convolutional": CNN },
            "features": { "methods": ["hermite (degree 8)", "ntksketch", "cntksketch"], "dims": FEATURE_DIMS, "dtype": "f32", "seed": ctx.common.seed },
            "machine": repro::machine(ctx, None),
        }),
    };
    repro::write(ctx, &paths, &report, total)
}
