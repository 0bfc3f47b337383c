//! Seeds and the random draws of every map, from ChaCha streams.
//!
//! A map built from `Seed(s)` draws each of its components from its own
//! stream `ChaCha8Rng::seed_from_u64(s)` with `set_stream(id)`, so adding a
//! component never perturbs the others; nested maps get child seeds.
//! Everything random happens at construction; `apply` is a pure function.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The seed of a sketch. Same seed, same map, on any machine, at any thread
/// count and batch split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seed(pub u64);

impl Seed {
    /// The ChaCha8 stream `stream` of this seed.
    pub fn rng(self, stream: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(self.0);
        r.set_stream(stream);
        r
    }

    /// `n` standard normal draws from this seed's Gaussian stream (the draws
    /// of [`crate::GaussianProjection`], unscaled): for maps outside this
    /// crate that need a seeded Gaussian matrix, such as random features.
    pub fn normals(self, n: usize) -> Vec<f64> {
        gaussians(self, n)
    }

    /// A child seed for a nested map (SplitMix64 of the seed and the index),
    /// so that sibling maps are independent.
    pub fn child(self, index: u64) -> Seed {
        let mut z = self.0 ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Seed(z ^ (z >> 31))
    }
}

/// Stream identifiers of the components (stable: changing them changes every sketch).
pub(crate) mod stream {
    pub(crate) const SIGNS: u64 = 1;
    pub(crate) const INDICES: u64 = 2;
    pub(crate) const HASHES: u64 = 3;
    pub(crate) const GAUSSIAN: u64 = 4;
}

/// `n` Rademacher signs as `±1.0`.
pub(crate) fn signs(seed: Seed, n: usize) -> Vec<f64> {
    let mut r = seed.rng(stream::SIGNS);
    (0..n)
        .map(|_| if r.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// `m` indices from `0..range`: a uniformly random ordered subset (partial
/// Fisher–Yates, sparse, `O(m)` memory) when `m ≤ range`, else uniform with
/// replacement. Without replacement the row average of a randomized
/// transform has variance `(range − m)/(range − 1)` times that of sampling
/// with replacement; the estimator is unbiased either way (for any fixed
/// rows, the random signs alone make `E⟨Sx, Sy⟩ = ⟨x, y⟩`).
pub(crate) fn indices(seed: Seed, range: usize, m: usize) -> Vec<usize> {
    let mut r = seed.rng(stream::INDICES);
    if m > range {
        return (0..m).map(|_| r.random_range(0..range)).collect();
    }
    // Position i of a virtual permutation of 0..range holds swapped[i] if
    // present, else i.
    let mut swapped = std::collections::HashMap::with_capacity(2 * m);
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let j = r.random_range(i..range);
        let vi = *swapped.get(&i).unwrap_or(&i);
        let vj = *swapped.get(&j).unwrap_or(&j);
        swapped.insert(j, vi);
        out.push(vj);
    }
    out
}

/// `n` hash buckets uniform in `0..range` (CountSketch).
pub(crate) fn buckets(seed: Seed, range: usize, n: usize) -> Vec<usize> {
    let mut r = seed.rng(stream::HASHES);
    (0..n).map(|_| r.random_range(0..range)).collect()
}

/// `n` standard normal draws by the Box–Muller transform (portable: no
/// distribution crate whose algorithm could change between versions).
pub(crate) fn gaussians(seed: Seed, n: usize) -> Vec<f64> {
    let mut r = seed.rng(stream::GAUSSIAN);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // 1 − u ∈ (0, 1] keeps the logarithm finite.
        let u1: f64 = 1.0 - r.random::<f64>();
        let u2: f64 = r.random::<f64>();
        let rad = (-2.0 * u1.ln()).sqrt();
        let ang = 2.0 * core::f64::consts::PI * u2;
        out.push(rad * ang.cos());
        out.push(rad * ang.sin());
    }
    out.truncate(n);
    out
}
