//! Explicit feature maps `Z(x) ∈ R^D` with `⟨Z(x), Z(y)⟩ ≈ K(x, y)` for the
//! NNGP or NTK of an architecture: the same [`Plan`] as the exact backend,
//! walked on per-sample (per-position, for images) features.
//!
//! Where things live:
//! - `registry`: the list of methods, one line each;
//! - `methods/`: one file per [`Method`] behind one interface
//!   (`methods/interface.rs`), the polynomial stage several share
//!   (`methods/poly.rs`);
//! - `config`: [`FeatureConfig`] and the choices it holds;
//! - `recipe`: dimensions, budgets and the stream of seeds;
//! - `build`: the walk that assembles a layered map;
//! - `map`: [`FeatureMap`] itself, and whole-network maps' assembly;
//! - `stage`: the map's program, and the interface of a method's stage;
//! - `apply`: the batch driver (checks, chunks, workers, calibration);
//! - `linear`: the exact linear steps on features, fused Conv, compressions;
//! - `state`: per-sample state, variances and per-worker workspaces;
//! - `coeffs`: per-norm coefficients of the polynomial stage;
//! - `metrics`: [`gram_error`].
//!
//! State of a sample: the NNGP feature `φ` (`Σ ≈ ⟨φ(x), φ(y)⟩`), the NTK
//! feature `ψ` (`Θ ≈ ⟨ψ(x), ψ(y)⟩`), and the exact variances `q` of the
//! sample at every layer (the diagonal the exact backend computes), which
//! give activations their norms and LayerNorm its divisor.
//!
//! - Linear layers are exact on features (neural-tangents' conventions):
//!   input `φ = x/√d` (per position `/√C`); Dense `φ ← [W·φ; b]`,
//!   `ψ ← [W·ψ; φ_new]`; Conv gathers the `kh·kw` shifted neighbours of every
//!   output position (zeros in the padding) scaled by `W/√(kh·kw)`, plus the
//!   bias coordinate; AvgPool averages a window, GlobalAvgPool all
//!   positions, Flatten concatenates and divides by `√(HW)`; LayerNorm
//!   divides by the exact `√(q + ε)`.
//! - Activations, by [`Method`]: `hermite` (truncated Hermite expansion with
//!   coefficients computed for each sample's norm, PolySketch of the unit
//!   direction, SRHT compression, TensorSRHT for the NTK), `ntksketch` and
//!   `cntksketch` (the same stage fed the 2021 paper's arc-cosine
//!   polynomials), `random` (Monte-Carlo features of the finite-width
//!   layer) or `ntkrf` (leverage-score arc-cosine features, odd parts
//!   exact); `onepass` and `subspace` replace a homogeneous network by one
//!   polynomial stage on the input.
//! - Heads: leading exact coordinates (the input, constants, biases) are
//!   copied past every compression.
//! - Where a state grows past the internal budget, a seeded SRHT (the same
//!   map at every position) compresses it.
//!
//! Every random map is drawn at construction from the seed; applying the
//! map is a pure function of each sample, so outputs are bitwise equal for
//! any thread count and any batch split.

#[macro_use]
mod registry;

mod apply;
mod branch;
mod build;
mod coeffs;
mod config;
mod linear;
mod map;
mod methods;
mod metrics;
pub(crate) mod recipe;
mod stage;
pub(crate) mod state;

pub use config::{
    DEFAULT_POLY_DEGREE, FeatureConfig, KernelKind, MAX_FEATURE_DEGREE, MAX_FEATURE_DIM,
    MAX_FIT_SAMPLES, Method, Polynomial, ReluPolynomials, Toggle,
};
pub use map::FeatureMap;
pub use methods::{ntkrf_width, spectral_error, statistical_dimension};
pub use metrics::gram_error;
