//! TensorSketch (Pham & Pagh 2013): CountSketches combined by FFT.

use crate::count_sketch::CountSketch;
use crate::error::{Result, SketchError};
use crate::map::{ScratchLen, Sketch, nonzero};
use crate::real::Real;
use crate::seed::Seed;
use crate::transform::FftPair;
use rustfft::num_complex::Complex;

/// `TS(x₁, …, x_p) = IFFT(Π_i FFT(C_i x_i))`: the circular convolution of p
/// independent CountSketches, a sketch of `x₁ ⊗ … ⊗ x_p` in `R^m`.
/// `E⟨TS(x), TS(y)⟩ = ⟨x, y⟩^p`; Pham & Pagh bound the variance by
/// `(3^p − 1)‖x‖^{2p}‖y‖^{2p}/m` (Avron et al. 2014, Lemma 2).
/// Cost `O(p(nnz(x) + m log m))`.
#[derive(Debug, Clone)]
pub struct TensorSketch<T: Real> {
    sketches: Vec<CountSketch>,
    fft: FftPair<T>,
    m: usize,
    d: usize,
}

impl<T: Real> TensorSketch<T> {
    /// Degree `p ≥ 1`, `d → m`.
    ///
    /// # Errors
    /// Zero dimensions, [`SketchError::InvalidDegree`] for `p = 0`.
    pub fn new(d: usize, m: usize, degree: usize, seed: Seed) -> Result<Self> {
        nonzero("input dimension", d)?;
        nonzero("sketch dimension", m)?;
        if degree == 0 {
            return Err(SketchError::InvalidDegree { degree });
        }
        let sketches = (0..degree)
            .map(|i| CountSketch::new(d, m, seed.child(i as u64)))
            .collect::<Result<_>>()?;
        Ok(Self {
            sketches,
            fft: FftPair::new(m),
            m,
            d,
        })
    }

    /// The CountSketches (test oracles: the dense reference is their
    /// convolution).
    pub fn count_sketches(&self) -> &[CountSketch] {
        &self.sketches
    }

    /// Sketch of `x₁ ⊗ … ⊗ x_p` (multilinear in the inputs).
    ///
    /// # Panics
    /// Unless there are exactly `p` inputs of length `d`, and `out` has length `m`.
    pub fn apply_multi(
        &self,
        xs: &[&[T]],
        out: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        assert_eq!(
            xs.len(),
            self.sketches.len(),
            "TensorSketch needs one input per degree"
        );
        self.apply_leaves(|k| xs[k], out, real, complex);
    }

    fn apply_leaves<'a>(
        &self,
        leaf: impl Fn(usize) -> &'a [T],
        out: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        assert_eq!(out.len(), self.m, "TensorSketch output length");
        let m = self.m;
        let (acc, rest) = complex.split_at_mut(m);
        let (cur, fft_scratch) = rest.split_at_mut(m);
        let counts = &mut real[..m];
        for (k, cs) in self.sketches.iter().enumerate() {
            let x = leaf(k);
            assert_eq!(x.len(), self.d, "TensorSketch input length");
            counts.iter_mut().for_each(|c| *c = T::zero());
            cs.accumulate(x, counts);
            let target: &mut [Complex<T>] = if k == 0 { &mut *acc } else { &mut *cur };
            for (t, c) in target.iter_mut().zip(counts.iter()) {
                *t = Complex::new(*c, T::zero());
            }
            self.fft.forward.process_with_scratch(target, fft_scratch);
            if k > 0 {
                acc.iter_mut().zip(cur.iter()).for_each(|(a, c)| *a *= *c);
            }
        }
        self.fft.inverse.process_with_scratch(acc, fft_scratch);
        // rustfft does not normalise: the inverse carries a factor m.
        let inv_m = T::cast(1.0 / m as f64);
        for (o, a) in out.iter_mut().zip(acc.iter()) {
            *o = a.re * inv_m;
        }
    }
}

impl<T: Real> Sketch<T> for TensorSketch<T> {
    fn dim_in(&self) -> usize {
        self.d
    }
    fn dim_out(&self) -> usize {
        self.m
    }
    fn degree(&self) -> usize {
        self.sketches.len()
    }
    fn scratch_len(&self) -> ScratchLen {
        ScratchLen {
            real: self.m,
            complex: 2 * self.m + self.fft.scratch_len(),
        }
    }
    fn apply_one(&self, x: &[T], out: &mut [T], real: &mut [T], complex: &mut [Complex<T>]) {
        self.apply_leaves(|_| x, out, real, complex);
    }
}
