//! Polynomial-kernel feature maps built on PolySketch.

use crate::error::{Result, SketchError};
use crate::map::{ScratchLen, Sketch, check_batch, column, drive, nonzero};
use crate::poly_sketch::PolySketch;
use crate::real::Real;
use crate::seed::Seed;
use crate::srht::{Srht, Transform};
use faer::{Mat, MatRef, Par};
use rustfft::num_complex::Complex;

/// `Z(x)` with `⟨Z(x), Z(y)⟩ ≈ Σ_{j=0}^{p} β_j ⟨x, y⟩^j` for `β_j ≥ 0`:
///
/// `Z_full(x) = [√β₀ ; √β₁·S₁(x) ; … ; √β_p·S_p(x)]` (length `1 + p·m`) from one
/// [`PolySketch`] tree, then an optional final SRHT to `dim_out` reals.
/// Each block is unbiased, so `E⟨Z(x), Z(y)⟩ = Σ β_j ⟨x, y⟩^j` exactly.
///
/// The **signed, norm-dependent** variant ([`PolyExpansion::apply_signed`])
/// takes per-sample coefficients `c_j` instead of `√β_j` and no square root:
/// `Z(x) = [c₀ ; c₁·S₁(u) ; … ; c_p·S_p(u)]` for a unit vector `u`, so that
/// `⟨Z(x), Z(y)⟩ ≈ Σ_j c_j(x) c_j(y) ⟨u_x, u_y⟩^j`: the truncated Hermite
/// expansion of a general activation with coefficients `c_j(‖x‖)`
/// (Han et al. 2022, §4.1).
#[derive(Debug, Clone)]
pub struct PolyExpansion<T: Real> {
    poly: PolySketch<T>,
    sqrt_beta: Vec<f64>,
    compress: Option<Srht<T>>,
    m: usize,
}

impl<T: Real> PolyExpansion<T> {
    /// `β_0..β_p` (`p = beta.len() − 1 ≥ 1`), node dimension `m`, and
    /// `dim_out = Some(D)` for a final Hadamard SRHT to `D` reals (`None`
    /// keeps the `1 + p·m` coordinates).
    ///
    /// # Errors
    /// [`SketchError::InvalidParameter`] for a negative or non-finite `β`
    /// (the signed variant takes any sign); the errors of [`PolySketch::new`].
    pub fn new(
        d: usize,
        m: usize,
        beta: &[f64],
        dim_out: Option<usize>,
        seed: Seed,
    ) -> Result<Self> {
        if let Some(&b) = beta.iter().find(|b| !(b.is_finite() && **b >= 0.0)) {
            return Err(SketchError::InvalidParameter {
                what: "beta",
                value: b,
                reason: "coefficients must be finite and >= 0",
            });
        }
        Self::build(
            d,
            m,
            beta.len().saturating_sub(1),
            dim_out,
            seed,
            beta.iter().map(|b| b.sqrt()).collect(),
        )
    }

    /// The signed variant's map for degree `p` (coefficients come with the data).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn signed(
        d: usize,
        m: usize,
        degree: usize,
        dim_out: Option<usize>,
        seed: Seed,
    ) -> Result<Self> {
        Self::build(d, m, degree, dim_out, seed, vec![1.0; degree + 1])
    }

    fn build(
        d: usize,
        m: usize,
        degree: usize,
        dim_out: Option<usize>,
        seed: Seed,
        sqrt_beta: Vec<f64>,
    ) -> Result<Self> {
        if degree == 0 {
            return Err(SketchError::InvalidDegree { degree });
        }
        let poly = PolySketch::new(d, m, degree, Transform::Hadamard, seed.child(0))?;
        let compress = match dim_out {
            Some(dout) => {
                nonzero("output dimension", dout)?;
                Some(Srht::new(
                    1 + degree * m,
                    dout,
                    Transform::Hadamard,
                    seed.child(1),
                )?)
            }
            None => None,
        };
        Ok(Self {
            poly,
            sqrt_beta,
            compress,
            m,
        })
    }

    fn full_len(&self) -> usize {
        1 + Sketch::<T>::degree(&self.poly) * self.m
    }

    fn write(
        &self,
        x: &[T],
        coeffs: &dyn Fn(usize) -> T,
        out: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        let full_len = self.full_len();
        let (zfull, real) = real.split_at_mut(full_len);
        zfull[0] = coeffs(0);
        self.poly
            .apply_all_degrees(x, &mut zfull[1..], real, complex);
        for (j, block) in zfull[1..].chunks_exact_mut(self.m).enumerate() {
            let c = coeffs(j + 1);
            block.iter_mut().for_each(|v| *v *= c);
        }
        match &self.compress {
            Some(s) => s.apply_one(zfull, out, real, complex),
            None => out.copy_from_slice(zfull),
        }
    }

    /// Per-sample signed coefficients: `x: (d, n)` unit vectors (or any
    /// vectors: the blocks then sketch `x^{⊗j}`), `coeffs: (p + 1, n)`.
    ///
    /// # Errors
    /// Shape and finiteness checks.
    pub fn apply_signed(
        &self,
        x: MatRef<'_, T>,
        coeffs: MatRef<'_, T>,
        par: Par,
    ) -> Result<Mat<T>> {
        let d = Sketch::<T>::dim_in(self);
        check_batch(x, d)?;
        check_batch(coeffs, self.sqrt_beta.len())?;
        if coeffs.ncols() != x.ncols() {
            return Err(SketchError::DimMismatch {
                what: "coefficient columns",
                expected: x.ncols(),
                got: coeffs.ncols(),
            });
        }
        let need = Sketch::<T>::scratch_len(self).then(ScratchLen {
            real: d,
            complex: 0,
        });
        Ok(drive(
            x.ncols(),
            Sketch::<T>::dim_out(self),
            need,
            par,
            |j, out, real, complex| {
                let (copy, real) = real.split_at_mut(d);
                self.write(column(x, j, copy), &|k| coeffs[(k, j)], out, real, complex);
            },
        ))
    }
}

impl<T: Real> Sketch<T> for PolyExpansion<T> {
    fn dim_in(&self) -> usize {
        self.poly.dim_in()
    }
    fn dim_out(&self) -> usize {
        self.compress
            .as_ref()
            .map_or(self.full_len(), |s| s.dim_out())
    }
    /// The largest degree in the expansion.
    fn degree(&self) -> usize {
        self.poly.degree()
    }
    fn scratch_len(&self) -> ScratchLen {
        let tail = self
            .compress
            .as_ref()
            .map(|s| s.scratch_len())
            .unwrap_or_default()
            .max(self.poly.tree_scratch_len());
        ScratchLen {
            real: self.full_len(),
            complex: 0,
        }
        .then(tail)
    }
    fn apply_one(&self, x: &[T], out: &mut [T], real: &mut [T], complex: &mut [Complex<T>]) {
        assert_eq!(
            out.len(),
            Sketch::<T>::dim_out(self),
            "PolyExpansion output length"
        );
        self.write(x, &|k| T::cast(self.sqrt_beta[k]), out, real, complex);
    }
}
