//! Numerically evaluated activations: the registry's definitions, the three
//! evaluation methods against each other and against closed forms, and
//! neural-tangents' 150-point values.

mod common;

use common::{depth_one_kernels, matrix};
use dual_activations::{Activation, CustomFn, DualActivation, NumericalMethod, ScalarFn, registry};

fn numerical(name: &str, method: NumericalMethod) -> DualActivation {
    DualActivation::new(Activation::Numerical {
        function: registry::by_name(name).unwrap(),
        method,
    })
    .unwrap()
}

const SMOOTH: &[&str] = &[
    "tanh",
    "sigmoid",
    "softplus",
    "silu",
    "log_sigmoid",
    "mish",
    "gelu_tanh",
    "erf",
    "gelu",
    "sin",
    "gaussian",
];
const KINKED: &[&str] = &[
    "elu",
    "selu",
    "celu",
    "relu6",
    "softsign",
    "hard_tanh",
    "hard_sigmoid",
    "hard_silu",
    "relu",
    "leaky_relu",
    "abs",
];

#[test]
fn registry_derivatives_match_finite_differences() {
    // Fourth-order stencil, h = 1e-4: truncation ~h⁴σ⁽⁵⁾ ≈ 1e-16, rounding
    // ≈ ε|σ|/h ≈ 1e-12; the points stay 1e-3 away from every kink.
    for name in registry::names() {
        let f = registry::by_name(name).unwrap();
        let f = f.inner();
        for t in [-4.1, -2.3, -0.7, 0.4, 1.9, 4.5, 7.2] {
            let h = 1e-4;
            let fd = (-f.value(t + 2.0 * h) + 8.0 * f.value(t + h) - 8.0 * f.value(t - h)
                + f.value(t - 2.0 * h))
                / (12.0 * h);
            assert!(
                (f.derivative(t) - fd).abs() <= 1e-9 * (1.0 + fd.abs()),
                "{name}'({t}) = {} vs {fd}",
                f.derivative(t)
            );
        }
    }
    assert!(registry::by_name("swish").is_ok() && registry::by_name("hard_swish").is_ok());
}

#[test]
fn numerical_derivative_of_a_closure_is_accurate() {
    let f = CustomFn::without_derivative("tanh", f64::tanh);
    for t in [-3.0f64, -0.5, 0.0, 0.8, 2.5] {
        let want = 1.0 - t.tanh().powi(2);
        assert!((f.derivative(t) - want).abs() <= 1e-10, "{t}");
    }
}

#[test]
fn adaptive_reproduces_closed_forms_even_at_kinks() {
    // Splitting at the kinks keeps the nested quadrature at ~1e-12 for ReLU,
    // |t| and the leaky ReLU, where fixed Gauss–Hermite rules stall at ~1e-4.
    let pairs = [
        ("relu", Activation::Relu),
        ("abs", Activation::Abs),
        ("leaky_relu", Activation::LeakyRelu { alpha: 0.01 }),
        ("erf", Activation::ERF),
        ("gelu", Activation::Gelu),
        ("sin", Activation::SIN),
        ("gaussian", Activation::Gaussian { a: 1.0, b: -0.5 }),
    ];
    for (name, closed) in pairs {
        let adaptive = numerical(name, NumericalMethod::Adaptive { abs_tol: 1e-12 });
        let exact = DualActivation::new(closed).unwrap();
        for (qx, qy, c) in [(1.0, 1.0, 0.3), (0.7, 1.6, -0.5), (3.0, 0.4, 1.0)] {
            let a = adaptive.eval(qx, qy, c).unwrap();
            let b = exact.eval(qx, qy, c).unwrap();
            let (dx, dy) = (exact.eval_diag(qx).unwrap(), exact.eval_diag(qy).unwrap());
            let s = (dx.k * dy.k).sqrt();
            let sd = (dx.k_dot * dy.k_dot).sqrt();
            assert!(
                (a.k - b.k).abs() <= 1e-11 * s,
                "{name} ({qx},{qy},{c}): {} vs {}",
                a.k,
                b.k
            );
            assert!(
                (a.k_dot - b.k_dot).abs() <= 1e-11 * sd,
                "{name} ({qx},{qy},{c}): K̇ {} vs {}",
                a.k_dot,
                b.k_dot
            );
        }
    }
}

