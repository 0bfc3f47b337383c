//! Evaluation of dual kernels: the NNGP map `K(q_x, q_y, c) = E[σ(u)σ(v)]`
//! and the NTK multiplier `K̇ = E[σ'(u)σ'(v)] = ∂K/∂c` for
//! `(u, v) ~ N(0, [[q_x, c], [c, q_y]])`.

use crate::activation::{
    Activation, HermiteConvention, MAX_POLY_DEGREE, NumericalMethod, SIGMOID_LIKE_SCALE,
};
use crate::batch::{REDO_PIECE, ab_relu_batch, ab_relu_batch_applies};
use crate::error::{DualError, Result};
use crate::quadrature::{MAX_GAUSS_HERMITE_DEG, Rule, gauss_hermite};
use crate::special::{INV_SQRT_2PI, angle, pow2_near, powu};
use core::f64::consts::{FRAC_1_PI, PI};

/// Relative slack allowed on `|c| ≤ sqrt(q_x q_y)` for rounding in the
/// caller's covariance computations; within it `c` is clamped onto the bound.
/// A Gram entry of dimension `d` in `f64` carries a relative error of at most
/// about `d·ε`, so `1e-9` covers inner products of dimension up to ~10⁶.
pub const COV_REL_TOL: f64 = 1e-9;

/// Largest truncation degree accepted by [`NumericalMethod::HermiteSeries`].
pub const MAX_SERIES_DEGREE: usize = 400;

/// The value of a dual activation at one covariance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dual {
    /// NNGP map `K = E[σ(u)σ(v)]`.
    pub k: f64,
    /// NTK multiplier `K̇ = E[σ'(u)σ'(v)]`.
    pub k_dot: f64,
}

/// A validated activation, ready to evaluate (precomputed tables, quadrature
/// nodes). Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct DualActivation {
    act: Activation,
    pre: Pre,
}

#[derive(Debug, Clone)]
enum Pre {
    None,
    /// `b[l][i]` of the radial factors `s_l(q) = Σ_i b[l][i] q^i`, for σ and σ'.
    Radial {
        sigma: Vec<Vec<f64>>,
        deriv: Vec<Vec<f64>>,
    },
    /// Monomial / Hermite sums: coefficients `A_i` for degree n and n − 1.
    Sums {
        n: Vec<f64>,
        n_minus_1: Vec<f64>,
    },
    Gh(Rule),
}

fn invalid(
    activation: &'static str,
    param: &'static str,
    value: f64,
    reason: &'static str,
) -> DualError {
    DualError::InvalidParameter {
        activation,
        param,
        value,
        reason,
    }
}

fn finite(activation: &'static str, param: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(invalid(activation, param, value, "must be finite"))
    }
}

fn degree_ok(what: &'static str, n: usize) -> Result<()> {
    if n > MAX_POLY_DEGREE {
        return Err(DualError::DegreeOutOfRange {
            what,
            value: n,
            min: 0,
            max: MAX_POLY_DEGREE,
        });
    }
    Ok(())
}

