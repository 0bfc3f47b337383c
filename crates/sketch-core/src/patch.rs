//! A sketch of image patches that shares one transform per source position.

use crate::error::{Result, SketchError};
use crate::map::nonzero;
use crate::real::Real;
use crate::seed::{Seed, signs};
use crate::simd::SignedRows32;
use crate::transform::fwht;
use rand::Rng;

/// Stream of the per-row tap coordinates and signs (distinct from the
/// streams of [`crate::Srht`]'s components).
const ROWS: u64 = 5;

/// Sketch of a patch `x = [v₁; …; v_T]` (`T` taps, each a `d`-vector, some
/// possibly zero) to `m` values, in two phases so that a convolution can
/// transform each source position once and reuse it for every output
/// position whose patch contains it:
///
/// 1. [`transform`](Self::transform) per source: `ŷ = H(s ∘ v)` (unnormalised
///    Walsh–Hadamard of length `P = d.next_power_of_two()`, one sign vector
///    `s` shared by every tap);
/// 2. [`combine`](Self::combine) per patch: `out_k = Σ_t ε_{kt}·ŷ_t[b_{kt}]/√m`
///    with independent uniform coordinates `b_{kt} ∈ [0, P)` and signs
///    `ε_{kt} = ±1`, independent across rows `k` and taps `t`.
///
/// `E⟨S x, S y⟩ = ⟨x, y⟩`: the signs `ε` remove the cross-tap terms, and
/// `E_b[ŷ[b]·ẑ[b]] = ⟨v, w⟩` because `HᵀH = P·I`, for any `s`. The rows are
/// i.i.d., so `Var⟨Sx, Sy⟩ = (E X² − ⟨x, y⟩²)/m` for one row's
/// `X = (Σ_t ε_t α_t)(Σ_t ε_t γ_t)`, `α_t = ŷ_t[b_t]`, `γ_t = ẑ_t[b_t]`. Over
/// `ε`, `E X² ≤ 3·Σ_t α_t²·Σ_t γ_t²` (Rademacher fourth moments); over the
/// independent `b_t` and the signs `s` (`E[α_t²γ_t²] ≤ 3‖v_t‖²‖w_t‖²`, the
/// same moments), `Var ≤ (3‖x‖²‖y‖² + 6·Σ_t ‖v_t‖²‖w_t‖²)/m`: close to a
/// dense SRHT of the whole patch (`≈ 2‖x‖²‖y‖²/m`) when the patch's mass is
/// spread over its taps, at the cost of `m·T` gathered additions per patch
/// instead of a transform of length `T·P`.
#[derive(Debug, Clone)]
pub struct PatchSrht<T: Real> {
    signs: Vec<T>,
    /// Per tap, in output order, the coordinate `b_{kt}` and whether
    /// `ε_{kt} = −1`: a combine adds the signed gathered values of every
    /// tap (eight rows per AVX2 gather) and scales by `1/√m` once at the end.
    rows: Vec<SignedRows32>,
    scale: T,
    d: usize,
    padded: usize,
    taps: usize,
    dim_out: usize,
}

impl<T: Real> PatchSrht<T> {
    /// Patches of `taps` vectors of length `d`, to `dim_out` values.
    ///
    /// # Errors
    /// Zero dimensions; a transform length beyond `u32` coordinates.
    pub fn new(d: usize, taps: usize, dim_out: usize, seed: Seed) -> Result<Self> {
        nonzero("input dimension", d)?;
        nonzero("taps", taps)?;
        nonzero("sketch dimension", dim_out)?;
        let padded = d.next_power_of_two();
        if u32::try_from(padded.max(dim_out)).is_err() {
            return Err(SketchError::InvalidParameter {
                what: "d",
                value: d as f64,
                reason: "patch sketches index coordinates with u32",
            });
        }
        if taps.checked_mul(dim_out).is_none() {
            return Err(SketchError::InvalidParameter {
                what: "dim_out",
                value: dim_out as f64,
                reason: "taps × dim_out overflows",
            });
        }
        let mut r = seed.rng(ROWS);
        let mut rows = Vec::with_capacity(taps);
        let (mut coord, mut negative) = (Vec::with_capacity(dim_out), Vec::with_capacity(dim_out));
        for _ in 0..taps {
            coord.clear();
            negative.clear();
            for _ in 0..dim_out {
                coord.push(r.random_range(0..padded as u32) as usize);
                negative.push(!r.random::<bool>());
            }
            rows.push(SignedRows32::new(&coord, &negative).ok_or(
                SketchError::InvalidParameter {
                    what: "d",
                    value: d as f64,
                    reason: "patch sketches index coordinates below 2^31",
                },
            )?);
        }
        Ok(Self {
            signs: signs(seed, d).into_iter().map(T::cast).collect(),
            rows,
            scale: T::cast(1.0 / (dim_out as f64).sqrt()),
            d,
            padded,
            taps,
            dim_out,
        })
    }

