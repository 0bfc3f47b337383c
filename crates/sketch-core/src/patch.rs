//! A sketch of image patches that shares one transform per source position.

use crate::error::{Result, SketchError};
use crate::map::nonzero;
use crate::real::Real;
use crate::seed::{Seed, signs};
use crate::transform::fwht;
use rand::Rng;

/// Stream of the per-row tap signs `ε` (distinct from the streams of
/// [`crate::Srht`]'s components).
const ROWS: u64 = 5;
/// Stream of the coordinate hash `π`.
const HASH: u64 = 6;

/// Sketch of a patch `x = [v₁; …; v_T]` (`T` taps, each a `d`-vector, some
/// possibly zero) to `m` values, in two phases so that a convolution can
/// transform each source position once and reuse it for every output
/// position whose patch contains it:
///
/// 1. [`transform`](Self::transform) per source: `ŷ = H g`, `g_r = Σ_{π(i) = r}
///    s_i v_i`, an unnormalised Walsh–Hadamard transform of length
///    `L = next_power_of_two(min(m, d))` after a signed hash `π: [0, d) →
///    [0, L)` (one sign vector `s` and one hash for every tap);
/// 2. [`combine`](Self::combine) per patch: `out_k = Σ_t ε_{kt}·ŷ_t[k mod L]/√m`
///    with signs `ε_{kt} = ±1` independent across rows `k` and taps `t`:
///    contiguous multiply-adds, no gathers.
///
/// The hash is the identity when `d ≤ L` and `L` divides `m`; otherwise `π(i)
/// = σ(i) mod L` for a uniformly random permutation `σ` of `[0, ⌈d/L⌉·L)`, so
/// two coordinates share a bucket with probability at most `1/L`, and the
/// buckets a pair lands in are, when they differ, a uniform pair.
///
/// **Unbiased.** Every row `h_k` of `H` has `|h_{kr}| = 1`, so for any hash
/// `E_s[ŷ[k]·ẑ[k]] = Σ_i v_i w_i`, and the signs `ε` remove the cross-tap
/// terms: `E⟨S x, S y⟩ = ⟨x, y⟩`.
///
/// **Variance.** Write `⟨Sx, Sy⟩ = A + B`, `A = (1/m) Σ_t Σ_k ŷ_t[k′]ẑ_t[k′]`
/// (`k′ = k mod L`) and `B = (1/m) Σ_k Σ_{t≠t′} ε_{kt}ε_{kt′} ŷ_t[k′]ẑ_{t′}[k′]`.
/// `B` has mean zero given `s, π`, so `Cov(A, B) = 0`. Each `ŷ_t[k]` is a
/// Rademacher sum `Σ_i ±s_i v_{ti}` and the same for `ẑ`, whose mixed fourth
/// moment is at most `3‖v_t‖²‖w_{t′}‖²`, so `Var B ≤ 6 Σ_{t≠t′} ‖v_t‖²‖w_{t′}‖²/m`.
/// `A = Σ_{ij} s_i s_j M_{π(i)π(j)} C_{ij}/m` with `C = Σ_t v_t w_tᵀ` and `M =
/// Σ_{k<m} h_{k′} h_{k′}ᵀ = qL·I + H_Rᵀ H_R` (`m = qL + r`, `R` the first `r`
/// rows): its diagonal is `m`, so `E A = tr C = ⟨x, y⟩`, and `Var_s A ≤ 2
/// Σ_{i≠j} M²_{π(i)π(j)} C²_{ij}/m²`. Over `π`, a pair in one bucket (only
/// when `d > L`, and then `L ≥ m`) contributes `M² = m²` with probability at
/// most `1/L ≤ 1/m`, and a pair in two buckets contributes the mean
/// off-diagonal `M²`, `r(L − r)/(L − 1)` (`tr M_R² = rL²`), which is at most
/// `m/2`: for `L ≤ m` because `r(L − r) ≤ L²/4`, for `L > m` because then
/// `r = m` and `L ≤ 2m − 1`. So `E M² ≤ 3m/2` and `Var A ≤ 3‖C‖²_F/m`, and
///
/// `Var⟨Sx, Sy⟩ ≤ (3‖C‖²_F + 6 Σ_{t≠t′} ‖v_t‖²‖w_{t′}‖²)/m ≤ 9‖x‖²‖y‖²/m`,
///
/// within a small factor of a dense SRHT of the whole patch (`≈ 2‖x‖²‖y‖²/m`),
/// at the cost of `m·T` multiply-adds per patch and one transform of length
/// `L` per source instead of a transform of length `T·d` per patch.
#[derive(Debug, Clone)]
pub struct PatchSrht<T: Real> {
    signs: Vec<T>,
    /// The hash `π` (`None`: the identity).
    hash: Option<Vec<u32>>,
    /// Per tap, the `m` signs `ε_{kt}/√m`.
    eps: Vec<T>,
    d: usize,
    len: usize,
    taps: usize,
    dim_out: usize,
}

