//! Unbiasedness and variance against bounds from the literature, over many
//! independently seeded sketches. The default sizes run in seconds; the
//! `slow-tests` feature multiplies trials by 10 (run it in release).
//!
//! For an estimator `Z` with `E Z = μ` and `Var Z ≤ V`, the mean of `T`
//! independent draws is within `5·sqrt(V/T)` of `μ` except with probability
//! below 1e-6 (Chebyshev would give 4 %, but these sums are close to Gaussian
//! at T ≥ 200); the sample variance exceeds `2V` only if the bound is wrong or
//! the fourth moment is extreme, so `2V` is the variance check. Where the
//! variance is known exactly (Gaussian projections, CountSketch) it is also
//! checked from below: the sample variance of `T ≥ 400` draws is within
//! `±25 %` of `V` at these kurtoses (sd ≈ sqrt(2/T)·sqrt(1 + κ/2) ≤ 10 %),
//! so `[V/2, 2V]` fails by chance far below 1e-6 and catches a constant map
//! (variance 0) and a map scaled by 2 (variance 4V).
//!
//! Power: every check first asserts that its tolerance is at most 30 % of
//! the target, so each would catch a mean that is 30 % off (a dropped term
//! of that size, a zeroed degree, a factor of 2): inputs are correlated
//! (cosines 0.8–0.97) so that high powers of the inner product stay large.

mod common;

use common::{dot, norm2, one, vector};
use sketch_core::reference::{dot as dot_ref, tensor_power};
use sketch_core::{
    CountSketch, GaussianProjection, PolyExpansion, PolySketch, Seed, Sketch, Srht, TensorSketch,
    TensorSrht, Transform,
};

fn trials(base: usize) -> usize {
    if cfg!(feature = "slow-tests") {
        10 * base
    } else {
        base
    }
}

/// Checks mean and variance of `⟨S(x), S(y)⟩` over seeds `0..t`.
fn check(
    name: &str,
    make: &dyn Fn(u64) -> Box<dyn Sketch<f64>>,
    x: &[f64],
    y: &[f64],
    target: f64,
    var_bound: f64,
    t: usize,
) {
    check_var(name, make, x, y, target, var_bound, false, t);
}

/// [`check`], and with `exact`, the variance from below too (module docs).
#[allow(clippy::too_many_arguments)]
fn check_var(
    name: &str,
    make: &dyn Fn(u64) -> Box<dyn Sketch<f64>>,
    x: &[f64],
    y: &[f64],
    target: f64,
    var_bound: f64,
    exact: bool,
    t: usize,
) {
    let tol = 5.0 * (var_bound / t as f64).sqrt();
    assert!(
        tol <= 0.3 * target.abs(),
        "{name}: tolerance {tol} cannot tell {target} from 30 % off it"
    );
    let est: Vec<f64> = (0..t as u64)
        .map(|s| {
            let m = make(s);
            dot(&one(m.as_ref(), x), &one(m.as_ref(), y))
        })
        .collect();
    let mean = est.iter().sum::<f64>() / t as f64;
    let var = est.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (t - 1) as f64;
    assert!(
        (mean - target).abs() <= tol,
        "{name}: mean {mean} vs {target} (tolerance {tol})"
    );
    assert!(
        var <= 2.0 * var_bound,
        "{name}: variance {var} above 2 × bound {var_bound}"
    );
    if exact {
        assert!(
            var >= 0.5 * var_bound,
            "{name}: variance {var} below half the exact {var_bound}"
        );
    }
}

