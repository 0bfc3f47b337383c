//! SRHT and TensorSRHT, with the fast Walsh–Hadamard transform or (as in the
//! papers' code) the DFT.

use crate::error::{Result, SketchError};
use crate::map::{ScratchLen, Sketch, inv_sqrt, nonzero};
use crate::real::Real;
use crate::seed::{Seed, indices, signs};
use crate::simd::Rows32;
use crate::transform::FftPair;
use rustfft::num_complex::Complex;

/// The orthogonal transform behind a randomized Hadamard sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Walsh–Hadamard after zero-padding to the next power of two (padding
    /// leaves every inner product unchanged). Real outputs.
    Hadamard,
    /// Unnormalised DFT of the native length (any length, rustfft), as in
    /// the papers' code. Complex outputs exposed as `[Re; Im]`: `dim_out`
    /// must be even and counts reals.
    Fourier,
}

/// The Walsh–Hadamard transform of an input of `d = P + t` entries
/// (`P` a power of two, `0 < t ≤ P/2`) zero-padded to `2P`, at the sampled
/// rows only, from one transform of length `P` and one of `T =
/// next_power_of_two(t)`: with `H₂ₚ = [[H_P, H_P], [H_P, −H_P]]` and
/// `H_P[j, i] = H_T[j mod T, i]` for `i < T`,
/// `(H₂ₚ[a; b; 0])[r] = (H_P a)[r mod P] ± (H_T b)[r mod T]`, minus for
/// `r ≥ P`. The same linear map as the padded transform (the tests compare
/// both with its explicit matrix) at a bit more than half the arithmetic:
/// a bias coordinate after 8192 node features no longer doubles the
/// transform.
#[derive(Debug, Clone)]
struct Split {
    p: usize,
    t: usize,
    /// `r mod P` for every sampled row.
    main: Rows32,
    /// `r mod T`, plus `T` where `r ≥ P` (the negated copy of `H_T b`).
    tail: Rows32,
}

impl Split {
    fn new(d: usize, rows: &[usize]) -> Option<Self> {
        if d.is_power_of_two() {
            return None;
        }
        let p = d.next_power_of_two() / 2;
        let t = (d - p).next_power_of_two();
        if t >= p {
            return None;
        }
        let main: Vec<usize> = rows.iter().map(|&r| r % p).collect();
        let tail: Vec<usize> = rows
            .iter()
            .map(|&r| r % t + if r >= p { t } else { 0 })
            .collect();
        Some(Self {
            p,
            t,
            main: Rows32::new(&main)?,
            tail: Rows32::new(&tail)?,
        })
    }
}

/// One randomized transform branch: signs `s`, transform `F`, and sampled
/// rows `P`: `v ↦ F(s ∘ v)[P]` (unscaled).
#[derive(Debug, Clone)]
pub(crate) struct Branch<T: Real> {
    signs: Vec<f64>,
    /// The signs in `T` (multiplying by ±1 is exact: the same values as a
    /// branch on the sign, without mispredicted branches).
    signs_t: Vec<T>,
    rows: Vec<usize>,
    /// The rows as 32-bit indices, in output order: the gather reads the
    /// transform at random and writes the output in sequence (a hardware
    /// gather, eight rows at a time). Output positions stay in the rows'
    /// random order (see `docs/NUMERICS.md`: a sorted order correlates the
    /// rows of the next transform).
    idx: Rows32,
    /// Hadamard inputs a little past a power of two, computed without the
    /// padded transform (see [`Split`]).
    split: Option<Split>,
    d: usize,
    padded: usize,
    fft: Option<FftPair<T>>,
}

impl<T: Real> Branch<T> {
    /// `samples` rows of a transform of `d` inputs.
    pub(crate) fn new(d: usize, samples: usize, transform: Transform, seed: Seed) -> Self {
        let padded = match transform {
            Transform::Hadamard => d.next_power_of_two(),
            Transform::Fourier => d,
        };
        let fft = (transform == Transform::Fourier).then(|| FftPair::new(d));
        let signs = signs(seed, d);
        let rows = indices(seed, padded, samples);
        // `check_len` refused transforms longer than 2³¹ before this point.
        let idx = Rows32::new(&rows).expect("rows below 2^31 (check_len)");
        let split = match transform {
            Transform::Hadamard => Split::new(d, &rows),
            Transform::Fourier => None,
        };
        Self {
            signs_t: signs.iter().map(|&v| T::cast(v)).collect(),
            signs,
            rows,
            idx,
            split,
            d,
            padded,
            fft,
        }
    }

