//! Hermite coefficients of dilated activations.
//!
//! For a norm `r ≥ 0` the coefficients in the orthonormal probabilists'
//! basis `h_ℓ = He_ℓ/√(ℓ!)` are `c_ℓ(r) = E[σ(r z) h_ℓ(z)]`, `z ~ N(0, 1)`, and
//! the derivative coefficients are `ċ_ℓ(r) = E[σ'(r z) h_ℓ(z)]`
//! (`= √(ℓ+1)·c_{ℓ+1}(r)/r` by Stein's lemma when σ is absolutely continuous).
//! Then, for pre-activation variances `q_x = r_x²`, `q_y = r_y²` and
//! correlation `ρ`,
//!
//! `K = Σ_ℓ c_ℓ(r_x) c_ℓ(r_y) ρ^ℓ`, `K̇ = Σ_ℓ ċ_ℓ(r_x) ċ_ℓ(r_y) ρ^ℓ`,
//!
//! and the truncation error after degree `q` is at most
//! `sqrt(T_q(r_x) T_q(r_y))` with the tail `T_q(r) = E[σ(rz)²] − Σ_{ℓ≤q} c_ℓ(r)²`
//! (Cauchy–Schwarz, `|ρ| ≤ 1`).
//!
//! The coefficients are computed **directly for each norm**: re-expanding the
//! unit-norm coefficients through `He_n(γz) = Σ …(γ²−1)^i…` diverges for
//! `r > 1` once truncated (Han et al. 2022 code; see `docs/NUMERICS.md`).
//! Closed forms are used for Identity, the ReLU family, Sign, the step,
//! polynomials (Monomial, Polynomial, Hermite), Sin/Cos/Rbf, Exp and
//! ExpNormalized; everything else is integrated by adaptive Gauss–Legendre
//! quadrature split at the kinks (relative accuracy ~1e-14 of `‖σ(r·)‖`).

use crate::activation::{Activation, HermiteConvention, hermite_normalized};
use crate::dual::{Dual, DualActivation, radial_table};
use crate::error::{DualError, Result};
use crate::numerical::{Z_MAX, gauss_expect};
use crate::quadrature::{AdaptiveParams, integrate};
use crate::special::{INV_SQRT_2PI, norm_pdf, powu};
use core::f64::consts::FRAC_PI_2;

/// Hermite coefficients `c_0..c_q` and `ċ_0..ċ_q` of an activation dilated
/// by `r`, with the second moments that bound the truncation error.
#[derive(Debug, Clone, PartialEq)]
pub struct HermiteCoeffs {
    r: f64,
    c: Vec<f64>,
    c_dot: Vec<f64>,
    m2: f64,
    m2_dot: f64,
}

impl HermiteCoeffs {
    /// Coefficients of degree `0..=degree` at norm `r`.
    ///
    /// # Errors
    /// - [`DualError::NonFinite`] / [`DualError::Negative`] for a bad `r`;
    /// - [`DualError::NoPointwiseFunction`] for `ExpNormalized` with `γ < 0`
    ///   (its kernel is not a Hermite series);
    /// - [`DualError::NoConvergence`], [`DualError::NonFiniteActivation`] from quadrature;
    /// - [`DualError::Overflow`] when a moment exceeds `f64`.
    pub fn new(act: &DualActivation, r: f64, degree: usize) -> Result<Self> {
        if !r.is_finite() {
            return Err(DualError::NonFinite {
                what: "norm r",
                value: r,
            });
        }
        if r < 0.0 {
            return Err(DualError::Negative {
                what: "norm r",
                value: r,
            });
        }
        let r = r + 0.0;
        let n = degree + 1;
        let a = act.activation();
        let closed = closed_form(a, r, n);
        let (c, c_dot, m2, m2_dot) = match closed {
            Some((c, c_dot)) => {
                let diag = exact_diag(act, r * r)?;
                (c, c_dot, diag.k, diag.k_dot)
            }
            None => quadrature_coeffs(a, r, n)?,
        };
        if !(m2.is_finite() && m2_dot.is_finite()) || c.iter().chain(&c_dot).any(|v| !v.is_finite())
        {
            return Err(DualError::Overflow {
                activation: a.stax_name(),
            });
        }
        Ok(Self {
            r,
            c,
            c_dot,
            m2,
            m2_dot,
        })
    }

