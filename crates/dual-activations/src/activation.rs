//! The description of an activation: every closed form of neural-tangents'
//! stax, plus any pointwise function evaluated numerically.

use crate::special::{erf, norm_cdf, norm_pdf};
use core::f64::consts::{FRAC_PI_4, SQRT_2};
use std::fmt;
use std::sync::Arc;

/// Largest degree accepted by `Monomial`, `RectifiedMonomial`, `Hermite` and
/// the length of `Polynomial` coefficients. Beyond it the moments
/// `(2n - 1)!!` and the factorials in the closed forms overflow `f64`.
pub const MAX_POLY_DEGREE: usize = 150;

/// `b` of `Sigmoid_like`: stax's least-squares fit of the logistic sigmoid by
/// `0.5 erf(t / 2.4020563531719796) + 0.5` on `[-5, 5]`.
pub const SIGMOID_LIKE_SCALE: f64 = 2.402_056_353_171_979_6;

/// A pointwise activation `σ: R → R` with its derivative, for the numerical
/// routes (quadrature and Hermite expansion).
///
/// `kinks` lists the points where `σ` or `σ'` is not smooth (ReLU: `[0]`,
/// ReLU6: `[0, 6]`); adaptive quadrature splits there.
pub trait ScalarFn: Send + Sync + fmt::Debug {
    /// A short name, used in errors and tables.
    fn name(&self) -> &str;
    /// `σ(t)`.
    fn value(&self, t: f64) -> f64;
    /// `σ'(t)`. At a kink, any one-sided value; neural-tangents follows jax's
    /// convention (documented per function in [`crate::registry`]).
    fn derivative(&self, t: f64) -> f64;
    /// Points where `σ` or `σ'` is not smooth.
    fn kinks(&self) -> &[f64] {
        &[]
    }
}

/// A shared, cloneable handle to a [`ScalarFn`].
#[derive(Clone)]
pub struct NumericalFn(pub Arc<dyn ScalarFn>);

impl NumericalFn {
    /// Wraps a [`ScalarFn`].
    pub fn new(f: impl ScalarFn + 'static) -> Self {
        Self(Arc::new(f))
    }
    /// The wrapped function.
    pub fn inner(&self) -> &dyn ScalarFn {
        &*self.0
    }
}

impl fmt::Debug for NumericalFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NumericalFn({})", self.0.name())
    }
}

/// How a [`Activation::Numerical`] activation's dual kernel is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumericalMethod {
    /// neural-tangents' `ElementwiseNumerical(fn, deg)`: a `deg × deg`
    /// Gauss–Hermite product rule, O(deg²) per entry. Accurate for smooth `σ`
    /// (stax suggests `deg = 25`); poor at kinks.
    GaussHermite {
        /// Nodes per axis.
        deg: usize,
    },
    /// Truncated Hermite series `Σ_{ℓ≤degree} c_ℓ(r_x) c_ℓ(r_y) ρ^ℓ` with the
    /// coefficients of the dilated activation computed directly for each norm
    /// (see [`crate::HermiteCoeffs`]). The truncation error is bounded by the
    /// coefficients' tails.
    HermiteSeries {
        /// Truncation degree.
        degree: usize,
    },
    /// Nested adaptive Gauss–Legendre integration of the bivariate Gaussian
    /// expectation, split at the kinks: a reference method (about `abs_tol`
    /// relative to `sqrt(K(x,x) K(y,y))`), much slower than the others.
    Adaptive {
        /// Tolerance relative to the Cauchy–Schwarz scale of the entry.
        abs_tol: f64,
    },
}

/// Which kernel `Hermite(degree)` denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HermiteConvention {
    /// The true expectation `E[h_n(u) h_n(v)]` for any variances.
    Exact,
    /// neural-tangents' formula `K = c^n`, `K̇ = n c^{n-1}`, which equals the
    /// expectation only when `q_x = q_y = 1` (stax documents that a
    /// `LayerNorm` should precede the layer).
    NeuralTangents,
}

