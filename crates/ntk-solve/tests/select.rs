//! Metrics, label helpers, splits and λ selection.

mod common;

use common::random;
use faer::{Mat, Par};
use ntk_solve::metrics::{
    Metric, Truth, accuracy, argmax, mse, one_hot, one_hot_centered, r2, rmse,
};
use ntk_solve::select::{
    accumulate_subset, cross_validate_kernel_ridge, kfold, select_kernel_ridge, select_ridge,
    validation_split,
};
use ntk_solve::{GramAccumulator, SolveError};

#[test]
fn metrics_on_known_values() {
    // Column 2 ties between classes 0 and 1: argmax takes the first (0).
    let pred = Mat::from_fn(3, 4, |i, j| {
        [
            [0.1, 0.9, 0.4, 0.2],
            [0.7, 0.05, 0.4, 0.5],
            [0.2, 0.05, 0.2, 0.3],
        ][i][j]
    });
    assert_eq!(accuracy(pred.as_ref(), &[1, 0, 0, 0]).unwrap(), 0.75);
    assert_eq!(accuracy(pred.as_ref(), &[1, 0, 1, 1]).unwrap(), 0.75);
    assert_eq!(argmax(pred.as_ref()).unwrap(), vec![1, 0, 0, 1]);
    // A NaN is an error, not class 0.
    let mut bad = pred.clone();
    bad[(1, 2)] = f64::NAN;
    assert!(matches!(
        argmax(bad.as_ref()),
        Err(ntk_solve::SolveError::NonFinite { .. })
    ));
    let t = Mat::from_fn(1, 4, |_, j| [1.0, 2.0, 3.0, 4.0][j]);
    let p = Mat::from_fn(1, 4, |_, j| [1.0, 2.0, 3.0, 6.0][j]);
    assert_eq!(mse(p.as_ref(), t.as_ref()).unwrap(), 1.0);
    assert_eq!(rmse(p.as_ref(), t.as_ref()).unwrap(), 1.0);
    // SS_tot = 5, SS_res = 4.
    assert!((r2(p.as_ref(), t.as_ref()).unwrap() - 0.2).abs() < 1e-15);
    assert_eq!(r2(t.as_ref(), t.as_ref()).unwrap(), 1.0);
    let oh = one_hot(&[2, 0], 3).unwrap();
    assert_eq!((oh[(2, 0)], oh[(0, 0)], oh[(0, 1)]), (1.0, 0.0, 1.0));
    let c = one_hot_centered(&[1], 2).unwrap();
    assert_eq!((c[(0, 0)], c[(1, 0)]), (-0.1, 0.9));
    assert!(matches!(
        one_hot(&[3], 3),
        Err(SolveError::InvalidParameter { .. })
    ));
    assert!(matches!(
        accuracy(pred.as_ref(), &[1, 0]),
        Err(SolveError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        accuracy(pred.as_ref(), &[1, 0, 5, 0]),
        Err(SolveError::InvalidParameter { .. })
    ));
    let flat = Mat::from_fn(1, 3, |_, _| 2.0);
    assert!(matches!(
        r2(flat.as_ref(), flat.as_ref()),
        Err(SolveError::InvalidParameter { .. })
    ));
    assert!(
        Metric::Accuracy
            .score(p.as_ref(), Truth::Values(t.as_ref()))
            .is_err()
    );
}

#[test]
fn splits_are_seeded_partitions() {
    let (tr, va) = validation_split(100, 0.2, 5).unwrap();
    assert_eq!((tr.len(), va.len()), (80, 20));
    let mut all: Vec<usize> = tr.iter().chain(&va).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert_eq!(validation_split(100, 0.2, 5).unwrap(), (tr, va));
    assert_ne!(
        validation_split(100, 0.2, 6).unwrap().1,
        validation_split(100, 0.2, 5).unwrap().1
    );
    let folds = kfold(10, 3, None).unwrap();
    assert_eq!(
        folds.iter().map(|f| f.1.len()).collect::<Vec<_>>(),
        vec![4, 3, 3]
    );
    assert_eq!(folds[0].1, vec![0, 1, 2, 3]);
    for (train, val) in &folds {
        assert_eq!(train.len() + val.len(), 10);
        assert!(val.iter().all(|v| !train.contains(v)));
    }
    for folds in [1, 6] {
        assert!(matches!(
            kfold(5, folds, None),
            Err(SolveError::InvalidParameter { what: "folds", .. })
        ));
    }
    assert!(matches!(
        validation_split(10, 1.0, 0),
        Err(SolveError::InvalidParameter {
            what: "validation fraction",
            ..
        })
    ));
    assert!(matches!(
        validation_split(1, 0.5, 0),
        Err(SolveError::InvalidParameter {
            what: "samples",
            ..
        })
    ));
}

#[test]
fn selection_prefers_small_lambda_on_clean_data_and_large_on_noise() {
    // 40 features for 75 training points: without regularisation a fit to
    // pure noise has validation variance ≈ σ²·m/(n − m) ≈ 1.1σ² on top of σ²,
    // so only the heavily regularised end of the grid predicts noise well.
    let (m, n) = (40, 100);
    let phi = random(m, n, 1);
    let w = random(m, 1, 2);
    let clean = w.transpose() * &phi;
    let noise = random(1, n, 3);
    let grid = [1e-6, 1e-3, 1e0, 1e3, 1e6];
    let (tr, va) = validation_split(n, 0.25, 4).unwrap();
    let cols =
        |m: &Mat<f64>, idx: &[usize]| Mat::from_fn(m.nrows(), idx.len(), |i, j| m[(i, idx[j])]);
    for (target, expect_small) in [(&clean, true), (&noise, false)] {
        let acc = accumulate_subset(phi.as_ref(), target.as_ref(), &tr, Par::Seq).unwrap();
        let yv = cols(target, &va);
        let sel = select_ridge(
            &acc,
            cols(&phi, &va).as_ref(),
            Truth::Values(yv.as_ref()),
            &grid,
            Metric::Mse,
        )
        .unwrap();
        assert_eq!(sel.scores.len(), grid.len());
        if expect_small {
            assert!(sel.lambda <= 1e-3, "clean data chose λ = {}", sel.lambda);
        } else {
            assert!(sel.lambda >= 1e3, "pure noise chose λ = {}", sel.lambda);
        }
        // The same choice through kernels (linear kernel of the features).
        let ptr = cols(&phi, &tr);
        let ktt = ptr.transpose() * &ptr;
        let ktv = ptr.transpose() * cols(&phi, &va);
        let ytr = cols(target, &tr);
        let ks = select_kernel_ridge(
            ktt.as_ref(),
            ytr.as_ref(),
            ktv.as_ref(),
            Truth::Values(yv.as_ref()),
            &grid,
            Metric::Mse,
        )
        .unwrap();
        assert_eq!(ks.lambda, sel.lambda);
    }
}

#[test]
fn cross_validation_classifies() {
    // Two well-separated classes: every fold reaches accuracy 1 at moderate λ.
    let n = 60;
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let x = random(2, n, 7);
    let pts = Mat::from_fn(2, n, |i, j| {
        x[(i, j)] * 0.3 + if labels[j] == 1 { 3.0 } else { -3.0 }
    });
    let k = Mat::from_fn(n, n, |i, j| {
        (-(0..2)
            .map(|t| (pts[(t, i)] - pts[(t, j)]).powi(2))
            .sum::<f64>()
            / 8.0)
            .exp()
    });
    let y = one_hot(&labels, 2).unwrap();
    let folds = kfold(n, 5, Some(11)).unwrap();
    let sel = cross_validate_kernel_ridge(
        k.as_ref(),
        y.as_ref(),
        Some(&labels),
        &folds,
        &[1e-3, 1e-1, 1e1],
        Metric::Accuracy,
    )
    .unwrap();
    assert_eq!(sel.score, 1.0);
    // Ties go to the larger (more regularised) λ.
    assert_eq!(sel.lambda, 1e1);
}

#[test]
fn selection_rejects_bad_grids() {
    let phi = random(3, 10, 1);
    let y = random(1, 10, 2);
    let mut acc = GramAccumulator::new(3, 1).unwrap();
    acc.add_block(phi.as_ref(), y.as_ref(), Par::Seq).unwrap();
    let t = Truth::Values(y.as_ref());
    assert!(matches!(
        select_ridge(&acc, phi.as_ref(), t, &[], Metric::Mse),
        Err(SolveError::Empty { .. })
    ));
    assert!(matches!(
        select_ridge(&acc, phi.as_ref(), t, &[1.0, -1.0], Metric::Mse),
        Err(SolveError::InvalidLambda { .. })
    ));
}

#[test]
fn every_metric_scores_its_own_truth_by_its_definition() {
    use ntk_solve::metrics::Truth;
    // Two outputs, three samples; errors 0.5, −1, 2 and 0, 1, −1 by hand:
    // squared sum 0.25 + 1 + 4 + 0 + 1 + 1 = 7.25 over 6 entries.
    let pred = faer::mat![[1.5, 1.0, 5.0], [2.0, 4.0, 0.0]];
    let truth = faer::mat![[1.0, 2.0, 3.0], [2.0, 3.0, 1.0]];
    let t = Truth::Values(truth.as_ref());
    let mse = 7.25 / 6.0;
    assert!((Metric::Mse.score(pred.as_ref(), t).unwrap() - mse).abs() < 1e-15);
    assert!((Metric::Rmse.score(pred.as_ref(), t).unwrap() - mse.sqrt()).abs() < 1e-15);
    // R² = 1 − 7.25/SS_tot, SS_tot the rows' squared deviations about their
    // own means, pooled over the rows.
    let ss_tot: f64 = (0..2)
        .map(|i| {
            let m = (0..3).map(|j| truth[(i, j)]).sum::<f64>() / 3.0;
            (0..3).map(|j| (truth[(i, j)] - m).powi(2)).sum::<f64>()
        })
        .sum();
    let r2 = Metric::R2.score(pred.as_ref(), t).unwrap();
    assert!((r2 - (1.0 - 7.25 / ss_tot)).abs() < 1e-15, "{r2}");
    // Accuracy: the argmax of each column against labels 0, 1, 0.
    let acc = Metric::Accuracy
        .score(pred.as_ref(), Truth::Labels(&[0, 1, 0]))
        .unwrap();
    assert!((acc - 2.0 / 3.0).abs() < 1e-15, "{acc}");
    // Each metric refuses the other kind of truth.
    assert!(
        Metric::Rmse
            .score(pred.as_ref(), Truth::Labels(&[0, 1, 0]))
            .is_err()
    );
    assert!(Metric::Accuracy.score(pred.as_ref(), t).is_err());
}
