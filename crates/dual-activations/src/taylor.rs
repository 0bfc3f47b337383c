//! Power series of unit-sphere dual kernels (Zandieh et al. 2021, §1–2).
//!
//! With the arc-cosine normalisation `κ(1) = 1` of that paper:
//!
//! - `κ₁(ρ) = (sqrt(1 − ρ²) + ρ(π − arccos ρ))/π` (ReLU, order 1);
//! - `κ₀(ρ) = (π − arccos ρ)/π` (step, order 0);
//! - the depth-`L` ReLU NTK of unit inputs without bias,
//!   `K_L(ρ) = Σ_{h=0}^{L} Y_h Π_{j=h}^{L−1} κ₀(Y_j)`, `Y_0 = ρ`, `Y_h = κ₁(Y_{h−1})`,
//!   and the depth-`L` NNGP `Y_L` (so `K_L(1) = L + 1`, `Y_L(1) = 1`).
//!
//! neural-tangents' `Relu` kernel of unit variances is `κ₁/2`; its `W_std = √2`
//! layers undo the half.
//!
//! All these functions have nonnegative Taylor coefficients. Those of `κ₀` and
//! `κ₁` are closed forms. Those of the compositions are computed by the Cauchy
//! integral `a_n = (1/2πi)∮ K(z) z^{−n−1} dz` on a circle of radius
//! `R = e^{−1/(q+1)}` with `N ≥ 64(q+1)` points, using the analytic
//! continuation of `arcsin` and `sqrt` into the unit disc: aliasing is below
//! `K(1)e^{−64}` and rounding below `3ε·K(1)` per coefficient; rounding-level
//! negative values are set to 0.

use crate::activation::Activation;
use crate::dual::DualActivation;
use crate::error::{DualError, Result};
use crate::hermite::HermiteCoeffs;
use core::f64::consts::PI;

/// Power-series coefficients `a_0, a_1, …` of a function of `ρ`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaylorCoeffs(pub Vec<f64>);

impl TaylorCoeffs {
    /// The coefficients, constant term first.
    pub fn coeffs(&self) -> &[f64] {
        &self.0
    }
    /// The truncated series at `x` (Horner).
    pub fn eval(&self, x: f64) -> f64 {
        self.0.iter().rev().fold(0.0, |acc, a| acc * x + a)
    }
    /// The truncation degree.
    pub fn degree(&self) -> usize {
        self.0.len().saturating_sub(1)
    }
}

/// `κ₀(ρ) = 1/2 + arcsin(ρ)/π` for `ρ ∈ [−1, 1]` (clamped).
pub fn arccos0(rho: f64) -> f64 {
    0.5 + rho.clamp(-1.0, 1.0).asin() / PI
}

/// `κ₁(ρ) = ρ/2 + (sqrt(1 − ρ²) + ρ·arcsin ρ)/π` for `ρ ∈ [−1, 1]` (clamped).
pub fn arccos1(rho: f64) -> f64 {
    let r = rho.clamp(-1.0, 1.0);
    0.5 * r + ((1.0 - r * r).max(0.0).sqrt() + r * r.asin()) / PI
}

/// Depth-`L` ReLU NNGP `κ₁^{∘L}(ρ)` of unit inputs.
pub fn relu_nngp(depth: usize, rho: f64) -> f64 {
    (0..depth).fold(rho.clamp(-1.0, 1.0), |y, _| arccos1(y))
}

/// Depth-`L` ReLU NTK `K_L(ρ)` of unit inputs (Zandieh et al. 2021, §1):
/// `Θ_0 = ρ`, `Θ_h = Θ_{h−1} κ₀(Y_{h−1}) + Y_h`.
pub fn relu_ntk(depth: usize, rho: f64) -> f64 {
    let mut y = rho.clamp(-1.0, 1.0);
    let mut theta = y;
    for _ in 0..depth {
        let next = arccos1(y);
        theta = theta * arccos0(y) + next;
        y = next;
    }
    theta
}