#[test]
fn degree_one_maps_are_unbiased_within_their_variance() {
    let (d, m) = (24, 64);
    let x = vector(d, 1);
    let y: Vec<f64> = x
        .iter()
        .zip(vector(d, 2))
        .map(|(a, b)| 0.6 * a + b)
        .collect();
    let (xy, nx, ny) = (dot(&x, &y), norm2(&x), norm2(&y));
    let t = trials(400);
    // Gaussian: Var = (⟨x,y⟩² + ‖x‖²‖y‖²)/m exactly; CountSketch (independent
    // hash and signs): Var = (⟨x,y⟩² + ‖x‖²‖y‖² − 2Σᵢxᵢ²yᵢ²)/m exactly (the
    // pairs i ≠ j that collide, probability 1/m each).
    let v = (xy * xy + nx * ny) / m as f64;
    let diag: f64 = x.iter().zip(&y).map(|(a, b)| a * a * b * b).sum();
    check_var(
        "CountSketch",
        &|s| Box::new(CountSketch::new(d, m, Seed(s)).unwrap()),
        &x,
        &y,
        xy,
        v - 2.0 * diag / m as f64,
        true,
        t,
    );
    check_var(
        "Gaussian",
        &|s| Box::new(GaussianProjection::new(d, m, Seed(s)).unwrap()),
        &x,
        &y,
        xy,
        v,
        true,
        t,
    );
    // SRHT: for fixed signs the row average is exactly ⟨x,y⟩ (HᵀH = D·I, or
    // Parseval for the DFT), so Var = E_s[Var_P]/rows ≤ E[(Hs∘x)_p²(Hs∘y)_p²]/rows
    // ≤ 3‖x‖²‖y‖²/rows by the Rademacher fourth moment.
    check(
        "SRHT-Hadamard",
        &|s| Box::new(Srht::<f64>::new(d, m, Transform::Hadamard, Seed(s)).unwrap()),
        &x,
        &y,
        xy,
        3.0 * nx * ny / m as f64,
        t,
    );
    check(
        "SRHT-Fourier",
        &|s| Box::new(Srht::<f64>::new(d, m, Transform::Fourier, Seed(s)).unwrap()),
        &x,
        &y,
        xy,
        3.0 * nx * ny / (m / 2) as f64,
        t,
    );
}

#[test]
fn tensor_maps_are_unbiased_for_powers_of_the_inner_product() {
    let (d, m) = (10, 128);
    let x = vector(d, 3);
    let y: Vec<f64> = x
        .iter()
        .zip(vector(d, 4))
        .map(|(a, b)| 0.8 * a + 0.5 * b)
        .collect();
    let (nx, ny) = (norm2(&x), norm2(&y));
    let t = trials(300);
    for p in [2usize, 3] {
        // The target through the explicit tensor powers: ⟨x^{⊗p}, y^{⊗p}⟩.
        let target = dot_ref(&tensor_power(&x, p), &tensor_power(&y, p));
        assert!((target - dot(&x, &y).powi(p as i32)).abs() < 1e-12 * target.abs().max(1.0));
        // TensorSketch: E[Z²] ≤ ⟨x,y⟩^{2p} + (3^p − 1)‖x‖^{2p}‖y‖^{2p}/m — each of the
        // 3^p sign pairings but the diagonal one needs a hash collision (probability 1/m).
        let v = (3f64.powi(p as i32) - 1.0) * (nx * ny).powi(p as i32) / m as f64;
        check(
            &format!("TensorSketch p={p}"),
            &|s| Box::new(TensorSketch::<f64>::new(d, m, p, Seed(s)).unwrap()),
            &x,
            &y,
            target,
            v,
            t,
        );
        // PolySketch over L = 2^⌈log₂p⌉ leaves: each TensorSRHT node multiplies the second
        // moment by at most (1 + 9/m) (the node bound below), so Var ≤ ((1 + 9/m)^{2L} − 1)‖x‖^{2p}‖y‖^{2p}.
        // At m = 128 the bound (0.72 for p = 3) would allow 40 % of ρ³ ≈ 0.6:
        // PolySketch gets 4m, where 5·sqrt(V/T) is under 20 % of the target.
        let leaves = p.next_power_of_two() as i32;
        let mp = 4 * m;
        let vp = ((1.0 + 9.0 / mp as f64).powi(2 * leaves) - 1.0) * (nx * ny).powi(p as i32);
        check(
            &format!("PolySketch p={p}"),
            &|s| Box::new(PolySketch::<f64>::new(d, mp, p, Transform::Hadamard, Seed(s)).unwrap()),
            &x,
            &y,
            target,
            vp,
            t,
        );
    }
    // TensorSRHT: for fixed signs the row average is exactly the product of inner
    // products, and each row's second moment is ≤ 3·3 ‖x‖⁴‖y‖⁴ (independent branches).
    let target = dot(&x, &y).powi(2);
    let v = 9.0 * (nx * ny).powi(2) / m as f64;
    check(
        "TensorSRHT-Hadamard",
        &|s| Box::new(TensorSrht::<f64>::new(d, d, m, Transform::Hadamard, Seed(s)).unwrap()),
        &x,
        &y,
        target,
        v,
        t,
    );
    check(
        "TensorSRHT-Fourier",
        &|s| Box::new(TensorSrht::<f64>::new(d, d, m, Transform::Fourier, Seed(s)).unwrap()),
        &x,
        &y,
        target,
        2.0 * v,
        t,
    );
}