    /// Explicit rows `F[P_k, i]·s_i` as `(re, im)` pairs, from the
    /// definition of the transform (no fast algorithm): a test oracle.
    fn dense_rows(&self) -> Vec<Vec<(f64, f64)>> {
        self.rows
            .iter()
            .map(|&r| {
                (0..self.d)
                    .map(|i| match self.fft {
                        None => (
                            if (r & i).count_ones() % 2 == 0 {
                                self.signs[i]
                            } else {
                                -self.signs[i]
                            },
                            0.0,
                        ),
                        Some(_) => {
                            let ang = -2.0 * core::f64::consts::PI * ((r * i) % self.d) as f64
                                / self.d as f64;
                            (ang.cos() * self.signs[i], ang.sin() * self.signs[i])
                        }
                    })
                    .collect()
            })
            .collect()
    }

    pub(crate) fn scratch(&self) -> ScratchLen {
        match &self.fft {
            None => ScratchLen {
                real: self.split.as_ref().map_or(self.padded, |s| s.p + 2 * s.t),
                complex: 0,
            },
            Some(f) => ScratchLen {
                real: 0,
                complex: self.d + f.scratch_len(),
            },
        }
    }

    /// Hadamard: `out[k] = (H s∘v)[P_k]·scale`.
    pub(crate) fn real(&self, v: &[T], scale: T, out: &mut [T], buf: &mut [T]) {
        match &self.split {
            None => {
                let buf = &mut buf[..self.padded];
                T::signed_fwht(v, &self.signs_t, buf);
                T::gather_scaled(buf, &self.idx, scale, out);
            }
            Some(sp) => {
                let (main, rest) = buf.split_at_mut(sp.p);
                let (tail, neg) = rest[..2 * sp.t].split_at_mut(sp.t);
                let (head_v, tail_v) = v.split_at(sp.p);
                let (head_s, tail_s) = self.signs_t.split_at(sp.p);
                T::signed_fwht(head_v, head_s, main);
                T::signed_fwht(tail_v, tail_s, tail);
                neg.iter_mut().zip(tail.iter()).for_each(|(n, v)| *n = -*v);
                T::gather2_scaled(main, &sp.main, &rest[..2 * sp.t], &sp.tail, scale, out);
            }
        }
    }

    /// Fourier: `out[k] = F(s∘v)[P_k]·scale` (complex).
    pub(crate) fn complex(
        &self,
        v: &[T],
        scale: T,
        out: &mut [Complex<T>],
        buf: &mut [Complex<T>],
    ) {
        let fft = self.fft.as_ref().expect("a Fourier branch");
        let (data, rest) = buf.split_at_mut(self.d);
        for ((b, &x), &s) in data.iter_mut().zip(v).zip(&self.signs_t) {
            *b = Complex::new(x * s, T::zero());
        }
        fft.forward
            .process_with_scratch(data, &mut rest[..fft.forward.get_inplace_scratch_len()]);
        for (o, &r) in out.iter_mut().zip(self.idx.as_slice()) {
            *o = data[r as usize] * scale;
        }
    }
}

/// Subsampled randomized Hadamard (or Fourier) transform, degree 1:
/// `S(x) = F(s∘x)[P]/sqrt(m)` with `m` distinct rows sampled uniformly
/// (with replacement only when `m` exceeds the transform length, where
/// distinct rows run out). `E⟨Sx, Sy⟩ = ⟨x, y⟩` (real part for the complex variant).
/// Cost `O(d log d + m)`.
#[derive(Debug, Clone)]
pub struct Srht<T: Real> {
    branch: Branch<T>,
    transform: Transform,
    dim_out: usize,
}

impl<T: Real> Srht<T> {
    /// `d → dim_out` (reals; for [`Transform::Fourier`], `dim_out/2` complex rows).
    ///
    /// # Errors
    /// Zero dimensions; an odd `dim_out` with [`Transform::Fourier`].
    pub fn new(d: usize, dim_out: usize, transform: Transform, seed: Seed) -> Result<Self> {
        nonzero("input dimension", d)?;
        nonzero("sketch dimension", dim_out)?;
        check_len("input dimension", d)?;
        let rows = complex_rows(dim_out, transform)?;
        Ok(Self {
            branch: Branch::new(d, rows, transform, seed),
            transform,
            dim_out,
        })
    }
}

/// Transforms up to `2³¹` long (`2³¹` values are 8 GiB of `f32`): the
/// sampled rows are kept as 32-bit indices.
pub(crate) fn check_len(what: &'static str, d: usize) -> Result<()> {
    match d.checked_next_power_of_two() {
        Some(p) if p <= 1 << 31 => Ok(()),
        _ => Err(SketchError::InvalidParameter {
            what,
            value: d as f64,
            reason: "transforms are limited to 2^31 inputs",
        }),
    }
}