/// Closed-form coefficients of `κ₀`: `1/2`, then
/// `(2i)!/(4^i (i!)² (2i+1))/π` at degree `2i + 1`.
pub fn arccos0_taylor(degree: usize) -> TaylorCoeffs {
    let mut a = vec![0.0; degree + 1];
    a[0] = 0.5;
    let mut binom = 1.0; // (2i)!/(4^i (i!)²)
    let mut i = 0;
    while 2 * i < degree {
        if i > 0 {
            binom *= ((2 * i - 1) as f64) / ((2 * i) as f64);
        }
        a[2 * i + 1] = binom / ((2 * i + 1) as f64 * PI);
        i += 1;
    }
    TaylorCoeffs(a)
}

/// Closed-form coefficients of `κ₁`: `1/π`, `1/2`, then
/// `(2i)!/(4^i (i!)² (2i+1)(2i+2))/π` at degree `2i + 2`.
pub fn arccos1_taylor(degree: usize) -> TaylorCoeffs {
    let mut a = vec![0.0; degree + 1];
    a[0] = 1.0 / PI;
    if degree >= 1 {
        a[1] = 0.5;
    }
    let mut binom = 1.0;
    let mut i = 0;
    while 2 * i + 2 <= degree {
        if i > 0 {
            binom *= ((2 * i - 1) as f64) / ((2 * i) as f64);
        }
        a[2 * i + 2] = binom / (((2 * i + 1) * (2 * i + 2)) as f64 * PI);
        i += 1;
    }
    TaylorCoeffs(a)
}

/// Largest degree of the Cauchy-integral routes (the circle radius
/// `e^{−1/(q+1)}` and `N = 64(q+1)` points stay cheap up to here).
pub const MAX_TAYLOR_DEGREE: usize = 2048;

fn check_degree(degree: usize) -> Result<()> {
    if degree > MAX_TAYLOR_DEGREE {
        return Err(DualError::DegreeOutOfRange {
            what: "Taylor degree",
            value: degree,
            min: 0,
            max: MAX_TAYLOR_DEGREE,
        });
    }
    Ok(())
}

/// Taylor coefficients of the depth-`L` ReLU NTK `K_L` up to `degree`.
///
/// # Errors
/// [`DualError::DegreeOutOfRange`] above [`MAX_TAYLOR_DEGREE`].
pub fn relu_ntk_taylor(depth: usize, degree: usize) -> Result<TaylorCoeffs> {
    check_degree(degree)?;
    Ok(cauchy_coeffs(degree, |z| {
        let mut y = z;
        let mut theta = z;
        for _ in 0..depth {
            let next = kappa1_c(y);
            theta = theta.mul(kappa0_c(y)).add(next);
            y = next;
        }
        theta
    }))
}

/// Taylor coefficients of the depth-`L` ReLU NNGP `κ₁^{∘L}` up to `degree`.
///
/// # Errors
/// [`DualError::DegreeOutOfRange`] above [`MAX_TAYLOR_DEGREE`].
pub fn relu_nngp_taylor(depth: usize, degree: usize) -> Result<TaylorCoeffs> {
    check_degree(degree)?;
    Ok(cauchy_coeffs(degree, |z| {
        (0..depth).fold(z, |y, _| kappa1_c(y))
    }))
}

/// Taylor coefficients of the unit-sphere dual `k(ρ) = K(1, 1, ρ)` and
/// `k̇(ρ) = K̇(1, 1, ρ)` of a homogeneous activation (ReLU family, Sign,
/// RectifiedMonomial, Monomial, Identity, ExpNormalized with `γ ≥ 0`): the
/// squares `c_ℓ(1)²`, `ċ_ℓ(1)²` of its Hermite coefficients, all nonnegative.
/// For inputs of norms `r_x, r_y` the kernel is `(r_x r_y)^k k(ρ)` for an
/// activation homogeneous of degree `k`.
///
/// # Errors
/// [`DualError::InvalidParameter`] for an activation that is not
/// homogeneous (its dual is not a function of `ρ` alone); errors of
/// [`HermiteCoeffs::new`].
pub fn homogeneous_dual_taylor(
    act: &DualActivation,
    degree: usize,
) -> Result<(TaylorCoeffs, TaylorCoeffs)> {
    let homogeneous = matches!(
        act.activation(),
        Activation::Identity
            | Activation::Relu
            | Activation::LeakyRelu { .. }
            | Activation::AbRelu { .. }
            | Activation::Abs
            | Activation::Sign
            | Activation::RectifiedMonomial { .. }
            | Activation::Monomial { .. }
            | Activation::ExpNormalized { .. }
    );
    if !homogeneous {
        return Err(DualError::InvalidParameter {
            activation: act.activation().stax_name(),
            param: "activation",
            value: f64::NAN,
            reason: "not homogeneous: its dual kernel depends on the norms, use HermiteCoeffs",
        });
    }
    let h = HermiteCoeffs::new(act, 1.0, degree)?;
    Ok((
        TaylorCoeffs(h.values().iter().map(|v| v * v).collect()),
        TaylorCoeffs(h.derivative_values().iter().map(|v| v * v).collect()),
    ))
}

