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
    let mut h = 1;
    if n >= 8 {
        // The first three stages fused per block of 8: their inner loops
        // would be 1, 2 and 4 elements long and defeat vectorisation.
        for b in x.chunks_exact_mut(8) {
            let (a0, a1) = (b[0] + b[1], b[0] - b[1]);
            let (a2, a3) = (b[2] + b[3], b[2] - b[3]);
            let (a4, a5) = (b[4] + b[5], b[4] - b[5]);
            let (a6, a7) = (b[6] + b[7], b[6] - b[7]);
            let (c0, c2, c1, c3) = (a0 + a2, a0 - a2, a1 + a3, a1 - a3);
            let (c4, c6, c5, c7) = (a4 + a6, a4 - a6, a5 + a7, a5 - a7);
            b[0] = c0 + c4;
            b[4] = c0 - c4;
            b[1] = c1 + c5;
            b[5] = c1 - c5;
            b[2] = c2 + c6;
            b[6] = c2 - c6;
            b[3] = c3 + c7;
            b[7] = c3 - c7;
        }
        h = 8;
    }
    // Two stages per pass (h and 2h): the same additions in the same order
    // as two radix-2 passes, with half the memory traffic.
    while 4 * h <= n {
        for block in x.chunks_exact_mut(4 * h) {
            let (ab, cd) = block.split_at_mut(2 * h);
            let (q0, q1) = ab.split_at_mut(h);
            let (q2, q3) = cd.split_at_mut(h);
            for (((a, b), c), d) in q0
                .iter_mut()
                .zip(q1.iter_mut())
                .zip(q2.iter_mut())
                .zip(q3.iter_mut())
            {
                let (s1, d1) = (*a + *b, *a - *b);
                let (s2, d2) = (*c + *d, *c - *d);
                *a = s1 + s2;
                *c = s1 - s2;
                *b = d1 + d2;
                *d = d1 - d2;
            }
        }
        h *= 4;
    }
    while h < n {
        for block in x.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                let (p, q) = (*u, *v);
                *u = p + q;
                *v = p - q;
            }
        }
        h *= 2;
    }
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
