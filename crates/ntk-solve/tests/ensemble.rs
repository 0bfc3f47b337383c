//! `MseEnsemble` against neural-tangents 0.6.5's
//! `predict.gradient_descent_mse_ensemble` (tools/gen_nt_predict.py: two
//! networks, relative and absolute `diag_reg`, learning rates 1 and 2.5,
//! t = 0, 0.5, 7, 300 and ∞, NNGP and NTK means and covariances), and
//! against kernel ridge at t = ∞.

use faer::Mat;
use ntk_solve::{DiagReg, KernelRidge, MseEnsemble};

fn mat(v: &serde_json::Value) -> Mat<f64> {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

fn max_abs(m: &Mat<f64>) -> f64 {
    m.col_iter()
        .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
        .fold(0.0, |a, x| a.max(x.abs()))
}

/// Largest entry of `|a − b|`.
fn diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let mut d = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            d = d.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    d
}

#[test]
fn equals_neural_tangents() {
    let text = include_str!("fixtures/nt_predict.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let r = case["diag_reg"].as_f64().unwrap();
        let reg = if case["absolute"].as_bool().unwrap() {
            DiagReg::Absolute(r)
        } else {
            DiagReg::Relative(r)
        };
        let lr = case["learning_rate"].as_f64().unwrap();
        let y = mat(&case["y_train"]).transpose().to_owned(); // (k, n)
        let k_test = mat(&case["k_test_nngp"]);
        for g in ["nngp", "ntk"] {
            let k = mat(&case["k_train"][g]);
            let kx = mat(&case["k_cross"][g]);
            let e = MseEnsemble::new(k.as_ref(), y.as_ref(), reg, lr).unwrap();
            let s = e.eigenvalues();
            let cond = s[s.len() - 1] / s[0];
            for res in case["results"].as_array().unwrap() {
                let t = res["t"].as_f64().unwrap_or(f64::INFINITY);
                let want = mat(&res[format!("{g}_mean")]).transpose().to_owned();
                let got = e.mean(kx.as_ref(), t).unwrap();
                // Both sides solve with K + rI (eigh or Cholesky): backward
                // stable, so forward errors are about n·ε·cond relative to
                // the data scale; 64× that is the bound (cond ≤ 1e5 here).
                let tol = 64.0 * 9.0 * f64::EPSILON * cond * max_abs(&want).max(1.0);
                assert!(
                    diff(&got, &want) <= tol,
                    "{name} {g} t={t}: {} > {tol}",
                    diff(&got, &want)
                );
                if g == "ntk" {
                    let want = mat(&res["ntk_cov"]);
                    let got = e
                        .ntk_covariance(
                            kx.as_ref(),
                            mat(&case["k_train"]["nngp"]).as_ref(),
                            mat(&case["k_cross"]["nngp"]).as_ref(),
                            k_test.as_ref(),
                            t,
                        )
                        .unwrap();
                    // Products of B = M Θ* (error n·ε·cond, relative) with
                    // O(1) kernels: the same bound on the kernels' scale.
                    let tol =
                        64.0 * 9.0 * f64::EPSILON * cond * max_abs(&k_test).max(max_abs(&want));
                    assert!(
                        diff(&got, &want) <= tol,
                        "{name} ntk cov t={t}: {}",
                        diff(&got, &want)
                    );
                }
                if g == "nngp" {
                    let want = mat(&res["nngp_cov"]);
                    let got = e.nngp_covariance(kx.as_ref(), k_test.as_ref(), t).unwrap();
                    let tol = 64.0 * 9.0 * f64::EPSILON * cond * max_abs(&k_test);
                    assert!(
                        diff(&got, &want) <= tol,
                        "{name} cov t={t}: {}",
                        diff(&got, &want)
                    );
                    let diag: Vec<f64> = (0..k_test.nrows()).map(|i| k_test[(i, i)]).collect();
                    let var = e.nngp_variance(kx.as_ref(), &diag, t).unwrap();
                    for (i, v) in var.iter().enumerate() {
                        assert!((v - got[(i, i)].max(0.0)).abs() <= 1e-12 * max_abs(&k_test));
                    }
                }
                checked += 1;
            }
        }
    }
    // 6 cases × 2 regimes × (5 times, or 4 where diag_reg = 0 has no t = ∞).
    assert_eq!(checked, 56);
}

