//! Named pointwise activations (jax.nn definitions) and user closures.
//!
//! Derivatives at kinks follow jax's autodiff of the same definitions: the
//! `where(x > 0, …)` branches of `elu`, `selu` and `celu` take the `x ≤ 0`
//! branch at 0, and `relu`'s derivative at 0 is 0. These only matter for the
//! Gauss–Hermite rule with an odd number of nodes (a node sits at 0).

use crate::activation::{NumericalFn, ScalarFn};
use crate::error::{DualError, Result};
use crate::special::{erf, norm_cdf, norm_pdf};
use core::f64::consts::FRAC_2_SQRT_PI;

/// A registry entry: `σ`, `σ'` and the kinks of a named activation.
#[derive(Debug, Clone, Copy)]
pub struct Named {
    name: &'static str,
    f: fn(f64) -> f64,
    df: fn(f64) -> f64,
    kinks: &'static [f64],
}

impl ScalarFn for Named {
    fn name(&self) -> &str {
        self.name
    }
    fn value(&self, t: f64) -> f64 {
        (self.f)(t)
    }
    fn derivative(&self, t: f64) -> f64 {
        (self.df)(t)
    }
    fn kinks(&self) -> &[f64] {
        self.kinks
    }
}

/// SELU's `α` and `λ` (Klambauer et al. 2017, as in jax.nn.selu).
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
/// SELU's scale `λ`.
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

fn step_open(t: f64, lo: f64, hi: f64) -> f64 {
    if t > lo && t < hi { 1.0 } else { 0.0 }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044_715;

static REGISTRY: &[Named] = &[
    Named {
        name: "tanh",
        f: f64::tanh,
        df: |t| 1.0 - t.tanh().powi(2),
        kinks: &[],
    },
    Named {
        name: "sigmoid",
        f: sigmoid,
        df: |t| sigmoid(t) * sigmoid(-t),
        kinks: &[],
    },
    Named {
        name: "softplus",
        f: softplus,
        df: sigmoid,
        kinks: &[],
    },
    Named {
        name: "silu",
        f: |t| t * sigmoid(t),
        df: |t| sigmoid(t) * (1.0 + t * sigmoid(-t)),
        kinks: &[],
    },
    Named {
        name: "elu",
        f: |t| if t > 0.0 { t } else { t.exp_m1() },
        df: |t| if t > 0.0 { 1.0 } else { t.exp() },
        kinks: &[0.0],
    },
    Named {
        name: "selu",
        f: |t| SELU_SCALE * if t > 0.0 { t } else { SELU_ALPHA * t.exp_m1() },
        df: |t| SELU_SCALE * if t > 0.0 { 1.0 } else { SELU_ALPHA * t.exp() },
        kinks: &[0.0],
    },
    Named {
        name: "celu",
        f: |t| if t > 0.0 { t } else { t.exp_m1() },
        df: |t| if t > 0.0 { 1.0 } else { t.exp() },
        kinks: &[0.0],
    },
    Named {
        name: "relu6",
        f: |t| t.clamp(0.0, 6.0),
        df: |t| step_open(t, 0.0, 6.0),
        kinks: &[0.0, 6.0],
    },
    Named {
        name: "softsign",
        f: |t| t / (1.0 + t.abs()),
        df: |t| 1.0 / (1.0 + t.abs()).powi(2),
        kinks: &[0.0],
    },
    Named {
        name: "hard_tanh",
        f: |t| t.clamp(-1.0, 1.0),
        df: |t| step_open(t, -1.0, 1.0),
        kinks: &[-1.0, 1.0],
    },
    Named {
        name: "hard_sigmoid",
        f: |t| (t + 3.0).clamp(0.0, 6.0) / 6.0,
        df: |t| step_open(t, -3.0, 3.0) / 6.0,
        kinks: &[-3.0, 3.0],
    },
    Named {
        name: "hard_silu",
        f: |t| t * (t + 3.0).clamp(0.0, 6.0) / 6.0,
        df: |t| (t + 3.0).clamp(0.0, 6.0) / 6.0 + t * step_open(t, -3.0, 3.0) / 6.0,
        kinks: &[-3.0, 3.0],
    },
    Named {
        name: "log_sigmoid",
        f: |t| -softplus(-t),
        df: |t| sigmoid(-t),
        kinks: &[],
    },
    Named {
        name: "mish",
        f: |t| t * softplus(t).tanh(),
        df: |t| {
            let th = softplus(t).tanh();
            th + t * (1.0 - th * th) * sigmoid(t)
        },
        kinks: &[],
    },
    Named {
        name: "gelu_tanh",
        f: |t| 0.5 * t * (1.0 + (SQRT_2_OVER_PI * (t + GELU_TANH_C * t * t * t)).tanh()),
        df: |t| {
            let th = (SQRT_2_OVER_PI * (t + GELU_TANH_C * t * t * t)).tanh();
            0.5 * (1.0 + th)
                + 0.5 * t * (1.0 - th * th) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * t * t)
        },
        kinks: &[],
    },
    Named {
        name: "erf",
        f: erf,
        df: |t| FRAC_2_SQRT_PI * (-t * t).exp(),
        kinks: &[],
    },
    Named {
        name: "gelu",
        f: |t| t * norm_cdf(t),
        df: |t| norm_cdf(t) + t * norm_pdf(t),
        kinks: &[],
    },
    Named {
        name: "relu",
        f: |t| t.max(0.0),
        df: |t| if t > 0.0 { 1.0 } else { 0.0 },
        kinks: &[0.0],
    },
    Named {
        name: "leaky_relu",
        f: |t| if t > 0.0 { t } else { 0.01 * t },
        df: |t| if t > 0.0 { 1.0 } else { 0.01 },
        kinks: &[0.0],
    },
    Named {
        name: "abs",
        f: f64::abs,
        df: |t| {
            if t > 0.0 {
                1.0
            } else if t < 0.0 {
                -1.0
            } else {
                0.0
            }
        },
        kinks: &[0.0],
    },
    Named {
        name: "sin",
        f: f64::sin,
        df: f64::cos,
        kinks: &[],
    },
    Named {
        name: "cos",
        f: f64::cos,
        df: |t| -t.sin(),
        kinks: &[],
    },
    Named {
        name: "gaussian",
        f: |t| (-0.5 * t * t).exp(),
        df: |t| -t * (-0.5 * t * t).exp(),
        kinks: &[],
    },
    Named {
        name: "identity",
        f: |t| t,
        df: |_| 1.0,
        kinks: &[],
    },
];

