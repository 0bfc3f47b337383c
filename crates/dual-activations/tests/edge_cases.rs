//! Edge cases (zero variance, exactly parallel pairs, huge variances) and bad
//! input: every failure is a typed error, never a panic or a NaN.

mod common;

use common::{closed_forms, gauss_1d, k_is_expectation};
use dual_activations::{
    Activation, DualActivation, DualError, HermiteConvention, NumericalMethod, registry,
};

fn dual(a: Activation) -> DualActivation {
    DualActivation::new(a).expect("valid activation")
}

#[test]
fn zero_variance_gives_the_exact_limit() {
    // With q_x = 0 the pre-activation u is identically 0, so
    // K = σ(0)·E[σ(v)]. stax's angle convention θ = π/2 gives the same for
    // every activation except those discontinuous at 0 (Sign, step), whose
    // value at a zero-variance input is a convention (documented).
    for act in closed_forms() {
        let d = dual(act.clone());
        for qy in [0.0, 0.3, 2.0] {
            let got = d.eval(0.0, qy, 0.0).unwrap();
            assert!(got.k.is_finite() && got.k_dot.is_finite(), "{act:?}");
            if !k_is_expectation(&act)
                || matches!(
                    act,
                    Activation::Sign | Activation::RectifiedMonomial { degree: 0 }
                )
            {
                continue;
            }
            let s0 = act.value(0.0).unwrap();
            let want = s0 * gauss_1d(&|t| act.value(t).unwrap(), qy);
            assert!(
                (got.k - want).abs() <= 1e-12 * want.abs().max(1e-12),
                "{act:?} qy={qy}: {} vs {want}",
                got.k
            );
        }
    }
    // stax's ReLU at a zero input: K = 0 and K̇ = 1/4 (θ = π/2).
    let relu = dual(Activation::Relu).eval(0.0, 0.0, 0.0).unwrap();
    assert_eq!((relu.k, relu.k_dot), (0.0, 0.25));
}

#[test]
fn exactly_parallel_pairs_are_finite_and_continuous() {
    for act in closed_forms() {
        let d = dual(act.clone());
        for (qx, qy) in [(1.0f64, 1.0f64), (0.3, 2.7), (5.0, 5.0)] {
            let b: f64 = (qx * qy).sqrt();
            for sign in [1.0, -1.0] {
                let at = d.eval(qx, qy, sign * b).unwrap();
                assert!(at.k.is_finite() && at.k_dot.is_finite(), "{act:?}");
                // Continuity from inside: within sqrt(1e-10) ≈ 1e-5 relative
                // (θ ∝ sqrt(1 − |ρ|) for the arc-cosine family).
                let near = d.eval(qx, qy, sign * b * (1.0 - 1e-10)).unwrap();
                let (dx, dy) = (d.eval_diag(qx).unwrap(), d.eval_diag(qy).unwrap());
                let scale = (dx.k.abs() * dy.k.abs()).sqrt().max(1e-300);
                assert!(
                    (at.k - near.k).abs() <= 1e-4 * scale,
                    "{act:?} K jumps at ρ = {sign}"
                );
            }
        }
    }
    // RectifiedMonomial of any degree on the diagonal: (2n − 1)!!/2 · qⁿ.
    for n in [0usize, 1, 2, 5, 10, 20] {
        let d = dual(Activation::RectifiedMonomial { degree: n });
        let q = 1.7f64;
        let dfact: f64 = (1..=n as u32).map(|k| f64::from(2 * k - 1)).product();
        let want = dfact / 2.0 * q.powi(n as i32);
        let got = d.eval_diag(q).unwrap().k;
        assert!((got - want).abs() <= 1e-13 * want, "n={n}: {got} vs {want}");
        // And at ρ = −1 the supports of u₊ and v₊ are disjoint.
        let anti = d.eval(q, q, -q).unwrap();
        if n > 0 {
            assert!(anti.k.abs() <= 1e-15 * want, "n={n}: K(ρ=−1) = {}", anti.k);
        }
    }
}

