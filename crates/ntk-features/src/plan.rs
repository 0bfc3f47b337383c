//! An architecture compiled against an input shape: the one place where a
//! layer's meaning is resolved into concrete operations, shared by the exact
//! backend ([`crate::kernels`]) and the feature backend ([`crate::FeatureMap`]).
//!
//! Every backend walks the same [`Step`]s; each step knows its input and
//! output shapes, the window geometry of convolutions and pools, and the
//! constants the kernel update needs (`W_std²/(kh·kw)`, `b_std²`, `1/|w|`).

use crate::arch::{Architecture, Layer, Padding, Shape};
use crate::error::{FeatureError, Result};
use dual_activations::DualActivation;

/// `ε` of stax's `LayerNorm`.
pub(crate) const LAYER_NORM_EPS: f64 = 1e-12;

/// Largest number of values one sample may hold at any layer of a plan
/// (`h·w·c` of the input, or window positions `kh·kw` of a filter): 2³²,
/// far beyond any image a kernel method is used on, and small enough that
/// products of a few such numbers cannot overflow `usize`.
pub const MAX_SAMPLE_SIZE: usize = 1 << 32;

/// The geometry of a window (convolution filter or pooling window) along
/// both spatial axes, resolved for one input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// `(kh, kw)`.
    pub(crate) k: (usize, usize),
    /// `(sh, sw)`.
    pub(crate) s: (usize, usize),
    /// Input `(h, w)`.
    pub(crate) input: (usize, usize),
    /// Output `(oh, ow)`.
    pub(crate) output: (usize, usize),
    /// Low padding `(ph, pw)`.
    pub(crate) lo: (usize, usize),
    /// Periodic padding.
    pub(crate) circular: bool,
}

impl Window {
    pub(crate) fn new(
        input: (usize, usize),
        k: (usize, usize),
        s: (usize, usize),
        padding: Padding,
    ) -> Option<Self> {
        let (oh, loh) = window_geometry(input.0, k.0, s.0, padding)?;
        let (ow, low) = window_geometry(input.1, k.1, s.1, padding)?;
        Some(Self {
            k,
            s,
            input,
            output: (oh, ow),
            lo: (loh, low),
            circular: padding == Padding::Circular,
        })
    }

    /// Number of offsets `kh·kw`.
    pub(crate) fn taps(&self) -> usize {
        self.k.0 * self.k.1
    }

    /// Input row read by output row `o` at offset `a` (`None` in the zero padding).
    pub(crate) fn row(&self, o: usize, a: usize) -> Option<usize> {
        source(o, a, self.s.0, self.lo.0, self.input.0, self.circular)
    }

    /// Input column read by output column `o` at offset `a`.
    pub(crate) fn col(&self, o: usize, a: usize) -> Option<usize> {
        source(o, a, self.s.1, self.lo.1, self.input.1, self.circular)
    }

    /// Input position (row-major index) read by output position `(i, j)` at
    /// offset `(ah, aw)`, or `None` in the zero padding.
    pub(crate) fn source(&self, (i, j): (usize, usize), (ah, aw): (usize, usize)) -> Option<usize> {
        Some(self.row(i, ah)? * self.input.1 + self.col(j, aw)?)
    }
}

/// Average pooling of per-position vectors (`x`: positions of the window's
/// input grid, `d` values each, row-major) over `win`, zero padding counted
/// in the average (stax's `count_include_pad`): the one implementation of
/// AvgPool on features, used by the feature maps and by the exact image
/// path for pools that act on the images themselves.
pub(crate) fn pool_positions<T: sketch_core::Real>(x: &[T], d: usize, win: &Window) -> Vec<T> {
    let (oh, ow) = win.output;
    let inv = T::cast(1.0 / win.taps() as f64);
    let mut out = vec![T::zero(); oh * ow * d];
    for i in 0..oh {
        for j in 0..ow {
            let dst = &mut out[(i * ow + j) * d..(i * ow + j + 1) * d];
            for ah in 0..win.k.0 {
                for aw in 0..win.k.1 {
                    if let Some(s) = win.source((i, j), (ah, aw)) {
                        for (o, v) in dst.iter_mut().zip(&x[s * d..(s + 1) * d]) {
                            *o += *v;
                        }
                    }
                }
            }
            dst.iter_mut().for_each(|v| *v *= inv);
        }
    }
    out
}

/// The input coordinate read by output coordinate `o` at window offset `a`.
fn source(o: usize, a: usize, stride: usize, lo: usize, n: usize, circular: bool) -> Option<usize> {
    let r = (o * stride + a) as isize - lo as isize;
    if circular {
        Some(r.rem_euclid(n as isize) as usize)
    } else {
        usize::try_from(r).ok().filter(|&r| r < n)
    }
}

