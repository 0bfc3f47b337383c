//! CountSketch and Gaussian projection: the degree-1 maps.

use crate::error::Result;
use crate::map::{Sketch, nonzero};
use crate::real::Real;
use crate::seed::{Seed, buckets, gaussians, signs};
use faer::Mat;
use rustfft::num_complex::Complex;

/// CountSketch (Charikar et al. 2002): `S(x)_k = Σ_{i: h(i) = k} s(i) x_i`
/// with uniform buckets `h: [d] → [m]` and Rademacher signs `s`.
/// `E⟨Sx, Sy⟩ = ⟨x, y⟩`, `Var ≤ (⟨x,y⟩² + ‖x‖²‖y‖²)/m`. Cost `O(nnz(x))`.
#[derive(Debug, Clone)]
pub struct CountSketch {
    buckets: Vec<usize>,
    signs: Vec<f64>,
    m: usize,
}

impl CountSketch {
    /// Draws the hash and the signs from `seed`.
    ///
    /// # Errors
    /// [`crate::SketchError::ZeroDimension`] for `d = 0` or `m = 0`.
    pub fn new(d: usize, m: usize, seed: Seed) -> Result<Self> {
        nonzero("input dimension", d)?;
        nonzero("sketch dimension", m)?;
        Ok(Self {
            buckets: buckets(seed, m, d),
            signs: signs(seed, d),
            m,
        })
    }

    /// The explicit `m × d` matrix (a test oracle).
    pub fn to_dense(&self) -> Mat<f64> {
        let mut a = Mat::zeros(self.m, self.buckets.len());
        for (i, (&h, &s)) in self.buckets.iter().zip(&self.signs).enumerate() {
            a[(h, i)] = s;
        }
        a
    }

    /// Adds the sketch of `x` into `out` (no clearing), skipping zeros.
    pub(crate) fn accumulate<T: Real>(&self, x: &[T], out: &mut [T]) {
        for ((&xi, &h), &s) in x.iter().zip(&self.buckets).zip(&self.signs) {
            if xi != T::zero() {
                out[h] += if s > 0.0 { xi } else { -xi };
            }
        }
    }
}

impl<T: Real> Sketch<T> for CountSketch {
    fn dim_in(&self) -> usize {
        self.buckets.len()
    }
    fn dim_out(&self) -> usize {
        self.m
    }
    fn degree(&self) -> usize {
        1
    }
    fn apply_one(&self, x: &[T], out: &mut [T], _: &mut [T], _: &mut [Complex<T>]) {
        assert_eq!(
            (x.len(), out.len()),
            (self.buckets.len(), self.m),
            "CountSketch lengths"
        );
        out.iter_mut().for_each(|o| *o = T::zero());
        self.accumulate(x, out);
    }
}

/// Dense Gaussian projection `S(x) = G x/sqrt(m)`, `G_ki ~ N(0, 1)`:
/// `E⟨Sx, Sy⟩ = ⟨x, y⟩`, `Var = (⟨x,y⟩² + ‖x‖²‖y‖²)/m`. Cost `O(dm)`.
#[derive(Debug, Clone)]
pub struct GaussianProjection {
    /// `m × d`, row-major, already scaled by `1/sqrt(m)`.
    g: Vec<f64>,
    d: usize,
    m: usize,
}

impl GaussianProjection {
    /// Draws the matrix from `seed`.
    ///
    /// # Errors
    /// [`crate::SketchError::ZeroDimension`] for `d = 0` or `m = 0`.
    pub fn new(d: usize, m: usize, seed: Seed) -> Result<Self> {
        nonzero("input dimension", d)?;
        nonzero("sketch dimension", m)?;
        let s = 1.0 / (m as f64).sqrt();
        Ok(Self {
            g: gaussians(seed, d * m).into_iter().map(|v| v * s).collect(),
            d,
            m,
        })
    }

    /// The explicit `m × d` matrix (a test oracle).
    pub fn to_dense(&self) -> Mat<f64> {
        Mat::from_fn(self.m, self.d, |k, i| self.g[k * self.d + i])
    }
}

impl<T: Real> Sketch<T> for GaussianProjection {
    fn dim_in(&self) -> usize {
        self.d
    }
    fn dim_out(&self) -> usize {
        self.m
    }
    fn degree(&self) -> usize {
        1
    }
    fn apply_one(&self, x: &[T], out: &mut [T], _: &mut [T], _: &mut [Complex<T>]) {
        assert_eq!(
            (x.len(), out.len()),
            (self.d, self.m),
            "GaussianProjection lengths"
        );
        for (o, row) in out.iter_mut().zip(self.g.chunks_exact(self.d)) {
            // Accumulate in f64 and round once: the f32 map is the f64 map rounded.
            *o = T::cast(row.iter().zip(x).map(|(g, xi)| g * xi.as_f64()).sum());
        }
    }
}
