//! Closed forms against oracles: the paper's reference table, 40-digit
//! mpmath values, independent polar integration, finite differences, and
//! neural-tangents' own kernels (depth-1 fixtures).

mod common;

use common::{
    POINTS, closed_forms, depth_one_kernels, gauss_1d, k_dot_is_expectation, k_is_expectation,
    matrix, polar_expectation,
};
use dual_activations::{Activation, DualActivation, HermiteConvention};

fn dual(a: Activation) -> DualActivation {
    DualActivation::new(a).expect("valid activation")
}

/// `|got − want| ≤ tol·max(|want|, floor)`.
fn close(got: f64, want: f64, tol: f64, floor: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(floor)
}

#[test]
fn reference_table_of_han_et_al_2022() {
    // docs/SOURCES.md §P2.1, printed to 10 significant digits: compare at 5e-10 relative
    // (half a unit in the last printed digit of the smallest entries).
    let a = (1.0, 1.0, 0.3);
    let b = (0.7, 1.6, -0.5);
    let rows: &[(Activation, [f64; 4])] = &[
        (
            Activation::Relu,
            [0.2413721419, 0.298493342, 0.06260792143, 0.1716838536],
        ),
        (
            Activation::LeakyRelu { alpha: 0.1 },
            [0.225511435, 0.341779607, 0.000712416362, 0.2390639214],
        ),
        (
            Activation::Abs,
            [0.6654885677, 0.193973368, 0.7504316857, -0.3132645856],
        ),
        (
            Activation::Erf {
                a: 1.3,
                b: 0.7,
                c: 0.2,
            },
            [0.200345914, 0.538479145, -0.2157612676, 0.5213810571],
        ),
        (
            Activation::SigmoidLike,
            [0.2623024027, 0.04108987922, 0.2301022897, 0.0400040627],
        ),
        (
            Activation::Gelu,
            [0.1626772198, 0.3042856778, -0.01912918209, 0.164526228],
        ),
        (
            Activation::Sin {
                a: 1.2,
                b: 0.8,
                c: 0.3,
            },
            [0.2014104477, 0.4599118703, -0.1415615132, 0.4111727757],
        ),
        (
            Activation::COS,
            [0.3845585484, 0.1120267554, 0.3570478427, -0.1649979341],
        ),
        (
            Activation::Rbf { gamma: 0.7 },
            [0.3753110989, 0.5254355384, 0.09926125156, 0.1389657522],
        ),
        (
            Activation::Exp { a: 0.5, b: 0.6 },
            [0.3991993507, 0.1437117662, 0.3159111231, 0.1137280043],
        ),
        (
            Activation::Gaussian { a: 1.5, b: -0.4 },
            [1.261261489, 0.07609420747, 1.220808459, -0.1150078623],
        ),
        (
            Activation::Gabor,
            [0.008524894453, 0.03239184041, -0.01329941699, 0.03648444019],
        ),
        (Activation::Monomial { degree: 2 }, [1.18, 1.2, 1.62, -2.0]),
        (
            Activation::Monomial { degree: 3 },
            [2.862, 10.62, -5.79, 14.58],
        ),
        (
            Activation::RectifiedMonomial { degree: 2 },
            [0.488863869, 0.9654885677, 0.05545307049, 0.2504316857],
        ),
        (
            Activation::Polynomial {
                coef: vec![-0.1, 2.1, 0.0, 0.3, -1.2, -0.5],
            },
            [33.027616, 123.19128, 21.738574, 1.6521],
        ),
        (Activation::Sign, [0.193973368, 0.0, -0.3132645856, 0.0]),
        (
            Activation::EXP_NORMALIZED,
            [0.4965853038, 0.4965853038, 0.2427334749, 0.2293615748],
        ),
    ];
    for (act, want) in rows {
        let d = dual(act.clone());
        let da = d.eval(a.0, a.1, a.2).unwrap();
        let db = d.eval(b.0, b.1, b.2).unwrap();
        for (got, w) in [da.k, da.k_dot, db.k, db.k_dot].iter().zip(want) {
            assert!(
                close(*got, *w, 5e-10, 1e-300),
                "{}: got {got}, table {w}",
                act.stax_name()
            );
        }
    }
}

