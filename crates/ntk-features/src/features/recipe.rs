//! The arithmetic a feature map is sized by, before and while its random
//! maps are drawn: the state's dimensions between stages ([`Dims`]), the
//! budgets (per position, compression slack, head share), the checked
//! growth of a state, and the stream of seeds ([`Seeds`]) whose order of
//! draws is part of every map's definition.

use super::config::{FeatureConfig, MAX_FEATURE_DIM};
use crate::error::{FeatureError, Result};
use sketch_core::{Real, ScratchLen, Seed, Sketch};

/// A state is compressed once it exceeds this many times the inner budget.
pub(crate) const SLACK: usize = 4;
/// Heads (leading coordinates that compressions keep exactly: the input,
/// constant terms, biases) are at most `1/HEAD_SHARE` of the budget.
pub(crate) const HEAD_SHARE: usize = 4;
/// Images: values per layer (positions × per-position budget) as a multiple of `D`.
pub(crate) const IMAGE_VALUES: usize = 128;
/// Images: smallest automatic per-position budget.
pub(crate) const MIN_INNER: usize = 256;

/// Dimensions of the state between two stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    /// Positions (1 for vectors).
    pub(crate) pos: usize,
    /// NNGP feature length per position.
    pub(crate) phi: usize,
    /// NTK feature length per position (0: `Θ = 0` so far, or NNGP only).
    pub(crate) psi: usize,
    /// Leading NNGP coordinates that compressions keep as they are (exact
    /// low-dimensional parts: the input, constant terms, biases).
    pub(crate) hphi: usize,
    /// Leading NTK coordinates kept by compressions.
    pub(crate) hpsi: usize,
}

/// The seeds of a map's random maps: child `k` of the map's seed for the
/// `k`-th map drawn (from 1).
pub(crate) struct Seeds {
    root: Seed,
    drawn: u64,
}

impl Seeds {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            root: Seed(seed),
            drawn: 0,
        }
    }

    /// The seed of the next random map.
    pub(crate) fn next(&mut self) -> Seed {
        self.drawn += 1;
        self.root.child(self.drawn)
    }
}

/// The per-position budget of layered methods: `D` for vectors; for images
/// it shrinks where there are many positions (per-position noise averages
/// out under pooling) so that every layer holds about `IMAGE_VALUES·D`
/// values, at least `MIN_INNER`, a power of two.
pub(crate) fn default_position_budget(config: &FeatureConfig, image: bool, pos: usize) -> usize {
    match config.inner_dim {
        Some(v) => v,
        None if image => {
            let v = (IMAGE_VALUES * config.dim / pos.max(1))
                .clamp(MIN_INNER.min(config.dim), config.dim);
            // A power of two keeps the Walsh–Hadamard transforms unpadded.
            if v.is_power_of_two() {
                v
            } else {
                (v.next_power_of_two() / 2).max(1)
            }
        }
        None => config.dim,
    }
}

/// A sketch's scratch (through the trait: `Srht` has an inherent one too).
pub(crate) fn sketch_scratch<T: Real>(s: &dyn Sketch<T>) -> ScratchLen {
    s.scratch_len()
}

/// `v` unless it overflowed or exceeds [`MAX_FEATURE_DIM`].
pub(crate) fn checked(what: &'static str, v: Option<usize>) -> Result<usize> {
    v.filter(|&v| v <= MAX_FEATURE_DIM)
        .ok_or(FeatureError::TooLarge {
            what,
            limit: MAX_FEATURE_DIM,
        })
}
