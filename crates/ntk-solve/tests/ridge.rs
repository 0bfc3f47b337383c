//! Direct solves: dense oracles, closed forms, identities, accumulation.

mod common;

use common::{aat, abt, decaying, gauss_jordan, random, rel_diff};
use faer::{Mat, Par};
use ntk_solve::{
    GramAccumulator, KernelPath, KernelRidge, SolveError, SolveMethod, lambda_from_trace, predict,
    solve_spd,
};

fn accumulate(phi: &Mat<f64>, y: &Mat<f64>, block: usize) -> GramAccumulator {
    let mut acc = GramAccumulator::new(phi.nrows(), y.nrows()).unwrap();
    let n = phi.ncols();
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        acc.add_block(
            phi.as_ref().subcols(start, end - start),
            y.as_ref().subcols(start, end - start),
            Par::Seq,
        )
        .unwrap();
        start = end;
    }
    acc
}

#[test]
fn accumulation_matches_dense_products_and_solve_matches_gauss_jordan() {
    let (m, n, k) = (23, 200, 3);
    let phi = random(m, n, 1);
    let y = random(k, n, 2);
    let acc = accumulate(&phi, &y, 37);
    assert_eq!(acc.samples(), n);
    // Sums of n products of O(1) numbers: rounding ≲ n·ε relative, 1e-13 is safe.
    assert!(rel_diff(&acc.gram(), &aat(&phi)) < 1e-13);
    assert!(rel_diff(&acc.cross().to_owned(), &abt(&phi, &y)) < 1e-13);
    let lambda = 0.7;
    let (w, info) = acc.solve(lambda).unwrap();
    assert_eq!(info.method, SolveMethod::Cholesky);
    let mut a = aat(&phi);
    for i in 0..m {
        a[(i, i)] += lambda;
    }
    let want = gauss_jordan(&a, &abt(&phi, &y));
    // Well conditioned (κ ≈ info.condition_estimate): error ≲ κ·ε.
    assert!(rel_diff(&w, &want) < 1e-12 * info.condition_estimate.max(1.0));
}

#[test]
fn one_dimensional_ridge_has_a_closed_form() {
    // w = Σ φ y / (Σ φ² + λ).
    let phi = Mat::from_fn(1, 5, |_, j| [0.5, -1.0, 2.0, 0.0, 3.0][j]);
    let y = Mat::from_fn(1, 5, |_, j| [1.0, -2.5, 3.0, 0.7, 6.5][j]);
    let acc = accumulate(&phi, &y, 2);
    for lambda in [0.0, 0.1, 10.0] {
        let (w, _) = acc.solve(lambda).unwrap();
        let num: f64 = (0..5).map(|j| phi[(0, j)] * y[(0, j)]).sum();
        let den: f64 = (0..5).map(|j| phi[(0, j)].powi(2)).sum::<f64>() + lambda;
        assert!((w[(0, 0)] - num / den).abs() <= 1e-15 * (num / den).abs());
    }
}

#[test]
fn primal_and_dual_ridge_predict_the_same() {
    // (ΦΦᵀ + λI)⁻¹ΦYᵀ = Φ(ΦᵀΦ + λI)⁻¹Yᵀ (push-through identity).
    let (m, n, k) = (40, 25, 2);
    let phi = random(m, n, 3);
    let y = random(k, n, 4);
    let test = random(m, 7, 5);
    let lambda = 0.3;
    let (w, _) = accumulate(&phi, &y, 10).solve(lambda).unwrap();
    let primal = predict(w.as_ref(), test.as_ref()).unwrap();
    let gram = phi.transpose() * &phi;
    let cross = phi.transpose() * &test;
    let dual = KernelRidge::fit(gram.as_ref(), y.as_ref(), lambda)
        .unwrap()
        .predict(cross.as_ref())
        .unwrap();
    assert!(rel_diff(&primal, &dual) < 1e-11);
}