    /// The smallest degree `q ≤ max_degree` whose tails (of σ and of σ')
    /// are at most `rel_tol` times the second moments `E[σ(rz)²]`,
    /// `E[σ'(rz)²]`; `max_degree` if none is.
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn degree_for(
        act: &DualActivation,
        r: f64,
        rel_tol: f64,
        max_degree: usize,
    ) -> Result<usize> {
        let all = Self::new(act, r, max_degree)?;
        for q in 0..=max_degree {
            if tail_of(all.m2, &all.c[..=q]) <= rel_tol * all.m2
                && tail_of(all.m2_dot, &all.c_dot[..=q]) <= rel_tol * all.m2_dot
            {
                return Ok(q);
            }
        }
        Ok(max_degree)
    }

    /// Whether [`Self::new`] uses closed forms for this activation (cheap:
    /// `O(q)` to `O(q²)` operations per norm) rather than adaptive quadrature
    /// (about a millisecond per norm).
    pub fn is_closed_form(act: &Activation) -> bool {
        closed_form(act, 1.0, 1).is_some()
    }

    /// The norm `r`.
    pub fn r(&self) -> f64 {
        self.r
    }
    /// The truncation degree `q`.
    pub fn degree(&self) -> usize {
        self.c.len() - 1
    }
    /// `c_0(r), …, c_q(r)`.
    pub fn values(&self) -> &[f64] {
        &self.c
    }
    /// `ċ_0(r), …, ċ_q(r)`.
    pub fn derivative_values(&self) -> &[f64] {
        &self.c_dot
    }
    /// `E[σ(rz)²]` (exact closed form where one exists).
    pub fn second_moment(&self) -> f64 {
        self.m2
    }
    /// `E[σ'(rz)²]`.
    pub fn derivative_second_moment(&self) -> f64 {
        self.m2_dot
    }
    /// An upper estimate of `Σ_{ℓ>q} c_ℓ² = E[σ(rz)²] − Σ_{ℓ≤q} c_ℓ²`
    /// (Parseval). The difference is clamped at 0 and raised by
    /// `2e-14·sqrt(q+1)·E[σ(rz)²]`: each computed coefficient carries an error
    /// of at most `1e-14·sqrt(E[σ²])`, which moves `Σ c_ℓ²` by at most that much.
    pub fn tail(&self) -> f64 {
        tail_of(self.m2, &self.c)
    }
    /// The same tail for the derivative coefficients.
    pub fn derivative_tail(&self) -> f64 {
        tail_of(self.m2_dot, &self.c_dot)
    }

    /// Truncated series `Σ_ℓ c_ℓ c'_ℓ ρ^ℓ` and `Σ_ℓ ċ_ℓ ċ'_ℓ ρ^ℓ` with the
    /// coefficients of another norm, at correlation `rho`.
    ///
    /// # Errors
    /// [`DualError::CorrelationOutOfRange`] unless `|ρ| ≤ 1` (up to rounding),
    /// [`DualError::NonFinite`] for NaN.
    pub fn dual_with(&self, other: &Self, rho: f64) -> Result<Dual> {
        if !rho.is_finite() {
            return Err(DualError::NonFinite {
                what: "rho",
                value: rho,
            });
        }
        if rho.abs() > 1.0 + crate::dual::COV_REL_TOL {
            return Err(DualError::CorrelationOutOfRange { rho });
        }
        let rho = rho.clamp(-1.0, 1.0);
        let series = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .rev()
                .fold(0.0, |acc, (x, y)| acc * rho + x * y)
        };
        Ok(Dual {
            k: series(&self.c, &other.c),
            k_dot: series(&self.c_dot, &other.c_dot),
        })
    }

    /// Bound on the truncation error of [`Self::dual_with`]:
    /// `sqrt(T_q(r_x) T_q(r_y))` for `K` and the same with derivative tails for `K̇`.
    pub fn error_bound(&self, other: &Self) -> Dual {
        Dual {
            k: (self.tail() * other.tail()).sqrt(),
            k_dot: (self.derivative_tail() * other.derivative_tail()).sqrt(),
        }
    }
}

fn tail_of(m2: f64, c: &[f64]) -> f64 {
    let floor = 2e-14 * (c.len() as f64).sqrt() * m2;
    (m2 - c.iter().map(|v| v * v).sum::<f64>()).max(0.0) + floor
}