    /// Length `d` of one tap's vector.
    pub fn dim_in(&self) -> usize {
        self.d
    }

    /// Length `P` of a transformed source ([`transform`](Self::transform)'s output).
    pub fn transformed_len(&self) -> usize {
        self.padded
    }

    /// Taps per patch.
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// Output dimension.
    pub fn dim_out(&self) -> usize {
        self.dim_out
    }

    /// `out = scale·H(s ∘ v)` (length [`transformed_len`](Self::transformed_len)).
    ///
    /// # Panics
    /// On length mismatches.
    pub fn transform(&self, v: &[T], scale: T, out: &mut [T]) {
        assert_eq!(
            (v.len(), out.len()),
            (self.d, self.padded),
            "PatchSrht lengths"
        );
        let p = self.padded / 2;
        if p >= 2 && self.d > p && self.d - p <= p / 2 {
            // d = P + t, t ≤ P/2: the transform of length 2P of [a; b ⊕ 0]
            // is (H_P a)[r mod P] ± (H_T b)[r mod T] (minus for r ≥ P,
            // T = next_power_of_two(t)), about half the work. H_T b runs in
            // the last T slots; each of them is read for the last time in the
            // iteration that overwrites it.
            let t = self.d - p;
            let tt = t.next_power_of_two();
            let (lo, hi) = out.split_at_mut(p);
            for ((o, &x), &s) in lo.iter_mut().zip(&v[..p]).zip(&self.signs[..p]) {
                *o = x * s * scale;
            }
            let (hi_main, b) = hi.split_at_mut(p - tt);
            for ((o, &x), &s) in b.iter_mut().zip(&v[p..]).zip(&self.signs[p..]) {
                *o = x * s * scale;
            }
            b[t..].iter_mut().for_each(|o| *o = T::zero());
            fwht(lo);
            fwht(b);
            let (lo_main, lo_last) = lo.split_at_mut(p - tt);
            for (lc, hc) in lo_main
                .chunks_exact_mut(tt)
                .zip(hi_main.chunks_exact_mut(tt))
            {
                for ((l, h), &bb) in lc.iter_mut().zip(hc.iter_mut()).zip(b.iter()) {
                    let a = *l;
                    *l = a + bb;
                    *h = a - bb;
                }
            }
            for (l, bb) in lo_last.iter_mut().zip(b.iter_mut()) {
                let a = *l;
                let x = *bb;
                *l = a + x;
                *bb = a - x;
            }
            return;
        }
        for ((o, &x), &s) in out.iter_mut().zip(v).zip(&self.signs) {
            *o = x * s * scale;
        }
        out[self.d..].iter_mut().for_each(|o| *o = T::zero());
        fwht(out);
    }

    /// `out = S x` for the patch whose tap `t` has the transformed source
    /// `taps[t]` (`None`: a zero vector, such as padding).
    ///
    /// # Panics
    /// On a wrong number of taps or wrong lengths.
    pub fn combine(&self, taps: &[Option<&[T]>], out: &mut [T]) {
        assert_eq!(
            (taps.len(), out.len()),
            (self.taps, self.dim_out),
            "PatchSrht taps"
        );
        let present: Vec<(&[T], &SignedRows32)> = taps
            .iter()
            .zip(&self.rows)
            .filter_map(|(y, rows)| y.map(|y| (&y[..self.padded], rows)))
            .collect();
        T::combine_signed(&present, out);
        let s = self.scale;
        out.iter_mut().for_each(|o| *o *= s);
    }

    /// The explicit `dim_out × (taps·d)` matrix (column `t·d + i`: tap `t`,
    /// coordinate `i`), from the definition of the Hadamard matrix (a test
    /// oracle).
    pub fn to_dense(&self) -> faer::Mat<f64> {
        let (m, d) = (self.dim_out, self.d);
        let mut dense = faer::Mat::zeros(m, self.taps * d);
        let scale = self.scale.as_f64();
        for (t, k) in (0..self.taps).flat_map(|t| (0..m).map(move |k| (t, k))) {
            let (b, negative) = self.rows[t].get(k);
            let w = if negative { -scale } else { scale };
            for i in 0..d {
                let h = if (b & i).count_ones().is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                };
                dense[(k, t * d + i)] = w * h * self.signs[i].as_f64();
            }
        }
        dense
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vecs(n: usize, phase: f64) -> Vec<f64> {
        (0..n).map(|i| (i as f64 * 0.61 + phase).sin()).collect()
    }

