//! One description of a network, shared by every backend: stax layers
//! under the `'ntk'` parameterization, serial at the top and branching
//! through `FanOut`, `parallel` and the fan-ins.

use crate::error::{FeatureError, Result};
use crate::layers::{Layer, Padding, activation, branch, conv, dense, invalid, pool};
use dual_activations::{Activation, DualActivation};

/// A validated network: parameters checked, branches matched, activations
/// compiled.
///
/// Every layer has an index, its position in a depth-first walk of the
/// network (a `parallel` before the layers of its branches, the branches
/// in order): errors, [`Architecture::shapes`] and [`Architecture::walk`]
/// use it. For a serial network it is the position in the list.
#[derive(Debug, Clone)]
pub struct Architecture {
    layers: Vec<Layer>,
    /// By layer index.
    duals: Vec<Option<DualActivation>>,
    /// The column of every layer in the string it was parsed from (empty
    /// for networks built in code).
    columns: Vec<usize>,
}

/// What flows between layers while validating: one input, or the inputs
/// of a fan-out's branches, each with whether it is a mean-zero Gaussian
/// (stax's `is_gaussian`: true after a Dense or Conv, kept by pooling,
/// Flatten and sums of Gaussians).
#[derive(Debug, Clone)]
enum Flow {
    One(bool),
    Many(Vec<bool>),
}

/// The depth-first validation walk.
struct Validate<'c> {
    duals: Vec<Option<DualActivation>>,
    columns: &'c [usize],
}

impl Validate<'_> {
    fn serial(&mut self, layers: &[Layer], mut flow: Flow) -> Result<Flow> {
        for l in layers {
            flow = self.node(l, flow)?;
        }
        Ok(flow)
    }

    fn node(&mut self, l: &Layer, flow: Flow) -> Result<Flow> {
        let i = self.duals.len();
        self.duals.push(None);
        let col = self.columns.get(i).copied();
        let gaussian = match (l, flow) {
            (Layer::Identity, flow) => return Ok(flow),
            (Layer::Parallel(branches), Flow::Many(inputs)) => {
                branch::check_parallel(i, col, branches.len(), inputs.len())?;
                let mut out = Vec::with_capacity(inputs.len());
                for (b, g) in branches.iter().zip(inputs) {
                    match self.serial(b, Flow::One(g))? {
                        Flow::One(g) => out.push(g),
                        Flow::Many(_) => return Err(branch::unjoined(i, col, "parallel")),
                    }
                }
                return Ok(Flow::Many(out));
            }
            (Layer::FanInSum, Flow::Many(inputs)) => {
                branch::check_sum(i, col, &inputs)?;
                inputs.iter().all(|&g| g)
            }
            (Layer::FanInConcat, Flow::Many(_)) => false,
            (Layer::Parallel(_) | Layer::FanInSum | Layer::FanInConcat, Flow::One(_)) => {
                return Err(branch::needs_fan_out(i, col, l.stax_name()));
            }
            (_, Flow::Many(inputs)) => {
                return Err(branch::unjoined_at(i, col, l.stax_name(), inputs.len()));
            }
            (Layer::FanOut(n), Flow::One(g)) => {
                branch::check_fan_out(i, col, *n)?;
                return Ok(Flow::Many(vec![g; *n]));
            }
            (Layer::Dense { w_std, b_std }, Flow::One(_)) => {
                dense::validate(i, *w_std, *b_std)?;
                true
            }
            (
                Layer::Conv {
                    filter,
                    strides,
                    w_std,
                    b_std,
                    ..
                },
                Flow::One(_),
            ) => {
                conv::validate(i, *filter, *strides, *w_std, *b_std)?;
                true
            }
            (
                Layer::AvgPool {
                    window, strides, ..
                }
                | Layer::SumPool {
                    window, strides, ..
                },
                Flow::One(g),
            ) => {
                pool::validate(i, l.stax_name(), *window, *strides)?;
                g
            }
            // Pooling and Flatten keep a Gaussian input Gaussian.
            (Layer::GlobalAvgPool | Layer::GlobalSumPool | Layer::Flatten, Flow::One(g)) => g,
            (Layer::LayerNorm, Flow::One(_)) => false,
            (Layer::Activation(a), Flow::One(g)) => {
                self.duals[i] = Some(activation::compile(i, l.stax_name(), a, g)?);
                false
            }
        };
        Ok(Flow::One(gaussian))
    }
}

/// Number of layers in `l` counting itself (a `parallel` and its branches).
fn subtree_len(l: &Layer) -> usize {
    match l {
        Layer::Parallel(branches) => 1 + branches.iter().flatten().map(subtree_len).sum::<usize>(),
        _ => 1,
    }
}

impl Architecture {
    /// Validates a network: finite parameters, `W_std ≥ 0`, `b_std ≥ 0`,
    /// filter/window/stride sizes `≥ 1`, every activation valid and fed by
    /// a Gaussian layer (a Dense or Conv, possibly followed by pooling or
    /// Flatten, which keep it Gaussian), as stax requires; and for
    /// branching networks, as many `parallel` branches as `FanOut` copies,
    /// every fan-out joined by a `FanInSum` or `FanInConcat` (within its
    /// branch, for a fan-out inside a branch), and Gaussian inputs to every
    /// `FanInSum` of more than one input.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArchitecture`] naming the layer;
    /// [`FeatureError::Branching`] for branches that do not fit together;
    /// [`FeatureError::Activation`] for invalid activation parameters.
    pub fn new(layers: Vec<Layer>) -> Result<Self> {
        Self::with_columns(layers, Vec::new())
    }