/// The diagonal in the "true expectation" sense (Hermite always exact).
fn exact_diag(act: &DualActivation, q: f64) -> Result<Dual> {
    if let Activation::Hermite {
        degree,
        convention: HermiteConvention::NeuralTangents,
    } = act.activation()
    {
        // Consistent with the NT-convention coefficients below: c_n(r) = r^n only.
        let n = *degree;
        let k = powu(q, n);
        let k_dot = if n == 0 {
            0.0
        } else {
            n as f64 * powu(q, n - 1)
        };
        return Ok(Dual { k, k_dot });
    }
    act.eval_diag(q)
}

/// `E[max(z,0) h_ℓ(z)]` for `ℓ < n`: `1/√(2π)`, `1/2`, then zero for odd
/// `ℓ ≥ 3` and `(−1)^{k+1} g_k/(√(2π)(2k−1))` for `ℓ = 2k`, `g_k = √((2k)!)/(2^k k!)`.
fn relu_unit(n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n];
    let mut g = 1.0;
    for (l, v) in c.iter_mut().enumerate() {
        *v = match l {
            0 => INV_SQRT_2PI,
            1 => 0.5,
            _ if l % 2 == 1 => 0.0,
            _ => {
                let k = l / 2;
                g *= (((2 * k - 1) as f64) / ((2 * k) as f64)).sqrt();
                let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
                sign * g * INV_SQRT_2PI / (2 * k - 1) as f64
            }
        };
    }
    c
}

/// `E[1[z ≥ 0] h_ℓ(z)]`: `1/2`, then `φ(0) He_{ℓ−1}(0)/√(ℓ!)`, non-zero for odd
/// `ℓ = 2j + 1` only: `(−1)^j φ(0) e_j`, `e_j = (2j−1)!!/√((2j+1)!)`.
fn step_unit(n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n];
    let mut e = 1.0;
    for (l, v) in c.iter_mut().enumerate() {
        *v = match l {
            0 => 0.5,
            _ if l % 2 == 0 => 0.0,
            _ => {
                let j = l / 2;
                if j > 0 {
                    e *= (2 * j - 1) as f64 / (((2 * j + 1) * (2 * j)) as f64).sqrt();
                }
                let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
                sign * INV_SQRT_2PI * e
            }
        };
    }
    c
}

