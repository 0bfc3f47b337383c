//! Explicit feature maps `Z(x) ∈ R^D` with `⟨Z(x), Z(y)⟩ ≈ K(x, y)` for the
//! NNGP or NTK of an architecture: the same [`Plan`] as the exact backend,
//! walked on per-sample (per-position, for images) features.
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

mod coeffs;
mod subspace;

pub use subspace::{spectral_error, statistical_dimension};

use crate::arch::{Architecture, Shape};
use crate::error::{FeatureError, Result};
use crate::exact::{SelfBufs, image_self};
use crate::plan::{
    LAYER_NORM_EPS, Op, PairScratch, Plan, Step, pointwise, shape_size, vector_self,
};
use coeffs::Coeffs;
use dual_activations::{Activation, DualActivation, HermiteCoeffs, polyfit, taylor};
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatRef, Par};
use sketch_core::num_complex::Complex;
use sketch_core::{
    PatchSrht, PolySketch, Real, ScratchLen, Seed, Sketch, Srht, TensorSrht, Transform,
};
use std::ops::ControlFlow;

/// How activation layers (or, for `onepass`, the whole network) are turned
/// into features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Truncated Hermite expansion, per-sample coefficients, PolySketch
    /// (Han et al. 2022): any activation of `dual-activations`.
    Hermite,
    /// Random features of the finite-width layer: `σ(Gφ)/√m` and, for the
    /// NTK, `σ'(Gφ)/√m` joined to `ψ` by a TensorSRHT. Needs a pointwise σ.
    Random,
    /// NTKSketch (Zandieh et al. 2021, Algorithm 1), per layer: polynomial
    /// approximations of the arc-cosine kernels `κ₁`, `κ₀` ([`Polynomial`]),
    /// PolySketch of the unit-normalised feature, the norm carried exactly.
    /// Relu layers of vector inputs.
    NtkSketch,
    /// CNTKSketch (Zandieh et al. 2021, §6): the same per-layer arc-cosine
    /// polynomials at every position of an image, with the exact per-position
    /// normalisers, one set of random maps for all positions. Relu layers of
    /// image inputs.
    CntkSketch,
    /// The 2021 code's one-polynomial shortcut: the whole network's kernel
    /// `‖x‖‖y‖/d · G(ρ)` of a homogeneous network (Dense without bias,
    /// degree-1 homogeneous activations) fitted by one nonnegative
    /// polynomial in the input cosine, one PolySketch of `x/‖x‖`.
    OnePass,
    /// NTKRF (Zandieh et al. 2021, §5): arc-cosine random features with
    /// leverage-score sampling for the NNGP, step features for the
    /// derivative, TensorSRHT for the NTK recursion. Degree-1 homogeneous
    /// activations (Relu, LeakyRelu, ABRelu, Abs).
    NtkRf,
    /// The subspace embedding of a homogeneous network (Han et al. 2022,
    /// §4.5; the networks of `onepass`): the exact Taylor series of the
    /// whole network's `G(ρ)` truncated by its tail, degrees 0 and 1 exact,
    /// one PolySketch per higher degree with a dimension proportional to
    /// its coefficient, no compression across degrees.
    Subspace,
}

impl Method {
    /// The name used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hermite => "hermite",
            Self::Random => "random",
            Self::NtkSketch => "ntksketch",
            Self::CntkSketch => "cntksketch",
            Self::OnePass => "onepass",
            Self::NtkRf => "ntkrf",
            Self::Subspace => "subspace",
        }
    }
    /// Every method, in the order the documentation lists them.
    pub const ALL: [Method; 7] = [
        Method::Hermite,
        Method::Random,
        Method::NtkSketch,
        Method::CntkSketch,
        Method::OnePass,
        Method::NtkRf,
        Method::Subspace,
    ];
}

impl core::fmt::Display for Method {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| FeatureError::InvalidOption {
                what: "method",
                reason: format!(
                    "unknown method `{s}`; expected one of: {}",
                    Self::ALL.map(Method::name).join(", ")
                ),
            })
    }
}

/// The polynomial approximation of the arc-cosine kernels used by
/// `ntksketch` and `cntksketch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Polynomial {
    /// The nonnegative, monotone least-squares fits of the 2021 code
    /// (`dual_activations::polyfit::arccos1_fit`/`arccos0_fit`, interval
    /// shrinking with the layer index; `κ₁`'s fit exact at `ρ = 1`).
    #[default]
    Fit,
    /// The truncated Taylor series (`dual_activations::taylor`), the
    /// paper's analysis; equal to the Hermite truncation of Relu.
    Taylor,
    /// `ntksketch` only: the 2021 fits reweighted by a sample of the data
    /// (`dual_activations::polyfit::arccos1_data_fit`/`arccos0_data_fit`),
    /// so that the polynomials are accurate at the correlations the data's
    /// pairs reach at each layer. Fitted by [`FeatureConfig::fit_polynomials`],
    /// which stores them in [`FeatureConfig::data_polynomials`].
    Data,
}

impl Polynomial {
    /// The name used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fit => "fit",
            Self::Taylor => "taylor",
            Self::Data => "data",
        }
    }
}

impl std::str::FromStr for Polynomial {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        [Self::Fit, Self::Taylor, Self::Data]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| FeatureError::InvalidOption {
                what: "polynomial",
                reason: format!("unknown polynomial `{s}`; expected fit, taylor or data"),
            })
    }
}

/// Which kernel the features approximate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelKind {
    /// The NNGP kernel `Σ`.
    Nngp,
    /// The neural tangent kernel `Θ`.
    Ntk,
}

/// Options of a feature map. Build with [`FeatureConfig::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    /// Requested output dimension `D`: outputs have `min(D, natural)`
    /// coordinates, where `natural` is the dimension of the uncompressed
    /// final state (a network without activations on small inputs has fewer
    /// than `D` exact coordinates and keeps them).
    pub dim: usize,
    /// Activation method.
    pub method: Method,
    /// NNGP or NTK.
    pub kernel: KernelKind,
    /// Seed of every random map.
    pub seed: u64,
    /// Truncation degree. `hermite`: `None` chooses the smallest degree
    /// whose relative Hermite tail (of σ and σ', at unit norm and at norms
    /// ½ and 2) is at most `tolerance`, capped at `max_degree`. `ntksketch`,
    /// `cntksketch`, `onepass`: the polynomial degree, `None`:
    /// [`DEFAULT_POLY_DEGREE`].
    pub degree: Option<usize>,
    /// Relative tail tolerance for the automatic degree.
    pub tolerance: f64,
    /// Largest automatic degree.
    pub max_degree: usize,
    /// Per-sample (per-position) state budget inside the network (for
    /// `ntkrf`: the TensorSRHT dimension `m_s`); `None`: `D` for vectors and
    /// for `cntksketch` (the 2021 configuration), a per-position share for
    /// other image methods.
    pub inner_dim: Option<usize>,
    /// PolySketch node dimension, or random-feature width (`ntkrf`: `m₀ =
    /// m₁`); `None`: the inner budget (`ntkrf`: [`ntkrf_width`]).
    pub node_dim: Option<usize>,
    /// Make each truncated Hermite series exact at `ρ = ±1` for equal norms
    /// by adding the even and odd tails to the highest kept coefficient of
    /// each parity (`docs/NUMERICS.md`); `Some(false)`: plain truncation;
    /// `None`: matched for vector inputs, whose kernels weigh the diagonal
    /// and highly correlated pairs, plain for images, whose pooled kernels
    /// average mostly position pairs with `|ρ| < 1`, where matching
    /// overestimates by up to `T·|ρ|^q`.
    pub match_tails: Option<bool>,
    /// Arc-cosine polynomials of `ntksketch` and `cntksketch`.
    pub polynomial: Polynomial,
    /// The polynomials of [`Polynomial::Data`], one entry per Relu layer in
    /// order (empty otherwise); set by [`FeatureConfig::fit_polynomials`] and
    /// stored in model files so that the same map can be rebuilt.
    pub data_polynomials: Vec<ReluPolynomials>,
    /// Scale each sample's output to the exact kernel's diagonal: `Z(x) ←
    /// Z(x)·√K(x, x)/‖Z(x)‖`, with `K(x, x)` from the exact per-sample
    /// recursion (`O(L)` for vectors; for images the `(HW)²` self-state that
    /// the layered methods compute anyway for their variances). Then
    /// `⟨Z(x), Z(y)⟩` is the exact norms times the features' cosine, which
    /// removes each sample's scale error: on images the same sketch runs at
    /// every position, so on inputs whose positions look alike the scale
    /// errors do not average out under pooling and dominate the error
    /// (`docs/NUMERICS.md`). `None`: on for `hermite`, `ntkrf` and
    /// `cntksketch`; off for `ntksketch` (its arc-cosine polynomials are not
    /// exact at `ρ = 1`, so the exact diagonal would rescale every entry by
    /// the fit's error there), `random` (the finite-width baseline), and
    /// `onepass` and `subspace` (each the sketch of one polynomial).
    pub calibrate: Option<bool>,
}

/// Largest sample [`FeatureConfig::fit_polynomials`] accepts.
pub const MAX_FIT_SAMPLES: usize = 2048;

/// Coefficients (`c_0..c_q`, nonnegative) of the arc-cosine polynomials of
/// one Relu layer: `p₁ ≈ κ₁` (with `p₁(1) = 1`) and `p₀ ≈ κ₀`, in the
/// unit-sphere normalisation `κ₁(1) = κ₀(1) = 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReluPolynomials {
    /// `p₁ ≈ κ₁`.
    pub kappa1: Vec<f64>,
    /// `p₀ ≈ κ₀`.
    pub kappa0: Vec<f64>,
}

/// A state is compressed once it exceeds this many times the inner budget.
const SLACK: usize = 4;
/// Vectors per GEMM of a random-feature layer: wide enough for the GEMM's
/// rate (on `ntkrf`'s default layers, 1.03–1.34× faster than 32 in adjacent
/// criterion runs), and a progress chunk holds 16 of them.
const RANDOM_BATCH: usize = 128;
/// Heads (leading coordinates that compressions keep exactly: the input,
/// constant terms, biases) are at most `1/HEAD_SHARE` of the budget.
const HEAD_SHARE: usize = 4;
/// Images: values per layer (positions × per-position budget) as a multiple of `D`.
const IMAGE_VALUES: usize = 128;
/// Images: smallest automatic per-position budget.
const MIN_INNER: usize = 256;

/// Largest accepted feature dimension (per position and in total): 2²⁸
/// values, 1 GiB of `f32` for one sample.
pub const MAX_FEATURE_DIM: usize = 1 << 28;
/// Largest Hermite degree a feature map accepts.
pub const MAX_FEATURE_DEGREE: usize = 64;

