//! The floating-point element type of every map: `f32` or `f64`.

use rustfft::FftNum;
use rustfft::num_traits::Float;

/// `f32` or `f64`. All randomness is drawn in `f64`/integers and then
/// converted, so a seed gives the same sketch in both precisions.
pub trait Real:
    FftNum + Float + faer::traits::RealField + Default + Send + Sync + sealed::Sealed + 'static
{
    /// Conversion from `f64` (rounding for `f32`).
    fn cast(v: f64) -> Self;
    /// Widening to `f64`.
    fn as_f64(self) -> f64;
    /// `x ← H x`, the unnormalised Walsh–Hadamard transform of a
    /// power-of-two length, with the fastest build for this CPU (the same
    /// bits on every CPU). Use [`crate::transform::fwht`].
    #[doc(hidden)]
    fn fwht_in_place(x: &mut [Self]);
    /// `buf ← H(s∘v ⊕ 0)`: the signed input, zero-padded to `buf.len()` (a
    /// power of two), transformed; the same bits on every CPU.
    #[doc(hidden)]
    fn signed_fwht(v: &[Self], signs: &[Self], buf: &mut [Self]);
    /// `out[k] = src[rows[k]]·scale`, the same bits on every CPU.
    ///
    /// # Panics
    /// If `rows` and `out` differ in length or `src` is shorter than the
    /// rows' bound.
    #[doc(hidden)]
    fn gather_scaled(src: &[Self], rows: &crate::simd::Rows32, scale: Self, out: &mut [Self]);
    /// `out[k] = (a[ra[k]] + b[rb[k]])·scale`, the same bits on every CPU.
    ///
    /// # Panics
    /// As [`Real::gather_scaled`], for either source.
    #[doc(hidden)]
    fn gather2_scaled(
        a: &[Self],
        ra: &crate::simd::Rows32,
        b: &[Self],
        rb: &crate::simd::Rows32,
        scale: Self,
        out: &mut [Self],
    );
    /// `out = e∘y` (`first`) or `out += e∘y`, the same bits on every CPU.
    ///
    /// # Panics
    /// Unless the three lengths agree.
    #[doc(hidden)]
    fn signed_sum(e: &[Self], y: &[Self], out: &mut [Self], first: bool) {
        crate::simd::signed_sum(e, y, out, first);
    }
}

/// The SIMD-dispatched kernels of one precision (`crate::simd`'s
/// `fwht_*`, `signed_fwht_*`, `gather_*`, `gather2_*`).
macro_rules! simd_kernels {
    ($fwht:ident, $signed:ident, $gather:ident, $gather2:ident) => {
        fn fwht_in_place(x: &mut [Self]) {
            crate::simd::$fwht(x);
        }
        fn signed_fwht(v: &[Self], signs: &[Self], buf: &mut [Self]) {
            crate::simd::$signed(v, signs, buf);
        }
        fn gather_scaled(src: &[Self], rows: &crate::simd::Rows32, scale: Self, out: &mut [Self]) {
            crate::simd::$gather(src, rows, scale, out);
        }
        fn gather2_scaled(
            a: &[Self],
            ra: &crate::simd::Rows32,
            b: &[Self],
            rb: &crate::simd::Rows32,
            scale: Self,
            out: &mut [Self],
        ) {
            crate::simd::$gather2(a, ra, b, rb, scale, out);
        }
    };
}

impl Real for f32 {
    fn cast(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
    simd_kernels!(fwht_f32, signed_fwht_f32, gather_f32, gather2_f32);
}

impl Real for f64 {
    fn cast(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
    simd_kernels!(fwht_f64, signed_fwht_f64, gather_f64, gather2_f64);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}