/// Closed-form coefficients `(c, ċ)` of length `n`, or `None` to integrate.
fn closed_form(a: &Activation, r: f64, n: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let zeros = || vec![0.0; n];
    let ab = |alpha: f64, beta: f64| {
        let relu = relu_unit(n);
        let step = step_unit(n);
        let c: Vec<f64> = relu
            .iter()
            .enumerate()
            .map(|(l, v)| r * (beta - alpha * if l % 2 == 0 { 1.0 } else { -1.0 }) * v)
            .collect();
        let mut cd: Vec<f64> = step.iter().map(|v| (beta - alpha) * v).collect();
        cd[0] = 0.5 * (alpha + beta);
        (c, cd)
    };
    let trig = |amp: f64, freq: f64, phase: f64| {
        // E[sin(βz + φ) h_ℓ(z)] = sin(φ + ℓπ/2) β^ℓ e^{−β²/2}/√(ℓ!).
        let beta = freq * r;
        let damp = (-0.5 * beta * beta).exp();
        let mut pw = 1.0;
        let mut c = zeros();
        let mut cd = zeros();
        for l in 0..n {
            if l > 0 {
                pw *= beta / (l as f64).sqrt();
            }
            let lf = l as f64;
            c[l] = amp * (phase + lf * FRAC_PI_2).sin() * pw * damp;
            cd[l] = amp * freq * (phase + (lf + 1.0) * FRAC_PI_2).sin() * pw * damp;
        }
        (c, cd)
    };
    let poly = |coef: &[f64]| {
        let deriv: Vec<f64> = coef
            .iter()
            .enumerate()
            .skip(1)
            .map(|(k, v)| k as f64 * v)
            .collect();
        let eval = |table: Vec<Vec<f64>>| {
            let mut out = zeros();
            for (l, row) in table.iter().enumerate().take(n) {
                out[l] = row
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b * powu(r, l + 2 * i))
                    .sum();
            }
            out
        };
        (eval(radial_table(coef)), eval(radial_table(&deriv)))
    };
    Some(match *a {
        Activation::Identity => {
            let (mut c, mut cd) = (zeros(), zeros());
            if n > 1 {
                c[1] = r;
            }
            cd[0] = 1.0;
            (c, cd)
        }
        Activation::Relu => ab(0.0, 1.0),
        Activation::LeakyRelu { alpha } => ab(alpha, 1.0),
        Activation::AbRelu { a, b } => ab(a, b),
        Activation::Abs => ab(-1.0, 1.0),
        Activation::Sign => {
            let mut c: Vec<f64> = step_unit(n).iter().map(|v| 2.0 * v).collect();
            c[0] = 0.0;
            (c, zeros())
        }
        Activation::RectifiedMonomial { degree: 0 } => (step_unit(n), zeros()),
        Activation::Monomial { degree } => {
            let mut coef = vec![0.0; degree + 1];
            coef[degree] = 1.0;
            poly(&coef)
        }
        Activation::Polynomial { ref coef } => poly(coef),
        Activation::Hermite {
            degree,
            convention: HermiteConvention::NeuralTangents,
        } => {
            let (mut c, mut cd) = (zeros(), zeros());
            if degree < n {
                c[degree] = powu(r, degree);
            }
            if degree >= 1 && degree - 1 < n {
                cd[degree - 1] = (degree as f64).sqrt() * powu(r, degree - 1);
            }
            (c, cd)
        }
        Activation::Hermite {
            degree,
            convention: HermiteConvention::Exact,
        } => (hermite_dilated(degree, r, n), {
            let mut cd = if degree == 0 {
                zeros()
            } else {
                hermite_dilated(degree - 1, r, n)
            };
            cd.iter_mut().for_each(|v| *v *= (degree as f64).sqrt());
            cd
        }),
        Activation::Sin { a, b, c } => trig(a, b, c),
        Activation::Cos { a, b, c } => trig(a, b, c + FRAC_PI_2),
        Activation::Rbf { gamma } => trig(
            core::f64::consts::SQRT_2,
            (2.0 * gamma).sqrt(),
            core::f64::consts::FRAC_PI_4,
        ),
        Activation::Exp { a, b } => {
            // E[e^{βz} h_ℓ(z)] = e^{β²/2} β^ℓ/√(ℓ!).
            let beta = b * r;
            let grow = (0.5 * beta * beta).exp();
            let mut pw = 1.0;
            let mut c = zeros();
            for (l, v) in c.iter_mut().enumerate() {
                if l > 0 {
                    pw *= beta / (l as f64).sqrt();
                }
                *v = a * grow * pw;
            }
            let cd = c.iter().map(|v| b * v).collect();
            (c, cd)
        }
        Activation::ExpNormalized { gamma, shift, .. } if gamma >= 0.0 => {
            // K/s = e^{γ shift} Σ γ^ℓ ρ^ℓ/ℓ!, so c_ℓ(r) = r (e^{γ shift} γ^ℓ/ℓ!)^{1/2}
            // and ċ_ℓ = (e^{γ shift} γ^{ℓ+1}/ℓ!)^{1/2}.
            let base = (gamma * shift).exp().sqrt();
            let mut pw = 1.0;
            let (mut c, mut cd) = (zeros(), zeros());
            for l in 0..n {
                if l > 0 {
                    pw *= (gamma / l as f64).sqrt();
                }
                c[l] = r * base * pw;
                cd[l] = base * pw * gamma.sqrt();
            }
            (c, cd)
        }
        _ => return None,
    })
}

/// Coefficients of `h_n(r z) = Σ_i r^ℓ (r²−1)^i √(n!)/(i! 2^i √(ℓ!)) h_ℓ(z)`, `ℓ = n − 2i`.
fn hermite_dilated(n: usize, r: f64, len: usize) -> Vec<f64> {
    let mut out = vec![0.0; len];
    let w = r * r - 1.0;
    // coef_i = √(n!)/(i! 2^i √((n−2i)!)): ratio coef_i/coef_{i−1} = √((n−2i+2)(n−2i+1))/(2i).
    let mut coef = 1.0;
    for i in 0..=n / 2 {
        if i > 0 {
            coef *= (((n - 2 * i + 2) * (n - 2 * i + 1)) as f64).sqrt() / (2 * i) as f64;
        }
        let l = n - 2 * i;
        if l < len {
            out[l] = coef * powu(r, l) * powu(w, i);
        }
    }
    out
}

