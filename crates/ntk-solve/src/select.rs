//! Model selection: `λ` chosen on a validation split carved from the
//! training data, or by k-fold cross-validation. Nothing here ever sees a
//! test set.

use crate::check;
use crate::error::{Result, SolveError};
use crate::gram::{Element, GramAccumulator};
use crate::kernel::KernelPath;
use crate::metrics::{Metric, Truth};
use faer::{Mat, MatRef, Par};
use rand::SeedableRng;
use rand::seq::SliceRandom;

/// The outcome of a search over `λ`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The best `λ` (ties go to the larger `λ`, the more regularised model).
    pub lambda: f64,
    /// Its score.
    pub score: f64,
    /// `(λ, score)` for every candidate, in the order given.
    pub scores: Vec<(f64, f64)>,
}

/// The best of scored candidates `(λ, score)` by `metric` (ties to the
/// larger λ), for callers that score the grid themselves.
///
/// # Errors
/// [`SolveError::Empty`] for no candidates.
pub fn pick(metric: Metric, scores: Vec<(f64, f64)>) -> Result<Selection> {
    let mut best: Option<(f64, f64)> = None;
    for &(l, s) in &scores {
        let better = match best {
            None => true,
            Some((bl, bs)) => {
                let strictly = if metric.higher_is_better() {
                    s > bs
                } else {
                    s < bs
                };
                strictly || (s == bs && l > bl)
            }
        };
        if better {
            best = Some((l, s));
        }
    }
    let (lambda, score) = best.ok_or(SolveError::Empty {
        what: "lambda grid",
    })?;
    Ok(Selection {
        lambda,
        score,
        scores,
    })
}

fn check_grid(lambdas: &[f64]) -> Result<()> {
    check::non_empty("lambda grid", lambdas.len())?;
    lambdas.iter().try_for_each(|&l| check::lambda(l))
}

/// A seeded split of `0..n` into `(train, validation)` index lists, the
/// validation part holding `round(fraction·n)` points (at least 1, and at
/// least 1 left for training). Same seed, same split.
///
/// # Errors
/// [`SolveError::InvalidParameter`] unless `0 < fraction < 1` and `n ≥ 2`.
pub fn validation_split(n: usize, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(SolveError::InvalidParameter {
            what: "validation fraction",
            value: fraction,
            reason: "must be in (0, 1)",
        });
    }
    if n < 2 {
        return Err(SolveError::InvalidParameter {
            what: "samples",
            value: n as f64,
            reason: "a split needs at least 2",
        });
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let n_val = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
    let val = idx.split_off(n - n_val);
    Ok((idx, val))
}

/// `folds` (train, validation) index pairs covering `0..n`; contiguous
/// blocks without a seed (scikit-learn's `KFold(shuffle=False)`), a seeded
/// permutation otherwise.
///
/// # Errors
/// [`SolveError::InvalidParameter`] unless `2 ≤ folds ≤ n`.
pub fn kfold(n: usize, folds: usize, seed: Option<u64>) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    if folds < 2 || folds > n {
        return Err(SolveError::InvalidParameter {
            what: "folds",
            value: folds as f64,
            reason: "must be in 2..=n",
        });
    }
    let mut idx: Vec<usize> = (0..n).collect();
    if let Some(s) = seed {
        idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(s));
    }
    let mut out = Vec::with_capacity(folds);
    let mut start = 0;
    for f in 0..folds {
        // The first n % folds folds get one extra point, as scikit-learn.
        let len = n / folds + usize::from(f < n % folds);
        let val: Vec<usize> = idx[start..start + len].to_vec();
        let train: Vec<usize> = idx[..start]
            .iter()
            .chain(&idx[start + len..])
            .copied()
            .collect();
        out.push((train, val));
        start += len;
    }
    Ok(out)
}

/// Primal ridge on features: fits on `train` (an accumulator), scores
/// predictions on validation features `Φ_val: (m, n_val)` for every `λ`
/// from one eigendecomposition.
///
/// # Errors
/// Grid and shape checks, metric errors, [`SolveError::Singular`] for `λ = 0`
/// on a rank-deficient Gram matrix.
pub fn select_ridge<T: Element>(
    train: &GramAccumulator,
    phi_val: MatRef<'_, T>,
    truth: Truth<'_>,
    lambdas: &[f64],
    metric: Metric,
) -> Result<Selection> {
    check_grid(lambdas)?;
    let path = train.path()?;
    let p = path.project(phi_val)?;
    score_grid(lambdas, metric, truth, |l| {
        path.predict_projected(l, p.as_ref())
    })
}

