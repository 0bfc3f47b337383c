//! `Dense(out_dim, W_std, b_std)`: fully connected (on the channel axis of
//! images), `'ntk'` parameterization. Kernel: `q' = W²q + b²`,
//! `Θ' = q' + W²Θ`. Features: `φ ← [W·φ; b]`, `ψ ← [W·ψ; φ′]`, heads first.

use super::{Layer, check_std};
use crate::error::Result;
use crate::features::recipe::{Dims, checked};
use crate::features::state::State;
use crate::parse::{Args, fmt_opt};
use crate::plan::Op;
use sketch_core::Real;
use std::fmt;

/// stax's parameter names, in positional order.
pub(crate) const ARGS: &[&str] = &[
    "out_dim",
    "W_std",
    "b_std",
    "batch_axis",
    "channel_axis",
    "parameterization",
];

/// The layer from its bound arguments.
pub(crate) fn parse(a: &mut Args<'_>) -> Result<Layer> {
    a.take("out_dim");
    a.only("batch_axis", &["0"])?;
    a.only("channel_axis", &["-1"])?;
    a.only("parameterization", &["ntk"])?;
    Ok(Layer::Dense {
        w_std: a.num("W_std", Some(1.0))?,
        b_std: a.opt_num("b_std")?,
    })
}

/// The canonical string.
pub(crate) fn fmt(f: &mut fmt::Formatter<'_>, w_std: f64, b_std: Option<f64>) -> fmt::Result {
    write!(f, "Dense(W_std={w_std:?}, b_std={})", fmt_opt(b_std))
}

/// Finite, non-negative standard deviations.
pub(crate) fn validate(layer: usize, w_std: f64, b_std: Option<f64>) -> Result<()> {
    check_std(layer, "Dense", w_std, b_std)
}

/// The resolved step (no bias is a bias of 0).
pub(crate) fn op(w_std: f64, b_std: Option<f64>) -> Op {
    Op::Dense {
        w_std,
        b_std: b_std.unwrap_or(0.0),
    }
}

/// The kernel update of a batch of pair states.
pub(crate) fn kernel(q: &mut [f64], t: &mut [f64], w_std: f64, b_std: f64) {
    let (w2, b2) = (w_std * w_std, b_std * b_std);
    for (qi, ti) in q.iter_mut().zip(t.iter_mut()) {
        *qi = w2 * *qi + b2;
        *ti = *qi + w2 * *ti;
    }
}

/// The exact update of one sample's features.
pub(crate) fn features<T: Real>(st: &mut State<T>, w_std: f64, b_std: f64, ntk: bool) {
    // Layout `[W·φ_head; b; W·φ_tail]` and
    // `[φ′_head; W·ψ_head; φ′_tail; W·ψ_tail]`: heads first.
    let (w, b) = (T::cast(w_std), T::cast(b_std));
    let has_b = b_std != 0.0;
    let dphi = st.dphi + usize::from(has_b);
    let hphi = st.hphi + usize::from(has_b);
    let mut phi = Vec::with_capacity(st.pos * dphi);
    for p in st.phi.chunks_exact(st.dphi.max(1)) {
        phi.extend(p[..st.hphi].iter().map(|v| *v * w));
        if has_b {
            phi.push(b);
        }
        phi.extend(p[st.hphi..].iter().map(|v| *v * w));
    }
    if ntk {
        let dpsi = st.dpsi + dphi;
        let mut psi = Vec::with_capacity(st.pos * dpsi);
        for p in 0..st.pos {
            let old = &st.psi[p * st.dpsi..(p + 1) * st.dpsi];
            let new = &phi[p * dphi..(p + 1) * dphi];
            psi.extend_from_slice(&new[..hphi]);
            psi.extend(old[..st.hpsi].iter().map(|v| *v * w));
            psi.extend_from_slice(&new[hphi..]);
            psi.extend(old[st.hpsi..].iter().map(|v| *v * w));
        }
        st.psi = psi;
        st.dpsi = dpsi;
        st.hpsi += hphi;
    }
    st.phi = phi;
    st.dphi = dphi;
    st.hphi = hphi;
}

/// The features' dimensions after the layer.
pub(crate) fn dims(dims: &mut Dims, b_std: f64, ntk: bool) -> Result<()> {
    let bias = |b: f64| usize::from(b != 0.0);
    dims.phi = checked("NNGP feature length", dims.phi.checked_add(bias(b_std)))?;
    dims.hphi += bias(b_std);
    if ntk {
        dims.psi = checked("NTK feature length", dims.psi.checked_add(dims.phi))?;
        dims.hpsi += dims.hphi;
    }
    Ok(())
}
