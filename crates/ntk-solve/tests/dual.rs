//! `DualRidge` (kernel ridge on `ΦᵀΦ`, fitting part first) against a dense
//! reference solver, the eigendecomposition path, the true condition number
//! and the general solver it falls back to.

mod common;

use common::{decaying, gauss_jordan, random, rel_diff};
use faer::{Mat, MatRef, Par, Side};
use ntk_solve::metrics::{Metric, Truth};
use ntk_solve::select::select_kernel_ridge;
use ntk_solve::{COND_LIMIT, DualRidge, SolveError, solve_spd};

/// `ΦᵀΦ` by plain loops (the reference kernel, full and symmetric).
fn gram(phi: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(phi.ncols(), phi.ncols(), |i, j| {
        (0..phi.nrows()).map(|t| phi[(t, i)] * phi[(t, j)]).sum()
    })
}

/// Extreme eigenvalues of symmetric `a` (faer's eigensolver).
fn extremes(a: MatRef<'_, f64>) -> (f64, f64) {
    let s = a.self_adjoint_eigenvalues(Side::Lower).unwrap();
    (s[0], s[s.len() - 1])
}

/// `(K + λI)⁻¹ Yᵀ` by Gauss–Jordan, and `κ₂(K + λI)` from its eigenvalues.
fn reference(k: &Mat<f64>, y: &Mat<f64>, lambda: f64) -> (Mat<f64>, f64) {
    let n = k.nrows();
    let shifted = Mat::from_fn(n, n, |i, j| k[(i, j)] + if i == j { lambda } else { 0.0 });
    let (lo, hi) = extremes(shifted.as_ref());
    (gauss_jordan(&shifted, &y.transpose().to_owned()), hi / lo)
}

/// Labels: argmax of each target column.
fn labels(y: &Mat<f64>) -> Vec<usize> {
    (0..y.ncols())
        .map(|j| {
            (0..y.nrows())
                .max_by(|&a, &b| y[(a, j)].total_cmp(&y[(b, j)]))
                .unwrap()
        })
        .collect()
}

#[test]
fn solves_equal_gauss_jordan_after_a_selection_and_without_one() {
    // D = 90 features, n = 60 samples of which 45 fit and 15 validate.
    let (d, n, nf, k) = (90, 60, 45, 3);
    let phi = random(d, n, 11);
    let y = random(k, n, 12);
    let kern = gram(&phi);
    let y_val = y.as_ref().subcols(nf, n - nf);
    for (grid, par) in [
        (vec![0.05, 0.5, 4.0], Par::Seq),
        (vec![4.0, 0.5, 0.05], Par::rayon(2)),
        (vec![0.3], Par::Seq),
    ] {
        let mut dual = DualRidge::new(phi.as_ref(), nf, par).unwrap();
        let sel = dual
            .select(
                y.as_ref().subcols(0, nf),
                Truth::Values(y_val),
                &grid,
                Metric::Mse,
                par,
            )
            .unwrap();
        // The chosen λ's factor is extended (fitting block kept, Schur
        // complement factored); the other λ factor the whole matrix.
        for lambda in grid.iter().copied() {
            let mut fresh = DualRidge::new(phi.as_ref(), nf, par).unwrap();
            let got = if lambda == sel.lambda {
                dual.solve(y.as_ref(), lambda, par).unwrap()
            } else {
                fresh.solve(y.as_ref(), lambda, par).unwrap()
            };
            let (want, kappa) = reference(&kern, &y, lambda);
            // Both solvers are backward stable: forward error ≲ c·n·u·κ; with
            // c·n·u ≤ 1e-13 for n = 60 (u = 1.1e-16, c ≤ 15).
            let err = rel_diff(&got, &want);
            assert!(
                err < 1e-13 * kappa,
                "λ = {lambda}: {err:e} against κ = {kappa:e}"
            );
        }
    }
}