fn cauchy_coeffs(degree: usize, f: impl Fn(C) -> C) -> TaylorCoeffs {
    let q = degree + 1;
    let radius = (-1.0 / q as f64).exp();
    let n = (64 * q).next_power_of_two();
    let vals: Vec<C> = (0..n)
        .map(|k| {
            let ang = 2.0 * PI * k as f64 / n as f64;
            f(C {
                re: radius * ang.cos(),
                im: radius * ang.sin(),
            })
        })
        .collect();
    let mut out = Vec::with_capacity(q);
    let mut scale = 1.0; // R^{-j}
    for j in 0..q {
        // a_j = R^{-j} (1/N) Σ_k F(z_k) e^{-2πi jk/N}; F is real on the real axis,
        // so the coefficient is the real part.
        let mut acc = 0.0;
        for (k, v) in vals.iter().enumerate() {
            let ang = 2.0 * PI * ((j * k) % n) as f64 / n as f64;
            acc += v.re * ang.cos() + v.im * ang.sin();
        }
        out.push((acc / n as f64 * scale).max(0.0));
        scale /= radius;
    }
    TaylorCoeffs(out)
}

/// A minimal complex number for the analytic continuations above.
#[derive(Debug, Clone, Copy, PartialEq)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    const fn real(re: f64) -> Self {
        Self { re, im: 0.0 }
    }
    fn add(self, o: Self) -> Self {
        Self {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn sub(self, o: Self) -> Self {
        Self {
            re: self.re - o.re,
            im: self.im - o.im,
        }
    }
    fn mul(self, o: Self) -> Self {
        Self {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn scale(self, s: f64) -> Self {
        Self {
            re: self.re * s,
            im: self.im * s,
        }
    }
    /// Principal square root.
    fn sqrt(self) -> Self {
        let r = self.re.hypot(self.im);
        if r == 0.0 {
            return Self::real(0.0);
        }
        if self.re >= 0.0 {
            let t = (0.5 * (r + self.re)).sqrt();
            Self {
                re: t,
                im: self.im / (2.0 * t),
            }
        } else {
            let t = (0.5 * (r - self.re)).sqrt();
            Self {
                re: self.im.abs() / (2.0 * t),
                im: t.copysign(self.im),
            }
        }
    }
    /// Principal logarithm.
    fn ln(self) -> Self {
        Self {
            re: self.re.hypot(self.im).ln(),
            im: self.im.atan2(self.re),
        }
    }
    /// Principal arcsine `−i ln(iz + sqrt(1 − z²))`, analytic in the unit disc.
    fn asin(self) -> Self {
        let iz = Self {
            re: -self.im,
            im: self.re,
        };
        let w = iz.add(Self::real(1.0).sub(self.mul(self)).sqrt()).ln();
        Self {
            re: w.im,
            im: -w.re,
        }
    }
}

fn kappa0_c(z: C) -> C {
    C::real(0.5).add(z.asin().scale(1.0 / PI))
}

fn kappa1_c(z: C) -> C {
    let s = C::real(1.0).sub(z.mul(z)).sqrt();
    z.scale(0.5).add(s.add(z.mul(z.asin())).scale(1.0 / PI))
}