/// Sampled rows for a real output dimension.
pub(crate) fn complex_rows(dim_out: usize, transform: Transform) -> Result<usize> {
    match transform {
        Transform::Hadamard => Ok(dim_out),
        Transform::Fourier if dim_out.is_multiple_of(2) => Ok(dim_out / 2),
        Transform::Fourier => Err(SketchError::InvalidParameter {
            what: "dim_out",
            value: dim_out as f64,
            reason: "Fourier sketches output [Re; Im] pairs: dim_out must be even",
        }),
    }
}

impl<T: Real> Sketch<T> for Srht<T> {
    fn dim_in(&self) -> usize {
        self.branch.d
    }
    fn dim_out(&self) -> usize {
        self.dim_out
    }
    fn degree(&self) -> usize {
        1
    }
    fn scratch_len(&self) -> ScratchLen {
        match self.transform {
            Transform::Hadamard => self.branch.scratch(),
            Transform::Fourier => self.branch.scratch().then(ScratchLen {
                real: 0,
                complex: self.dim_out / 2,
            }),
        }
    }
    fn apply_one(&self, x: &[T], out: &mut [T], real: &mut [T], complex: &mut [Complex<T>]) {
        assert_eq!(
            (x.len(), out.len()),
            (self.branch.d, self.dim_out),
            "Srht lengths"
        );
        match self.transform {
            Transform::Hadamard => self.branch.real(x, inv_sqrt(self.dim_out), out, real),
            Transform::Fourier => {
                let half = self.dim_out / 2;
                let (vals, buf) = complex.split_at_mut(half);
                self.branch.complex(x, inv_sqrt(half), vals, buf);
                split_re_im(vals, out);
            }
        }
    }
}

impl<T: Real> Srht<T> {
    /// The explicit `dim_out × d` matrix, built from the definition of the
    /// Hadamard matrix or the DFT (a test oracle).
    pub fn to_dense(&self) -> faer::Mat<f64> {
        let rows = self.branch.dense_rows();
        let d = self.branch.d;
        match self.transform {
            Transform::Hadamard => {
                let s = 1.0 / (self.dim_out as f64).sqrt();
                faer::Mat::from_fn(self.dim_out, d, |k, i| rows[k][i].0 * s)
            }
            Transform::Fourier => {
                let half = self.dim_out / 2;
                let s = 1.0 / (half as f64).sqrt();
                faer::Mat::from_fn(self.dim_out, d, |k, i| {
                    if k < half {
                        rows[k][i].0 * s
                    } else {
                        rows[k - half][i].1 * s
                    }
                })
            }
        }
    }
}

/// `[Re; Im]` of complex values: `⟨[Re a; Im a], [Re b; Im b]⟩ = Re⟨a, b⟩_H`.
pub(crate) fn split_re_im<T: Real>(vals: &[Complex<T>], out: &mut [T]) {
    let (re, im) = out.split_at_mut(vals.len());
    for ((r, i), v) in re.iter_mut().zip(im.iter_mut()).zip(vals) {
        *r = v.re;
        *i = v.im;
    }
}

/// TensorSRHT (degree 2): `T(x₁, x₂)_k = F(s₁∘x₁)[P₁ₖ]·F(s₂∘x₂)[P₂ₖ]/sqrt(m)`
/// with independent branches. `E⟨T(x₁,x₂), T(y₁,y₂)⟩ = ⟨x₁,y₁⟩⟨x₂,y₂⟩`;
/// as a map of one vector, `T(x, x)` sketches `x ⊗ x`.
/// Per coordinate the Rademacher fourth moment gives
/// `Var ≤ 9‖x₁‖²‖x₂‖²‖y₁‖²‖y₂‖²/m` (Hadamard; the Fourier variant is similar).
#[derive(Debug, Clone)]
pub struct TensorSrht<T: Real> {
    left: Branch<T>,
    right: Branch<T>,
    transform: Transform,
    dim_out: usize,
}

impl<T: Real> TensorSrht<T> {
    /// `(d₁, d₂) → dim_out` reals.
    ///
    /// # Errors
    /// Zero dimensions; an odd `dim_out` with [`Transform::Fourier`].
    pub fn new(
        d1: usize,
        d2: usize,
        dim_out: usize,
        transform: Transform,
        seed: Seed,
    ) -> Result<Self> {
        nonzero("first input dimension", d1)?;
        nonzero("second input dimension", d2)?;
        nonzero("sketch dimension", dim_out)?;
        check_len("first input dimension", d1)?;
        check_len("second input dimension", d2)?;
        let rows = complex_rows(dim_out, transform)?;
        Ok(Self {
            left: Branch::new(d1, rows, transform, seed.child(0)),
            right: Branch::new(d2, rows, transform, seed.child(1)),
            transform,
            dim_out,
        })
    }