#[test]
fn huge_variances_stay_finite_where_the_kernel_is() {
    let bounded_or_homogeneous = [
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.2 },
        Activation::Abs,
        Activation::Sign,
        Activation::ERF,
        Activation::SigmoidLike,
        Activation::Gelu,
        Activation::SIN,
        Activation::COS,
        Activation::RBF,
        Activation::GAUSSIAN,
        Activation::EXP_NORMALIZED,
        Activation::RectifiedMonomial { degree: 1 },
        Activation::Gabor,
        Activation::Identity,
    ];
    for act in bounded_or_homogeneous {
        let d = dual(act.clone());
        for q in [1e12, 1e200, 1e300] {
            for rho in [0.3, -0.999, 1.0] {
                let got = d
                    .eval(q, 0.5 * q, rho * q / 2f64.sqrt())
                    .unwrap_or_else(|e| panic!("{act:?} q={q}: {e}"));
                assert!(
                    got.k.is_finite() && got.k_dot.is_finite(),
                    "{act:?} q={q} ρ={rho}: {got:?}"
                );
            }
        }
    }
    // Homogeneous kernels scale exactly: ReLU's K(tq) = t K(q).
    let relu = dual(Activation::Relu);
    let small = relu.eval(1.0, 2.0, 0.7).unwrap();
    let big = relu.eval(1e300, 2e300, 0.7e300).unwrap();
    assert!((big.k / 1e300 - small.k).abs() <= 1e-14 * small.k);
    assert!((big.k_dot - small.k_dot).abs() <= 1e-14 * small.k_dot);
    // Gelu at huge variance: K ≈ E[max(u,0)max(v,0)] relative 1e-10.
    let g = dual(Activation::Gelu).eval(1e200, 1e200, 0.3e200).unwrap();
    let r = relu.eval(1e200, 1e200, 0.3e200).unwrap();
    assert!((g.k - r.k).abs() <= 1e-10 * r.k, "{} vs {}", g.k, r.k);
}

#[test]
fn infinite_or_unrepresentable_kernels_are_typed_errors() {
    // Gaussian with b > 0: E[e^{b(u²+v²)}] is infinite once 1 − 2bq ≤ 0, and the
    // diagonal E[e^{2bu²}] once 4bq ≥ 1.
    let g = dual(Activation::Gaussian { a: 1.0, b: 0.25 });
    assert!(matches!(
        g.eval(2.0, 1.0, 0.1),
        Err(DualError::InfiniteExpectation { .. })
    ));
    assert!(matches!(
        g.eval_diag(1.0),
        Err(DualError::InfiniteExpectation { .. })
    ));
    assert!(g.eval_diag(0.99).is_ok());
    assert!(
        g.eval(1.5, 1.5, 0.0).is_ok(),
        "off-diagonal finite while 2bq < 1"
    );
    // Exp overflows f64 although the expectation is finite.
    assert!(matches!(
        dual(Activation::EXP).eval(1e4, 1e4, 0.0),
        Err(DualError::Overflow { .. })
    ));
    assert!(matches!(
        dual(Activation::Monomial { degree: 3 }).eval(1e200, 1e200, 0.0),
        Err(DualError::Overflow { .. })
    ));
    assert!(matches!(
        dual(Activation::Polynomial {
            coef: vec![0.0, 0.0, 1.0]
        })
        .eval(1e200, 1e200, 1e200),
        Err(DualError::Overflow { .. })
    ));
}

