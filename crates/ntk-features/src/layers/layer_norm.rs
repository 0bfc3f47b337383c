//! `LayerNorm(axis=-1, eps=1e-12)`: normalisation over the channel axis.
//! Kernel: `q/√((q_x + ε)(q_y + ε))`, `Θ` likewise. Features: each
//! position's features divided by the exact `√(q + ε)` (the sample's own
//! variance from the exact recursion).

use super::Layer;
use crate::error::Result;
use crate::features::state::State;
use crate::parse::Args;
use sketch_core::Real;

/// `ε` of stax's `LayerNorm`.
pub(crate) const LAYER_NORM_EPS: f64 = 1e-12;

/// stax's parameter names, in positional order.
pub(crate) const ARGS: &[&str] = &["axis", "eps", "batch_axis", "channel_axis"];

/// The layer from its bound arguments.
pub(crate) fn parse(a: &mut Args<'_>) -> Result<Layer> {
    a.only("axis", &["-1"])?;
    a.only("eps", &["0.000000000001"])?;
    a.only("batch_axis", &["0"])?;
    a.only("channel_axis", &["-1"])?;
    Ok(Layer::LayerNorm)
}

/// The kernel update of a batch of pair states whose points have variances
/// `qa`, `qb` entering the layer.
pub(crate) fn kernel(q: &mut [f64], t: &mut [f64], qa: &[f64], qb: &[f64]) {
    for (((qi, ti), pa), pb) in q.iter_mut().zip(t.iter_mut()).zip(qa).zip(qb) {
        let s = ((pa + LAYER_NORM_EPS) * (pb + LAYER_NORM_EPS)).sqrt();
        *qi /= s;
        *ti /= s;
    }
}

/// The exact update of one sample's features; `var(step, p)` is the
/// sample's variance entering plan step `step` at position `p`.
pub(crate) fn features<T: Real>(st: &mut State<T>, var: &dyn Fn(usize, usize) -> f64, step: usize) {
    for p in 0..st.pos {
        let s = T::cast(1.0 / (var(step, p) + LAYER_NORM_EPS).sqrt());
        st.phi[p * st.dphi..(p + 1) * st.dphi]
            .iter_mut()
            .for_each(|v| *v *= s);
        if st.dpsi > 0 {
            st.psi[p * st.dpsi..(p + 1) * st.dpsi]
                .iter_mut()
                .for_each(|v| *v *= s);
        }
    }
}