impl DualActivation {
    /// Validates the parameters and precomputes what evaluation needs.
    ///
    /// # Errors
    /// [`DualError::InvalidParameter`] for non-finite or out-of-domain
    /// parameters (`Rbf` with `gamma < 0`), [`DualError::DegreeOutOfRange`]
    /// for degrees above [`MAX_POLY_DEGREE`] or quadrature orders out of range.
    pub fn new(act: Activation) -> Result<Self> {
        let name = act.stax_name();
        let pre = match &act {
            Activation::LeakyRelu { alpha } => finite(name, "alpha", *alpha).map(|()| Pre::None)?,
            Activation::AbRelu { a, b } => {
                finite(name, "a", *a)?;
                finite(name, "b", *b)?;
                Pre::None
            }
            Activation::Erf { a, b, c }
            | Activation::Sin { a, b, c }
            | Activation::Cos { a, b, c } => {
                finite(name, "a", *a)?;
                finite(name, "b", *b)?;
                finite(name, "c", *c)?;
                Pre::None
            }
            Activation::Rbf { gamma } => {
                finite(name, "gamma", *gamma)?;
                if *gamma < 0.0 {
                    return Err(invalid(name, "gamma", *gamma, "must be >= 0"));
                }
                Pre::None
            }
            Activation::Exp { a, b } | Activation::Gaussian { a, b } => {
                finite(name, "a", *a)?;
                finite(name, "b", *b)?;
                Pre::None
            }
            Activation::ExpNormalized { gamma, shift, .. } => {
                finite(name, "gamma", *gamma)?;
                finite(name, "shift", *shift)?;
                Pre::None
            }
            Activation::Hermite { degree, convention } => {
                degree_ok("Hermite degree", *degree)?;
                match convention {
                    HermiteConvention::NeuralTangents => Pre::None,
                    HermiteConvention::Exact => Pre::Sums {
                        n: hermite_sum_coeffs(*degree),
                        n_minus_1: if *degree == 0 {
                            Vec::new()
                        } else {
                            hermite_sum_coeffs(*degree - 1)
                        },
                    },
                }
            }
            Activation::Monomial { degree } => {
                degree_ok("Monomial degree", *degree)?;
                Pre::Sums {
                    n: monomial_sum_coeffs(*degree),
                    n_minus_1: if *degree == 0 {
                        Vec::new()
                    } else {
                        monomial_sum_coeffs(*degree - 1)
                    },
                }
            }
            Activation::RectifiedMonomial { degree } => {
                degree_ok("RectifiedMonomial degree", *degree)?;
                Pre::None
            }
            Activation::Polynomial { coef } => {
                if coef.len() > MAX_POLY_DEGREE + 1 {
                    return Err(DualError::DegreeOutOfRange {
                        what: "Polynomial degree",
                        value: coef.len() - 1,
                        min: 0,
                        max: MAX_POLY_DEGREE,
                    });
                }
                for &a in coef {
                    finite(name, "coef", a)?;
                }
                let deriv: Vec<f64> = coef
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(k, a)| k as f64 * a)
                    .collect();
                Pre::Radial {
                    sigma: radial_table(coef),
                    deriv: radial_table(&deriv),
                }
            }
            Activation::Numerical { method, .. } => match *method {
                NumericalMethod::GaussHermite { deg } => {
                    Pre::Gh(gauss_hermite(deg).map_err(|_| DualError::DegreeOutOfRange {
                        what: "ElementwiseNumerical deg",
                        value: deg,
                        min: 1,
                        max: MAX_GAUSS_HERMITE_DEG,
                    })?)
                }
                NumericalMethod::HermiteSeries { degree } => {
                    if degree > MAX_SERIES_DEGREE {
                        return Err(DualError::DegreeOutOfRange {
                            what: "Hermite series degree",
                            value: degree,
                            min: 0,
                            max: MAX_SERIES_DEGREE,
                        });
                    }
                    Pre::None
                }
                NumericalMethod::Adaptive { abs_tol } => {
                    if !(abs_tol.is_finite() && abs_tol > 0.0) {
                        return Err(invalid(name, "abs_tol", abs_tol, "must be finite and > 0"));
                    }
                    Pre::None
                }
            },
            Activation::Identity
            | Activation::Relu
            | Activation::Abs
            | Activation::Sign
            | Activation::SigmoidLike
            | Activation::Gelu
            | Activation::Gabor => Pre::None,
        };
        Ok(Self { act, pre })
    }

    /// The activation this evaluates.
    pub fn activation(&self) -> &Activation {
        &self.act
    }

    /// `K(q_x, q_y, c)` and `K̇(q_x, q_y, c)`.
    ///
    /// # Errors
    /// - [`DualError::NonFinite`], [`DualError::Negative`],
    ///   [`DualError::CovarianceOutOfRange`] for inputs that are not a
    ///   covariance (|c| may exceed `sqrt(q_x q_y)` by [`COV_REL_TOL`]);
    /// - [`DualError::InfiniteExpectation`] where the kernel is infinite
    ///   (`Gaussian` with `b > 0` and `1 − 2bq ≤ 0`);
    /// - [`DualError::Overflow`] where it is finite but exceeds `f64`;
    /// - numerical methods: [`DualError::NoConvergence`],
    ///   [`DualError::NonFiniteActivation`].
    pub fn eval(&self, q_x: f64, q_y: f64, c: f64) -> Result<Dual> {
        let (q_x, q_y, c) = check_cov(q_x, q_y, c)?;
        let d = self.eval_unchecked(q_x, q_y, c)?;
        if d.k.is_finite() && d.k_dot.is_finite() {
            Ok(d)
        } else {
            Err(DualError::Overflow {
                activation: self.act.stax_name(),
            })
        }
    }

    /// The NNGP map `K(q_x, q_y, c)` alone. Errors as [`Self::eval`].
    pub fn nngp(&self, q_x: f64, q_y: f64, c: f64) -> Result<f64> {
        self.eval(q_x, q_y, c).map(|d| d.k)
    }

    /// The diagonal `K(q, q, q) = E[σ(√q z)²]` and `K̇(q, q, q) = E[σ'(√q z)²]`.
    /// Errors as [`Self::eval`].
    pub fn eval_diag(&self, q: f64) -> Result<Dual> {
        self.eval(q, q, q)
    }

    /// `K` and `K̇` for many covariances at once: entry `i` is
    /// `(q_x[i], q_y[i], c[i])`. Inputs are validated in one pass, the
    /// activation is dispatched once, and the closed forms run in a tight
    /// loop — the way kernel matrices evaluate them. Results equal
    /// [`Self::eval`] bitwise.
    ///
    /// # Errors
    /// [`DualError::NonFinite`] etc. for the first bad entry, as
    /// [`Self::eval`]; [`DualError::LengthMismatch`] for slices of different lengths.
    pub fn eval_many(
        &self,
        q_x: &[f64],
        q_y: &[f64],
        c: &[f64],
        k: &mut [f64],
        k_dot: &mut [f64],
    ) -> Result<()> {
        let n = c.len();
        for len in [q_x.len(), q_y.len(), k.len(), k_dot.len()] {
            if len != n {
                return Err(DualError::LengthMismatch {
                    expected: n,
                    got: len,
                });
            }
        }
        macro_rules! each {
            ($f:expr) => {
                for i in 0..n {
                    let (x, y, cc) = check_cov(q_x[i], q_y[i], c[i])?;
                    let d: Dual = $f(x, y, cc);
                    k[i] = d.k;
                    k_dot[i] = d.k_dot;
                }
            };
        }
        let relu_family = match &self.act {
            Activation::Relu => Some((0.0, 1.0)),
            Activation::LeakyRelu { alpha } => Some((*alpha, 1.0)),
            Activation::AbRelu { a, b } => Some((*a, *b)),
            Activation::Abs => Some((-1.0, 1.0)),
            _ => None,
        };
        // With slopes up to 1e100, |K| ≤ max(a², b²)·max(q) ≤ 1e300 inside
        // the batch preconditions: finite, so only redone entries need checking.
        let relu_family = relu_family.filter(|&(a, b)| a.abs().max(b.abs()) <= 1e100);
        if let Some((a, b)) = relu_family {
            // Branch-free over everything, then the (rare) entries outside
            // the batch's preconditions are redone one by one, with
            // validation — bitwise what `eval` gives, entry by entry.
            // By pieces of 256 entries, so that an entry outside (say a
            // covariance an ulp beyond Cauchy–Schwarz) rescans its piece
            // only, not the whole batch.
            let mut redo = Vec::new();
            for start in (0..n).step_by(REDO_PIECE) {
                let r = start..(start + REDO_PIECE).min(n);
                let (kp, kdp) = (&mut k[r.clone()], &mut k_dot[r.clone()]);
                if !ab_relu_batch(
                    a,
                    b,
                    &q_x[r.clone()],
                    &q_y[r.clone()],
                    &c[r.clone()],
                    kp,
                    kdp,
                ) {
                    redo.push(r);
                }
            }
            for i in redo.into_iter().flatten() {
                if !ab_relu_batch_applies(q_x[i], q_y[i], c[i]) {
                    let (x, y, cc) = check_cov(q_x[i], q_y[i], c[i])?;
                    let d = ab_relu(a, b, x, y, cc);
                    if !(d.k.is_finite() && d.k_dot.is_finite()) {
                        return Err(DualError::Overflow {
                            activation: self.act.stax_name(),
                        });
                    }
                    k[i] = d.k;
                    k_dot[i] = d.k_dot;
                }
            }
            return Ok(());
        }
        match &self.act {
            Activation::Erf { a, b, c: shift } => {
                each!(|x, y, cc| erf_dual(*a, *b, *shift, x, y, cc))
            }
            Activation::Gelu => each!(gelu),
            _ => {
                for i in 0..n {
                    let d = self.eval(q_x[i], q_y[i], c[i])?;
                    k[i] = d.k;
                    k_dot[i] = d.k_dot;
                }
                return Ok(());
            }
        }
        if k.iter().chain(k_dot.iter()).all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(DualError::Overflow {
                activation: self.act.stax_name(),
            })
        }
    }

    fn eval_unchecked(&self, qx: f64, qy: f64, c: f64) -> Result<Dual> {
        let name = self.act.stax_name();
        Ok(match (&self.act, &self.pre) {
            (Activation::Identity, _) => Dual { k: c, k_dot: 1.0 },
            (Activation::Relu, _) => ab_relu(0.0, 1.0, qx, qy, c),
            (Activation::LeakyRelu { alpha }, _) => ab_relu(*alpha, 1.0, qx, qy, c),
            (Activation::AbRelu { a, b }, _) => ab_relu(*a, *b, qx, qy, c),
            (Activation::Abs, _) => ab_relu(-1.0, 1.0, qx, qy, c),
            (Activation::Sign, _) => {
                let g = Scaled::new(qx, qy, c);
                Dual {
                    k: 1.0 - 2.0 * g.theta() / PI,
                    k_dot: 0.0,
                }
            }
            (Activation::Erf { a, b, c: shift }, _) => erf_dual(*a, *b, *shift, qx, qy, c),
            (Activation::SigmoidLike, _) => erf_dual(0.5, 1.0 / SIGMOID_LIKE_SCALE, 0.5, qx, qy, c),
            (Activation::Gelu, _) => gelu(qx, qy, c),
            (Activation::Sin { a, b, c: ph }, _) => sin_dual(*a, *b, (2.0 * ph).cos(), qx, qy, c),
            (Activation::Cos { a, b, c: ph }, _) => sin_dual(*a, *b, -(2.0 * ph).cos(), qx, qy, c),
            (Activation::Rbf { gamma }, _) => {
                let k = (gamma * (2.0 * c - qx - qy)).exp();
                Dual {
                    k,
                    k_dot: 2.0 * gamma * k,
                }
            }
            (Activation::Exp { a, b }, _) => {
                let e = (b * b * (0.5 * (qx + qy) + c)).exp();
                Dual {
                    k: a * a * e,
                    k_dot: a * a * b * b * e,
                }
            }
            (Activation::Gaussian { a, b }, _) => gaussian(*a, *b, qx, qy, c)?,
            (
                Activation::ExpNormalized {
                    gamma,
                    shift,
                    do_clip,
                },
                _,
            ) => {
                let s = if (qx * qy).is_finite() {
                    (qx * qy).max(1e-30).sqrt()
                } else {
                    qx.sqrt() * qy.sqrt()
                };
                let mut rho = c / s;
                if *do_clip {
                    rho = rho.clamp(-1.0, 1.0);
                }
                let e = (gamma * (rho + shift)).exp();
                Dual {
                    k: s * e,
                    k_dot: gamma * e,
                }
            }
            (
                Activation::Hermite {
                    degree,
                    convention: HermiteConvention::NeuralTangents,
                },
                _,
            ) => {
                let n = *degree;
                Dual {
                    k: powu(c, n),
                    k_dot: if n == 0 {
                        0.0
                    } else {
                        n as f64 * powu(c, n - 1)
                    },
                }
            }
            (Activation::Hermite { degree, .. }, Pre::Sums { n, n_minus_1 }) => {
                hermite_exact(*degree, n, n_minus_1, qx, qy, c)
            }
            (Activation::Monomial { degree }, Pre::Sums { n, n_minus_1 }) => {
                monomial(*degree, n, n_minus_1, qx, qy, c)
            }
            (Activation::RectifiedMonomial { degree }, _) => rectified_monomial(*degree, qx, qy, c),
            (Activation::Polynomial { .. }, Pre::Radial { sigma, deriv }) => Dual {
                k: radial_sum(sigma, qx, qy, c),
                k_dot: radial_sum(deriv, qx, qy, c),
            },
            (Activation::Gabor, _) => gabor(qx, qy, c),
            (Activation::Numerical { function, .. }, Pre::Gh(rule)) => {
                crate::numerical::gauss_hermite_dual(function.inner(), rule, qx, qy, c)?
            }
            (
                Activation::Numerical {
                    method: NumericalMethod::HermiteSeries { degree },
                    ..
                },
                _,
            ) => {
                let cx = crate::HermiteCoeffs::new(self, qx.sqrt(), *degree)?;
                let cy = if qy == qx {
                    cx.clone()
                } else {
                    crate::HermiteCoeffs::new(self, qy.sqrt(), *degree)?
                };
                let denom = qx.sqrt() * qy.sqrt();
                let rho = if denom > 0.0 {
                    (c / denom).clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                cx.dual_with(&cy, rho)?
            }
            (
                Activation::Numerical {
                    function,
                    method: NumericalMethod::Adaptive { abs_tol },
                },
                _,
            ) => crate::numerical::adaptive_dual(function.inner(), *abs_tol, qx, qy, c)?,
            _ => unreachable!("{name}: precomputation does not match the activation"),
        })
    }
}

