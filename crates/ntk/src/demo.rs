//! `ntk demo`: the offline main job. Exact NNGP and NTK kernel ridge on the
//! embedded 8×8 digits (fully connected and convolutional), λ chosen on a
//! validation split of the training set, a table on stdout, JSON and an SVG
//! plot on disk.

use std::path::Path;
use std::time::Instant;

use crate::commands::Ctx;
use crate::error::Result;
use crate::report::{Progress, write_json};
use faer::{Mat, MatRef};
use ntk_data::preprocess::ChannelStats;
use ntk_data::{digits, files};
use ntk_features::{ArchSpec, Input, Shape, kernels};
use ntk_solve::KernelRidge;
use ntk_solve::metrics::{Metric, Truth, accuracy, one_hot};
use ntk_solve::select::{select_kernel_ridge, validation_split};
use serde_json::json;

/// Training images of the fixed split (the rest, 797, are the test set).
const N_TRAIN: usize = 1000;
/// The convolutional kernels use the first images of the training split
/// only: their cost is `(64 positions)²` per pair, and the demo must stay
/// under a minute on two cores.
const N_TRAIN_CONV: usize = 400;
const SPLIT_SEED: u64 = 2026;
const VAL_FRACTION: f64 = 0.2;

const FC: &str =
    "Dense(W_std=1.414, b_std=0.1), Relu, Dense(W_std=1.414, b_std=0.1), Relu, Dense(W_std=1.414)";
const CNN: &str = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, \
    AvgPool(window_shape=(2, 2), strides=(2, 2)), \
    Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, GlobalAvgPool, Dense(W_std=1.414)";

struct Row {
    name: &'static str,
    kernel: &'static str,
    n_train: usize,
    lambda: f64,
    val_accuracy: f64,
    accuracy: f64,
    kernel_s: f64,
    solve_s: f64,
}