#[test]
fn bad_covariances_are_typed_errors() {
    let d = dual(Activation::Relu);
    assert!(matches!(
        d.eval(f64::NAN, 1.0, 0.0),
        Err(DualError::NonFinite { what: "q_x", .. })
    ));
    assert!(matches!(
        d.eval(1.0, f64::INFINITY, 0.0),
        Err(DualError::NonFinite { what: "q_y", .. })
    ));
    assert!(matches!(
        d.eval(1.0, 1.0, f64::NAN),
        Err(DualError::NonFinite { what: "c", .. })
    ));
    assert!(matches!(
        d.eval(-1e-3, 1.0, 0.0),
        Err(DualError::Negative { what: "q_x", .. })
    ));
    assert!(matches!(
        d.eval(1.0, 1.0, 1.0 + 1e-6),
        Err(DualError::CovarianceOutOfRange { .. })
    ));
    assert!(matches!(
        d.eval(0.0, 1.0, 1e-300),
        Err(DualError::CovarianceOutOfRange { .. })
    ));
    // Within rounding the covariance is clamped onto the bound.
    let clamped = d.eval(1.0, 1.0, 1.0 + 1e-13).unwrap();
    assert_eq!(clamped, d.eval(1.0, 1.0, 1.0).unwrap());
    // -0.0 is a zero variance, not a negative one.
    assert!(d.eval(-0.0, 1.0, 0.0).is_ok());
    assert!(matches!(
        d.eval_diag(f64::NAN),
        Err(DualError::NonFinite { .. })
    ));
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let bad = [
        Activation::Erf {
            a: f64::NAN,
            b: 1.0,
            c: 0.0,
        },
        Activation::LeakyRelu {
            alpha: f64::INFINITY,
        },
        Activation::AbRelu {
            a: 1.0,
            b: f64::NAN,
        },
        Activation::Sin {
            a: 1.0,
            b: f64::NAN,
            c: 0.0,
        },
        Activation::Rbf { gamma: -1.0 },
        Activation::Exp {
            a: 1.0,
            b: f64::INFINITY,
        },
        Activation::Gaussian {
            a: f64::NAN,
            b: -1.0,
        },
        Activation::ExpNormalized {
            gamma: f64::NAN,
            shift: -1.0,
            do_clip: false,
        },
        Activation::Polynomial {
            coef: vec![1.0, f64::NAN],
        },
    ];
    for act in bad {
        assert!(
            matches!(
                DualActivation::new(act.clone()),
                Err(DualError::InvalidParameter { .. })
            ),
            "{act:?}"
        );
    }
    let too_big = [
        Activation::Monomial { degree: 151 },
        Activation::RectifiedMonomial { degree: 1000 },
        Activation::Hermite {
            degree: 500,
            convention: HermiteConvention::Exact,
        },
        Activation::Polynomial {
            coef: vec![1.0; 200],
        },
    ];
    for act in too_big {
        assert!(
            matches!(
                DualActivation::new(act.clone()),
                Err(DualError::DegreeOutOfRange { .. })
            ),
            "{act:?}"
        );
    }
    let tanh = registry::by_name("tanh").unwrap();
    for method in [
        NumericalMethod::GaussHermite { deg: 0 },
        NumericalMethod::GaussHermite { deg: 100_000 },
        NumericalMethod::HermiteSeries { degree: 100_000 },
    ] {
        let act = Activation::Numerical {
            function: tanh.clone(),
            method,
        };
        assert!(
            matches!(
                DualActivation::new(act),
                Err(DualError::DegreeOutOfRange { .. })
            ),
            "{method:?}"
        );
    }
    let act = Activation::Numerical {
        function: tanh,
        method: NumericalMethod::Adaptive { abs_tol: 0.0 },
    };
    assert!(matches!(
        DualActivation::new(act),
        Err(DualError::InvalidParameter { .. })
    ));
    assert!(matches!(
        registry::by_name("relu7"),
        Err(DualError::UnknownActivation { .. })
    ));
}

