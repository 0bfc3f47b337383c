//! The experiments behind `ntk demo` and `ntk reproduce mnist|uci|cifar`,
//! on one engine: a [`Problem`] (a train/test split, the task, the λ grid),
//! exact kernel ridge on a leading subset of it, primal ridge on feature
//! maps, and one report (a Markdown table, JSON, and an SVG of the score
//! against seconds on a log scale).
//!
//! λ is always chosen on a seeded validation split of the training set,
//! never on the test set; the final model is refitted on the whole
//! training set with that λ.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::arrays::Samples;
use crate::ctx::{Ctx, compute};
use crate::error::Result;
use crate::model::Task;
use crate::report::write_json;
use crate::stream::{fingerprint, fit_features, predict_features};
use crate::train::{Ridge, Train};
use faer::{Mat, MatRef};
use ntk_data::files;
use ntk_features::{Architecture, KernelKind, Method, Shape};
use ntk_pipeline::{AnyMap, Check, FeatureSpec, Options, Precision};
use ntk_solve::KernelRidge;
use ntk_solve::metrics::{Metric, Truth, accuracy, mse};
use ntk_solve::select::{select_kernel_ridge, validation_split};
use serde_json::{Value, json};

/// Inputs and targets of one side of a split.
pub(crate) struct Split {
    pub(crate) x: Samples,
    /// Targets `(k, n)`: one-hot codes (classification) or standardised
    /// values (regression).
    pub(crate) y: Mat<f64>,
    /// Class labels (classification only).
    pub(crate) labels: Option<Vec<usize>>,
}

impl Split {
    /// Labelled images (values as stored) seen as `shape` (the images
    /// themselves, or flattened vectors), with targets `y`.
    pub(crate) fn labelled(set: &ntk_data::cifar::ImageSet, shape: Shape, y: Mat<f64>) -> Split {
        Split {
            x: Samples {
                data: set.data.iter().map(|&v| f64::from(v)).collect(),
                n: set.n,
                shape,
            },
            y,
            labels: Some(set.labels.clone()),
        }
    }

    /// The first `n` samples (all of them if `n` is larger).
    pub(crate) fn head(&self, n: usize) -> Split {
        let n = n.min(self.x.n);
        let len = self.x.data.len() / self.x.n.max(1);
        Split {
            x: Samples {
                data: self.x.data[..n * len].to_vec(),
                n,
                shape: self.x.shape,
            },
            y: self.y.as_ref().subcols(0, n).to_owned(),
            labels: self.labels.as_ref().map(|l| l[..n].to_vec()),
        }
    }
}

/// A train/test problem and how λ is chosen.
pub(crate) struct Problem {
    pub(crate) train: Split,
    pub(crate) test: Split,
    pub(crate) task: Task,
    /// Candidate λ values.
    pub(crate) grid: Vec<f64>,
    /// Fraction of the training set held out to choose λ.
    pub(crate) val_fraction: f64,
    /// Regression targets were divided by this: RMSE is reported times it,
    /// in the data's own units.
    pub(crate) y_scale: f64,
}

impl Problem {
    fn metric(&self) -> Metric {
        match self.task {
            Task::Classify => Metric::Accuracy,
            Task::Regress => Metric::Mse,
        }
    }

    /// Test accuracy, or test RMSE in the data's units.
    fn score(&self, pred: MatRef<'_, f64>, test: &Split) -> Result<f64> {
        Ok(match (&test.labels, self.task) {
            (Some(l), Task::Classify) => accuracy(pred, l)?,
            _ => mse(pred, test.y.as_ref())?.sqrt() * self.y_scale,
        })
    }
}