    #[test]
    fn transform_then_combine_is_the_dense_matrix() {
        // 4 taps, the second one padding (None), against the matrix built
        // from the definition of H. Lengths d: powers of two, the split
        // transform's d = P + t with t ≤ P/2 (t = 1, t = P/2, t between, and
        // t not a power of two), and the padded case t > P/2; output sizes
        // with remainders 0, 1 and 7 of the 8-wide gather. f64 rounding: each
        // output sums at most 4·64 products of size ≤ 1.5·max|x|, so 1e−12
        // is far above the rounding error and far below any wrong entry.
        for d in [
            1usize, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 20, 24, 25, 40, 48,
        ] {
            for m in [7usize, 8, 9, 16] {
                let s = PatchSrht::<f64>::new(d, 4, m, Seed(3 + d as u64)).expect("valid");
                let p = s.transformed_len();
                let x = vecs(4 * d, 0.2);
                let mut ys = vec![vec![f64::NAN; p]; 4];
                for (t, y) in ys.iter_mut().enumerate() {
                    s.transform(&x[t * d..(t + 1) * d], 1.5, y);
                }
                let taps: Vec<Option<&[f64]>> = ys
                    .iter()
                    .enumerate()
                    .map(|(t, y)| (t != 1).then_some(y.as_slice()))
                    .collect();
                let mut out = vec![0.0; m];
                s.combine(&taps, &mut out);
                let dense = s.to_dense();
                for (k, o) in out.iter().enumerate() {
                    let want: f64 = (0..4 * d)
                        .filter(|c| c / d != 1)
                        .map(|c| dense[(k, c)] * 1.5 * x[c])
                        .sum();
                    assert!(
                        (o - want).abs() < 1e-12,
                        "d = {d}, m = {m}, row {k}: {o} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn inner_products_are_unbiased_within_the_derived_variance() {
        // Patches of 4 taps of d = 6; x and y share most of their mass
        // (neighbouring positions of an image look alike).
        let (d, taps, m) = (6, 4, 16);
        let x = vecs(d * taps, 0.0);
        let y: Vec<f64> = x
            .iter()
            .zip(vecs(d * taps, 1.0))
            .map(|(a, b)| a + 0.3 * b)
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
        let exact = dot(&x, &y);
        // The bound of the type's documentation.
        let blocks: f64 = (0..taps)
            .map(|t| {
                let r = t * d..(t + 1) * d;
                dot(&x[r.clone()], &x[r.clone()]) * dot(&y[r.clone()], &y[r])
            })
            .sum();
        let var = (3.0 * dot(&x, &x) * dot(&y, &y) + 6.0 * blocks) / m as f64;
        let trials = 4000;
        let mut est = Vec::with_capacity(trials);
        for seed in 0..trials as u64 {
            let s = PatchSrht::<f64>::new(d, taps, m, Seed(seed)).expect("valid");
            let sk = |v: &[f64]| {
                let ys: Vec<Vec<f64>> = (0..taps)
                    .map(|t| {
                        let mut o = vec![0.0; 8];
                        s.transform(&v[t * d..(t + 1) * d], 1.0, &mut o);
                        o
                    })
                    .collect();
                let refs: Vec<Option<&[f64]>> = ys.iter().map(|y| Some(y.as_slice())).collect();
                let mut out = vec![0.0; m];
                s.combine(&refs, &mut out);
                out
            };
            est.push(dot(&sk(&x), &sk(&y)));
        }
        let mean = est.iter().sum::<f64>() / trials as f64;
        let sample_var = est.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (trials - 1) as f64;
        // The mean of 4000 i.i.d. estimates is near-Gaussian: 5 standard
        // errors of the bound fail with probability below 1e-6.
        assert!(
            (mean - exact).abs() < 5.0 * (var / trials as f64).sqrt(),
            "mean {mean} vs {exact}"
        );
        // The sample variance of 4000 draws is within 10 % of the true one
        // with overwhelming probability; the bound must hold.
        assert!(
            sample_var < 1.1 * var,
            "variance {sample_var} above bound {var}"
        );
    }
}
