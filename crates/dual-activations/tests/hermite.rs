//! Hermite coefficients: closed forms against quadrature, series sums
//! against closed-form kernels (within the Parseval bound), Stein's identity,
//! and the reference values of Han et al. 2022.

use dual_activations::{
    Activation, CustomFn, DualActivation, DualError, HermiteCoeffs, HermiteConvention,
    NumericalMethod, registry,
};

fn dual(a: Activation) -> DualActivation {
    DualActivation::new(a).expect("valid activation")
}

/// The same pointwise function, but integrated numerically.
fn as_numerical(a: &Activation, method: NumericalMethod) -> DualActivation {
    let (f, df) = (a.clone(), a.clone());
    let custom = CustomFn::new(
        a.stax_name(),
        move |t| f.value(t).unwrap(),
        move |t| df.derivative(t).unwrap(),
    )
    .with_kinks(a.kinks());
    dual(Activation::Numerical {
        function: custom.into_numerical(),
        method,
    })
}

fn with_closed_coefficients() -> Vec<Activation> {
    vec![
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::AbRelu { a: -0.3, b: 1.1 },
        Activation::Abs,
        Activation::Sign,
        Activation::RectifiedMonomial { degree: 0 },
        Activation::Monomial { degree: 4 },
        Activation::Polynomial {
            coef: vec![-0.1, 2.1, 0.0, 0.3, -1.2, -0.5],
        },
        Activation::Hermite {
            degree: 5,
            convention: HermiteConvention::Exact,
        },
        Activation::Sin {
            a: 1.2,
            b: 0.8,
            c: 0.3,
        },
        Activation::COS,
        Activation::Rbf { gamma: 0.7 },
        Activation::Exp { a: 0.5, b: 0.6 },
    ]
}

#[test]
fn closed_form_coefficients_match_quadrature() {
    // Both sides target 1e-14 of ‖σ(r·)‖; allow 1e-12 for the panels at kinks.
    let method = NumericalMethod::HermiteSeries { degree: 30 };
    for act in with_closed_coefficients() {
        let closed = dual(act.clone());
        let numeric = as_numerical(&act, method);
        for r in [0.3, 1.0, 2.2] {
            let a = HermiteCoeffs::new(&closed, r, 30).unwrap();
            let b = HermiteCoeffs::new(&numeric, r, 30).unwrap();
            let s = a.second_moment().sqrt().max(1e-300);
            for (l, (x, y)) in a.values().iter().zip(b.values()).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-12 * s,
                    "{act:?} r={r} c_{l}: closed {x} vs quadrature {y}"
                );
            }
            let sd = a.derivative_second_moment().sqrt().max(1e-300);
            for (l, (x, y)) in a
                .derivative_values()
                .iter()
                .zip(b.derivative_values())
                .enumerate()
            {
                assert!(
                    (x - y).abs() <= 1e-12 * sd,
                    "{act:?} r={r} ċ_{l}: closed {x} vs quadrature {y}"
                );
            }
            assert!(
                (a.second_moment() - b.second_moment()).abs()
                    <= 1e-12 * a.second_moment().max(1e-300)
            );
        }
    }
}

