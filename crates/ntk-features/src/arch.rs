//! One description of a network, shared by every backend: a serial list of
//! stax layers under the `'ntk'` parameterization.

use crate::error::{FeatureError, Result};
use dual_activations::{Activation, DualActivation};

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
        }
    }
}

/// The shape of one sample flowing through the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A vector of `dim` features (or, after Flatten/GAP, the kernel's scalar state).
    Vector {
        /// Feature dimension.
        dim: usize,
    },
    /// An `h × w` image with `c` channels (NHWC).
    Image {
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Channels.
        c: usize,
    },
}

impl core::fmt::Display for Shape {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Vector { dim } => write!(f, "({dim},)"),
            Self::Image { h, w, c } => write!(f, "({h}, {w}, {c})"),
        }
    }
}

/// A validated network: parameters checked and activations compiled.
#[derive(Debug, Clone)]
pub struct Architecture {
    layers: Vec<Layer>,
    duals: Vec<Option<DualActivation>>,
}

fn bad(layer: usize, name: &'static str, reason: &'static str) -> FeatureError {
    FeatureError::InvalidArchitecture {
        layer,
        name,
        reason,
    }
}

impl Architecture {
    /// Validates a serial network: finite parameters, `W_std ≥ 0`,
    /// `b_std ≥ 0`, filter/window/stride sizes `≥ 1`, every activation valid
    /// and fed by a Gaussian layer (a Dense or Conv, possibly followed by
    /// pooling or Flatten, which keep it Gaussian), as stax requires.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArchitecture`] naming the layer;
    /// [`FeatureError::Activation`] for invalid activation parameters.
    pub fn new(layers: Vec<Layer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(FeatureError::Empty {
                what: "architecture",
            });
        }
        let mut gaussian = false;
        let mut duals = Vec::with_capacity(layers.len());
        for (i, l) in layers.iter().enumerate() {
            let name = l.stax_name();
            let check_std = |w: f64, b: Option<f64>| -> Result<()> {
                // Kernels use the squares: a finite std whose square
                // overflows (1e200) would turn a zero input into inf·0 = NaN.
                if !(w.is_finite() && w >= 0.0 && (w * w).is_finite()) {
                    return Err(bad(i, name, "W_std must be >= 0 with a finite square"));
                }
                if let Some(b) = b
                    && !(b.is_finite() && b >= 0.0 && (b * b).is_finite())
                {
                    return Err(bad(i, name, "b_std must be >= 0 with a finite square"));
                }
                Ok(())
            };
            let mut dual = None;
            match l {
                Layer::Dense { w_std, b_std } => {
                    check_std(*w_std, *b_std)?;
                    gaussian = true;
                }
                Layer::Conv {
                    filter,
                    strides,
                    w_std,
                    b_std,
                    ..
                } => {
                    check_std(*w_std, *b_std)?;
                    if filter.0 == 0 || filter.1 == 0 || strides.0 == 0 || strides.1 == 0 {
                        return Err(bad(i, name, "filter and strides must be at least 1"));
                    }
                    gaussian = true;
                }
                Layer::AvgPool {
                    window, strides, ..
                } => {
                    if window.0 == 0 || window.1 == 0 || strides.0 == 0 || strides.1 == 0 {
                        return Err(bad(i, name, "window and strides must be at least 1"));
                    }
                }
                Layer::GlobalAvgPool | Layer::Flatten => {}
                Layer::LayerNorm => gaussian = false,
                Layer::Activation(a) => {
                    if !gaussian {
                        return Err(bad(
                            i,
                            name,
                            "an activation needs a Gaussian input: put a Dense or Conv before it",
                        ));
                    }
                    dual = Some(
                        DualActivation::new(a.clone())
                            .map_err(|source| FeatureError::Activation { layer: i, source })?,
                    );
                    gaussian = false;
                }
            }
            duals.push(dual);
        }
        Ok(Self { layers, duals })
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub(crate) fn dual(&self, layer: usize) -> &DualActivation {
        self.duals[layer].as_ref().expect("an activation layer")
    }

    /// Myrtle-5, 7 or 10 (Shankar et al. 2020; the neural-tangents notebook):
    /// `[conv, σ]×n₁, pool, [conv, σ]×n₂, pool, [conv, σ]×n₃, pool × (log₂(size) − 2),
    /// Flatten, Dense`, with `n = (2,1,1)`, `(2,2,2)`, `(3,3,3)`, `Conv(3×3, SAME)`,
    /// `AvgPool(2×2, stride 2)`. The notebook uses `W_std = √2`, `b_std = 0`, ReLU.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArchitecture`] for a depth other than 5, 7, 10, or
    /// an image size that is not a power of two ≥ 8.
    pub fn myrtle(
        depth: usize,
        image_size: usize,
        w_std: f64,
        b_std: Option<f64>,
        activation: Activation,
    ) -> Result<Self> {
        let counts = match depth {
            5 => [2, 1, 1],
            7 => [2, 2, 2],
            10 => [3, 3, 3],
            _ => return Err(bad(0, "Myrtle", "depth must be 5, 7 or 10")),
        };
        if !image_size.is_power_of_two() || image_size < 8 {
            return Err(bad(
                0,
                "Myrtle",
                "the image size must be a power of two >= 8",
            ));
        }
        let conv = Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std,
            b_std,
        };
        let pool = Layer::AvgPool {
            window: (2, 2),
            strides: (2, 2),
            padding: Padding::Valid,
        };
        let mut layers = Vec::new();
        for (stage, &n) in counts.iter().enumerate() {
            for _ in 0..n {
                layers.push(conv.clone());
                layers.push(Layer::Activation(activation.clone()));
            }
            if stage < 2 {
                layers.push(pool.clone());
            }
        }
        for _ in 0..(image_size.trailing_zeros() as usize - 2) {
            layers.push(pool.clone());
        }
        layers.push(Layer::Flatten);
        layers.push(Layer::Dense { w_std, b_std });
        Self::new(layers)
    }

    /// The CNTK of the 2021 paper's code in stax terms (`paper1.md` §6a):
    /// `depth` × [Conv(f×f, stride 1, VALID, no bias) → ReLU], GlobalAvgPool,
    /// Dense. (The code's sketch omits the first-layer and head NTK terms and
    /// scales by `1/f²`; this is the full NTK of the same network.)
    ///
    /// # Errors
    /// As [`Architecture::new`].
    pub fn cntk_2021(depth: usize, filter: usize, w_std: f64) -> Result<Self> {
        let mut layers = Vec::new();
        for _ in 0..depth {
            layers.push(Layer::Conv {
                filter: (filter, filter),
                strides: (1, 1),
                padding: Padding::Valid,
                w_std,
                b_std: None,
            });
            layers.push(Layer::Activation(Activation::Relu));
        }
        layers.push(Layer::GlobalAvgPool);
        layers.push(Layer::Dense { w_std, b_std: None });
        Self::new(layers)
    }
}