pub(crate) fn run(ctx: &Ctx, out_dir: &Path) -> Result<()> {
    let json_path = out_dir.join("demo.json");
    let svg_path = out_dir.join("demo.svg");
    for p in [&json_path, &svg_path] {
        files::check_writable(p, ctx.common.force)?;
    }
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
    let to64 = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let (xtr, xte) = (to64(&train.data), to64(&test.data));
    let classes = 10;
    let mut rows = Vec::new();
    let configs: [(&'static str, &str, usize); 3] = [
        ("fully connected", FC, N_TRAIN),
        ("fully connected", FC, N_TRAIN_CONV),
        ("convolutional", CNN, N_TRAIN_CONV),
    ];
    for (name, arch_text, n_tr) in configs {
        let image = name == "convolutional";
        let shape = if image {
            Shape::Image { h: 8, w: 8, c: 1 }
        } else {
            Shape::Vector { dim: 64 }
        };
        let arch = ArchSpec::parse(arch_text)?.build(shape)?;
        let t = Instant::now();
        let mut progress = Progress::new(&format!("{name} {n_tr}"), ctx.common.quiet);
        let ktr = kernels(
            &arch,
            digit_input(image, &xtr, n_tr),
            None,
            ctx.par,
            &mut |d, t| progress.update(d, t),
        )?;
        let kx = kernels(
            &arch,
            digit_input(image, &xtr, n_tr),
            Some(digit_input(image, &xte, test.n)),
            ctx.par,
            &mut |d, t| progress.update(d, t),
        )?;
        progress.finish();
        let kernel_s = t.elapsed().as_secs_f64();
        let labels = &train.labels[..n_tr];
        let y = one_hot(labels, classes)?;
        for (kname, k, kc) in [("NNGP", &ktr.nngp, &kx.nngp), ("NTK", &ktr.ntk, &kx.ntk)] {
            let t = Instant::now();
            let (fit, val) = validation_split(n_tr, VAL_FRACTION, ctx.common.seed)?;
            let sub =
                |r: &[usize], c: &[usize]| Mat::from_fn(r.len(), c.len(), |i, j| k[(r[i], c[j])]);
            let yfit = Mat::from_fn(classes, fit.len(), |i, j| y[(i, fit[j])]);
            let lval: Vec<usize> = val.iter().map(|&i| labels[i]).collect();
            let grid: Vec<f64> = (-7..=1).map(|e| 10f64.powi(e)).collect();
            let sel = select_kernel_ridge(
                sub(&fit, &fit).as_ref(),
                yfit.as_ref(),
                sub(&fit, &val).as_ref(),
                Truth::Labels(&lval),
                &grid,
                Metric::Accuracy,
            )?;
            let model = KernelRidge::fit(k.as_ref(), y.as_ref(), sel.lambda)?;
            let acc = accuracy(model.predict(kc.as_ref())?.as_ref(), &test.labels)?;
            rows.push(Row {
                name,
                kernel: kname,
                n_train: n_tr,
                lambda: sel.lambda,
                val_accuracy: sel.score,
                accuracy: acc,
                kernel_s,
                solve_s: t.elapsed().as_secs_f64(),
            });
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let mut text = format!(
        "  digits 8x8 (embedded, 1797 images): {} train / {} test, lambda on a {:.0}% validation split of the training set\n\n",
        N_TRAIN,
        test.n,
        VAL_FRACTION * 100.0
    );
    text.push_str(&format!(
        "  {:<16} {:<6} {:>7} {:>9} {:>9} {:>10} {:>9}\n",
        "network", "kernel", "n_train", "lambda", "val acc", "test acc", "seconds*"
    ));
    for r in &rows {
        text.push_str(&format!(
            "  {:<16} {:<6} {:>7} {:>9.0e} {:>9.4} {:>10.4} {:>9.2}\n",
            r.name,
            r.kernel,
            r.n_train,
            r.lambda,
            r.val_accuracy,
            r.accuracy,
            r.kernel_s + r.solve_s
        ));
    }
    text.push_str(&format!(
        "\n  * kernel time (NNGP and NTK are computed together, so shared) plus the solve\n  total {total:.1} s; wrote {} and {}\n",
        json_path.display(),
        svg_path.display()
    ));
    let result = json!({
        "command": "demo",
        "dataset": {
            "name": "UCI optdigits (scikit-learn load_digits), embedded",
            "n": all.n,
            "n_train": N_TRAIN,
            "n_test": test.n,
            "split_seed": SPLIT_SEED,
            "preprocessing": "standardised with the training mean and std",
        },
        "lambda_selection": { "val_fraction": VAL_FRACTION, "seed": ctx.common.seed, "metric": "accuracy", "grid": "1e-7 .. 1e1, decades" },
        "architectures": { "fully connected": FC, "convolutional": CNN },
        "results": rows.iter().map(|r| json!({
            "network": r.name,
            "kernel": r.kernel,
            "n_train": r.n_train,
            "lambda": r.lambda,
            "val_accuracy": r.val_accuracy,
            "accuracy": r.accuracy,
            "kernel_seconds": r.kernel_s,
            "solve_seconds": r.solve_s,
        })).collect::<Vec<_>>(),
        "threads": ctx.threads,
        "total_seconds": total,
        "version": env!("CARGO_PKG_VERSION"),
    });
    write_json(&json_path, &result, ctx.common.force)?;
    files::write_new(&svg_path, svg(&rows).as_bytes(), ctx.common.force)?;
    ctx.say(&text);
    Ok(())
}

/// The first `n` digits of `x` as images or as 64-vectors.
fn digit_input(image: bool, x: &[f64], n: usize) -> Input<'_> {
    if image {
        Input::Images {
            data: &x[..n * 64],
            n,
            h: 8,
            w: 8,
            c: 1,
        }
    } else {
        Input::Vectors(MatRef::from_column_major_slice(&x[..n * 64], 64, n))
    }
}

/// A horizontal bar chart of test accuracy, one bar per row, hand-written
/// SVG (no fonts or plotting dependencies).
fn svg(rows: &[Row]) -> String {
    let (left, bar_w, bar_h, gap, top) = (250.0, 420.0, 26.0, 12.0, 50.0);
    let height = top + rows.len() as f64 * (bar_h + gap) + 40.0;
    let width = left + bar_w + 140.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"24\" font-size=\"15\">Test accuracy, digits 8x8 — exact kernel ridge</text>\n"
    );
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let w = r.accuracy * bar_w;
        let color = if r.kernel == "NTK" {
            "#3b6ea5"
        } else {
            "#d9822b"
        };
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {} (n={})</text>\n\
             <rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{color}\"/>\n\
             <text x=\"{:.1}\" y=\"{}\">{:.3} ({:.1} s)</text>\n",
            left - 8.0,
            y + bar_h * 0.7,
            r.name,
            r.kernel,
            r.n_train,
            left + w + 6.0,
            y + bar_h * 0.7,
            r.accuracy,
            r.kernel_s + r.solve_s
        ));
    }
    let axis_y = top + rows.len() as f64 * (bar_h + gap);
    for t in 0..=4 {
        let x = left + bar_w * f64::from(t) / 4.0;
        s.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{axis_y}\" stroke=\"#999\" stroke-width=\"0.5\"/>\n\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{:.2}</text>\n",
            top - 4.0,
            axis_y + 16.0,
            f64::from(t) / 4.0
        ));
    }
    s.push_str("</svg>\n");
    s
}
