//! Conjugate gradients against Cholesky, matrix-free feature operators, and
//! the preconditioners.

mod common;

use common::{decaying, random, rel_diff};
use faer::{Mat, Par};
use ntk_solve::{
    CgParams, FeatureGram, GramAccumulator, GramForm, Jacobi, KernelRidge, LinearOperator, Nystrom,
    ShiftedMatrix, SolveError, conjugate_gradient,
};

/// An RBF-like kernel matrix with a fast-decaying spectrum.
fn kernel(n: usize, seed: u64) -> Mat<f64> {
    let x = random(3, n, seed);
    Mat::from_fn(n, n, |i, j| {
        let d: f64 = (0..3).map(|t| (x[(t, i)] - x[(t, j)]).powi(2)).sum();
        (-0.5 * d).exp()
    })
}

#[test]
fn cg_matches_cholesky() {
    let n = 120;
    let k = kernel(n, 1);
    let y = random(2, n, 2);
    let lambda = 1e-2;
    let direct = KernelRidge::fit(k.as_ref(), y.as_ref(), lambda).unwrap();
    let op = ShiftedMatrix::new(k.as_ref(), lambda).unwrap();
    let params = CgParams {
        rel_tol: 1e-12,
        max_iters: 2000,
    };
    let (x, infos) = conjugate_gradient(&op, None, y.transpose(), params).unwrap();
    assert!(infos.iter().all(|i| i.rel_residual <= 1e-11));
    // ‖x − x*‖/‖x*‖ ≤ κ · rel_residual, κ of K + λI computed here (not
    // the solver's own estimate); Cholesky's backward error adds n·ε·κ.
    let shifted = Mat::from_fn(n, n, |i, j| k[(i, j)] + if i == j { lambda } else { 0.0 });
    let ev = shifted.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    let kappa = ev[n - 1] / ev[0];
    assert!(
        rel_diff(&x, &direct.coefficients().to_owned())
            <= kappa * (1e-11 + n as f64 * f64::EPSILON),
        "κ = {kappa}"
    );
}

#[test]
fn preconditioners_cut_iterations_and_keep_the_solution() {
    let n = 300;
    let k = kernel(n, 3);
    let y = random(1, n, 4);
    let lambda = 1e-3;
    let op = ShiftedMatrix::new(k.as_ref(), lambda).unwrap();
    let params = CgParams {
        rel_tol: 1e-10,
        max_iters: 5000,
    };
    let (x_plain, plain) = conjugate_gradient(&op, None, y.transpose(), params).unwrap();
    let nys = Nystrom::new(k.as_ref(), lambda, 60, 7).unwrap();
    let (x_nys, pre) = conjugate_gradient(&op, Some(&nys), y.transpose(), params).unwrap();
    assert!(
        pre[0].iterations * 3 <= plain[0].iterations,
        "Nyström PCG {} vs CG {} iterations",
        pre[0].iterations,
        plain[0].iterations
    );
    // Each solve stops at a relative residual ≤ 1e−10, so each is within
    // κ·1e−10 of the solution (relative) and the two within twice that,
    // κ the condition number of K + λI (computed here, not reported by the
    // code under test).
    let shifted = Mat::from_fn(n, n, |i, j| k[(i, j)] + if i == j { lambda } else { 0.0 });
    let ev = shifted.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    let kappa = ev[n - 1] / ev[0];
    let bound = 2.0 * kappa * 1e-10;
    assert!(rel_diff(&x_nys, &x_plain) <= bound, "κ = {kappa}");
    let diag: Vec<f64> = (0..n).map(|i| k[(i, i)] + lambda).collect();
    let jac = Jacobi::new(&diag).unwrap();
    let (x_jac, _) = conjugate_gradient(&op, Some(&jac), y.transpose(), params).unwrap();
    assert!(rel_diff(&x_jac, &x_plain) <= bound, "κ = {kappa}");
}

