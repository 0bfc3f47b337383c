//! An architecture compiled against an input shape: the one place where a
//! layer's meaning is resolved into concrete operations, shared by the exact
//! backend ([`crate::kernels`]) and the feature backend ([`crate::FeatureMap`]).
//!
//! Every backend walks the same [`Step`]s; each step knows its input and
//! output shapes, the window geometry of convolutions and pools, and the
//! constants the kernel update needs (`W_std²/(kh·kw)`, `b_std²`, `1/|w|`).

mod op;

pub(crate) use op::{Op, PairScratch, Slots, Step, Window, pool_positions};

use crate::layers::{activation, branch, conv, dense, flatten, layer_norm, pool};

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
    /// Number of slots the branch operations use (0 for a serial network).
    pub(crate) slots: usize,
}

impl Architecture {
    /// The output shape of every layer (by index, depth-first: see
    /// [`Architecture::walk`]) for a given input shape. A `FanOut` or
    /// `parallel` gives the shape of its first output.
    ///
    /// # Errors
    /// [`FeatureError::ShapeMismatch`]: image layers on vectors, windows
    /// larger than the input, or a network whose output keeps spatial
    /// dimensions (its kernel is not an `n1 × n2` matrix: end with Flatten
    /// or GlobalAvgPool); [`FeatureError::Branching`] for fan-in inputs of
    /// different shapes.
    pub fn shapes(&self, input: Shape) -> Result<Vec<Shape>> {
        let mut c = Compiler::new(self);
        let mut shapes = vec![input; self.walk().len()];
        c.record = Some(&mut shapes);
        c.serial(self.layers(), Flow::One(input))?;
        Plan::new(self, input)?;
        Ok(shapes)
    }
}

/// Number of values of one sample of this shape (checked).
pub(crate) fn shape_size(s: Shape) -> Option<usize> {
    match s {
        Shape::Vector { dim } => Some(dim),
        Shape::Image { h, w, c } => h.checked_mul(w)?.checked_mul(c),
    }
}

/// What flows between layers while compiling: one state, or the slots of a
/// fan-out's branches with their shapes.
#[derive(Debug, Clone)]
enum Flow {
    One(Shape),
    Many(Vec<(usize, Shape)>),
}

/// The depth-first compilation of a network into steps: layers resolve
/// against their input shape; `FanOut`, `parallel` and the fan-ins become
/// slot operations. Slots are counted by references and reused once free,
/// so a residual network holds two or three whatever its depth.
struct Compiler<'a, 'r> {
    arch: &'a Architecture,
    steps: Vec<Step>,
    /// The next layer index.
    next: usize,
    /// References to each slot still to be consumed.
    refs: Vec<usize>,
    /// Where to write each layer's output shape ([`Architecture::shapes`]).
    record: Option<&'r mut Vec<Shape>>,
}

impl<'a, 'r> Compiler<'a, 'r> {
    fn new(arch: &'a Architecture) -> Self {
        Self {
            arch,
            steps: Vec::new(),
            next: 0,
            refs: Vec::new(),
            record: None,
        }
    }

    fn serial(&mut self, layers: &[Layer], mut flow: Flow) -> Result<Flow> {
        for l in layers {
            flow = self.node(l, flow)?;
        }
        Ok(flow)
    }

    /// A free slot holding `refs` references.
    fn take_slot(&mut self, refs: usize) -> usize {
        match self.refs.iter().position(|&r| r == 0) {
            Some(s) => {
                self.refs[s] = refs;
                s
            }
            None => {
                self.refs.push(refs);
                self.refs.len() - 1
            }
        }
    }

    fn release(&mut self, slot: usize) {
        self.refs[slot] -= 1;
    }

    fn push(&mut self, layer: usize, op: Op) {
        self.steps.push(Step { layer, op });
    }