/// Validates `(q_x, q_y, c)` and clamps `c` onto `[-sqrt(q_x q_y), sqrt(q_x q_y)]`.
pub(crate) fn check_cov(q_x: f64, q_y: f64, c: f64) -> Result<(f64, f64, f64)> {
    for (what, v) in [("q_x", q_x), ("q_y", q_y), ("c", c)] {
        if !v.is_finite() {
            return Err(DualError::NonFinite { what, value: v });
        }
    }
    for (what, v) in [("q_x", q_x), ("q_y", q_y)] {
        if v < 0.0 {
            return Err(DualError::Negative { what, value: v });
        }
    }
    // +0.0 for -0.0 so that signs of zero never reach atan2.
    let (q_x, q_y) = (q_x + 0.0, q_y + 0.0);
    // sqrt(q q) == q exactly, so the diagonal (q, q, q) is never clamped.
    let p = q_x * q_y;
    // Fast path: c² ≤ q_x q_y needs neither a square root nor a clamp (every
    // closed form takes max(q_x q_y − c², 0), so an ulp of excess is harmless).
    if p.is_finite() && p > f64::MIN_POSITIVE && c * c <= p {
        return Ok((q_x, q_y, c + 0.0));
    }
    let bound = if p.is_finite() && p > f64::MIN_POSITIVE {
        p.sqrt()
    } else {
        q_x.sqrt() * q_y.sqrt()
    };
    if c.abs() > bound * (1.0 + COV_REL_TOL) {
        return Err(DualError::CovarianceOutOfRange { c, bound });
    }
    Ok((q_x, q_y, c.clamp(-bound, bound) + 0.0))
}