#[test]
fn matrix_free_feature_operators_match_dense_gram() {
    let (m, n) = (15, 40);
    let phi = decaying(m, n, 5);
    let lambda = 0.05;
    let x_m = random(m, 1, 6);
    let x_n = random(n, 1, 7);
    let primal = FeatureGram::new(phi.as_ref(), lambda, GramForm::Primal).unwrap();
    let dual = FeatureGram::new(phi.as_ref(), lambda, GramForm::Dual).unwrap();
    let mut out_m = vec![0.0; m];
    let mut out_n = vec![0.0; n];
    primal.apply(x_m.col_as_slice(0), &mut out_m);
    dual.apply(x_n.col_as_slice(0), &mut out_n);
    let want_m = &(&phi * phi.transpose()) * &x_m + &x_m * faer::Scale(lambda);
    let want_n = &(phi.transpose() * &phi) * &x_n + &x_n * faer::Scale(lambda);
    // Both sides compute sums of m·n products in different orders: each
    // differs from the exact value by at most (m + n + 1)·ε times the sum
    // of the absolute terms (the standard bound for a dot product of
    // length m + n, per side), so the two by twice that.
    let abs = |a: &Mat<f64>| Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)].abs());
    let (pa, xma, xna) = (abs(&phi), abs(&x_m), abs(&x_n));
    let terms_m = &(&pa * pa.transpose()) * &xma + &xma * faer::Scale(lambda);
    let terms_n = &(pa.transpose() * &pa) * &xna + &xna * faer::Scale(lambda);
    let u = 2.0 * (m + n + 1) as f64 * f64::EPSILON;
    for i in 0..m {
        assert!((out_m[i] - want_m[(i, 0)]).abs() <= u * terms_m[(i, 0)]);
    }
    for i in 0..n {
        assert!((out_n[i] - want_n[(i, 0)]).abs() <= u * terms_n[(i, 0)]);
    }
    // Matrix-free primal CG reproduces the accumulated Cholesky ridge.
    let y = random(2, n, 8);
    let mut acc = GramAccumulator::new(m, 2).unwrap();
    acc.add_block(phi.as_ref(), y.as_ref(), Par::Seq).unwrap();
    let (w, _) = acc.solve(lambda).unwrap();
    let (w_cg, _) = conjugate_gradient(
        &primal,
        None,
        acc.cross(),
        CgParams {
            rel_tol: 1e-13,
            max_iters: 500,
        },
    )
    .unwrap();
    // Residual ≤ 1e−13 and Cholesky's backward error m·ε, both times κ of
    // ΦΦᵀ + λI (computed here); twice for the two solutions' errors and
    // twice again for the accumulated and the matrix-free Gram rounding
    // differently (each within m·n·ε, far below the residual term).
    let g = &(&phi * phi.transpose()) + &Mat::<f64>::identity(m, m) * faer::Scale(lambda);
    let ev = g.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    let kappa = ev[m - 1] / ev[0];
    assert!(rel_diff(&w_cg, &w) <= kappa * (1e-13 + m as f64 * f64::EPSILON) * 4.0);
    // f32 features through the same operator.
    let phi32: Mat<f32> = Mat::from_fn(m, n, |i, j| phi[(i, j)] as f32);
    let op32 = FeatureGram::new(phi32.as_ref(), lambda, GramForm::Primal).unwrap();
    let mut out32 = vec![0.0; m];
    op32.apply(x_m.col_as_slice(0), &mut out32);
    // Rounding φ to f32 perturbs each product φ_ik φ_jk by at most
    // 2·2⁻²⁴ of its size; the f64 sums add the bound above.
    let u32 = 2.0 * f64::from(f32::EPSILON) / 2.0 + u;
    for i in 0..m {
        assert!(
            (out32[i] - out_m[i]).abs() <= u32 * terms_m[(i, 0)],
            "f32 features differ by their own rounding only"
        );
    }
}

#[test]
fn cg_errors() {
    let k = kernel(30, 9);
    let op = ShiftedMatrix::new(k.as_ref(), 0.0).unwrap();
    let y = random(30, 1, 10);
    let tight = CgParams {
        rel_tol: 1e-14,
        max_iters: 2,
    };
    assert!(matches!(
        conjugate_gradient(&op, None, y.as_ref(), tight),
        Err(SolveError::NotConverged { .. })
    ));
    let wrong = random(31, 1, 11);
    assert!(matches!(
        conjugate_gradient(&op, None, wrong.as_ref(), CgParams::default()),
        Err(SolveError::ShapeMismatch { .. })
    ));
    let mut nan = y.clone();
    nan[(3, 0)] = f64::NAN;
    assert!(matches!(
        conjugate_gradient(&op, None, nan.as_ref(), CgParams::default()),
        Err(SolveError::NonFinite { .. })
    ));
    assert!(matches!(
        ShiftedMatrix::new(k.as_ref(), -1.0),
        Err(SolveError::InvalidLambda { .. })
    ));
    let invalid = |what_: &str, r: Result<(), ntk_solve::SolveError>| {
        assert!(
            matches!(&r, Err(ntk_solve::SolveError::InvalidParameter { what, .. }) if *what == what_),
            "{r:?}"
        )
    };
    invalid("lambda", Nystrom::new(k.as_ref(), 0.0, 5, 1).map(|_| ()));
    invalid("rank", Nystrom::new(k.as_ref(), 1.0, 0, 1).map(|_| ()));
    invalid("diagonal entry", Jacobi::new(&[1.0, 0.0]).map(|_| ()));
    let zero = Mat::<f64>::zeros(30, 1);
    let (x, info) = conjugate_gradient(&op, None, zero.as_ref(), CgParams::default()).unwrap();
    assert_eq!(info[0].iterations, 0);
    assert!((0..30).all(|i| x[(i, 0)] == 0.0));
}

#[test]
fn nystrom_is_deterministic_for_a_seed() {
    let k = kernel(50, 12);
    let y = random(50, 1, 13);
    let op = ShiftedMatrix::new(k.as_ref(), 1e-2).unwrap();
    let a = Nystrom::new(k.as_ref(), 1e-2, 10, 99).unwrap();
    let b = Nystrom::new(k.as_ref(), 1e-2, 10, 99).unwrap();
    let (xa, _) = conjugate_gradient(&op, Some(&a), y.as_ref(), CgParams::default()).unwrap();
    let (xb, _) = conjugate_gradient(&op, Some(&b), y.as_ref(), CgParams::default()).unwrap();
    assert_eq!(xa, xb);
}