fn activation_from_reference(name: &str, p: &serde_json::Value) -> Activation {
    let f = |k: &str| p[k].as_f64().unwrap();
    let n = |k: &str| p[k].as_u64().unwrap() as usize;
    match name {
        "Identity" => Activation::Identity,
        "Relu" => Activation::Relu,
        "LeakyRelu" => Activation::LeakyRelu { alpha: f("alpha") },
        "ABRelu" => Activation::AbRelu {
            a: f("a"),
            b: f("b"),
        },
        "Abs" => Activation::Abs,
        "Sign" => Activation::Sign,
        "Erf" => Activation::Erf {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "Sigmoid_like" => Activation::SigmoidLike,
        "Gelu" => Activation::Gelu,
        "Sin" => Activation::Sin {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "Cos" => Activation::Cos {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "Rbf" => Activation::Rbf { gamma: f("gamma") },
        "Exp" => Activation::Exp {
            a: f("a"),
            b: f("b"),
        },
        "Gaussian" => Activation::Gaussian {
            a: f("a"),
            b: f("b"),
        },
        "ExpNormalized" => Activation::ExpNormalized {
            gamma: f("gamma"),
            shift: f("shift"),
            do_clip: p["do_clip"].as_bool().unwrap(),
        },
        "Hermite" => Activation::Hermite {
            degree: n("degree"),
            convention: HermiteConvention::Exact,
        },
        "Monomial" => Activation::Monomial {
            degree: n("degree"),
        },
        "RectifiedMonomial" => Activation::RectifiedMonomial {
            degree: n("degree"),
        },
        "Polynomial" => Activation::Polynomial {
            coef: p["coef"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect(),
        },
        "Gabor" => Activation::Gabor,
        other => panic!("unknown activation {other} in fixture"),
    }
}

#[test]
fn closed_forms_match_40_digit_references() {
    // tools/gen_dual_reference.py: the same formulas in 40-digit arithmetic.
    // Every point has |ρ| ≤ 0.99, where the angle θ = atan2(sqrt(det), c)
    // amplifies rounding by at most ~1/(1 − ρ²) ≈ 50, so 1e-12 relative to
    // the Cauchy–Schwarz scale of the entry leaves a margin of ~100.
    let text = include_str!("fixtures/closed_form_reference.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 130);
    for case in cases {
        let act = activation_from_reference(case["activation"].as_str().unwrap(), &case["params"]);
        let (qx, qy, c) = (
            case["q_x"].as_f64().unwrap(),
            case["q_y"].as_f64().unwrap(),
            case["c"].as_f64().unwrap(),
        );
        let want_k: f64 = case["k"].as_str().unwrap().parse().unwrap();
        let want_kd: f64 = case["k_dot"].as_str().unwrap().parse().unwrap();
        let d = dual(act.clone());
        let got = d.eval(qx, qy, c).unwrap();
        let dx = d.eval_diag(qx).unwrap();
        let dy = d.eval_diag(qy).unwrap();
        let scale = (dx.k.abs() * dy.k.abs()).sqrt().max(want_k.abs());
        let scale_dot = (dx.k_dot.abs() * dy.k_dot.abs()).sqrt().max(want_kd.abs());
        assert!(
            (got.k - want_k).abs() <= 1e-12 * scale,
            "{} at ({qx}, {qy}, {c}): K = {} vs {want_k} (rel {:e})",
            act.stax_name(),
            got.k,
            (got.k - want_k).abs() / scale
        );
        assert!(
            (got.k_dot - want_kd).abs() <= 1e-12 * scale_dot.max(1e-300),
            "{} at ({qx}, {qy}, {c}): K̇ = {} vs {want_kd}",
            act.stax_name(),
            got.k_dot
        );
    }
}

#[test]
fn closed_forms_match_independent_polar_integration() {
    // Oracle: E[σ(u)σ(v)] by composite Gauss–Legendre in polar coordinates
    // (tests/common), split where u or v vanishes. Both sides are accurate to
    // ~1e-14 of the scale; 1e-11 leaves room for the 24-point panels on the
    // fastest-growing integrands (Monomial 9).
    for act in closed_forms() {
        let d = dual(act.clone());
        let s = |t: f64| act.value(t).unwrap();
        let ds = |t: f64| act.derivative(t).unwrap();
        for &(qx, qy, c) in POINTS {
            let got = match d.eval(qx, qy, c) {
                Ok(v) => v,
                Err(e) => panic!("{} at ({qx}, {qy}, {c}): {e}", act.stax_name()),
            };
            if k_is_expectation(&act) {
                let want = polar_expectation(&s, &s, qx, qy, c);
                let scale =
                    (gauss_1d(&|t| s(t) * s(t), qx) * gauss_1d(&|t| s(t) * s(t), qy)).sqrt();
                assert!(
                    (got.k - want).abs() <= 1e-11 * scale.max(1e-300),
                    "{:?} at ({qx}, {qy}, {c}): K = {} vs polar {want}",
                    act,
                    got.k
                );
            }
            if k_dot_is_expectation(&act) {
                let want = polar_expectation(&ds, &ds, qx, qy, c);
                let scale =
                    (gauss_1d(&|t| ds(t) * ds(t), qx) * gauss_1d(&|t| ds(t) * ds(t), qy)).sqrt();
                assert!(
                    (got.k_dot - want).abs() <= 1e-11 * scale.max(1e-300),
                    "{:?} at ({qx}, {qy}, {c}): K̇ = {} vs polar {want}",
                    act,
                    got.k_dot
                );
            }
        }
    }
}

#[test]
fn diagonal_is_the_second_moment() {
    // K(q, q, q) = E[σ(√q z)²] and K̇(q, q, q) = E[σ'(√q z)²], by 1-D quadrature.
    for act in closed_forms() {
        if !k_is_expectation(&act) {
            continue;
        }
        let d = dual(act.clone());
        for q in [0.04, 0.5, 1.0, 3.7] {
            let got = d.eval_diag(q).unwrap();
            let m2 = gauss_1d(&|t| act.value(t).unwrap().powi(2), q);
            assert!(
                close(got.k, m2, 1e-12, 1e-300),
                "{:?} q={q}: {} vs {m2}",
                act,
                got.k
            );
            if k_dot_is_expectation(&act) {
                let m2d = gauss_1d(&|t| act.derivative(t).unwrap().powi(2), q);
                assert!(
                    close(got.k_dot, m2d, 1e-12, 1e-300),
                    "{:?} q={q}: K̇ {} vs {m2d}",
                    act,
                    got.k_dot
                );
            }
        }
    }
}

#[test]
fn ntk_multiplier_is_the_derivative_in_c() {
    // Fourth-order central difference with h = 1e-4·sqrt(q_x q_y): truncation
    // O(h⁴ K⁽⁵⁾) ≲ 1e-16·scale for |ρ| ≤ 0.97, rounding ≈ ε·S/h ≈ 2e-12·scale
    // where S = sqrt(K(x,x) K(y,y)) bounds the terms the closed forms add up,
    // so 1e-9 of the scale (S/sqrt(q_x q_y) and the K̇ analogue) is safe.
    for act in closed_forms() {
        if !k_dot_is_expectation(&act)
            && !matches!(
                act,
                Activation::ExpNormalized { .. } | Activation::Hermite { .. }
            )
        {
            continue;
        }
        let d = dual(act.clone());
        for &(qx, qy, c) in POINTS {
            let s = (qx * qy).sqrt();
            let h = 1e-4 * s;
            let k = |cc: f64| {
                d.eval(qx, qy, cc)
                    .unwrap_or_else(|e| panic!("{act:?} at ({qx}, {qy}, {cc}): {e}"))
                    .k
            };
            let fd =
                (-k(c + 2.0 * h) + 8.0 * k(c + h) - 8.0 * k(c - h) + k(c - 2.0 * h)) / (12.0 * h);
            let got = d.eval(qx, qy, c).unwrap();
            let (dx, dy) = (d.eval_diag(qx).unwrap(), d.eval_diag(qy).unwrap());
            let scale = got
                .k_dot
                .abs()
                .max(got.k.abs() / s)
                .max((dx.k * dy.k).abs().sqrt() / s)
                .max((dx.k_dot * dy.k_dot).abs().sqrt())
                .max(1e-12);
            assert!(
                (got.k_dot - fd).abs() <= 1e-9 * scale,
                "{:?} at ({qx}, {qy}, {c}): K̇ = {} vs finite difference {fd}",
                act,
                got.k_dot
            );
        }
    }
}

#[test]
fn matches_neural_tangents_depth_one_networks() {
    // Fixtures: neural-tangents 0.6.5, float64, Dense(W, b) → σ → Dense(W, b)
    // on 'gauss' inputs. Per pair: q = W²⟨x, y⟩/d + b²; NNGP = W²K + b²;
    // NTK = NNGP + W²·q₁₂·K̇ (the first layer's NTK is its NNGP).
    // Tolerance 1e-10 of the matrix's largest entry (the closed-form
    // criterion); 1e-6 on pairs listed as parallel (sqrt(ε) noise in θ).
    // ElementwiseNumerical cases are checked with the same 25-point rule.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/neural_tangents"
    );
    let mut n_cases = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let layers = v["architecture"]["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{path:?}");
        let w = layers[0]["W_std"].as_f64().unwrap();
        let b = layers[0]["b_std"].as_f64().unwrap_or(0.0);
        let act = nt_activation(&layers[1]);
        let numerical = matches!(act, Activation::Numerical { .. });
        let d = dual(act);
        let (x1, x2) = (matrix(&v["x1"]), matrix(&v["x2"]));
        let (nngp, ntk) = (matrix(&v["nngp"]), matrix(&v["ntk"]));
        let parallel: Vec<(usize, usize)> = v["parallel_pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_u64().unwrap() as usize,
                    p[1].as_u64().unwrap() as usize,
                )
            })
            .collect();
        let max_nngp = nngp.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        let max_ntk = ntk.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = if numerical { 1e-12 } else { 1e-10 };
        let (got_nngp, got_ntk, got_cov) = depth_one_kernels(&d, w, b, &x1, &x2);
        for i in 0..x1.len() {
            for j in 0..x2.len() {
                let t = if parallel.contains(&(i, j)) {
                    1e-6
                } else {
                    tol
                };
                assert!(
                    (got_nngp[i][j] - nngp[i][j]).abs() <= t * max_nngp,
                    "{path:?} nngp[{i}][{j}] = {} vs {}",
                    got_nngp[i][j],
                    nngp[i][j]
                );
                assert!(
                    (got_ntk[i][j] - ntk[i][j]).abs() <= t * max_ntk,
                    "{path:?} ntk[{i}][{j}] = {} vs {}",
                    got_ntk[i][j],
                    ntk[i][j]
                );
            }
        }
        let cov1: Vec<f64> = v["cov1"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        for (got, want) in got_cov.iter().zip(&cov1) {
            assert!(
                (got - want).abs() <= tol * max_nngp,
                "{path:?} cov1 {got} vs {want}"
            );
        }
        n_cases += 1;
    }
    assert_eq!(n_cases, 98, "fixture count changed");
}

fn nt_activation(l: &serde_json::Value) -> Activation {
    let f = |k: &str| l[k].as_f64().unwrap();
    let n = |k: &str| l[k].as_u64().unwrap() as usize;
    match l["name"].as_str().unwrap() {
        "relu" => Activation::Relu,
        "leaky_relu" => Activation::LeakyRelu { alpha: f("alpha") },
        "ab_relu" => Activation::AbRelu {
            a: f("a"),
            b: f("b"),
        },
        "abs" => Activation::Abs,
        "sign" => Activation::Sign,
        "erf" => Activation::Erf {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "sigmoid_like" => Activation::SigmoidLike,
        "gelu" => Activation::Gelu,
        "sin" => Activation::Sin {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "cos" => Activation::Cos {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "rbf" => Activation::Rbf { gamma: f("gamma") },
        "exp" => Activation::Exp {
            a: f("a"),
            b: f("b"),
        },
        "gaussian" => Activation::Gaussian {
            a: f("a"),
            b: f("b"),
        },
        "exp_normalized" => Activation::ExpNormalized {
            gamma: f("gamma"),
            shift: f("shift"),
            do_clip: l["do_clip"].as_bool().unwrap(),
        },
        "hermite" => Activation::Hermite {
            degree: n("degree"),
            convention: HermiteConvention::NeuralTangents,
        },
        "monomial" => Activation::Monomial {
            degree: n("degree"),
        },
        "rectified_monomial" => Activation::RectifiedMonomial {
            degree: n("degree"),
        },
        "polynomial" => Activation::Polynomial {
            coef: l["coef"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect(),
        },
        "gabor" => Activation::Gabor,
        "numerical" => Activation::Numerical {
            function: dual_activations::registry::by_name(l["fn"].as_str().unwrap()).unwrap(),
            method: dual_activations::NumericalMethod::GaussHermite { deg: n("deg") },
        },
        other => panic!("unknown activation {other}"),
    }
}