/// Variances rescaled by a power of two `s` (exact), with the determinant
/// `q_x q_y − c²` and its square root in the scaled units.
struct Scaled {
    s: f64,
    qx: f64,
    qy: f64,
    c: f64,
    det: f64,
}

impl Scaled {
    fn new(qx: f64, qy: f64, c: f64) -> Self {
        let m = qx.max(qy);
        let s = if m > 1e100 || (m > 0.0 && m < 1e-100) {
            pow2_near(m)
        } else {
            1.0
        };
        // Division by a power of two is exact; skipping it when s = 1 is free.
        let (qx, qy, c) = if s == 1.0 {
            (qx, qy, c)
        } else {
            (qx / s, qy / s, c / s)
        };
        // The plain difference is exactly 0 on the diagonal (q, q, q).
        let det = (qx * qy - c * c).max(0.0);
        Self { s, qx, qy, c, det }
    }
    fn theta(&self) -> f64 {
        angle(self.det.sqrt(), self.c)
    }
}

/// ABRelu family: `f = (a−b)²/2π`, `K̇ = (a²+b²)/2 − fθ`, `K = f·sqrt(det) + K̇·c`.
pub(crate) fn ab_relu(a: f64, b: f64, qx: f64, qy: f64, c: f64) -> Dual {
    let g = Scaled::new(qx, qy, c);
    let f = (a - b) * (a - b) / (2.0 * PI);
    let k_dot = 0.5 * (a * a + b * b) - f * g.theta();
    Dual {
        k: g.s * (f * g.det.sqrt() + k_dot * g.c),
        k_dot,
    }
}

