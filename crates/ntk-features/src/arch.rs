//! One description of a network, shared by every backend: a serial list of
//! stax layers under the `'ntk'` parameterization.

use crate::error::{FeatureError, Result};
use crate::layers::{Layer, Padding, activation, conv, dense, invalid, pool};
use dual_activations::{Activation, DualActivation};

/// A validated network: parameters checked and activations compiled.
#[derive(Debug, Clone)]
pub struct Architecture {
    layers: Vec<Layer>,
    duals: Vec<Option<DualActivation>>,
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
            let mut dual = None;
            match l {
                Layer::Dense { w_std, b_std } => {
                    dense::validate(i, *w_std, *b_std)?;
                    gaussian = true;
                }
                Layer::Conv {
                    filter,
                    strides,
                    w_std,
                    b_std,
                    ..
                } => {
                    conv::validate(i, *filter, *strides, *w_std, *b_std)?;
                    gaussian = true;
                }
                Layer::AvgPool {
                    window, strides, ..
                } => pool::validate_avg(i, *window, *strides)?,
                // Pooling and Flatten keep a Gaussian input Gaussian.
                Layer::GlobalAvgPool | Layer::Flatten => {}
                Layer::LayerNorm => gaussian = false,
                Layer::Activation(a) => {
                    dual = Some(activation::compile(i, l.stax_name(), a, gaussian)?);
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
            _ => return Err(invalid(0, "Myrtle", "depth must be 5, 7 or 10")),
        };
        if !image_size.is_power_of_two() || image_size < 8 {
            return Err(invalid(
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