impl<T: Real> PatchSrht<T> {
    /// Patches of `taps` vectors of length `d`, to `dim_out` values.
    ///
    /// # Errors
    /// Zero dimensions; a transform length or input dimension beyond `u32`
    /// coordinates; `taps × dim_out` overflowing.
    pub fn new(d: usize, taps: usize, dim_out: usize, seed: Seed) -> Result<Self> {
        nonzero("input dimension", d)?;
        nonzero("taps", taps)?;
        nonzero("sketch dimension", dim_out)?;
        let len = d.min(dim_out).next_power_of_two();
        let too_big = |what, value: usize, reason| SketchError::InvalidParameter {
            what,
            value: value as f64,
            reason,
        };
        // The hash's permutation has ⌈d/L⌉·L < d + L entries, indexed by u32.
        if d.checked_add(len).is_none_or(|v| u32::try_from(v).is_err()) {
            return Err(too_big("d", d, "patch sketches index coordinates with u32"));
        }
        let n_eps = taps
            .checked_mul(dim_out)
            .ok_or_else(|| too_big("dim_out", dim_out, "taps × dim_out overflows"))?;
        let hash = (d > len || !dim_out.is_multiple_of(len)).then(|| {
            // σ: a uniformly random permutation of [0, ⌈d/L⌉·L) (Fisher–Yates);
            // π(i) = σ(i) mod L for i < d.
            let slots = d.div_ceil(len) * len;
            let mut sigma: Vec<u32> = (0..slots as u32).collect();
            let mut r = seed.rng(HASH);
            for i in (1..slots).rev() {
                sigma.swap(i, r.random_range(0..=i));
            }
            sigma.truncate(d);
            sigma.iter_mut().for_each(|v| *v %= len as u32);
            sigma
        });
        let mut r = seed.rng(ROWS);
        let e = 1.0 / (dim_out as f64).sqrt();
        let eps = (0..n_eps)
            .map(|_| T::cast(if r.random::<bool>() { e } else { -e }))
            .collect();
        Ok(Self {
            signs: signs(seed, d).into_iter().map(T::cast).collect(),
            hash,
            eps,
            d,
            len,
            taps,
            dim_out,
        })
    }

    /// Length `d` of one tap's vector.
    pub fn dim_in(&self) -> usize {
        self.d
    }

    /// Length `L` of a transformed source ([`transform`](Self::transform)'s output).
    pub fn transformed_len(&self) -> usize {
        self.len
    }

    /// Taps per patch.
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// Output dimension.
    pub fn dim_out(&self) -> usize {
        self.dim_out
    }

    /// `out = scale·H g(v)` (length [`transformed_len`](Self::transformed_len)).
    ///
    /// # Panics
    /// On length mismatches.
    pub fn transform(&self, v: &[T], scale: T, out: &mut [T]) {
        self.transform_parts(&[v], scale, out);
    }

    /// [`transform`](Self::transform) of the concatenation of `parts`
    /// (without copying it).
    ///
    /// # Panics
    /// On length mismatches.
    pub fn transform_parts(&self, parts: &[&[T]], scale: T, out: &mut [T]) {
        let d: usize = parts.iter().map(|p| p.len()).sum();
        assert_eq!((d, out.len()), (self.d, self.len), "PatchSrht lengths");
        let mut at = 0;
        match &self.hash {
            None => {
                for p in parts {
                    let o = &mut out[at..at + p.len()];
                    for ((o, &x), &s) in o.iter_mut().zip(*p).zip(&self.signs[at..]) {
                        *o = x * s * scale;
                    }
                    at += p.len();
                }
                out[self.d..].iter_mut().for_each(|o| *o = T::zero());
            }
            Some(hash) => {
                out.iter_mut().for_each(|o| *o = T::zero());
                for p in parts {
                    for ((&x, &s), &b) in p.iter().zip(&self.signs[at..]).zip(&hash[at..]) {
                        out[b as usize] += x * s * scale;
                    }
                    at += p.len();
                }
            }
        }
        fwht(out);
    }

    /// `out = S x` for the patch whose tap `t` has the transformed source
    /// `taps[t]` (`None`: a zero vector, such as padding).
    ///
    /// # Panics
    /// On a wrong number of taps or wrong lengths.
    pub fn combine(&self, taps: &[Option<&[T]>], out: &mut [T]) {
        let (m, l) = (self.dim_out, self.len);
        assert_eq!((taps.len(), out.len()), (self.taps, m), "PatchSrht taps");
        let mut first = true;
        for (y, eps) in taps.iter().zip(self.eps.chunks_exact(m)) {
            let Some(y) = y else { continue };
            let y = &y[..l];
            for (o, e) in out.chunks_mut(l).zip(eps.chunks(l)) {
                T::signed_sum(e, &y[..o.len()], o, first);
            }
            first = false;
        }
        if first {
            out.iter_mut().for_each(|o| *o = T::zero());
        }
    }