    fn node(&mut self, l: &Layer, flow: Flow) -> Result<Flow> {
        let i = self.next;
        self.next += 1;
        let out = match (l, flow) {
            (Layer::Identity, flow) => flow,
            (Layer::FanOut(n), Flow::One(shape)) => {
                let slot = self.take_slot(*n);
                self.push(i, Op::Store { slot });
                Flow::Many(vec![(slot, shape); *n])
            }
            (Layer::Parallel(branches), Flow::Many(inputs)) => {
                let mut out = Vec::with_capacity(inputs.len());
                for (b, (slot, shape)) in branches.iter().zip(inputs) {
                    if b.iter().all(|l| matches!(l, Layer::Identity)) {
                        // The identity keeps its slot: no copy.
                        self.serial(b, Flow::Many(vec![(slot, shape)]))?;
                        out.push((slot, shape));
                        continue;
                    }
                    self.push(i, Op::Load { slot });
                    self.release(slot);
                    let Flow::One(end) = self.serial(b, Flow::One(shape))? else {
                        unreachable!("validated: a branch ends with one output")
                    };
                    let new = self.take_slot(1);
                    self.push(i, Op::Store { slot: new });
                    out.push((new, end));
                }
                Flow::Many(out)
            }
            (Layer::FanInSum | Layer::FanInConcat, Flow::Many(inputs)) => {
                let shape = inputs[0].1;
                // Widths are infinite: only the layout (vector, or the
                // spatial grid) must agree.
                let layout = |s: Shape| match s {
                    Shape::Vector { .. } => None,
                    Shape::Image { h, w, .. } => Some((h, w)),
                };
                if inputs.iter().any(|(_, s)| layout(*s) != layout(shape)) {
                    let shapes: Vec<String> = inputs.iter().map(|(_, s)| s.to_string()).collect();
                    return Err(branch::shape_mismatch(
                        i,
                        self.arch.column(i),
                        l.stax_name(),
                        &shapes,
                    ));
                }
                for (slot, _) in &inputs {
                    self.release(*slot);
                }
                let slots = inputs.iter().map(|(s, _)| *s).collect();
                let mean = matches!(l, Layer::FanInConcat);
                self.push(i, Op::Combine { slots, mean });
                Flow::One(shape)
            }
            (_, Flow::One(cur)) => {
                let (op, output) = resolve(i, l, cur)?;
                self.push(i, op);
                Flow::One(output)
            }
            (_, Flow::Many(_)) => unreachable!("validated: branches are joined"),
        };
        if let Some(rec) = self.record.as_deref_mut() {
            rec[i] = match &out {
                Flow::One(s) => *s,
                Flow::Many(v) => v[0].1,
            };
        }
        Ok(out)
    }
}

/// A layer that takes one input, resolved against its input shape.
fn resolve(i: usize, l: &Layer, cur: Shape) -> Result<(Op, Shape)> {
    let name = l.stax_name();
    let mismatch = |reason: &'static str, s: Shape| FeatureError::ShapeMismatch {
        layer: i,
        name,
        input: s.to_string(),
        reason,
    };
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
    Ok(match l {
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
        }
        | Layer::SumPool {
            window: k,
            strides,
            padding,
        } => {
            let w = window(*k, *strides, *padding, cur)?;
            let sum = matches!(l, Layer::SumPool { .. });
            (pool::op_window(w, sum), pool::output_avg(&w, cur))
        }
        Layer::GlobalAvgPool | Layer::GlobalSumPool => {
            let Shape::Image { h, w, .. } = cur else {
                return Err(mismatch("this layer needs image inputs (n, H, W, C)", cur));
            };
            let sum = matches!(l, Layer::GlobalSumPool);
            (pool::op_global(h * w, sum), pool::output_global(cur))
        }
        Layer::Flatten => (Op::Flatten, flatten::output(cur)),
        Layer::LayerNorm => (Op::LayerNorm, cur),
        Layer::Activation(_) => (Op::Activation, cur),
        Layer::Identity
        | Layer::FanOut(_)
        | Layer::Parallel(_)
        | Layer::FanInSum
        | Layer::FanInConcat => unreachable!("combinators are compiled by the walk"),
    })
}

impl<'a> Plan<'a> {
    /// Whether every activation's dual is symmetric under exchange of the
    /// two samples ([`Activation::exchange_symmetric`]), so that `K(X, X)`
    /// may be computed on one triangle and mirrored.
    ///
    /// [`Activation::exchange_symmetric`]: dual_activations::Activation::exchange_symmetric
    pub(crate) fn exchange_symmetric(&self) -> bool {
        self.arch.walk().iter().all(|(_, l)| match l {
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
    /// or GlobalAvgPool); [`FeatureError::Branching`] for fan-in inputs of
    /// different shapes.
    pub(crate) fn new(arch: &'a Architecture, input: Shape) -> Result<Self> {
        let too_big = |layer: usize, s: Shape, reason: &'static str| FeatureError::ShapeMismatch {
            layer,
            name: arch.name(layer),
            input: s.to_string(),
            reason,
        };
        if shape_size(input).is_none_or(|n| n > MAX_SAMPLE_SIZE) {
            return Err(too_big(
                0,
                input,
                "the input has more than 2^32 values per sample",
            ));
        }
        let mut c = Compiler::new(arch);
        let Flow::One(cur) = c.serial(arch.layers(), Flow::One(input))? else {
            unreachable!("validated: the network ends with one output")
        };
        if let Shape::Image { h, w, .. } = cur
            && h * w > 1
        {
            return Err(too_big(
                c.next - 1,
                cur,
                "the network ends with spatial dimensions: add Flatten or GlobalAvgPool",
            ));
        }
        Ok(Self {
            arch,
            steps: c.steps,
            slots: c.refs.len(),
        })
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
        Op::Conv { .. } | Op::AvgPool { .. } | Op::GlobalAvgPool { .. } => {
            unreachable!("spatial steps are not pointwise")
        }
        Op::Store { .. } | Op::Load { .. } | Op::Combine { .. } => {
            unreachable!("slot operations are the walks' own")
        }
    }
    Ok(())
}
