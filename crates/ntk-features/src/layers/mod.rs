//! The layers of a network, one file per kind: each holds its stax syntax
//! (parameter names, defaults, the string `Display` writes back), its
//! validation, its resolution for an input shape (the [`Op`] and the output
//! shape), its exact kernel update where it is pointwise, and its update of
//! per-sample features and of their dimensions. The dispatchers that walk a
//! network (`parse`, `arch`, `plan`, `features::linear`, `features::build`)
//! call into these files; the image path's window sums, shared by Conv and
//! the pools, stay in `exact::images`, and what a feature method does with
//! a layer stays with the method.
//!
//! Adding a layer kind: its variant of [`Layer`] (here, with its
//! `stax_name`), its file here, its [`Op`] variant (`plan/op.rs`), and one
//! arm in each dispatcher: `parse/mod.rs` (the name, and `Display`),
//! `arch.rs` (validation), `plan/mod.rs` (resolution and, if pointwise, the
//! kernel update), `exact/images.rs` (the pair state of spatial layers),
//! `features/linear.rs` and `features/build.rs` (features and their
//! dimensions), and the methods that treat layers specially
//! (`features/methods/homogeneous.rs`, `subspace.rs`). The compiler's
//! exhaustiveness checks find every one of them.
//!
//! [`Op`]: crate::plan::Op

pub(crate) mod activation;
pub(crate) mod branch;
pub(crate) mod conv;
pub(crate) mod dense;
pub(crate) mod flatten;
pub(crate) mod layer_norm;
pub(crate) mod pool;

use crate::error::{FeatureError, Result};
use dual_activations::Activation;

/// Padding of a convolution or pooling window (stax / `lax` semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Zero padding to `ceil(H/s)` outputs, `total = max((out−1)s + k − H, 0)`,
    /// `lo = total/2`; sums still divided by the full window.
    Same,
    /// No padding: `floor((H − k)/s) + 1` outputs.
    Valid,
    /// Periodic padding with `Same`'s sizes.
    Circular,
}