#[test]
fn selection_scores_equal_the_eigendecomposition_path() {
    let (d, n, nf, k) = (200, 120, 90, 4);
    let phi = decaying(d, n, 21);
    let y = random(k, n, 22);
    let kern = gram(&phi);
    let k_fit = kern.as_ref().submatrix(0, 0, nf, nf).to_owned();
    let k_cross = kern.as_ref().submatrix(0, nf, nf, n - nf).to_owned();
    let y_fit = y.as_ref().subcols(0, nf);
    let y_val = y.as_ref().subcols(nf, n - nf);
    let lab = labels(&y.as_ref().subcols(nf, n - nf).to_owned());
    let grid = [1e-4, 1e-2, 1.0, 30.0];
    for (metric, truth) in [
        (Metric::Mse, Truth::Values(y_val)),
        (Metric::R2, Truth::Values(y_val)),
        (Metric::Accuracy, Truth::Labels(&lab)),
    ] {
        let mut dual = DualRidge::new(phi.as_ref(), nf, Par::Seq).unwrap();
        let got = dual.select(y_fit, truth, &grid, metric, Par::Seq).unwrap();
        let want = select_kernel_ridge(
            k_fit.as_ref(),
            y_fit,
            k_cross.as_ref(),
            truth,
            &grid,
            metric,
        )
        .unwrap();
        assert_eq!(got.lambda, want.lambda, "{metric:?}");
        for ((l1, s1), (l2, s2)) in got.scores.iter().zip(&want.scores) {
            assert_eq!(l1, l2);
            // Predictions agree to κ·n·u (κ ≤ 1e8 at λ = 1e-4 here), so
            // continuous scores to 1e-6 relative; accuracies exactly (no
            // prediction is within 1e-6 of a tie on these data).
            assert!(
                (s1 - s2).abs() <= 1e-6 * s2.abs().max(1.0),
                "{metric:?} λ = {l1}: {s1} vs {s2}"
            );
        }
    }
}

#[test]
fn the_condition_bound_is_an_upper_bound() {
    // Random and decaying spectra, rank-deficient (D < n) and not, λ from
    // below the bound's floor to far above the spectrum.
    let mut indefinite = 0;
    for (d, n, seed, decay) in [
        (40, 30, 1, false),
        (40, 30, 2, true),
        (12, 30, 3, false),
        (300, 50, 4, true),
    ] {
        let phi = if decay {
            decaying(d, n, seed)
        } else {
            random(d, n, seed)
        };
        let dual = DualRidge::new(phi.as_ref(), n, Par::Seq).unwrap();
        let k = dual.kernel();
        let full = Mat::from_fn(n, n, |i, j| if i >= j { k[(i, j)] } else { k[(j, i)] });
        let (lo, hi) = extremes(full.as_ref());
        for lambda in [1e-15, 1e-14, 1e-13, 1e-10, 1e-6, 1e-2, 1.0, 1e3, 1e6] {
            let bound = dual.condition_bound(lambda);
            if lo + lambda <= 0.0 {
                // Rounding made K̂ + λI indefinite: no finite bound holds.
                assert_eq!(bound, f64::INFINITY, "d {d} n {n} λ {lambda}: lo {lo:e}");
                indefinite += 1;
                continue;
            }
            let kappa = (hi + lambda) / (lo + lambda);
            assert!(
                bound >= kappa,
                "d {d} n {n} λ {lambda}: bound {bound:e} < κ {kappa:e}"
            );
            // Not vacuous where it matters: within (tr K + λ)/λ, which is
            // at most n times κ for a kernel of rank ≥ 1.
            if bound.is_finite() {
                assert!(bound <= 1.01 * (n as f64 * hi + lambda) / lambda);
            }
        }
    }
    // The rank-deficient case rounds to slightly negative eigenvalues
    // (about −n·u·‖K‖ = −1e-12 here): the λ at that level must meet them,
    // or the bound's error term is never put to the test.
    assert!(indefinite >= 1);
}

