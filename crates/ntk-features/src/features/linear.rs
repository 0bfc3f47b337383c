//! The exact linear steps on each sample's [`State`], dispatched to each
//! layer's own rule (`crate::layers`: Dense, Conv, the pools, Flatten,
//! LayerNorm), and the per-position SRHT that keeps states in budget.

use super::config::KernelKind;
use super::state::{State, Workspace};
use crate::layers::{conv, dense, flatten, layer_norm, pool};
use crate::plan::Op;
use sketch_core::{Real, Sketch, Srht};

/// The same SRHT applied at every position, after the first `head`
/// coordinates, which are copied.
pub(crate) fn compress_each<T: Real>(
    s: &Srht<T>,
    v: &[T],
    d: usize,
    head: usize,
    pos: usize,
    ws: &mut Workspace<T>,
) -> Vec<T> {
    let m = head + s.dim_out();
    let mut out = vec![T::zero(); pos * m];
    for (src, dst) in v.chunks_exact(d).zip(out.chunks_exact_mut(m)) {
        dst[..head].copy_from_slice(&src[..head]);
        s.apply_one(
            &src[head..],
            &mut dst[head..],
            &mut ws.real,
            &mut ws.complex,
        );
    }
    out
}

/// A linear step on features (exact), by the layer's own rule
/// (`crate::layers`).
pub(crate) fn linear<T: Real>(
    op: &Op,
    st: &mut State<T>,
    var: &dyn Fn(usize, usize) -> f64,
    step: usize,
    kernel: KernelKind,
) {
    let ntk = kernel == KernelKind::Ntk;
    match *op {
        Op::Dense { w_std, b_std } => dense::features(st, w_std, b_std, ntk),
        Op::Conv {
            window,
            w_std,
            b_std,
        } => conv::features(st, window, w_std, b_std, ntk),
        Op::AvgPool { window, scale } => pool::features_avg(st, window, scale, ntk),
        Op::GlobalAvgPool { scale } => pool::features_global(st, scale, ntk),
        Op::Flatten => flatten::features(st),
        Op::LayerNorm => layer_norm::features(st, var, step),
        Op::Activation => unreachable!("activations are their own stages"),
        Op::Store { .. } | Op::Load { .. } | Op::Combine { .. } => {
            unreachable!("branching networks are refused by FeatureMap::new")
        }
    }
}
