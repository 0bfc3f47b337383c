//! `ntk demo`: the offline main job. Exact NNGP and NTK kernel ridge on the
//! embedded 8×8 digits (fully connected and convolutional) beside primal
//! ridge on Hermite feature maps of the same NTKs at a few dimensions, λ
//! chosen on a validation split of the training set, a table on stdout,
//! JSON and an SVG plot (accuracy against seconds) on disk.

use std::path::Path;
use std::time::Instant;

use crate::arrays::Samples;
use crate::commands::{Ctx, Train};
use crate::error::Result;
use crate::featurecmd::{AnyMap, FeatureSpec, fit_features, predict_features};
use crate::model::Task;
use crate::report::{Progress, write_json};
use crate::{Dtype, KernelKind};
use faer::{Mat, MatRef};
use ntk_data::preprocess::ChannelStats;
use ntk_data::{digits, files};
use ntk_features::{ArchSpec, FeatureConfig, Input, Method, Shape, kernels};
use ntk_solve::KernelRidge;
use ntk_solve::metrics::{Metric, Truth, accuracy, one_hot};
use ntk_solve::select::{select_kernel_ridge, validation_split};
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

struct Row {
    name: &'static str,
    kernel: &'static str,
    /// "exact", or "hermite D=…".
    method: String,
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
        let shape = digit_shape(image);
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
                method: "exact".to_owned(),
                n_train: n_tr,
                lambda: sel.lambda,
                val_accuracy: sel.score,
                accuracy: acc,
                kernel_s,
                solve_s: t.elapsed().as_secs_f64(),
            });
        }
    }
    // The same NTKs through feature maps, on the whole training split.
    for (name, arch_text) in [("fully connected", FC), ("convolutional", CNN)] {
        let image = name == "convolutional";
        let shape = digit_shape(image);
        let arch = ArchSpec::parse(arch_text)?.build(shape)?;
        let as_samples = |x: &[f64], n: usize| Samples {
            data: x[..n * 64].to_vec(),
            n,
            shape,
        };
        let data = Train {
            x: as_samples(&xtr, N_TRAIN),
            y: one_hot(&train.labels[..N_TRAIN], classes)?,
            labels: Some(train.labels[..N_TRAIN].to_vec()),
            task: Task::Classify,
        };
        let xt = as_samples(&xte, test.n);
        for dim in FEATURE_DIMS {
            let t = Instant::now();
            let mut config = FeatureConfig::new(
                dim,
                Method::Hermite,
                ntk_features::KernelKind::Ntk,
                ctx.common.seed,
            );
            config.degree = Some(8);
            let spec = FeatureSpec {
                config,
                dtype: Dtype::F32,
            };
            let map = AnyMap::new(&arch, shape, &spec)?;
            let grid: Vec<f64> = (-7..=1).map(|e| 10f64.powi(e)).collect();
            let fit = fit_features(
                ctx,
                &arch,
                &map,
                &data,
                None,
                Some(&grid),
                VAL_FRACTION,
                0,
                KernelKind::Ntk,
            )?;
            let pred = predict_features(ctx, &map, fit.weights.as_ref(), &xt)?;
            let acc = accuracy(pred.as_ref(), &test.labels)?;
            let val_accuracy = fit.how["scores"]
                .as_array()
                .and_then(|v| {
                    v.iter()
                        .find(|s| s["lambda"].as_f64() == Some(fit.lambda))
                        .and_then(|s| s["score"].as_f64())
                })
                .unwrap_or(f64::NAN);
            let seconds = t.elapsed().as_secs_f64();
            rows.push(Row {
                name,
                kernel: "NTK",
                method: format!("hermite D={}", map.dim()),
                n_train: N_TRAIN,
                lambda: fit.lambda,
                val_accuracy,
                accuracy: acc,
                kernel_s: fit.seconds_features,
                solve_s: seconds - fit.seconds_features,
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
        "  {:<16} {:<6} {:<16} {:>7} {:>9} {:>9} {:>10} {:>9}\n",
        "network", "kernel", "method", "n_train", "lambda", "val acc", "test acc", "seconds*"
    ));
    for r in &rows {
        text.push_str(&format!(
            "  {:<16} {:<6} {:<16} {:>7} {:>9.0e} {:>9.4} {:>10.4} {:>9.2}\n",
            r.name,
            r.kernel,
            r.method,
            r.n_train,
            r.lambda,
            r.val_accuracy,
            r.accuracy,
            r.kernel_s + r.solve_s
        ));
    }
    text.push_str(&format!(
        "\n  * exact: kernel time (NNGP and NTK are computed together, so shared) plus the solve;\n    hermite: train features, lambda selection, solve, test features and prediction\n  total {total:.1} s; wrote {} and {}\n",
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
        "features": { "method": "hermite", "degree": 8, "dims": FEATURE_DIMS, "dtype": "f32", "seed": ctx.common.seed },
        "results": rows.iter().map(|r| json!({
            "network": r.name,
            "kernel": r.kernel,
            "method": r.method,
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

/// One digit as an 8×8 image or as a 64-vector.
fn digit_shape(image: bool) -> Shape {
    if image {
        Shape::Image { h: 8, w: 8, c: 1 }
    } else {
        Shape::Vector { dim: 64 }
    }
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

/// Test accuracy against seconds (log scale), one point per method and
/// dimension; exact kernels are squares, feature maps circles joined by
/// network. Hand-written SVG (no fonts or plotting dependencies).
fn svg(rows: &[Row]) -> String {
    let (left, top, w, h) = (70.0, 40.0, 560.0, 340.0);
    let secs: Vec<f64> = rows
        .iter()
        .map(|r| (r.kernel_s + r.solve_s).max(1e-3))
        .collect();
    let (tmin, tmax) = secs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
    let (lx0, lx1) = ((tmin.log10() - 0.2).floor(), (tmax.log10() + 0.2).ceil());
    let (amin, amax) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.accuracy), b.max(r.accuracy))
    });
    let (a0, a1) = (
        (amin * 50.0).floor() / 50.0,
        ((amax * 50.0).ceil() / 50.0).max(amin + 0.02),
    );
    let px = |t: f64| left + w * (t.max(1e-3).log10() - lx0) / (lx1 - lx0);
    let py = |a: f64| top + h * (1.0 - (a - a0) / (a1 - a0));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"22\" font-size=\"14\">Digits 8x8: test accuracy against seconds — exact kernels (squares) and Hermite NTK features (circles)</text>\n",
        left + w + 260.0,
        top + h + 50.0
    );
    // Axes and grid.
    let mut e = lx0 as i32;
    while f64::from(e) <= lx1 {
        let x = px(10f64.powi(e));
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#ddd\"/>\n<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            top + h,
            top + h + 16.0,
            if e >= 0 { format!("{}", 10f64.powi(e)) } else { format!("{:.3}", 10f64.powi(e)).trim_end_matches('0').to_owned() }
        ));
        e += 1;
    }
    let steps = ((a1 - a0) / 0.01).round() as usize;
    for k in 0..=steps {
        let a = a0 + k as f64 * 0.01;
        let y = py(a);
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{a:.2}</text>\n",
            left + w,
            left - 6.0,
            y + 4.0
        ));
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds (log scale)</text>\n",
        left + w / 2.0,
        top + h + 36.0
    ));
    for (r, &t) in rows.iter().zip(&secs) {
        let (x, y) = (px(t), py(r.accuracy));
        let color = match (r.name, r.kernel) {
            ("convolutional", "NTK") => "#3b6ea5",
            ("convolutional", _) => "#6aa84f",
            (_, "NTK") => "#d9822b",
            _ => "#a64d79",
        };
        if r.method == "exact" {
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"{color}\"/>\n",
                x - 4.5,
                y - 4.5
            ));
        } else {
            s.push_str(&format!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n"
            ));
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{} {} {} n={} ({:.3})</text>\n",
            x + 8.0,
            y + 3.0,
            if r.name == "convolutional" {
                "conv"
            } else {
                "FC"
            },
            r.kernel,
            r.method,
            r.n_train,
            r.accuracy
        ));
    }
    s.push_str("</svg>\n");
    s
}