/// `Erf(a, b, c0)`: `K = a²(2/π)atan2(2c̃, R) + c0²`, `K̇ = a²b²(4/π)/R`,
/// `R² = 1 + 2(q̃_x + q̃_y) + 4(q̃_x q̃_y − c̃²)` with `q̃ = b²q`.
fn erf_dual(a: f64, b: f64, c0: f64, qx: f64, qy: f64, c: f64) -> Dual {
    let b2 = b * b;
    let (tx, ty, tc) = (b2 * qx, b2 * qy, b2 * c);
    let m = tx.max(ty);
    let s = if m > 1e100 { pow2_near(m) } else { 1.0 };
    let (tx, ty, tc) = (tx / s, ty / s, tc / s);
    let det = (tx * ty - tc * tc).max(0.0);
    let r2 = (1.0 / s) / s + 2.0 * (tx + ty) / s + 4.0 * det;
    let r = r2.sqrt();
    let k = a * a * 2.0 * FRAC_1_PI * (2.0 * tc).atan2(r) + c0 * c0;
    let k_dot = a * a * b2 * 4.0 * FRAC_1_PI / (s * r);
    Dual { k, k_dot }
}

/// Exact GeLU (Tsuchida et al. 2020), in variables scaled by `s` for huge
/// variances. `Δ² = (1+q_x)(1+q_y) − c²` is formed as `1 + q_x + q_y + det`,
/// which avoids the cancellation of the product form.
fn gelu(qx: f64, qy: f64, c: f64) -> Dual {
    let m = qx.max(qy);
    let s = if m > 1e100 { pow2_near(m) } else { 1.0 };
    let (x, y, cc) = (qx / s, qy / s, c / s);
    let inv = 1.0 / s;
    let det = (x * y - cc * cc).max(0.0);
    let p = x * y;
    let p1 = (inv + x) * (inv + y);
    let delta2 = (inv * inv + (x + y) * inv) + det;
    let delta = delta2.sqrt();
    let at = (cc / delta).atan();
    let term1 = (cc * cc * inv + s * p * delta2) / (p1 * delta);
    let k = 0.25 * s * cc + (term1 + s * cc * at) / (2.0 * PI);
    let k_dot = 0.25
        + at / (2.0 * PI)
        + cc / (2.0 * PI * delta) * ((inv * inv) / delta2 + (inv * inv - p) / p1 + 1.0);
    Dual { k, k_dot }
}