#[test]
fn series_sums_match_closed_forms_within_their_bound() {
    let acts = [
        Activation::Relu,
        Activation::Abs,
        Activation::Erf {
            a: 1.3,
            b: 0.7,
            c: 0.2,
        },
        Activation::Gelu,
        Activation::SigmoidLike,
        Activation::Sin {
            a: 1.2,
            b: 0.8,
            c: 0.3,
        },
        Activation::Gaussian { a: 1.5, b: -0.4 },
        Activation::Gabor,
        Activation::RectifiedMonomial { degree: 2 },
        Activation::EXP_NORMALIZED,
        Activation::Polynomial {
            coef: vec![-0.1, 2.1, 0.0, 0.3, -1.2, -0.5],
        },
    ];
    for act in acts {
        let d = dual(act.clone());
        for (qx, qy, rho) in [
            (1.0, 1.0, 0.3),
            (0.7, 1.6, -0.5),
            (2.89, 0.36, 0.35),
            (4.0, 0.25, 0.95),
        ] {
            let (rx, ry) = (f64::sqrt(qx), f64::sqrt(qy));
            let cx = HermiteCoeffs::new(&d, rx, 40).unwrap();
            let cy = HermiteCoeffs::new(&d, ry, 40).unwrap();
            let series = cx.dual_with(&cy, rho).unwrap();
            let bound = cx.error_bound(&cy);
            let exact = d.eval(qx, qy, rho * rx * ry).unwrap();
            let slack = 1e-12 * (cx.second_moment() * cy.second_moment()).sqrt();
            assert!(
                (series.k - exact.k).abs() <= bound.k + slack,
                "{act:?} {qx},{qy},{rho}: {} vs {} (bound {})",
                series.k,
                exact.k,
                bound.k
            );
            if !matches!(act, Activation::Sign) {
                let slack_d =
                    1e-12 * (cx.derivative_second_moment() * cy.derivative_second_moment()).sqrt();
                assert!(
                    (series.k_dot - exact.k_dot).abs() <= bound.k_dot + slack_d,
                    "{act:?} {qx},{qy},{rho}: K̇ {} vs {} (bound {})",
                    series.k_dot,
                    exact.k_dot,
                    bound.k_dot
                );
            }
        }
    }
}

#[test]
fn gelu_coefficients_and_norm_dependence_match_han_et_al() {
    // docs/SOURCES.md §P2.2: normalized GeLU coefficients (8 digits, by quadrature).
    let gelu = dual(Activation::Gelu);
    let c = HermiteCoeffs::new(&gelu, 1.0, 8).unwrap();
    let want = [
        0.28209479,
        0.5,
        0.29920671,
        0.0,
        -0.07197795,
        0.0,
        0.02759676,
        0.0,
        -0.01185355,
    ];
    for (l, (g, w)) in c.values().iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 5e-9, "c_{l} = {g}, paper {w}");
    }
    // §3.2: r_x = 1.7, r_y = 0.6, ρ = 0.35, exact K = 0.170910294; direct
    // per-norm coefficients reach 2.3e-10 at q = 8 and 1e-13 at q = 12.
    let exact = gelu.eval(1.7 * 1.7, 0.36, 0.35 * 1.7 * 0.6).unwrap().k;
    assert!((exact - 0.170910294).abs() <= 5e-10);
    for (q, err) in [(8usize, 5e-10), (12, 1e-12), (20, 1e-14)] {
        let cx = HermiteCoeffs::new(&gelu, 1.7, q).unwrap();
        let cy = HermiteCoeffs::new(&gelu, 0.6, q).unwrap();
        let k = cx.dual_with(&cy, 0.35).unwrap().k;
        assert!(
            (k - exact).abs() <= err,
            "q={q}: error {:e}",
            (k - exact).abs()
        );
    }
}

#[test]
fn derivative_coefficients_obey_stein() {
    // ċ_ℓ(r) = sqrt(ℓ+1) c_{ℓ+1}(r)/r for absolutely continuous σ.
    let acts = [
        Activation::Gelu,
        Activation::ERF,
        Activation::Relu,
        Activation::Abs,
        Activation::Gabor,
        Activation::numerical("tanh").unwrap(),
        Activation::numerical("softplus").unwrap(),
        Activation::numerical("hard_tanh").unwrap(),
    ];
    for act in acts {
        let d = dual(act.clone());
        for r in [0.7, 2.3] {
            let h = HermiteCoeffs::new(&d, r, 25).unwrap();
            let s = h.derivative_second_moment().sqrt();
            for l in 0..24 {
                let stein = ((l + 1) as f64).sqrt() * h.values()[l + 1] / r;
                assert!(
                    (h.derivative_values()[l] - stein).abs() <= 1e-12 * s,
                    "{act:?} r={r} ℓ={l}"
                );
            }
        }
    }
}

