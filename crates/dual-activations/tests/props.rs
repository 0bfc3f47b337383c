//! Properties over random covariances (proptest): symmetry, Cauchy–Schwarz,
//! positive semidefinite 3×3 kernel Gram matrices, and the diagonal as a
//! second moment.

mod common;

use common::{closed_forms, gauss_1d, k_is_expectation, sym_eigenvalues};
use dual_activations::{Activation, DualActivation, NumericalMethod, registry};
use proptest::prelude::*;

fn all() -> Vec<DualActivation> {
    let mut v: Vec<Activation> = closed_forms()
        .into_iter()
        // Gaussian with b > 0 is finite only for small variances; tested apart.
        .filter(|a| !matches!(a, Activation::Gaussian { b, .. } if *b > 0.0))
        .collect();
    // The truncated Hermite series is an exact finite-sum kernel, so these
    // properties hold for it to rounding. (The 2-D Gauss–Hermite product rule
    // is not symmetric in its two variables; its asymmetry is quadrature error.)
    for name in ["tanh", "elu", "relu6"] {
        v.push(Activation::Numerical {
            function: registry::by_name(name).unwrap(),
            method: NumericalMethod::HermiteSeries { degree: 24 },
        });
    }
    v.into_iter()
        .map(|a| DualActivation::new(a).unwrap())
        .collect()
}

/// Variances in [0, 6], with exact zeros now and then.
fn variance() -> impl Strategy<Value = f64> {
    prop_oneof![1 => Just(0.0), 9 => 0.01f64..6.0]
}

/// Three vectors in R³ whose Gram matrix is a valid covariance of three points.
fn three_points() -> impl Strategy<Value = [[f64; 3]; 3]> {
    prop::array::uniform3(prop::array::uniform3(-2.0f64..2.0))
}

fn gram(p: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut g = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            g[i][j] = (0..3).map(|k| p[i][k] * p[j][k]).sum();
        }
    }
    g
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn kernels_are_symmetric(qx in variance(), qy in variance(), rho in -1.0f64..=1.0) {
        let c = rho * (qx * qy).sqrt();
        for d in all() {
            let a = d.eval(qx, qy, c).unwrap();
            let b = d.eval(qy, qx, c).unwrap();
            let s = (d.eval_diag(qx).unwrap().k.abs() * d.eval_diag(qy).unwrap().k.abs()).sqrt();
            // Symmetric up to the order of a few roundings; K̇ too, on the
            // scale of its own Cauchy–Schwarz bound sqrt(K̇(x,x) K̇(y,y)).
            let tol = 1e-13;
            prop_assert!((a.k - b.k).abs() <= tol * s.max(1e-300) + 1e-300, "{:?}", d.activation());
            let sd = (d.eval_diag(qx).unwrap().k_dot.abs() * d.eval_diag(qy).unwrap().k_dot.abs()).sqrt();
            prop_assert!(
                (a.k_dot - b.k_dot).abs() <= tol * sd.max(1e-300) + 1e-300,
                "{:?}: K̇ {} vs {}", d.activation(), a.k_dot, b.k_dot
            );
        }
    }

    #[test]
    fn cauchy_schwarz_holds(qx in variance(), qy in variance(), rho in -1.0f64..=1.0) {
        let c = rho * (qx * qy).sqrt();
        for d in all() {
            let k = d.eval(qx, qy, c).unwrap();
            let (dx, dy) = (d.eval_diag(qx).unwrap(), d.eval_diag(qy).unwrap());
            let bound = (dx.k * dy.k).sqrt();
            prop_assert!(k.k.abs() <= bound * (1.0 + 1e-12) + 1e-300, "{:?}: |{}| > {}", d.activation(), k.k, bound);
            let bound_dot = (dx.k_dot * dy.k_dot).sqrt();
            prop_assert!(k.k_dot.abs() <= bound_dot * (1.0 + 1e-12) + 1e-300, "{:?}: |K̇ {}| > {}", d.activation(), k.k_dot, bound_dot);
        }
    }

    #[test]
    fn three_point_kernel_matrices_are_psd(p in three_points()) {
        let g = gram(&p);
        for d in all() {
            let mut k = vec![vec![0.0; 3]; 3];
            let mut kd = vec![vec![0.0; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    let v = d.eval(g[i][i], g[j][j], g[i][j]).unwrap();
                    k[i][j] = v.k;
                    kd[i][j] = v.k_dot;
                }
            }
            // Rounding of each entry is ~1e-15 of the trace; Jacobi adds ~ε·‖K‖.
            let (tr, trd) = ((0..3).map(|i| k[i][i].abs()).sum::<f64>(), (0..3).map(|i| kd[i][i].abs()).sum::<f64>());
            let min = sym_eigenvalues(k).into_iter().fold(f64::INFINITY, f64::min);
            let min_d = sym_eigenvalues(kd).into_iter().fold(f64::INFINITY, f64::min);
            prop_assert!(min >= -1e-12 * tr - 1e-300, "{:?}: λ_min = {min} (trace {tr})", d.activation());
            prop_assert!(min_d >= -1e-12 * trd - 1e-300, "{:?}: K̇ λ_min = {min_d}", d.activation());
        }
    }

    #[test]
    fn diagonal_is_the_second_moment(q in 0.0f64..5.0) {
        for a in closed_forms() {
            if !k_is_expectation(&a) || matches!(a, Activation::Gaussian { b, .. } if b > 0.0) || matches!(a, Activation::Sign | Activation::RectifiedMonomial { degree: 0 }) && q == 0.0 {
                continue;
            }
            let d = DualActivation::new(a.clone()).unwrap();
            let got = d.eval_diag(q).unwrap().k;
            let want = gauss_1d(&|t| a.value(t).unwrap().powi(2), q);
            prop_assert!((got - want).abs() <= 1e-12 * want.abs().max(1e-300), "{a:?} q={q}: {got} vs {want}");
        }
    }
}