/// `Sin(a, b, c)` with `cos2 = cos(2c)` (`Cos` passes `−cos(2c)`).
fn sin_dual(a: f64, b: f64, cos2: f64, qx: f64, qy: f64, c: f64) -> Dual {
    let b2 = b * b;
    let s1 = (-0.5 * b2 * (qx + qy - 2.0 * c)).exp();
    let s2 = cos2 * (-0.5 * b2 * (qx + qy + 2.0 * c)).exp();
    Dual {
        k: 0.5 * a * a * (s1 - s2),
        k_dot: 0.5 * a * a * b2 * (s1 + s2),
    }
}

/// `Gaussian(a, b)`: `D² = 1 − 2b(q_x + q_y) + 4b²(q_x q_y − c²)`, `K = a²/D`,
/// `K̇ = 4a²b²c/D³`; infinite unless `I − 2bΣ` is positive definite.
fn gaussian(a: f64, b: f64, qx: f64, qy: f64, c: f64) -> Result<Dual> {
    let det = (qx * qy - c * c).max(0.0);
    if b > 0.0 && 1.0 - 2.0 * b * qx.max(qy) <= 0.0 {
        return Err(DualError::InfiniteExpectation {
            activation: "Gaussian",
            reason: "1 - 2 b q <= 0",
        });
    }
    let d2 = 1.0 - 2.0 * b * (qx + qy) + 4.0 * b * b * det;
    if d2 <= 0.0 {
        return Err(DualError::InfiniteExpectation {
            activation: "Gaussian",
            reason: "(1 - 2 b q_x)(1 - 2 b q_y) - 4 b^2 c^2 <= 0",
        });
    }
    let d = d2.sqrt();
    Ok(Dual {
        k: a * a / d,
        k_dot: 4.0 * a * a * b * b * c / (d2 * d),
    })
}

/// Gabor `σ = e^{−t²} sin t` (neural-tangents' closed form), with `S`, `Δ`, `D`
/// rescaled by `t = σ₀²` (`σ₀` a power of two near `S`) so nothing overflows.
fn gabor(qx: f64, qy: f64, c: f64) -> Dual {
    let sum = qx + qy;
    let sig = if sum > 1.0 { pow2_near(sum) } else { 1.0 };
    let t = sig * sig;
    let inv_t = (1.0 / sig) / sig;
    let (x, y, cc) = (qx / sig, qy / sig, c / sig);
    let s_hat = (x + y) / sig;
    let delta_hat = 4.0 * (x * y - cc * cc).max(0.0);
    let d_hat = inv_t + 2.0 * s_hat + delta_hat;
    let c_over_t = cc / sig;
    let e_l = (-(s_hat + delta_hat + 2.0 * c_over_t) / (2.0 * d_hat)).exp();
    let x_r = 2.0 * c_over_t / d_hat;
    let e_r = x_r.exp();
    let sqrt_d = sig * d_hat.sqrt();
    let k = e_l * x_r.exp_m1() / (2.0 * sqrt_d);
    let a_over_d = (inv_t + 2.0 * s_hat + 4.0 * (cc * cc + x * y)) / d_hat;
    let b_over_d = 4.0 * c * (delta_hat + 3.0 * s_hat + 2.0 * inv_t) / d_hat;
    let inv_d = 1.0 / (t * d_hat);
    let k_dot =
        e_l / (2.0 * sqrt_d) * inv_d * ((a_over_d - b_over_d) + e_r * (a_over_d + b_over_d));
    Dual { k, k_dot }
}

