//! Training data in memory and kernel ridge on it: targets (one-hot labels
//! or values) and their checks, λ as given, from `diag_reg`, or chosen on a
//! validation split or by k-fold cross-validation of the training set (one
//! JSON record of a split's choice, for exact kernels and features alike),
//! and the dual coefficients of kernel ridge or of the gradient-descent
//! ensemble.

use std::path::Path;

use crate::arrays::{Samples, read_labels, read_targets};
use crate::ctx::Ctx;
use crate::error::{Result, usage};
use crate::model::Task;
use faer::{Mat, MatRef};
use ntk_features::Shape;
use ntk_pipeline::{SplitRecord, metric_name, scores_json};
use ntk_solve::metrics::{Metric, Truth, one_hot};
use ntk_solve::select::{
    cross_validate_kernel_ridge, kfold, select_kernel_ridge, validation_split,
};
use ntk_solve::{DiagReg, KernelRidge, MseEnsemble, lambda_from_trace};
use serde_json::{Value, json};

/// Largest number of classes accepted (one-hot targets are `K × n`).
const MAX_CLASSES: usize = 1 << 16;

/// Training data: inputs, targets `(k, n)`, labels if classifying. The
/// inputs are in `x`, or, for feature fits of `.npy` inputs, read by rows
/// from `file` (`x` then holds no values, only `n` and the shape; use
/// [`inputs`](Self::inputs)).
pub(crate) struct Train {
    pub(crate) x: Samples,
    pub(crate) file: Option<crate::inputs::FileSamples>,
    pub(crate) y: Mat<f64>,
    pub(crate) labels: Option<Vec<usize>>,
    pub(crate) task: Task,
}

/// Targets of a data set: `(k, n)` values (one-hot for training labels;
/// empty for test labels) and the class labels if classifying.
pub(crate) struct Targets {
    pub(crate) y: Mat<f64>,
    pub(crate) labels: Option<Vec<usize>>,
}

impl Targets {
    pub(crate) fn n(&self) -> usize {
        self.labels.as_ref().map_or(self.y.ncols(), Vec::len)
    }

    /// The first `n` samples.
    pub(crate) fn first(self, n: usize) -> Self {
        Self {
            y: self.y.subcols(0, n.min(self.y.ncols())).to_owned(),
            labels: self.labels.map(|mut l| {
                l.truncate(n);
                l
            }),
        }
    }
}

/// Training targets as read, before `--n-train` and the class checks.
pub(crate) enum RawTargets {
    Labels(Vec<usize>),
    /// `(k, n)`.
    Values(Mat<f64>),
}

impl RawTargets {
    pub(crate) fn read(path: &Path, task: Task) -> Result<Self> {
        Ok(match task {
            Task::Classify => Self::Labels(read_labels(path)?),
            Task::Regress => {
                let (n, k, v) = read_targets(path)?;
                Self::Values(Mat::from_fn(k, n, |i, j| v[j * k + i]))
            }
        })
    }

    pub(crate) fn n(&self) -> usize {
        match self {
            Self::Labels(l) => l.len(),
            Self::Values(y) => y.ncols(),
        }
    }