/// An activation layer: the closed forms of neural-tangents' stax (names,
/// parameters and defaults as in stax) and numerically evaluated pointwise
/// functions.
///
/// | variant | σ(t) | stax defaults |
/// |---|---|---|
/// | `Identity` | t | |
/// | `Relu` | max(t, 0) | |
/// | `LeakyRelu { alpha }` | αmin(t,0) + max(t,0) | |
/// | `AbRelu { a, b }` | a·min(t,0) + b·max(t,0) | |
/// | `Abs` | \|t\| | |
/// | `Sign` | sign(t) (NTK multiplier set to 0, as stax) | |
/// | `Erf { a, b, c }` | a·erf(b t) + c | a = 1, b = 1, c = 0 |
/// | `SigmoidLike` | Erf(0.5, 1/2.4020563531719796, 0.5) | |
/// | `Gelu` | t·Φ(t) | |
/// | `Sin { a, b, c }` | a·sin(b t + c) | 1, 1, 0 |
/// | `Cos { a, b, c }` | a·cos(b t + c) | 1, 1, 0 |
/// | `Rbf { gamma }` | √2·sin(√(2γ) t + π/4) | γ = 1 |
/// | `Exp { a, b }` | a·e^{b t} | 1, 1 |
/// | `Gaussian { a, b }` | a·e^{b t²} | 1, −1 |
/// | `ExpNormalized { gamma, shift, do_clip }` | kernel only | 1, −1, false |
/// | `Hermite { degree, .. }` | He_n(t)/√(n!) | |
/// | `Monomial { degree }` | tⁿ | |
/// | `RectifiedMonomial { degree }` | 1[t ≥ 0]·tⁿ | |
/// | `Polynomial { coef }` | Σ coef\[i\]·tⁱ | |
/// | `Gabor` | e^{−t²}·sin t | |
/// | `Numerical { function, method }` | any | `ElementwiseNumerical(fn, deg=25)` |
///
/// stax's `do_stabilize` flags are not needed: the homogeneous closed forms are
/// always evaluated on variances rescaled by a power of two, which is exact.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Activation {
    /// `σ(t) = t`.
    Identity,
    /// `σ(t) = max(t, 0)`.
    Relu,
    /// `σ(t) = alpha·min(t, 0) + max(t, 0)`.
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f64,
    },
    /// `σ(t) = a·min(t, 0) + b·max(t, 0)` (stax `ABRelu`).
    AbRelu {
        /// Slope for negative inputs.
        a: f64,
        /// Slope for positive inputs.
        b: f64,
    },
    /// `σ(t) = |t|`.
    Abs,
    /// `σ(t) = sign(t)`; the NTK multiplier is 0 (stax drops the NTK below).
    Sign,
    /// `σ(t) = a·erf(b t) + c`.
    Erf {
        /// Output scale.
        a: f64,
        /// Input scale.
        b: f64,
        /// Output shift (enters the kernel as `+c²`).
        c: f64,
    },
    /// stax `Sigmoid_like`: `Erf { a: 0.5, b: 1/2.4020563531719796, c: 0.5 }`.
    SigmoidLike,
    /// `σ(t) = t·Φ(t)` (exact GeLU; stax's `approximate` flag only changes the
    /// finite-width forward pass, never the kernel).
    Gelu,
    /// `σ(t) = a·sin(b t + c)`.
    Sin {
        /// Output scale.
        a: f64,
        /// Frequency.
        b: f64,
        /// Phase.
        c: f64,
    },
    /// `σ(t) = a·cos(b t + c)`.
    Cos {
        /// Output scale.
        a: f64,
        /// Frequency.
        b: f64,
        /// Phase.
        c: f64,
    },
    /// `σ(t) = √2·sin(√(2γ) t + π/4)`, whose NNGP map is `exp(−γ(q_x + q_y − 2c))`.
    Rbf {
        /// Bandwidth, `γ ≥ 0`.
        gamma: f64,
    },
    /// `σ(t) = a·e^{b t}`.
    Exp {
        /// Output scale.
        a: f64,
        /// Rate.
        b: f64,
    },
    /// `σ(t) = a·e^{b t²}` (finite kernel only where `1 − 2bq > 0`).
    Gaussian {
        /// Output scale.
        a: f64,
        /// Exponent factor.
        b: f64,
    },
    /// The normalized Gaussian kernel `K = s·e^{γ(ρ + shift)}`,
    /// `s = sqrt(max(q_x q_y, 1e−30))`, `ρ = c/s` (no pointwise form).
    ExpNormalized {
        /// `γ`.
        gamma: f64,
        /// Shift added to `ρ`.
        shift: f64,
        /// Clip `ρ` to `[−1, 1]`.
        do_clip: bool,
    },
    /// `σ(t) = He_n(t)/√(n!)`, the normalized probabilists' Hermite polynomial.
    Hermite {
        /// `n`.
        degree: usize,
        /// True expectation or neural-tangents' unit-variance formula.
        convention: HermiteConvention,
    },
    /// `σ(t) = tⁿ`, any degree up to [`MAX_POLY_DEGREE`].
    Monomial {
        /// `n`.
        degree: usize,
    },
    /// `σ(t) = 1[t ≥ 0]·tⁿ` (arc-cosine kernel of order n).
    RectifiedMonomial {
        /// `n`.
        degree: usize,
    },
    /// `σ(t) = Σ_i coef[i]·tⁱ` (numpy's ascending order, as stax).
    Polynomial {
        /// Coefficients, constant term first.
        coef: Vec<f64>,
    },
    /// `σ(t) = e^{−t²}·sin t`.
    Gabor,
    /// Any pointwise function, evaluated numerically.
    Numerical {
        /// The function and its derivative.
        function: NumericalFn,
        /// How the bivariate expectation is computed.
        method: NumericalMethod,
    },
}