#[test]
fn ill_conditioned_shifts_go_to_the_general_solver() {
    // Rank 8 kernel of 30 samples: for λ = 0 the bound is infinite and the
    // general solver reports the singular system; for a small λ beyond
    // COND_LIMIT by the bound the answer is the general solver's, bit for bit.
    let phi = random(8, 30, 5);
    let y = random(2, 30, 6);
    let mut dual = DualRidge::new(phi.as_ref(), 30, Par::Seq).unwrap();
    assert!(matches!(
        dual.solve(y.as_ref(), 0.0, Par::Seq),
        Err(SolveError::Singular { .. })
    ));
    let lambda = 1e-11;
    assert!(dual.condition_bound(lambda) > COND_LIMIT);
    let got = dual.solve(y.as_ref(), lambda, Par::Seq).unwrap();
    let (want, _) = solve_spd(dual.kernel(), lambda, y.transpose()).unwrap();
    assert_eq!(got, want);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Large enough (n = 600) for faer's blocked, parallel kernels to split
    // the work between threads.
    let (d, n, nf) = (1300, 600, 480);
    let phi = random(d, n, 31);
    let y = random(3, n, 32);
    let run = |par: Par| {
        let mut dual = DualRidge::new(phi.as_ref(), nf, par).unwrap();
        let y_val = y.as_ref().subcols(nf, n - nf);
        let sel = dual
            .select(
                y.as_ref().subcols(0, nf),
                Truth::Values(y_val),
                &[0.1, 10.0],
                Metric::Mse,
                par,
            )
            .unwrap();
        (sel, dual.solve(y.as_ref(), 0.1, par).unwrap())
    };
    let (s1, a1) = run(Par::Seq);
    let (s2, a2) = run(Par::rayon(2));
    assert_eq!(s1, s2);
    assert_eq!(a1, a2);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let phi = random(10, 8, 7);
    let y = random(2, 8, 8);
    assert!(matches!(
        DualRidge::new(phi.as_ref(), 0, Par::Seq),
        Err(SolveError::InvalidParameter { .. })
    ));
    assert!(matches!(
        DualRidge::new(phi.as_ref(), 9, Par::Seq),
        Err(SolveError::InvalidParameter { .. })
    ));
    let mut nan = phi.clone();
    nan[(3, 4)] = f64::NAN;
    assert!(matches!(
        DualRidge::new(nan.as_ref(), 4, Par::Seq),
        Err(SolveError::NonFinite { row: 3, col: 4, .. })
    ));
    let huge = Mat::from_fn(10, 8, |_, _| 1e200);
    assert!(matches!(
        DualRidge::new(huge.as_ref(), 4, Par::Seq),
        Err(SolveError::NonFinite { .. })
    ));
    // No validation part to select on.
    let mut all = DualRidge::new(phi.as_ref(), 8, Par::Seq).unwrap();
    let none = Mat::<f64>::zeros(2, 0);
    assert!(matches!(
        all.select(
            y.as_ref(),
            Truth::Values(none.as_ref()),
            &[1.0],
            Metric::Mse,
            Par::Seq
        ),
        Err(SolveError::Empty { .. })
    ));
    let mut dual = DualRidge::new(phi.as_ref(), 6, Par::Seq).unwrap();
    let y_val = y.as_ref().subcols(6, 2);
    assert!(matches!(
        dual.select(
            y.as_ref(),
            Truth::Values(y_val),
            &[1.0],
            Metric::Mse,
            Par::Seq
        ),
        Err(SolveError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        dual.select(
            y.as_ref().subcols(0, 6),
            Truth::Values(y_val),
            &[-1.0],
            Metric::Mse,
            Par::Seq
        ),
        Err(SolveError::InvalidLambda { .. })
    ));
    assert!(matches!(
        dual.solve(y.as_ref().subcols(0, 6), 1.0, Par::Seq),
        Err(SolveError::ShapeMismatch { .. })
    ));
}