/// One line of a report: exact kernel ridge or ridge on one feature map.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Which network ("fully connected", "CNTK 2021", …).
    pub(crate) network: String,
    /// Which kernel (reports write it in capitals: NNGP, NTK).
    pub(crate) kernel: KernelKind,
    /// "exact" or the feature method's name.
    pub(crate) method: String,
    /// Feature dimension D′ (None for exact kernels).
    pub(crate) dim: Option<usize>,
    pub(crate) n_train: usize,
    pub(crate) n_test: usize,
    pub(crate) lambda: f64,
    /// Validation accuracy, or validation MSE of standardised targets.
    pub(crate) val_score: f64,
    /// Test accuracy, or test RMSE in the data's units.
    pub(crate) score: f64,
    /// Exact: both kernels (NNGP and NTK are computed together, so the
    /// time is shared); features: train and test features.
    pub(crate) seconds_kernel: f64,
    /// λ selection, solve and prediction.
    pub(crate) seconds_solve: f64,
    /// Exact: kernel pairs computed (train triangle and train × test).
    pub(crate) pairs: Option<f64>,
}

impl Entry {
    pub(crate) fn seconds(&self) -> f64 {
        self.seconds_kernel + self.seconds_solve
    }

    /// The kernel as reports write it: NNGP or NTK.
    pub(crate) fn kernel_label(&self) -> String {
        self.kernel.name().to_uppercase()
    }

    fn label(&self) -> String {
        match self.dim {
            Some(d) => format!("{} D={d}", self.method),
            None => self.method.clone(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "network": self.network,
            "kernel": self.kernel_label(),
            "method": self.method,
            "dim": self.dim,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "lambda": self.lambda,
            "val_score": self.val_score,
            "score": self.score,
            "kernel_seconds": self.seconds_kernel,
            "solve_seconds": self.seconds_solve,
            "seconds": self.seconds(),
            "pairs": self.pairs,
            "seconds_per_pair": self.pairs.map(|p| self.seconds_kernel / p),
        })
    }
}

/// Decades `10^lo ..= 10^hi`.
pub(crate) fn decades(lo: i32, hi: i32) -> Vec<f64> {
    (lo..=hi).map(|e| 10f64.powi(e)).collect()
}