#[test]
fn merged_accumulators_equal_a_single_pass() {
    let (m, n, k) = (17, 300, 4);
    let phi = random(m, n, 6);
    let y = random(k, n, 7);
    let whole = accumulate(&phi, &y, 64);
    let left = accumulate(
        &phi.as_ref().subcols(0, 130).to_owned(),
        &y.as_ref().subcols(0, 130).to_owned(),
        64,
    );
    let mut right = accumulate(
        &phi.as_ref().subcols(130, 170).to_owned(),
        &y.as_ref().subcols(130, 170).to_owned(),
        50,
    );
    right.merge(&left).unwrap();
    assert_eq!(right.samples(), n);
    // Only the order of additions differs: n·ε relative.
    assert!(rel_diff(&right.gram(), &whole.gram()) < 1e-13);
    assert!(rel_diff(&right.cross().to_owned(), &whole.cross().to_owned()) < 1e-13);
}

#[test]
fn lambda_path_equals_individual_solves() {
    let (m, n, k) = (30, 80, 3);
    let phi = decaying(m, n, 8);
    let y = random(k, n, 9);
    let acc = accumulate(&phi, &y, 16);
    let path = acc.path().unwrap();
    let val = random(m, 11, 10);
    let p = path.project(val.as_ref()).unwrap();
    for lambda in [1e-4, 1e-2, 1.0, 100.0] {
        let (w_direct, info) = acc.solve(lambda).unwrap();
        let (w_path, _) = path.solve(lambda).unwrap();
        // Both backward stable: agreement to ~κ·ε.
        assert!(
            rel_diff(&w_path, &w_direct) < 1e-13 * info.condition_estimate.max(1.0),
            "λ={lambda}"
        );
        let pred_path = path.predict_projected(lambda, p.as_ref()).unwrap();
        let pred_direct = predict(w_direct.as_ref(), val.as_ref()).unwrap();
        assert!(rel_diff(&pred_path, &pred_direct) < 1e-13 * info.condition_estimate.max(1.0));
    }
    // The same for kernels.
    let gram = phi.transpose() * &phi;
    let kp = KernelPath::new(gram.as_ref(), y.as_ref()).unwrap();
    for lambda in [1e-3, 1.0] {
        let a = KernelRidge::fit(gram.as_ref(), y.as_ref(), lambda).unwrap();
        let b = kp.fit(lambda).unwrap();
        let kappa = a.info().condition_estimate.max(b.info().condition_estimate);
        assert!(
            rel_diff(&b.coefficients().to_owned(), &a.coefficients().to_owned()) < 1e-13 * kappa
        );
    }
}

#[test]
fn f32_blocks_accumulate_in_f64() {
    let (m, n, k) = (12, 90, 2);
    let phi = random(m, n, 11);
    let y = random(k, n, 12);
    let phi32: Mat<f32> = Mat::from_fn(m, n, |i, j| phi[(i, j)] as f32);
    let y32: Mat<f32> = Mat::from_fn(k, n, |i, j| y[(i, j)] as f32);
    let mut a32 = GramAccumulator::new(m, k).unwrap();
    a32.add_block(phi32.as_ref(), y32.as_ref(), Par::Seq)
        .unwrap();
    // Exactly the f64 accumulation of the same (rounded) values.
    let widened = Mat::from_fn(m, n, |i, j| f64::from(phi32[(i, j)]));
    let widened_y = Mat::from_fn(k, n, |i, j| f64::from(y32[(i, j)]));
    let mut a64 = GramAccumulator::new(m, k).unwrap();
    a64.add_block(widened.as_ref(), widened_y.as_ref(), Par::Seq)
        .unwrap();
    assert_eq!(a32, a64);
    // Against the unrounded data: each entry moves by ≤ 2·ε₃₂·Σ|φ||φ|, ~1e-7 relative.
    let exact = accumulate(&phi, &y, n);
    assert!(rel_diff(&a32.gram(), &exact.gram()) < 4.0 * f64::from(f32::EPSILON) * 10.0);
}