    /// [`Architecture::new`] for a parsed network: `columns[i]` is where
    /// layer `i` starts in the string, so that structural errors name it.
    pub(crate) fn with_columns(layers: Vec<Layer>, columns: Vec<usize>) -> Result<Self> {
        if layers.is_empty() {
            return Err(FeatureError::Empty {
                what: "architecture",
            });
        }
        let mut v = Validate {
            duals: Vec::new(),
            columns: &columns,
        };
        if let Flow::Many(open) = v.serial(&layers, Flow::One(false))? {
            // Name the last top-level FanOut: the one never joined.
            let (mut id, mut fan_out) = (0, 0);
            for l in &layers {
                if matches!(l, Layer::FanOut(_)) {
                    fan_out = id;
                }
                id += subtree_len(l);
            }
            return Err(branch::unjoined_end(
                fan_out,
                columns.get(fan_out).copied(),
                open.len(),
            ));
        }
        let duals = v.duals;
        Ok(Self {
            layers,
            duals,
            columns,
        })
    }

    /// The layers at the top level (a `parallel` holds its branches).
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Every layer in index order (depth-first, a `parallel` before its
    /// branches' layers), with its nesting depth (0 at the top level).
    pub fn walk(&self) -> Vec<(usize, &Layer)> {
        fn go<'a>(layers: &'a [Layer], depth: usize, out: &mut Vec<(usize, &'a Layer)>) {
            for l in layers {
                out.push((depth, l));
                if let Layer::Parallel(branches) = l {
                    for b in branches {
                        go(b, depth + 1, out);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(self.duals.len());
        go(&self.layers, 0, &mut out);
        out
    }

    /// Whether the network branches (any `FanOut`, `parallel` or fan-in).
    pub fn is_branching(&self) -> bool {
        self.walk().iter().any(|(_, l)| {
            matches!(
                l,
                Layer::FanOut(_) | Layer::Parallel(_) | Layer::FanInSum | Layer::FanInConcat
            )
        })
    }

    /// The stax name of layer `i` (its index in [`Architecture::walk`]).
    pub(crate) fn name(&self, i: usize) -> &'static str {
        self.walk()[i].1.stax_name()
    }

    /// The column where layer `i` starts in the parsed string.
    pub(crate) fn column(&self, i: usize) -> Option<usize> {
        self.columns.get(i).copied()
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

    /// `WideResnet(block_size, k, num_classes)` of neural-tangents' README
    /// on `size × size` images: `Conv(3×3, SAME)`, three groups of
    /// `block_size` blocks (strides 1, 2, 2; each group's first block has a
    /// strided `Conv(3×3, SAME)` shortcut, the others an `Identity`; a
    /// block is `FanOut(2), parallel(serial(Relu, Conv, Relu, Conv),
    /// shortcut), FanInSum`), `AvgPool` over the final `size/4 × size/4`
    /// map (the README's `AvgPool((8, 8))` at 32 × 32), `Flatten`,
    /// `Dense(W_std=1, b_std=0)`. Every Conv has `w_std`, `b_std` (stax's
    /// defaults: 1 and no bias). Widths (`k`, `num_classes`) do not change
    /// the kernels.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArchitecture`] for `block_size = 0` or an
    /// image size that is not a multiple of 4.
    pub fn wide_resnet(
        block_size: usize,
        size: usize,
        w_std: f64,
        b_std: Option<f64>,
    ) -> Result<Self> {
        if block_size == 0 {
            return Err(invalid(0, "WideResnet", "block_size must be at least 1"));
        }
        if size == 0 || !size.is_multiple_of(4) {
            return Err(invalid(
                0,
                "WideResnet",
                "the image size must be a positive multiple of 4",
            ));
        }
        let conv = |s: usize| Layer::Conv {
            filter: (3, 3),
            strides: (s, s),
            padding: Padding::Same,
            w_std,
            b_std,
        };
        let block = |s: usize, shortcut: bool| -> [Layer; 3] {
            let main = vec![
                Layer::Activation(Activation::Relu),
                conv(s),
                Layer::Activation(Activation::Relu),
                conv(1),
            ];
            let short = if shortcut {
                vec![conv(s)]
            } else {
                vec![Layer::Identity]
            };
            [
                Layer::FanOut(2),
                Layer::Parallel(vec![main, short]),
                Layer::FanInSum,
            ]
        };
        let mut layers = vec![conv(1)];
        for s in [1, 2, 2] {
            layers.extend(block(s, true));
            for _ in 1..block_size {
                layers.extend(block(1, false));
            }
        }
        let last = size / 4;
        layers.push(Layer::AvgPool {
            window: (last, last),
            strides: (last, last),
            padding: Padding::Valid,
        });
        layers.push(Layer::Flatten);
        layers.push(Layer::Dense {
            w_std: 1.0,
            b_std: Some(0.0),
        });
        Self::new(layers)
    }

    /// The CNTK of the 2021 paper's code in stax terms (docs/SOURCES.md §P1.3):
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