/// Exact NNGP and NTK kernel ridge on the first `n_train` training and
/// `n_test` test samples: two entries sharing one kernel computation.
pub(crate) fn exact(
    ctx: &Ctx,
    network: &str,
    arch: &Architecture,
    p: &Problem,
    n_train: usize,
    n_test: usize,
) -> Result<Vec<Entry>> {
    let train = p.train.head(n_train);
    let test = p.test.head(n_test);
    let (ntr, nte) = (train.x.n, test.x.n);
    let t = Instant::now();
    let ktr = compute(ctx, arch, &train.x, None, &format!("{network} train"))?;
    let kx = compute(
        ctx,
        arch,
        &train.x,
        Some(&test.x),
        &format!("{network} test"),
    )?;
    let seconds_kernel = t.elapsed().as_secs_f64();
    let pairs = (ntr * (ntr + 1) / 2 + ntr * nte) as f64;
    let (fit, val) = validation_split(ntr, p.val_fraction, ctx.common.seed)?;
    let yfit = Mat::from_fn(train.y.nrows(), fit.len(), |i, j| train.y[(i, fit[j])]);
    let yval = Mat::from_fn(train.y.nrows(), val.len(), |i, j| train.y[(i, val[j])]);
    let lval: Vec<usize> = train
        .labels
        .as_ref()
        .map(|l| val.iter().map(|&i| l[i]).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (kernel, k, kc) in [
        (KernelKind::Nngp, &ktr.nngp, &kx.nngp),
        (KernelKind::Ntk, &ktr.ntk, &kx.ntk),
    ] {
        let t = Instant::now();
        let sub = |r: &[usize], c: &[usize]| Mat::from_fn(r.len(), c.len(), |i, j| k[(r[i], c[j])]);
        let truth = match p.task {
            Task::Classify => Truth::Labels(&lval),
            Task::Regress => Truth::Values(yval.as_ref()),
        };
        let sel = select_kernel_ridge(
            sub(&fit, &fit).as_ref(),
            yfit.as_ref(),
            sub(&fit, &val).as_ref(),
            truth,
            &p.grid,
            p.metric(),
        )?;
        let model = KernelRidge::fit(k.as_ref(), train.y.as_ref(), sel.lambda)?;
        let score = p.score(model.predict(kc.as_ref())?.as_ref(), &test)?;
        out.push(Entry {
            network: network.to_owned(),
            kernel,
            method: "exact".to_owned(),
            dim: None,
            n_train: ntr,
            n_test: nte,
            lambda: sel.lambda,
            val_score: sel.score,
            score,
            seconds_kernel,
            seconds_solve: t.elapsed().as_secs_f64(),
            pairs: Some(pairs),
        });
    }
    Ok(out)
}

/// A feature configuration for the experiments: f32 features (the ridge
/// accumulates in f64), the method's defaults otherwise.
pub(crate) fn spec(method: Method, dim: usize, kernel: KernelKind, seed: u64) -> FeatureSpec {
    Options::default().spec(dim, method, kernel, seed, Precision::F32)
}

/// Primal ridge on the feature map `spec` of `arch`, trained on the first
/// `n_train` training samples, scored on the whole test set.
pub(crate) fn features(
    ctx: &Ctx,
    network: &str,
    arch: &Architecture,
    p: &Problem,
    spec: &FeatureSpec,
    n_train: usize,
) -> Result<Entry> {
    let train = p.train.head(n_train);
    let t = Instant::now();
    let map = AnyMap::new(arch, train.x.shape, spec)?;
    // One cache directory per feature map: architecture, input shape and
    // every option of the map (blocks inside are named by their inputs).
    let ctx = &Ctx {
        feature_cache: ctx.feature_cache.as_ref().map(|root| {
            let id = format!("{arch}|{:?}|{}", train.x.shape, spec.to_json());
            root.join(format!("{:016x}", fingerprint(id.bytes())))
        }),
        ..ctx.clone()
    };
    let data = Train {
        x: train.x,
        file: None,
        y: train.y,
        labels: train.labels,
        task: p.task,
    };
    let check = Check {
        arch,
        samples: 0,
        seed: ctx.common.seed,
    };
    let fit = fit_features(
        ctx,
        &map,
        &data,
        &Ridge::on_grid(&p.grid, p.val_fraction),
        &check,
    )?;
    let t_pred = Instant::now();
    let pred = predict_features(ctx, &map, fit.weights.as_ref(), &p.test.x)?;
    let seconds_test = t_pred.elapsed().as_secs_f64();
    let score = p.score(pred.as_ref(), &p.test)?;
    let val_score = fit.how["scores"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|s| s["lambda"].as_f64() == Some(fit.lambda))
                .and_then(|s| s["score"].as_f64())
        })
        .unwrap_or(f64::NAN);
    let total = t.elapsed().as_secs_f64();
    // Test features dominate the prediction time (one GEMV per block).
    let seconds_kernel = fit.seconds_features + seconds_test;
    Ok(Entry {
        network: network.to_owned(),
        kernel: spec.config.kernel,
        method: spec.config.method.name().to_owned(),
        dim: Some(map.dim()),
        n_train: data.x.n,
        n_test: p.test.x.n,
        lambda: fit.lambda,
        val_score,
        score,
        seconds_kernel,
        seconds_solve: (total - seconds_kernel).max(0.0),
        pairs: None,
    })
}

/// The three files of a report, `STEM.{json,md,svg}` in `dir`.
pub(crate) struct ReportPaths {
    pub(crate) json: PathBuf,
    pub(crate) md: PathBuf,
    pub(crate) svg: PathBuf,
}

impl ReportPaths {
    /// Checks before any work that the files may be written.
    pub(crate) fn new(dir: &Path, stem: &str, force: bool) -> Result<Self> {
        let p = Self {
            json: dir.join(format!("{stem}.json")),
            md: dir.join(format!("{stem}.md")),
            svg: dir.join(format!("{stem}.svg")),
        };
        for f in [&p.json, &p.md, &p.svg] {
            files::check_writable(f, force)?;
        }
        Ok(p)
    }
}

/// What a report says about its run besides the entries.
pub(crate) struct Report<'a> {
    pub(crate) title: &'a str,
    /// One paragraph of Markdown under the title (data, protocol).
    pub(crate) about: String,
    pub(crate) score_name: &'static str,
    pub(crate) higher_is_better: bool,
    pub(crate) entries: &'a [Entry],
    /// Extra Markdown after the table (speed-ups, where the time goes).
    pub(crate) notes: String,
    /// Everything else for the JSON (dataset, protocol, architectures).
    pub(crate) meta: Value,
}