/// Two unit vectors with cosine near 0.95 (`y` is `x` plus a small
/// independent perturbation), so that `ρʲ` stays above 0.6 up to `j = 8`.
fn close_pair(d: usize, seed: u64) -> (Vec<f64>, Vec<f64>, f64) {
    let unit = |v: Vec<f64>| {
        let n = norm2(&v).sqrt();
        v.into_iter().map(|a| a / n).collect::<Vec<f64>>()
    };
    let x = unit(vector(d, seed));
    let y = unit(
        x.iter()
            .zip(vector(d, seed + 1000))
            .map(|(a, b)| a + 0.12 * b)
            .collect(),
    );
    let rho = dot(&x, &y);
    assert!(rho > 0.94, "cosine {rho}");
    (x, y, rho)
}

#[test]
fn every_degree_of_one_tree_is_unbiased_and_expansions_sum_them() {
    let (d, m) = (8, 1024);
    let (x, y, rho) = close_pair(d, 5);
    let beta = [0.2, 0.5, 0.3, 0.25, 0.1];
    let target: f64 = beta
        .iter()
        .enumerate()
        .map(|(j, b)| b * rho.powi(j as i32))
        .sum();
    // Unit vectors: every block's variance ≤ (1 + 9/m)^{2L} − 1 with L = 4
    // leaves, (1 + 9/1024)^8 − 1 ≈ 0.072; the expansion's variance is at most
    // (Σ β_j)² times that, plus the final SRHT's 3‖Z(x)‖²‖Z(y)‖²/D with
    // ‖Z‖² ≈ Σβ_j. With T = 1000 the tolerance is 0.06 against a target of
    // 1.30: dropping the constant term (0.2) or the degree-1 term (0.48)
    // fails, and so does any factor on the whole. (Tried: `zfull[0] = 0` in
    // `expansion.rs` gives a mean of 1.10 against 1.30 ± 0.06.)
    let sb: f64 = beta.iter().sum();
    let v = sb * sb * ((1.0 + 9.0 / m as f64).powi(8) - 1.0) + 3.0 * sb * sb / 512.0;
    let t = trials(1000);
    assert!(
        5.0 * (v / t as f64).sqrt() < 0.5 * beta[0],
        "the constant term must be visible"
    );
    check(
        "PolyExpansion",
        &|s| Box::new(PolyExpansion::<f64>::new(d, m, &beta, Some(512), Seed(s)).unwrap()),
        &x,
        &y,
        target,
        v,
        t,
    );
    // Each degree of the shared tree alone (β = e_j, no compression): ρ^j
    // (0.95–0.81 here, against a tolerance of 0.08: a zeroed degree fails).
    let vj = (1.0 + 9.0 / m as f64).powi(8) - 1.0;
    for j in 1..=4usize {
        let mut e = [0.0; 5];
        e[j] = 1.0;
        check(
            &format!("tree degree {j}"),
            &|s| Box::new(PolyExpansion::<f64>::new(d, m, &e, None, Seed(s)).unwrap()),
            &x,
            &y,
            rho.powi(j as i32),
            vj,
            trials(300),
        );
    }
}

#[test]
fn every_degree_of_an_eight_leaf_tree_is_unbiased() {
    // Degrees 5..=7 of an 8-leaf tree combine a full left half with a right
    // subtree that is itself full (degree 6) or mixed (5, 7): every case of
    // the tree walk. Variance bound of one block with L = 8 leaves:
    // (1 + 9/m)^{2L} − 1 ≈ 0.15 at m = 1024 (unit vectors).
    // With ρ ≈ 0.95, ρ⁸ ≈ 0.66 against a tolerance of 0.14: degrees 5–7
    // returning 0 (the case the walk could get wrong) fail.
    let (d, m) = (8, 1024);
    let (x, y, rho) = close_pair(d, 7);
    let vj = (1.0 + 9.0 / m as f64).powi(16) - 1.0;
    for j in 1..=8usize {
        let mut e = [0.0; 9];
        e[j] = 1.0;
        check(
            &format!("eight-leaf tree degree {j}"),
            &|s| Box::new(PolyExpansion::<f64>::new(d, m, &e, None, Seed(s)).unwrap()),
            &x,
            &y,
            rho.powi(j as i32),
            vj,
            trials(200),
        );
    }
}