    /// The two input dimensions.
    pub fn dims_in(&self) -> (usize, usize) {
        (self.left.d, self.right.d)
    }

    /// Scratch for [`Self::apply_pair`].
    pub fn pair_scratch_len(&self) -> ScratchLen {
        match self.transform {
            Transform::Hadamard => ScratchLen {
                real: self.dim_out + self.left.scratch().real.max(self.right.scratch().real),
                complex: 0,
            },
            Transform::Fourier => {
                let rows = self.dim_out / 2;
                ScratchLen {
                    real: 0,
                    complex: 2 * rows
                        + self
                            .left
                            .scratch()
                            .complex
                            .max(self.right.scratch().complex),
                }
            }
        }
    }

    /// Sketch of `x₁ ⊗ x₂`.
    ///
    /// # Panics
    /// On length mismatches.
    pub fn apply_pair(
        &self,
        x1: &[T],
        x2: &[T],
        out: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        assert_eq!(
            (x1.len(), x2.len(), out.len()),
            (self.left.d, self.right.d, self.dim_out),
            "TensorSrht lengths"
        );
        match self.transform {
            Transform::Hadamard => {
                let (second, buf) = real.split_at_mut(self.dim_out);
                self.left.real(x1, inv_sqrt(self.dim_out), out, buf);
                self.right.real(x2, T::one(), second, buf);
                out.iter_mut()
                    .zip(second.iter())
                    .for_each(|(o, s)| *o *= *s);
            }
            Transform::Fourier => {
                let rows = self.dim_out / 2;
                let (a, rest) = complex.split_at_mut(rows);
                let (b, buf) = rest.split_at_mut(rows);
                self.left.complex(x1, inv_sqrt(rows), a, buf);
                self.right.complex(x2, T::one(), b, buf);
                a.iter_mut().zip(b.iter()).for_each(|(p, q)| *p *= *q);
                split_re_im(a, out);
            }
        }
    }

    /// The explicit `dim_out × (d₁·d₂)` matrix acting on `x₁ ⊗ x₂`
    /// (index `i·d₂ + j`), from the definition of the transforms (a test oracle).
    pub fn to_dense(&self) -> faer::Mat<f64> {
        let (a, b) = (self.left.dense_rows(), self.right.dense_rows());
        let (d1, d2) = (self.left.d, self.right.d);
        let (rows, hadamard) = match self.transform {
            Transform::Hadamard => (self.dim_out, true),
            Transform::Fourier => (self.dim_out / 2, false),
        };
        let s = 1.0 / (rows as f64).sqrt();
        faer::Mat::from_fn(self.dim_out, d1 * d2, |k, c| {
            let (i, j) = (c / d2, c % d2);
            let kk = k % rows;
            let (p, q) = (a[kk][i], b[kk][j]);
            // (p.0 + i p.1)(q.0 + i q.1)
            let (re, im) = (p.0 * q.0 - p.1 * q.1, p.0 * q.1 + p.1 * q.0);
            s * if hadamard || k < rows { re } else { im }
        })
    }

    /// The first branch alone, `F(s₁∘x)[P₁]/sqrt(m)`: the SRHT used for a leaf
    /// whose partner is the constant 1 in a PolySketch tree (degree 1).
    pub(crate) fn apply_first(
        &self,
        x: &[T],
        out: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        match self.transform {
            Transform::Hadamard => self.left.real(x, inv_sqrt(self.dim_out), out, real),
            Transform::Fourier => {
                let rows = self.dim_out / 2;
                let (a, buf) = complex.split_at_mut(rows);
                self.left.complex(x, inv_sqrt(rows), a, buf);
                split_re_im(a, out);
            }
        }
    }
}

impl<T: Real> Sketch<T> for TensorSrht<T> {
    fn dim_in(&self) -> usize {
        self.left.d
    }
    fn dim_out(&self) -> usize {
        self.dim_out
    }
    fn degree(&self) -> usize {
        2
    }
    fn scratch_len(&self) -> ScratchLen {
        self.pair_scratch_len()
    }
    fn apply_one(&self, x: &[T], out: &mut [T], real: &mut [T], complex: &mut [Complex<T>]) {
        assert_eq!(
            self.left.d, self.right.d,
            "TensorSrht as a map of one vector needs d1 = d2"
        );
        self.apply_pair(x, x, out, real, complex);
    }
}