/// The Markdown table of the entries.
pub(crate) fn table(score_name: &str, entries: &[Entry]) -> String {
    let mut s = format!(
        "| network | kernel | method | n_train | n_test | λ | val score | {score_name} | seconds |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for e in entries {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0e} | {:.4} | {:.4} | {:.2} |\n",
            e.network,
            e.kernel_label(),
            e.label(),
            e.n_train,
            e.n_test,
            e.lambda,
            e.val_score,
            e.score,
            e.seconds()
        ));
    }
    s
}

/// Machine and build, for the JSON of every report.
pub(crate) fn machine(ctx: &Ctx, commit: Option<&str>) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_owned())
    });
    json!({
        "threads": ctx.threads,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu": cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "commit": commit,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// Writes `STEM.{json,md,svg}` and shows the Markdown and the paths on stdout.
pub(crate) fn write(ctx: &Ctx, paths: &ReportPaths, r: &Report<'_>, total: f64) -> Result<()> {
    let mut md = format!("# {}\n\n{}\n\n", r.title, r.about);
    md.push_str(&table(r.score_name, r.entries));
    md.push_str(
        "\nSeconds: exact — both kernels (NNGP and NTK share one computation) plus λ selection, \
         solve and prediction; features — train and test features, then the same.\n",
    );
    if !r.notes.is_empty() {
        md.push('\n');
        md.push_str(&r.notes);
        if !r.notes.ends_with('\n') {
            md.push('\n');
        }
    }
    md.push_str(&format!(
        "\nTotal {total:.1} s on {} thread(s).\n",
        ctx.threads
    ));
    let mut meta = r.meta.clone();
    if let Value::Object(m) = &mut meta {
        m.insert("title".into(), json!(r.title));
        m.insert("score".into(), json!(r.score_name));
        m.insert(
            "results".into(),
            Value::Array(r.entries.iter().map(Entry::to_json).collect()),
        );
        m.insert("total_seconds".into(), json!(total));
    }
    write_json(&paths.json, &meta, ctx.common.force)?;
    files::write_new(&paths.md, md.as_bytes(), ctx.common.force)?;
    files::write_new(
        &paths.svg,
        svg(r.title, r.score_name, r.higher_is_better, r.entries).as_bytes(),
        ctx.common.force,
    )?;
    ctx.say(&format!(
        "{md}\nwrote {}, {} and {}\n",
        paths.md.display(),
        paths.json.display(),
        paths.svg.display()
    ));
    Ok(())
}

/// The box a text takes, estimated from its length (sans-serif glyphs
/// average about 0.6 of the font size in width; the box spans the font
/// size above the baseline and a fifth of it below).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextBox {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl TextBox {
    pub(crate) fn new(x: f64, baseline: f64, size: f64, text: &str, end: bool) -> Self {
        let width = 0.6 * size * text.chars().count() as f64;
        let x0 = if end { x - width } else { x };
        Self {
            x0,
            x1: x0 + width,
            y0: baseline - size,
            y1: baseline + 0.2 * size,
        }
    }

    pub(crate) fn overlaps(&self, o: &Self) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// Score against seconds (log scale), one point per method and dimension:
/// exact kernels are filled squares, feature maps open circles joined by
/// method in order of dimension; one colour per network and kernel, named
/// in a legend right of the plot; points labelled where the label collides
/// with no other text.
/// Hand-written SVG (no fonts or plotting dependencies).
pub(crate) fn svg(title: &str, score_name: &str, higher_is_better: bool, rows: &[Entry]) -> String {
    const PALETTE: [&str; 8] = [
        "#3b6ea5", "#d9822b", "#6aa84f", "#a64d79", "#8e7cc3", "#cc4125", "#45818e", "#7f6000",
    ];
    let (left, top, w, h) = (80.0, 46.0, 560.0, 340.0);
    let rows: Vec<&Entry> = rows
        .iter()
        .filter(|r| r.score.is_finite() && r.seconds().is_finite())
        .collect();
    let secs: Vec<f64> = rows.iter().map(|r| r.seconds().max(1e-3)).collect();
    let (tmin, tmax) = secs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
    let (tmin, tmax) = if secs.is_empty() {
        (1.0, 10.0)
    } else {
        (tmin, tmax)
    };
    let (lx0, lx1) = ((tmin.log10() - 0.2).floor(), (tmax.log10() + 0.2).ceil());
    let (smin, smax) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.score), b.max(r.score))
    });
    let (smin, smax) = if rows.is_empty() {
        (0.0, 1.0)
    } else {
        (smin, smax)
    };
    // A "nice" step giving 4–10 grid lines over the scores' range.
    let span = (smax - smin).max(smax.abs() * 1e-3).max(1e-12);
    let step = {
        let raw = span / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| span / s <= 8.0)
            .unwrap_or(10.0 * mag)
    };
    let (a0, a1) = (
        (smin / step).floor() * step,
        ((smax / step).ceil() * step).max((smin / step).floor() * step + step),
    );
    let px = |t: f64| left + w * (t.max(1e-3).log10() - lx0) / (lx1 - lx0);
    let py = |a: f64| top + h * (1.0 - (a - a0) / (a1 - a0));
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"20\" font-size=\"14\">{}</text>\n\
         <text x=\"{left}\" y=\"36\" font-size=\"11\" fill=\"#555\">{} against seconds ({}) — exact kernels: squares; feature maps: circles, joined by method</text>\n",
        left + w + 300.0,
        top + h + 56.0,
        esc(title),
        esc(score_name),
        if higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        }
    );
    let mut e = lx0 as i32;
    while f64::from(e) <= lx1 {
        let x = px(10f64.powi(e));
        let label = if e >= 0 {
            format!("{}", 10f64.powi(e))
        } else {
            format!("{:.*}", (-e) as usize, 10f64.powi(e))
        };
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#ddd\"/>\n<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>\n",
            top + h,
            top + h + 20.0,
        ));
        e += 1;
    }
    let steps = ((a1 - a0) / step).round() as usize;
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    for k in 0..=steps {
        let a = a0 + k as f64 * step;
        let y = py(a);
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{a:.decimals$}</text>\n",
            left + w,
            left - 6.0,
            y + 4.0
        ));
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds (log scale)</text>\n",
        left + w / 2.0,
        top + h + 40.0
    ));
    // One colour per (network, kernel), in order of first appearance.
    let mut series: Vec<(String, KernelKind)> = Vec::new();
    for r in &rows {
        let key = (r.network.clone(), r.kernel);
        if !series.contains(&key) {
            series.push(key);
        }
    }
    let color = |r: &Entry| {
        let i = series
            .iter()
            .position(|(n, k)| *n == r.network && *k == r.kernel)
            .unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    // Lines through each feature method's dimensions.
    let mut done: Vec<(String, KernelKind, String)> = Vec::new();
    for r in &rows {
        let key = (r.network.clone(), r.kernel, r.method.clone());
        if r.dim.is_none() || done.contains(&key) {
            continue;
        }
        let mut pts: Vec<&Entry> = rows
            .iter()
            .filter(|q| q.network == key.0 && q.kernel == key.1 && q.method == key.2)
            .copied()
            .filter(|q| q.dim.is_some())
            .collect();
        pts.sort_by_key(|q| q.dim);
        if pts.len() > 1 {
            let path: Vec<String> = pts
                .iter()
                .map(|q| format!("{:.1},{:.1}", px(q.seconds()), py(q.score)))
                .collect();
            s.push_str(&format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-opacity=\"0.5\"/>\n",
                path.join(" "),
                color(r)
            ));
        }
        done.push(key);
    }
    // Legend, right of the plot: one line per colour (network and kernel),
    // then the two markers.
    let lx = left + w + 20.0;
    let mut ly = top + 6.0;
    let mut placed: Vec<TextBox> = Vec::new();
    for (i, (network, kernel)) in series.iter().enumerate() {
        let text = format!("{} {}", network, kernel.name().to_uppercase());
        s.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"4\" fill=\"{}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>\n",
            ly - 6.0,
            PALETTE[i % PALETTE.len()],
            lx + 20.0,
            ly,
            esc(&text)
        ));
        placed.push(TextBox::new(lx + 20.0, ly, 11.0, &text, false));
        ly += 16.0;
    }
    ly += 4.0;
    s.push_str(&format!(
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"#777\"/>\n<text x=\"{:.1}\" y=\"{ly:.1}\" font-size=\"11\">exact kernel</text>\n",
        lx + 2.5,
        ly - 8.5,
        lx + 20.0
    ));
    placed.push(TextBox::new(lx + 20.0, ly, 11.0, "exact kernel", false));
    ly += 16.0;
    s.push_str(&format!(
        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"none\" stroke=\"#777\" stroke-width=\"2\"/>\n<text x=\"{:.1}\" y=\"{ly:.1}\" font-size=\"11\">feature map (method D=dim)</text>\n",
        lx + 7.0,
        ly - 4.0,
        lx + 20.0
    ));
    placed.push(TextBox::new(
        lx + 20.0,
        ly,
        11.0,
        "feature map (method D=dim)",
        false,
    ));
    for (r, &t) in rows.iter().zip(&secs) {
        let (x, y) = (px(t), py(r.score));
        let c = color(r);
        if r.dim.is_none() {
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"{c}\"/>\n",
                x - 4.5,
                y - 4.5
            ));
        } else {
            s.push_str(&format!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>\n"
            ));
        }
    }
    // The markers themselves are obstacles: a label must not cover another
    // point (or sit against it, where it would seem to name it).
    for (r, &t) in rows.iter().zip(&secs) {
        let (x, y) = (px(t), py(r.score));
        placed.push(TextBox {
            x0: x - 5.0,
            x1: x + 5.0,
            y0: y - 5.0,
            y1: y + 5.0,
        });
    }
    // Point labels where they collide with nothing already written: exact
    // kernels first, then each method's largest dimension, then the rest;
    // right of the point, else below, above or left of it. What finds no
    // room is in the legend's colours and the report's table.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let largest = |r: &Entry| {
        rows.iter()
            .filter(|q| q.network == r.network && q.kernel == r.kernel && q.method == r.method)
            .all(|q| q.dim <= r.dim)
    };
    order.sort_by_key(|&i| {
        let r = rows[i];
        (r.dim.is_some(), !largest(r), i)
    });
    for i in order {
        let r = rows[i];
        let (x, y) = (px(secs[i]), py(r.score));
        let text = format!("{} ({:.4})", r.label(), r.score);
        let spots = [
            (x + 8.0, y + 3.0, false),
            (x + 8.0, y + 16.0, false),
            (x + 8.0, y - 10.0, false),
            (x - 8.0, y + 3.0, true),
        ];
        for (tx, ty, end) in spots {
            let b = TextBox::new(tx, ty, 10.0, &text, end);
            // Inside the plot: clear of the subtitle above, the tick labels
            // left and below, and the legend right.
            let inside = b.x0 >= left
                && b.x1 <= left + w + 10.0
                && b.y0 >= top - 4.0
                && b.y1 <= top + h + 3.0;
            if inside && placed.iter().all(|p| !p.overlaps(&b)) {
                s.push_str(&format!(
                    "<text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"10\"{}>{}</text>\n",
                    if end { " text-anchor=\"end\"" } else { "" },
                    esc(&text)
                ));
                placed.push(b);
                break;
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: &str, dim: Option<usize>, score: f64, seconds: f64) -> Entry {
        Entry {
            network: "net <a&b>".into(),
            kernel: KernelKind::Ntk,
            method: method.into(),
            dim,
            n_train: 10,
            n_test: 5,
            lambda: 1e-3,
            val_score: 0.5,
            score,
            seconds_kernel: seconds,
            seconds_solve: 0.0,
            pairs: None,
        }
    }

    #[test]
    fn the_plot_places_points_by_log_seconds_and_escapes_names() {
        let rows = [
            entry("exact", None, 0.95, 100.0),
            entry("hermite", Some(1024), 0.90, 1.0),
            entry("hermite", Some(256), 0.80, 0.1),
        ];
        let s = svg("t", "test accuracy", true, &rows);
        // Escaped network name, never raw markup from data.
        assert!(s.contains("net &lt;a&amp;b&gt;"));
        assert!(!s.contains("<a&b>"));
        // Seconds span 0.1..100 → decades 10^-2 .. 10^3 (0.2-decade margins),
        // so 0.1 s sits 1/5 and 100 s 4/5 of the way across the 560-px axis.
        assert!(s.contains(&format!("cx=\"{:.1}\"", 80.0 + 560.0 * 0.2)));
        assert!(s.contains(&format!("x=\"{:.1}\"", 80.0 + 560.0 * 0.8 - 4.5)));
        // One polyline joins the two hermite dimensions; the exact point has none.
        assert_eq!(s.matches("<polyline").count(), 1);
    }

    /// Every `<text>` of an SVG as its estimated box.
    fn text_boxes(svg: &str) -> Vec<(TextBox, String)> {
        let attr = |tag: &str, name: &str| -> Option<String> {
            let k = tag.find(&format!(" {name}=\""))? + name.len() + 3;
            Some(tag[k..k + tag[k..].find('"')?].to_owned())
        };
        svg.split("<text")
            .skip(1)
            .map(|part| {
                let (tag, rest) = part.split_once('>').unwrap();
                let text = rest
                    .split("</text>")
                    .next()
                    .unwrap()
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&");
                let num = |n: &str| attr(tag, n).map(|v| v.parse::<f64>().unwrap());
                let size = num("font-size").unwrap_or(12.0);
                let end = attr(tag, "text-anchor").as_deref() == Some("end");
                let mid = attr(tag, "text-anchor").as_deref() == Some("middle");
                let x = num("x").unwrap();
                let x = if mid {
                    x + 0.3 * size * text.chars().count() as f64
                } else {
                    x
                };
                (
                    TextBox::new(x, num("y").unwrap(), size, &text, end || mid),
                    text,
                )
            })
            .collect()
    }

    #[test]
    fn no_two_labels_overlap_on_a_crowded_plot() {
        // The demo's shape: two networks, both kernels, exact beside two
        // feature methods at two dimensions, with near-equal times and
        // scores (the crowding that once printed labels on each other).
        let mut rows = Vec::new();
        for (ni, net) in ["FC", "CNN"].iter().enumerate() {
            for kernel in [KernelKind::Nngp, KernelKind::Ntk] {
                let mut add = |method: &str, dim: Option<usize>, score: f64, secs: f64| {
                    let mut e = entry(method, dim, score, secs);
                    e.network = (*net).into();
                    e.kernel = kernel;
                    rows.push(e);
                };
                let base = 0.95 + 0.01 * ni as f64;
                add("exact", None, base, 0.5 + ni as f64 * 0.1);
                add("exact", None, base + 0.001, 0.52 + ni as f64 * 0.1);
                for (m, method) in ["hermite", "ntksketch"].iter().enumerate() {
                    add(method, Some(1024), base - 0.01 - 0.002 * m as f64, 0.3);
                    add(method, Some(4096), base - 0.004 * m as f64, 0.9);
                }
            }
        }
        let s = svg("demo", "test accuracy", true, &rows);
        let boxes = text_boxes(&s);
        for (i, (a, ta)) in boxes.iter().enumerate() {
            for (b, tb) in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "'{ta}' overlaps '{tb}'");
            }
        }
        // The legend names every colour; some point labels found room.
        assert!(s.contains(">FC NTK</text>") && s.contains(">CNN NNGP</text>"));
        assert!(boxes.iter().any(|(_, t)| t.starts_with("exact (")));
        assert!(boxes.iter().any(|(_, t)| t.contains("D=4096")));
    }

    #[test]
    fn an_empty_or_non_finite_report_still_draws() {
        let s = svg(
            "t",
            "test RMSE",
            false,
            &[entry("x", Some(1), f64::NAN, 1.0)],
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(!s.contains("NaN"));
    }
}
