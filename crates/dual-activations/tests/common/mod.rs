//! Test oracles written independently of the library: a polar-coordinate
//! bivariate Gaussian integrator, a one-dimensional Gaussian integrator and a
//! Jacobi eigenvalue routine.
#![allow(dead_code, unreachable_pub, clippy::needless_range_loop)]

use dual_activations::{Activation, HermiteConvention};
use std::f64::consts::PI;

/// Gauss–Legendre nodes/weights on [-1, 1] by Golub–Welsch-free Newton
/// iteration (a separate implementation from the library's).
pub fn legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n {
        let mut z = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut d = 0.0;
        for _ in 0..60 {
            let mut p = [1.0, z];
            for k in 2..=n {
                let kf = k as f64;
                p = [p[1], ((2.0 * kf - 1.0) * z * p[1] - (kf - 1.0) * p[0]) / kf];
            }
            d = n as f64 * (z * p[1] - p[0]) / (z * z - 1.0);
            z -= p[1] / d;
        }
        x[i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * d * d);
    }
    (x, w)
}

/// Composite Gauss–Legendre over `[a, b]` with `panels` equal panels.
pub fn composite(
    f: &mut dyn FnMut(f64) -> f64,
    a: f64,
    b: f64,
    panels: usize,
    rule: &(Vec<f64>, Vec<f64>),
) -> f64 {
    let h = (b - a) / panels as f64;
    let mut s = 0.0;
    for p in 0..panels {
        let lo = a + p as f64 * h;
        for (x, w) in rule.0.iter().zip(&rule.1) {
            s += w * 0.5 * h * f(lo + 0.5 * h * (x + 1.0));
        }
    }
    s
}

/// `E[f(u) g(v)]` for `(u, v) ~ N(0, [[qx, c], [c, qy]])`, with `f` and `g`
/// smooth except at 0, in polar coordinates: `u = sqrt(qx) R cos φ`,
/// `v = sqrt(qy) R cos(φ − θ)`, `cos θ = ρ`. The angular integral is split at
/// the four angles where `u` or `v` vanishes, so each piece is smooth.
pub fn polar_expectation(
    f: &dyn Fn(f64) -> f64,
    g: &dyn Fn(f64) -> f64,
    qx: f64,
    qy: f64,
    c: f64,
) -> f64 {
    let rule = legendre(24);
    let (sx, sy) = (qx.sqrt(), qy.sqrt());
    let rho = if sx * sy > 0.0 {
        (c / (sx * sy)).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let th = rho.acos();
    let two_pi = 2.0 * PI;
    let mut cuts: Vec<f64> = [PI / 2.0, 1.5 * PI, th + PI / 2.0, th + 1.5 * PI]
        .iter()
        .map(|a| a.rem_euclid(two_pi))
        .collect();
    cuts.push(0.0);
    cuts.push(two_pi);
    cuts.sort_by(f64::total_cmp);
    cuts.dedup_by(|a, b| (*a - *b).abs() < 1e-15);
    let mut total = 0.0;
    // Up to R = 40: Gaussian(b > 0) integrands decay only like e^{-(1/2 - b q)R²}.
    let r_max = 40.0;
    let r_panels = 40;
    for seg in cuts.windows(2) {
        let (lo, hi) = (seg[0], seg[1]);
        if hi - lo < 1e-15 {
            continue;
        }
        let mut ang = |phi: f64| {
            let (cu, cv) = (phi.cos(), (phi - th).cos());
            composite(
                &mut |r: f64| r * (-0.5 * r * r).exp() * f(sx * r * cu) * g(sy * r * cv),
                0.0,
                r_max,
                r_panels,
                &rule,
            )
        };
        total += composite(&mut ang, lo, hi, 3, &rule);
    }
    total / two_pi
}

/// `E[f(√q z)]` for a function smooth except at 0.
pub fn gauss_1d(f: &dyn Fn(f64) -> f64, q: f64) -> f64 {
    let rule = legendre(24);
    let s = q.sqrt();
    let mut h = |z: f64| f(s * z) * (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
    composite(&mut h, -40.0, 0.0, 40, &rule) + composite(&mut h, 0.0, 40.0, 40, &rule)
}

/// Eigenvalues of a small symmetric matrix by cyclic Jacobi rotations.
pub fn sym_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let cs = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * cs;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = cs * akp - sn * akq;
                    a[k][q] = sn * akp + cs * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = cs * apk - sn * aqk;
                    a[q][k] = sn * apk + cs * aqk;
                }
            }
        }
    }
    (0..n).map(|i| a[i][i]).collect()
}

