//! `ntkrf` (Zandieh et al. 2021, §5): arc-cosine random features whose
//! rows are drawn from the order-1 arc-cosine kernel's leverage-score
//! density (orthogonal in blocks), the odd part of a degree-1 homogeneous
//! activation carried exactly and only its even part sampled, step features
//! for the derivative and a TensorSRHT for the NTK recursion, on the
//! `random` stage. Degree-1 homogeneous activations (Relu, LeakyRelu,
//! ABRelu, Abs).

use super::random::{random_layer, require_pointwise};
use super::interface::{ActCx, Built, FeatureMethod, degree_one};
use crate::error::Result;
use crate::features::recipe::checked;
use crate::features::config::FeatureConfig;
use dual_activations::{Activation, DualActivation};
use faer::{Mat, Par};
use sketch_core::{Real, Seed};

/// The `ntkrf` method.
pub(crate) struct NtkRf;

impl FeatureMethod for NtkRf {
    const NAME: &'static str = "ntkrf";
    const SUMMARY: &'static str =
        "Relu-like activations: leverage-score arc-cosine random features (Zandieh et al. 2021)";
    const CALIBRATES: bool = true;

    fn activation<T: Real>(cx: &mut ActCx<'_>, dual: DualActivation) -> Result<Built<T>> {
        let act = dual.activation().clone();
        if !degree_one(&act) {
            return Err(cx.unsupported(format!(
                "ntkrf draws arc-cosine features of degree-1 homogeneous activations (Relu, LeakyRelu, ABRelu, Abs); {} is not one: use random or hermite",
                act.stax_name()
            )));
        }
        require_pointwise(cx, &act)?;
        let d_in = cx.dims.phi;
        let m = cx
            .config
            .node_dim
            .unwrap_or_else(|| ntkrf_width(cx.config.dim));
        let ms = cx.config.inner_dim.unwrap_or(cx.config.dim);
        checked("random weight count", d_in.checked_mul(m))?;
        // Leverage-score rows reweighted by `√d/‖w‖`:
        // rows of norm exactly `√d` (docs/NUMERICS.md).
        let w = leverage_rows(d_in, m, cx.seeds.next());
        let scale: Vec<f64> = w
            .chunks_exact(d_in)
            .map(|row| {
                let n2: f64 = row.iter().map(|v| v * v).sum();
                if n2 > 0.0 {
                    (d_in as f64 / n2).sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        let g = Mat::from_fn(m, d_in, |k, i| T::cast(w[k * d_in + i] * scale[k]));
        random_layer(cx, act.clone(), g, ms, odd_even(&act))
    }

    /// `ntkrf`'s inner dimension is its TensorSRHT's; its budget is `D`.
    fn compress_budget(config: &FeatureConfig, _inner: usize) -> usize {
        config.dim
    }
}

/// Default `ntkrf` width `m₀ = m₁` for a feature dimension `D`: `⌈D/4⌉`
/// (the TensorSRHT dimension `m_s` defaults to `D`).
pub fn ntkrf_width(dim: usize) -> usize {
    dim.div_ceil(4).max(1)
}

/// `(α, β)` with `σ(t) = α·t + β·|t|` for a degree-1 homogeneous
/// activation (`a·min(t, 0) + b·max(t, 0)`: `α = (a + b)/2`, `β = (b − a)/2`).
fn odd_even(act: &Activation) -> Option<(f64, f64)> {
    let (a, b) = match *act {
        Activation::Relu => (0.0, 1.0),
        Activation::LeakyRelu { alpha } => (alpha, 1.0),
        Activation::AbRelu { a, b } => (a, b),
        Activation::Abs => (-1.0, 1.0),
        _ => return None,
    };
    Some((0.5 * (a + b), 0.5 * (b - a)))
}

/// Exact rows drawn from the leverage-score density of the order-1
/// arc-cosine kernel, `q(w) = ‖w‖²/d · N(w; 0, I_d)` (Zandieh et al. 2021,
/// §5), row-major `m × d`, coupled to be orthogonal in blocks of `d` rows.
///
/// `q` is radial: the direction is uniform and `‖w‖² ~ χ²_{d+2}`, where the
/// 2021 code runs one approximate Gibbs sweep per coordinate. Each block of
/// `k ≤ d` rows starts from `k` Gaussian rows `g_j` and two more normals
/// `h_j` per row; the directions are the Gram–Schmidt frame of the `g_j`
/// (the thin `Q` of a Householder QR with the signs of `R`'s diagonal, a
/// Haar-random orthonormal `k`-frame) and the radii are
/// `sqrt(‖g_j‖² + h_{j1}² + h_{j2}²)`. Gram–Schmidt's `j`-th direction
/// depends on `g_j` only through the direction of its part orthogonal to the
/// earlier rows, so the radii are independent of the frame and every row on
/// its own is an exact draw from `q` (`E‖w‖² = d + 2`).
///
/// Orthogonal rows are the orthogonal random features of Yu et al. (2016):
/// the estimates stay unbiased (each row is marginally exact) and the rows of
/// a block stop sampling the same direction twice; with `k = d` the block
/// measures every input's norm exactly (`Σ_j (u_j·x)² = ‖x‖²`), which removes
/// the part of the `|Gφ|` features' error that moves with the sampled norms
/// (docs/NUMERICS.md, "`ntkrf`").
fn leverage_rows(d: usize, m: usize, seed: Seed) -> Vec<f64> {
    let z = seed.normals(m * (d + 2));
    z.chunks(d.max(1) * (d + 2))
        .flat_map(|block| orthogonal_block(d, block))
        .collect()
}

/// One block of [`leverage_rows`]: `normals` holds `k` rows of `d + 2`
/// normals (`g_j` then `h_j`); returns `k × d` row-major. Sequential (the
/// bits do not depend on the thread count); `O(d·k²)`.
fn orthogonal_block(d: usize, normals: &[f64]) -> Vec<f64> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::householder;
    use faer::linalg::qr::no_pivoting::factor;
    let k = normals.len() / (d + 2);
    if k == 0 || d == 0 {
        return Vec::new();
    }
    // A = [g_1 … g_k], d × k.
    let mut a = Mat::from_fn(d, k, |i, j| normals[j * (d + 2) + i]);
    let radius: Vec<f64> = normals
        .chunks_exact(d + 2)
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let block = factor::recommended_block_size::<f64>(d, k);
    let mut coeff = Mat::zeros(block, k);
    factor::qr_in_place(
        a.as_mut(),
        coeff.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(factor::qr_in_place_scratch::<f64>(
            d,
            k,
            block,
            Par::Seq,
            Default::default(),
        ))),
        Default::default(),
    );
    // R's diagonal signs turn Householder's Q into Gram–Schmidt's frame; a
    // zero pivot (probability zero) keeps its sign.
    let sign: Vec<f64> = (0..k)
        .map(|j| if a[(j, j)] < 0.0 { -1.0 } else { 1.0 })
        .collect();
    // The Householder basis: unit diagonal, zero above it.
    for j in 0..k {
        for i in 0..j {
            a[(i, j)] = 0.0;
        }
        a[(j, j)] = 1.0;
    }
    let mut q = Mat::<f64>::identity(d, k);
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        a.as_ref(),
        coeff.as_ref(),
        faer::Conj::No,
        q.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                d, block, k,
            ),
        )),
    );
    let mut w = Vec::with_capacity(k * d);
    for j in 0..k {
        let s = sign[j] * radius[j];
        w.extend((0..d).map(|i| q[(i, j)] * s));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leverage_rows_are_orthogonal_within_blocks_and_independent_across() {
        // d = 7, m = 17: blocks of 7, 7 and 3 rows. Within a block the
        // directions are orthonormal (to rounding: Householder QR is
        // backward stable, so |u_i·u_j| is a few ulps times d); a full block
        // measures a vector's squared norm exactly (Σ_j (u_j·x)² = ‖x‖²).
        // Across blocks nothing is coupled: rows 0 and 7 are independent
        // uniform directions, whose inner product has variance 1/d, so over
        // 2000 seeds its mean square sits within 5 standard errors of 1/d
        // (E[(u·v)⁴] = 3/(d(d+2)), so the standard error is below
        // sqrt(3/(d(d+2))/2000)) — an accidental coupling across blocks
        // would show here as well as a failed orthogonality within one.
        let (d, m) = (7usize, 17usize);
        let unit = |r: &[f64]| -> Vec<f64> {
            let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            r.iter().map(|v| v / n).collect()
        };
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let x: Vec<f64> = (0..d).map(|i| (i as f64 * 0.7).sin() + 0.3).collect();
        let mut cross = 0.0;
        let trials = 2000;
        for seed in 0..trials {
            let w = leverage_rows(d, m, Seed(seed));
            assert_eq!(w.len(), m * d);
            let u: Vec<Vec<f64>> = w.chunks_exact(d).map(unit).collect();
            for (start, len) in [(0, 7), (7, 7), (14, 3)] {
                for i in start..start + len {
                    for j in start..i {
                        assert!(dot(&u[i], &u[j]).abs() < 1e-13, "rows {i}, {j}");
                    }
                }
            }
            for start in [0, 7] {
                let measured: f64 = u[start..start + 7].iter().map(|r| dot(r, &x).powi(2)).sum();
                let norm2 = dot(&x, &x);
                assert!((measured - norm2).abs() < 1e-12 * norm2);
            }
            cross += dot(&u[0], &u[7]).powi(2);
        }
        let mean = cross / trials as f64;
        let se = (3.0 / (d * (d + 2)) as f64 / trials as f64).sqrt();
        assert!(
            (mean - 1.0 / d as f64).abs() < 5.0 * se,
            "E(u₀·u₇)² = {mean}"
        );
    }

    #[test]
    fn leverage_rows_have_the_moments_of_the_leverage_density() {
        // Under q(w) = ‖w‖²/d·N(0, I_d), ‖w‖² ~ χ²_{d+2}: E‖w‖² = d + 2 and
        // E‖w‖⁴ = (d + 2)(d + 4), with variances 2(d + 2) and
        // E‖w‖⁸ − (E‖w‖⁴)² = k(k+2)(k+4)(k+6) − (k(k+2))² for k = d + 2.
        // Means of m = 20 000 rows against 5 standard errors (a false
        // failure has probability below 1e−6 per moment).
        // The rows of a block are coupled only through their directions
        // (the radii are independent), and that coupling does not raise
        // these standard errors: the u₁ of distinct rows are uncorrelated
        // (a row's sign is symmetric), and the u₁² of one block are
        // negatively correlated (they sum to at most 1).
        for d in [1usize, 5, 20] {
            let m = 20_000;
            let w = leverage_rows(d, m, Seed(11));
            let r2: Vec<f64> = w
                .chunks_exact(d)
                .map(|r| r.iter().map(|v| v * v).sum())
                .collect();
            let k = (d + 2) as f64;
            let mean2 = r2.iter().sum::<f64>() / m as f64;
            let mean4 = r2.iter().map(|v| v * v).sum::<f64>() / m as f64;
            let se2 = (2.0 * k / m as f64).sqrt();
            let m4 = k * (k + 2.0);
            let se4 = ((k * (k + 2.0) * (k + 4.0) * (k + 6.0) - m4 * m4) / m as f64).sqrt();
            assert!(
                (mean2 - k).abs() <= 5.0 * se2,
                "d={d}: E|w|² {mean2} vs {k}"
            );
            assert!(
                (mean4 - m4).abs() <= 5.0 * se4,
                "d={d}: E|w|⁴ {mean4} vs {m4}"
            );
            // The direction is uniform: the first coordinate of w/‖w‖ has
            // E = 0 and E[u₁²] = 1/d (variance of u₁² below 1, so its mean
            // has standard error below 1/√m).
            let u1: Vec<f64> = w
                .chunks_exact(d)
                .zip(&r2)
                .map(|(r, n2)| r[0] / n2.sqrt())
                .collect();
            let e1 = u1.iter().sum::<f64>() / m as f64;
            let e2 = u1.iter().map(|v| v * v).sum::<f64>() / m as f64;
            assert!(e1.abs() <= 5.0 / (m as f64).sqrt(), "d={d}: E u₁ = {e1}");
            if d == 1 {
                // At d = 1 every direction is ±1, so E[u₁²] = 1 holds by
                // construction; what can go wrong is the sign, which must
                // be balanced and independent of the radius: E[w] = 0 with
                // standard error √(E w²/m) = √(3/m). A sign tied to the
                // radius (say, positive for radii above the median) moves
                // E[w] by about 0.54, 44 standard errors.
                let ew = w.iter().sum::<f64>() / m as f64;
                assert!(ew.abs() <= 5.0 * (3.0 / m as f64).sqrt(), "d=1: E w = {ew}");
            } else {
                assert!(
                    (e2 - 1.0 / d as f64).abs() <= 5.0 / (m as f64).sqrt(),
                    "d={d}: E u₁² = {e2}"
                );
            }
        }
    }
}