impl Activation {
    /// Whether the computed dual satisfies `K(q_x, q_y, c) = K(q_y, q_x, c)`
    /// to rounding: true for the closed forms and the Hermite series; false
    /// for the quadrature rules, whose nodes follow the first argument (as
    /// in neural-tangents' `ElementwiseNumerical`, whose `K(X, X)` is not a
    /// symmetric matrix beyond the rule's accuracy: about 1e−3 for `selu` at
    /// `deg = 25`). Kernels of such networks compute both triangles.
    pub fn exchange_symmetric(&self) -> bool {
        !matches!(
            self,
            Self::Numerical {
                method: NumericalMethod::GaussHermite { .. } | NumericalMethod::Adaptive { .. },
                ..
            }
        )
    }

    /// stax's `Erf()` with its defaults `a = 1, b = 1, c = 0`.
    pub const ERF: Self = Self::Erf {
        a: 1.0,
        b: 1.0,
        c: 0.0,
    };
    /// stax's `Sin()` with its defaults.
    pub const SIN: Self = Self::Sin {
        a: 1.0,
        b: 1.0,
        c: 0.0,
    };
    /// stax's `Cos()` with its defaults.
    pub const COS: Self = Self::Cos {
        a: 1.0,
        b: 1.0,
        c: 0.0,
    };
    /// stax's `Rbf()` with its default `gamma = 1`.
    pub const RBF: Self = Self::Rbf { gamma: 1.0 };
    /// stax's `Exp()` with its defaults.
    pub const EXP: Self = Self::Exp { a: 1.0, b: 1.0 };
    /// stax's `Gaussian()` with its defaults `a = 1, b = −1`.
    pub const GAUSSIAN: Self = Self::Gaussian { a: 1.0, b: -1.0 };
    /// stax's `ExpNormalized()` with its defaults.
    pub const EXP_NORMALIZED: Self = Self::ExpNormalized {
        gamma: 1.0,
        shift: -1.0,
        do_clip: false,
    };

