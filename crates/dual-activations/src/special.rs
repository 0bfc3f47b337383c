//! Scalar special functions and small helpers shared by the closed forms.

use core::f64::consts::{FRAC_1_SQRT_2, PI};

/// `1 / sqrt(2 pi)`, the standard normal density at 0.
pub const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Error function (musl's algorithm through the `libm` crate; about 1 ulp).
#[inline]
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// Complementary error function, accurate in the far tail.
#[inline]
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// Standard normal density.
#[inline]
pub fn norm_pdf(x: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal distribution function, accurate in both tails.
#[inline]
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * FRAC_1_SQRT_2)
}

/// `(2n - 1)!! = E[z^(2n)]` for a standard normal `z` (1 for `n = 0`).
pub fn odd_double_factorial(n: u32) -> f64 {
    (1..=n).fold(1.0, |acc, k| acc * f64::from(2 * k - 1))
}

/// The angle `theta = atan2(sqrt(max(det, 0)), c)` between two pre-activations,
/// with neural-tangents' convention `theta = pi/2` when both arguments vanish
/// (a zero-variance input).
#[inline]
pub fn angle(sin_part: f64, c: f64) -> f64 {
    if sin_part == 0.0 && c == 0.0 {
        PI / 2.0
    } else {
        sin_part.atan2(c)
    }
}

/// A power of two close to `x > 0` (exact to scale by).
#[inline]
pub fn pow2_near(x: f64) -> f64 {
    debug_assert!(x > 0.0 && x.is_finite());
    let e = x.log2().round().clamp(-1000.0, 1000.0);
    // `exp2` of an integer in [-1022, 1023] is exact.
    e.exp2()
}

/// `x^n` for an integer exponent with `0^0 = 1`.
#[inline]
pub fn powu(x: f64, n: usize) -> f64 {
    match i32::try_from(n) {
        Ok(k) => x.powi(k),
        Err(_) => x.powf(n as f64),
    }
}