/// Output size and low padding of a window along one axis.
pub(crate) fn window_geometry(
    n: usize,
    k: usize,
    s: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    match padding {
        Padding::Valid => (k <= n).then(|| ((n - k) / s + 1, 0)),
        Padding::Same | Padding::Circular => {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(n);
            Some((out, total / 2))
        }
    }
}

/// One resolved layer.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `q' = w²q + b²`, `Θ' = q' + w²Θ`; on images, per position.
    Dense { w_std: f64, b_std: f64 },
    /// Shared-offset window sums scaled by `w²/(kh·kw)`, plus `b²`.
    Conv {
        window: Window,
        w_std: f64,
        b_std: f64,
    },
    /// Mean over window pairs (features: mean over the window).
    AvgPool { window: Window },
    /// Mean over all position pairs.
    GlobalAvgPool,
    /// Images: mean over the diagonal positions; vectors: nothing.
    Flatten,
    /// Division by `sqrt((q_x + ε)(q_y + ε))`.
    LayerNorm,
    /// `q' = K(q_x, q_y, c)`, `Θ' = Θ·K̇`.
    Activation,
}

/// A layer of the plan with its shapes.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Index of the layer in the architecture.
    pub(crate) layer: usize,
    pub(crate) op: Op,
    pub(crate) output: Shape,
}

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
            let op = match l {
                Layer::Dense { w_std, b_std } => Op::Dense {
                    w_std: *w_std,
                    b_std: b_std.unwrap_or(0.0),
                },
                Layer::Conv {
                    filter,
                    strides,
                    padding,
                    w_std,
                    b_std,
                } => Op::Conv {
                    window: window(*filter, *strides, *padding, cur)?,
                    w_std: *w_std,
                    b_std: b_std.unwrap_or(0.0),
                },
                Layer::AvgPool {
                    window: k,
                    strides,
                    padding,
                } => Op::AvgPool {
                    window: window(*k, *strides, *padding, cur)?,
                },
                Layer::GlobalAvgPool => {
                    if !matches!(cur, Shape::Image { .. }) {
                        return Err(mismatch("this layer needs image inputs (n, H, W, C)", cur));
                    }
                    Op::GlobalAvgPool
                }
                Layer::Flatten => Op::Flatten,
                Layer::LayerNorm => Op::LayerNorm,
                Layer::Activation(_) => Op::Activation,
            };
            let output = match (&op, cur) {
                (Op::Conv { window, .. } | Op::AvgPool { window }, Shape::Image { c, .. }) => {
                    Shape::Image {
                        h: window.output.0,
                        w: window.output.1,
                        c,
                    }
                }
                (Op::GlobalAvgPool | Op::Flatten, Shape::Image { .. }) => Shape::Vector { dim: 1 },
                (_, s) => s,
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

/// Scratch of [`pointwise`]: three buffers of the batch length.
#[derive(Debug, Default)]
pub(crate) struct PairScratch {
    k: Vec<f64>,
    kd: Vec<f64>,
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
        Op::Dense { w_std, b_std } => {
            let (w2, b2) = (w_std * w_std, b_std * b_std);
            for (qi, ti) in q.iter_mut().zip(t.iter_mut()) {
                *qi = w2 * *qi + b2;
                *ti = *qi + w2 * *ti;
            }
        }
        Op::Activation => {
            let n = q.len();
            scratch.k.resize(n, 0.0);
            scratch.kd.resize(n, 0.0);
            plan.dual(step)
                .eval_many(qa, qb, q, &mut scratch.k, &mut scratch.kd)
                .map_err(|source| FeatureError::Activation {
                    layer: step.layer,
                    source,
                })?;
            q.copy_from_slice(&scratch.k);
            t.iter_mut().zip(&scratch.kd).for_each(|(ti, d)| *ti *= d);
        }
        Op::LayerNorm => {
            for (((qi, ti), pa), pb) in q.iter_mut().zip(t.iter_mut()).zip(qa).zip(qb) {
                let s = ((pa + LAYER_NORM_EPS) * (pb + LAYER_NORM_EPS)).sqrt();
                *qi /= s;
                *ti /= s;
            }
        }
        Op::Flatten => {}
        Op::Conv { .. } | Op::AvgPool { .. } | Op::GlobalAvgPool => {
            unreachable!("spatial steps are not pointwise")
        }
    }
    Ok(())
}