impl FeatureConfig {
    /// Defaults: automatic degree with tolerance `1e−6` capped at 8, inner
    /// budget and node dimension `D`.
    pub fn new(dim: usize, method: Method, kernel: KernelKind, seed: u64) -> Self {
        Self {
            dim,
            method,
            kernel,
            seed,
            degree: None,
            tolerance: 1e-6,
            max_degree: 8,
            inner_dim: None,
            node_dim: None,
            match_tails: None,
            polynomial: Polynomial::Fit,
            data_polynomials: Vec::new(),
            calibrate: None,
        }
    }

    /// Fits `ntksketch`'s arc-cosine polynomials to a sample of the data
    /// (columns of `sample`, `d × s`): for every Relu layer, the exact
    /// correlations `ρ` of the sample's `s(s + 1)/2` pairs entering it (the
    /// exact backend's recursion), weighted by their squared kernel scale
    /// (`q_x q_y` for `κ₁`, the squared NTK entering the layer for `κ₀`,
    /// off-diagonal pairs twice), then
    /// `dual_activations::polyfit::arccos1_data_fit`/`arccos0_data_fit` of
    /// degree `self.degree` (default [`DEFAULT_POLY_DEGREE`]). Sets
    /// `polynomial` to [`Polynomial::Data`] and `data_polynomials`. A few
    /// hundred samples suffice (the cost is `O(s²·L)`).
    ///
    /// # Errors
    /// [`FeatureError::InvalidOption`] unless the method is `ntksketch`, or
    /// for more than [`MAX_FIT_SAMPLES`] samples; [`FeatureError::Empty`],
    /// [`FeatureError::NonFinite`]; the plan's errors for an architecture
    /// that does not fit `d`-dimensional vectors; coefficient and fit
    /// errors of the activations.
    pub fn fit_polynomials(&mut self, arch: &Architecture, sample: MatRef<'_, f64>) -> Result<()> {
        self.validate()?;
        if self.method != Method::NtkSketch {
            return Err(FeatureError::InvalidOption {
                what: "polynomial",
                reason: format!(
                    "data-fitted polynomials are for ntksketch, not {}",
                    self.method
                ),
            });
        }
        let (d, s) = (sample.nrows(), sample.ncols());
        if d == 0 || s == 0 {
            return Err(FeatureError::Empty {
                what: "polynomial fit sample",
            });
        }
        if s > MAX_FIT_SAMPLES {
            return Err(FeatureError::InvalidOption {
                what: "polynomial",
                reason: format!(
                    "{s} fit samples; pass at most {MAX_FIT_SAMPLES} (a few hundred suffice)"
                ),
            });
        }
        for j in 0..s {
            if let Some(i) = (0..d).find(|&i| !sample[(i, j)].is_finite()) {
                return Err(FeatureError::NonFinite {
                    what: "polynomial fit sample",
                    sample: j,
                    index: i,
                });
            }
        }
        let plan = Plan::new(arch, Shape::Vector { dim: d })?;
        let degree = self.degree.unwrap_or(DEFAULT_POLY_DEGREE);
        // Each sample's variances before every step.
        let pre: Vec<Vec<f64>> = (0..s)
            .map(|j| {
                let q0 = (0..d).map(|i| sample[(i, j)].powi(2)).sum::<f64>() / d as f64;
                vector_self(&plan, q0).map(|v| v.0)
            })
            .collect::<Result<_>>()?;
        let pairs: Vec<(usize, usize)> = (0..s).flat_map(|j| (j..s).map(move |i| (i, j))).collect();
        let mut diag = vec![0; s];
        for (k, &(a, b)) in pairs.iter().enumerate() {
            if a == b {
                diag[a] = k;
            }
        }
        // Dimension that carries each layer's sketched part.
        let carrier = self.inner_dim.unwrap_or(self.dim) as f64;
        let mut q: Vec<f64> = pairs
            .iter()
            .map(|&(a, b)| (0..d).map(|i| sample[(i, a)] * sample[(i, b)]).sum::<f64>() / d as f64)
            .collect();
        let mut t = vec![0.0f64; pairs.len()];
        let (mut qa, mut qb) = (vec![0.0; pairs.len()], vec![0.0; pairs.len()]);
        let mut scratch = PairScratch::default();
        let mut fits = Vec::new();
        for (l, step) in plan.steps.iter().enumerate() {
            for (k, &(a, b)) in pairs.iter().enumerate() {
                qa[k] = pre[a][l];
                qb[k] = pre[b][l];
            }
            if matches!(step.op, Op::Activation)
                && matches!(plan.dual(step).activation(), Activation::Relu)
            {
                let (mut rho, mut w1, mut w0) = (Vec::new(), Vec::new(), Vec::new());
                let mut v0 = 0.0;
                // The fitter uses the weights relative to their sum (and the
                // noise terms relative to the same sums), so each family is
                // scaled by its largest diagonal: no overflow for huge inputs.
                let qmax = pre.iter().fold(0.0f64, |m, p| m.max(p[l]));
                let tmax = diag.iter().fold(0.0f64, |m, &k| m.max(t[k].abs()));
                let tmax = if tmax > 0.0 { tmax } else { 1.0 };
                for (k, &(a, b)) in pairs.iter().enumerate() {
                    let v = (qa[k] / qmax) * (qb[k] / qmax);
                    // A zero-variance sample's kernel does not depend on ρ.
                    if v.is_nan() || v <= 0.0 {
                        continue;
                    }
                    let m = if a == b { 1.0 } else { 2.0 };
                    rho.push((q[k] / (qa[k].sqrt() * qb[k].sqrt())).clamp(-1.0, 1.0));
                    w1.push(m * v);
                    w0.push(m * (t[k] / tmax).powi(2));
                    v0 += m * (t[diag[a]] / tmax) * (t[diag[b]] / tmax);
                }
                let v1: f64 = w1.iter().sum();
                let err = |source| FeatureError::Activation {
                    layer: step.layer,
                    source,
                };
                let h = fits.len();
                let kappa1 =
                    polyfit::arccos1_data_fit(degree, h, &rho, &w1, v1 / carrier).map_err(err)?;
                let kappa0 =
                    polyfit::arccos0_data_fit(degree, h, &rho, &w0, v0 / carrier).map_err(err)?;
                fits.push(ReluPolynomials {
                    kappa1: kappa1.coeffs.coeffs().to_vec(),
                    kappa0: kappa0.coeffs.coeffs().to_vec(),
                });
            }
            pointwise(&plan, step, &mut q, &mut t, &qa, &qb, &mut scratch)?;
        }
        self.polynomial = Polynomial::Data;
        self.data_polynomials = fits;
        Ok(())
    }

    /// Whether the map scales each sample to the exact diagonal
    /// ([`FeatureConfig::calibrate`], its default resolved).
    pub fn calibrates(&self) -> bool {
        self.calibrate.unwrap_or(matches!(
            self.method,
            Method::Hermite | Method::NtkRf | Method::CntkSketch
        ))
    }

    fn validate(&self) -> Result<()> {
        let bad = |what, reason: String| Err(FeatureError::InvalidOption { what, reason });
        for (what, v) in [
            ("dim", Some(self.dim)),
            ("inner_dim", self.inner_dim),
            ("node_dim", self.node_dim),
        ] {
            if let Some(v) = v
                && !(1..=MAX_FEATURE_DIM).contains(&v)
            {
                return bad(what, format!("{v} is not in 1..={MAX_FEATURE_DIM}"));
            }
        }
        if let Some(q) = self.degree
            && !(1..=MAX_FEATURE_DEGREE).contains(&q)
        {
            return bad("degree", format!("{q} is not in 1..={MAX_FEATURE_DEGREE}"));
        }
        if !(1..=MAX_FEATURE_DEGREE).contains(&self.max_degree) {
            return bad(
                "max_degree",
                format!("{} is not in 1..={MAX_FEATURE_DEGREE}", self.max_degree),
            );
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0 && self.tolerance < 1.0) {
            return bad("tolerance", format!("{} is not in (0, 1)", self.tolerance));
        }
        Ok(())
    }
}

/// Dimensions of the state between two stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dims {
    /// Positions (1 for vectors).
    pos: usize,
    /// NNGP feature length per position.
    phi: usize,
    /// NTK feature length per position (0: `Θ = 0` so far, or NNGP only).
    psi: usize,
    /// Leading NNGP coordinates that compressions keep as they are (exact
    /// low-dimensional parts: the input, constant terms, biases).
    hphi: usize,
    /// Leading NTK coordinates kept by compressions.
    hpsi: usize,
}

/// A Hermite activation layer.
#[derive(Debug)]
struct HermiteAct<T: Real> {
    coeffs: Coeffs,
    degree: usize,
    /// Length of the unit direction `u` (`m` after a projection, else `d_in`).
    d_dir: usize,
    m: usize,
    /// `d_in → m` before the tree when `d_in` exceeds the slack times `m`.
    pre: Option<Srht<T>>,
    /// Tensor powers 2..=degree of the unit direction (`None` for degree 1).
    poly: Option<PolySketch<T>>,
    /// `[a₁u; a₂U₂; …]` → budget, when longer than the budget.
    compress: Option<Srht<T>>,
    /// `(ψ, [b₁u; b₂U₂; …])` → budget, for the NTK.
    tensor: Option<TensorSrht<T>>,
    /// Leading coordinates of `a₁u` copied as they are, outside `compress`.
    head: usize,
}

impl<T: Real> HermiteAct<T> {
    /// Length of `[a₁u; a₂U₂; …; a_qU_q]`.
    fn full_len(&self) -> usize {
        self.d_dir + (self.degree - 1) * self.m
    }
}

/// A random-feature activation layer.
#[derive(Debug)]
struct RandomAct<T: Real> {
    act: Activation,
    /// `m × d_in`, column-major.
    g: Mat<T>,
    tensor: Option<TensorSrht<T>>,
    /// `ntkrf`: `σ(t) = α·t + β·|t|` and `σ'(t) = α + β·sign t` with
    /// `(α, β)`; the odd parts are carried exactly (`φ ← [αφ; β|Gφ|/√m]`,
    /// `ψ ← [αψ; T(ψ, β·sign(Gφ)/√m)]`), only the even parts are sampled.
    split: Option<(f64, f64)>,
}

#[derive(Debug)]
enum Stage<T: Real> {
    /// A linear step of the plan (index into the steps).
    Linear(usize),
    Hermite(usize, Box<HermiteAct<T>>),
    Random(Box<RandomAct<T>>),
    /// `subspace`: the whole network as one stage on the input.
    Subspace(Box<subspace::SubspaceAct<T>>),
    /// Shorten the heads (they would outgrow their share of the budget).
    Heads {
        phi: usize,
        psi: usize,
    },
    /// A Conv whose patches are longer than the budget, fused with their
    /// compression (images): one [`PatchSrht`] of the `φ` patch and one of
    /// the `[ψ; φ]` patch, each source position transformed once; the bias
    /// is an exact head coordinate of both.
    ConvSketch {
        step: usize,
        phi: Box<PatchSrht<T>>,
        psi: Option<Box<PatchSrht<T>>>,
    },
    /// Per-position SRHT of the NNGP and/or NTK feature, after its head.
    Compress {
        phi: Option<Box<Srht<T>>>,
        psi: Option<Box<Srht<T>>>,
    },
}