    /// A numerically evaluated activation from the registry (see
    /// [`crate::registry::by_name`]) with neural-tangents' default rule
    /// `ElementwiseNumerical(fn, deg = 25)`.
    ///
    /// # Errors
    /// [`crate::DualError::UnknownActivation`] for a name not in the registry.
    pub fn numerical(name: &str) -> crate::Result<Self> {
        Ok(Self::Numerical {
            function: crate::registry::by_name(name)?,
            method: NumericalMethod::GaussHermite { deg: 25 },
        })
    }

    /// neural-tangents' stax name of the layer (`"ABRelu"`, `"Sigmoid_like"`,
    /// `"ElementwiseNumerical"`, …).
    pub fn stax_name(&self) -> &'static str {
        match self {
            Self::Identity => "Identity",
            Self::Relu => "Relu",
            Self::LeakyRelu { .. } => "LeakyRelu",
            Self::AbRelu { .. } => "ABRelu",
            Self::Abs => "Abs",
            Self::Sign => "Sign",
            Self::Erf { .. } => "Erf",
            Self::SigmoidLike => "Sigmoid_like",
            Self::Gelu => "Gelu",
            Self::Sin { .. } => "Sin",
            Self::Cos { .. } => "Cos",
            Self::Rbf { .. } => "Rbf",
            Self::Exp { .. } => "Exp",
            Self::Gaussian { .. } => "Gaussian",
            Self::ExpNormalized { .. } => "ExpNormalized",
            Self::Hermite { .. } => "Hermite",
            Self::Monomial { .. } => "Monomial",
            Self::RectifiedMonomial { .. } => "RectifiedMonomial",
            Self::Polynomial { .. } => "Polynomial",
            Self::Gabor => "Gabor",
            Self::Numerical { .. } => "ElementwiseNumerical",
        }
    }

    /// `σ(t)`, or `None` for `ExpNormalized`, which is defined by its kernel only.
    pub fn value(&self, t: f64) -> Option<f64> {
        let v = match *self {
            Self::Identity => t,
            Self::Relu => t.max(0.0),
            Self::LeakyRelu { alpha } => ab_relu(alpha, 1.0, t),
            Self::AbRelu { a, b } => ab_relu(a, b, t),
            Self::Abs => t.abs(),
            Self::Sign => sign(t),
            Self::Erf { a, b, c } => a * erf(b * t) + c,
            Self::SigmoidLike => 0.5 * erf(t / SIGMOID_LIKE_SCALE) + 0.5,
            Self::Gelu => t * norm_cdf(t),
            Self::Sin { a, b, c } => a * (b * t + c).sin(),
            Self::Cos { a, b, c } => a * (b * t + c).cos(),
            Self::Rbf { gamma } => SQRT_2 * ((2.0 * gamma).sqrt() * t + FRAC_PI_4).sin(),
            Self::Exp { a, b } => a * (b * t).exp(),
            Self::Gaussian { a, b } => a * (b * t * t).exp(),
            Self::ExpNormalized { .. } => return None,
            Self::Hermite { degree, .. } => hermite_normalized(degree, t).0,
            Self::Monomial { degree } => crate::special::powu(t, degree),
            Self::RectifiedMonomial { degree } => {
                if t >= 0.0 {
                    crate::special::powu(t, degree)
                } else {
                    0.0
                }
            }
            Self::Polynomial { ref coef } => horner(coef, t),
            Self::Gabor => (-t * t).exp() * t.sin(),
            Self::Numerical { ref function, .. } => function.inner().value(t),
        };
        Some(v)
    }

    /// `σ'(t)` (jax's convention at kinks: the derivative of `max(t, 0)` at 0
    /// is 0), or `None` for `ExpNormalized`. `Sign` and `RectifiedMonomial(0)`
    /// have derivative 0, as stax assumes.
    pub fn derivative(&self, t: f64) -> Option<f64> {
        let v = match *self {
            Self::Identity => 1.0,
            Self::Relu => f64::from(u8::from(t > 0.0)),
            Self::LeakyRelu { alpha } => {
                if t > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Self::AbRelu { a, b } => {
                if t > 0.0 {
                    b
                } else {
                    a
                }
            }
            Self::Abs => sign(t),
            Self::Sign => 0.0,
            Self::Erf { a, b, .. } => {
                a * b * core::f64::consts::FRAC_2_SQRT_PI * (-(b * t).powi(2)).exp()
            }
            Self::SigmoidLike => {
                let b = 1.0 / SIGMOID_LIKE_SCALE;
                0.5 * b * core::f64::consts::FRAC_2_SQRT_PI * (-(b * t).powi(2)).exp()
            }
            Self::Gelu => norm_cdf(t) + t * norm_pdf(t),
            Self::Sin { a, b, c } => a * b * (b * t + c).cos(),
            Self::Cos { a, b, c } => -a * b * (b * t + c).sin(),
            Self::Rbf { gamma } => {
                let w = (2.0 * gamma).sqrt();
                SQRT_2 * w * (w * t + FRAC_PI_4).cos()
            }
            Self::Exp { a, b } => a * b * (b * t).exp(),
            Self::Gaussian { a, b } => 2.0 * a * b * t * (b * t * t).exp(),
            Self::ExpNormalized { .. } => return None,
            Self::Hermite { degree, .. } => {
                // h_n' = sqrt(n) h_{n-1}.
                if degree == 0 {
                    0.0
                } else {
                    (degree as f64).sqrt() * hermite_normalized(degree, t).1
                }
            }
            Self::Monomial { degree } => {
                if degree == 0 {
                    0.0
                } else {
                    degree as f64 * crate::special::powu(t, degree - 1)
                }
            }
            Self::RectifiedMonomial { degree } => {
                if degree == 0 || t <= 0.0 {
                    0.0
                } else {
                    degree as f64 * crate::special::powu(t, degree - 1)
                }
            }
            Self::Polynomial { ref coef } => {
                let d: Vec<f64> = coef
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(k, a)| k as f64 * a)
                    .collect();
                horner(&d, t)
            }
            Self::Gabor => (-t * t).exp() * (t.cos() - 2.0 * t * t.sin()),
            Self::Numerical { ref function, .. } => function.inner().derivative(t),
        };
        Some(v)
    }

    /// Points where `σ` or `σ'` is not smooth.
    pub fn kinks(&self) -> Vec<f64> {
        match self {
            Self::Relu
            | Self::LeakyRelu { .. }
            | Self::AbRelu { .. }
            | Self::Abs
            | Self::Sign
            | Self::RectifiedMonomial { .. } => vec![0.0],
            Self::Numerical { function, .. } => function.inner().kinks().to_vec(),
            _ => Vec::new(),
        }
    }
}

fn ab_relu(a: f64, b: f64, t: f64) -> f64 {
    a * t.min(0.0) + b * t.max(0.0)
}

fn sign(t: f64) -> f64 {
    if t > 0.0 {
        1.0
    } else if t < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn horner(coef: &[f64], t: f64) -> f64 {
    coef.iter().rev().fold(0.0, |acc, a| acc * t + a)
}

/// `(h_n(t), h_{n-1}(t))` for the normalized probabilists' Hermite
/// polynomials `h_n = He_n/√(n!)` (`h_{-1} = 0`).
pub(crate) fn hermite_normalized(n: usize, t: f64) -> (f64, f64) {
    let (mut prev, mut cur) = (0.0, 1.0);
    for k in 0..n {
        let kf = k as f64;
        let next = (t * cur - kf.sqrt() * prev) / (kf + 1.0).sqrt();
        prev = cur;
        cur = next;
    }
    (cur, prev)
}