/// Every closed-form activation, with non-default parameters where stax has them.
pub fn closed_forms() -> Vec<Activation> {
    vec![
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::LeakyRelu { alpha: -0.3 },
        Activation::AbRelu { a: -0.3, b: 1.1 },
        Activation::Abs,
        Activation::Sign,
        Activation::ERF,
        Activation::Erf {
            a: 1.3,
            b: 0.7,
            c: 0.2,
        },
        Activation::SigmoidLike,
        Activation::Gelu,
        Activation::Sin {
            a: 1.2,
            b: 0.8,
            c: 0.3,
        },
        Activation::COS,
        Activation::Rbf { gamma: 0.7 },
        Activation::Exp { a: 0.5, b: 0.6 },
        Activation::GAUSSIAN,
        Activation::Gaussian { a: 1.5, b: -0.4 },
        Activation::Gaussian { a: 0.7, b: 0.02 },
        Activation::EXP_NORMALIZED,
        Activation::ExpNormalized {
            gamma: 2.5,
            shift: -1.0,
            do_clip: true,
        },
        Activation::Hermite {
            degree: 0,
            convention: HermiteConvention::Exact,
        },
        Activation::Hermite {
            degree: 3,
            convention: HermiteConvention::Exact,
        },
        Activation::Hermite {
            degree: 6,
            convention: HermiteConvention::Exact,
        },
        Activation::Hermite {
            degree: 3,
            convention: HermiteConvention::NeuralTangents,
        },
        Activation::Monomial { degree: 0 },
        Activation::Monomial { degree: 2 },
        Activation::Monomial { degree: 5 },
        Activation::Monomial { degree: 9 },
        Activation::RectifiedMonomial { degree: 0 },
        Activation::RectifiedMonomial { degree: 1 },
        Activation::RectifiedMonomial { degree: 2 },
        Activation::RectifiedMonomial { degree: 5 },
        Activation::RectifiedMonomial { degree: 8 },
        Activation::Polynomial {
            coef: vec![-0.1, 2.1, 0.0, 0.3, -1.2, -0.5],
        },
        Activation::Polynomial { coef: vec![] },
        Activation::Gabor,
    ]
}

/// Whether the library's `K̇` is a true expectation `E[σ'(u)σ'(v)]` (stax
/// zeroes it for Sign and the step, and Hermite's stax convention is not an
/// expectation off unit variance).
pub fn k_dot_is_expectation(a: &Activation) -> bool {
    !matches!(
        a,
        Activation::Sign
            | Activation::RectifiedMonomial { degree: 0 }
            | Activation::Hermite {
                convention: HermiteConvention::NeuralTangents,
                ..
            }
            | Activation::ExpNormalized { .. }
    )
}

/// Whether `K` is a true expectation (ExpNormalized has no pointwise form;
/// Hermite's stax convention is exact only at unit variance).
pub fn k_is_expectation(a: &Activation) -> bool {
    !matches!(
        a,
        Activation::ExpNormalized { .. }
            | Activation::Hermite {
                convention: HermiteConvention::NeuralTangents,
                ..
            }
    )
}

/// Covariance points: the paper's A and B, non-unit and anisotropic ones.
pub const POINTS: &[(f64, f64, f64)] = &[
    (1.0, 1.0, 0.3),
    (0.7, 1.6, -0.5),
    (4.0, 0.25, 0.9),
    (2.5, 0.3, -0.85),
    (0.05, 9.0, 0.4),
    (1.3, 1.3, 1.3 * 0.97),
    (0.8, 2.0, 0.0),
];

/// A JSON matrix (nested arrays) as rows.
pub fn matrix(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// The NNGP and NTK matrices of `Dense(W, b) → σ → Dense(W, b)` in
/// neural-tangents' conventions: per pair `q = W²⟨x, y⟩/d + b²`,
/// `NNGP = W²K + b²`, `NTK = NNGP + W²·q₁₂·K̇` (the first layer's NTK is its
/// NNGP), and the output variances `W²K(q, q, q) + b²` of `x1`.
pub fn depth_one_kernels(
    d: &dual_activations::DualActivation,
    w: f64,
    b: f64,
    x1: &[Vec<f64>],
    x2: &[Vec<f64>],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) {
    let dim = x1[0].len() as f64;
    let dot = |a: &[f64], c: &[f64]| a.iter().zip(c).map(|(p, q)| p * q).sum::<f64>() / dim;
    let (mut nngp, mut ntk) = (Vec::new(), Vec::new());
    for xi in x1 {
        let (mut rn, mut rt) = (Vec::new(), Vec::new());
        for yj in x2 {
            let (q11, q22, q12) = (
                w * w * dot(xi, xi) + b * b,
                w * w * dot(yj, yj) + b * b,
                w * w * dot(xi, yj) + b * b,
            );
            let kd = d.eval(q11, q22, q12).unwrap();
            let n = w * w * kd.k + b * b;
            rn.push(n);
            rt.push(n + w * w * q12 * kd.k_dot);
        }
        nngp.push(rn);
        ntk.push(rt);
    }
    let cov = x1
        .iter()
        .map(|xi| w * w * d.eval_diag(w * w * dot(xi, xi) + b * b).unwrap().k + b * b)
        .collect();
    (nngp, ntk, cov)
}