/// A feature map of an architecture for one input shape. `T` is the
/// precision of the features (`f32` or `f64`); coefficients and variances
/// are computed in `f64`, and the `f32` map draws the same random maps.
#[derive(Debug)]
pub struct FeatureMap<T: Real> {
    arch: Architecture,
    input: Shape,
    steps: Vec<Step>,
    stages: Vec<Stage<T>>,
    config: FeatureConfig,
    final_dims: Dims,
    compress_out: Option<Srht<T>>,
    out_dim: usize,
    scratch: ScratchLen,
    needs_variance: bool,
    /// Scale each output to the exact diagonal ([`FeatureConfig::calibrate`]).
    calibrate: bool,
    /// `onepass`: one polynomial stage on the input, whose NNGP-like
    /// feature is the output for either kernel.
    one_pass: bool,
    /// Head of the input feature.
    input_head: usize,
    /// `onepass`: the fitted coefficients `c_j` and the fit's largest error.
    fit: Option<(Vec<f64>, f64)>,
    /// Samples per batch: random-feature layers of vector inputs multiply a
    /// batch at once; otherwise 1.
    batch_len: usize,
}

fn sketch_scratch<T: Real>(s: &dyn Sketch<T>) -> ScratchLen {
    s.scratch_len()
}

fn checked(what: &'static str, v: Option<usize>) -> Result<usize> {
    v.filter(|&v| v <= MAX_FEATURE_DIM)
        .ok_or(FeatureError::TooLarge {
            what,
            limit: MAX_FEATURE_DIM,
        })
}