#[test]
fn methods_agree_on_smooth_activations() {
    // 150-point Gauss–Hermite is accurate to ~1e-9 for these on moderate
    // variances (conventions.md §6: neural-tangents' *_deg_hi values), the
    // adaptive reference to ~1e-12 and the degree-80 series to its tail.
    for &name in SMOOTH {
        let gh = numerical(name, NumericalMethod::GaussHermite { deg: 150 });
        let ad = numerical(name, NumericalMethod::Adaptive { abs_tol: 1e-12 });
        let hs = numerical(name, NumericalMethod::HermiteSeries { degree: 80 });
        for (qx, qy, c) in [(1.0, 1.0, 0.3), (0.7, 1.6, -0.5), (2.0, 0.5, 0.99)] {
            let a = ad.eval(qx, qy, c).unwrap();
            let g = gh.eval(qx, qy, c).unwrap();
            let h = hs.eval(qx, qy, c).unwrap();
            let (dx, dy) = (ad.eval_diag(qx).unwrap(), ad.eval_diag(qy).unwrap());
            let s = (dx.k * dy.k).sqrt().max(1e-300);
            let sd = (dx.k_dot * dy.k_dot).sqrt().max(1e-300);
            assert!(
                (a.k - g.k).abs() <= 1e-8 * s,
                "{name}: adaptive {} vs GH150 {}",
                a.k,
                g.k
            );
            assert!(
                (a.k_dot - g.k_dot).abs() <= 1e-8 * sd,
                "{name}: adaptive K̇ {} vs GH150 {}",
                a.k_dot,
                g.k_dot
            );
            assert!(
                (a.k - h.k).abs() <= 1e-9 * s,
                "{name}: adaptive {} vs series {}",
                a.k,
                h.k
            );
            assert!(
                (a.k_dot - h.k_dot).abs() <= 1e-8 * sd,
                "{name}: adaptive K̇ {} vs series {}",
                a.k_dot,
                h.k_dot
            );
        }
    }
}

#[test]
fn kinked_activations_series_and_adaptive_agree_within_the_tail_bound() {
    for &name in KINKED {
        let ad = numerical(name, NumericalMethod::Adaptive { abs_tol: 1e-12 });
        let act = ad.clone();
        for (qx, qy, c) in [(1.0, 1.0, 0.3), (0.7, 1.6, -0.5)] {
            let a = ad.eval(qx, qy, c).unwrap();
            let cx = dual_activations::HermiteCoeffs::new(&act, f64::sqrt(qx), 120).unwrap();
            let cy = dual_activations::HermiteCoeffs::new(&act, f64::sqrt(qy), 120).unwrap();
            let rho = c / f64::sqrt(qx * qy);
            let h = cx.dual_with(&cy, rho).unwrap();
            let bound = cx.error_bound(&cy);
            assert!(
                (a.k - h.k).abs() <= bound.k + 1e-11,
                "{name}: {} vs {} (bound {})",
                a.k,
                h.k,
                bound.k
            );
            assert!(
                (a.k_dot - h.k_dot).abs() <= bound.k_dot + 1e-11,
                "{name}: K̇ {} vs {}",
                a.k_dot,
                h.k_dot
            );
        }
    }
}

