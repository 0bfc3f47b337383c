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
}

impl Real for f32 {
    fn cast(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    fn cast(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}
