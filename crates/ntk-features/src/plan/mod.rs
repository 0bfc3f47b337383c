//! An architecture compiled against an input shape: the one place where a
//! layer's meaning is resolved into concrete operations, shared by the exact
//! backend ([`crate::kernels`]) and the feature backend ([`crate::FeatureMap`]).
//!
//! Every backend walks the same [`Step`]s; each step knows its input and
//! output shapes, the window geometry of convolutions and pools, and the
//! constants the kernel update needs (`W_std²/(kh·kw)`, `b_std²`, `1/|w|`).

mod op;

pub(crate) use op::{Op, PairScratch, Step, Window, pool_positions};

use crate::layers::{activation, conv, dense, flatten, layer_norm, pool};

use crate::arch::Architecture;
use crate::error::{FeatureError, Result};
use crate::layers::{Layer, Padding};
use crate::shape::Shape;
use dual_activations::DualActivation;

/// Largest number of values one sample may hold at any layer of a plan
/// (`h·w·c` of the input, or window positions `kh·kw` of a filter): 2³²,
/// far beyond any image a kernel method is used on, and small enough that
/// products of a few such numbers cannot overflow `usize`.
pub const MAX_SAMPLE_SIZE: usize = 1 << 32;

/// An [`Architecture`] compiled for one input shape.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'a> {
    pub(crate) arch: &'a Architecture,
    pub(crate) steps: Vec<Step>,
}

impl Architecture {
    /// The output shape of every layer for a given input shape.
    ///
    /// # Errors
    /// [`FeatureError::ShapeMismatch`]: image layers on vectors, windows
    /// larger than the input, or a network whose output keeps spatial
    /// dimensions (its kernel is not an `n1 × n2` matrix: end with Flatten
    /// or GlobalAvgPool).
    pub fn shapes(&self, input: Shape) -> Result<Vec<Shape>> {
        Ok(Plan::new(self, input)?
            .steps
            .iter()
            .map(|s| s.output)
            .collect())
    }
}

/// Number of values of one sample of this shape (checked).
pub(crate) fn shape_size(s: Shape) -> Option<usize> {
    match s {
        Shape::Vector { dim } => Some(dim),
        Shape::Image { h, w, c } => h.checked_mul(w)?.checked_mul(c),
    }
}

impl<'a> Plan<'a> {
    /// Whether every activation's dual is symmetric under exchange of the
    /// two samples ([`Activation::exchange_symmetric`]), so that `K(X, X)`
    /// may be computed on one triangle and mirrored.
    ///
    /// [`Activation::exchange_symmetric`]: dual_activations::Activation::exchange_symmetric
    pub(crate) fn exchange_symmetric(&self) -> bool {
        self.arch.layers().iter().all(|l| match l {
            crate::Layer::Activation(a) => a.exchange_symmetric(),
            _ => true,
        })
    }

