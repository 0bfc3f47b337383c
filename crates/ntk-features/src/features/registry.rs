//! The registry of feature methods: one line per method (with the
//! documentation of its [`Method`](super::Method) variant), naming the
//! variant and the unit type in `methods/<module>.rs` that implements it.
//!
//! Adding a method is a new file in `methods/` and one line here. The list is
//! read twice through [`feature_methods!`]: `config` declares the public
//! [`Method`](super::Method) enum from it, and `methods` declares the modules
//! and the dispatch. Help texts (the command line's, Python's) are
//! generated from [`Method::ALL`](super::Method::ALL) and
//! [`Method::summary`](super::Method::summary).

/// Calls `$callback!` with the list of methods, each
/// `/// docs… Variant => module::Type,`.
macro_rules! feature_methods {
    ($callback:ident) => {
        $callback! {
            /// Truncated Hermite expansion, per-sample coefficients, PolySketch
            /// (Han et al. 2022): any activation of `dual-activations`.
            Hermite => hermite::Hermite,
            /// Random features of the finite-width layer: `σ(Gφ)/√m` and, for the
            /// NTK, `σ'(Gφ)/√m` joined to `ψ` by a TensorSRHT. Needs a pointwise σ.
            Random => random::Random,
            /// NTKSketch (Zandieh et al. 2021, Algorithm 1), per layer: polynomial
            /// approximations of the arc-cosine kernels `κ₁`, `κ₀`
            /// ([`Polynomial`](crate::Polynomial)), PolySketch of the unit-normalised
            /// feature, the norm carried exactly. Relu layers of vector inputs.
            NtkSketch => ntksketch::NtkSketch,
            /// CNTKSketch (Zandieh et al. 2021, §6): the same per-layer arc-cosine
            /// polynomials at every position of an image, with the exact per-position
            /// normalisers, one set of random maps for all positions. Relu layers of
            /// image inputs.
            CntkSketch => cntksketch::CntkSketch,
            /// The 2021 code's one-polynomial shortcut: the whole network's kernel
            /// `‖x‖‖y‖/d · G(ρ)` of a homogeneous network (Dense without bias,
            /// degree-1 homogeneous activations) fitted by one nonnegative
            /// polynomial in the input cosine, one PolySketch of `x/‖x‖`.
            OnePass => onepass::OnePass,
            /// NTKRF (Zandieh et al. 2021, §5): arc-cosine random features with
            /// leverage-score sampling for the NNGP, step features for the
            /// derivative, TensorSRHT for the NTK recursion. Degree-1 homogeneous
            /// activations (Relu, LeakyRelu, ABRelu, Abs).
            NtkRf => ntkrf::NtkRf,
            /// The subspace embedding of a homogeneous network (Han et al. 2022,
            /// §4.5; the networks of `onepass`): the exact Taylor series of the
            /// whole network's `G(ρ)` truncated by its tail, degrees 0 and 1 exact,
            /// one PolySketch per higher degree with a dimension proportional to
            /// its coefficient, no compression across degrees.
            Subspace => subspace::Subspace,
        }
    };
}