#[test]
fn tails_decrease_and_choose_degrees() {
    let gelu = dual(Activation::Gelu);
    let tails: Vec<f64> = [2usize, 4, 8, 16, 32]
        .iter()
        .map(|&q| HermiteCoeffs::new(&gelu, 1.3, q).unwrap().tail())
        .collect();
    assert!(
        tails.windows(2).all(|w| w[1] < w[0]),
        "tail must decrease with the degree: {tails:?}"
    );
    // GeLU is entire: its coefficients decay geometrically, so doubling the
    // degree from 16 to 32 divides the tail by far more than ReLU's 2^1.5.
    assert!(tails[3] / tails[4] > 100.0, "{tails:?}");
    let q = HermiteCoeffs::degree_for(&gelu, 1.3, 1e-8, 100).unwrap();
    let h = HermiteCoeffs::new(&gelu, 1.3, q).unwrap();
    assert!(h.tail() <= 1e-8 * h.second_moment());
    let lower = HermiteCoeffs::new(&gelu, 1.3, q - 1).unwrap();
    assert!(
        lower.tail() > 1e-8 * lower.second_moment()
            || lower.derivative_tail() > 1e-8 * lower.derivative_second_moment()
    );
    // ReLU: c_ℓ² ~ ℓ^{-5/2}, so the tail decays only like q^{-3/2}.
    let relu = dual(Activation::Relu);
    let t16 = HermiteCoeffs::new(&relu, 1.0, 16).unwrap().tail();
    let t64 = HermiteCoeffs::new(&relu, 1.0, 64).unwrap().tail();
    assert!(
        t16 / t64 > 5.0 && t16 / t64 < 12.0,
        "ratio {} ≈ 4^1.5 = 8",
        t16 / t64
    );
}

#[test]
fn numerical_hermite_series_matches_closed_forms() {
    for (name, closed) in [
        ("gelu", Activation::Gelu),
        ("erf", Activation::ERF),
        ("relu", Activation::Relu),
    ] {
        let series = dual(Activation::Numerical {
            function: registry::by_name(name).unwrap(),
            method: NumericalMethod::HermiteSeries { degree: 60 },
        });
        let c = dual(closed);
        for (qx, qy, cc) in [(1.0, 1.0, 0.3), (0.7, 1.6, -0.5), (3.0, 0.4, 0.9)] {
            let a = series.eval(qx, qy, cc).unwrap();
            let b = c.eval(qx, qy, cc).unwrap();
            // Degree 60: GeLU/erf tails < 1e-13; ReLU's tail ~ 60^{-3/2}·1e-2 ≈ 3e-5
            // at |ρ| = 1, and |ρ|^60 at these correlations makes it far smaller.
            let tol = if name == "relu" { 1e-6 } else { 1e-11 };
            assert!(
                (a.k - b.k).abs() <= tol,
                "{name} ({qx},{qy},{cc}): {} vs {}",
                a.k,
                b.k
            );
            assert!(
                (a.k_dot - b.k_dot).abs() <= tol * 10.0,
                "{name}: K̇ {} vs {}",
                a.k_dot,
                b.k_dot
            );
        }
    }
}

#[test]
fn zero_norm_and_bad_input() {
    let gelu = dual(Activation::Gelu);
    let h = HermiteCoeffs::new(&gelu, 0.0, 5).unwrap();
    assert_eq!(h.values(), &[0.0; 6]);
    assert_eq!(h.derivative_values()[0], 0.5);
    let tanh = dual(Activation::numerical("softplus").unwrap());
    let h = HermiteCoeffs::new(&tanh, 0.0, 3).unwrap();
    assert!((h.values()[0] - std::f64::consts::LN_2).abs() < 1e-15);
    assert!(matches!(
        HermiteCoeffs::new(&gelu, f64::NAN, 3),
        Err(DualError::NonFinite { .. })
    ));
    assert!(matches!(
        HermiteCoeffs::new(&gelu, -1.0, 3),
        Err(DualError::Negative { .. })
    ));
    let en = dual(Activation::ExpNormalized {
        gamma: -1.0,
        shift: 0.0,
        do_clip: false,
    });
    assert!(matches!(
        HermiteCoeffs::new(&en, 1.0, 3),
        Err(DualError::NoPointwiseFunction { .. })
    ));
    let a = HermiteCoeffs::new(&gelu, 1.0, 3).unwrap();
    assert!(matches!(
        a.dual_with(&a, 1.5),
        Err(DualError::CorrelationOutOfRange { .. })
    ));
    assert!(matches!(
        a.dual_with(&a, f64::NAN),
        Err(DualError::NonFinite { .. })
    ));
}