impl<T: Real> FeatureMap<T> {
    /// Compiles `arch` for inputs of shape `input` and draws every random map.
    ///
    /// # Errors
    /// The plan's shape errors; [`FeatureError::InvalidOption`] for bad
    /// options; [`FeatureError::Unsupported`] for a layer the method cannot
    /// represent (for example `random` features of `ExpNormalized`, which has
    /// no pointwise function); [`FeatureError::TooLarge`] when a state would
    /// exceed [`MAX_FEATURE_DIM`]; coefficient errors of the activations.
    pub fn new(arch: &Architecture, input: Shape, config: &FeatureConfig) -> Result<Self> {
        config.validate()?;
        let plan = Plan::new(arch, input)?;
        if matches!(config.method, Method::OnePass | Method::Subspace) {
            return Self::one_pass(arch, input, plan, config);
        }
        let ntk = config.kernel == KernelKind::Ntk;
        let image = matches!(input, Shape::Image { .. });
        // Per-position budget: vectors use D; images shrink it where there
        // are many positions (per-position noise averages out under pooling)
        // so that every layer holds about IMAGE_VALUES·D values.
        let inner_for = |pos: usize| -> usize {
            match config.inner_dim {
                Some(v) => v,
                // CNTKSketch keeps the 2021 configuration: `D` at every position.
                None if image && config.method == Method::CntkSketch => config.dim,
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
        };
        let slack = if image { 1 } else { SLACK };
        // A Conv of an image whose `φ` patches exceed the budget of its
        // output positions is fused with their compression.
        let fuse_conv = |window: &crate::plan::Window, dphi: usize| -> bool {
            image
                && window.taps() > 1
                && window.taps().saturating_mul(dphi)
                    > slack * inner_for(window.output.0 * window.output.1)
        };
        let root = Seed(config.seed);
        let mut dims = match input {
            Shape::Vector { dim } => Dims {
                pos: 1,
                phi: dim,
                psi: 0,
                hphi: dim.min(config.dim / HEAD_SHARE),
                hpsi: 0,
            },
            Shape::Image { h, w, c } => Dims {
                pos: h * w,
                phi: c,
                psi: 0,
                hphi: 0,
                hpsi: 0,
            },
        };
        let mut stages = Vec::new();
        let mut scratch = ScratchLen::default();
        let mut needs_variance = false;
        let input_head = dims.hphi;
        let mut relu_index = 0;
        let mut seeds = 0u64;
        let mut next_seed = || {
            seeds += 1;
            root.child(seeds)
        };
        for (i, step) in plan.steps.iter().enumerate() {
            let name = arch.layers()[step.layer].stax_name();
            let unsupported = |reason: String| FeatureError::Unsupported {
                layer: step.layer,
                name,
                method: config.method.name(),
                reason,
            };
            let bias = |b: f64| usize::from(b != 0.0);
            match &step.op {
                Op::Dense { b_std, .. } => {
                    dims.phi = checked("NNGP feature length", dims.phi.checked_add(bias(*b_std)))?;
                    dims.hphi += bias(*b_std);
                    if ntk {
                        dims.psi = checked("NTK feature length", dims.psi.checked_add(dims.phi))?;
                        dims.hpsi += dims.hphi;
                    }
                    stages.push(Stage::Linear(i));
                }
                Op::Conv { window, b_std, .. } if fuse_conv(window, dims.phi) => {
                    let taps = window.taps();
                    let pos = window.output.0 * window.output.1;
                    let bias = bias(*b_std);
                    let m = inner_for(pos).saturating_sub(bias).max(1);
                    let phi = PatchSrht::new(dims.phi, taps, m, next_seed())?;
                    let psi = if ntk {
                        let d = checked(
                            "NTK feature length per position",
                            dims.psi.checked_add(dims.phi),
                        )?;
                        Some(Box::new(PatchSrht::new(d, taps, m, next_seed())?))
                    } else {
                        None
                    };
                    dims.pos = pos;
                    dims.phi = bias + m;
                    dims.hphi = bias;
                    if ntk {
                        dims.psi = bias + m;
                        dims.hpsi = bias;
                    }
                    stages.push(Stage::ConvSketch {
                        step: i,
                        phi: Box::new(phi),
                        psi,
                    });
                }
                Op::Conv { window, b_std, .. } => {
                    let taps = window.taps();
                    dims.phi = checked(
                        "NNGP feature length per position",
                        dims.phi
                            .checked_mul(taps)
                            .and_then(|v| v.checked_add(bias(*b_std))),
                    )?;
                    if ntk {
                        dims.psi = checked(
                            "NTK feature length per position",
                            dims.psi
                                .checked_mul(taps)
                                .and_then(|v| v.checked_add(dims.phi)),
                        )?;
                    }
                    dims.pos = window.output.0 * window.output.1;
                    dims.hphi = 0;
                    dims.hpsi = 0;
                    stages.push(Stage::Linear(i));
                }
                Op::AvgPool { window } => {
                    dims.pos = window.output.0 * window.output.1;
                    stages.push(Stage::Linear(i));
                }
                Op::GlobalAvgPool => {
                    dims.pos = 1;
                    stages.push(Stage::Linear(i));
                }
                Op::Flatten => {
                    dims.phi = checked(
                        "flattened NNGP feature length",
                        dims.phi.checked_mul(dims.pos),
                    )?;
                    dims.psi = checked(
                        "flattened NTK feature length",
                        dims.psi.checked_mul(dims.pos),
                    )?;
                    dims.pos = 1;
                    stages.push(Stage::Linear(i));
                }
                Op::LayerNorm => {
                    needs_variance = true;
                    stages.push(Stage::Linear(i));
                }
                Op::Activation => {
                    let dual = plan.dual(step).clone();
                    let d_in = dims.phi;
                    let inner = inner_for(dims.pos);
                    let node = config.node_dim.unwrap_or(inner);
                    match config.method {
                        Method::Hermite | Method::NtkSketch | Method::CntkSketch => {
                            needs_variance = true;
                            let coeffs = if config.method == Method::Hermite {
                                if matches!(dual.activation(), Activation::ExpNormalized { gamma, .. } if *gamma < 0.0)
                                {
                                    return Err(unsupported(
                                        "ExpNormalized with gamma < 0 has no Hermite series".into(),
                                    ));
                                }
                                let degree = match config.degree {
                                    Some(q) => q,
                                    None => auto_degree(&dual, config, step.layer)?,
                                };
                                Coeffs::new(
                                    dual,
                                    degree,
                                    step.layer,
                                    config.match_tails.unwrap_or(!image),
                                )
                            } else {
                                let want_image = config.method == Method::CntkSketch;
                                if image != want_image {
                                    return Err(unsupported(if image {
                                        "ntksketch is the fully connected method; for images use cntksketch (or hermite)".into()
                                    } else {
                                        "cntksketch is the convolutional method; for vectors use ntksketch (or hermite, onepass)".into()
                                    }));
                                }
                                if !matches!(dual.activation(), Activation::Relu) {
                                    return Err(unsupported(format!(
                                        "{} sketches the arc-cosine kernels of Relu only; use hermite (any activation)",
                                        config.method
                                    )));
                                }
                                let degree = config.degree.unwrap_or(DEFAULT_POLY_DEGREE);
                                let coeffs =
                                    relu_coeffs(dual, step.layer, relu_index, degree, config)?;
                                relu_index += 1;
                                coeffs
                            };
                            let shape = ActShape {
                                d_in,
                                inner,
                                node,
                                slack,
                                ntk,
                                psi: dims.psi,
                                head: dims.hphi,
                            };
                            let (a, phi_out) = poly_act(coeffs, shape, &mut next_seed)?;
                            scratch = scratch.max(hermite_scratch(&a));
                            dims.phi = phi_out;
                            dims.hphi = 1 + a.head;
                            if ntk {
                                dims.psi += inner;
                            }
                            stages.push(Stage::Hermite(i, Box::new(a)));
                        }
                        Method::OnePass | Method::Subspace => {
                            unreachable!("whole-network methods have their own constructor")
                        }
                        Method::Random | Method::NtkRf => {
                            let act = dual.activation().clone();
                            let leverage = config.method == Method::NtkRf;
                            if leverage && !degree_one(&act) {
                                return Err(unsupported(format!(
                                    "ntkrf draws arc-cosine features of degree-1 homogeneous activations (Relu, LeakyRelu, ABRelu, Abs); {} is not one: use random or hermite",
                                    act.stax_name()
                                )));
                            }
                            if act.value(0.5).is_none() || (ntk && act.derivative(0.5).is_none()) {
                                return Err(unsupported(format!(
                                    "{} has no pointwise function (kernel-only); use method hermite",
                                    act.stax_name()
                                )));
                            }
                            let (m, inner) = if leverage {
                                let m = config.node_dim.unwrap_or_else(|| ntkrf_width(config.dim));
                                let ms = config.inner_dim.unwrap_or(config.dim);
                                (m, ms)
                            } else {
                                (node, inner)
                            };
                            let count = checked("random weight count", d_in.checked_mul(m))?;
                            let g = if leverage {
                                // Leverage-score rows reweighted by `√d/‖w‖`:
                                // rows of norm exactly `√d` (docs/NUMERICS.md).
                                let w = leverage_rows(d_in, m, next_seed());
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
                                Mat::from_fn(m, d_in, |k, i| T::cast(w[k * d_in + i] * scale[k]))
                            } else {
                                let normals = next_seed().normals(count);
                                // Column-major m × d_in: entry (k, i) at i·m + k.
                                Mat::from_fn(m, d_in, |k, i| T::cast(normals[i * m + k]))
                            };
                            let tensor = ntk_tensor(ntk, dims.psi, m, inner, &mut next_seed)?;
                            if let Some(t) = &tensor {
                                scratch = scratch.max(t.pair_scratch_len());
                            }
                            let split = if leverage { odd_even(&act) } else { None };
                            if split.is_some() {
                                dims.phi = checked("NNGP feature length", d_in.checked_add(m))?;
                                if ntk {
                                    dims.psi =
                                        checked("NTK feature length", dims.psi.checked_add(inner))?;
                                }
                            } else {
                                dims.phi = m;
                                dims.hphi = 0;
                                if ntk {
                                    dims.psi = inner;
                                    dims.hpsi = 0;
                                }
                            }
                            stages.push(Stage::Random(Box::new(RandomAct {
                                act,
                                g,
                                tensor,
                                split,
                            })));
                        }
                    }
                }
            }
            // Budget: compress what grew past `SLACK` times the budget (every
            // compression adds sketching noise; a few extra values cost little).
            // φ entering an activation is left alone (its sketch reduces it).
            let next_is_act = plan
                .steps
                .get(i + 1)
                .is_some_and(|s| matches!(s.op, Op::Activation));
            // A fused Conv next compresses its patches itself; before a
            // GlobalAvgPool one SRHT after the pool is the same map as one at
            // every position (linear maps commute with the mean) at a
            // fraction of the cost.
            let next_fused = plan.steps.get(i + 1).is_some_and(|s| match &s.op {
                Op::Conv { window, .. } => fuse_conv(window, dims.phi),
                Op::GlobalAvgPool => image,
                _ => false,
            });
            // `ntkrf`'s inner dimension is its TensorSRHT's; its budget is `D`.
            let inner = if config.method == Method::NtkRf {
                config.dim
            } else {
                inner_for(dims.pos)
            };
            // Heads stay a small share of the budget (any prefix is a head).
            let cap = inner / HEAD_SHARE;
            if dims.hphi > cap || dims.hpsi > cap {
                dims.hphi = dims.hphi.min(cap);
                dims.hpsi = dims.hpsi.min(cap);
                stages.push(Stage::Heads {
                    phi: dims.hphi,
                    psi: dims.hpsi,
                });
            }
            // An SRHT of the part after the head, to `inner` values in all.
            let mut tail_srht = |len: &mut usize, head: usize| -> Result<Box<Srht<T>>> {
                let s = Srht::new(*len - head, inner - head, Transform::Hadamard, next_seed())?;
                scratch = scratch.max(sketch_scratch(&s));
                *len = inner;
                Ok(Box::new(s))
            };
            let phi = if dims.phi > slack * inner && !next_is_act && !next_fused {
                Some(tail_srht(&mut dims.phi, dims.hphi)?)
            } else {
                None
            };
            let psi = if ntk && dims.psi > slack * inner && !next_fused {
                Some(tail_srht(&mut dims.psi, dims.hpsi)?)
            } else {
                None
            };
            if phi.is_some() || psi.is_some() {
                stages.push(Stage::Compress { phi, psi });
            }
            checked(
                "feature values per sample",
                dims.pos.checked_mul(dims.phi.max(dims.psi)),
            )?;
        }
        if config.method == Method::NtkSketch
            && config.polynomial == Polynomial::Data
            && relu_index != config.data_polynomials.len()
        {
            return Err(FeatureError::InvalidOption {
                what: "data_polynomials",
                reason: format!(
                    "{} fitted layers for an architecture with {relu_index} Relu layers; fit them on this architecture",
                    config.data_polynomials.len()
                ),
            });
        }
        debug_assert_eq!(dims.pos, 1, "plans end without spatial dimensions");
        let natural = if ntk { dims.psi } else { dims.phi };
        let head = if ntk { dims.hpsi } else { dims.hphi };
        let head = head.min(config.dim / HEAD_SHARE);
        let compress_out = if natural > config.dim {
            let s = Srht::new(
                natural - head,
                config.dim - head,
                Transform::Hadamard,
                next_seed(),
            )?;
            scratch = scratch.max(sketch_scratch(&s));
            Some(s)
        } else {
            None
        };
        let out_dim = natural.min(config.dim);
        let has_random = stages.iter().any(|s| matches!(s, Stage::Random(_)));
        let batch_len = if has_random && !image {
            RANDOM_BATCH
        } else {
            1
        };
        Ok(Self {
            arch: arch.clone(),
            input,
            steps: plan.steps,
            stages,
            config: config.clone(),
            final_dims: dims,
            compress_out,
            out_dim,
            scratch,
            needs_variance,
            calibrate: config.calibrates(),
            one_pass: false,
            fit: None,
            input_head,
            batch_len,
        })
    }

    /// `onepass`: the whole network's kernel `(‖x‖‖y‖/d)·G(ρ)` (homogeneous
    /// networks only) fitted by one nonnegative polynomial `Σ c_j ρ^j` on
    /// the grid of the 2021 code, sketched as one activation layer on the
    /// input with coefficients `r·√c_j`, `r = ‖x‖/√d`.
    fn one_pass(
        arch: &Architecture,
        input: Shape,
        plan: Plan<'_>,
        config: &FeatureConfig,
    ) -> Result<Self> {
        let unsupported = |layer: usize, reason: String| FeatureError::Unsupported {
            layer,
            name: arch.layers()[layer].stax_name(),
            method: config.method.name(),
            reason,
        };
        let Shape::Vector { dim: d } = input else {
            return Err(unsupported(
                0,
                "needs vector inputs (an image kernel is not a function of one cosine); use cntksketch or hermite".into(),
            ));
        };
        let mut depth = 0;
        let mut dual = None;
        for step in &plan.steps {
            match &step.op {
                Op::Dense { b_std, .. } if *b_std != 0.0 => {
                    return Err(unsupported(
                        step.layer,
                        "needs a homogeneous network: a bias makes the kernel depend on the norms, not on the cosine alone; use ntksketch or hermite".into(),
                    ));
                }
                Op::Dense { .. } | Op::Flatten => {}
                Op::Activation => {
                    let d = plan.dual(step);
                    if !(degree_one(d.activation())
                        || matches!(d.activation(), Activation::Identity))
                    {
                        return Err(unsupported(
                            step.layer,
                            format!(
                                "needs degree-1 homogeneous activations (Relu, LeakyRelu, ABRelu, Abs, Identity), not {}; use hermite",
                                d.activation().stax_name()
                            ),
                        ));
                    }
                    depth += 1;
                    dual.get_or_insert_with(|| d.clone());
                }
                _ => {
                    return Err(unsupported(
                        step.layer,
                        "covers Dense layers and activations only; use hermite".into(),
                    ));
                }
            }
        }
        let root = Seed(config.seed);
        let mut seeds = 0u64;
        let mut next_seed = || {
            seeds += 1;
            root.child(seeds)
        };
        if config.method == Method::Subspace {
            let degree = match config.degree {
                Some(q) => q,
                None => subspace::auto_degree(
                    &plan,
                    config.kernel,
                    config.tolerance,
                    config.max_degree,
                )?,
            };
            let c = subspace::network_series(&plan, config.kernel, degree)?;
            let g1 = unit_kernel(&plan, &[1.0], config.kernel)?[0];
            let tail = (g1 - c.iter().sum::<f64>()).max(0.0);
            let act = subspace::SubspaceAct::<T>::new(&c, d, config.dim, &mut next_seed)?;
            let dim = act.dim_out;
            return Ok(Self {
                arch: arch.clone(),
                input,
                steps: plan.steps,
                scratch: act.scratch(),
                stages: vec![Stage::Subspace(Box::new(act))],
                config: config.clone(),
                final_dims: Dims {
                    pos: 1,
                    phi: dim,
                    psi: 0,
                    hphi: 0,
                    hpsi: 0,
                },
                compress_out: None,
                out_dim: dim,
                needs_variance: false,
                calibrate: config.calibrates(),
                one_pass: true,
                fit: Some((c, tail)),
                input_head: 0,
                batch_len: 1,
            });
        }
        let degree = config.degree.unwrap_or(DEFAULT_POLY_DEGREE);
        let (grid, weights) = polyfit::ntk_fit_grid(depth, degree);
        let g = unit_kernel(&plan, &grid, config.kernel)?;
        let fit = polyfit::nonnegative_monotone_fit(&grid, &g, &weights, degree, None)
            .map_err(|source| FeatureError::Activation { layer: 0, source })?;
        let a: Vec<f64> = fit
            .coeffs
            .coeffs()
            .iter()
            .map(|c| c.max(0.0).sqrt())
            .collect();
        let dual = match dual {
            Some(d) => d,
            None => DualActivation::new(Activation::Identity)
                .map_err(|source| FeatureError::Activation { layer: 0, source })?,
        };
        let coeffs = Coeffs::fixed(dual, 0, a, Vec::new());
        let shape = ActShape {
            d_in: d,
            inner: config.dim,
            node: config.node_dim.unwrap_or(config.dim),
            slack: SLACK,
            ntk: false,
            psi: 0,
            head: d.min(config.dim / HEAD_SHARE),
        };
        let (act, phi) = poly_act::<T>(coeffs, shape, &mut next_seed)?;
        let scratch = hermite_scratch(&act);
        let hphi = 1 + act.head;
        Ok(Self {
            arch: arch.clone(),
            input,
            steps: plan.steps,
            stages: vec![Stage::Hermite(0, Box::new(act))],
            config: config.clone(),
            final_dims: Dims {
                pos: 1,
                phi,
                psi: 0,
                hphi,
                hpsi: 0,
            },
            compress_out: None,
            out_dim: phi,
            scratch,
            needs_variance: true,
            calibrate: config.calibrates(),
            one_pass: true,
            fit: Some((fit.coeffs.coeffs().to_vec(), fit.max_error)),
            input_head: d.min(config.dim / HEAD_SHARE),
            batch_len: 1,
        })
    }

    /// Output dimension `D′ = min(D, natural)`.
    pub fn dim(&self) -> usize {
        self.out_dim
    }

    /// The input shape of one sample.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// The options the map was built with.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// `onepass` and `subspace`: the polynomial `G(ρ) ≈ Σ_j c_j ρ^j` the
    /// features sketch (`K(x, y) ≈ ‖x‖‖y‖/d · G(ρ)`) and its largest error
    /// on `[−1, 1]` (`onepass`: on the fitting grid; `subspace`: the
    /// truncated Taylor tail `G(1) − Σ c_j`, the largest for nonnegative
    /// coefficients); `None` for the other methods.
    pub fn one_pass_fit(&self) -> Option<(&[f64], f64)> {
        self.fit.as_ref().map(|(c, e)| (c.as_slice(), *e))
    }

    /// The Hermite degree of every activation layer (empty for `random`).
    pub fn degrees(&self) -> Vec<usize> {
        self.stages
            .iter()
            .filter_map(|s| match s {
                Stage::Hermite(_, a) => Some(a.degree),
                _ => None,
            })
            .collect()
    }

    /// Values per sample of the input.
    pub fn sample_len(&self) -> usize {
        shape_size(self.input).expect("checked by the plan")
    }

    /// Features of every sample of `x` (sample-major: the layout of a C-order
    /// `(n, d)` or `(n, H, W, C)` array) as a `(D′, n)` matrix, one sample per
    /// column (the memory layout of a C-order `(n, D′)` array).
    /// `progress(done, n)` is called on the calling thread.
    ///
    /// # Errors
    /// [`FeatureError::Empty`], [`FeatureError::DimMismatch`] (a length that
    /// is not a multiple of the sample size), [`FeatureError::NonFinite`];
    /// [`FeatureError::NonFiniteOutput`] when a feature overflows; activation
    /// errors.
    pub fn apply(
        &self,
        x: &[T],
        par: Par,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Mat<T>> {
        let n = self.samples(x)?;
        let mut out = Mat::<T>::zeros(self.out_dim, n);
        self.run(x, n, out.as_mut(), par, &mut |done, total| {
            progress(done, total);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// [`apply`](Self::apply) into a caller's `(D′, n)` matrix, every entry
    /// overwritten: a buffer reused across calls (streaming blocks of
    /// samples) costs no allocation and no page faults, which for fresh
    /// memory cost about as much as the features themselves on small maps.
    ///
    /// # Errors
    /// As [`apply`](Self::apply); [`FeatureError::DimMismatch`] when `out`
    /// is not `(D′, n)`.
    pub fn apply_into(
        &self,
        x: &[T],
        out: faer::MatMut<'_, T>,
        par: Par,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<()> {
        self.apply_into_cancellable(x, out, par, &mut |done, total| {
            progress(done, total);
            ControlFlow::Continue(())
        })
    }

    /// [`apply_into`](Self::apply_into) whose `progress(done, n)` may stop
    /// the computation by returning [`ControlFlow::Break`]: the call then
    /// returns [`FeatureError::Cancelled`] within one chunk of samples (256
    /// vectors or 4 images), `out` partly written.
    ///
    /// # Errors
    /// As [`apply_into`](Self::apply_into), and [`FeatureError::Cancelled`].
    pub fn apply_into_cancellable(
        &self,
        x: &[T],
        out: faer::MatMut<'_, T>,
        par: Par,
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let n = self.samples(x)?;
        if out.nrows() != self.out_dim || out.ncols() != n {
            return Err(FeatureError::DimMismatch {
                what: "output matrix (D′ rows, one column per sample)",
                expected: self.out_dim * n,
                got: out.nrows() * out.ncols(),
            });
        }
        self.run(x, n, out, par, progress)
    }

    /// Features of the `n` checked samples of `x` into `out` (`(D′, n)`).
    fn run(
        &self,
        x: &[T],
        n: usize,
        mut out: faer::MatMut<'_, T>,
        par: Par,
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let size = self.sample_len();
        let plan = Plan {
            arch: &self.arch,
            steps: self.steps.clone(),
        };
        // Samples per progress report: about a second of work, and 16
        // batches to share between workers.
        let chunk = match self.input {
            Shape::Vector { .. } => 256.max(16 * self.batch_len),
            Shape::Image { .. } => 4,
        };
        // One workspace per worker for the whole call (its buffers stay
        // faulted in across chunks); scratch only, so outputs do not depend
        // on which worker ran a batch.
        let pool = sketch_core::parallel::per_worker(par, || Workspace::new(self.scratch));
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let block = out.rb_mut().subcols_mut(start, len);
            let bl = self.batch_len;
            let batches = sketch_core::parallel::col_blocks(block, bl);
            let results = sketch_core::parallel::map_items(par, batches, |w, j, cols| {
                let s = start + j * bl;
                let b = cols.ncols();
                let mut ws = sketch_core::parallel::lock(&pool, w);
                self.batch(&plan, &x[s * size..(s + b) * size], cols, &mut ws)
                    .map_err(|e| (s, e))
            });
            for r in results {
                r.map_err(|(_, e)| e)?;
            }
            start += len;
            if progress(start, n).is_break() && start < n {
                return Err(FeatureError::Cancelled {
                    done: start,
                    total: n,
                });
            }
        }
        Ok(())
    }

    /// The number of samples in `x`, after checking it.
    fn samples(&self, x: &[T]) -> Result<usize> {
        let size = self.sample_len();
        if x.is_empty() {
            return Err(FeatureError::Empty { what: "x" });
        }
        if !x.len().is_multiple_of(size) {
            return Err(FeatureError::DimMismatch {
                what: "input length (a multiple of the sample size)",
                expected: size * x.len().div_ceil(size),
                got: x.len(),
            });
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(FeatureError::NonFinite {
                what: "x",
                sample: k / size,
                index: k % size,
            });
        }
        Ok(x.len() / size)
    }

    /// A batch of samples (`xs`, sample-major) into their output columns.
    /// Stages run sample by sample, except random-feature layers, which
    /// multiply the whole batch by their weights in one GEMM; a sample's
    /// features do not depend on its batch (a GEMM column is computed the
    /// same way for any number of columns ≥ 2, which `random_batch` keeps).
    fn batch(
        &self,
        plan: &Plan<'_>,
        xs: &[T],
        mut out: faer::MatMut<'_, T>,
        ws: &mut Workspace<T>,
    ) -> Result<()> {
        let size = self.sample_len();
        let b = out.ncols();
        let vars = if self.needs_variance || self.calibrate {
            (0..b)
                .map(|j| self.variances(plan, &xs[j * size..(j + 1) * size], &mut ws.own))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let mut states: Vec<State<T>> = (0..b)
            .map(|j| State::input(&xs[j * size..(j + 1) * size], self.input, self.input_head))
            .collect();
        for stage in &self.stages {
            if let Stage::Random(a) = stage {
                random_batch(a, &mut states, ws);
                continue;
            }
            for (j, st) in states.iter_mut().enumerate() {
                let var = |step: usize, p: usize| -> f64 {
                    match vars.get(j).map(|v| &v.pre) {
                        Some(Pre::Vector(v)) => v[step],
                        Some(Pre::Image(v)) => v[step][p],
                        None => unreachable!("variances are computed when a stage needs them"),
                    }
                };
                match stage {
                    Stage::Linear(i) => {
                        linear(&self.steps[*i].op, st, &var, *i, self.config.kernel)
                    }
                    Stage::Hermite(i, a) => {
                        let kernel = if self.one_pass {
                            KernelKind::Nngp
                        } else {
                            self.config.kernel
                        };
                        hermite(a, st, &var, *i, kernel, ws)?
                    }
                    Stage::Random(_) => unreachable!("handled for the whole batch"),
                    Stage::ConvSketch { step, phi, psi } => {
                        conv_sketch(&self.steps[*step].op, phi, psi.as_deref(), st, ws)
                    }
                    Stage::Subspace(a) => {
                        let mut out = vec![T::zero(); a.dim_out];
                        a.apply(&st.phi, &mut out, &mut ws.u, &mut ws.real, &mut ws.complex);
                        st.phi = out;
                        st.dphi = a.dim_out;
                        st.hphi = 0;
                    }
                    Stage::Heads { phi, psi } => {
                        st.hphi = *phi;
                        st.hpsi = *psi;
                    }
                    Stage::Compress { phi, psi } => {
                        if let Some(s) = phi {
                            st.phi = compress_each(s, &st.phi, st.dphi, st.hphi, st.pos, ws);
                            st.dphi = st.hphi + s.dim_out();
                        }
                        if let Some(s) = psi {
                            st.psi = compress_each(s, &st.psi, st.dpsi, st.hpsi, st.pos, ws);
                            st.dpsi = st.hpsi + s.dim_out();
                        }
                    }
                }
            }
        }
        for (j, st) in states.iter().enumerate() {
            debug_assert_eq!(
                (st.pos, st.dphi, st.dpsi),
                (
                    self.final_dims.pos,
                    self.final_dims.phi,
                    if self.config.kernel == KernelKind::Ntk && !self.one_pass {
                        self.final_dims.psi
                    } else {
                        st.dpsi
                    }
                )
            );
            let v = match self.config.kernel {
                _ if self.one_pass => &st.phi,
                KernelKind::Nngp => &st.phi,
                KernelKind::Ntk => &st.psi,
            };
            let out = col_slice(out.rb_mut().col_mut(j));
            match &self.compress_out {
                Some(s) => {
                    let h = v.len() - s.dim_in();
                    out[..h].copy_from_slice(&v[..h]);
                    s.apply_one(&v[h..], &mut out[h..], &mut ws.real, &mut ws.complex);
                }
                None => out.copy_from_slice(v),
            }
            if self.calibrate {
                let exact = match (self.config.kernel, &vars[j]) {
                    (KernelKind::Nngp, v) => v.nngp,
                    (KernelKind::Ntk, v) => v.ntk,
                };
                calibrate(out, exact);
            }
            if out.iter().any(|v| !v.is_finite()) {
                return Err(FeatureError::NonFiniteOutput {
                    what: "feature",
                    reason: "a feature overflowed the floating-point range; rescale the inputs or use f64",
                });
            }
        }
        Ok(())
    }

    fn variances(&self, plan: &Plan<'_>, x: &[T], own: &mut SelfBufs) -> Result<Variances> {
        let (pre, nngp, ntk) = match self.input {
            Shape::Vector { dim } => {
                let q0 = x.iter().map(|v| v.as_f64() * v.as_f64()).sum::<f64>() / dim as f64;
                let (v, nngp, ntk) = vector_self(plan, q0)?;
                (Pre::Vector(v), nngp, ntk)
            }
            Shape::Image { h, w, c } => {
                let x64: Vec<f64> = x.iter().map(|v| v.as_f64()).collect();
                let (v, nngp, ntk) = image_self(plan, own, &x64, h, w, c)?;
                (Pre::Image(v), nngp, ntk)
            }
        };
        Ok(Variances { pre, nngp, ntk })
    }
}

/// One sample's exact recursion: its variances entering every step, and
/// the diagonals of the network's NNGP and NTK.
struct Variances {
    pre: Pre,
    nngp: f64,
    ntk: f64,
}

/// The variances entering every step (per position for images).
enum Pre {
    Vector(Vec<f64>),
    Image(Vec<Vec<f64>>),
}

/// Scales `z` so that `‖z‖² = exact` (norm in `f64`). A zero feature stays
/// zero (no direction to scale); an exact diagonal of `0` maps `z` to zero;
/// a negative or non-finite one (which the exact recursion does not
/// produce) leaves `z` as it is.
fn calibrate<T: Real>(z: &mut [T], exact: f64) {
    let norm = z
        .iter()
        .map(|v| v.as_f64() * v.as_f64())
        .sum::<f64>()
        .sqrt();
    if !(norm > 0.0 && norm.is_finite() && exact.is_finite() && exact >= 0.0) {
        return;
    }
    let s = T::cast(exact.sqrt() / norm);
    z.iter_mut().for_each(|v| *v *= s);
}

fn col_slice<T: Real>(c: faer::ColMut<'_, T>) -> &mut [T] {
    c.try_as_col_major_mut()
        .expect("owned matrices are column-major")
        .as_slice_mut()
}

/// Per-worker scratch.
struct Workspace<T: Real> {
    real: Vec<T>,
    complex: Vec<Complex<T>>,
    a: Vec<f64>,
    b: Vec<f64>,
    buf: Vec<T>,
    u: Vec<T>,
    zfull: Vec<T>,
    zdot: Vec<T>,
    spare_phi: Vec<T>,
    spare_psi: Vec<T>,
    /// Fused Convs: the transformed sources of `φ` and `[ψ; φ]`.
    src_phi: Vec<T>,
    src_psi: Vec<T>,
    /// Random-feature layers: the batch's inputs and pre-activations.
    gx: Mat<T>,
    gz: Mat<T>,
    /// Images: the exact self-state of the variances.
    own: SelfBufs,
}

impl<T: Real> Workspace<T> {
    fn new(s: ScratchLen) -> Self {
        Self {
            real: vec![T::zero(); s.real],
            complex: vec![Complex::new(T::zero(), T::zero()); s.complex],
            a: Vec::new(),
            b: Vec::new(),
            buf: Vec::new(),
            u: Vec::new(),
            zfull: Vec::new(),
            zdot: Vec::new(),
            spare_phi: Vec::new(),
            spare_psi: Vec::new(),
            src_phi: Vec::new(),
            src_psi: Vec::new(),
            gx: Mat::new(),
            gz: Mat::new(),
            own: SelfBufs::default(),
        }
    }
}

/// Features of one sample between stages: `pos` positions, each with
/// `dphi` NNGP and `dpsi` NTK coordinates (position-major).
struct State<T> {
    pos: usize,
    h: usize,
    w: usize,
    phi: Vec<T>,
    dphi: usize,
    psi: Vec<T>,
    dpsi: usize,
    /// Heads of `φ` and `ψ` (see [`Dims`]).
    hphi: usize,
    hpsi: usize,
}

impl<T: Real> State<T> {
    fn input(x: &[T], shape: Shape, head: usize) -> Self {
        let (pos, h, w, d) = match shape {
            Shape::Vector { dim } => (1, 1, 1, dim),
            Shape::Image { h, w, c } => (h * w, h, w, c),
        };
        let s = T::cast(1.0 / (d as f64).sqrt());
        Self {
            pos,
            h,
            w,
            phi: x.iter().map(|v| *v * s).collect(),
            dphi: d,
            psi: Vec::new(),
            dpsi: 0,
            hphi: head,
            hpsi: 0,
        }
    }
}

/// The same SRHT applied at every position, after the first `head`
/// coordinates, which are copied.
fn compress_each<T: Real>(
    s: &Srht<T>,
    v: &[T],
    d: usize,
    head: usize,
    pos: usize,
    ws: &mut Workspace<T>,
) -> Vec<T> {
    let m = head + s.dim_out();
    let mut out = vec![T::zero(); pos * m];
    for (src, dst) in v.chunks_exact(d).zip(out.chunks_exact_mut(m)) {
        dst[..head].copy_from_slice(&src[..head]);
        s.apply_one(
            &src[head..],
            &mut dst[head..],
            &mut ws.real,
            &mut ws.complex,
        );
    }
    out
}

/// A fused Conv ([`Stage::ConvSketch`]): every source position's `φ` and
/// `[ψ; φ]` transformed once (scaled by `W/√(kh·kw)`), then every output
/// position's patch combined from its taps (padding taps are zero), after
/// the bias coordinate. The inner products are the exact Conv's in
/// expectation (`⟨ψ′, ψ″⟩ = b² + W²/taps·Σ_taps (⟨ψ, ψ⟩ + ⟨φ, φ⟩)`).
fn conv_sketch<T: Real>(
    op: &Op,
    phi_sk: &PatchSrht<T>,
    psi_sk: Option<&PatchSrht<T>>,
    st: &mut State<T>,
    ws: &mut Workspace<T>,
) {
    let Op::Conv {
        window,
        w_std,
        b_std,
    } = op
    else {
        unreachable!("fused stages are Convs")
    };
    let scale = T::cast(w_std / (window.taps() as f64).sqrt());
    let has_b = *b_std != 0.0;
    let b = T::cast(*b_std);
    let head = usize::from(has_b);
    let pin = st.pos;
    let (oh, ow) = window.output;
    let pos = oh * ow;
    let lp = phi_sk.transformed_len();
    ws.src_phi.resize(pin * lp, T::zero());
    for (src, y) in st
        .phi
        .chunks_exact(st.dphi)
        .zip(ws.src_phi.chunks_exact_mut(lp))
    {
        phi_sk.transform(src, scale, y);
    }
    if let Some(sk) = psi_sk {
        let ls = sk.transformed_len();
        ws.src_psi.resize(pin * ls, T::zero());
        for s in 0..pin {
            sk.transform_parts(
                &[
                    &st.psi[s * st.dpsi..(s + 1) * st.dpsi],
                    &st.phi[s * st.dphi..(s + 1) * st.dphi],
                ],
                scale,
                &mut ws.src_psi[s * ls..(s + 1) * ls],
            );
        }
    }
    let dphi = head + phi_sk.dim_out();
    let dpsi = psi_sk.map_or(0, |sk| head + sk.dim_out());
    // Every value is written below (the bias, then each combine), so the
    // recycled buffers are only resized, not zeroed.
    let mut phi = resized(std::mem::take(&mut ws.spare_phi), pos * dphi);
    let mut psi = resized(std::mem::take(&mut ws.spare_psi), pos * dpsi);
    let mut srcs: Vec<Option<usize>> = Vec::with_capacity(window.taps());
    let mut taps: Vec<Option<&[T]>> = Vec::with_capacity(window.taps());
    for i in 0..oh {
        for j in 0..ow {
            let o = i * ow + j;
            srcs.clear();
            for ah in 0..window.k.0 {
                for aw in 0..window.k.1 {
                    srcs.push(window.source((i, j), (ah, aw)));
                }
            }
            let out = &mut phi[o * dphi..(o + 1) * dphi];
            if has_b {
                out[0] = b;
            }
            taps.clear();
            taps.extend(
                srcs.iter()
                    .map(|s| s.map(|s| &ws.src_phi[s * lp..(s + 1) * lp])),
            );
            phi_sk.combine(&taps, &mut out[head..]);
            if let Some(sk) = psi_sk {
                let ls = sk.transformed_len();
                let out = &mut psi[o * dpsi..(o + 1) * dpsi];
                if has_b {
                    out[0] = b;
                }
                taps.clear();
                taps.extend(
                    srcs.iter()
                        .map(|s| s.map(|s| &ws.src_psi[s * ls..(s + 1) * ls])),
                );
                sk.combine(&taps, &mut out[head..]);
            }
        }
    }
    ws.spare_phi = std::mem::replace(&mut st.phi, phi);
    st.dphi = dphi;
    if psi_sk.is_some() {
        ws.spare_psi = std::mem::replace(&mut st.psi, psi);
        st.dpsi = dpsi;
    } else {
        ws.spare_psi = psi;
    }
    st.pos = pos;
    st.h = oh;
    st.w = ow;
    st.hphi = head;
    st.hpsi = if psi_sk.is_some() { head } else { 0 };
}

/// A linear step on features (exact).
fn linear<T: Real>(
    op: &Op,
    st: &mut State<T>,
    var: &dyn Fn(usize, usize) -> f64,
    step: usize,
    kernel: KernelKind,
) {
    let ntk = kernel == KernelKind::Ntk;
    match *op {
        Op::Dense { w_std, b_std } => {
            // Layout `[W·φ_head; b; W·φ_tail]` and
            // `[φ′_head; W·ψ_head; φ′_tail; W·ψ_tail]`: heads first.
            let (w, b) = (T::cast(w_std), T::cast(b_std));
            let has_b = b_std != 0.0;
            let dphi = st.dphi + usize::from(has_b);
            let hphi = st.hphi + usize::from(has_b);
            let mut phi = Vec::with_capacity(st.pos * dphi);
            for p in st.phi.chunks_exact(st.dphi.max(1)) {
                phi.extend(p[..st.hphi].iter().map(|v| *v * w));
                if has_b {
                    phi.push(b);
                }
                phi.extend(p[st.hphi..].iter().map(|v| *v * w));
            }
            if ntk {
                let dpsi = st.dpsi + dphi;
                let mut psi = Vec::with_capacity(st.pos * dpsi);
                for p in 0..st.pos {
                    let old = &st.psi[p * st.dpsi..(p + 1) * st.dpsi];
                    let new = &phi[p * dphi..(p + 1) * dphi];
                    psi.extend_from_slice(&new[..hphi]);
                    psi.extend(old[..st.hpsi].iter().map(|v| *v * w));
                    psi.extend_from_slice(&new[hphi..]);
                    psi.extend(old[st.hpsi..].iter().map(|v| *v * w));
                }
                st.psi = psi;
                st.dpsi = dpsi;
                st.hpsi += hphi;
            }
            st.phi = phi;
            st.dphi = dphi;
            st.hphi = hphi;
        }
        Op::Conv {
            window,
            w_std,
            b_std,
        } => {
            let taps = window.taps();
            let scale = T::cast(w_std / (taps as f64).sqrt());
            let has_b = b_std != 0.0;
            let b = T::cast(b_std);
            let (oh, ow) = window.output;
            let pos = oh * ow;
            let gather = |src: &[T], d: usize, out: &mut Vec<T>, o: (usize, usize)| {
                for ah in 0..window.k.0 {
                    for aw in 0..window.k.1 {
                        match window.source(o, (ah, aw)) {
                            Some(s) => {
                                out.extend(src[s * d..(s + 1) * d].iter().map(|v| *v * scale))
                            }
                            None => out.extend(core::iter::repeat_n(T::zero(), d)),
                        }
                    }
                }
            };
            let dphi = taps * st.dphi + usize::from(has_b);
            let mut phi = Vec::with_capacity(pos * dphi);
            for i in 0..oh {
                for j in 0..ow {
                    gather(&st.phi, st.dphi, &mut phi, (i, j));
                    if has_b {
                        phi.push(b);
                    }
                }
            }
            if ntk {
                let dpsi = taps * st.dpsi + dphi;
                let mut psi = Vec::with_capacity(pos * dpsi);
                for i in 0..oh {
                    for j in 0..ow {
                        if st.dpsi > 0 {
                            gather(&st.psi, st.dpsi, &mut psi, (i, j));
                        }
                        let o = i * ow + j;
                        psi.extend_from_slice(&phi[o * dphi..(o + 1) * dphi]);
                    }
                }
                st.psi = psi;
                st.dpsi = dpsi;
            }
            st.phi = phi;
            st.dphi = dphi;
            st.pos = pos;
            st.h = oh;
            st.w = ow;
            st.hphi = 0;
            st.hpsi = 0;
        }
        Op::AvgPool { window } => {
            let (oh, ow) = window.output;
            let pool = |src: &[T], d: usize| crate::plan::pool_positions(src, d, &window);
            st.phi = pool(&st.phi, st.dphi);
            if ntk && st.dpsi > 0 {
                st.psi = pool(&st.psi, st.dpsi);
            }
            st.pos = oh * ow;
            st.h = oh;
            st.w = ow;
        }
        Op::GlobalAvgPool => {
            let inv = T::cast(1.0 / st.pos as f64);
            let mean = |src: &[T], d: usize| -> Vec<T> {
                let mut out = vec![T::zero(); d];
                for p in src.chunks_exact(d.max(1)) {
                    for (o, v) in out.iter_mut().zip(p) {
                        *o += *v;
                    }
                }
                out.iter_mut().for_each(|v| *v *= inv);
                out
            };
            st.phi = mean(&st.phi, st.dphi);
            if ntk && st.dpsi > 0 {
                st.psi = mean(&st.psi, st.dpsi);
            }
            st.pos = 1;
            st.h = 1;
            st.w = 1;
        }
        Op::Flatten => {
            if st.pos > 1 {
                let s = T::cast(1.0 / (st.pos as f64).sqrt());
                st.phi.iter_mut().for_each(|v| *v *= s);
                st.psi.iter_mut().for_each(|v| *v *= s);
                st.dphi *= st.pos;
                st.dpsi *= st.pos;
                st.pos = 1;
                st.h = 1;
                st.w = 1;
            }
        }
        Op::LayerNorm => {
            for p in 0..st.pos {
                let s = T::cast(1.0 / (var(step, p) + LAYER_NORM_EPS).sqrt());
                st.phi[p * st.dphi..(p + 1) * st.dphi]
                    .iter_mut()
                    .for_each(|v| *v *= s);
                if st.dpsi > 0 {
                    st.psi[p * st.dpsi..(p + 1) * st.dpsi]
                        .iter_mut()
                        .for_each(|v| *v *= s);
                }
            }
        }
        Op::Activation => unreachable!("activations are their own stages"),
    }
}

/// The TensorSRHT `(ψ, second) → inner` of an activation, for the NTK only.
fn ntk_tensor<T: Real>(
    ntk: bool,
    psi: usize,
    second: usize,
    inner: usize,
    next_seed: &mut dyn FnMut() -> Seed,
) -> Result<Option<TensorSrht<T>>> {
    if !ntk {
        return Ok(None);
    }
    Ok(Some(TensorSrht::new(
        psi.max(1),
        second,
        inner,
        Transform::Hadamard,
        next_seed(),
    )?))
}

fn hermite_scratch<T: Real>(a: &HermiteAct<T>) -> ScratchLen {
    let mut s = ScratchLen::default();
    if let Some(p) = &a.pre {
        s = s.max(p.scratch_len());
    }
    if let Some(p) = &a.poly {
        s = s.max(p.tree_scratch_len());
    }
    if let Some(c) = &a.compress {
        s = s.max(c.scratch_len());
    }
    if let Some(t) = &a.tensor {
        s = s.max(t.pair_scratch_len());
    }
    s
}

/// A Hermite activation on every position.
fn hermite<T: Real>(
    a: &HermiteAct<T>,
    st: &mut State<T>,
    var: &dyn Fn(usize, usize) -> f64,
    step: usize,
    kernel: KernelKind,
    ws: &mut Workspace<T>,
) -> Result<()> {
    let ntk = kernel == KernelKind::Ntk;
    let q = a.degree;
    let full = a.full_len();
    let phi_block = a.compress.as_ref().map_or(full, |c| a.head + c.dim_out());
    let dphi = 1 + phi_block;
    let dpsi = if ntk {
        st.dpsi + a.tensor.as_ref().map_or(0, |t| t.dim_out())
    } else {
        0
    };
    // Buffers reused across samples (fresh allocations of these sizes cost
    // page faults); every output value is written below (zeros where a
    // position's input vanishes), scratch is overwritten before use.
    let mut phi = resized(std::mem::take(&mut ws.spare_phi), st.pos * dphi);
    let mut psi = resized(std::mem::take(&mut ws.spare_psi), st.pos * dpsi);
    ws.a.resize(q + 1, 0.0);
    ws.b.resize(q + 1, 0.0);
    let Workspace {
        real,
        complex,
        a: ca,
        b: cb,
        buf,
        u,
        zfull,
        zdot,
        ..
    } = ws;
    buf.resize(q * a.m, T::zero());
    u.resize(a.d_dir, T::zero());
    zfull.resize(full, T::zero());
    zdot.resize(if ntk { full } else { 0 }, T::zero());
    for p in 0..st.pos {
        let x = &st.phi[p * st.dphi..(p + 1) * st.dphi];
        let r = var(step, p).max(0.0).sqrt();
        a.coeffs.get(r, ca, cb)?;
        // The unit direction, after a projection when the input is longer
        // than the node dimension (the projection is renormalised, so the
        // expansion stays exact on the diagonal).
        match &a.pre {
            Some(pre) => pre.apply_one(x, u, real, complex),
            None => u.copy_from_slice(x),
        }
        let norm = u
            .iter()
            .map(|v| v.as_f64() * v.as_f64())
            .sum::<f64>()
            .sqrt();
        let out_phi = &mut phi[p * dphi..(p + 1) * dphi];
        out_phi[0] = T::cast(ca[0]);
        if norm > 0.0 {
            let inv = T::cast(1.0 / norm);
            u.iter_mut().for_each(|v| *v *= inv);
            if let Some(poly) = &a.poly {
                // Degrees 1..=q from one tree; degree 1 is replaced by u itself.
                poly.apply_all_degrees(u, buf, real, complex);
            }
            let powers = &buf[a.m..];
            let u: &[T] = u;
            let fill = |z: &mut [T], c: &[f64]| {
                let c1 = T::cast(c[1]);
                z[..a.d_dir]
                    .iter_mut()
                    .zip(u)
                    .for_each(|(o, v)| *o = *v * c1);
                for (j, (blk, src)) in z[a.d_dir..]
                    .chunks_exact_mut(a.m)
                    .zip(powers.chunks_exact(a.m))
                    .enumerate()
                {
                    let cj = T::cast(c[j + 2]);
                    blk.iter_mut().zip(src).for_each(|(o, v)| *o = *v * cj);
                }
            };
            fill(zfull, ca);
            match &a.compress {
                Some(c) => {
                    let h = a.head;
                    out_phi[1..1 + h].copy_from_slice(&zfull[..h]);
                    c.apply_one(&zfull[h..], &mut out_phi[1 + h..], real, complex);
                }
                None => out_phi[1..].copy_from_slice(zfull),
            }
            if ntk {
                fill(zdot, cb);
            }
        } else {
            out_phi[1..].iter_mut().for_each(|v| *v = T::zero());
            if ntk {
                zdot.iter_mut().for_each(|v| *v = T::zero());
            }
        }
        if ntk {
            let out_psi = &mut psi[p * dpsi..(p + 1) * dpsi];
            let b0 = T::cast(cb[0]);
            let old = &st.psi[p * st.dpsi..(p + 1) * st.dpsi];
            out_psi[..st.dpsi]
                .iter_mut()
                .zip(old)
                .for_each(|(o, v)| *o = *v * b0);
            if let Some(t) = &a.tensor {
                if norm > 0.0 && st.dpsi > 0 {
                    t.apply_pair(old, zdot, &mut out_psi[st.dpsi..], real, complex);
                } else {
                    out_psi[st.dpsi..].iter_mut().for_each(|v| *v = T::zero());
                }
            }
        }
    }
    ws.spare_phi = std::mem::replace(&mut st.phi, phi);
    st.dphi = dphi;
    st.hphi = 1 + a.head;
    if ntk {
        ws.spare_psi = std::mem::replace(&mut st.psi, psi);
        st.dpsi = dpsi;
    } else {
        ws.spare_psi = psi;
    }
    Ok(())
}

/// `v` with length `len`, old values kept (for buffers the caller
/// overwrites entirely).
fn resized<T: Real>(mut v: Vec<T>, len: usize) -> Vec<T> {
    v.truncate(len);
    v.resize(len, T::zero());
    v
}

/// A random-feature activation on every position of every sample of a
/// batch: one GEMM `G·[φ₁ … φ_b]` (at least two columns, so that a column's
/// arithmetic is the GEMM's, never the matrix–vector product's, whatever
/// the batch), then `σ`, `σ'` and the NTK's TensorSRHT per position.
fn random_batch<T: Real>(a: &RandomAct<T>, states: &mut [State<T>], ws: &mut Workspace<T>) {
    let m = a.g.nrows();
    let d_in = a.g.ncols();
    let cols: usize = states.iter().map(|st| st.pos).sum();
    let width = cols.max(2);
    // Reused across batches (fresh buffers of these sizes cost page faults).
    let mut x = std::mem::replace(&mut ws.gx, Mat::new());
    let mut z = std::mem::replace(&mut ws.gz, Mat::new());
    if (x.nrows(), x.ncols()) != (d_in, width) {
        x = Mat::zeros(d_in, width);
    }
    if (z.nrows(), z.ncols()) != (m, width) {
        z = Mat::zeros(m, width);
    }
    let mut c = 0;
    for st in states.iter() {
        debug_assert_eq!(st.dphi, d_in);
        for p in st.phi.chunks_exact(d_in) {
            col_slice(x.as_mut().col_mut(c)).copy_from_slice(p);
            c += 1;
        }
    }
    for pad in c..width {
        col_slice(x.as_mut().col_mut(pad)).fill(T::zero());
    }
    matmul(
        z.as_mut(),
        Accum::Replace,
        a.g.as_ref(),
        x.as_ref(),
        T::one(),
        Par::Seq,
    );
    let s = 1.0 / (m as f64).sqrt();
    let ntk = a.tensor.is_some();
    let t_out = a.tensor.as_ref().map_or(0, |t| t.dim_out());
    let mut dz = vec![T::zero(); if ntk { m } else { 0 }];
    let mut c = 0;
    for st in states.iter_mut() {
        // With a split, the exact odd parts come first.
        let (lin_phi, lin_psi) = match a.split {
            Some(_) => (st.dphi, st.dpsi),
            None => (0, 0),
        };
        let dphi = lin_phi + m;
        let dpsi = if ntk { lin_psi + t_out } else { 0 };
        let mut phi = vec![T::zero(); st.pos * dphi];
        let mut psi = vec![T::zero(); st.pos * dpsi];
        for p in 0..st.pos {
            let col = z.col(c);
            c += 1;
            let out_phi = &mut phi[p * dphi..(p + 1) * dphi];
            let old_psi = &st.psi[p * st.dpsi..(p + 1) * st.dpsi];
            let out_psi = &mut psi[p * dpsi..(p + 1) * dpsi];
            match a.split {
                Some((alpha, beta)) => {
                    let (al, be) = (T::cast(alpha), T::cast(beta * s));
                    let old = &st.phi[p * st.dphi..(p + 1) * st.dphi];
                    out_phi[..lin_phi]
                        .iter_mut()
                        .zip(old)
                        .for_each(|(o, v)| *o = *v * al);
                    for k in 0..m {
                        let t = col[k];
                        out_phi[lin_phi + k] = t.abs() * be;
                        if ntk {
                            dz[k] = if t > T::zero() {
                                be
                            } else if t < T::zero() {
                                -be
                            } else {
                                T::zero()
                            };
                        }
                    }
                    if ntk {
                        out_psi[..lin_psi]
                            .iter_mut()
                            .zip(old_psi)
                            .for_each(|(o, v)| *o = *v * al);
                    }
                }
                None => {
                    for k in 0..m {
                        let t = col[k].as_f64();
                        out_phi[k] = T::cast(a.act.value(t).unwrap_or(0.0) * s);
                        if ntk {
                            dz[k] = T::cast(a.act.derivative(t).unwrap_or(0.0) * s);
                        }
                    }
                }
            }
            if let Some(t) = &a.tensor {
                t.apply_pair(
                    old_psi,
                    &dz,
                    &mut out_psi[lin_psi..],
                    &mut ws.real,
                    &mut ws.complex,
                );
            }
        }
        st.phi = phi;
        st.dphi = dphi;
        if ntk {
            st.psi = psi;
            st.dpsi = dpsi;
        }
        if a.split.is_none() {
            st.hphi = 0;
            st.hpsi = 0;
        }
    }
    ws.gx = x;
    ws.gz = z;
}

/// Default polynomial degree of `ntksketch`, `cntksketch` and `onepass`.
pub const DEFAULT_POLY_DEGREE: usize = 4;

/// Default `ntkrf` width `m₀ = m₁` for a feature dimension `D`: `⌈D/4⌉`
/// (the TensorSRHT dimension `m_s` defaults to `D`).
pub fn ntkrf_width(dim: usize) -> usize {
    dim.div_ceil(4).max(1)
}

/// Positively homogeneous activations of degree 1 whose derivative is
/// constant on rays (Relu and its two-slope relatives, Abs).
fn degree_one(act: &Activation) -> bool {
    matches!(
        act,
        Activation::Relu
            | Activation::LeakyRelu { .. }
            | Activation::AbRelu { .. }
            | Activation::Abs
    )
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
pub(crate) fn leverage_rows(d: usize, m: usize, seed: Seed) -> Vec<f64> {
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

/// Sizes of a polynomial activation stage.
#[derive(Debug, Clone, Copy)]
struct ActShape {
    /// Length of the incoming NNGP feature.
    d_in: usize,
    /// Budget of the output feature.
    inner: usize,
    /// PolySketch node dimension.
    node: usize,
    /// Project the direction first when `d_in > slack · node`.
    slack: usize,
    ntk: bool,
    /// Length of the incoming NTK feature.
    psi: usize,
    /// Head of the incoming NNGP feature (kept out of the compression).
    head: usize,
}

/// A polynomial activation stage (Hermite or arc-cosine coefficients):
/// optional projection of the direction, PolySketch of degrees 2..=q, SRHT
/// compression to `inner − 1` (the constant is its own coordinate), and the
/// NTK's TensorSRHT. Returns the stage and its NNGP feature length.
fn poly_act<T: Real>(
    coeffs: Coeffs,
    s: ActShape,
    next_seed: &mut dyn FnMut() -> Seed,
) -> Result<(HermiteAct<T>, usize)> {
    let degree = coeffs.degree();
    let m = s.node;
    // A direction longer than the node dimension is first projected (and
    // renormalised) to it.
    let pre = if s.d_in > s.slack * m {
        Some(Srht::new(s.d_in, m, Transform::Hadamard, next_seed())?)
    } else {
        None
    };
    let d_dir = if pre.is_some() { m } else { s.d_in };
    let poly = if degree >= 2 {
        Some(PolySketch::new(
            d_dir,
            m,
            degree,
            Transform::Hadamard,
            next_seed(),
        )?)
    } else {
        None
    };
    let full = checked(
        "polynomial expansion length",
        (degree - 1)
            .checked_mul(m)
            .and_then(|v| v.checked_add(d_dir)),
    )?;
    // The constant c₀ is its own coordinate, so the activation's output has
    // exactly `inner` values.
    let target = s.inner.saturating_sub(1).max(1);
    // The direction's head (unless projected) stays out of the compression.
    let head = if pre.is_some() {
        0
    } else {
        s.head.min(target / 2)
    };
    let compress = if full > target {
        Some(Srht::new(
            full - head,
            target - head,
            Transform::Hadamard,
            next_seed(),
        )?)
    } else {
        None
    };
    let phi_out = 1 + full.min(target);
    let tensor = ntk_tensor(s.ntk, s.psi, full, s.inner, next_seed)?;
    Ok((
        HermiteAct {
            coeffs,
            degree,
            d_dir,
            m,
            pre,
            poly,
            compress,
            tensor,
            head,
        },
        phi_out,
    ))
}

/// `ntksketch`/`cntksketch` coefficients of the `h`-th Relu layer: the
/// arc-cosine polynomials `p₁ ≈ κ₁`, `p₀ ≈ κ₀` of degree `q`, scaled to
/// neural-tangents' Relu (`K = r_x r_y κ₁(ρ)/2`, `K̇ = κ₀(ρ)/2`).
fn relu_coeffs(
    dual: DualActivation,
    layer: usize,
    h: usize,
    degree: usize,
    config: &FeatureConfig,
) -> Result<Coeffs> {
    let err = |source| FeatureError::Activation { layer, source };
    let (p1, p0) = match config.polynomial {
        Polynomial::Fit => (
            polyfit::arccos1_fit(degree, h).map_err(err)?.coeffs,
            polyfit::arccos0_fit(degree, h).map_err(err)?.coeffs,
        ),
        Polynomial::Taylor => (
            taylor::arccos1_taylor(degree),
            taylor::arccos0_taylor(degree),
        ),
        Polynomial::Data => {
            let bad = |reason: String| FeatureError::InvalidOption {
                what: "data_polynomials",
                reason,
            };
            if config.method != Method::NtkSketch {
                return Err(bad(format!(
                    "data-fitted polynomials are for ntksketch, not {}",
                    config.method
                )));
            }
            let p = config.data_polynomials.get(h).ok_or_else(|| {
                bad(format!(
                    "no fitted polynomials for Relu layer {h} (layer {layer}): fit them on this architecture with fit_polynomials"
                ))
            })?;
            for c in [&p.kappa1, &p.kappa0] {
                if c.len() != degree + 1 {
                    return Err(bad(format!(
                        "Relu layer {h} has {} coefficients for degree {degree}; refit after changing the degree",
                        c.len()
                    )));
                }
                if let Some(v) = c.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                    return Err(bad(format!(
                        "coefficient {v} of Relu layer {h} is not finite and nonnegative"
                    )));
                }
            }
            (
                taylor::TaylorCoeffs(p.kappa1.clone()),
                taylor::TaylorCoeffs(p.kappa0.clone()),
            )
        }
    };
    let half_sqrt = |c: &f64| (c.max(0.0) / 2.0).sqrt();
    Ok(Coeffs::fixed(
        dual,
        layer,
        p1.coeffs().iter().map(half_sqrt).collect(),
        p0.coeffs().iter().map(half_sqrt).collect(),
    ))
}

/// The whole network's kernel `G(ρ)` for unit input variances and input
/// correlations `rho` (Dense and activation steps only).
fn unit_kernel(plan: &Plan<'_>, rho: &[f64], kernel: KernelKind) -> Result<Vec<f64>> {
    let pre = vector_self(plan, 1.0)?.0;
    let n = rho.len();
    let mut q = rho.to_vec();
    let mut t = vec![0.0; n];
    let mut qa = vec![0.0; n];
    let mut scratch = PairScratch::default();
    for (l, step) in plan.steps.iter().enumerate() {
        qa.iter_mut().for_each(|v| *v = pre[l]);
        pointwise(plan, step, &mut q, &mut t, &qa, &qa, &mut scratch)?;
    }
    Ok(match kernel {
        KernelKind::Nngp => q,
        KernelKind::Ntk => t,
    })
}

/// The Hermite degree for a tolerance: the largest, over norms ½, 1 and 2,
/// of the smallest degree whose relative tails of σ and σ' are below it.
fn auto_degree(
    dual: &dual_activations::DualActivation,
    config: &FeatureConfig,
    layer: usize,
) -> Result<usize> {
    let mut q = 1;
    for r in [0.5, 1.0, 2.0] {
        let d = HermiteCoeffs::degree_for(dual, r, config.tolerance, config.max_degree)
            .map_err(|source| FeatureError::Activation { layer, source })?;
        q = q.max(d);
    }
    Ok(q)
}

/// `‖Z Zᵀ − K‖_F / ‖K‖_F` for features `z: (D, n)` against a kernel `n × n`.
///
/// # Errors
/// [`FeatureError::DimMismatch`] when the sizes disagree;
/// [`FeatureError::Empty`] for a zero kernel.
pub fn gram_error<T: Real>(z: MatRef<'_, T>, k: MatRef<'_, f64>) -> Result<f64> {
    let n = z.ncols();
    if k.nrows() != n || k.ncols() != n {
        return Err(FeatureError::DimMismatch {
            what: "kernel size (samples of the features)",
            expected: n,
            got: k.nrows(),
        });
    }
    let z64 = Mat::<f64>::from_fn(z.nrows(), n, |i, j| z[(i, j)].as_f64());
    let mut g = Mat::<f64>::zeros(n, n);
    matmul(
        g.as_mut(),
        Accum::Replace,
        z64.transpose(),
        z64.as_ref(),
        1.0,
        Par::Seq,
    );
    let (mut num, mut den) = (0.0, 0.0);
    for j in 0..n {
        for i in 0..n {
            num += (g[(i, j)] - k[(i, j)]).powi(2);
            den += k[(i, j)].powi(2);
        }
    }
    if den == 0.0 {
        return Err(FeatureError::Empty {
            what: "kernel (all zeros)",
        });
    }
    Ok((num / den).sqrt())
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
            assert!(
                (e2 - 1.0 / d as f64).abs() <= 5.0 / (m as f64).sqrt(),
                "d={d}: E u₁² = {e2}"
            );
        }
    }
}
