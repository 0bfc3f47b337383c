//! What a plan is made of: each layer resolved for one input shape into an
//! [`Op`] with its constants, the window geometry of convolutions and
//! pools ([`Window`]), and the [`Step`] that places it in the network.
//! Below both the plan's construction and the layers' own rules.

use crate::layers::Padding;

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
    /// Mean over window pairs times `scale²` (features: mean over the
    /// window times `scale`): `scale = 1` for AvgPool, the window's size
    /// for SumPool.
    AvgPool { window: Window, scale: f64 },
    /// Mean over all position pairs times `scale²`: `scale = 1` for
    /// GlobalAvgPool, the number of positions for GlobalSumPool.
    GlobalAvgPool { scale: f64 },
    /// Images: mean over the diagonal positions; vectors: nothing.
    Flatten,
    /// Division by `sqrt((q_x + ε)(q_y + ε))`.
    LayerNorm,
    /// `q' = K(q_x, q_y, c)`, `Θ' = Θ·K̇`.
    Activation,
    /// Copies the state into a slot (a fan-out's input, a branch's output).
    Store { slot: usize },
    /// The state becomes a copy of a slot (a branch's input).
    Load { slot: usize },
    /// The state becomes the sum of the slots' states (`FanInSum`), or
    /// their mean (`mean`: `FanInConcat` along channels), added in order.
    Combine { slots: Vec<usize>, mean: bool },
}

impl Op {
    /// Whether this is a slot operation of a branching network (the walks
    /// apply those to their own states; they are not layers).
    pub(crate) fn is_branch(&self) -> bool {
        matches!(
            self,
            Self::Store { .. } | Self::Load { .. } | Self::Combine { .. }
        )
    }
}

/// The slot states of one walk over a branching plan, for states that are
/// pairs of equal-length slices (`q`, `Θ` of a batch of vector pairs, or of
/// one point): [`Slots::apply`] runs a slot operation in place.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    q: Vec<Vec<f64>>,
    t: Vec<Vec<f64>>,
}

impl Slots {
    /// Applies a slot operation to the state `(q, t)`.
    pub(crate) fn apply(&mut self, op: &Op, q: &mut [f64], t: &mut [f64]) {
        match op {
            Op::Store { slot } => {
                if self.q.len() <= *slot {
                    self.q.resize_with(slot + 1, Vec::new);
                    self.t.resize_with(slot + 1, Vec::new);
                }
                self.q[*slot].clear();
                self.q[*slot].extend_from_slice(q);
                self.t[*slot].clear();
                self.t[*slot].extend_from_slice(t);
            }
            Op::Load { slot } => {
                q.copy_from_slice(&self.q[*slot]);
                t.copy_from_slice(&self.t[*slot]);
            }
            Op::Combine { slots, mean } => {
                combine(q, slots.iter().map(|&s| self.q[s].as_slice()), *mean);
                combine(t, slots.iter().map(|&s| self.t[s].as_slice()), *mean);
            }
            _ => unreachable!("not a slot operation"),
        }
    }
}

/// `out = Σᵢ srcᵢ` (or the mean), the terms added in order: stax's
/// `sum(mats)` and `sum(mats[i] * 1 …) / n`.
fn combine<'a>(out: &mut [f64], mut srcs: impl Iterator<Item = &'a [f64]>, mean: bool) {
    let first = srcs.next().expect("a fan-in has inputs");
    out.copy_from_slice(first);
    let mut n = 1usize;
    for s in srcs {
        for (o, v) in out.iter_mut().zip(s) {
            *o += v;
        }
        n += 1;
    }
    if mean {
        let n = n as f64;
        out.iter_mut().for_each(|v| *v /= n);
    }
}

/// A layer of the plan with its shapes.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Index of the layer in the architecture.
    pub(crate) layer: usize,
    pub(crate) op: Op,
}

/// Scratch of [`pointwise`]: three buffers of the batch length.
#[derive(Debug, Default)]
pub(crate) struct PairScratch {
    pub(crate) k: Vec<f64>,
    pub(crate) kd: Vec<f64>,
}