    /// Resolves every layer against `input`.
    ///
    /// # Errors
    /// [`FeatureError::ShapeMismatch`]: image layers on vectors, VALID
    /// windows larger than the input and SAME/CIRCULAR ones beyond `2n + 1`,
    /// an input of more than
    /// [`MAX_SAMPLE_SIZE`] values, or a network whose output keeps spatial
    /// dimensions (its kernel is not an `n1 × n2` matrix: end with Flatten
    /// or GlobalAvgPool).
    pub(crate) fn new(arch: &'a Architecture, input: Shape) -> Result<Self> {
        let too_big = |layer: usize, name: &'static str, s: Shape, reason: &'static str| {
            FeatureError::ShapeMismatch {
                layer,
                name,
                input: s.to_string(),
                reason,
            }
        };
        if shape_size(input).is_none_or(|n| n > MAX_SAMPLE_SIZE) {
            return Err(too_big(
                0,
                arch.layers()[0].stax_name(),
                input,
                "the input has more than 2^32 values per sample",
            ));
        }
        let mut cur = input;
        let mut steps = Vec::with_capacity(arch.layers().len());
        for (i, l) in arch.layers().iter().enumerate() {
            let name = l.stax_name();
            let mismatch = |reason: &'static str, s: Shape| too_big(i, name, s, reason);
            let window = |k: (usize, usize), s: (usize, usize), p: Padding, shape: Shape| {
                let Shape::Image { h, w, .. } = shape else {
                    return Err(mismatch(
                        "this layer needs image inputs (n, H, W, C)",
                        shape,
                    ));
                };
                // VALID windows must fit; SAME/CIRCULAR ones may exceed the
                // input (Myrtle's 3×3 filters on 2×2 maps) but not beyond
                // `2n + 1`, past which every tap of some window lies in the
                // padding: a bound on absurd sizes (a 10⁵ × 10⁵ filter).
                let limit = |n: usize| match p {
                    Padding::Valid => n,
                    Padding::Same | Padding::Circular => 2 * n + 1,
                };
                if k.0 > limit(h) || k.1 > limit(w) {
                    return Err(mismatch(
                        "the window is larger than the input allows (VALID: the input size; SAME/CIRCULAR: 2n + 1)",
                        shape,
                    ));
                }
                Window::new((h, w), k, s, p)
                    .ok_or_else(|| mismatch("the window does not fit the input", shape))
            };
            let (op, output) = match l {
                Layer::Dense { w_std, b_std } => (dense::op(*w_std, *b_std), cur),
                Layer::Conv {
                    filter,
                    strides,
                    padding,
                    w_std,
                    b_std,
                } => {
                    let w = window(*filter, *strides, *padding, cur)?;
                    (conv::op(w, *w_std, *b_std), conv::output(&w, cur))
                }
                Layer::AvgPool {
                    window: k,
                    strides,
                    padding,
                } => {
                    let w = window(*k, *strides, *padding, cur)?;
                    (pool::op_avg(w), pool::output_avg(&w, cur))
                }
                Layer::GlobalAvgPool => {
                    if !matches!(cur, Shape::Image { .. }) {
                        return Err(mismatch("this layer needs image inputs (n, H, W, C)", cur));
                    }
                    (Op::GlobalAvgPool, pool::output_global(cur))
                }
                Layer::Flatten => (Op::Flatten, flatten::output(cur)),
                Layer::LayerNorm => (Op::LayerNorm, cur),
                Layer::Activation(_) => (Op::Activation, cur),
            };
            steps.push(Step {
                layer: i,
                op,
                output,
            });
            cur = output;
        }
        if let Shape::Image { h, w, .. } = cur
            && h * w > 1
        {
            let last = arch.layers().len() - 1;
            return Err(too_big(
                last,
                arch.layers()[last].stax_name(),
                cur,
                "the network ends with spatial dimensions: add Flatten or GlobalAvgPool",
            ));
        }
        Ok(Self { arch, steps })
    }

    /// The dual activation of an activation step.
    pub(crate) fn dual(&self, step: &Step) -> &DualActivation {
        self.arch.dual(step.layer)
    }
}

/// The kernel update of a pointwise step (Dense, Activation, LayerNorm,
/// Flatten on vectors) on a batch of pair states `(q[i], t[i])` whose two
/// points have variances `qa[i]`, `qb[i]` entering the layer. The exact
/// backend's vector path (a column of pairs), its per-point recursions
/// (batches of one) and its image path (a row of position pairs) all call
/// this one function.
///
/// # Panics
/// For a spatial step (a precondition: callers handle those).
pub(crate) fn pointwise(
    plan: &Plan<'_>,
    step: &Step,
    q: &mut [f64],
    t: &mut [f64],
    qa: &[f64],
    qb: &[f64],
    scratch: &mut PairScratch,
) -> Result<()> {
    match step.op {
        Op::Dense { w_std, b_std } => dense::kernel(q, t, w_std, b_std),
        Op::Activation => activation::kernel(plan.dual(step), step.layer, q, t, qa, qb, scratch)?,
        Op::LayerNorm => layer_norm::kernel(q, t, qa, qb),
        // On vectors Flatten changes nothing.
        Op::Flatten => {}
        Op::Conv { .. } | Op::AvgPool { .. } | Op::GlobalAvgPool => {
            unreachable!("spatial steps are not pointwise")
        }
    }
    Ok(())
}
