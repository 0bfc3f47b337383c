//! The options of a feature map ([`FeatureConfig`]) and the choices they
//! hold: which kernel ([`KernelKind`]), which arc-cosine polynomials
//! ([`Polynomial`]), which method ([`Method`], declared from the registry,
//! `features/registry.rs`). Every choice that is stored or printed has a
//! `name()` and a `FromStr` that refuses unknown values.

use crate::error::{FeatureError, Result};

/// Declares [`Method`] from the registry's list.
macro_rules! method_enum {
    ($($(#[$doc:meta])* $variant:ident => $module:ident :: $ty:ident),+ $(,)?) => {
        /// How activation layers (or, for `onepass` and `subspace`, the
        /// whole network) are turned into features. One variant per file
        /// of `features/methods/`, listed in `features/registry.rs`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method {
            $($(#[$doc])* $variant,)+
        }

        impl Method {
            /// Every method, in the order the documentation lists them.
            pub const ALL: [Method; [$(Method::$variant),+].len()] = [$(Method::$variant),+];
        }
    };
}

feature_methods!(method_enum);

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// The NNGP kernel `Σ`.
    Nngp,
    /// The neural tangent kernel `Θ`.
    Ntk,
}

impl KernelKind {
    /// Both kernels, in the order the command line lists them.
    pub const ALL: [KernelKind; 2] = [KernelKind::Ntk, KernelKind::Nngp];

    /// The name used on the command line, in model files and in Python
    /// (`"ntk"`, `"nngp"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Nngp => "nngp",
            Self::Ntk => "ntk",
        }
    }
}

impl core::fmt::Display for KernelKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KernelKind {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| FeatureError::InvalidOption {
                what: "kernel",
                reason: format!("unknown kernel `{s}`; expected ntk or nngp"),
            })
    }
}

/// A switch whose default depends on the method or the input: `auto`
/// leaves the choice to the map, `on` and `off` force it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Toggle {
    /// The map's default for its method and input.
    #[default]
    Auto,
    /// Forced on.
    On,
    /// Forced off.
    Off,
}

impl Toggle {
    /// Every value, in the order the command line lists them.
    pub const ALL: [Toggle; 3] = [Toggle::Auto, Toggle::On, Toggle::Off];

    /// The name used on the command line (`"auto"`, `"on"`, `"off"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::On => "on",
            Self::Off => "off",
        }
    }

    /// The value in force: `default` unless forced.
    pub fn resolve(self, default: bool) -> bool {
        match self {
            Self::Auto => default,
            Self::On => true,
            Self::Off => false,
        }
    }

    /// `None` for `auto`, else the forced value (the form of JSON model
    /// files and of Python's optional booleans).
    pub fn forced(self) -> Option<bool> {
        match self {
            Self::Auto => None,
            Self::On => Some(true),
            Self::Off => Some(false),
        }
    }
}

impl From<Option<bool>> for Toggle {
    fn from(v: Option<bool>) -> Self {
        match v {
            None => Self::Auto,
            Some(true) => Self::On,
            Some(false) => Self::Off,
        }
    }
}

impl core::fmt::Display for Toggle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Toggle {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| FeatureError::InvalidOption {
                what: "switch",
                reason: format!("unknown value `{s}`; expected auto, on or off"),
            })
    }
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
    /// m₁`); `None`: the inner budget (`ntkrf`: [`ntkrf_width`](crate::ntkrf_width)).
    pub node_dim: Option<usize>,
    /// Make each truncated Hermite series exact at `ρ = ±1` for equal norms
    /// by adding the even and odd tails to the highest kept coefficient of
    /// each parity (`docs/NUMERICS.md`); [`Toggle::Off`]: plain truncation;
    /// [`Toggle::Auto`]: matched for vector inputs, whose kernels weigh the diagonal
    /// and highly correlated pairs, plain for images, whose pooled kernels
    /// average mostly position pairs with `|ρ| < 1`, where matching
    /// overestimates by up to `T·|ρ|^q`.
    pub match_tails: Toggle,
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
    /// (`docs/NUMERICS.md`). [`Toggle::Auto`]: on for `hermite`, `ntkrf` and
    /// `cntksketch`; off for `ntksketch` (its arc-cosine polynomials are not
    /// exact at `ρ = 1`, so the exact diagonal would rescale every entry by
    /// the fit's error there), `random` (the finite-width baseline), and
    /// `onepass` and `subspace` (each the sketch of one polynomial).
    pub calibrate: Toggle,
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

/// Largest accepted feature dimension (per position and in total): 2²⁸
/// values, 1 GiB of `f32` for one sample.
pub const MAX_FEATURE_DIM: usize = 1 << 28;
/// Largest Hermite degree a feature map accepts.
pub const MAX_FEATURE_DEGREE: usize = 64;

/// Default polynomial degree of `ntksketch`, `cntksketch` and `onepass`.
pub const DEFAULT_POLY_DEGREE: usize = 4;

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
            match_tails: Toggle::Auto,
            polynomial: Polynomial::Fit,
            data_polynomials: Vec::new(),
            calibrate: Toggle::Auto,
        }
    }

    /// Whether the map scales each sample to the exact diagonal
    /// ([`FeatureConfig::calibrate`], its default resolved).
    pub fn calibrates(&self) -> bool {
        self.calibrate.resolve(self.method.calibrates_by_default())
    }

    pub(crate) fn validate(&self) -> Result<()> {
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