    /// The first `n` samples' targets: class labels 0..K−1 (2 ≤ K ≤
    /// [`MAX_CLASSES`], K from these samples) as one-hot rows, or values.
    pub(crate) fn first(self, n: usize, what: &str) -> Result<Targets> {
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
pub(crate) fn test_targets(
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

/// CIFAR-10 as samples (pixel values 0..255) and labels.
pub(crate) fn cifar_samples(set: &ntk_data::cifar::ImageSet) -> (Samples, Vec<usize>) {
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
pub(crate) fn first_samples(
    mut x: Samples,
    n: Option<usize>,
    flag: &str,
    what: &str,
) -> Result<Samples> {
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
pub(crate) fn same_count(xp: &Path, nx: usize, yp: &Path, ny: usize) -> Result<()> {
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

/// What λ is chosen against: training targets `(k, n)`, labels if
/// classifying.
#[derive(Clone, Copy)]
pub(crate) struct Goal<'a> {
    pub(crate) y: MatRef<'a, f64>,
    pub(crate) labels: Option<&'a [usize]>,
    pub(crate) task: Task,
}

impl Train {
    /// The inputs, wherever they are.
    pub(crate) fn inputs(&self) -> crate::inputs::Inputs<'_> {
        match &self.file {
            Some(f) => crate::inputs::Inputs::File(f),
            None => crate::inputs::Inputs::Memory(&self.x),
        }
    }

    pub(crate) fn goal(&self) -> Goal<'_> {
        Goal {
            y: self.y.as_ref(),
            labels: self.labels.as_deref(),
            task: self.task,
        }
    }
}

/// How the ridge is fitted: λ as given, from `diag_reg`, or chosen from a
/// grid (on a validation split, or by k-fold cross-validation), and the
/// training time of the gradient-descent ensemble (`None` or ∞: kernel
/// ridge). Ridge on features reads only λ, the grid and the validation
/// fraction (clap refuses the rest with `--features`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ridge<'a> {
    pub(crate) lambda: Option<f64>,
    pub(crate) diag_reg: Option<f64>,
    pub(crate) grid: Option<&'a [f64]>,
    pub(crate) val_fraction: f64,
    pub(crate) folds: Option<usize>,
    pub(crate) time: Option<f64>,
    pub(crate) learning_rate: f64,
    /// Samples per chunk of the exact feature sums.
    pub(crate) chunk: usize,
}

impl<'a> Ridge<'a> {
    /// Kernel ridge with λ chosen from `grid` on a validation split holding
    /// out `val_fraction` of the training set.
    pub(crate) fn on_grid(grid: &'a [f64], val_fraction: f64) -> Self {
        Self {
            lambda: None,
            diag_reg: None,
            grid: Some(grid),
            val_fraction,
            folds: None,
            time: None,
            learning_rate: 1.0,
            chunk: ntk_pipeline::CHUNK,
        }
    }
}

/// λ as given, from `--diag-reg`, or chosen from the grid on a seeded
/// validation split or by seeded k-fold cross-validation of the training
/// set (never the test set). Returns λ and a JSON record of the choice.
pub(crate) fn choose_lambda(
    ctx: &Ctx,
    ridge: &Ridge<'_>,
    goal: Goal<'_>,
    k: MatRef<'_, f64>,
) -> Result<(f64, Value)> {
    if let Some(l) = ridge.lambda {
        return Ok((l, json!({ "method": "given" })));
    }
    if let Some(r) = ridge.diag_reg {
        let l = lambda_from_trace(k, r)?;
        return Ok((
            l,
            json!({ "method": "diag_reg times the mean of the training kernel's diagonal", "diag_reg": r }),
        ));
    }
    let grid = ridge.grid.expect("clap requires one of them");
    let n = goal.y.ncols();
    let metric = match goal.task {
        Task::Classify => Metric::Accuracy,
        Task::Regress => Metric::Mse,
    };
    if let Some(f) = ridge.folds {
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
            "metric": metric_name(metric),
            "scores": scores_json(&sel),
        });
        return Ok((sel.lambda, record));
    }
    let (tr, val) = validation_split(n, ridge.val_fraction, ctx.common.seed)?;
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
    let lambda = sel.lambda;
    let record = SplitRecord {
        val_fraction: ridge.val_fraction,
        n_fit: tr.len(),
        n_validation: val.len(),
        seed: ctx.common.seed,
        metric,
        selection: sel,
    };
    Ok((lambda, record.to_json()))
}

/// Dual coefficients `A` (`n × k`, predictions `Aᵀ K(X, X*)`) of kernel
/// ridge, or of the gradient-descent ensemble at `--time T`.
pub(crate) struct Fitted {
    pub(crate) coefficients: Mat<f64>,
    pub(crate) lambda: f64,
    pub(crate) how: Value,
    pub(crate) solve: Value,
}

pub(crate) fn fit_model(
    ctx: &Ctx,
    ridge: &Ridge<'_>,
    goal: Goal<'_>,
    k: MatRef<'_, f64>,
) -> Result<Fitted> {
    let (lambda, how) = choose_lambda(ctx, ridge, goal, k)?;
    match ridge.time {
        // t = ∞ is kernel ridge, solved by Cholesky.
        Some(time) if time.is_finite() => {
            let e = MseEnsemble::new(k, goal.y, DiagReg::Absolute(lambda), ridge.learning_rate)?;
            Ok(Fitted {
                coefficients: e.weights(time)?,
                lambda,
                how,
                solve: json!({
                    "method": "gradient descent on the MSE (eigendecomposition)",
                    "time": time,
                    "learning_rate": ridge.learning_rate,
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
