//! Metrics and label helpers. Predictions and targets are `(k, n)`: one
//! sample per column, one output per row.

use crate::check;
use crate::error::{Result, SolveError};
use faer::{Mat, MatRef};

/// Fraction of columns whose largest prediction is the label (ties go to
/// the first index, as numpy's `argmax`).
///
/// # Errors
/// Shape, emptiness and non-finite checks; a label `≥ k`.
pub fn accuracy(pred: MatRef<'_, f64>, labels: &[usize]) -> Result<f64> {
    check::same("labels vs prediction columns", pred.ncols(), labels.len())?;
    check::non_empty("labels", labels.len())?;
    check::finite("predictions", pred)?;
    let mut hits = 0usize;
    for (j, &l) in labels.iter().enumerate() {
        if l >= pred.nrows() {
            return Err(SolveError::InvalidParameter {
                what: "label",
                value: l as f64,
                reason: "must be < number of outputs",
            });
        }
        hits += usize::from(argmax_column(pred, j) == l);
    }
    Ok(hits as f64 / labels.len() as f64)
}

fn argmax_column(pred: MatRef<'_, f64>, j: usize) -> usize {
    (0..pred.nrows()).fold(0, |b, i| if pred[(i, j)] > pred[(b, j)] { i } else { b })
}

/// The predicted class of every column: the index of its largest entry
/// (ties go to the first index, as numpy's `argmax`).
///
/// # Errors
/// [`SolveError::NonFinite`] for a NaN or infinite prediction (a NaN would
/// otherwise compare false everywhere and silently become class 0).
pub fn argmax(pred: MatRef<'_, f64>) -> Result<Vec<usize>> {
    check::finite("predictions", pred)?;
    Ok((0..pred.ncols()).map(|j| argmax_column(pred, j)).collect())
}

fn residuals(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<f64> {
    check::same(
        "prediction rows vs target rows",
        target.nrows(),
        pred.nrows(),
    )?;
    check::same(
        "prediction columns vs target columns",
        target.ncols(),
        pred.ncols(),
    )?;
    check::non_empty("targets", target.nrows() * target.ncols())?;
    check::finite("predictions", pred)?;
    check::finite("targets", target)?;
    let mut s = 0.0;
    for j in 0..pred.ncols() {
        for i in 0..pred.nrows() {
            s += (pred[(i, j)] - target[(i, j)]).powi(2);
        }
    }
    Ok(s)
}

/// Mean squared error over all entries.
///
/// # Errors
/// Shape, emptiness and non-finite checks.
pub fn mse(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<f64> {
    Ok(residuals(pred, target)? / (target.nrows() * target.ncols()) as f64)
}

/// Root mean squared error.
///
/// # Errors
/// As [`mse`].
pub fn rmse(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<f64> {
    mse(pred, target).map(f64::sqrt)
}

/// Coefficient of determination `1 − SS_res/SS_tot`, with `SS_tot` about the
/// mean of each output (row), pooled over outputs.
///
/// # Errors
/// As [`mse`]; [`SolveError::InvalidParameter`] when every target row is
/// constant (`R²` is undefined).
pub fn r2(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<f64> {
    let ss_res = residuals(pred, target)?;
    let mut ss_tot = 0.0;
    for i in 0..target.nrows() {
        let mean = (0..target.ncols()).map(|j| target[(i, j)]).sum::<f64>() / target.ncols() as f64;
        ss_tot += (0..target.ncols())
            .map(|j| (target[(i, j)] - mean).powi(2))
            .sum::<f64>();
    }
    if ss_tot == 0.0 {
        return Err(SolveError::InvalidParameter {
            what: "target variance",
            value: 0.0,
            reason: "R² needs non-constant targets",
        });
    }
    Ok(1.0 - ss_res / ss_tot)
}

/// One-hot targets `(classes, n)`: `on` at the label, `off` elsewhere.
/// [`one_hot`] uses `(1, 0)`; the 2021 paper's CIFAR code uses one-hot − 0.1,
/// i.e. `(0.9, −0.1)` ([`one_hot_centered`]).
///
/// # Errors
/// Empty labels, zero classes, or a label `≥ classes`.
pub fn one_hot_with(labels: &[usize], classes: usize, on: f64, off: f64) -> Result<Mat<f64>> {
    check::non_empty("labels", labels.len())?;
    check::non_empty("classes", classes)?;
    if let Some(&l) = labels.iter().find(|&&l| l >= classes) {
        return Err(SolveError::InvalidParameter {
            what: "label",
            value: l as f64,
            reason: "must be < classes",
        });
    }
    Ok(Mat::from_fn(classes, labels.len(), |i, j| {
        if labels[j] == i { on } else { off }
    }))
}

/// `(1, 0)` one-hot targets.
///
/// # Errors
/// As [`one_hot_with`].
pub fn one_hot(labels: &[usize], classes: usize) -> Result<Mat<f64>> {
    one_hot_with(labels, classes, 1.0, 0.0)
}

/// One-hot − 0.1 targets, as in Zandieh et al. 2021.
///
/// # Errors
/// As [`one_hot_with`].
pub fn one_hot_centered(labels: &[usize], classes: usize) -> Result<Mat<f64>> {
    one_hot_with(labels, classes, 0.9, -0.1)
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Argmax accuracy against integer labels (higher is better).
    Accuracy,
    /// Mean squared error (lower is better).
    Mse,
    /// Root mean squared error (lower is better).
    Rmse,
    /// Coefficient of determination (higher is better).
    R2,
}

impl Metric {
    /// Whether larger scores are better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Self::Accuracy | Self::R2)
    }
}

/// What predictions are scored against.
#[derive(Debug, Clone, Copy)]
pub enum Truth<'a> {
    /// Integer labels (for [`Metric::Accuracy`]).
    Labels(&'a [usize]),
    /// Real targets `(k, n)` (for the regression metrics).
    Values(MatRef<'a, f64>),
}

impl Metric {
    /// Scores predictions `(k, n)`.
    ///
    /// # Errors
    /// The metric's own errors; [`SolveError::InvalidParameter`] when the
    /// truth does not fit the metric (labels for a regression metric or the reverse).
    pub fn score(self, pred: MatRef<'_, f64>, truth: Truth<'_>) -> Result<f64> {
        match (self, truth) {
            (Self::Accuracy, Truth::Labels(l)) => accuracy(pred, l),
            (Self::Mse, Truth::Values(t)) => mse(pred, t),
            (Self::Rmse, Truth::Values(t)) => rmse(pred, t),
            (Self::R2, Truth::Values(t)) => r2(pred, t),
            _ => Err(SolveError::InvalidParameter {
                what: "truth",
                value: f64::NAN,
                reason: "accuracy needs labels; MSE, RMSE and R² need real targets",
            }),
        }
    }
}