#[test]
fn gauss_hermite_150_matches_neural_tangents_deg_hi() {
    // neural-tangents' ElementwiseNumerical with deg = 150 (the *_deg_hi
    // fields): the same rule, so agreement to rounding (1e-12 of the max).
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/neural_tangents"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("fc_num_")
        {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let layers = v["architecture"]["layers"].as_array().unwrap();
        let w = layers[0]["W_std"].as_f64().unwrap();
        let b = layers[0]["b_std"].as_f64().unwrap_or(0.0);
        let name = layers[1]["fn"].as_str().unwrap();
        let deg = v["deg_hi"].as_u64().unwrap() as usize;
        let d = numerical(name, NumericalMethod::GaussHermite { deg });
        let (x1, x2) = (matrix(&v["x1"]), matrix(&v["x2"]));
        let (nngp, ntk) = (matrix(&v["nngp_deg_hi"]), matrix(&v["ntk_deg_hi"]));
        let max = |m: &Vec<Vec<f64>>| m.iter().flatten().fold(0.0f64, |acc, v| acc.max(v.abs()));
        let (mn, mt) = (max(&nngp), max(&ntk));
        let (g_nngp, g_ntk, _) = depth_one_kernels(&d, w, b, &x1, &x2);
        for i in 0..x1.len() {
            for j in 0..x2.len() {
                assert!(
                    (g_nngp[i][j] - nngp[i][j]).abs() <= 1e-12 * mn,
                    "{path:?} [{i}][{j}] {} vs {}",
                    g_nngp[i][j],
                    nngp[i][j]
                );
                assert!(
                    (g_ntk[i][j] - ntk[i][j]).abs() <= 1e-12 * mt,
                    "{path:?} [{i}][{j}] {} vs {}",
                    g_ntk[i][j],
                    ntk[i][j]
                );
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 16);
}

#[test]
fn a_zero_variance_factorises_in_every_method() {
    // With q_x = 0 the first pre-activation is 0, so K = σ(0)·E[σ(√q z)] and
    // K̇ = σ'(0)·E[σ'(√q z)]. Softplus: σ(0) = ln 2, σ'(0) = 1/2, and
    // E[softplus(√q z)] has no symmetry that would hide a wrong node or
    // scale (a mutated Gauss–Hermite node t = r/x instead of r·x fails by
    // more than 10 %). The oracle integrates against the normal density with
    // the composite Simpson rule, 24 001 points on [−12, 12]: the integrand
    // is smooth and its fourth derivative bounded by about 1, so the error is
    // below (24/24 000)⁴·24/180 ≈ 1e−13, and the tails beyond 12σ are below
    // 1e−30.
    let f = registry::by_name("softplus").unwrap();
    let softplus = |t: f64| f.inner().value(t);
    let sigmoid = |t: f64| f.inner().derivative(t);
    let simpson = |g: &dyn Fn(f64) -> f64| {
        let (n, a, b) = (24_000usize, -12.0f64, 12.0f64);
        let h = (b - a) / n as f64;
        let pdf = |z: f64| (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let s: f64 = (0..=n)
            .map(|i| {
                let z = a + i as f64 * h;
                let w = if i == 0 || i == n {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                w * g(z) * pdf(z)
            })
            .sum();
        s * h / 3.0
    };
    for q in [0.4, 1.0, 2.5] {
        let r = f64::sqrt(q);
        let k = std::f64::consts::LN_2 * simpson(&|z| softplus(r * z));
        let kd = 0.5 * simpson(&|z| sigmoid(r * z));
        for method in [
            NumericalMethod::GaussHermite { deg: 150 },
            NumericalMethod::Adaptive { abs_tol: 1e-12 },
            NumericalMethod::HermiteSeries { degree: 80 },
        ] {
            let d = numerical("softplus", method);
            for (qx, qy) in [(0.0, q), (q, 0.0)] {
                let got = d.eval(qx, qy, 0.0).unwrap();
                // GH150 and the adaptive rule reach 1e−9 on these smooth
                // integrands (the test above); the degree-80 series' tail
                // is below 1e−8 of K here.
                assert!(
                    (got.k - k).abs() <= 1e-8 * k,
                    "{method:?} ({qx}, {qy}): K {} vs {k}",
                    got.k
                );
                assert!(
                    (got.k_dot - kd).abs() <= 1e-8 * kd,
                    "{method:?} ({qx}, {qy}): K̇ {} vs {kd}",
                    got.k_dot
                );
                // The NNGP alone is the same evaluation's K.
                assert_eq!(d.nngp(qx, qy, 0.0).unwrap().to_bits(), got.k.to_bits());
            }
        }
    }
}

#[test]
fn kinks_are_where_the_activation_breaks() {
    // The kinks are the quadrature's breakpoints: a missing or misplaced
    // one leaves a jump inside a panel. Closed forms with a kink at 0, smooth
    // ones without, and a registry function's own list.
    for a in [
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Abs,
        Activation::Sign,
        Activation::RectifiedMonomial { degree: 2 },
    ] {
        assert_eq!(a.kinks(), vec![0.0], "{a:?}");
    }
    for a in [
        Activation::Gelu,
        Activation::Erf {
            a: 1.0,
            b: 1.0,
            c: 0.0,
        },
        Activation::Identity,
    ] {
        assert!(a.kinks().is_empty(), "{a:?}");
    }
    let relu6 = Activation::Numerical {
        function: registry::by_name("relu6").unwrap(),
        method: NumericalMethod::GaussHermite { deg: 40 },
    };
    assert_eq!(relu6.kinks(), vec![0.0, 6.0]);
    let tanh = Activation::Numerical {
        function: registry::by_name("tanh").unwrap(),
        method: NumericalMethod::GaussHermite { deg: 40 },
    };
    assert!(tanh.kinks().is_empty());
}
