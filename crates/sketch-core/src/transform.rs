//! In-place fast Walsh–Hadamard transform and shared FFT plans.

use crate::real::Real;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Unnormalised Walsh–Hadamard transform of a power-of-two-length slice:
/// `x ← H x` with `H` the ±1 Sylvester matrix (`HᵀH = n I`).
///
/// # Panics
/// If the length is not a power of two.
pub fn fwht<T: Real>(x: &mut [T]) {
    let n = x.len();
    assert!(n.is_power_of_two(), "fwht length {n} is not a power of two");
    T::fwht_in_place(x);
}

/// The portable transform (SSE2 on x86-64, no run-time dispatch): the same
/// bits as [`fwht`]. A fixed baseline for benchmarks, whose speed does not
/// depend on the SIMD builds.
#[doc(hidden)]
pub fn fwht_portable<T: Real>(x: &mut [T]) {
    let n = x.len();
    assert!(n.is_power_of_two(), "fwht length {n} is not a power of two");
    crate::simd::fwht_portable(x);
}

/// A forward/inverse FFT pair of one length, shareable across threads.
#[derive(Clone)]
pub(crate) struct FftPair<T: Real> {
    pub(crate) forward: Arc<dyn Fft<T>>,
    pub(crate) inverse: Arc<dyn Fft<T>>,
}

impl<T: Real> core::fmt::Debug for FftPair<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FftPair({})", self.forward.len())
    }
}

impl<T: Real> FftPair<T> {
    pub(crate) fn new(len: usize) -> Self {
        let mut planner = FftPlanner::<T>::new();
        Self {
            forward: planner.plan_fft_forward(len),
            inverse: planner.plan_fft_inverse(len),
        }
    }
    /// Complex scratch the in-place transforms need.
    pub(crate) fn scratch_len(&self) -> usize {
        self.forward
            .get_inplace_scratch_len()
            .max(self.inverse.get_inplace_scratch_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fwht_matches_the_explicit_hadamard_matrix() {
        // Every length up to 2^11: the radix-2 and radix-4 passes, the fused
        // first three stages, and their combinations.
        for k in 0..=11 {
            let n = 1usize << k;
            let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let mut y = x.clone();
            fwht(&mut y);
            for (i, yi) in y.iter().enumerate() {
                // Sylvester: H_ij = (−1)^{popcount(i & j)}.
                let want: f64 = (0..n)
                    .map(|j| {
                        if (i & j).count_ones() % 2 == 0 {
                            x[j]
                        } else {
                            -x[j]
                        }
                    })
                    .sum();
                assert!((yi - want).abs() < 1e-12 * n as f64, "n = {n}, row {i}");
            }
        }
    }
}