/// `C_i = n!/((i!)² 4^i (n−2i)!)`, the coefficients of
/// `E[h_n(u)h_n(v)] = Σ_i C_i (q_x−1)^i (q_y−1)^i c^{n−2i}`.
fn hermite_sum_coeffs(n: usize) -> Vec<f64> {
    let mut out = vec![1.0];
    for i in 1..=n / 2 {
        let prev = out[i - 1];
        out.push(prev * ((n - 2 * i + 2) * (n - 2 * i + 1)) as f64 / (4 * i * i) as f64);
    }
    out
}

/// `A_i = (n!)²/((2^i i!)² (n−2i)!)`, the coefficients of
/// `E[u^n v^n] = Σ_i A_i c^{n−2i} (q_x q_y)^i` (Isserlis).
fn monomial_sum_coeffs(n: usize) -> Vec<f64> {
    let fact: f64 = (1..=n).map(|k| k as f64).product();
    hermite_sum_coeffs(n)
        .into_iter()
        .map(|v| v * fact)
        .collect()
}

fn hermite_exact(n: usize, a: &[f64], a1: &[f64], qx: f64, qy: f64, c: f64) -> Dual {
    let w = (qx - 1.0) * (qy - 1.0);
    let k: f64 = a
        .iter()
        .enumerate()
        .map(|(i, ai)| ai * powu(w, i) * powu(c, n - 2 * i))
        .sum();
    // K̇ = E[h_n'(u)h_n'(v)] = n E[h_{n−1}(u)h_{n−1}(v)] since h_n' = sqrt(n) h_{n−1}.
    let k_dot = if n == 0 {
        0.0
    } else {
        n as f64
            * a1.iter()
                .enumerate()
                .map(|(i, ai)| ai * powu(w, i) * powu(c, n - 1 - 2 * i))
                .sum::<f64>()
    };
    Dual { k, k_dot }
}

fn monomial(n: usize, a: &[f64], a1: &[f64], qx: f64, qy: f64, c: f64) -> Dual {
    let g = Scaled::new(qx, qy, c);
    let p = g.qx * g.qy;
    let sum = |coef: &[f64], deg: usize| -> f64 {
        coef.iter()
            .enumerate()
            .map(|(i, ai)| ai * powu(p, i) * powu(g.c, deg - 2 * i))
            .sum()
    };
    let k = sum(a, n) * powu(g.s, n);
    let k_dot = if n == 0 {
        0.0
    } else {
        (n * n) as f64 * sum(a1, n - 1) * powu(g.s, n - 1)
    };
    Dual { k, k_dot }
}