#[test]
fn limits_of_training_time() {
    let x = Mat::from_fn(7, 7, |i, j| ((i * 3 + j * 5) as f64 * 0.37).sin());
    // A positive definite kernel and two outputs.
    let k = &x * x.transpose() + Mat::<f64>::identity(7, 7) * 0.1;
    let y = Mat::from_fn(2, 7, |o, j| ((o + 2 * j) as f64).cos());
    let kx = Mat::from_fn(7, 3, |i, j| ((i + 4 * j) as f64 * 0.21).cos());
    let kt = Mat::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.1 });
    let e = MseEnsemble::new(k.as_ref(), y.as_ref(), DiagReg::Absolute(0.05), 1.0).unwrap();
    assert_eq!(e.regularizer(), 0.05);
    // The eigenvalues of K + rI, ascending: they sum to its trace and the
    // smallest is at least 0.1 + r (K = XXᵀ + 0.1·I).
    let ev = e.eigenvalues();
    assert_eq!(ev.len(), 7);
    assert!(ev.windows(2).all(|w| w[0] <= w[1]), "{ev:?}");
    let trace = (0..7).map(|i| k[(i, i)]).sum::<f64>() + 7.0 * 0.05;
    assert!((ev.iter().sum::<f64>() - trace).abs() <= 1e-12 * trace);
    assert!(
        ev[0] >= 0.05 * (1.0 - 1e-9) + 0.1 * (1.0 - 1e-9),
        "{}",
        ev[0]
    );
    // A relative regularizer is that multiple of the mean diagonal
    // (neural-tangents' diag_reg with diag_reg_absolute_scale=False).
    let mean_diag = (0..7).map(|i| k[(i, i)]).sum::<f64>() / 7.0;
    let rel = MseEnsemble::new(k.as_ref(), y.as_ref(), DiagReg::Relative(0.05), 1.0).unwrap();
    assert!((rel.regularizer() - 0.05 * mean_diag).abs() <= 1e-15 * mean_diag);
    // t = ∞ is kernel ridge with λ = r (two solvers: rounding of cond ≈ 1e3).
    let ridge = KernelRidge::fit(k.as_ref(), y.as_ref(), 0.05).unwrap();
    let want = ridge.predict(kx.as_ref()).unwrap();
    assert!(diff(&e.mean(kx.as_ref(), f64::INFINITY).unwrap(), &want) <= 1e-10 * max_abs(&want));
    // A very long finite time is the same limit (e^{-sτ/N} underflows).
    assert!(diff(&e.mean(kx.as_ref(), 1e12).unwrap(), &want) <= 1e-10 * max_abs(&want));
    // t = 0: the untrained ensemble has mean 0 and the prior covariance.
    assert_eq!(max_abs(&e.mean(kx.as_ref(), 0.0).unwrap()), 0.0);
    assert_eq!(
        diff(
            &e.nngp_covariance(kx.as_ref(), kt.as_ref(), 0.0).unwrap(),
            &kt
        ),
        0.0
    );
    // Tiny t: the first gradient step, mean ≈ (τ/N) K*ᵀ Yᵀ (first order in τ).
    let tau = 1e-6;
    let first = (kx.transpose() * y.transpose()).transpose() * (tau / 14.0);
    let got = e.mean(kx.as_ref(), tau).unwrap();
    // Second-order term: (τ/N)²·‖K + rI‖/2 relative, about 1e-9 here.
    assert!(diff(&got, &first) <= 1e-6 * max_abs(&first));
    // Bad times and rates are typed errors.
    assert!(matches!(
        e.mean(kx.as_ref(), -1.0),
        Err(ntk_solve::SolveError::InvalidParameter {
            what: "training time",
            ..
        })
    ));
    assert!(matches!(
        MseEnsemble::new(k.as_ref(), y.as_ref(), DiagReg::Relative(f64::NAN), 1.0),
        Err(ntk_solve::SolveError::InvalidParameter {
            what: "diagonal regularizer",
            ..
        })
    ));
    assert!(matches!(
        MseEnsemble::new(k.as_ref(), y.as_ref(), DiagReg::Absolute(0.0), 0.0),
        Err(ntk_solve::SolveError::InvalidParameter {
            what: "learning rate",
            ..
        })
    ));
}

#[test]
fn a_zero_eigenvalue_has_its_finite_time_limit() {
    // Rank-1 kernel, no regularizer: along the null direction the flow
    // grows linearly (g(0) = τ/N), never NaN; t = ∞ is singular.
    let k = Mat::from_fn(2, 2, |_, _| 1.0);
    let y = Mat::from_fn(1, 2, |_, j| j as f64);
    let e = MseEnsemble::new(k.as_ref(), y.as_ref(), DiagReg::Absolute(0.0), 1.0).unwrap();
    let w = e.weights(3.0).unwrap();
    assert!(w.col_iter().all(|c| c.iter().all(|v| v.is_finite())));
    assert!(matches!(
        e.weights(f64::INFINITY),
        Err(ntk_solve::SolveError::Singular { .. })
    ));
}