    /// The explicit `dim_out × (taps·d)` matrix (column `t·d + i`: tap `t`,
    /// coordinate `i`), from the definition of the Hadamard matrix (a test
    /// oracle).
    pub fn to_dense(&self) -> faer::Mat<f64> {
        let (m, d, l) = (self.dim_out, self.d, self.len);
        let mut dense = faer::Mat::zeros(m, self.taps * d);
        for (t, k) in (0..self.taps).flat_map(|t| (0..m).map(move |k| (t, k))) {
            let w = self.eps[t * m + k].as_f64();
            for i in 0..d {
                let b = self.hash.as_ref().map_or(i, |h| h[i] as usize);
                let h = if ((k % l) & b).count_ones().is_multiple_of(2) {
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
        // from the definition of H. Lengths d below, equal to and above the
        // transform length L = next_power_of_two(min(m, d)) (identity hash,
        // injective hash, folding hash), and output sizes m that L divides,
        // that are not multiples of L, and that are smaller than L (a
        // partial read). f64 rounding: each output sums at most 4·64
        // products of size ≤ 1.5·max|x|, so 1e−12 is far above the rounding
        // error and far below any wrong entry.
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
        // Patches of 4 taps; x and y share most of their mass (neighbouring
        // positions of an image look alike). Four regimes of the hash: the
        // identity (d = 6 ≤ L = 8, m = 16), a fold (d = 40 > L = 16), a
        // partial read (m = 12 not a multiple of L = 8), both (d = 40,
        // L = 16 > m = 12).
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
        for (d, taps, m) in [(6, 4, 16), (40, 4, 16), (6, 4, 12), (40, 4, 12)] {
            let x = vecs(d * taps, 0.0);
            let y: Vec<f64> = x
                .iter()
                .zip(vecs(d * taps, 1.0))
                .map(|(a, b)| a + 0.3 * b)
                .collect();
            let exact = dot(&x, &y);
            // The bound of the type's documentation:
            // (3‖C‖²_F + 6 Σ_{t≠t′} ‖v_t‖²‖w_t′‖²)/m, C = Σ_t v_t w_tᵀ.
            let tap = |v: &[f64], t: usize| v[t * d..(t + 1) * d].to_vec();
            let mut c2 = 0.0;
            let mut cross = 0.0;
            for t in 0..taps {
                for u in 0..taps {
                    c2 += dot(&tap(&x, t), &tap(&x, u)) * dot(&tap(&y, t), &tap(&y, u));
                    if t != u {
                        cross += dot(&tap(&x, t), &tap(&x, t)) * dot(&tap(&y, u), &tap(&y, u));
                    }
                }
            }
            let var = (3.0 * c2 + 6.0 * cross) / m as f64;
            let trials = 4000;
            let mut est = Vec::with_capacity(trials);
            for seed in 0..trials as u64 {
                let s = PatchSrht::<f64>::new(d, taps, m, Seed(seed)).expect("valid");
                let sk = |v: &[f64]| {
                    let ys: Vec<Vec<f64>> = (0..taps)
                        .map(|t| {
                            let mut o = vec![0.0; s.transformed_len()];
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
            let sample_var =
                est.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (trials - 1) as f64;
            // The mean of 4000 i.i.d. estimates is near-Gaussian: 5 standard
            // errors of the bound fail with probability below 1e-6 per case.
            assert!(
                (mean - exact).abs() < 5.0 * (var / trials as f64).sqrt(),
                "d = {d}, m = {m}: mean {mean} vs {exact}"
            );
            // The sample variance of 4000 draws is within 10 % of the true
            // one with overwhelming probability; the bound must hold.
            assert!(
                sample_var < 1.1 * var,
                "d = {d}, m = {m}: variance {sample_var} above bound {var}"
            );
        }
    }

    #[test]
    fn parts_transform_as_their_concatenation() {
        // The NTK's [ψ; φ] sources are transformed from two slices.
        for d in [5usize, 8, 40] {
            let s = PatchSrht::<f64>::new(d, 2, 16, Seed(9)).expect("valid");
            let x = vecs(d, 0.4);
            let mut a = vec![0.0; s.transformed_len()];
            let mut b = vec![1.0; s.transformed_len()];
            s.transform(&x, 0.5, &mut a);
            s.transform_parts(&[&x[..2], &x[2..]], 0.5, &mut b);
            assert_eq!(a, b, "d = {d}");
        }
    }
}