/// Scores the validation predictions of every `λ` and picks the best.
fn score_grid(
    lambdas: &[f64],
    metric: Metric,
    truth: Truth<'_>,
    predict: impl Fn(f64) -> Result<Mat<f64>>,
) -> Result<Selection> {
    let scores = lambdas
        .iter()
        .map(|&l| Ok((l, metric.score(predict(l)?.as_ref(), truth)?)))
        .collect::<Result<Vec<_>>>()?;
    pick(metric, scores)
}

/// Kernel ridge: fits on `K_train: (n, n)` with targets `(k, n)`, scores on
/// `K(X_train, X_val): (n, n_val)` for every `λ` from one eigendecomposition.
///
/// # Errors
/// As [`KernelPath::new`], grid checks and metric errors.
pub fn select_kernel_ridge(
    k_train: MatRef<'_, f64>,
    y_train: MatRef<'_, f64>,
    k_cross: MatRef<'_, f64>,
    truth: Truth<'_>,
    lambdas: &[f64],
    metric: Metric,
) -> Result<Selection> {
    check_grid(lambdas)?;
    let path = KernelPath::new(k_train, y_train)?;
    score_grid(lambdas, metric, truth, |l| path.fit(l)?.predict(k_cross))
}

/// k-fold cross-validation of kernel ridge on one kernel matrix `K: (n, n)`
/// of the training data: the score of each `λ` is the mean over folds.
/// `labels` (for accuracy) or `y` rows (for regression) are split with the folds.
///
/// # Errors
/// As [`select_kernel_ridge`] and [`kfold`].
pub fn cross_validate_kernel_ridge(
    k: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    labels: Option<&[usize]>,
    folds: &[(Vec<usize>, Vec<usize>)],
    lambdas: &[f64],
    metric: Metric,
) -> Result<Selection> {
    check_grid(lambdas)?;
    check::square("kernel matrix", k)?;
    check::same("samples in targets", k.nrows(), y.ncols())?;
    check::non_empty("folds", folds.len())?;
    if let Some(l) = labels {
        check::same("labels", k.nrows(), l.len())?;
    }
    let mut totals = vec![0.0; lambdas.len()];
    for (train, val) in folds {
        let sub = |rows: &[usize], cols: &[usize]| {
            Mat::from_fn(rows.len(), cols.len(), |i, j| k[(rows[i], cols[j])])
        };
        let ktt = sub(train, train);
        let ktv = sub(train, val);
        let ytr = Mat::from_fn(y.nrows(), train.len(), |i, j| y[(i, train[j])]);
        let yval = Mat::from_fn(y.nrows(), val.len(), |i, j| y[(i, val[j])]);
        let lval: Vec<usize> = labels
            .map(|l| val.iter().map(|&i| l[i]).collect())
            .unwrap_or_default();
        let truth = if labels.is_some() {
            Truth::Labels(&lval)
        } else {
            Truth::Values(yval.as_ref())
        };
        let sel = select_kernel_ridge(
            ktt.as_ref(),
            ytr.as_ref(),
            ktv.as_ref(),
            truth,
            lambdas,
            metric,
        )?;
        for (t, (_, s)) in totals.iter_mut().zip(sel.scores) {
            *t += s;
        }
    }
    let scores = lambdas
        .iter()
        .zip(totals)
        .map(|(&l, t)| (l, t / folds.len() as f64))
        .collect();
    pick(metric, scores)
}

/// Accumulates the columns `idx` of `Φ: (m, n)` and `Y: (k, n)` (a helper for
/// splits of in-memory data), in blocks of 1024 samples.
///
/// # Errors
/// As [`GramAccumulator::add_block`].
pub fn accumulate_subset<T: Element>(
    phi: MatRef<'_, T>,
    y: MatRef<'_, T>,
    idx: &[usize],
    par: Par,
) -> Result<GramAccumulator> {
    let mut acc = GramAccumulator::new(phi.nrows(), y.nrows())?;
    for chunk in idx.chunks(1024) {
        let pb = Mat::from_fn(phi.nrows(), chunk.len(), |i, j| phi[(i, chunk[j])].into());
        let yb = Mat::from_fn(y.nrows(), chunk.len(), |i, j| y[(i, chunk[j])].into());
        acc.add_block(pb.as_ref(), yb.as_ref(), par)?;
    }
    Ok(acc)
}
