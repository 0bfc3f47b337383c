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
///
/// `sin_part >= 0`, so `theta` lies in `[0, pi]`. Evaluated branch-free (so
/// loops over arrays vectorise) with the Cephes rational approximation of
/// `atan` on `|r| <= 0.66` after the reductions `atan(t) = pi/4 +
/// atan((t-1)/(t+1))` for `t > 0.66` and `atan(1/t) = pi/2 - atan(t)`; the
/// constants `pi/4`, `pi/2`, `pi` are applied as two-term sums, so the result
/// is within a few ulp of the correctly rounded angle (tested against the
/// platform `atan2` in `tests/edge_cases.rs`).
#[inline]
pub fn angle(sin_part: f64, c: f64) -> f64 {
    // Cephes atan.c: atan(r) = r + r·z·P(z)/Q(z), z = r², |r| <= 0.66.
    const P: [f64; 5] = [
        -8.750_608_600_031_904e-1,
        -1.615_753_718_733_365e1,
        -7.500_855_792_314_705e1,
        -1.228_866_684_490_136_2e2,
        -6.485_021_904_942_025e1,
    ];
    const Q: [f64; 5] = [
        2.485_846_490_142_306_4e1,
        1.650_270_098_316_988_5e2,
        4.328_810_604_912_903e2,
        4.853_903_996_359_137e2,
        1.945_506_571_482_614e2,
    ];
    // pi/2 = FRAC_PI_2 + PIO2_LO, pi = PI + PI_LO (the rounding residues).
    const PIO2_LO: f64 = 6.123_233_995_736_766e-17;
    const PI_LO: f64 = 1.224_646_799_147_353_2e-16;
    let y = sin_part;
    let ax = c.abs();
    let swap = y > ax;
    let lo = if swap { ax } else { y };
    let hi = if swap { y } else { ax };
    let big = lo > 0.66 * hi;
    let r = if big { lo - hi } else { lo } / if big { lo + hi } else { hi };
    let z = r * r;
    let p = (((P[0] * z + P[1]) * z + P[2]) * z + P[3]) * z + P[4];
    let q = ((((z + Q[0]) * z + Q[1]) * z + Q[2]) * z + Q[3]) * z + Q[4];
    let small = r + r * (z * p / q);
    let a = if big {
        core::f64::consts::FRAC_PI_4 + (small + 0.5 * PIO2_LO)
    } else {
        small
    };
    let a = if swap {
        (core::f64::consts::FRAC_PI_2 - a) + PIO2_LO
    } else {
        a
    };
    let a = if c < 0.0 { (PI - a) + PI_LO } else { a };
    if hi == 0.0 { PI / 2.0 } else { a }
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

#[cfg(test)]
mod angle_tests {
    use super::angle;
    use core::f64::consts::PI;

    /// Distance in units of the spacing of doubles at `b`.
    fn ulps(a: f64, b: f64) -> f64 {
        let spacing = f64::EPSILON * b.abs().max(f64::MIN_POSITIVE);
        (a - b).abs() / spacing
    }

    /// Against the platform `atan2` (correctly rounded to within 1 ulp) on
    /// a dense grid of ratios, signs and magnitudes, plus the edges.
    #[test]
    fn matches_atan2_within_three_ulps() {
        let mut worst: f64 = 0.0;
        let mut x = 1e-7f64;
        let mut count = 0;
        while x < 1e7 {
            for &scale in &[1e-300, 1e-10, 1.0, 3.7, 1e10, 1e300] {
                for &sign in &[1.0, -1.0] {
                    let (y, c) = (x * scale, sign * scale);
                    let want = y.atan2(c);
                    worst = worst.max(ulps(angle(y, c), want));
                    let want = scale.atan2(sign * x * scale);
                    worst = worst.max(ulps(angle(scale, sign * x * scale), want));
                    count += 2;
                }
            }
            x *= 1.0007;
        }
        assert!(count > 500_000);
        // Cephes' kernel is good to about 1 ulp and each reduction adds at
        // most half an ulp; the reference may itself be off by its last bit.
        // The distance is in units of eps·|reference| (up to 2 ulp of the
        // result's binade), so 2 bounds it; the measured worst case is 1.0.
        assert!(worst <= 2.0, "worst error {worst} ulp (measured: 1.0)");
        // Exact edges.
        assert_eq!(angle(0.0, 0.0), PI / 2.0);
        assert_eq!(angle(0.0, -0.0), PI / 2.0);
        assert_eq!(angle(0.0, 2.0), 0.0);
        assert_eq!(angle(0.0, -2.0), PI);
        assert_eq!(angle(3.0, 0.0), PI / 2.0);
        assert_eq!(angle(1.0, 1.0), PI / 4.0);
        assert!(ulps(angle(1.0, -1.0), 3.0 * PI / 4.0) <= 1.0);
        assert!(ulps(angle(1e-200, 1.0), 1e-200) <= 1.0);
    }
}