const KNOWN: &str = "tanh, sigmoid, softplus, silu (swish), elu, selu, celu, relu6, softsign, hard_tanh, \
hard_sigmoid, hard_silu (hard_swish), log_sigmoid, mish, gelu_tanh, erf, gelu, relu, leaky_relu, abs, sin, cos, \
gaussian, identity";

/// The names in the registry (aliases `swish` = `silu`, `hard_swish` = `hard_silu`).
pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|n| n.name)
}

/// The registered activation of this name.
///
/// # Errors
/// [`DualError::UnknownActivation`] naming the registry's contents.
pub fn by_name(name: &str) -> Result<NumericalFn> {
    let key = match name {
        "swish" => "silu",
        "hard_swish" => "hard_silu",
        other => other,
    };
    REGISTRY
        .iter()
        .find(|n| n.name == key)
        .map(|n| NumericalFn::new(*n))
        .ok_or_else(|| DualError::UnknownActivation {
            name: name.to_owned(),
            known: KNOWN,
        })
}

type BoxedFn = Box<dyn Fn(f64) -> f64 + Send + Sync>;

/// A user-supplied activation: a closure, optionally its derivative, and its kinks.
///
/// Without a derivative, `σ'` is a Richardson-extrapolated central difference
/// with step `h = 1e-3·max(1, |t|)`: truncation error O(h⁴σ⁽⁵⁾) and rounding
/// error about `ε·|σ|/h`, i.e. ~1e-12 relative for smooth σ of moderate size.
pub struct CustomFn {
    name: String,
    f: BoxedFn,
    df: Option<BoxedFn>,
    kinks: Vec<f64>,
}

impl core::fmt::Debug for CustomFn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CustomFn")
            .field("name", &self.name)
            .field("kinks", &self.kinks)
            .finish_non_exhaustive()
    }
}

impl CustomFn {
    /// A closure `f` with derivative `df`.
    pub fn new(
        name: impl Into<String>,
        f: impl Fn(f64) -> f64 + Send + Sync + 'static,
        df: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            f: Box::new(f),
            df: Some(Box::new(df)),
            kinks: Vec::new(),
        }
    }

    /// A closure `f` whose derivative is taken numerically.
    pub fn without_derivative(
        name: impl Into<String>,
        f: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            f: Box::new(f),
            df: None,
            kinks: Vec::new(),
        }
    }

    /// Declares the points where `σ` or `σ'` is not smooth.
    #[must_use]
    pub fn with_kinks(mut self, kinks: impl Into<Vec<f64>>) -> Self {
        self.kinks = kinks.into();
        self
    }

    /// Wraps it for use in [`crate::Activation::Numerical`].
    pub fn into_numerical(self) -> NumericalFn {
        NumericalFn::new(self)
    }
}

impl ScalarFn for CustomFn {
    fn name(&self) -> &str {
        &self.name
    }
    fn value(&self, t: f64) -> f64 {
        (self.f)(t)
    }
    fn derivative(&self, t: f64) -> f64 {
        match &self.df {
            Some(df) => df(t),
            None => {
                let h = 1e-3 * t.abs().max(1.0);
                let d = |h: f64| ((self.f)(t + h) - (self.f)(t - h)) / (2.0 * h);
                (4.0 * d(0.5 * h) - d(h)) / 3.0
            }
        }
    }
    fn kinks(&self) -> &[f64] {
        &self.kinks
    }
}