#[test]
fn ill_conditioned_systems_fall_back_and_singular_ones_are_errors() {
    // Rank 3 features in 10 dimensions: ΦΦᵀ is singular.
    let low = random(10, 3, 13);
    let mix = random(3, 50, 14);
    let phi = &low * &mix;
    let y = random(1, 50, 15);
    let acc = accumulate(&phi, &y, 50);
    match acc.solve(0.0) {
        Err(SolveError::Singular {
            smallest_eigenvalue,
            largest_eigenvalue,
            lambda,
        }) => {
            assert_eq!(lambda, 0.0);
            assert!(smallest_eigenvalue <= 1e-10 * largest_eigenvalue);
        }
        other => panic!("expected Singular, got {other:?}"),
    }
    // A tiny λ makes it solvable but ill-conditioned (κ ≈ ‖G‖/λ ≈ 1e14):
    // the eigen path reports it.
    let (w, info) = acc.solve(1e-12).unwrap();
    assert_eq!(info.method, SolveMethod::Eigen);
    assert!(info.condition_estimate > ntk_solve::COND_LIMIT);
    let g = acc.gram();
    let mut a = g.clone();
    for i in 0..10 {
        a[(i, i)] += 1e-12;
    }
    let resid = &a * &w - acc.cross();
    let rn = (0..10).map(|i| resid[(i, 0)].powi(2)).sum::<f64>().sqrt();
    let bn = (0..10)
        .map(|i| acc.cross()[(i, 0)].powi(2))
        .sum::<f64>()
        .sqrt();
    // Backward stable solve: residual ≲ n·ε·‖A‖‖x‖, far below ‖b‖.
    assert!(rn <= 1e-6 * bn, "residual {rn} vs {bn}");
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut acc = GramAccumulator::new(3, 1).unwrap();
    let good = random(3, 4, 16);
    let y = random(1, 4, 17);
    let mut nan = good.clone();
    nan[(1, 2)] = f64::NAN;
    assert!(matches!(
        acc.add_block(nan.as_ref(), y.as_ref(), Par::Seq),
        Err(SolveError::NonFinite { row: 1, col: 2, .. })
    ));
    assert_eq!(
        acc.samples(),
        0,
        "a failed block leaves the accumulator unchanged"
    );
    let mut inf_y = y.clone();
    inf_y[(0, 0)] = f64::INFINITY;
    assert!(matches!(
        acc.add_block(good.as_ref(), inf_y.as_ref(), Par::Seq),
        Err(SolveError::NonFinite { .. })
    ));
    let short_y = random(1, 3, 18);
    assert!(matches!(
        acc.add_block(good.as_ref(), short_y.as_ref(), Par::Seq),
        Err(SolveError::ShapeMismatch { .. })
    ));
    let wrong_dim = random(4, 4, 19);
    assert!(matches!(
        acc.add_block(wrong_dim.as_ref(), y.as_ref(), Par::Seq),
        Err(SolveError::ShapeMismatch { .. })
    ));
    assert!(matches!(acc.solve(1.0), Err(SolveError::Empty { .. })));
    acc.add_block(good.as_ref(), y.as_ref(), Par::Seq).unwrap();
    assert!(matches!(
        acc.solve(-1.0),
        Err(SolveError::InvalidLambda { .. })
    ));
    assert!(matches!(
        acc.solve(f64::NAN),
        Err(SolveError::InvalidLambda { .. })
    ));
    assert!(matches!(
        GramAccumulator::new(0, 1),
        Err(SolveError::Empty { .. })
    ));
    let k = Mat::<f64>::zeros(0, 0);
    assert!(matches!(
        KernelRidge::fit(k.as_ref(), Mat::<f64>::zeros(1, 0).as_ref(), 1.0),
        Err(SolveError::Empty { .. })
    ));
    let rect = random(3, 4, 20);
    assert!(matches!(
        solve_spd(rect.as_ref(), 1.0, y.as_ref()),
        Err(SolveError::ShapeMismatch { .. })
    ));
    let indefinite = Mat::from_fn(2, 2, |i, j| if i == j { [1.0, -1.0][i] } else { 0.0 });
    assert!(matches!(
        KernelPath::new(indefinite.as_ref(), random(1, 2, 21).as_ref()),
        Err(SolveError::NotPositiveSemidefinite { .. })
    ));
    assert!(matches!(
        lambda_from_trace(good.as_ref(), 0.1),
        Err(SolveError::ShapeMismatch {
            what: "kernel matrix",
            ..
        })
    ));
}

#[test]
fn kernel_lambda_is_used_as_given() {
    let k = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 0.0 });
    let y = Mat::from_fn(1, 2, |_, j| [4.0, 6.0][j]);
    let model = KernelRidge::fit(k.as_ref(), y.as_ref(), 2.0).unwrap();
    // (2 + 2) a = y exactly.
    assert_eq!(model.coefficients()[(0, 0)], 1.0);
    assert_eq!(model.coefficients()[(1, 0)], 1.5);
    assert_eq!(lambda_from_trace(k.as_ref(), 0.5).unwrap(), 1.0);
}