/// Quadrature of `E[σ(rz)h_ℓ(z)]` and `E[σ'(rz)h_ℓ(z)]` for `ℓ < n`, with
/// `h_ℓ(z)φ(z)` by the stable three-term recurrence started at `φ(z)`.
fn quadrature_coeffs(a: &Activation, r: f64, n: usize) -> Result<(Vec<f64>, Vec<f64>, f64, f64)> {
    let name = a.stax_name();
    if a.value(0.0).is_none() {
        return Err(DualError::NoPointwiseFunction {
            activation: name,
            operation: "Hermite coefficients",
        });
    }
    // Homogeneous of degree k: integrate at r = 1 and rescale exactly.
    if let Activation::RectifiedMonomial { degree } = *a
        && r != 1.0
        && degree >= 1
    {
        let (c, cd, m2, m2d) = quadrature_coeffs(a, 1.0, n)?;
        let (s, sd) = (powu(r, degree), powu(r, degree - 1));
        return Ok((
            c.iter().map(|v| v * s).collect(),
            cd.iter().map(|v| v * sd).collect(),
            m2 * s * s,
            m2d * sd * sd,
        ));
    }
    let kinks = a.kinks();
    if r == 0.0 {
        // σ(rz) is the constant σ(0); σ'(0) is the average of the one-sided
        // derivatives (the limit r → 0⁺ of E[σ'(rz)]).
        let v = a.value(0.0).unwrap_or(0.0);
        let d = if kinks.contains(&0.0) {
            0.5 * (a.derivative(-f64::MIN_POSITIVE).unwrap_or(0.0)
                + a.derivative(f64::MIN_POSITIVE).unwrap_or(0.0))
        } else {
            a.derivative(0.0).unwrap_or(0.0)
        };
        let mut c = vec![0.0; n];
        let mut cd = vec![0.0; n];
        c[0] = v;
        cd[0] = d;
        return Ok((c, cd, v * v, d * d));
    }
    let sig = |t: f64| a.value(t).unwrap_or(f64::NAN);
    let dsig = |t: f64| a.derivative(t).unwrap_or(f64::NAN);
    let moments = AdaptiveParams {
        rel_tol: 1e-14,
        ..AdaptiveParams::default()
    };
    let m2 = gauss_expect(|t| sig(t).powi(2), r, &kinks, moments, "E[σ(rz)²]")?;
    let m2d = gauss_expect(|t| dsig(t).powi(2), r, &kinks, moments, "E[σ'(rz)²]")?;
    if !(m2.is_finite() && m2d.is_finite()) {
        return Err(DualError::NonFiniteActivation {
            activation: name.to_owned(),
            t: f64::NAN,
        });
    }
    let mut bps: Vec<f64> = kinks.iter().map(|k| k / r).collect();
    // Unit panels near the origin help the error estimate on oscillatory h_ℓ.
    bps.extend((-12..=12).map(f64::from));
    let coeffs = |g: &dyn Fn(f64) -> f64, scale: f64, what: &'static str| -> Result<Vec<f64>> {
        let mut psi = vec![0.0; n];
        integrate(
            |z, out| {
                hermite_functions(z, &mut psi);
                let v = g(r * z);
                for (o, p) in out.iter_mut().zip(&psi) {
                    *o = v * p;
                }
            },
            n,
            -Z_MAX,
            Z_MAX,
            &bps,
            AdaptiveParams {
                abs_tol: 1e-14 * scale.sqrt().max(1e-300),
                rel_tol: 0.0,
                ..AdaptiveParams::default()
            },
            what,
        )
    };
    let c = coeffs(&sig, m2, "Hermite coefficients of σ")?;
    let cd = coeffs(&dsig, m2d, "Hermite coefficients of σ'")?;
    Ok((c, cd, m2, m2d))
}

/// `out[ℓ] = h_ℓ(z) φ(z)` for `ℓ < out.len()`.
fn hermite_functions(z: f64, out: &mut [f64]) {
    let mut prev = 0.0;
    let mut cur = norm_pdf(z);
    for (l, o) in out.iter_mut().enumerate() {
        *o = cur;
        let lf = l as f64;
        let next = (z * cur - lf.sqrt() * prev) / (lf + 1.0).sqrt();
        prev = cur;
        cur = next;
    }
}

/// `h_ℓ(t)` for `ℓ = 0..n` (public helper for oracles and sketches).
pub fn hermite_values(t: f64, n: usize) -> Vec<f64> {
    (0..n).map(|l| hermite_normalized(l, t).0).collect()
}