/// `RectifiedMonomial(n)`: `K = (q_x q_y)^{n/2} M(n, n)`,
/// `K̇ = n² (q_x q_y)^{(n−1)/2} M(n−1, n−1)` with `M(a, b) = E[u₊^a v₊^b]`
/// for unit variances at correlation ρ, by Gaussian integration by parts —
/// finite at ρ = ±1 for every degree, unlike the `(1/sin θ)∂_θ` form.
fn rectified_monomial(n: usize, qx: f64, qy: f64, c: f64) -> Dual {
    let g = Scaled::new(qx, qy, c);
    let sp = (g.qx * g.qy).sqrt();
    // The angle from (sqrt(det), c), as in `ab_relu`: near ρ = 1, sqrt(det)
    // carries the rounding of c at the sqrt(ε) level, and only an angle
    // computed from the same sqrt(det) cancels it (asin of a clamped ρ
    // would not, and K would exceed sqrt(K_x K_y) by ~1e-9).
    let (rho, st, theta) = if sp > 0.0 {
        (
            (g.c / sp).clamp(-1.0, 1.0),
            (g.det.sqrt() / sp).min(1.0),
            g.theta(),
        )
    } else {
        (0.0, 1.0, 0.5 * PI)
    };
    // The (n+1)² table lives on the stack up to degree 15 (no allocation).
    let mut stack = [0.0f64; 256];
    let mut heap = Vec::new();
    let m: &mut [f64] = if (n + 1) * (n + 1) <= stack.len() {
        &mut stack[..(n + 1) * (n + 1)]
    } else {
        heap.resize((n + 1) * (n + 1), 0.0);
        &mut heap
    };
    arc_moments(n, rho, st, theta, m);
    let at = |a: usize, b: usize| m[a * (n + 1) + b];
    let k = powu(sp * g.s, n) * at(n, n);
    let k_dot = if n == 0 {
        0.0
    } else {
        (n * n) as f64 * powu(sp * g.s, n - 1) * at(n - 1, n - 1)
    };
    Dual { k, k_dot }
}

/// Fills `m[a(n+1) + b] = E[u₊^a v₊^b]` (`u₊⁰ = 1[u > 0]`) for `a, b ≤ n`,
/// unit variances, correlation `rho = cos θ`, `st = sin θ`.
fn arc_moments(n: usize, rho: f64, st: f64, theta: f64, m: &mut [f64]) {
    let w = n + 1;
    // Half-normal moments m_k = E[z₊^k]: m_0 = 1/2, m_1 = φ(0), m_k = (k−1)m_{k−2}.
    let half = |k: usize| -> f64 {
        let mut v = if k.is_multiple_of(2) {
            0.5
        } else {
            INV_SQRT_2PI
        };
        let mut j = k;
        while j >= 2 {
            v *= (j - 1) as f64;
            j -= 2;
        }
        v
    };
    // P(u > 0, v > 0) = (π − θ)/2π.
    m[0] = 0.5 - theta / (2.0 * PI);
    // Fill by total degree so every right-hand side is already known.
    for total in 1..=2 * n {
        for a in total.div_ceil(2)..=total.min(n) {
            let b = total - a;
            if b > n {
                continue;
            }
            let get = |x: usize, y: usize| m[x.max(y) * w + x.min(y)];
            let t1 = if a >= 2 {
                (a - 1) as f64 * get(a - 2, b)
            } else {
                INV_SQRT_2PI * powu(st, b) * half(b)
            };
            let t2 = if b >= 1 {
                b as f64 * get(a - 1, b - 1)
            } else {
                INV_SQRT_2PI * powu(st, a - 1) * half(a - 1)
            };
            let v = t1 + rho * t2;
            m[a * w + b] = v;
            m[b * w + a] = v;
        }
    }
}

/// Radial factor table of a polynomial `σ = Σ_k a_k t^k`:
/// `b[l][i] = a_{l+2i} (l+2i)! / (2^i i! sqrt(l!))`, so that
/// `c_l(r) = Σ_i b[l][i] r^{l+2i}` are its Hermite coefficients at norm `r`.
pub(crate) fn radial_table(coef: &[f64]) -> Vec<Vec<f64>> {
    let deg = coef.len();
    let fact: Vec<f64> = (0..=deg)
        .scan(1.0, |f, k| {
            if k > 0 {
                *f *= k as f64;
            }
            Some(*f)
        })
        .collect();
    (0..deg)
        .map(|l| {
            (0..)
                .take_while(|i| l + 2 * i < deg)
                .map(|i| {
                    coef[l + 2 * i] * fact[l + 2 * i] / (powu(2.0, i) * fact[i] * fact[l].sqrt())
                })
                .collect()
        })
        .collect()
}

/// `Σ_l s_l(q_x) s_l(q_y) c^l` with `s_l(q) = Σ_i b[l][i] q^i`: the exact
/// `E[σ(u)σ(v)]` of a polynomial, with no division by `sqrt(q_x q_y)` (finite
/// at zero variance, unlike stax's form).
fn radial_sum(table: &[Vec<f64>], qx: f64, qy: f64, c: f64) -> f64 {
    let s = |row: &[f64], q: f64| row.iter().rev().fold(0.0, |acc, b| acc * q + b);
    table
        .iter()
        .enumerate()
        .map(|(l, row)| s(row, qx) * s(row, qy) * powu(c, l))
        .sum()
}