/// A layer of a serial stax network.
///
/// | variant | stax | kernel update |
/// |---|---|---|
/// | `Dense { w_std, b_std }` | `Dense(out, W_std, b_std)` | `q' = W²q + b²`, `Θ' = q' + W²Θ` |
/// | `Conv { .. }` | `Conv(out, filter_shape, strides, padding, W_std, b_std)` | shared-offset sums `/ (kh·kw)` |
/// | `AvgPool { .. }` | `AvgPool(window_shape, strides, padding)` | mean over window pairs |
/// | `GlobalAvgPool` | `GlobalAvgPool()` | mean over all position pairs |
/// | `Flatten` | `Flatten()` | mean over the diagonal positions |
/// | `LayerNorm` | `LayerNorm(axis=-1, eps=1e-12)` | `q/sqrt((q_x + ε)(q_y + ε))` |
/// | `Activation(σ)` | any activation | `q' = K`, `Θ' = Θ·K̇` |
/// | `SumPool { .. }` | `SumPool(window_shape, strides, padding)` | sum over window pairs |
/// | `GlobalSumPool` | `GlobalSumPool()` | sum over all position pairs |
/// | `Identity` | `Identity()` | none |
/// | `FanOut(n)` | `FanOut(n)` | `n` copies of the state |
/// | `Parallel(branches)` | `parallel(b₁, …, bₙ)` | branch `i` on copy `i` |
/// | `FanInSum` | `FanInSum()` | `Σᵢ qᵢ`, `Σᵢ Θᵢ` |
/// | `FanInConcat` | `FanInConcat(axis=-1)` | `(Σᵢ qᵢ)/n`, `(Σᵢ Θᵢ)/n` |
///
/// `b_std = None` means no bias (numerically `0`). Widths are irrelevant to
/// the kernels and are not represented.
#[derive(Debug, Clone)]
pub enum Layer {
    /// Fully connected (acts on the channel axis of images).
    Dense {
        /// Weight standard deviation `W_std ≥ 0`.
        w_std: f64,
        /// Bias standard deviation, `None` for no bias.
        b_std: Option<f64>,
    },
    /// 2-D convolution, NHWC.
    Conv {
        /// `(height, width)` of the filter.
        filter: (usize, usize),
        /// `(height, width)` strides.
        strides: (usize, usize),
        /// Padding.
        padding: Padding,
        /// Weight standard deviation.
        w_std: f64,
        /// Bias standard deviation.
        b_std: Option<f64>,
    },
    /// Average pooling (`normalize_edges = False`).
    AvgPool {
        /// `(height, width)` of the window.
        window: (usize, usize),
        /// `(height, width)` strides.
        strides: (usize, usize),
        /// Padding.
        padding: Padding,
    },
    /// Mean over all positions ("CNTK-GAP").
    GlobalAvgPool,
    /// Flatten ("CNN-Vec": the mean over diagonal positions).
    Flatten,
    /// Layer normalisation over the channel axis, `eps = 1e-12`.
    LayerNorm,
    /// An elementwise activation.
    Activation(Activation),
    /// Sum pooling: [`Layer::AvgPool`] without the division by the window.
    SumPool {
        /// `(height, width)` of the window.
        window: (usize, usize),
        /// `(height, width)` strides.
        strides: (usize, usize),
        /// Padding.
        padding: Padding,
    },
    /// The sum over all positions.
    GlobalSumPool,
    /// The identity (a residual shortcut).
    Identity,
    /// `n ≥ 1` copies of its input, for the branches of a [`Layer::Parallel`].
    FanOut(usize),
    /// Branch `i` (a serial list, empty for the identity) acts on the
    /// `i`-th of as many inputs (a [`Layer::FanOut`] before it).
    Parallel(Vec<Vec<Layer>>),
    /// The sum of its inputs; they must be mean-zero Gaussian (each
    /// branch ends in a Dense or Conv, possibly pooled), as stax requires.
    FanInSum,
    /// Concatenation along the channel axis: the mean of the inputs'
    /// kernels, as stax computes it for branches of equal widths (widths
    /// are infinite here). The result is not Gaussian: an activation after
    /// it needs a Dense or Conv first, as in stax.
    FanInConcat,
}

impl Layer {
    /// neural-tangents' stax name.
    pub fn stax_name(&self) -> &'static str {
        match self {
            Self::Dense { .. } => "Dense",
            Self::Conv { .. } => "Conv",
            Self::AvgPool { .. } => "AvgPool",
            Self::GlobalAvgPool => "GlobalAvgPool",
            Self::Flatten => "Flatten",
            Self::LayerNorm => "LayerNorm",
            Self::Activation(a) => a.stax_name(),
            Self::SumPool { .. } => "SumPool",
            Self::GlobalSumPool => "GlobalSumPool",
            Self::Identity => "Identity",
            Self::FanOut(_) => "FanOut",
            Self::Parallel(_) => "parallel",
            Self::FanInSum => "FanInSum",
            Self::FanInConcat => "FanInConcat",
        }
    }
}

/// The error for a layer whose parameters are invalid.
pub(crate) fn invalid(layer: usize, name: &'static str, reason: &'static str) -> FeatureError {
    FeatureError::InvalidArchitecture {
        layer,
        name,
        reason,
    }
}

/// Weight and bias standard deviations of a Dense or Conv layer: finite and
/// non-negative, with finite squares (kernels use the squares: a finite std
/// whose square overflows, 1e200, would turn a zero input into inf·0 = NaN).
pub(crate) fn check_std(layer: usize, name: &'static str, w: f64, b: Option<f64>) -> Result<()> {
    if !(w.is_finite() && w >= 0.0 && (w * w).is_finite()) {
        return Err(invalid(
            layer,
            name,
            "W_std must be >= 0 with a finite square",
        ));
    }
    if let Some(b) = b
        && !(b.is_finite() && b >= 0.0 && (b * b).is_finite())
    {
        return Err(invalid(
            layer,
            name,
            "b_std must be >= 0 with a finite square",
        ));
    }
    Ok(())
}