#[test]
fn activations_that_blow_up_give_errors_not_nan() {
    // A user closure that overflows at the quadrature nodes.
    let f = dual_activations::CustomFn::new(
        "explode",
        |t: f64| (t * t * t).exp(),
        |t: f64| 3.0 * t * t * (t * t * t).exp(),
    );
    let act = Activation::Numerical {
        function: f.into_numerical(),
        method: NumericalMethod::GaussHermite { deg: 40 },
    };
    let d = dual(act);
    assert!(matches!(
        d.eval(100.0, 100.0, 10.0),
        Err(DualError::NonFiniteActivation { .. })
    ));
}

#[test]
#[allow(clippy::float_cmp)] // the batched path must be bitwise the scalar one
fn eval_many_equals_eval_bitwise() {
    let pts: Vec<(f64, f64, f64)> = (0..200)
        .map(|i| {
            let t = i as f64 / 200.0;
            let (qx, qy) = (0.05 + 3.0 * t, 2.0 - 1.9 * t);
            (qx, qy, (2.0 * t - 1.0) * (qx * qy).sqrt())
        })
        .chain([(0.0, 1.0, 0.0), (1.0, 1.0, 1.0), (2.0, 2.0, -2.0)])
        // Outside the vectorised ReLU path's preconditions (rescaled
        // variances, a covariance clamped to the Cauchy–Schwarz bound),
        // interleaved with ordinary entries.
        .chain([
            (1e150, 3e150, 1e150),
            (0.7, 0.2, 0.1),
            (1e-150, 1e-150, 1e-151),
        ])
        .chain([(1.0, 1.0, 1.0 + 1e-12), (1.5, 0.5, -0.3), (4.0, 1.0, -2.0)])
        // Zero variances (image positions whose window is all zeros), of
        // either sign, beside ordinary and out-of-range partners.
        .chain([
            (-0.0, 2.0, 0.0),
            (0.0, 0.0, 0.0),
            (3.0, 0.0, -0.0),
            (-0.0, -0.0, -0.0),
            (0.0, 1e-120, 0.0),
            (0.0, 1e120, 0.0),
        ])
        // Long runs of zero variances, as whole rows of image positions
        // whose window is all zeros give: a zero on either side, zeros of
        // both signs, partners ordinary, zero and out of range (redone one
        // by one); then an ordinary entry and another run.
        .chain((0..40).map(|i| {
            let zero = if i % 3 == 0 { -0.0 } else { 0.0 };
            let partner = [2.0, 0.0, 1e-120, 1e120, -0.0, 0.3][i % 6];
            let c = if i % 2 == 0 { 0.0 } else { -0.0 };
            if i < 20 {
                (zero, partner, c)
            } else {
                (partner, zero, c)
            }
        }))
        .chain([(1.0, 2.0, 0.5)])
        .chain((0..17).map(|i| (0.0, 1.0 + i as f64, 0.0)))
        // Past the 256th entry: the batch is checked piece by piece, and
        // an entry to redo in a later piece must be found there too.
        .chain([(1e150, 3e150, 1e150), (1.0, 1.0, 1.0 + 1e-12)])
        .collect();
    assert!(pts.len() > 256);
    let (qx, qy, c): (Vec<f64>, Vec<f64>, Vec<f64>) = (
        pts.iter().map(|p| p.0).collect(),
        pts.iter().map(|p| p.1).collect(),
        pts.iter().map(|p| p.2).collect(),
    );
    let slopes = [
        Activation::AbRelu { a: 1e150, b: 2.0 },
        Activation::LeakyRelu { alpha: -1e99 },
    ];
    for act in closed_forms().into_iter().chain(slopes) {
        let d = dual(act.clone());
        let (mut k, mut kd) = (vec![0.0; pts.len()], vec![0.0; pts.len()]);
        let batched = d.eval_many(&qx, &qy, &c, &mut k, &mut kd);
        let single: Result<Vec<_>, _> = pts.iter().map(|&(x, y, cc)| d.eval(x, y, cc)).collect();
        match (batched, single) {
            (Ok(()), Ok(s)) => {
                for (i, v) in s.iter().enumerate() {
                    assert_eq!(
                        (k[i].to_bits(), kd[i].to_bits()),
                        (v.k.to_bits(), v.k_dot.to_bits()),
                        "{act:?} at {:?}: {} {} vs {} {}",
                        pts[i],
                        k[i],
                        kd[i],
                        v.k,
                        v.k_dot
                    );
                }
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{act:?}"),
            (a, b) => panic!("{act:?}: batched {a:?} vs single {:?}", b.map(|_| ())),
        }
    }
    let d = dual(Activation::Relu);
    let (mut k, mut kd) = (vec![0.0; 2], vec![0.0; 2]);
    assert!(matches!(
        d.eval_many(&[1.0], &[1.0, 2.0], &[0.0, 0.0], &mut k, &mut kd),
        Err(DualError::LengthMismatch { .. })
    ));
    assert!(matches!(
        d.eval_many(&[1.0, f64::NAN], &[1.0, 2.0], &[0.0, 0.0], &mut k, &mut kd),
        Err(DualError::NonFinite { .. })
    ));
}

/// Near-parallel pairs `c = sqrt(q_x q_y)(1 − kε)`: the rectified monomials
/// must be as accurate as the arc-cosine closed forms there. The degree-1
/// moment is Relu's kernel and the degree-2 one the arc-cosine kernel
/// `J₂(θ) = 3 sinθ cosθ + (π − θ)(1 + 2cos²θ)` over 2π; both references are
/// computed from θ = atan2(sqrt(det), c) directly. Near ρ = 1 the inputs'
/// own rounding moves K by a few ulp only (dK/dρ is finite), so 8ε of the
/// value is the bound; a ρ-only formula (asin of a clamped ρ beside
/// sqrt(det)) missed it by ~1e-9 and made the next layer's covariance exceed
/// sqrt(q_x q_y) beyond COV_REL_TOL.
#[test]
fn rectified_monomials_are_accurate_next_to_the_diagonal() {
    let relu = dual(Activation::Relu);
    let rm1 = dual(Activation::RectifiedMonomial { degree: 1 });
    let rm2 = dual(Activation::RectifiedMonomial { degree: 2 });
    let eps = f64::EPSILON;
    for &(qx, qy) in &[
        (1.0, 1.0),
        (2.5, 2.5),
        (0.7, 1.9),
        (9.978_536_7, 9.978_536_7),
    ] {
        let sp = f64::sqrt(qx * qy);
        for k in 0..2000u32 {
            let c = sp * (1.0 - f64::from(k) * eps);
            let det = (qx * qy - c * c).max(0.0);
            let theta = det.sqrt().atan2(c);
            let (st, ct) = (theta.sin(), theta.cos());
            let r = relu.eval(qx, qy, c).unwrap();
            let a = rm1.eval(qx, qy, c).unwrap();
            assert!(
                (a.k - r.k).abs() <= 8.0 * eps * r.k,
                "k={k}: {} vs {}",
                a.k,
                r.k
            );
            assert!((a.k_dot - r.k_dot).abs() <= 8.0 * eps * r.k_dot);
            let j2 = 3.0 * st * ct + (std::f64::consts::PI - theta) * (1.0 + 2.0 * ct * ct);
            let want = qx * qy * j2 / (2.0 * std::f64::consts::PI);
            let b = rm2.eval(qx, qy, c).unwrap();
            assert!(
                (b.k - want).abs() <= 8.0 * eps * want,
                "k={k}: {} vs {want}",
                b.k
            );
            // The next layer's input: never above sqrt(K_x K_y) beyond rounding.
            let (kx, ky) = (rm1.eval_diag(qx).unwrap().k, rm1.eval_diag(qy).unwrap().k);
            assert!(a.k <= f64::sqrt(kx * ky) * (1.0 + 8.0 * eps));
        }
    }
}
